"""Keras files: ``.keras`` archives, ``.weights.h5`` and legacy ``.h5``, read with h5py and the
JSON config only. No TensorFlow or Keras at run time, and nothing from the file is ever run.

Three containers (told apart by their bytes, not their names):

* **Keras 3 ``.keras``** (also written by tf.keras ≥ 2.13): a zip of ``config.json`` (the model's
  architecture), ``metadata.json`` (``keras_version``) and ``model.weights.h5``, whose datasets
  are addressed by the layer's class, not its name: ``layers/<snake_case class>[_k]/…/vars/<i>``
  (the k-th layer of a class gets ``_k``; Keras's ``saving_lib._save_container_state``), the
  recurrent cell's under ``cell/``, a Bidirectional's under ``forward_layer/cell/`` and
  ``backward_layer/cell/``, in the order the layer creates them (kernel, recurrent_kernel, bias).
* **``.weights.h5``** (``model.save_weights``): that same HDF5 file alone; the architecture must
  come with it (``config``: ``config.json`` or ``model.to_json()``).
* **Legacy ``.h5``** (Keras 1/2 ``model.save``, and Keras 3 ``model.save("x.h5")``): the
  architecture is the root attribute ``model_config`` (JSON), and ``keras_version``; the weights
  are under ``model_weights/<layer name>``, listed by the attributes ``layer_names`` and
  ``weight_names`` (split into ``layer_names0``, ``layer_names1`` … when long). A legacy weights
  file (``save_weights("x.h5")``) has the same lists at its root and no ``model_config``.

What is read (the config by ``app.formats.keras_config``, the weights here). A chain of layers
(``Sequential``, or a functional ``Model`` whose every layer has one input, the previous one):
``InputLayer``; ``Embedding`` (``mask_zero`` honoured: Keras skips masked steps, and so does the
trace) or ``Masking`` first; then ``LSTM``, ``GRU``, ``SimpleRNN`` and ``Bidirectional`` of them
(merge_mode concat, sum, ave, mul); then ``Dense`` (or ``TimeDistributed(Dense)``) and
``Activation``; ``Dropout``-like layers anywhere (identity at inference). ``go_backwards``,
``return_sequences``, ``use_bias``, ``activation`` and ``recurrent_activation`` (any of
``app.nets.activations``), GRU ``reset_after`` (both equations) are honoured; ``unit_forget_bias``
is an initializer only; ``dropout`` and ``recurrent_dropout`` act in training only. Anything else is
refused naming the layer: a ``Lambda`` holds Python code and a custom object (any ``module`` outside
Keras, any ``registered_name`` of its own) is defined by code outside the file; neither is run here.

Keras versions. ``hard_sigmoid`` is clip(0.2·x + 0.5) in Keras 1 and 2 and clip(x/6 + 0.5) in
Keras 3: a file's ``keras_version`` (``metadata.json``, the HDF5 attribute, or the config JSON)
decides, and a Keras 1/2 file gets ``hard_sigmoid_keras2`` (``app.nets.activations``). Keras 1
files (other weight names and config keys) are refused.

The Keras layout, mapped onto torch's (``map_recurrent``; tests/formats/test_keras.py pins it
block by block). H = units, I = the layer's input width, G = 4 (LSTM), 3 (GRU), 1 (SimpleRNN)::

    Keras                                   torch (nn.LSTM/GRU/RNN, KerasRecurrent)
    kernel            (I, G·H)               weight_ih_l{k} = kernelᵀ           (G·H, I)
    recurrent_kernel  (H, G·H)               weight_hh_l{k} = recurrent_kernelᵀ (G·H, H)
    bias              (G·H,)                 bias_ih_l{k} = bias, bias_hh_l{k} = 0
    GRU reset_after   bias (2, 3H)           bias_ih = bias[0], bias_hh = bias[1]
    LSTM blocks       i, f, c, o             i, f, g, o (the same order)
    GRU blocks        z, r, h                r, z, n    (blocks 0 and 1 swap)
    Embedding         embeddings (V, E)      embedding.weight (V, E)
    Dense             kernel (in, out), bias weight = kernelᵀ (out, in), bias

A layer whose equations are a torch module's (LSTM with σ/tanh, GRU ``reset_after=True`` with
σ/tanh, SimpleRNN tanh/relu) becomes that module; any other a ``KerasRecurrent`` traced by a
step-loop engine (``app.nets.keras_cells``). Consecutive layers of one configuration are one
multi-layer module (``app.nets.keras_net``).

Measured before anything is materialised (``Limits``): a ``.keras`` zip's member count and the
declared sizes of the members read (``app.formats.archives``); the config's size; the model's
recurrent layers, hidden size and parameters, from the config and the datasets' declared shapes;
then every dataset read: reached through hard links only (an external or soft link is refused),
not virtual, no external raw storage, no filter but deflate/shuffle/fletcher32/lzf, a float
dtype, its declared shape the one the config implies, chunks no larger than the dataset (or
1 MiB), and their bytes together within ``Limits.max_unpacked_bytes``.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import torch
from torch import Tensor

from app.formats.archives import measure_zip
from app.formats.base import LIMIT_SETTINGS, FormatError, Limits, Weights
from app.formats.keras_config import Layer, major_version, read_chain, refuse
from app.nets.keras_net import KerasNet

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
SUFFIXES = (".keras", ".h5", ".hdf5")
ARCHIVE_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
WHAT = "a Keras archive"

GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
# HDF5 filters a dataset may use: deflate, shuffle, fletcher32 (HDF5's own) and LZF (h5py's).
FILTERS = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32, h5py.h5z.FILTER_LZF}
MIN_CHUNK_BYTES = 2**20
FLOATS = {np.dtype("float16"), np.dtype("float32"), np.dtype("float64")}
GRU_TO_TORCH = (1, 0, 2)  # torch block k holds Keras block GRU_TO_TORCH[k]: (r, z, n) ← (z, r, h)


@dataclass
class KerasFile(Weights):
    """What a Keras file holds, read: ``tensors`` by ``KerasNet`` parameter name (meta tensors
    from ``inspect``), ``net`` the ``KerasNet`` config, ``layers`` each Keras layer of the chain
    as the file names it, ``keras_version`` (the file's, or "" when it names none), and ``notes``
    (what the trace does differently from Keras, or what the file was read as)."""

    net: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    keras_version: str = ""
    notes: list[str] = field(default_factory=list)

    def module(self) -> KerasNet:
        """The torch modules with these weights (``load`` first: meta tensors have no data)."""
        net = KerasNet(**self.net)
        net.load_state_dict(self.tensors)
        return net.eval()


def _damaged(what: str = "an HDF5 file") -> FormatError:
    return refuse(f"The file could not be read as {what}; it may be truncated or damaged.")


# --- the container: a .keras zip, or an HDF5 file -----------------------------------------------


@dataclass
class Source:
    """Where a file's weights live: the Keras 3 layout under ``root`` (``layers/…``), or the
    legacy one (``layer_names``/``weight_names``) under ``root``."""

    root: h5py.Group
    keras3: bool


def _json(raw: bytes | str, what: str, limit: int) -> Any:
    if len(raw) > limit:
        raise refuse(
            f"The {what} is {len(raw):,} bytes, but the limit is {limit:,}.", "upload-unsafe", size=len(raw)
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, TypeError) as exc:
        raise refuse(f"The {what} is not valid JSON.") from exc


def _text_attr(group: h5py.Group, name: str) -> str | None:
    """A string attribute (bytes or str, HDF5 stores either), or None when absent."""
    if name not in group.attrs:
        return None
    value = group.attrs[name]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise refuse(f"The file's {name} attribute is not text.")


def _list_attr(group: h5py.Group, name: str) -> list[str]:
    """A list-of-strings attribute, joined from ``name0``, ``name1`` … when Keras split it."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, k = [], 0
        while f"{name}{k}" in group.attrs:
            chunks.append(group.attrs[f"{name}{k}"])
            k += 1
    out: list[str] = []
    for chunk in chunks:
        values = np.asarray(chunk).reshape(-1)
        if values.dtype.kind not in "SUO":
            if values.size == 0:
                continue
            raise refuse(f"The file's {name} attribute is not a list of names.")
        for v in values.tolist():
            if not isinstance(v, bytes | str):
                raise refuse(f"The file's {name} attribute is not a list of names.")
            out.append(v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v)
    return out


def _member_limit(limits: Limits) -> Any:
    def limit_of(member: zipfile.ZipInfo) -> tuple[int, str] | None:
        if member.filename == "model.weights.h5":
            return limits.max_unpacked_bytes, "Its model.weights.h5"
        if member.filename in ARCHIVE_MEMBERS:
            return limits.max_config_bytes, f"Its {member.filename}"
        return None  # assets and anything else: never unpacked

    return limit_of


@contextmanager
def _opened(
    data: bytes, limits: Limits, config: bytes | None
) -> Iterator[tuple[dict[str, Any], str, str, Source]]:
    """(model config, keras_version, container, weights source) of a Keras file's bytes."""
    if data.startswith(ZIP_MAGIC):
        members = {m.filename: m for m in measure_zip(data, limits, WHAT, _member_limit(limits))}
        if "config.json" not in members or "model.weights.h5" not in members:
            raise refuse(
                "The file is a zip archive but not a Keras model: a .keras archive holds config.json "
                "and model.weights.h5."
            )
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            try:
                model = _json(archive.read("config.json"), "archive's config.json", limits.max_config_bytes)
                meta = {}
                if "metadata.json" in members:
                    meta = _json(
                        archive.read("metadata.json"), "archive's metadata.json", limits.max_config_bytes
                    )
                weights = archive.read("model.weights.h5")
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                if isinstance(exc, FormatError):
                    raise
                raise _damaged(WHAT) from exc
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        with _hdf5(weights) as root:
            yield model, str(version or "3"), "keras", Source(root, keras3=True)
        return
    if not data.startswith(HDF5_MAGIC):
        raise refuse(
            "The file is neither a Keras archive (.keras, a zip) nor an HDF5 file (.h5, .weights.h5).",
            "unreadable-file",
        )
    with _hdf5(data) as root:
        own = _text_attr(root, "model_config")
        if own is not None:
            model = _json(own, "model_config attribute", limits.max_config_bytes)
            version = _text_attr(root, "keras_version") or ""
            group = _step(root, "model_weights", "the weights group")
            if not isinstance(group, h5py.Group):
                raise refuse("The file's model_weights is not a group of layers.")
            yield model, version, "h5", Source(group, keras3=False)
            return
        keras3 = "layers" in root and "layer_names" not in root.attrs
        if not keras3 and not any(k.startswith("layer_names") for k in root.attrs):
            raise refuse(
                "The HDF5 file holds no Keras model: no model_config attribute, no layers group and no "
                "layer_names list."
            )
        if config is None:
            raise refuse(
                "The file holds weights only (saved with save_weights), not the model's architecture; "
                "send its config with it (config.json from a .keras archive, or model.to_json()).",
                "missing",
                field="config",
            )
        model = _json(config, "config", limits.max_config_bytes)
        version = model.get("keras_version") if isinstance(model, dict) else None
        if not version and not keras3:
            version = _text_attr(root, "keras_version")
        container = "weights.h5" if keras3 else "h5 weights"
        yield model, str(version or ("3" if keras3 else "")), container, Source(root, keras3)


@contextmanager
def _hdf5(data: bytes) -> Iterator[h5py.Group]:
    if not data.startswith(HDF5_MAGIC):
        raise refuse("The archive's model.weights.h5 is not an HDF5 file.")
    try:
        handle = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise _damaged() from exc
    try:
        yield handle
    except FormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
        raise _damaged() from exc
    finally:
        handle.close()


def _step(group: h5py.Group, name: str, what: str) -> h5py.Group | h5py.Dataset:
    """``group[name]`` for one path component, through a hard link only."""
    link = group.get(name, getlink=True)
    if link is None:
        raise refuse(f"The file has no {what} ({name!r} is missing).", "shape-mismatch")
    if isinstance(link, h5py.ExternalLink):
        raise refuse(
            f"The file's {what} is an external link to another file; external links are refused.",
            "upload-unsafe",
        )
    if not isinstance(link, h5py.HardLink):
        raise refuse(
            f"The file's {what} is a soft link; only plain groups and datasets are read.", "upload-unsafe"
        )
    return group[name]


def _dataset(group: h5py.Group, path: str, what: str) -> h5py.Dataset:
    """The dataset at ``path`` under ``group``, every component a hard link, checked for what it
    may make HDF5 do (virtual, external storage, filters, dtype); its data is not read."""
    node: Any = group
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, h5py.Group):
            raise refuse(f"The file's {what} is not where Keras puts it ({path}).", "shape-mismatch")
        node = _step(node, part, what)
    if not isinstance(node, h5py.Dataset):
        raise refuse(f"The file's {what} is not a dataset.", "shape-mismatch")
    if node.is_virtual:
        raise refuse(
            f"The file's {what} is a virtual dataset (it maps other files); refused.", "upload-unsafe"
        )
    if node.external:
        raise refuse(f"The file's {what} keeps its data in an external file; refused.", "upload-unsafe")
    plist = node.id.get_create_plist()
    for k in range(plist.get_nfilters()):
        code = plist.get_filter(k)[0]
        if code not in FILTERS:
            raise refuse(
                f"The file's {what} uses HDF5 filter {code}, which is not read here (only deflate, "
                "shuffle, fletcher32 and lzf).",
                "upload-unsafe",
                filter=code,
            )
    return node


def _dtype(ds: h5py.Dataset, what: str) -> torch.dtype:
    if ds.dtype in FLOATS:
        return {2: torch.float16, 4: torch.float32, 8: torch.float64}[ds.dtype.itemsize]
    if ds.dtype.itemsize == 2 and ds.dtype.kind == "V" and ds.attrs.get("dtype") in ("bfloat16", b"bfloat16"):
        return torch.bfloat16
    shown = str(ds.dtype) if len(str(ds.dtype)) <= 40 else "a compound type"
    raise refuse(
        f"The file's {what} has dtype {shown}; weights are read as floating point only.", "unreadable-file"
    )


# --- the plan: every weight, where it is, what shape it must have ----------------------------


@dataclass
class Weight:
    """One Keras weight: the dataset, its name as Keras gives it, the shape the config implies."""

    dataset: h5py.Dataset
    keras_name: str  # kernel, recurrent_kernel, bias, embeddings
    shape: tuple[int, ...]


def _keras_names(layer: Layer) -> list[str]:
    if layer.role == "recurrent":
        return ["kernel", "recurrent_kernel"] + (["bias"] if layer.use_bias else [])
    if layer.role == "embedding":
        return ["embeddings"]
    return ["kernel"] + (["bias"] if layer.use_bias else [])


def _datasets(source: Source, layer: Layer) -> list[list[h5py.Dataset]]:
    """The layer's datasets in Keras's order, one list per direction (one for most layers)."""
    names = _keras_names(layer)
    if source.keras3:
        base = f"layers/{layer.path}"
        if layer.bidirectional:
            groups = [f"{base}/forward_layer/cell/vars", f"{base}/backward_layer/cell/vars"]
        elif layer.role == "recurrent":
            groups = [f"{base}/cell/vars"]
        elif layer.inner:
            groups = [f"{base}/layer/vars"]
        else:
            groups = [f"{base}/vars"]
        out = []
        for g in groups:
            node: Any = source.root
            for part in g.split("/"):
                if not isinstance(node, h5py.Group):
                    raise refuse(f"The file has no weights for {layer.where} (at {g}).", "shape-mismatch")
                node = _step(node, part, f"weights of {layer.where}")
            if not isinstance(node, h5py.Group) or len(node) != len(names):
                held = len(node) if isinstance(node, h5py.Group) else 0
                raise refuse(
                    f"The file holds {held} weights for {layer.where}, but its config needs {len(names)} "
                    f"({', '.join(names)}).",
                    "shape-mismatch",
                )
            out.append([_dataset(node, str(i), f"{names[i]} of {layer.where}") for i in range(len(names))])
        return out
    group = _step(source.root, layer.name, f"weights of {layer.where}")
    if not isinstance(group, h5py.Group):
        raise refuse(f"The file's weights of {layer.where} are not a group.", "shape-mismatch")
    listed = _list_attr(group, "weight_names")
    directions = 2 if layer.bidirectional else 1
    if len(listed) != directions * len(names):
        raise refuse(
            f"The file lists {len(listed)} weights for {layer.where}, but its config needs "
            f"{directions * len(names)} ({', '.join(names)}{' per direction' if directions == 2 else ''}).",
            "shape-mismatch",
        )
    out = []
    for d in range(directions):
        datasets = []
        for k, expected in enumerate(names):
            weight_name = listed[d * len(names) + k]
            short = weight_name.rsplit("/", 1)[-1].split(":", 1)[0]
            if short != expected:
                raise refuse(
                    f"The file's weight {weight_name[:80]!r} of {layer.where} is not its {expected} "
                    "(Keras 1 files and renamed weights are not read here).",
                    "shape-mismatch",
                )
            datasets.append(_dataset(group, weight_name, f"{expected} of {layer.where}"))
        out.append(datasets)
    return out


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _expect(ds: h5py.Dataset, shape: tuple[int, ...], what: str, need: str) -> None:
    """Refuse a dataset whose declared shape is not ``shape``, whose dtype is not a float, or whose
    chunks are larger than it (each chunk is allocated whole when it is read)."""
    _dtype(ds, what)
    got = tuple(int(s) for s in ds.shape)
    if got != shape:
        raise refuse(
            f"The file's {what} is {_shape_text(got)}, but {need} needs {_shape_text(shape)}.",
            "shape-mismatch",
            got=list(got),
            need=list(shape),
        )
    if ds.chunks is not None:
        chunk = math.prod(ds.chunks) * ds.dtype.itemsize
        if chunk > max(math.prod(shape) * ds.dtype.itemsize, MIN_CHUNK_BYTES):
            raise refuse(
                f"The file's {what} is stored in chunks of {chunk:,} bytes, larger than the dataset; "
                "refused.",
                "upload-unsafe",
            )


def _check_model_size(layers: list[Layer], params: int | None, limits: Limits) -> None:
    recurrent = [layer for layer in layers if layer.role == "recurrent"]
    checks = [
        ("max_layers", "recurrent layers", len(recurrent)),
        ("max_hidden", "hidden units per layer", max(layer.units for layer in recurrent)),
    ]
    if params is not None:
        checks.append(("max_params", "parameters", params))
    for key, what, value in checks:
        limit = getattr(limits, key)
        if limit is not None and value > limit:
            raise refuse(
                f"The model has {value:,} {what}, but the limit is {limit:,} ({LIMIT_SETTINGS[key]}).",
                "model-too-large",
                what=what,
                value=value,
                limit=limit,
            )


@dataclass
class Plan:
    """The chain, and every weight to read with its target."""

    layers: list[Layer]
    weights: dict[int, list[list[Weight]]]  # layer index → directions → weights in Keras's order
    input_size: int


def _plan(model: Any, source: Source, major: int, limits: Limits, notes: list[str]) -> Plan:
    chain = read_chain(model, major, notes)
    layers, before, recurrent, after = chain.layers, chain.before, chain.recurrent, chain.after
    _check_model_size(layers, None, limits)  # from the config alone, before any dataset is opened
    weights: dict[int, list[list[Weight]]] = {}
    weighted = [layer for layer in [*before, *recurrent, *after] if layer.role != "masking"]
    datasets = {layer.index: _datasets(source, layer) for layer in weighted}
    # Shapes: each layer's input width is the one before's output width.
    width = 0
    if before and before[0].role == "embedding":
        emb = before[0]
        (table,) = datasets[emb.index][0]
        _expect(
            table, (emb.input_dim, emb.units), f"embeddings of {emb.where}", "its input_dim and output_dim"
        )
        weights[emb.index] = [[Weight(table, "embeddings", (emb.input_dim, emb.units))]]
        width = emb.units
    if not width:  # no Embedding: the first kernel's declared rows are the input width
        first = datasets[recurrent[0].index][0][0]
        if first.ndim != 2 or first.shape[0] < 1:
            raise refuse(f"The file's kernel of {recurrent[0].where} is not a matrix.", "shape-mismatch")
        width = int(first.shape[0])
    input_size = width
    for layer in recurrent:
        gates, units = GATES[layer.cell], layer.units
        per_direction = []
        for d, group in enumerate(datasets[layer.index]):
            side = ("forward " if d == 0 else "backward ") if layer.bidirectional else ""
            need = f"{layer.where} (units {units}, input {width})"
            kernel, recurrent_kernel = group[0], group[1]
            _expect(kernel, (width, gates * units), f"{side}kernel of {layer.where}", need)
            _expect(
                recurrent_kernel, (units, gates * units), f"{side}recurrent_kernel of {layer.where}", need
            )
            out = [
                Weight(kernel, "kernel", (width, gates * units)),
                Weight(recurrent_kernel, "recurrent_kernel", (units, gates * units)),
            ]
            if layer.use_bias:
                bias = group[2]
                if layer.cell == "gru" and layer.reset_after is None:  # an old file: its bias says which
                    layer.reset_after = tuple(bias.shape) == (2, 3 * units)
                shape = (2, 3 * units) if layer.cell == "gru" and layer.reset_after else (gates * units,)
                what = f"{side}bias of {layer.where}"
                _expect(
                    bias,
                    shape,
                    what,
                    f"{need}{' with reset_after=' + str(layer.reset_after) if layer.cell == 'gru' else ''}",
                )
                out.append(Weight(bias, "bias", shape))
            per_direction.append(out)
        if layer.cell == "gru" and layer.reset_after is None:
            layer.reset_after = False  # no bias and no word in the config: Keras 2's default before 2.3
        weights[layer.index] = per_direction
        width = units * (2 if layer.bidirectional and layer.merge_mode == "concat" else 1)
    for layer in after:
        group = datasets[layer.index][0]
        _expect(
            group[0],
            (width, layer.units),
            f"kernel of {layer.where}",
            f"{layer.where} (units {layer.units}, input {width})",
        )
        out = [Weight(group[0], "kernel", (width, layer.units))]
        if layer.use_bias:
            _expect(
                group[1], (layer.units,), f"bias of {layer.where}", f"{layer.where} (units {layer.units})"
            )
            out.append(Weight(group[1], "bias", (layer.units,)))
        weights[layer.index] = [out]
        width = layer.units
    params = sum(math.prod(w.shape) for per in weights.values() for ws in per for w in ws)
    _check_model_size(layers, params, limits)
    total = sum(
        math.prod(w.shape) * w.dataset.dtype.itemsize for per in weights.values() for ws in per for w in ws
    )
    if total > limits.max_unpacked_bytes:
        raise refuse(
            f"The file declares {total:,} bytes of weights, but the limit is {limits.max_unpacked_bytes:,}.",
            "upload-unsafe",
            size=total,
            limit=limits.max_unpacked_bytes,
        )
    return Plan(
        [layer for layer in layers if layer.role not in ("input", "identity", "activation")],
        weights,
        input_size,
    )


# --- the mapping: Keras's layout → torch's ------------------------------------------------------


def map_recurrent(
    cell: str, kernel: Tensor, recurrent_kernel: Tensor, bias: Tensor | None, reset_after: bool = False
) -> dict[str, Tensor]:
    """One Keras recurrent layer's weights in torch's layout (see the module docstring's table).

    cell: "lstm", "gru" or "simple_rnn"; kernel (I, G·H), recurrent_kernel (H, G·H), bias (G·H,),
    or (2, 3H) for a GRU with ``reset_after``, or None without bias. Returns ``weight_ih`` (G·H, I),
    ``weight_hh`` (G·H, H) and, with a bias, ``bias_ih`` and ``bias_hh`` (G·H,), gate blocks in
    torch's order (a GRU's z, r, h become r, z, n). Works on meta tensors too.
    """
    gates = GATES[cell]
    units = recurrent_kernel.shape[0]

    def torch_order(t: Tensor) -> Tensor:  # (G·H, …) in Keras's block order → torch's
        if cell != "gru":
            return t
        blocks = t.reshape(3, units, *t.shape[1:])  # (3, H, …) z, r, h
        return blocks[list(GRU_TO_TORCH)].reshape(t.shape)

    out = {
        "weight_ih": torch_order(kernel.t()),
        "weight_hh": torch_order(recurrent_kernel.t()),
    }
    if bias is not None:
        if cell == "gru" and reset_after:
            out["bias_ih"], out["bias_hh"] = torch_order(bias[0]), torch_order(bias[1])
        else:
            out["bias_ih"] = torch_order(bias)
            out["bias_hh"] = torch.zeros(gates * units, dtype=bias.dtype, device=bias.device)
    return {k: v.contiguous() for k, v in out.items()}


def _stage_module(layer: Layer, input_size: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "input_size": input_size,
        "hidden_size": layer.units,
        "num_layers": 1,
        "bidirectional": layer.bidirectional,
        "bias": layer.use_bias,
    }
    sigmoid_tanh = layer.activation == "tanh" and layer.recurrent_activation == "sigmoid"
    if layer.cell == "lstm" and sigmoid_tanh:
        spec["module"] = "LSTM"
    elif layer.cell == "gru" and sigmoid_tanh and layer.reset_after:
        spec["module"] = "GRU"
    elif layer.cell == "simple_rnn" and layer.activation in ("tanh", "relu"):
        spec.update(module="RNN", nonlinearity=layer.activation)
    else:
        spec.update(
            module="KerasRecurrent",
            cell=layer.cell,
            activation=layer.activation,
            recurrent_activation=layer.recurrent_activation,
            reset_after=bool(layer.reset_after),
        )
    return spec


def _same_stage(previous: dict[str, Any], spec: dict[str, Any], layer: Layer, last: Layer) -> bool:
    """Whether ``layer`` continues the stage ``previous`` as its next layer (one torch module)."""
    keys = (
        "module",
        "hidden_size",
        "bidirectional",
        "bias",
        "nonlinearity",
        "cell",
        "activation",
        "recurrent_activation",
        "reset_after",
    )
    same = all(previous["module"].get(k) == spec.get(k) for k in keys)
    concat = (not layer.bidirectional or layer.merge_mode == "concat") and previous["merge_mode"] == "concat"
    return same and concat and not layer.go_backwards and not last.go_backwards and last.return_sequences


def _read(ds: h5py.Dataset, dtype: torch.dtype, materialise: bool) -> Tensor:
    if not materialise:
        return torch.empty(tuple(int(s) for s in ds.shape), dtype=dtype, device="meta")
    if dtype == torch.bfloat16:
        raw = np.frombuffer(ds[()].tobytes(), dtype=np.uint16).reshape(ds.shape)
        return torch.from_numpy(raw.copy()).view(torch.bfloat16).float()
    return torch.from_numpy(np.ascontiguousarray(ds[()])).float()


def _build(plan: Plan, materialise: bool) -> tuple[dict[str, Any], dict[str, Tensor], list[dict[str, Any]]]:
    """(KerasNet config, state_dict, layer descriptions) from the plan."""
    tensors: dict[str, Tensor] = {}

    def read(w: Weight, where: str) -> Tensor:
        return _read(w.dataset, _dtype(w.dataset, f"{w.keras_name} of {where}"), materialise)

    embedding = masking = None
    stages: list[dict[str, Any]] = []
    head: list[dict[str, Any]] = []
    width = plan.input_size
    last: Layer | None = None
    for layer in plan.layers:
        if layer.role == "embedding":
            embedding = {
                "input_dim": layer.input_dim,
                "output_dim": layer.units,
                "mask_zero": layer.mask_zero,
            }
            tensors["embedding.weight"] = read(plan.weights[layer.index][0][0], layer.where)
        elif layer.role == "masking":
            masking = {"mask_value": layer.mask_value}
        elif layer.role == "recurrent":
            spec = _stage_module(layer, width)
            if stages and last is not None and _same_stage(stages[-1], spec, layer, last):
                stage = stages[-1]
                stage["module"]["num_layers"] += 1
            else:
                stage = {
                    "module": spec,
                    "go_backwards": layer.go_backwards,
                    "merge_mode": layer.merge_mode,
                    "layers": [],
                }
                stages.append(stage)
            stage["return_sequences"] = layer.return_sequences
            stage["layers"].append(layer.describe())
            k, number = len(stages) - 1, stage["module"]["num_layers"] - 1
            for d, ws in enumerate(plan.weights[layer.index]):
                arrays = [read(w, layer.where) for w in ws]
                mapped = map_recurrent(
                    layer.cell,
                    arrays[0],
                    arrays[1],
                    arrays[2] if layer.use_bias else None,
                    bool(layer.reset_after),
                )
                for name, value in mapped.items():
                    tensors[f"stages.{k}.{name}_l{number}{'_reverse' if d else ''}"] = value
            width = layer.units * (2 if layer.bidirectional and layer.merge_mode == "concat" else 1)
            last = layer
        elif layer.role == "dense":
            k = len(head)
            ws = plan.weights[layer.index][0]
            tensors[f"head.{k}.weight"] = read(ws[0], layer.where).t().contiguous()
            if layer.use_bias:
                tensors[f"head.{k}.bias"] = read(ws[1], layer.where)
            head.append(
                {
                    "in_features": width,
                    "out_features": layer.units,
                    "bias": layer.use_bias,
                    "activation": layer.activation,
                    "name": layer.name,
                }
            )
            width = layer.units
    net = {"stages": stages, "embedding": embedding, "masking": masking, "head": head}
    return net, tensors, [layer.describe() for layer in plan.layers]


def _file(data: bytes, limits: Limits, config: bytes | None, materialise: bool) -> KerasFile:
    notes: list[str] = []
    with _opened(data, limits, config) as (model, version, container, source):
        major = major_version(version)
        if major < 2:
            raise refuse(
                "The file was saved by Keras 1, whose format is not read here; save it again with Keras 2.",
                "unsupported-layer",
            )
        if not version:
            notes.append(
                "The file names no Keras version; it is read as Keras 2's (hard_sigmoid = clip(0.2·x + 0.5))."
            )
        plan = _plan(model, source, major, limits, notes)
        net, tensors, layers = _build(plan, materialise)
    return KerasFile(
        tensors=tensors,
        format=container,
        net=net,
        layers=layers,
        keras_version=version,
        notes=notes,
    )


def inspect(data: bytes, limits: Limits, *, config: bytes | None = None) -> KerasFile:
    """The model's architecture and its weights as meta tensors (shapes, no data), after every
    check of the module docstring. ``config``: the architecture JSON for a weights-only file (a
    file that holds its own is read with its own). Raises FormatError."""
    return _file(data, limits, config, materialise=False)


def load(data: bytes, limits: Limits, *, config: bytes | None = None) -> KerasFile:
    """``inspect`` with the weights' data (checked again first)."""
    return _file(data, limits, config, materialise=True)
