"""Keras files written by hand with h5py, following the formats as Keras documents and writes them
(keras/src/saving/saving_lib.py for ``.keras`` and ``.weights.h5``; the Keras 2 HDF5 format of
keras/src/legacy/saving/legacy_h5_format.py: a ``model_config`` attribute, ``layer_names`` and
``weight_names``): for hand-set weights, Keras 2 files that Keras 3 cannot write, and hostile files.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np


def layer(class_name: str, keras2: bool = False, **config: Any) -> dict[str, Any]:
    """A layer's config entry: Keras 3's form (module, registered_name) or Keras 2's."""
    if keras2:
        return {"class_name": class_name, "config": config}
    return {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}


def rnn(class_name: str, name: str, units: int, keras2: bool = False, **config: Any) -> dict[str, Any]:
    """An LSTM/GRU/SimpleRNN entry with Keras's defaults, overridden by ``config``."""
    base: dict[str, Any] = {
        "name": name,
        "units": units,
        "activation": "tanh",
        "use_bias": True,
        "return_sequences": True,
        "return_state": False,
        "go_backwards": False,
        "stateful": False,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
    }
    if class_name != "SimpleRNN":
        base["recurrent_activation"] = "sigmoid"
    if class_name == "GRU":
        base["reset_after"] = True
    base.update(config)
    return layer(class_name, keras2, **base)


def sequential(*layers: dict[str, Any], name: str = "sequential") -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "config": {"name": name, "layers": list(layers)}}


def hdf5(fill: Callable[[h5py.File], None]) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        fill(f)
    return buf.getvalue()


def keras3_weights(arrays: dict[str, np.ndarray]) -> bytes:
    """A Keras 3 weights file: each array at its path (``layers/gru/cell/vars/0`` …)."""

    def fill(f: h5py.File) -> None:
        f.create_group("layers")
        for path, array in arrays.items():
            f[path] = array

    return hdf5(fill)


def keras3_archive(
    config: dict[str, Any] | bytes,
    weights: bytes,
    version: str | None = "3.15.1",
    method: int = zipfile.ZIP_STORED,
) -> bytes:
    """A ``.keras`` zip: config.json, metadata.json (unless version is None), model.weights.h5."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        if version is not None:
            z.writestr("metadata.json", json.dumps({"keras_version": version}))
        z.writestr("config.json", config if isinstance(config, bytes) else json.dumps(config))
        z.writestr("model.weights.h5", weights)
    return buf.getvalue()


def legacy_h5(
    config: dict[str, Any] | None,
    layers: list[tuple[str, list[tuple[str, np.ndarray]]]],
    version: str = "2.4.0",
) -> bytes:
    """A Keras 2 HDF5 file: ``model_config`` (when given, else a weights-only file),
    ``keras_version`` and ``backend`` at the root; the weights under ``model_weights`` (or the
    root), one group per layer listed in ``layer_names``, its datasets at the paths listed in
    ``weight_names`` (e.g. ``gru/gru_cell/kernel:0``)."""

    def fill(f: h5py.File) -> None:
        f.attrs["keras_version"] = version.encode()
        f.attrs["backend"] = b"tensorflow"
        root = f
        if config is not None:
            f.attrs["model_config"] = json.dumps(config).encode()
            root = f.create_group("model_weights")
            root.attrs["keras_version"] = version.encode()
        root.attrs["layer_names"] = np.array([name.encode() for name, _ in layers])
        for name, weights in layers:
            group = root.create_group(name)
            group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])
            for weight_name, array in weights:
                group[weight_name] = array

    return hdf5(fill)
