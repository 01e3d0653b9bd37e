"""Truth tests of the RNN trace engine against torch.nn.RNN (DESIGN principle 1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.nets.rnn import input_tables, trace_rnn

TOL = 1e-5
SHAPES = [
    # (input, hidden, layers, bidirectional, bias, nonlinearity)
    (1, 1, 1, False, True, "tanh"),
    (20, 64, 1, False, True, "tanh"),
    (5, 7, 1, False, False, "tanh"),
    (3, 4, 3, False, True, "relu"),
    (10, 16, 2, True, True, "tanh"),
    (8, 32, 1, True, False, "relu"),
]


def _reference_layers(rnn: nn.RNN, x: torch.Tensor, h0: torch.Tensor | None) -> list[torch.Tensor]:
    """Each layer's output from the stack of single-layer nn.RNNs that a multi-layer nn.RNN is."""
    dirs = 2 if rnn.bidirectional else 1
    outs, layer_in = [], x
    for layer in range(rnn.num_layers):
        single = nn.RNN(
            layer_in.shape[1], rnn.hidden_size, 1, nonlinearity=rnn.nonlinearity,
            bias=rnn.bias, bidirectional=rnn.bidirectional,
        )  # fmt: skip
        for d in range(dirs):
            sfx = "_reverse" if d else ""
            names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
            for name in names:
                getattr(single, f"{name}_l0{sfx}").data.copy_(getattr(rnn, f"{name}_l{layer}{sfx}"))
        with torch.no_grad():
            state = None if h0 is None else h0[layer * dirs : (layer + 1) * dirs, None]
            ref, _ = single(layer_in[:, None], state)
        outs.append(ref[:, 0])
        layer_in = ref[:, 0]
    return outs


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("given_state", [False, True])
def test_hidden_and_final_state_equal_nn_rnn(shape: tuple, given_state: bool) -> None:  # type: ignore[type-arg]
    inp, hid, layers, bi, bias, fn = shape
    torch.manual_seed(len(str(shape)))
    rnn = nn.RNN(inp, hid, layers, nonlinearity=fn, bias=bias, bidirectional=bi)
    dirs = 2 if bi else 1
    x = torch.randn(29, inp)
    h0 = torch.randn(layers * dirs, hid) if given_state else None
    with torch.no_grad():
        out, h_n = rnn(x[:, None], None if h0 is None else h0[:, None])
    tr = trace_rnn(rnn, x, h0=h0)
    assert torch.allclose(tr.output, out[:, 0], atol=TOL, rtol=0)
    assert torch.allclose(tr.h_n, h_n[:, 0], atol=TOL, rtol=0)
    for layer, ref in enumerate(_reference_layers(rnn, x, h0)):
        got = torch.cat([tr.layers[layer][d].hidden for d in range(dirs)], dim=1)
        assert torch.allclose(got, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_pre_activations_rebuild_the_hidden_state(shape: tuple) -> None:  # type: ignore[type-arg]
    """h_t = f(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh), with each part checked against the weights."""
    inp, hid, layers, bi, bias, fn = shape
    torch.manual_seed(7)
    rnn = nn.RNN(inp, hid, layers, nonlinearity=fn, bias=bias, bidirectional=bi)
    f = torch.tanh if fn == "tanh" else torch.relu
    x = torch.randn(31, inp) * 2
    tr = trace_rnn(rnn, x)
    layer_in = x
    for layer, pair in enumerate(tr.layers):
        for d, t in enumerate(pair):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = getattr(rnn, "weight_ih" + sfx), getattr(rnn, "weight_hh" + sfx)
            b_ih = getattr(rnn, "bias_ih" + sfx) if bias else torch.zeros(hid)
            b_hh = getattr(rnn, "bias_hh" + sfx) if bias else torch.zeros(hid)
            prev = torch.cat([t.hidden[1:], t.h0[None]]) if d else torch.cat([t.h0[None], t.hidden[:-1]])
            assert torch.equal(t.previous_hidden, prev)
            with torch.no_grad():
                assert torch.allclose(t.from_input, layer_in @ w_ih.t() + b_ih, atol=TOL, rtol=0)
                assert torch.allclose(t.recurrent, prev @ w_hh.t() + b_hh, atol=TOL, rtol=0)
            assert torch.allclose(t.hidden, f(t.pre), atol=TOL, rtol=0)
        layer_in = tr.layers[layer][0].hidden if not bi else torch.cat([p.hidden for p in pair], dim=1)


def test_concatenation_form_equals_the_split_form() -> None:
    """W·[h_{t−1}, x_t] + b with W = [W_hh | W_ih] and b = b_ih + b_hh is the same pre-activation."""
    torch.manual_seed(2)
    rnn = nn.RNN(6, 5)
    x = torch.randn(12, 6)
    t = trace_rnn(rnn, x).layers[0][0]
    w = torch.cat([rnn.weight_hh_l0, rnn.weight_ih_l0], dim=1)  # (H, H + I)
    b = rnn.bias_ih_l0 + rnn.bias_hh_l0
    with torch.no_grad():
        concat = torch.cat([t.previous_hidden, x], dim=1)  # (T, H + I): [h_{t−1}, x_t]
        assert torch.allclose(concat @ w.t() + b, t.pre, atol=TOL, rtol=0)


def test_reverse_weights_drive_the_backward_pass() -> None:
    torch.manual_seed(3)
    rnn = nn.RNN(4, 5, bidirectional=True)
    x = torch.randn(9, 4)
    before = trace_rnn(rnn, x)
    with torch.no_grad():
        rnn.weight_hh_l0_reverse.add_(0.5)
    after = trace_rnn(rnn, x)
    assert torch.equal(before.layers[0][0].hidden, after.layers[0][0].hidden)  # forward untouched
    assert not torch.allclose(before.layers[0][1].hidden, after.layers[0][1].hidden)
    # torch's caveat: the backward direction's final state is its output at t = 0, not at t = T−1.
    assert torch.allclose(after.h_n[1], after.layers[0][1].hidden[0], atol=TOL)


def test_one_hot_tables_give_the_same_trace_exactly() -> None:
    torch.manual_seed(5)
    rnn = nn.RNN(11, 8, 2, bidirectional=True)
    ids = torch.randint(0, 11, (17,))
    x = torch.eye(11)[ids]
    plain = trace_rnn(rnn, x)
    fast = trace_rnn(rnn, x, ids=ids, tables=input_tables(rnn, torch.eye(11)))
    for a, b in zip(plain.layers, fast.layers, strict=True):
        for da, db in zip(a, b, strict=True):
            assert torch.equal(da.hidden, db.hidden)
            assert torch.allclose(da.from_input, db.from_input, atol=1e-6, rtol=0)


def test_bad_inputs_are_refused_with_the_sizes() -> None:
    with pytest.raises(ValueError, match=r"needs \[T, 3\]"):
        trace_rnn(nn.RNN(3, 4), torch.zeros(5, 2))
