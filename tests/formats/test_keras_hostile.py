"""Hostile Keras files, built small: each refused with our own sentence and code before anything
it declares is materialised (app/formats/keras.py, "Measured before anything is materialised")."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from app.formats import keras as reader
from app.formats.base import FormatError, Limits
from tests.formats.keras_files import hdf5, keras3_archive, keras3_weights, layer, legacy_h5, rnn, sequential
from tests.reliability.hostile_files import keras_zip_bomb

LIMITS = Limits(
    max_unpacked_bytes=2**22, max_layers=4, max_hidden=64, max_params=50_000, max_config_bytes=2**16
)
IN, UNITS = 3, 4


def _gru_config(units: int = UNITS, **extra: Any) -> dict[str, Any]:
    return sequential(
        layer("InputLayer", name="input_layer", batch_shape=[None, None, IN]),
        rnn("GRU", "gru", units, **extra),
    )


def _gru_arrays(units: int = UNITS) -> dict[str, np.ndarray]:
    return {
        "layers/gru/cell/vars/0": np.zeros((IN, 3 * units), np.float32),
        "layers/gru/cell/vars/1": np.zeros((units, 3 * units), np.float32),
        "layers/gru/cell/vars/2": np.zeros((2, 3 * units), np.float32),
    }


def _weights(fill: Callable[[h5py.File], None]) -> bytes:
    """A Keras 3 weights file for the GRU: valid arrays, then ``fill`` breaks one of them."""

    def build(f: h5py.File) -> None:
        for path, array in _gru_arrays().items():
            f[path] = array
        fill(f)

    return hdf5(build)


def _refused(data: bytes, code: str, match: str, config: bytes | None = None) -> FormatError:
    with pytest.raises(FormatError, match=match) as err:
        reader.inspect(data, LIMITS, config=config)
    assert err.value.code == code, (err.value.code, str(err.value))
    with pytest.raises(FormatError):
        reader.load(data, LIMITS, config=config)
    return err.value


def test_the_valid_file_these_are_built_from_is_read() -> None:
    kf = reader.load(keras3_archive(_gru_config(), keras3_weights(_gru_arrays())), LIMITS)
    assert kf.net["stages"][0]["module"]["module"] == "GRU"


def test_a_keras_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = keras_zip_bomb(json.dumps(_gru_config()).encode())
    assert len(bomb) < 2 * 2**20
    started = time.process_time()
    err = _refused(
        bomb,
        "upload-unsafe",
        r"Its model.weights.h5 unpacks to 1,073,741,824 bytes, but the limit is 4,194,304",
    )
    assert err.params == {"size": 2**30, "limit": LIMITS.max_unpacked_bytes}
    assert time.process_time() - started < 1.0  # nothing was inflated


def test_an_archive_with_too_many_members_or_a_huge_config_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k in range(LIMITS.max_members + 1):
            z.writestr(f"assets/{k}", b"")
    _refused(buf.getvalue(), "upload-unsafe", "The archive has 10,001 members, but the limit is 10,000")
    big = json.dumps({**_gru_config(), "padding": "x" * LIMITS.max_config_bytes}).encode()
    _refused(
        keras3_archive(big, keras3_weights(_gru_arrays())), "upload-unsafe", "Its config.json unpacks to"
    )


@pytest.mark.parametrize("config", [b"{not json", b"\xff\xfe", b"[" * 60_000, b'"a string"', b"{}"])
def test_a_config_that_is_not_a_model_is_refused(config: bytes) -> None:
    data = keras3_archive(config, keras3_weights(_gru_arrays()))
    _refused(data, "unreadable-file", r"not valid JSON|not a Keras model")


def test_a_lambda_layer_is_refused_naming_it() -> None:
    config = _gru_config()
    config["config"]["layers"].insert(
        1, layer("Lambda", name="scale_by_two", function={"class_name": "__lambda__"})
    )
    err = _refused(
        keras3_archive(config, keras3_weights(_gru_arrays())),
        "upload-unsafe",
        "'scale_by_two' \\(Lambda\\) holds Python code",
    )
    assert err.params["layer"] == "scale_by_two"


CUSTOM = [
    (
        {"module": "my_lab.layers", "class_name": "GRU", "registered_name": "my_lab>GRU"},
        "the Python module 'my_lab.layers'",
    ),
    (
        {"module": "keras.layers", "class_name": "Attention2", "registered_name": "Custom>Attention2"},
        "as 'Custom>Attention2'",
    ),
]


@pytest.mark.parametrize(("entry", "match"), CUSTOM)
def test_custom_layers_are_refused_never_imported(entry: dict[str, Any], match: str) -> None:
    config = sequential({**entry, "config": {"name": "custom"}})
    _refused(keras3_archive(config, keras3_weights(_gru_arrays())), "upload-unsafe", match)


def test_a_custom_activation_is_refused() -> None:
    custom = {
        "module": "my_lab.acts",
        "class_name": "function",
        "config": "steep_tanh",
        "registered_name": "function",
    }
    config = _gru_config(activation=custom)
    _refused(
        keras3_archive(config, keras3_weights(_gru_arrays())),
        "upload-unsafe",
        "activation of layer 'gru' .* is a custom function",
    )
    unknown = _gru_config(recurrent_activation="swoosh")
    _refused(
        keras3_archive(unknown, keras3_weights(_gru_arrays())),
        "unsupported-layer",
        "recurrent_activation .* is 'swoosh'",
    )


def test_a_subclassed_model_a_branching_one_and_unknown_layers_are_refused() -> None:
    arrays = keras3_weights(_gru_arrays())
    _refused(
        keras3_archive({"module": "my_lab", "class_name": "MyModel", "config": {}}, arrays),
        "upload-unsafe",
        "MyModel",
    )
    conv = sequential(layer("Conv1D", name="conv", filters=3), rnn("GRU", "gru", UNITS))
    _refused(
        keras3_archive(conv, arrays),
        "unsupported-layer",
        r"Layer 'conv' \(Conv1D\) is not a layer this app reads",
    )
    tensor = lambda name: {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}  # noqa: E731
    functional = {
        "class_name": "Functional",
        "config": {
            "layers": [
                {
                    **layer("InputLayer", name="in", batch_shape=[None, None, IN]),
                    "name": "in",
                    "inbound_nodes": [],
                },
                {
                    **rnn("GRU", "a", UNITS),
                    "name": "a",
                    "inbound_nodes": [{"args": [tensor("in")], "kwargs": {}}],
                },
                {
                    **rnn("GRU", "b", UNITS),
                    "name": "b",
                    "inbound_nodes": [{"args": [tensor("in")], "kwargs": {}}],
                },
            ]
        },
    }
    _refused(keras3_archive(functional, arrays), "unsupported-layer", "'in' feeds 2 layers")
    keras1 = sequential(
        {
            "class_name": "LSTM",
            "config": {"name": "lstm_1", "output_dim": 4, "inner_activation": "hard_sigmoid"},
        }
    )
    _refused(keras3_archive(keras1, arrays), "unsupported-layer", "Keras 1's format")
    cudnn = sequential(layer("CuDNNLSTM", True, name="cu", units=4))
    _refused(keras3_archive(cudnn, arrays), "unsupported-layer", "GPU-only CuDNNLSTM")


def test_model_sizes_are_refused_from_the_config_before_any_weight() -> None:
    empty = keras3_weights({})  # no weights at all: the refusal must come first
    deep = sequential(*(rnn("LSTM", f"l{k}", 2) for k in range(5)))
    err = _refused(
        keras3_archive(deep, empty),
        "model-too-large",
        r"5 recurrent layers, but the limit is 4 \(RLENS_MAX_UPLOAD_LAYERS\)",
    )
    assert err.params == {"what": "recurrent layers", "value": 5, "limit": 4}
    _refused(keras3_archive(_gru_config(units=65), empty), "model-too-large", "65 hidden units per layer")
    big = sequential(
        layer("Embedding", name="emb", input_dim=20_000, output_dim=IN), rnn("GRU", "gru", UNITS)
    )
    arrays = {**_gru_arrays(), "layers/embedding/vars/0": np.zeros((20_000, IN), np.float32)}
    _refused(
        keras3_archive(big, keras3_weights(arrays)),
        "model-too-large",
        r"60,\d{3} parameters, but the limit is 50,000",
    )


def test_declared_bytes_over_the_limit_are_refused_before_reading() -> None:
    small = Limits(max_unpacked_bytes=100)
    config = json.dumps(_gru_config()).encode()
    with pytest.raises(FormatError, match="declares 432 bytes of weights, but the limit is 100") as err:
        reader.inspect(keras3_weights(_gru_arrays()), small, config=config)
    assert err.value.code == "upload-unsafe"


def test_a_dataset_declaring_another_shape_is_refused_naming_both() -> None:
    def grow(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/1"]
        f.create_dataset(
            "layers/gru/cell/vars/1", shape=(10**6, 12), dtype="f4", chunks=(1000, 12), compression="gzip"
        )

    data = keras3_archive(_gru_config(), _weights(grow))
    assert len(data) < 100_000
    _refused(
        data,
        "shape-mismatch",
        r"recurrent_kernel of layer 'gru' \(GRU\) is \(1000000, 12\), but .* needs \(4, 12\)",
    )


def test_chunks_larger_than_the_dataset_are_refused() -> None:
    def chunky(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/0"]
        f.create_dataset(
            "layers/gru/cell/vars/0",
            shape=(IN, 12),
            maxshape=(None, None),
            chunks=(1024, 1024),
            dtype="f4",
            compression="gzip",
        )

    _refused(keras3_archive(_gru_config(), _weights(chunky)), "upload-unsafe", "chunks of 4,194,304 bytes")


def test_links_to_other_files_and_virtual_or_external_data_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.h5"
    with h5py.File(target, "w") as f:
        f["k"] = np.ones((IN, 12), np.float32)  # a valid kernel: following the link would "work"
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones((IN, 12), np.float32).tobytes())

    def external_link(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/0"]
        f["layers/gru/cell/vars/0"] = h5py.ExternalLink(str(target), "k")

    def external_group(f: h5py.File) -> None:
        del f["layers/gru"]
        f["layers/gru"] = h5py.ExternalLink(str(target), "/")

    def soft_link(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/0"]
        f["layers/gru/cell/vars/0"] = h5py.SoftLink("/layers/gru/cell/vars/1")

    def virtual(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/0"]
        source = h5py.VirtualSource(str(target), "k", shape=(IN, 12))
        lay = h5py.VirtualLayout(shape=(IN, 12), dtype="f4")
        lay[:] = source
        f["layers/gru/cell/vars"].create_virtual_dataset("0", lay)

    def external_storage(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/0"]
        f["layers/gru/cell/vars"].create_dataset(
            "0", shape=(IN, 12), dtype="f4", external=[(str(raw), 0, IN * 12 * 4)]
        )

    cases = [
        (external_link, "external link"),
        (external_group, "external link"),
        (soft_link, "soft link"),
        (virtual, "virtual dataset"),
        (external_storage, "external file"),
    ]
    for fill, match in cases:
        _refused(keras3_archive(_gru_config(), _weights(fill)), "upload-unsafe", match)


def test_filters_outside_the_short_list_and_non_float_weights_are_refused() -> None:
    def scaleoffset(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/0"]
        f.create_dataset("layers/gru/cell/vars/0", data=np.zeros((IN, 12), np.float32), scaleoffset=4)

    _refused(keras3_archive(_gru_config(), _weights(scaleoffset)), "upload-unsafe", "uses HDF5 filter 6")

    def integers(f: h5py.File) -> None:
        del f["layers/gru/cell/vars/0"]
        f["layers/gru/cell/vars/0"] = np.zeros((IN, 12), np.int64)

    data = keras3_archive(_gru_config(), _weights(integers))
    _refused(
        data,
        "unreadable-file",
        "kernel of layer 'gru' \\(GRU\\) has dtype int64; weights are read as floating",
    )


def test_files_that_are_not_keras_files_are_refused() -> None:
    valid = keras3_weights(_gru_arrays())
    cases = [
        (b"", "neither a Keras archive"),
        (b"hello world", "neither a Keras archive"),
        (valid[:2000], "could not be read as an HDF5 file"),
        (b"\x89HDF\r\n\x1a\n" + bytes(500), "could not be read as an HDF5 file"),
        (keras3_archive(_gru_config(), b"not hdf5"), "model.weights.h5 is not an HDF5 file"),
    ]
    for data, match in cases:
        _refused(data, "unreadable-file", match)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.pkl", b"")
    _refused(buf.getvalue(), "unreadable-file", "not a Keras model")
    no_model = hdf5(lambda f: f.attrs.__setitem__("something", 1))
    _refused(no_model, "unreadable-file", "holds no Keras model")


def test_a_legacy_file_whose_weights_are_missing_or_misnamed_is_refused() -> None:
    config = sequential(rnn("GRU", "gru", UNITS, True))
    kernel = np.zeros((IN, 12), np.float32)
    rk, bias = np.zeros((UNITS, 12), np.float32), np.zeros((2, 12), np.float32)
    short = legacy_h5(config, [("gru", [("gru/kernel:0", kernel)])])
    _refused(short, "shape-mismatch", r"lists 1 weights for layer 'gru' \(GRU\), but its config needs 3")
    renamed = legacy_h5(config, [("gru", [("gru/W_z", kernel), ("gru/U_z", rk), ("gru/b_z", bias)])])
    _refused(renamed, "shape-mismatch", "'gru/W_z' of layer 'gru' .* is not its kernel")
    other = legacy_h5(config, [("dense", [("dense/kernel:0", kernel)])])
    _refused(other, "shape-mismatch", "no weights of layer 'gru'")


def test_upload_limits_come_from_settings() -> None:
    from app.config import Settings

    settings = Settings(
        max_upload_layers=3, max_upload_hidden=7, max_upload_params=99, max_upload_unpacked_bytes=12345
    )
    limits = Limits.of(settings)
    assert (limits.max_layers, limits.max_hidden, limits.max_params, limits.max_unpacked_bytes) == (
        3,
        7,
        99,
        12345,
    )
    deep = sequential(*(rnn("LSTM", f"l{k}", 2) for k in range(4)))
    with pytest.raises(
        FormatError, match=r"4 recurrent layers, but the limit is 3 \(RLENS_MAX_UPLOAD_LAYERS\)"
    ):
        reader.inspect(keras3_archive(deep, keras3_weights({})), limits)
