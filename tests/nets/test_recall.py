"""The recall nets: their traces equal torch's modules, and their gradients equal finite differences."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from app.nets.recall import RecallLSTM, RecallRNN
from app.tasks import recall

V, C = len(recall.vocab()), len(recall.SYMBOLS)


def _ids(text: str) -> torch.Tensor:
    return torch.tensor(recall.vocab().encode(text).ids)


@pytest.mark.parametrize("cls", [RecallRNN, RecallLSTM])
def test_trace_equals_the_torch_module(cls: type) -> None:
    torch.manual_seed(0)
    net = cls(V, C, hidden_size=16).eval()
    ids = _ids("C0123456789?")
    tr, logits = net.trace(ids)
    with torch.no_grad():
        out, _ = net.rnn(F.one_hot(ids, V).float()[:, None])  # nn.RNN / nn.LSTM itself
        assert torch.allclose(tr.output, out[:, 0], atol=1e-5, rtol=0)
        assert torch.allclose(logits, net(ids[:, None])[:, 0], atol=1e-5, rtol=0)


def _reference_loss(net: nn.Module, ids: torch.Tensor, target: int, t: int, state: tuple) -> torch.Tensor:  # type: ignore[type-arg]
    """L when the state after step t is ``state``, continued by torch's own module in float64."""
    rnn = copy.deepcopy(net.rnn).double()
    head = copy.deepcopy(net.head).double()
    rest = F.one_hot(ids[t + 1 :], V).double()[:, None]
    h = state[0]
    if len(rest):
        hx = tuple(s[None, None] for s in state) if len(state) == 2 else state[0][None, None]
        out, _ = rnn(rest, hx)
        h = out[-1, 0]
    return F.cross_entropy(head(h)[None], torch.tensor([target]), reduction="sum")


def _prefix_state(net: nn.Module, ids: torch.Tensor, t: int) -> tuple[torch.Tensor, ...]:
    rnn = copy.deepcopy(net.rnn).double()
    with torch.no_grad():
        _, state = rnn(F.one_hot(ids[: t + 1], V).double()[:, None])
    if isinstance(state, tuple):
        return tuple(s[0, 0] for s in state)
    return (state[0, 0],)


def test_rnn_gradients_equal_finite_differences() -> None:
    torch.manual_seed(1)
    net = RecallRNN(V, C, hidden_size=4).eval()
    with torch.no_grad():
        net.rnn.weight_hh_l0.mul_(3)  # a livelier net than the default init, so gradients are not tiny
    ids, target, eps = _ids("E3917?"), 4, 1e-6
    flow = net.gradient_flow(ids, target)
    assert flow.d_cell is None and flow.grad_cell is None and flow.forget_product is None
    with torch.no_grad():
        for t in range(len(ids)):
            (h,) = _prefix_state(net, ids, t)
            fd = torch.zeros(4, dtype=torch.float64)
            for k in range(4):
                e = torch.zeros(4, dtype=torch.float64)
                e[k] = eps
                fd[k] = (
                    _reference_loss(net, ids, target, t, (h + e,))
                    - _reference_loss(net, ids, target, t, (h - e,))
                ) / (2 * eps)
            assert torch.allclose(flow.d_hidden[t], fd, rtol=1e-5, atol=1e-9), (t, flow.d_hidden[t], fd)
        assert flow.loss == pytest.approx(
            float(_reference_loss(net, ids, target, len(ids) - 1, _prefix_state(net, ids, len(ids) - 1))),
            rel=1e-9,
        )
    assert flow.probs.sum().item() == pytest.approx(1.0)
    # The norms fall towards the start: each step multiplies by diag(1 − h²)·W_hh.
    assert flow.grad_hidden.shape == (len(ids),)


def test_lstm_gradients_equal_finite_differences() -> None:
    torch.manual_seed(2)
    net = RecallLSTM(V, C, hidden_size=3).eval()
    ids, target, eps, H = _ids("B50712?"), 1, 1e-6, 3
    flow = net.gradient_flow(ids, target)
    assert flow.d_cell is not None and flow.forget_product is not None
    w_o = net.rnn.weight_ih_l0.double()[3 * H :], net.rnn.weight_hh_l0.double()[3 * H :]
    b_o = (net.rnn.bias_ih_l0 + net.rnn.bias_hh_l0).double()[3 * H :]
    with torch.no_grad():
        for t in range(len(ids)):
            h, c = _prefix_state(net, ids, t)
            h_prev = _prefix_state(net, ids, t - 1)[0] if t else torch.zeros(H, dtype=torch.float64)
            # Output gate o_t (block 4 of weight_ih_l0): h_t = o_t·tanh(c_t), so a nudge of c_t moves h_t too.
            o = torch.sigmoid(w_o[0][:, ids[t]] + w_o[1] @ h_prev + b_o)
            assert torch.allclose(o * torch.tanh(c), h, atol=1e-12)
            fd_h, fd_c = torch.zeros(H, dtype=torch.float64), torch.zeros(H, dtype=torch.float64)
            for k in range(H):
                e = torch.zeros(H, dtype=torch.float64)
                e[k] = eps
                fd_h[k] = (
                    _reference_loss(net, ids, target, t, (h + e, c))
                    - _reference_loss(net, ids, target, t, (h - e, c))
                ) / (2 * eps)
                up, down = c + e, c - e
                fd_c[k] = (
                    _reference_loss(net, ids, target, t, (o * torch.tanh(up), up))
                    - _reference_loss(net, ids, target, t, (o * torch.tanh(down), down))
                ) / (2 * eps)
            assert torch.allclose(flow.d_hidden[t], fd_h, rtol=1e-5, atol=1e-9), (t, flow.d_hidden[t], fd_h)
            assert torch.allclose(flow.d_cell[t], fd_c, rtol=1e-5, atol=1e-9), (t, flow.d_cell[t], fd_c)


def test_forget_product_and_saturation_follow_their_definitions() -> None:
    torch.manual_seed(3)
    lstm = RecallLSTM(V, C, hidden_size=8).eval()
    ids = _ids("A0123456?")
    flow = lstm.gradient_flow(ids, 0)
    forget = lstm.trace(ids)[0].layers[0][0].forget.double()  # (T, H) from the trace engine
    T = len(ids)
    for t in range(T):
        expected = forget[t + 1 :].prod(dim=0).mean() if t < T - 1 else torch.tensor(1.0)
        assert flow.forget_product is not None
        assert float(flow.forget_product[t]) == pytest.approx(float(expected), rel=1e-5)
    rnn = RecallRNN(V, C, hidden_size=8).eval()
    with torch.no_grad():
        rnn.rnn.weight_ih_l0.mul_(20)  # drive the tanh into saturation
    flow = rnn.gradient_flow(ids, 0)
    hidden = rnn.trace(ids)[0].output
    expected = (hidden.abs() > 0.95).double().mean(dim=1)
    assert torch.allclose(flow.saturation, expected)
    assert flow.saturation.max() > 0.5


def test_gradient_flow_runs_under_inference_mode() -> None:
    """The server's warm-up calls it inside torch.inference_mode(); autograd must still run."""
    net = RecallLSTM(V, C, hidden_size=4).eval()
    for p in net.parameters():
        p.requires_grad_(False)  # as build_net leaves them
    ids = _ids("A12?")
    expected = net.gradient_flow(ids, 0).grad_hidden
    with torch.inference_mode():
        net.warm_up()
        got = net.gradient_flow(torch.tensor(recall.vocab().encode("A12?").ids), 0).grad_hidden
    assert torch.equal(got, expected)
