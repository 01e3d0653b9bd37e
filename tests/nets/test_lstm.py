"""Truth tests of the LSTM trace engine against torch.nn.LSTM (DESIGN principle 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from app.nets.lstm import cell_scan, input_tables, trace_lstm

TOL = 1e-5
SHAPES = [
    # (input, hidden, layers, bidirectional, bias)
    (1, 1, 1, False, True),
    (5, 7, 1, False, True),
    (3, 4, 3, False, False),
    (10, 16, 2, True, True),
    (8, 32, 1, True, False),
    (64, 128, 1, False, True),
]


def _states(
    layers: int, dirs: int, hidden: int, random: bool
) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
    if not random:
        return None, None
    return torch.randn(layers * dirs, hidden), torch.randn(layers * dirs, hidden)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("given_state", [False, True])
def test_hidden_and_final_state_equal_nn_lstm(
    shape: tuple[int, int, int, bool, bool], given_state: bool
) -> None:
    inp, hid, layers, bi, bias = shape
    torch.manual_seed(hash(shape) % 1000)
    lstm = nn.LSTM(inp, hid, layers, bias=bias, bidirectional=bi)
    dirs = 2 if bi else 1
    x = torch.randn(23, inp)
    h0, c0 = _states(layers, dirs, hid, given_state)
    with torch.no_grad():
        if h0 is None:
            out, (h_n, c_n) = lstm(x[:, None])
        else:
            out, (h_n, c_n) = lstm(x[:, None], (h0[:, None], c0[:, None]))
    tr = trace_lstm(lstm, x, h0=h0, c0=c0)
    assert torch.allclose(tr.output, out[:, 0], atol=TOL, rtol=0)
    assert torch.allclose(tr.h_n, h_n[:, 0], atol=TOL, rtol=0)
    assert torch.allclose(tr.c_n, c_n[:, 0], atol=TOL, rtol=0)
    # Every layer's hidden states: run the stack of single-layer LSTMs that nn.LSTM is.
    layer_in = x
    for layer in range(layers):
        single = nn.LSTM(layer_in.shape[1], hid, 1, bias=bias, bidirectional=bi)
        for d in range(dirs):
            sfx = "_reverse" if d else ""
            for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ()):
                getattr(single, f"{name}_l0{sfx}").data.copy_(getattr(lstm, f"{name}_l{layer}{sfx}"))
        with torch.no_grad():
            if h0 is None:
                ref, _ = single(layer_in[:, None])
            else:
                sl = slice(layer * dirs, (layer + 1) * dirs)
                ref, _ = single(layer_in[:, None], (h0[sl, None], c0[sl, None]))
        got = torch.cat([tr.layers[layer][d].hidden for d in range(dirs)], dim=1)
        assert torch.allclose(got, ref[:, 0], atol=TOL, rtol=0)
        layer_in = ref[:, 0]


@pytest.mark.parametrize("shape", SHAPES)
def test_gates_satisfy_the_cell_equations(shape: tuple[int, int, int, bool, bool]) -> None:
    inp, hid, layers, bi, bias = shape
    torch.manual_seed(1)
    lstm = nn.LSTM(inp, hid, layers, bias=bias, bidirectional=bi)
    tr = trace_lstm(lstm, torch.randn(31, inp) * 3)
    for layer in tr.layers:
        for d, t in enumerate(layer):
            if d == 0:
                c_prev = torch.cat([t.c0[None], t.cell[:-1]])
            else:  # backward: the previous state of step t is that of step t+1
                c_prev = torch.cat([t.cell[1:], t.c0[None]])
            assert torch.allclose(t.cell, t.forget * c_prev + t.input * t.candidate, atol=TOL, rtol=0)
            assert torch.allclose(t.hidden, t.output * torch.tanh(t.cell), atol=TOL, rtol=0)
            for gate in (t.input, t.forget, t.output):
                assert gate.min() >= 0 and gate.max() <= 1
            assert t.candidate.min() >= -1 and t.candidate.max() <= 1


def test_gate_order_is_i_f_g_o() -> None:
    """Pin torch's layout: weight_ih_l0 stacks input, forget, candidate (g), output rows (chunk(4))."""
    hid = 3
    lstm = nn.LSTM(1, hid, bias=True)
    with torch.no_grad():
        lstm.weight_ih_l0.zero_()
        lstm.weight_hh_l0.zero_()
        lstm.bias_hh_l0.zero_()
        # Distinct biases per block: i = σ(1), f = σ(−2), g = tanh(0.5), o = σ(3).
        lstm.bias_ih_l0.copy_(torch.tensor([1.0] * hid + [-2.0] * hid + [0.5] * hid + [3.0] * hid))
    tr = trace_lstm(lstm, torch.zeros(2, 1))
    t = tr.layers[0][0]
    sig = torch.sigmoid
    assert torch.allclose(t.input, sig(torch.tensor(1.0)).expand(2, hid))
    assert torch.allclose(t.forget, sig(torch.tensor(-2.0)).expand(2, hid))
    assert torch.allclose(t.candidate, torch.tanh(torch.tensor(0.5)).expand(2, hid))
    assert torch.allclose(t.output, sig(torch.tensor(3.0)).expand(2, hid))
    # And nn.LSTM agrees with that reading: c_1 = i·g, c_2 = f·c_1 + i·g.
    with torch.no_grad():
        _, (_, c_n) = lstm(torch.zeros(2, 1, 1))
    ig = sig(torch.tensor(1.0)) * torch.tanh(torch.tensor(0.5))
    assert torch.allclose(c_n[0, 0], (sig(torch.tensor(-2.0)) * ig + ig).expand(hid))
    # The pre-activations come back unscaled, in the same order.
    assert torch.allclose(t.pre[0], lstm.bias_ih_l0, atol=1e-6)


def test_reverse_weights_drive_the_backward_pass() -> None:
    torch.manual_seed(3)
    lstm = nn.LSTM(4, 5, bidirectional=True)
    x = torch.randn(9, 4)
    before = trace_lstm(lstm, x)
    with torch.no_grad():
        lstm.weight_hh_l0_reverse.add_(0.5)
    after = trace_lstm(lstm, x)
    assert torch.equal(before.layers[0][0].hidden, after.layers[0][0].hidden)  # forward untouched
    assert not torch.allclose(before.layers[0][1].hidden, after.layers[0][1].hidden)


def test_bidirectional_h_n_is_not_output_last_for_backward() -> None:
    """torch's caveat: the backward direction's final state is at output[0], not output[-1]."""
    torch.manual_seed(4)
    lstm = nn.LSTM(3, 6, bidirectional=True)
    x = torch.randn(7, 3)
    tr = trace_lstm(lstm, x)
    with torch.no_grad():
        out, (h_n, _) = lstm(x[:, None])
    assert torch.allclose(h_n[1, 0], out[0, 0, 6:], atol=TOL)
    assert not torch.allclose(h_n[1, 0], out[-1, 0, 6:], atol=1e-3)
    assert torch.allclose(tr.h_n[1], tr.layers[0][1].hidden[0], atol=TOL)
    assert torch.allclose(tr.h_n[0], tr.layers[0][0].hidden[-1], atol=TOL)


def test_embedding_tables_give_the_same_trace() -> None:
    torch.manual_seed(5)
    emb = nn.Embedding(11, 6)
    lstm = nn.LSTM(6, 8, 2, bidirectional=True)
    ids = torch.randint(0, 11, (17,))
    with torch.no_grad():
        x = emb(ids)
        plain = trace_lstm(lstm, x)
        fast = trace_lstm(lstm, x, ids=ids, tables=input_tables(lstm, emb.weight))
    for a, b in zip(plain.layers, fast.layers, strict=True):
        for da, db in zip(a, b, strict=True):
            for name, qa in da.quantities().items():
                assert torch.allclose(qa, db.quantities()[name], atol=TOL), name


@pytest.mark.parametrize("steps", [1, 2, 5, 37, 500])
@pytest.mark.parametrize("chunk", [0, 1, 3, 64])
def test_cell_scan_equals_a_loop(steps: int, chunk: int) -> None:
    rng = np.random.default_rng(steps)
    f = rng.uniform(0, 1, (steps, 4)).astype(np.float32)
    drive = rng.normal(0, 1, (steps, 4)).astype(np.float32)
    c0 = rng.normal(0, 1, 4).astype(np.float32)
    expected = np.empty_like(drive)
    c = c0
    for t in range(steps):
        c = f[t] * c + drive[t]
        expected[t] = c
    np.testing.assert_allclose(cell_scan(f, drive, c0, chunk), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("steps", [1, 7, 40])
def test_cell_scan_reads_the_drive_as_input_times_candidate_and_writes_through_views(steps: int) -> None:
    """The engine's own call: drive i ⊙ g̃ multiplied as read, output through a reversed view."""
    rng = np.random.default_rng(steps)
    f, i, g = (rng.uniform(0, 1, (steps, 3)).astype(np.float32) for _ in range(3))
    c0 = rng.normal(0, 1, 3).astype(np.float32)
    expected = cell_scan(f[::-1], (i * g)[::-1], c0)
    out = np.empty((steps, 3), np.float32)
    cell_scan(f[::-1], i[::-1], c0, out=out[::-1], candidate=g[::-1])
    np.testing.assert_allclose(out[::-1], expected, atol=1e-6, rtol=1e-6)


def test_bad_inputs_are_refused_with_the_sizes() -> None:
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"needs \[T, 3\]"):
        trace_lstm(lstm, torch.zeros(5, 2))
    with pytest.raises(
        ValueError, match=r"h0: \[1, 4\] holds 4 numbers, but this LSTM's initial state is \[1, 2\]"
    ):
        trace_lstm(nn.LSTM(3, 4, proj_size=2), torch.zeros(5, 3), h0=torch.zeros(1, 4))


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_projection_makes_h_from_the_unprojected_state() -> None:
    """proj_size: h_t = W_hr (o_t ⊙ tanh c_t), P wide, and the next step reads that h."""
    torch.manual_seed(9)
    lstm = nn.LSTM(3, 6, proj_size=2, bidirectional=True)
    x = torch.randn(7, 3)
    h0, c0 = torch.randn(2, 2), torch.randn(2, 6)
    tr = trace_lstm(lstm, x, h0=h0, c0=c0)
    for d, t in enumerate(tr.layers[0]):
        w_hr = getattr(lstm, "weight_hr_l0" + ("_reverse" if d else "")).detach()
        assert t.unprojected is not None and t.unprojected.shape == (7, 6) and t.hidden.shape == (7, 2)
        assert torch.allclose(t.unprojected, t.output * torch.tanh(t.cell), atol=TOL, rtol=0)
        assert torch.allclose(t.hidden, t.unprojected @ w_hr.t(), atol=TOL, rtol=0)
        assert torch.allclose(t.cell, t.forget * t.previous_cell + t.input * t.candidate, atol=TOL, rtol=0)
        assert torch.equal(t.h0, h0[d]) and torch.equal(t.c0, c0[d])
        assert list(t.quantities()) == [
            "input",
            "forget",
            "candidate",
            "output",
            "cell",
            "hidden",
            "unprojected",
        ]


def test_unit_terms_add_up_to_the_pre_activations() -> None:
    torch.manual_seed(6)
    lstm = nn.LSTM(5, 9, bidirectional=True)
    x = torch.randn(12, 5) * 2
    tr = trace_lstm(lstm, x)
    for d, t in enumerate(tr.layers[0]):
        sfx = "_reverse" if d else ""
        w_ih, w_hh = getattr(lstm, f"weight_ih_l0{sfx}"), getattr(lstm, f"weight_hh_l0{sfx}")
        bias = getattr(lstm, f"bias_ih_l0{sfx}") + getattr(lstm, f"bias_hh_l0{sfx}")
        for unit in (0, 4, 8):
            rows = torch.arange(4) * 9 + unit
            recurrent, inputs = t.unit_terms(unit)
            with torch.no_grad():
                assert torch.allclose(recurrent, t.previous_hidden @ w_hh[rows].t(), atol=1e-5)
                assert torch.allclose(inputs, x @ w_ih[rows].t() + bias[rows], atol=1e-5)
            assert torch.allclose(recurrent + inputs, t.pre[:, rows], atol=1e-5)
