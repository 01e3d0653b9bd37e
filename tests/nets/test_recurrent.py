"""Truth tests of every trace engine (LSTM incl. proj_size, GRU, RNN tanh/relu) through the one
dispatcher, against torch's modules AND a plain float64 reference loop (tests/nets/reference.py):
outputs, final states and every gate, each direction reading the state it really read."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from app.nets.engines import input_tables, kind_of, trace_recurrent
from app.nets.gru import GRUDirection
from app.nets.recurrent import ACTIVATION, Engine, LayerResult, read_weights, trace_layers
from tests.nets.reference import reference

TOL = 1e-5
T, IN, H = 9, 4, 5

# (module class, extra kwargs, layers, bidirectional, bias, batch_first)
VARIANTS = [
    (nn.LSTM, {}, 1, False, True, False),
    (nn.LSTM, {}, 2, True, True, False),
    (nn.LSTM, {}, 3, False, False, False),
    (nn.LSTM, {}, 2, True, False, True),
    (nn.LSTM, {"proj_size": 3}, 2, True, True, False),
    (nn.LSTM, {"proj_size": 2}, 1, False, False, True),
    (nn.GRU, {}, 1, False, True, False),
    (nn.GRU, {}, 2, True, True, False),
    (nn.GRU, {}, 3, False, False, False),
    (nn.GRU, {}, 2, True, False, True),
    (nn.RNN, {"nonlinearity": "tanh"}, 1, False, True, False),
    (nn.RNN, {"nonlinearity": "tanh"}, 2, True, True, True),
    (nn.RNN, {"nonlinearity": "tanh"}, 3, False, False, False),
    (nn.RNN, {"nonlinearity": "relu"}, 1, False, True, False),
    (nn.RNN, {"nonlinearity": "relu"}, 2, True, False, True),
    (nn.RNN, {"nonlinearity": "relu"}, 3, False, True, False),
]
KIND = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}


def _name(v: tuple) -> str:  # type: ignore[type-arg]
    cls, extra, layers, bi, bias, bf = v
    parts = [cls.__name__, *(f"{k}={x}" for k, x in extra.items()), f"L{layers}"]
    parts += ["bi"] * bi + ["nobias"] * (not bias) + ["batch_first"] * bf
    return "-".join(parts)


def _build(variant: tuple, seed: int = 0) -> nn.Module:  # type: ignore[type-arg]
    cls, extra, layers, bi, bias, bf = variant
    torch.manual_seed(seed)
    module = cls(IN, H, layers, bias=bias, bidirectional=bi, batch_first=bf, **extra)
    with torch.no_grad():  # gates beyond their linear range (a vanilla RNN's default init already is)
        for p in module.parameters():
            p.mul_(1.0 if cls is nn.RNN else 2.5)
    return module.eval()


def _torch_forward(module: nn.Module, x: torch.Tensor, h0, c0):  # type: ignore[no-untyped-def]
    batch = x[None] if module.batch_first else x[:, None]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "LSTM with projections is not supported with oneDNN"
        if module.mode == "LSTM":
            state = None if h0 is None else (h0[:, None], c0[:, None])
            out, (h_n, c_n) = module(batch, state)
            return (out[0] if module.batch_first else out[:, 0]), h_n[:, 0], c_n[:, 0]
        out, h_n = module(batch, None if h0 is None else h0[:, None])
        return (out[0] if module.batch_first else out[:, 0]), h_n[:, 0], None


@pytest.mark.parametrize("variant", VARIANTS, ids=_name)
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
def test_trace_equals_the_module_and_a_plain_loop(variant: tuple, given_state: bool) -> None:  # type: ignore[type-arg]
    module = _build(variant)
    dirs = 2 if module.bidirectional else 1
    width = getattr(module, "proj_size", 0) or H
    torch.manual_seed(1)
    x = torch.randn(T, IN)
    h0 = c0 = None
    if given_state:
        h0 = torch.randn(module.num_layers * dirs, width)
        c0 = torch.randn(module.num_layers * dirs, H) if module.mode == "LSTM" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = trace_recurrent(module, x, h0=h0, c0=c0)
    out, h_n, c_n = _torch_forward(module, x, h0, c0)
    ref = reference(module, x, h0, c0)
    assert tr.kind == KIND[module.mode] == kind_of(module)
    # Equal to torch's own module...
    assert torch.allclose(tr.output, out, atol=TOL, rtol=0)
    assert torch.allclose(tr.h_n, h_n, atol=TOL, rtol=0)
    if c_n is None:
        assert tr.c_n is None
    else:
        assert tr.c_n is not None and torch.allclose(tr.c_n, c_n, atol=TOL, rtol=0)
    # ...and to the plain loop, output, states and every gate of every layer and direction.
    assert torch.allclose(ref.output.float(), out, atol=TOL, rtol=0)  # the loop itself is right
    assert torch.allclose(tr.h_n, ref.h_n.float(), atol=TOL, rtol=0)
    for layer, pair in enumerate(tr.layers):
        assert len(pair) == dirs
        for d, trace in enumerate(pair):
            expected = ref.layers[layer][d]
            assert trace.reverse == bool(d)
            quantities = trace.quantities()
            assert set(quantities) <= set(expected.values)
            for name, value in quantities.items():
                assert torch.allclose(value, expected.values[name].float(), atol=TOL, rtol=0), (
                    layer,
                    d,
                    name,
                )
            # The state each step READ: h_{t−1} forward, h_{t+1} backward, h0 where it starts.
            assert torch.allclose(trace.previous_hidden, expected.previous_hidden.float(), atol=TOL, rtol=0)
            start = 0 if d == 0 else T - 1
            assert torch.equal(trace.previous_hidden[start], trace.h0)
            if module.mode == "LSTM":
                assert torch.allclose(trace.previous_cell[start], trace.c0)
                if getattr(module, "proj_size", 0):
                    assert trace.hidden.shape == (T, module.proj_size) and trace.cell.shape == (T, H)
                    assert "unprojected" in quantities
            # Every pre-activation, recomputed from the weights, is the loop's.
            pre = trace.pre
            for k, gate in enumerate(trace.gates):
                got = pre[:, k * H : (k + 1) * H]
                assert torch.allclose(got, expected.pre[gate].float(), atol=TOL, rtol=0), gate


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[3]], ids=_name)
def test_bidirectional_h_n_is_not_output_last(variant: tuple) -> None:  # type: ignore[type-arg]
    """torch's caveat: the backward direction's final state is its output at t = 0, not at T−1."""
    module = _build(variant, seed=3)
    x = torch.randn(T, IN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = trace_recurrent(module, x)
    width = tr.output.shape[1] // 2
    last_backward = tr.h_n[-1]
    assert torch.allclose(last_backward, tr.output[0, width:], atol=TOL)
    assert torch.allclose(last_backward, tr.layers[-1][1].hidden[0], atol=TOL)
    assert not torch.allclose(last_backward, tr.output[-1, width:], atol=1e-3)
    assert torch.allclose(tr.h_n[-2], tr.output[-1, :width], atol=TOL)  # forward: at T−1


@pytest.mark.parametrize("variant", VARIANTS, ids=_name)
def test_unit_terms_add_up_to_the_gate(variant: tuple) -> None:  # type: ignore[type-arg]
    """For every gate of a unit: from_input + b_ih + scale ⊙ (recurrent + b_hh) is the loop's
    pre-activation, its activation the gate; each part checked against the weights."""
    module = _build(variant, seed=3)
    x = torch.randn(T, IN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = trace_recurrent(module, x)
        ref = reference(module, x)
    for layer, pair in enumerate(tr.layers):
        for d, trace in enumerate(pair):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih = getattr(module, "weight_ih" + sfx).detach()
            w_hh = getattr(module, "weight_hh" + sfx).detach()
            for unit in (0, H - 1):
                terms = trace.unit_terms(unit)
                assert terms.gates == trace.gates
                rows = torch.arange(len(trace.gates)) * H + unit
                layer_in = trace.x
                prev = ref.layers[layer][d].previous_hidden.float()
                assert torch.allclose(terms.from_input, layer_in @ w_ih[rows].t(), atol=TOL, rtol=0)
                assert torch.allclose(terms.recurrent, prev @ w_hh[rows].t(), atol=TOL, rtol=0)
                if module.bias:
                    assert torch.equal(terms.bias_ih, getattr(module, "bias_ih" + sfx).detach()[rows])
                    assert torch.equal(terms.bias_hh, getattr(module, "bias_hh" + sfx).detach()[rows])
                else:
                    assert not terms.bias_ih.any() and not terms.bias_hh.any()
                for k, gate in enumerate(trace.gates):
                    expected_pre = ref.layers[layer][d].pre[gate][:, unit].float()
                    assert torch.allclose(terms.pre[:, k], expected_pre, atol=TOL, rtol=0), gate
                    activation = ACTIVATION[terms.activations[k]]
                    assert torch.allclose(activation(terms.pre[:, k]), terms.value[:, k], atol=TOL, rtol=0)
                    assert torch.allclose(terms.value[:, k], getattr(trace, gate)[:, unit])
                state, rest = terms  # the two-part form: what reads the state, and the rest
                assert torch.allclose(state + rest, terms.pre, atol=TOL, rtol=0)


def test_unit_terms_refuse_a_unit_outside_the_layer() -> None:
    tr = trace_recurrent(nn.GRU(2, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"unit: 3, but hidden_size is 3 \(units 0..2\)"):
        tr.layers[0][0].unit_terms(3)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_embedding_tables_give_the_same_trace(cls: type[nn.Module]) -> None:
    torch.manual_seed(5)
    emb = nn.Embedding(11, IN)
    module = cls(IN, H, 2, bidirectional=True)
    ids = torch.randint(0, 11, (T,))
    with torch.no_grad():
        x = emb(ids)
    plain = trace_recurrent(module, x)
    fast = trace_recurrent(module, x, ids=ids, tables=input_tables(module, emb.weight))
    assert torch.allclose(plain.output, fast.output, atol=TOL, rtol=0)
    for a, b in zip(plain.layers, fast.layers, strict=True):
        for da, db in zip(a, b, strict=True):
            for name, qa in da.quantities().items():
                assert torch.allclose(qa, db.quantities()[name], atol=TOL, rtol=0), name


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_reverse_weights_drive_the_backward_direction(cls: type[nn.Module]) -> None:
    torch.manual_seed(6)
    module = cls(IN, H, bidirectional=True)
    x = torch.randn(T, IN)
    before = trace_recurrent(module, x)
    with torch.no_grad():
        module.weight_hh_l0_reverse.add_(0.5)
    after = trace_recurrent(module, x)  # the cached weights follow the in-place change
    assert torch.equal(before.layers[0][0].hidden, after.layers[0][0].hidden)
    assert not torch.allclose(before.layers[0][1].hidden, after.layers[0][1].hidden, atol=1e-3)
    out, _, _ = _torch_forward(module, x, None, None)
    assert torch.allclose(after.output, out, atol=TOL, rtol=0)
    module.weight_ih_l0 = nn.Parameter(module.weight_ih_l0.detach() * -1)  # a new tensor, same shape
    again = trace_recurrent(module, x)
    out, _, _ = _torch_forward(module, x, None, None)
    assert torch.allclose(again.output, out, atol=TOL, rtol=0)


def test_gru_gate_order_is_r_z_n_and_reset_multiplies_after_b_hn() -> None:
    """Pin torch's layout by hand: weight_ih_l0 stacks reset, update, candidate (chunk(3)), and
    n = tanh(b_in + r ⊙ b_hn) from a zero state (reset applied after b_hn is added)."""
    hid = 3
    gru = nn.GRU(1, hid)
    with torch.no_grad():
        gru.weight_ih_l0.zero_()
        gru.weight_hh_l0.zero_()
        gru.bias_ih_l0.copy_(torch.tensor([1.0] * hid + [-2.0] * hid + [0.5] * hid))
        gru.bias_hh_l0.copy_(torch.tensor([0.0] * hid + [0.0] * hid + [3.0] * hid))
    tr = trace_recurrent(gru, torch.zeros(1, 1))
    d = tr.layers[0][0]
    r, z = torch.sigmoid(torch.tensor(1.0)), torch.sigmoid(torch.tensor(-2.0))
    n = torch.tanh(0.5 + r * 3.0)
    assert torch.allclose(d.reset, r.expand(1, hid))
    assert torch.allclose(d.update, z.expand(1, hid))
    assert torch.allclose(d.candidate, n.expand(1, hid))
    # h_1 = (1 − z) ⊙ n + z ⊙ h_0, with h_0 = 0; and nn.GRU agrees.
    with torch.no_grad():
        out, _ = gru(torch.zeros(1, 1, 1))
    assert torch.allclose(out[0, 0], ((1 - z) * n).expand(hid))
    assert torch.allclose(d.hidden[0], out[0, 0])
    terms = d.unit_terms(1)
    assert torch.allclose(terms.recurrent_scale[0], torch.stack([torch.tensor(1.0), torch.tensor(1.0), r]))
    assert torch.allclose(terms.pre[0], torch.stack([torch.tensor(1.0), torch.tensor(-2.0), 0.5 + r * 3.0]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_are_traced_in_float32(dtype: torch.dtype) -> None:
    torch.manual_seed(7)
    lstm = nn.LSTM(IN, H, bidirectional=True).to(dtype)
    x = torch.randn(T, IN, dtype=dtype)
    tr = trace_recurrent(lstm, x)
    assert tr.output.dtype == torch.float32
    reference_module = nn.LSTM(IN, H, bidirectional=True)
    reference_module.load_state_dict({k: v.float() for k, v in lstm.state_dict().items()})
    out, h_n, c_n = _torch_forward(reference_module, x.float(), None, None)
    assert torch.allclose(tr.output, out, atol=TOL, rtol=0)
    assert tr.c_n is not None and torch.allclose(tr.c_n, c_n, atol=TOL, rtol=0)


@pytest.mark.parametrize("batch_first", [False, True])
def test_the_modules_own_layout_with_a_batch_of_one(batch_first: bool) -> None:
    torch.manual_seed(8)
    gru = nn.GRU(IN, H, batch_first=batch_first)
    x = torch.randn(T, IN)
    batch = x[None] if batch_first else x[:, None]
    assert torch.equal(trace_recurrent(gru, batch).output, trace_recurrent(gru, x).output)
    with pytest.raises(ValueError, match=r"x: .* holds 2 sequences \(batch_first=" + str(batch_first)):
        trace_recurrent(gru, torch.cat([batch, batch], dim=0 if batch_first else 1))


def test_bad_arguments_are_refused_naming_them() -> None:
    lstm, gru = nn.LSTM(3, 4, 2), nn.GRU(3, 4)
    x = torch.zeros(5, 3)
    cases = [
        (
            lambda: trace_recurrent(lstm, torch.zeros(5, 2)),
            r"x: inputs are \[5, 2\], but this LSTM needs \[T, 3\]",
        ),
        (lambda: trace_recurrent(lstm, torch.zeros(0, 3)), "x: 0 steps"),
        (lambda: trace_recurrent(lstm, torch.zeros(5, 3, dtype=torch.long)), "x: dtype torch.int64"),
        (lambda: trace_recurrent(lstm, torch.zeros(2, 5, 3, 1)), r"x: inputs are \[2, 5, 3, 1\]"),
        (lambda: trace_recurrent(lstm, x, h0=torch.zeros(1, 4)), r"h0: \[1, 4\] holds 4 numbers.*\[2, 4\]"),
        (lambda: trace_recurrent(lstm, x, c0=torch.zeros(2, 5)), r"c0: \[2, 5\] holds 10 numbers"),
        (lambda: trace_recurrent(gru, x, c0=torch.zeros(1, 4)), "c0: only an LSTM has a cell state"),
        (lambda: trace_recurrent(gru, x, ids=torch.zeros(5, dtype=torch.long)), "ids, tables: pass both"),
        (
            lambda: trace_recurrent(gru, x, ids=torch.tensor([0, 1, 2, 3, 9]), tables=[torch.zeros(4, 12)]),
            r"ids: values must be in 0..3",
        ),
        (
            lambda: trace_recurrent(
                gru, x, ids=torch.zeros(4, dtype=torch.long), tables=[torch.zeros(4, 12)]
            ),
            "ids: ",
        ),
        (
            lambda: trace_recurrent(gru, x, ids=torch.zeros(5, dtype=torch.long), tables=[torch.zeros(4, 7)]),
            "tables: rows of 7 numbers, but this GRU engine's are 12 wide",
        ),
        (lambda: trace_recurrent(nn.Linear(3, 4), x), r"module: a Linear; the trace engines take nn.LSTM"),
        (
            lambda: input_tables(gru, torch.zeros(7, 2)),
            r"embedding: \[7, 2\], but this GRU reads vectors of 3",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_weights_that_are_not_floating_point_are_refused_by_name() -> None:
    rnn = nn.RNN(3, 4)
    rnn.weight_hh_l0 = nn.Parameter(torch.zeros(4, 4, dtype=torch.int64), requires_grad=False)
    with pytest.raises(ValueError, match="weight_hh_l0: dtype torch.int64"):
        trace_recurrent(rnn, torch.zeros(5, 3))


def test_kind_specific_entry_points_refuse_another_kind() -> None:
    from app.nets.gru import trace_gru
    from app.nets.lstm import trace_lstm

    with pytest.raises(ValueError, match=r"module: a GRU \(mode 'GRU'\); this engine traces LSTM"):
        trace_lstm(nn.GRU(3, 4), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="this engine traces GRU"):
        trace_gru(nn.RNN(3, 4), torch.zeros(5, 3))


@dataclass(eq=False)
class ResetBeforeDirection(GRUDirection):
    """A GRU that resets the state BEFORE its candidate's matmul (Keras reset_after=False):
    n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn). Only the hooks differ from torch's GRU."""

    def recurrent_scale(self) -> None:  # type: ignore[override]
        return None

    def recurrent_input(self, block: int) -> torch.Tensor | None:
        return self.reset * self.previous_hidden if block == 2 else None


class ResetBeforeLoop(Engine):
    """The extension point: an engine with no fused kernel, a plain step loop per direction."""

    kind, name, mode = "gru_reset_before", "GRU (reset before)", "GRU"

    def trace_layer(self, module, shape, layer, x, h0, c0, projections) -> LayerResult:  # type: ignore[no-untyped-def]
        directions, outputs, finals = [], [], []
        for d in range(shape.directions):
            w = read_weights(module, shape, layer, d)
            steps, size = x.shape[0], shape.hidden_size
            r, z, n, hs = (torch.empty(steps, size) for _ in range(4))
            h = h0[d]
            for t in reversed(range(steps)) if d else range(steps):
                gi, gh = w.w_ih @ x[t] + w.b_ih, w.b_hh.clone()
                gh[: 2 * size] += w.w_hh[: 2 * size] @ h
                r[t] = torch.sigmoid(gi[:size] + gh[:size])
                z[t] = torch.sigmoid(gi[size : 2 * size] + gh[size : 2 * size])
                n[t] = torch.tanh(gi[2 * size :] + w.w_hh[2 * size :] @ (r[t] * h) + gh[2 * size :])
                h = hs[t] = (1 - z[t]) * n[t] + z[t] * h
            directions.append(
                ResetBeforeDirection(
                    hidden=hs, h0=h0[d], reverse=bool(d), x=x, weights=w, reset=r, update=z, candidate=n
                )
            )
            outputs.append(hs)
            finals.append(h)
        return LayerResult(directions, torch.cat(outputs, dim=1), torch.stack(finals), None)


def test_a_step_loop_engine_plugs_into_the_same_trace_shape() -> None:
    """The documented extension point: inputs, states, layers, directions, ``pre`` and
    ``unit_terms`` come from the base, and the parts add up to the gates the loop computed."""
    torch.manual_seed(10)
    gru = nn.GRU(IN, H, 2, bidirectional=True)
    x = torch.randn(T, IN)
    tr = trace_layers(ResetBeforeLoop(), gru, x[:, None])  # the module's own layout works too
    assert tr.kind == "gru_reset_before" and tr.output.shape == (T, 2 * H) and tr.h_n.shape == (4, H)
    assert not torch.allclose(tr.output, trace_recurrent(gru, x).output, atol=1e-3)  # not torch's GRU
    for pair in tr.layers:
        for d in pair:
            pre = d.pre
            assert torch.allclose(torch.sigmoid(pre[:, : 2 * H]), torch.cat([d.reset, d.update], 1), atol=TOL)
            assert torch.allclose(torch.tanh(pre[:, 2 * H :]), d.candidate, atol=TOL)
            for unit in (0, H - 1):
                terms = d.unit_terms(unit)
                assert torch.equal(terms.recurrent_scale, torch.ones(T, 3))
                reset_state = d.reset * d.previous_hidden  # (T, H): r_t ⊙ h_{t−1}, the loop's matmul input
                assert torch.allclose(
                    terms.recurrent[:, 2], reset_state @ d.weights.w_hh[2 * H + unit], atol=TOL
                )
                assert torch.allclose(torch.tanh(terms.pre[:, 2]), terms.value[:, 2], atol=TOL)


def test_a_module_built_under_inference_mode_is_traced_without_the_weight_cache() -> None:
    """Inference tensors keep no version counter, so their weights are read afresh each call."""
    with torch.inference_mode():
        torch.manual_seed(11)
        gru = nn.GRU(IN, H, bidirectional=True)
        x = torch.randn(T, IN)
        out, _ = gru(x[:, None])
    first = trace_recurrent(gru, x)
    assert torch.allclose(first.output, out[:, 0], atol=TOL, rtol=0)
    with torch.inference_mode():
        gru.weight_hh_l0.mul_(-1)
        out, _ = gru(x[:, None])
    assert torch.allclose(trace_recurrent(gru, x).output, out[:, 0], atol=TOL, rtol=0)
