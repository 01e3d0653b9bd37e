"""Cloze LSTMs: fill in a blanked-out character from the left, the right, or both sides.

The seed material's bidirectional RNN: two RNNs read the sequence in opposite directions, the
forward one with →h_t depending on →h_{t−1}, the backward one with ←h_t depending on ←h_{t+1}, and
the output at t combines both::

    →h_t = LSTM_fwd(x_t, →h_{t−1})        reads x_0 … x_t
    ←h_t = LSTM_bwd(x_t, ←h_{t+1})        reads x_{T−1} … x_t
    p(blank = v) = softmax(W·[→h_b ; ←h_b] + b)_v     at the blank position b

``ClozeLSTM(direction=...)`` builds one of three nets with the same layout (embedding → LSTM →
linear head at the blank):

* ``"both"``: ``nn.LSTM(bidirectional=True)``; the head reads the concatenation [→h_b ; ←h_b].
* ``"forward"``: a one-direction ``nn.LSTM`` reading left to right; the head reads →h_b.
* ``"backward"``: a one-direction ``nn.LSTM`` reading right to left (it is fed the reversed
  sequence; every state is reported back in text order); the head reads ←h_b.

How a one-direction model sees only its side. Every model reads the whole text, with the blank as
a token of its own (``app.tasks.cloze``: the typed ``_``). An LSTM's state at b depends only on
what it has read so far, so →h_b is a function of x_0 … x_b (the left context and the blank) and
←h_b of x_b … x_{T−1} (the blank and the right context): the forward model cannot see the right
side and the backward model cannot see the left, by construction (``tests/nets/test_cloze.py``
changes the other side and checks the prediction does not move).

Training (``every_blank``) uses each position of a window as the blank at once, exactly: the
states a direction has after reading the true x_0 … x_{t−1} are known for every t from one run of
torch's fused kernel, so "read the blank token instead of x_t" is one more LSTM step from those
states, done for all t in one batch. ``tests/nets/test_cloze.py`` checks it equals blanking one
position at a time. Traces come from the trace engine (``app.nets.lstm``), tested equal to torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from app.nets.lstm import LSTMDirection, LSTMTrace, input_tables, trace_lstm

Direction = Literal["both", "forward", "backward"]
DIRECTIONS: tuple[str, ...] = ("both", "forward", "backward")


@dataclass
class ClozeTrace:
    """One text through a cloze net. Direction traces are in text order: index t is character t."""

    forward: LSTMDirection | None  # →h_t etc., None for a backward-only net
    backward: LSTMDirection | None  # ←h_t etc., None for a forward-only net
    features: Tensor  # (D·H,) what the head reads at the blank: [→h_b ; ←h_b] (or one half)
    logits: Tensor  # (V,) scores of every character for the blank
    lstm: LSTMTrace  # the engine's trace (for the backward-only net: of the reversed text)


def _blank_steps(
    x: Tensor, hidden: Tensor, blank: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor
) -> Tensor:
    """For every t, the state after reading x_0 … x_{t−1} and then the blank (instead of x_t).

    x: (T, B, E) inputs in reading order; hidden: (T, B, H) the exact h_t after reading x_0 … x_t
    (torch's fused kernel); blank: (E,) the blank's embedding. Returns (T, B, H).
    """
    steps, batch, size = hidden.shape
    zeros = hidden.new_zeros(1, batch, size)
    prev_h = torch.cat([zeros, hidden[:-1]])  # (T, B, H): h_{t−1}, zero state before the first
    recurrent = prev_h @ w_hh.t() + bias  # (T, B, 4H)
    i, f, g, _ = (x @ w_ih.t() + recurrent).chunk(4, dim=-1)  # torch's gate order: i, f, g, o
    i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
    # unbind once: indexing f[t] in the loop would cost a full-size gradient buffer per step.
    forget, drive = f.unbind(0), (i * g).unbind(0)
    cells = []
    c = hidden.new_zeros(batch, size)
    for t in range(steps):  # c_t = f_t ⊙ c_{t−1} + i_t ⊙ g̃_t (elementwise; the matmuls are batched)
        c = forget[t] * c + drive[t]
        cells.append(c)
    prev_c = torch.cat([zeros, torch.stack(cells[:-1])]) if steps > 1 else zeros  # (T, B, H)
    bi, bf, bg, bo = ((blank @ w_ih.t()) + recurrent).chunk(4, dim=-1)  # the blank instead of x_t
    cell = torch.sigmoid(bf) * prev_c + torch.sigmoid(bi) * torch.tanh(bg)
    return torch.sigmoid(bo) * torch.tanh(cell)  # (T, B, H)


class ClozeLSTM(nn.Module):
    """Embedding → LSTM (both directions, forward only or backward only) → linear head at the blank.

    Inputs are time-major ids (T, B), as nn.LSTM expects by default.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 32,
        hidden_size: int = 128,
        direction: str = "both",
    ) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise TypeError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        self.direction = direction
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, bidirectional=direction == "both")
        self.head = nn.Linear(hidden_size * self.num_directions, vocab_size)
        self._tables: tuple[tuple[int, ...], list[Tensor]] | None = None

    @property
    def num_directions(self) -> int:
        return 2 if self.direction == "both" else 1

    @property
    def hidden_size(self) -> int:
        return int(self.lstm.hidden_size)

    def states(self, ids: Tensor) -> Tensor:
        """ids (T, B) → (T, B, D·H): what the head would read if the blank were at t.

        For "both" this is nn.LSTM's output [→h_t ; ←h_t]; for "backward" the reversed text is read
        and the output flipped back, so row t is ←h_t, having read x_{T−1} … x_t.
        """
        x = self.embed(ids)  # (T, B, E)
        if self.direction == "backward":
            out, _ = self.lstm(x.flip(0))
            return out.flip(0)  # (T, B, H)
        out, _ = self.lstm(x)  # (T, B, D·H)
        return out

    def forward(self, ids: Tensor, blank_index: Tensor | int) -> Tensor:
        """ids (T, B) holding the blank token at ``blank_index`` (int or (B,)) → logits (B, V)."""
        out = self.states(ids)  # (T, B, D·H)
        index = torch.as_tensor(blank_index, device=ids.device).expand(ids.shape[1])  # (B,)
        features = out[index, torch.arange(ids.shape[1])]  # (B, D·H)
        return self.head(features)

    def every_blank(self, ids: Tensor, blank_id: int) -> Tensor:
        """ids (T, B) of TRUE text → logits (T, B, V): row t as if x_t alone were the blank."""
        x = self.embed(ids)  # (T, B, E)
        blank = self.embed.weight[blank_id]  # (E,)
        reading = x.flip(0) if self.direction == "backward" else x  # the first LSTM direction's order
        out, _ = self.lstm(reading)  # (T, B, D·H)
        size = self.hidden_size
        halves = []
        for d in range(self.num_directions):
            sfx = "_reverse" if d else ""
            weights = (
                getattr(self.lstm, f"weight_ih_l0{sfx}"),
                getattr(self.lstm, f"weight_hh_l0{sfx}"),
                getattr(self.lstm, f"bias_ih_l0{sfx}") + getattr(self.lstm, f"bias_hh_l0{sfx}"),
            )
            hidden = out[..., d * size : (d + 1) * size]  # (T, B, H), indexed like ``reading``
            if d == 0:
                halves.append(_blank_steps(reading, hidden, blank, *weights))
            else:  # the reverse direction of "both": read right to left, report in text order
                halves.append(_blank_steps(reading.flip(0), hidden.flip(0), blank, *weights).flip(0))
        features = torch.cat(halves, dim=-1)  # (T, B, D·H)
        if self.direction == "backward":
            features = features.flip(0)
        return self.head(features)

    def loss(self, ids: Tensor, blank_id: int, ignore: Tensor) -> tuple[Tensor, Tensor]:
        """Mean cross-entropy over every position of every window as the blank, and the logits.

        ids (T, B) true text; ``ignore`` lists ids never used as targets (unk, blank).
        """
        logits = self.every_blank(ids, blank_id)  # (T, B, V)
        targets = ids.masked_fill(torch.isin(ids, ignore), -100)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)), logits

    # --- traces for the API

    def _input_tables(self) -> list[Tensor]:
        """Layer 0's input projection per character, cached until the weights change."""
        params = list(self.parameters())
        key = tuple(p._version for p in params) + tuple(p.data_ptr() for p in params)
        if self._tables is None or self._tables[0] != key:
            with torch.no_grad():
                self._tables = (key, input_tables(self.lstm, self.embed.weight))
        return self._tables[1]

    @torch.inference_mode()
    def trace(self, ids: Tensor, blank_index: int) -> ClozeTrace:
        """ids (T,) with the blank token at ``blank_index`` → every gate and state, and the logits."""
        tables = self._input_tables()
        forward: LSTMDirection | None
        backward: LSTMDirection | None
        if self.direction == "backward":
            rev = ids.flip(0)
            tr = trace_lstm(self.lstm, self.embed(rev), ids=rev, tables=tables)
            forward, backward = None, tr.layers[0][0].flipped()  # back in text order
        else:
            tr = trace_lstm(self.lstm, self.embed(ids), ids=ids, tables=tables)
            forward = tr.layers[0][0]
            backward = tr.layers[0][1] if self.direction == "both" else None
        halves = [d.hidden[blank_index] for d in (forward, backward) if d is not None]
        features = torch.cat(halves)  # (D·H,) = [→h_b ; ←h_b]
        return ClozeTrace(forward, backward, features, self.head(features), tr)

    @torch.inference_mode()
    def head_parts(self, features: Tensor) -> dict[str, Tensor]:
        """The logits split by where they come from: W[:, :H]·→h_b, W[:, H:]·←h_b and the bias (V,)."""
        size = self.hidden_size
        weight = self.head.weight  # (V, D·H)
        names = {"both": ("forward", "backward"), "forward": ("forward",), "backward": ("backward",)}
        parts = {
            name: weight[:, d * size : (d + 1) * size] @ features[d * size : (d + 1) * size]
            for d, name in enumerate(names[self.direction])
        }
        parts["bias"] = self.head.bias.clone()
        return parts

    def warm_up(self) -> None:
        """One tiny trace: builds the input tables and oneDNN kernels before the first request."""
        self.trace(torch.zeros(4, dtype=torch.long), 1)
