"""Truth tests of the step-loop engines for Keras layers torch has no module for
(app/nets/keras_cells.py): against torch's modules where the equations are torch's, and against
a plain float64 loop written here from Keras's equations (with activations from their formulas,
not from app code) everywhere else: every gate, state, pre-activation and unit term."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from app.nets.activations import ACTIVATIONS, FORMULAS
from app.nets.engines import input_tables, kind_of, trace_recurrent
from app.nets.keras_cells import KerasRecurrent
from app.nets.recurrent import ACTIVATION

TOL = 1e-5
T, IN, H = 8, 4, 5

# Written from the formulas (FORMULAS), in float64, independently of app/nets/activations.py.
FUNCTIONS: dict[str, Any] = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hard_sigmoid_keras2": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "relu6": lambda x: np.clip(x, 0, 6),
    "exponential": np.exp,
    "hard_silu": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "log_sigmoid": lambda x: -np.log1p(np.exp(-x)),
}


def test_every_activation_is_its_formula() -> None:
    assert set(FUNCTIONS) == set(ACTIVATIONS) == set(FORMULAS) and ACTIVATION is ACTIVATIONS
    grid = np.linspace(-7, 7, 281)
    for name, fn in ACTIVATIONS.items():
        got = fn(torch.tensor(grid, dtype=torch.float64)).numpy()
        assert np.allclose(got, FUNCTIONS[name](grid), atol=1e-6), name
    # Keras 2's hard_sigmoid and Keras 3's are different functions: pinned at a point.
    one = torch.tensor([1.0])
    assert ACTIVATIONS["hard_sigmoid_keras2"](one).item() == pytest.approx(0.7)
    assert ACTIVATIONS["hard_sigmoid"](one).item() == pytest.approx(0.5 + 1 / 6)


def _module(
    cell: str, layers: int = 1, bi: bool = False, bias: bool = True, seed: int = 0, **kw: Any
) -> KerasRecurrent:
    torch.manual_seed(seed)
    module = KerasRecurrent(cell, IN, H, layers, bidirectional=bi, bias=bias, **kw)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.6)  # gates beyond their linear range, states that stay bounded
    return module


def reference(module: KerasRecurrent, x: torch.Tensor, h0: Any = None, c0: Any = None) -> dict[str, Any]:
    """Keras's equations (keras/src/layers/rnn/{lstm,gru,simple_rnn}.py) in float64, in torch's
    block order: for each layer and direction, every quantity and gate pre-activation (T, H)."""
    act = FUNCTIONS[module.activation]
    gate = FUNCTIONS[module.recurrent_activation]
    dirs = 2 if module.bidirectional else 1
    layer_in = x.double().numpy()
    out: dict[str, Any] = {"layers": []}
    for layer in range(module.num_layers):
        pair, outputs = [], []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih = getattr(module, "weight_ih" + sfx).detach().double().numpy()
            w_hh = getattr(module, "weight_hh" + sfx).detach().double().numpy()
            b_ih = getattr(module, "bias_ih" + sfx).detach().double().numpy() if module.bias else 0
            b_hh = getattr(module, "bias_hh" + sfx).detach().double().numpy() if module.bias else 0
            row = layer * dirs + d
            h = np.zeros(H) if h0 is None else h0[row].double().numpy()
            c = np.zeros(H) if c0 is None else c0[row].double().numpy()
            q: dict[str, np.ndarray] = {}
            pre: dict[str, np.ndarray] = {}

            def put(store: dict[str, np.ndarray], name: str, t: int, value: np.ndarray) -> None:
                store.setdefault(name, np.zeros((T, H)))[t] = value

            for t in reversed(range(T)) if d else range(T):
                xi = w_ih @ layer_in[t] + b_ih
                if module.cell == "lstm":
                    z = xi + w_hh @ h + b_hh
                    names = ("input", "forget", "candidate", "output")
                    fns = (gate, gate, act, gate)
                    values = [fn(z[k * H : (k + 1) * H]) for k, fn in enumerate(fns)]
                    for k, name in enumerate(names):
                        put(pre, name, t, z[k * H : (k + 1) * H])
                        put(q, name, t, values[k])
                    c = values[1] * c + values[0] * values[2]
                    h = values[3] * act(c)
                    put(q, "cell", t, c)
                elif module.cell == "gru":
                    hr = w_hh[: 2 * H] @ h + (b_hh[: 2 * H] if module.bias else 0)
                    r_pre, z_pre = xi[:H] + hr[:H], xi[H : 2 * H] + hr[H:]
                    r, u = gate(r_pre), gate(z_pre)
                    bn = b_hh[2 * H :] if module.bias else 0
                    if module.reset_after:
                        n_pre = xi[2 * H :] + r * (w_hh[2 * H :] @ h + bn)
                    else:
                        n_pre = xi[2 * H :] + w_hh[2 * H :] @ (r * h) + bn
                    n = act(n_pre)
                    for name, p, v in (("reset", r_pre, r), ("update", z_pre, u), ("candidate", n_pre, n)):
                        put(pre, name, t, p)
                        put(q, name, t, v)
                    h = (1 - u) * n + u * h
                else:
                    z = xi + w_hh @ h + b_hh
                    put(pre, "hidden", t, z)
                    h = act(z)
                put(q, "hidden", t, h)
            pair.append({"values": q, "pre": pre})
            outputs.append(q["hidden"])
        out["layers"].append(pair)
        layer_in = np.concatenate(outputs, axis=1)
    out["output"] = layer_in
    return out


# (cell, activation, recurrent_activation, reset_after)
VARIANTS = [
    ("lstm", "tanh", "hard_sigmoid_keras2", True),
    ("lstm", "relu", "hard_sigmoid", True),
    ("lstm", "softsign", "sigmoid", True),
    ("gru", "tanh", "sigmoid", False),
    ("gru", "tanh", "hard_sigmoid_keras2", False),
    ("gru", "elu", "sigmoid", True),
    ("gru", "tanh", "hard_sigmoid", True),
    ("simple_rnn", "sigmoid", "sigmoid", True),
    ("simple_rnn", "linear", "sigmoid", True),
    ("simple_rnn", "selu", "sigmoid", True),
]


def _id(v: tuple[str, str, str, bool]) -> str:
    cell, act, rec, reset_after = v
    return f"{cell}-{act}-{rec}" + ("" if cell != "gru" else f"-reset_after={reset_after}")


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
@pytest.mark.parametrize(("layers", "bi", "bias"), [(1, False, True), (2, True, True), (2, False, False)])
def test_step_engines_equal_keras_equations(
    variant: tuple[str, str, str, bool], layers: int, bi: bool, bias: bool
) -> None:
    cell, act, rec, reset_after = variant
    module = _module(
        cell, layers, bi, bias, activation=act, recurrent_activation=rec, reset_after=reset_after
    )
    torch.manual_seed(1)
    x = torch.randn(T, IN)
    rows = layers * (2 if bi else 1)
    h0 = torch.randn(rows, H)
    c0 = torch.randn(rows, H) if cell == "lstm" else None
    for given in (False, True):
        tr = trace_recurrent(module, x, h0=h0 if given else None, c0=c0 if given else None)
        ref = reference(module, x, h0 if given else None, c0 if given else None)
        expected_kind = {"lstm": "lstm", "gru": "gru" if reset_after else "gru_reset_before"}.get(
            cell, f"rnn_{act}"
        )
        assert tr.kind == expected_kind == kind_of(module)
        assert np.allclose(tr.output.numpy(), ref["output"], atol=TOL)
        for layer, pair in enumerate(tr.layers):
            for d, direction in enumerate(pair):
                expected = ref["layers"][layer][d]
                assert direction.reverse == bool(d)
                for name, value in expected["values"].items():
                    assert np.allclose(direction.quantities()[name].numpy(), value, atol=TOL), (
                        layer,
                        d,
                        name,
                    )
                pre = direction.pre
                for k, name in enumerate(direction.gates):
                    assert np.allclose(
                        pre[:, k * H : (k + 1) * H].numpy(), expected["pre"][name], atol=TOL
                    ), name
                # Every unit's terms add up to its pre-activation, and the named activation of it is the gate.
                for unit in (0, H - 1):
                    terms = direction.unit_terms(unit)
                    for k, name in enumerate(direction.gates):
                        assert np.allclose(terms.pre[:, k].numpy(), expected["pre"][name][:, unit], atol=TOL)
                        fn = FUNCTIONS[terms.activations[k]]
                        assert np.allclose(
                            fn(terms.pre[:, k].double().numpy()), terms.value[:, k].numpy(), atol=TOL
                        )
                    state, rest = terms
                    assert torch.allclose(state + rest, terms.pre, atol=TOL)
                if cell == "lstm":
                    assert direction.activations == (rec, rec, act, rec) and direction.cell_activation == act
                    start = T - 1 if d else 0
                    assert torch.equal(direction.previous_cell[start], direction.c0)


def test_reset_before_gru_unit_terms_read_the_reset_state() -> None:
    """reset_after=False: the candidate's recurrent part is W_hn·(r_t ⊙ h_{t−1}), not r_t ⊙ W_hn·h."""
    module = _module("gru", 1, True, reset_after=False, seed=4)
    tr = trace_recurrent(module, torch.randn(T, IN))
    for d in tr.layers[0]:
        terms = d.unit_terms(2)
        assert torch.equal(terms.recurrent_scale, torch.ones(T, 3))
        w_hn = d.weights.w_hh[2 * H + 2]
        assert torch.allclose(terms.recurrent[:, 2], (d.reset * d.previous_hidden) @ w_hn, atol=TOL)
        assert torch.allclose(d.quantities()["reset_hidden"], d.reset * d.previous_hidden)
    after = KerasRecurrent("gru", IN, H, 1, bidirectional=True, reset_after=True)
    after.load_state_dict(module.state_dict())
    x = torch.randn(T, IN)
    assert not torch.allclose(trace_recurrent(after, x).output, trace_recurrent(module, x).output, atol=1e-3)


@pytest.mark.parametrize(("cell", "reference_cls", "extra"), [
    ("lstm", nn.LSTM, {}),
    ("gru", nn.GRU, {}),
    ("simple_rnn", nn.RNN, {"nonlinearity": "tanh"}),
    ("simple_rnn", nn.RNN, {"nonlinearity": "relu"}),
])  # fmt: skip
def test_default_activations_give_torchs_module(
    cell: str, reference_cls: type[nn.Module], extra: dict[str, str]
) -> None:
    """With torch's activations a step engine computes what torch's module does (the reader builds
    the torch module then, but the engines must agree)."""
    torch.manual_seed(2)
    ref = reference_cls(IN, H, 2, bidirectional=True, **extra)
    module = KerasRecurrent(cell, IN, H, 2, bidirectional=True, activation=extra.get("nonlinearity", "tanh"))
    module.load_state_dict(ref.state_dict())
    x = torch.randn(T, IN)
    a, b = trace_recurrent(ref, x), trace_recurrent(module, x)
    assert torch.allclose(a.output, b.output, atol=TOL) and torch.allclose(a.h_n, b.h_n, atol=TOL)
    for pa, pb in zip(a.layers, b.layers, strict=True):
        for da, db in zip(pa, pb, strict=True):
            for name, value in da.quantities().items():
                assert torch.allclose(value, db.quantities()[name], atol=TOL), name
    with torch.no_grad():
        out, state = ref(x[:, None])
        mine, my_state = module(x)
    assert torch.allclose(out, mine, atol=TOL)
    if cell == "lstm":
        assert torch.allclose(state[1], my_state[1], atol=TOL)


def test_embedding_tables_give_the_same_trace() -> None:
    module = _module("gru", 2, True, reset_after=False, recurrent_activation="hard_sigmoid")
    emb = torch.randn(11, IN)
    ids = torch.randint(0, 11, (T,))
    plain = trace_recurrent(module, emb[ids])
    fast = trace_recurrent(module, emb[ids], ids=ids, tables=input_tables(module, emb))
    assert torch.allclose(plain.output, fast.output, atol=TOL)
    for da, db in zip(plain.layers[0], fast.layers[0], strict=True):
        assert torch.allclose(da.reset, db.reset, atol=TOL)


def test_bad_configurations_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cell: 'conv'"):
        KerasRecurrent("conv", 2, 3)
    with pytest.raises(ValueError, match="recurrent_activation: 'swishy'"):
        KerasRecurrent("lstm", 2, 3, recurrent_activation="swishy")
    with pytest.raises(ValueError, match="this engine traces a KerasRecurrent"):
        from app.nets.keras_cells import ENGINES

        gru = nn.GRU(2, 3)
        gru.mode = "KERAS_GRU"  # a torch module claiming a Keras mode
        ENGINES["KERAS_GRU"].check(gru)
