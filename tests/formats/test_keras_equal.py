"""Equal to Keras: each variant built with Keras itself (torch backend, no TensorFlow), saved as
``.keras``, legacy ``.h5`` and ``.weights.h5`` + its config, read back by app/formats/keras.py
and traced. Every layer's traced output equals what Keras's own layer returns to 1e-5, and every
gate equals a recomputation from the layer's Keras kernels here (Keras's layout, Keras's own
activation functions), so the mapping onto torch's layout is checked from both ends.

Keras is imported once for the module (slow: ~3 s); the models are tiny.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow here

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch

from app.formats import keras as reader
from app.formats.base import Limits
from app.nets.keras_net import KerasNetTrace

pytestmark = [
    pytest.mark.keras,
    # Keras's own code, on numpy 2: not ours to fix, and nothing about the numbers.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

TOL = 1e-5
LIMITS = Limits(max_unpacked_bytes=2**24)
L = keras.layers
T, FEATURES, VOCAB = 7, 3, 12


def _scaled(model: keras.Model, seed: int) -> keras.Model:
    """Weights drawn wide enough that the gates leave their linear range."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.7, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


def _seq(*layers: Any, tokens: bool = False) -> keras.Model:
    shape = (None,) if tokens else (None, FEATURES)
    return keras.Sequential([keras.Input(shape, dtype="int32" if tokens else "float32"), *layers])


def _functional() -> keras.Model:
    inp = keras.Input((None, FEATURES))
    x = L.Dropout(0.3)(inp)
    x = L.GRU(4, return_sequences=True, reset_after=False, name="encoder")(x)
    x = L.TimeDistributed(L.Dense(3, activation="softmax"))(x)
    return keras.Model(inp, x)


# name → (builder, token input)
VARIANTS: dict[str, tuple[Callable[[], keras.Model], bool]] = {
    "lstm": (lambda: _seq(L.LSTM(4, return_sequences=True)), False),
    "lstm-hard_sigmoid-relu": (
        lambda: _seq(
            L.LSTM(4, return_sequences=True, activation="relu", recurrent_activation="hard_sigmoid")
        ),
        False,
    ),
    "lstm-nobias-last": (lambda: _seq(L.LSTM(4, use_bias=False)), False),
    "gru-reset_after": (lambda: _seq(L.GRU(4, return_sequences=True)), False),
    "gru-reset_before": (lambda: _seq(L.GRU(4, return_sequences=True, reset_after=False)), False),
    "gru-hard_sigmoid": (
        lambda: _seq(L.GRU(4, return_sequences=True, recurrent_activation="hard_sigmoid")),
        False,
    ),
    "simple_rnn-tanh": (lambda: _seq(L.SimpleRNN(4, return_sequences=True)), False),
    "simple_rnn-relu-go_backwards": (
        lambda: _seq(L.SimpleRNN(4, return_sequences=True, activation="relu", go_backwards=True)),
        False,
    ),
    "simple_rnn-sigmoid": (lambda: _seq(L.SimpleRNN(4, return_sequences=True, activation="sigmoid")), False),
    "bi-lstm-concat-stacked": (
        lambda: _seq(
            L.Bidirectional(L.LSTM(3, return_sequences=True)),
            L.Bidirectional(L.LSTM(3, return_sequences=True)),
            L.Dense(2),
        ),
        False,
    ),
    "bi-gru-reset_before-sum-last": (
        lambda: _seq(L.Bidirectional(L.GRU(4, reset_after=False), merge_mode="sum")),
        False,
    ),
    "go_backwards-then-lstm": (
        lambda: _seq(L.GRU(4, return_sequences=True, go_backwards=True), L.LSTM(3, return_sequences=True)),
        False,
    ),
    "embedding-mask_zero-lstm-dense": (
        lambda: _seq(
            L.Embedding(VOCAB, 3, mask_zero=True), L.LSTM(4), L.Dense(5, activation="softmax"), tokens=True
        ),
        True,
    ),
    "embedding-bi-gru": (
        lambda: _seq(L.Embedding(VOCAB, 3), L.Bidirectional(L.GRU(3, return_sequences=True)), tokens=True),
        True,
    ),
    "masking-simple_rnn": (lambda: _seq(L.Masking(0.0), L.SimpleRNN(4, return_sequences=True)), False),
    "functional-dropout-time_distributed": (_functional, False),
}


def _inputs(token: bool, masked: bool) -> np.ndarray:
    rng = np.random.default_rng(11)
    if token:
        ids = rng.integers(1, VOCAB, (1, T))
        if masked:
            ids[0, [2, 5]] = 0
        return ids
    x = rng.normal(0, 1.3, (1, T, FEATURES)).astype(np.float32)
    if masked:
        x[0, [1, 4]] = 0.0
    return x


def _keras_outputs(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output as Keras computes it (the functional graph's own, with masks)."""
    probe = keras.Model(
        model.inputs, [layer.output for layer in model.layers if not isinstance(layer, L.InputLayer)]
    )
    outs = probe([x])
    outs = outs if isinstance(outs, list | tuple) else [outs]
    return [keras.ops.convert_to_numpy(o)[0] for o in outs]


@pytest.fixture(scope="module", params=list(VARIANTS))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    name = request.param
    build, token = VARIANTS[name]
    keras.utils.set_random_seed(0)
    model = _scaled(build(), seed=len(name))
    directory = tmp_path_factory.mktemp(name)
    model.save(directory / "m.keras")
    model.save(directory / "m.h5")
    model.save_weights(directory / "m.weights.h5")
    masked = "mask" in name
    x = _inputs(token, masked)
    return {
        "name": name,
        "model": model,
        "dir": directory,
        "x": x,
        "token": token,
        "outputs": _keras_outputs(model, x),
    }


def _read(directory: Path, container: str) -> reader.KerasFile:
    if container == "weights.h5":
        config = zipfile.ZipFile(directory / "m.keras").read("config.json")
        return reader.load((directory / "m.weights.h5").read_bytes(), LIMITS, config=config)
    return reader.load((directory / f"m.{container}").read_bytes(), LIMITS)


def _trace(kf: reader.KerasFile, x: np.ndarray, token: bool) -> KerasNetTrace:
    net = kf.module()
    return net.trace(ids=torch.tensor(x[0])) if token else net.trace(torch.tensor(x[0]))


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    fn = keras.activations.get(name)
    return lambda a: keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(a.astype(np.float32)))).astype(
        np.float64
    )


def _recompute(cell: Any, x: np.ndarray, h_prev: np.ndarray, reverse: bool) -> dict[str, np.ndarray]:
    """Gates from a Keras cell's own kernels, Keras's layout and equations, given the inputs x
    (T, I) and the states each step read (T, H), both in sequence order."""
    weights = [w.astype(np.float64) for w in cell.get_weights()]
    kernel, rk = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else None
    units = rk.shape[0]
    act, rec = _activation(cell.activation.__name__), None
    if hasattr(cell, "recurrent_activation"):
        rec = _activation(cell.recurrent_activation.__name__)
    split = lambda m, k: m[:, k * units : (k + 1) * units]  # noqa: E731
    if isinstance(cell, L.LSTMCell):
        z = x @ kernel + h_prev @ rk + (0 if bias is None else bias)
        i, f, g, o = rec(split(z, 0)), rec(split(z, 1)), act(split(z, 2)), rec(split(z, 3))
        c, cells = np.zeros(units), np.zeros_like(i)
        for t in reversed(range(len(x))) if reverse else range(len(x)):
            c = f[t] * c + i[t] * g[t]
            cells[t] = c
        return {"input": i, "forget": f, "candidate": g, "output": o, "cell": cells, "hidden": o * act(cells)}
    if isinstance(cell, L.GRUCell):
        if cell.reset_after:
            b_in, b_rec = (bias[0], bias[1]) if bias is not None else (0, 0)
            mx, mh = x @ kernel + b_in, h_prev @ rk + b_rec
            zg, r = rec(split(mx, 0) + split(mh, 0)), rec(split(mx, 1) + split(mh, 1))
            n = act(split(mx, 2) + r * split(mh, 2))
        else:
            mx = x @ kernel + (0 if bias is None else bias)
            zg = rec(split(mx, 0) + h_prev @ split(rk, 0))
            r = rec(split(mx, 1) + h_prev @ split(rk, 1))
            n = act(split(mx, 2) + (r * h_prev) @ split(rk, 2))
        return {"update": zg, "reset": r, "candidate": n, "hidden": zg * h_prev + (1 - zg) * n}
    return {"hidden": act(x @ kernel + (0 if bias is None else bias) + h_prev @ rk)}


def _cells(layer: Any) -> list[Any]:
    if isinstance(layer, L.Bidirectional):
        return [layer.forward_layer.cell, layer.backward_layer.cell]
    return [layer.cell]


@pytest.mark.parametrize("container", ["keras", "h5", "weights.h5"])
def test_traces_equal_keras(saved: dict[str, Any], container: str) -> None:
    kf = _read(saved["dir"], container)
    tr = _trace(kf, saved["x"], saved["token"])
    model, outputs = saved["model"], saved["outputs"]
    layers = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    fed = tr.fed.numpy()
    recurrent = [(k, layer) for k, layer in enumerate(layers) if isinstance(layer, L.RNN | L.Bidirectional)]
    traced = [(stage, k) for stage in tr.stages for k in range(len(stage.layers))]
    assert len(traced) == len(recurrent)
    for (stage, depth), (k, layer) in zip(traced, recurrent, strict=True):
        keras_out = outputs[k]
        inner = layer.forward_layer if isinstance(layer, L.Bidirectional) else layer
        directions = stage.trace.layers[depth]
        if depth == len(stage.layers) - 1:  # what the Keras layer returns, in Keras's order
            expected = keras_out[fed] if inner.return_sequences else keras_out
            assert np.allclose(stage.output.numpy(), expected, atol=TOL), (saved["name"], layer.name)
        elif not isinstance(layer, L.Bidirectional) or layer.merge_mode == "concat":
            width = directions[0].hidden.shape[1]
            for d, direction in enumerate(directions):
                assert np.allclose(
                    direction.hidden.numpy(), keras_out[fed][:, d * width : (d + 1) * width], atol=TOL
                )
        # Every gate, recomputed from this layer's Keras kernels and the states the trace read.
        for cell, direction in zip(_cells(layer), directions, strict=True):
            assert direction.reverse == (
                inner.go_backwards or cell is _cells(layer)[-1] and len(directions) == 2
            )
            expected = _recompute(
                cell,
                direction.x.double().numpy(),
                direction.previous_hidden.double().numpy(),
                direction.reverse,
            )
            for name, value in expected.items():
                got = direction.quantities()[name].numpy()
                assert np.allclose(got, value, atol=TOL), (saved["name"], container, layer.name, name)
    if tr.logits is not None:
        assert np.allclose(
            tr.output.numpy(), outputs[-1][fed] if outputs[-1].ndim == 2 else outputs[-1], atol=TOL
        )


def test_the_layer_is_named_as_keras_names_it(saved: dict[str, Any]) -> None:
    kf = _read(saved["dir"], "keras")
    described = {d["name"]: d for d in kf.layers}
    for layer in saved["model"].layers:
        if not isinstance(layer, L.RNN | L.Bidirectional):
            continue
        inner = layer.forward_layer if isinstance(layer, L.Bidirectional) else layer
        d = described[layer.name]
        assert d["units"] == inner.units and d["activation"] == inner.activation.__name__
        assert d["go_backwards"] == inner.go_backwards and d["return_sequences"] == inner.return_sequences
        if isinstance(inner, L.GRU):
            assert d["reset_after"] == inner.reset_after
        if isinstance(layer, L.Bidirectional):
            assert d["class_name"] == "Bidirectional" and d["layer"] == type(inner).__name__
            assert d["merge_mode"] == layer.merge_mode
