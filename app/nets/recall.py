"""The delayed-recall nets (``app.tasks.recall``): one-hot symbols → one recurrent layer → linear.

``RecallRNN`` is a vanilla ``nn.RNN`` (tanh) and ``RecallLSTM`` an ``nn.LSTM``; both read one-hot
inputs, so the input part of every pre-activation is one column of W_ih (the page shows
[h_{t−1}, x_t] with x_t literally a one-hot vector), and both answer with

    y_t = softmax(V·h_t + c)         over the 8 symbols.

Only the answer at the final "?" is trained; the outputs at earlier steps are what the same head
makes of the state so far.

``gradient_flow`` measures how the error of that answer reaches back in time: ‖∂L/∂h_t‖ for every
step t, by autograd through an explicit step loop on the model's own weights (the paper's
"product of Jacobians": ∂L/∂h_t = ∂L/∂h_T · ∏_{k=t+1..T} ∂h_k/∂h_{k−1}). For the LSTM it also
gives ‖∂L/∂c_t‖ and the product of forget gates along the cell path. The loop runs in float64 so
that gradients far below float32's smallest normal number (1e−38) still come out as numbers
instead of 0; the forward values agree with the float32 model to ~1e−7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from app.nets.engines import input_tables, trace_recurrent

SATURATED = 0.95  # |h| above this counts as a saturated tanh (its slope 1 − h² is below 0.1)


@dataclass
class GradientFlow:
    """How the loss at the last step reaches each step t; every tensor is (T,) float64."""

    d_hidden: Tensor  # (T, H) ∂L/∂h_t, the total derivative (every path through later steps)
    d_cell: Tensor | None  # (T, H) ∂L/∂c_t (LSTM only)
    forget_product: Tensor | None  # mean over units of ∏_{k=t+1..T−1} f_k, the cell path (LSTM)
    saturation: Tensor  # share of units with |h_t| > 0.95
    loss: float  # cross-entropy of the answer at the last step
    probs: Tensor  # (C,) the answer's distribution at the last step

    @property
    def grad_hidden(self) -> Tensor:
        """(T,) ‖∂L/∂h_t‖."""
        return self.d_hidden.norm(dim=1)

    @property
    def grad_cell(self) -> Tensor | None:
        """(T,) ‖∂L/∂c_t‖, or None for a vanilla RNN."""
        return None if self.d_cell is None else self.d_cell.norm(dim=1)


class _Recall(nn.Module):
    """Shared by both nets: one-hot inputs, a recurrent layer ``self.rnn`` and a head."""

    rnn: nn.RNN | nn.LSTM
    head: nn.Linear
    vocab_size: int

    def forward(self, ids: Tensor) -> Tensor:
        """ids (T, B) → logits (T, B, C) at every step (training uses the last step only)."""
        out, _ = self.rnn(F.one_hot(ids, self.vocab_size).float())  # (T, B, H)
        return self.head(out)

    def gradient_flow(self, ids: Tensor, target: int) -> GradientFlow:
        """‖∂L/∂h_t‖ (and for the LSTM ‖∂L/∂c_t‖, ∏f) for ids (T,), L = CE(answer at T−1, target).

        Autograd is switched on here even when the caller runs under ``torch.inference_mode``.
        """
        with torch.inference_mode(False), torch.enable_grad():
            return self._gradient_flow(ids.clone(), target)

    def _gradient_flow(self, ids: Tensor, target: int) -> GradientFlow:
        params = {k: v.detach().double() for k, v in self.rnn.named_parameters()}
        w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]  # (G·H, V), (G·H, H)
        b_ih, b_hh = params["bias_ih_l0"], params["bias_hh_l0"]  # (G·H,): G = 4 gates, or 1
        size = self.rnn.hidden_size
        zeros = torch.zeros(size, dtype=torch.float64)
        from_input = w_ih.t()[ids] + b_ih  # (T, G·H): W_ih·x_t + b_ih for one-hot x_t
        lstm = isinstance(self.rnn, nn.LSTM)
        hiddens: list[Tensor] = []
        cells: list[Tensor] = []
        forgets: list[Tensor] = []
        h = torch.zeros(size, dtype=torch.float64, requires_grad=True)
        c = torch.zeros(size, dtype=torch.float64)
        for t in range(len(ids)):
            pre = from_input[t] + w_hh @ h + b_hh
            if lstm:
                i, f, g, o = pre.split(size)  # torch's gate order in weight_ih_l0
                f = torch.sigmoid(f)
                c = f * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                c.retain_grad()
                cells.append(c)
                forgets.append(f.detach())
            else:
                h = torch.tanh(pre)
            h.retain_grad()
            hiddens.append(h)
        head_w, head_b = self.head.weight.detach().double(), self.head.bias.detach().double()
        logits = head_w @ h + head_b
        loss = F.cross_entropy(logits[None], torch.tensor([target]))
        loss.backward()
        d_hidden = torch.stack([x.grad if x.grad is not None else zeros for x in hiddens])  # (T, H)
        states = torch.stack([x.detach() for x in hiddens])  # (T, H)
        saturation = (states.abs() > SATURATED).double().mean(dim=1)
        d_cell = forget_product = None
        if lstm:
            d_cell = torch.stack([x.grad if x.grad is not None else zeros for x in cells])  # (T, H)
            f_all = torch.stack(forgets)  # (T, H)
            # ∏_{k=t+1..T−1} f_k: a reverse cumulative product, shifted so the last step is 1.
            after = torch.cat([f_all[1:], torch.ones(1, size, dtype=torch.float64)])
            forget_product = after.flip(0).cumprod(0).flip(0).mean(dim=1)
        return GradientFlow(
            d_hidden=d_hidden,
            d_cell=d_cell,
            forget_product=forget_product,
            saturation=saturation,
            loss=float(loss.detach()),
            probs=torch.softmax(logits.detach(), dim=0),
        )

    @torch.inference_mode()
    def trace(self, ids: Tensor) -> tuple[Any, Tensor]:
        """ids (T,) → (the trace of the recurrent layer, logits (T, C)), one-hot inputs read as a
        table lookup (``app.nets.engines``)."""
        eye = torch.eye(self.vocab_size)
        tr = trace_recurrent(self.rnn, eye[ids], ids=ids, tables=input_tables(self.rnn, eye))
        return tr, self.head(tr.output)

    def warm_up(self) -> None:
        """One tiny trace and one gradient pass before the first request."""
        ids = torch.zeros(3, dtype=torch.long)
        self.trace(ids)
        self.gradient_flow(ids, 0)


class RecallRNN(_Recall):
    """Vanilla RNN: h_t = tanh(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh), y_t = softmax(V·h_t + c)."""

    def __init__(self, vocab_size: int, num_classes: int, hidden_size: int = 64) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.RNN(vocab_size, hidden_size, nonlinearity="tanh")
        self.head = nn.Linear(hidden_size, num_classes)


class RecallLSTM(_Recall):
    """LSTM on the same task (gates i, f, g, o in torch's order), with the same head."""

    def __init__(self, vocab_size: int, num_classes: int, hidden_size: int = 64) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.LSTM(vocab_size, hidden_size)
        self.head = nn.Linear(hidden_size, num_classes)
