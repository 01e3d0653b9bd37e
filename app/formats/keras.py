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

What is read. A chain of layers (``Sequential``, or a functional ``Model`` whose every layer has
one input, the previous one): ``InputLayer``; ``Embedding`` (``mask_zero`` honoured: Keras skips
masked steps, and so does the trace) or ``Masking`` first; then ``LSTM``, ``GRU``, ``SimpleRNN``
and ``Bidirectional`` of them (merge_mode concat, sum, ave, mul); then ``Dense`` (or
``TimeDistributed(Dense)``) and ``Activation``; ``Dropout``-like layers anywhere (identity at
inference). ``go_backwards``, ``return_sequences``, ``use_bias``, ``activation`` and
``recurrent_activation`` (any of ``app.nets.activations``), GRU ``reset_after`` (both
equations) are honoured; ``unit_forget_bias`` is an initializer only; ``dropout`` and
``recurrent_dropout`` act in training only. Anything else is refused naming the layer: a
``Lambda`` holds Python code and a custom object (any ``module`` outside Keras, any
``registered_name`` of its own) is defined by code outside the file; neither is run here.

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
import re
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
from app.nets.activations import ACTIVATIONS, KERAS2, KERAS2_ALIASES, KERAS3_ALIASES
from app.nets.keras_net import KerasNet

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
SUFFIXES = (".keras", ".h5", ".hdf5")
ARCHIVE_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
WHAT = "a Keras archive"

CELLS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
IDENTITY = {"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout"}
SUPPORTED = (
    "InputLayer, Embedding, Masking, LSTM, GRU, SimpleRNN, Bidirectional, Dense, TimeDistributed(Dense), "
    "Activation and Dropout"
)
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


def _refuse(message: str, code: str = "unreadable-file", **params: Any) -> FormatError:
    return FormatError(message, code, params)


def _damaged(what: str = "an HDF5 file") -> FormatError:
    return _refuse(f"The file could not be read as {what}; it may be truncated or damaged.")


# --- the container: a .keras zip, or an HDF5 file -----------------------------------------------


@dataclass
class Source:
    """Where a file's weights live: the Keras 3 layout under ``root`` (``layers/…``), or the
    legacy one (``layer_names``/``weight_names``) under ``root``."""

    root: h5py.Group
    keras3: bool


def _json(raw: bytes | str, what: str, limit: int) -> Any:
    if len(raw) > limit:
        raise _refuse(
            f"The {what} is {len(raw):,} bytes, but the limit is {limit:,}.", "upload-unsafe", size=len(raw)
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, TypeError) as exc:
        raise _refuse(f"The {what} is not valid JSON.") from exc


def _text_attr(group: h5py.Group, name: str) -> str | None:
    """A string attribute (bytes or str, HDF5 stores either), or None when absent."""
    if name not in group.attrs:
        return None
    value = group.attrs[name]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise _refuse(f"The file's {name} attribute is not text.")


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
            raise _refuse(f"The file's {name} attribute is not a list of names.")
        for v in values.tolist():
            if not isinstance(v, bytes | str):
                raise _refuse(f"The file's {name} attribute is not a list of names.")
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
            raise _refuse(
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
        raise _refuse(
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
                raise _refuse("The file's model_weights is not a group of layers.")
            yield model, version, "h5", Source(group, keras3=False)
            return
        keras3 = "layers" in root and "layer_names" not in root.attrs
        if not keras3 and not any(k.startswith("layer_names") for k in root.attrs):
            raise _refuse(
                "The HDF5 file holds no Keras model: no model_config attribute, no layers group and no "
                "layer_names list."
            )
        if config is None:
            raise _refuse(
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
        raise _refuse("The archive's model.weights.h5 is not an HDF5 file.")
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
        raise _refuse(f"The file has no {what} ({name!r} is missing).", "shape-mismatch")
    if isinstance(link, h5py.ExternalLink):
        raise _refuse(
            f"The file's {what} is an external link to another file; external links are refused.",
            "upload-unsafe",
        )
    if not isinstance(link, h5py.HardLink):
        raise _refuse(
            f"The file's {what} is a soft link; only plain groups and datasets are read.", "upload-unsafe"
        )
    return group[name]


def _dataset(group: h5py.Group, path: str, what: str) -> h5py.Dataset:
    """The dataset at ``path`` under ``group``, every component a hard link, checked for what it
    may make HDF5 do (virtual, external storage, filters, dtype); its data is not read."""
    node: Any = group
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, h5py.Group):
            raise _refuse(f"The file's {what} is not where Keras puts it ({path}).", "shape-mismatch")
        node = _step(node, part, what)
    if not isinstance(node, h5py.Dataset):
        raise _refuse(f"The file's {what} is not a dataset.", "shape-mismatch")
    if node.is_virtual:
        raise _refuse(
            f"The file's {what} is a virtual dataset (it maps other files); refused.", "upload-unsafe"
        )
    if node.external:
        raise _refuse(f"The file's {what} keeps its data in an external file; refused.", "upload-unsafe")
    plist = node.id.get_create_plist()
    for k in range(plist.get_nfilters()):
        code = plist.get_filter(k)[0]
        if code not in FILTERS:
            raise _refuse(
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
    raise _refuse(
        f"The file's {what} has dtype {shown}; weights are read as floating point only.", "unreadable-file"
    )


# --- the architecture: layers as the config declares them -------------------------------------------


def _custom(entry: dict[str, Any]) -> str | None:
    """Why a config entry is a custom object, or None for Keras's own."""
    module, registered = entry.get("module"), entry.get("registered_name")
    if isinstance(module, str) and module != "keras" and not module.startswith("keras."):
        return f"defined in the Python module {module[:60]!r}"
    if isinstance(registered, str) and registered not in (entry.get("class_name"), "function"):
        return f"registered as {registered[:60]!r}"
    return None


def _cap(text: str) -> str:
    """The text with its first letter upper case (str.capitalize lowers the rest)."""
    return text[:1].upper() + text[1:]


def _where(name: str, cls: str) -> str:
    return f"layer {name[:60]!r} ({cls[:40]})"


@dataclass
class Layer:
    """One layer of the chain as its config declares it (Keras's names and values)."""

    name: str
    cls: str  # class_name: LSTM, GRU, SimpleRNN, Bidirectional, Embedding, Dense, …
    role: str  # "input", "identity", "embedding", "masking", "recurrent", "dense", "activation"
    config: dict[str, Any]
    index: int  # position in the chain
    path: str = ""  # Keras 3's name for its weights: layers/<path>/… (by class and position)
    # recurrent
    cell: str = ""
    inner: str = ""  # the wrapped layer's class (Bidirectional, TimeDistributed)
    units: int = 0
    activation: str = "linear"  # our name (app.nets.activations), e.g. hard_sigmoid_keras2
    recurrent_activation: str = "sigmoid"
    activation_as_saved: str = ""
    recurrent_activation_as_saved: str = ""
    use_bias: bool = True
    reset_after: bool | None = None  # GRU: None until the bias shape says, when the config does not
    go_backwards: bool = False
    return_sequences: bool = False
    bidirectional: bool = False
    merge_mode: str = "concat"
    # embedding
    input_dim: int = 0
    mask_zero: bool = False
    mask_value: float = 0.0

    @property
    def where(self) -> str:
        return _where(self.name, self.cls)

    def describe(self) -> dict[str, Any]:
        """The layer as the page names it (Keras's words and values)."""
        out: dict[str, Any] = {"name": self.name, "class_name": self.cls}
        if self.role == "recurrent":
            out.update(
                layer=self.inner or self.cls,
                units=self.units,
                activation=self.activation_as_saved,
                use_bias=self.use_bias,
                go_backwards=self.go_backwards,
                return_sequences=self.return_sequences,
                computes={"activation": self.activation},
            )
            if self.cell != "simple_rnn":
                out["recurrent_activation"] = self.recurrent_activation_as_saved
                out["computes"]["recurrent_activation"] = self.recurrent_activation
            if self.cell == "gru":
                out["reset_after"] = self.reset_after
            if self.bidirectional:
                out["merge_mode"] = self.merge_mode
        elif self.role == "embedding":
            out.update(input_dim=self.input_dim, output_dim=self.units, mask_zero=self.mask_zero)
        elif self.role == "dense":
            out.update(units=self.units, activation=self.activation_as_saved, use_bias=self.use_bias)
        elif self.role == "masking":
            out.update(mask_value=self.mask_value)
        return out


def _int(cfg: dict[str, Any], key: str, where: str, low: int = 1) -> int:
    value = cfg.get(key)
    if type(value) is not int or value < low:
        raise _refuse(
            f"The config of {where} gives {key} {str(value)[:40]!r}; it must be a whole number ≥ {low}."
        )
    return value


def _bool(cfg: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise _refuse(f"The config of {where} gives {key} {str(value)[:40]!r}; it must be true or false.")
    return value


def _activation(value: Any, major: int, where: str, key: str, head: bool = False) -> tuple[str, str]:
    """(our name, the name as saved) of a config's activation; refuses a custom or unknown one."""
    if isinstance(value, dict):
        reason = _custom(value)
        if (
            reason is not None
            or value.get("class_name") != "function"
            or not isinstance(value.get("config"), str)
        ):
            raise _refuse(
                f"The {key} of {where} is a custom function ({reason or 'not one of Keras'}); functions "
                "from a file are never run here.",
                "upload-unsafe",
            )
        value = value["config"]
    if value is None:
        value = "linear"
    if not isinstance(value, str):
        raise _refuse(f"The config of {where} gives {key} a {type(value).__name__}, not a name.")
    saved = value
    if head and value == "softmax":
        return "softmax", saved
    if major >= 3:
        name = KERAS3_ALIASES.get(value, value)
        known = set(ACTIVATIONS) - {"hard_sigmoid_keras2"}
    else:
        name = KERAS2_ALIASES.get(value, value)
        known = set(KERAS2) | {"hard_sigmoid_keras2"}
    if name not in known:
        listed = sorted(
            {*known, *(("softmax",) if head else ())} - {"hard_sigmoid_keras2"} | {"hard_sigmoid"}
        )
        raise _refuse(
            f"The {key} of {where} is {value[:40]!r}, which this app does not compute for a Keras "
            f"{major} file (it computes {', '.join(listed)}).",
            "unsupported-layer",
            layer=where,
            activation=value[:40],
        )
    return name, saved


def _check_dtype(cfg: dict[str, Any], where: str, notes: list[str]) -> None:
    policy = cfg.get("dtype")
    name = policy
    if isinstance(policy, dict):
        cls = str(policy.get("class_name", ""))
        if "Quantized" in cls:
            raise _refuse(
                f"{_cap(where)} is quantized ({cls[:40]}); it is not read here.", "unsupported-layer"
            )
        inner = policy.get("config")
        name = inner.get("name") if isinstance(inner, dict) else None
    if isinstance(name, str) and name not in ("float32", "float64"):
        notes.append(f"{_cap(where)} computes in {name[:20]} in Keras; the trace computes in float32.")


def _recurrent(layer: Layer, entry: dict[str, Any], major: int, notes: list[str]) -> None:
    """Fill a recurrent layer's fields from its config (``entry`` is the LSTM/GRU/SimpleRNN's)."""
    cfg, where = entry["config"], layer.where
    cls = entry["class_name"]
    if "units" not in cfg and "output_dim" in cfg:
        raise _refuse(
            f"{_cap(where)} is in Keras 1's format (output_dim, no units), which is not read here; "
            "load the model in Keras 2 and save it again.",
            "unsupported-layer",
        )
    layer.cell = CELLS[cls]
    layer.units = _int(cfg, "units", where)
    layer.activation, layer.activation_as_saved = _activation(
        cfg.get("activation", "tanh"), major, where, "activation"
    )
    if layer.cell != "simple_rnn":
        if "recurrent_activation" not in cfg:
            raise _refuse(f"The config of {where} names no recurrent_activation.")
        layer.recurrent_activation, layer.recurrent_activation_as_saved = _activation(
            cfg["recurrent_activation"], major, where, "recurrent_activation"
        )
    layer.use_bias = _bool(cfg, "use_bias", where, True)
    if layer.cell == "gru" and "reset_after" in cfg:
        layer.reset_after = _bool(cfg, "reset_after", where, False)
    layer.go_backwards = _bool(cfg, "go_backwards", where, False)
    layer.return_sequences = _bool(cfg, "return_sequences", where, False)
    if _bool(cfg, "return_state", where, False):
        raise _refuse(
            f"{_cap(where)} returns its states as extra outputs (return_state), which a chain of "
            "layers does not take.",
            "unsupported-layer",
        )
    if _bool(cfg, "stateful", where, False):
        notes.append(f"{_cap(where)} is stateful; the trace starts from zero states (as after reset_states).")
    _check_dtype(cfg, where, notes)


def _parse_layer(entry: Any, index: int, major: int, notes: list[str]) -> Layer:
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise _refuse(f"Layer {index} of the config is not a layer (no class_name).")
    cls = entry["class_name"]
    cfg = entry.get("config")
    if not isinstance(cfg, dict):
        raise _refuse(f"Layer {index} ({cls[:40]}) of the config has no config object.")
    name = cfg.get("name", entry.get("name", f"#{index}"))
    name = name if isinstance(name, str) else f"#{index}"
    where = _where(name, cls)
    reason = _custom(entry)
    if reason is not None:
        raise _refuse(
            f"{_cap(where)} is a custom layer ({reason}); its code lives outside the file and is "
            "never run here.",
            "upload-unsafe",
            layer=name[:60],
        )
    if cls == "Lambda":
        raise _refuse(
            f"{_cap(where)} holds Python code (a Lambda layer), which is never run here; rebuild "
            "the model without it.",
            "upload-unsafe",
            layer=name[:60],
        )
    layer = Layer(name=name, cls=cls, role="", config=cfg, index=index)
    if cls == "InputLayer":
        layer.role = "input"
    elif cls in IDENTITY:
        layer.role = "identity"
    elif cls == "Embedding":
        layer.role = "embedding"
        layer.input_dim = _int(cfg, "input_dim", where)
        layer.units = _int(cfg, "output_dim", where)
        layer.mask_zero = _bool(cfg, "mask_zero", where, False)
        if cfg.get("lora_rank"):
            raise _refuse(f"{_cap(where)} has LoRA weights, which are not read here.", "unsupported-layer")
        _check_dtype(cfg, where, notes)
    elif cls == "Masking":
        layer.role = "masking"
        value = cfg.get("mask_value", 0.0)
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _refuse(f"The config of {where} gives a mask_value that is not a number.")
        layer.mask_value = float(value)
    elif cls in CELLS:
        layer.role = "recurrent"
        _recurrent(layer, entry, major, notes)
    elif cls == "Bidirectional":
        layer.role = "recurrent"
        inner = _wrapped(cfg, "layer", where, set(CELLS))
        layer.inner = inner["class_name"]
        _recurrent(layer, inner, major, notes)
        if layer.go_backwards:
            raise _refuse(
                f"{_cap(where)} wraps a layer with go_backwards=True, which is not read here.",
                "unsupported-layer",
            )
        layer.bidirectional = True
        mode = cfg.get("merge_mode", "concat")
        if mode not in ("concat", "sum", "ave", "mul"):
            raise _refuse(
                f"{_cap(where)} has merge_mode {str(mode)[:20]!r}; the modes read here are concat, "
                "sum, ave and mul (None returns two outputs, which a chain of layers does not take).",
                "unsupported-layer",
            )
        layer.merge_mode = mode
        if cfg.get("backward_layer") is not None:
            back = Layer(name=name, cls=cls, role="recurrent", config=cfg, index=index)
            backward = _wrapped(cfg, "backward_layer", where, set(CELLS))
            _recurrent(back, backward, major, [])
            same = (
                "cell",
                "units",
                "activation",
                "recurrent_activation",
                "use_bias",
                "reset_after",
                "return_sequences",
            )
            if backward["class_name"] != inner["class_name"] or any(
                getattr(back, k) != getattr(layer, k) for k in same
            ):
                raise _refuse(
                    f"{_cap(where)} has a backward_layer configured unlike its forward layer, which "
                    "is not read here.",
                    "unsupported-layer",
                )
    elif cls in ("Dense", "TimeDistributed"):
        layer.role = "dense"
        dense = cfg if cls == "Dense" else _wrapped(cfg, "layer", where, {"Dense"})["config"]
        layer.inner = "" if cls == "Dense" else "Dense"
        layer.units = _int(dense, "units", where)
        layer.activation, layer.activation_as_saved = _activation(
            dense.get("activation"), major, where, "activation", head=True
        )
        layer.use_bias = _bool(dense, "use_bias", where, True)
        if dense.get("lora_rank"):
            raise _refuse(f"{_cap(where)} has LoRA weights, which are not read here.", "unsupported-layer")
        _check_dtype(dense, where, notes)
    elif cls == "Activation":
        layer.role = "activation"
        layer.activation, layer.activation_as_saved = _activation(
            cfg.get("activation"), major, where, "activation", head=True
        )
    elif cls in ("CuDNNLSTM", "CuDNNGRU"):
        raise _refuse(
            f"{_cap(where)} is Keras 2's GPU-only {cls}, whose weights are laid out for cuDNN; "
            f"rebuild the model with {cls[5:]} in its place, load this file into it with Keras 2 (which "
            "converts the weights) and save that.",
            "unsupported-layer",
        )
    elif cls in ("Sequential", "Functional", "Model"):
        raise _refuse(
            f"{_cap(where)} is a model nested in the model, which is not read here.",
            "unsupported-layer",
        )
    else:
        raise _refuse(
            f"{_cap(where)} is not a layer this app reads; it reads {SUPPORTED}.",
            "unsupported-layer",
            layer=name[:60],
        )
    return layer


def _wrapped(cfg: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    inner = cfg.get(key)
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise _refuse(f"The config of {where} has no {key}.")
    reason = _custom(inner)
    if reason is not None:
        raise _refuse(
            f"{_cap(where)} wraps a custom layer ({reason}), whose code is never run here.",
            "upload-unsafe",
        )
    if inner.get("class_name") not in allowed:
        shown = str(inner.get("class_name"))[:40]
        raise _refuse(
            f"{_cap(where)} wraps a {shown}; it may wrap {', '.join(sorted(allowed))}.",
            "unsupported-layer",
        )
    return inner


def _inbound(entry: dict[str, Any]) -> list[str]:
    """The names of the layers a functional model's layer reads (Keras 3's and Keras 2's forms)."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            history = (
                value.get("config", {}).get("keras_history")
                if value.get("class_name") == "__keras_tensor__"
                else None
            )
            if isinstance(history, list) and history and isinstance(history[0], str):
                names.append(history[0])
                return
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            if (
                len(value) >= 3 and isinstance(value[0], str) and type(value[1]) is int
            ):  # Keras 2 [name, node, index, kwargs]
                names.append(value[0])
                walk(value[3:])
                return
            for v in value:
                walk(v)

    walk(entry.get("inbound_nodes", []))
    return names


def _chain(model: Any) -> tuple[list[Any], list[Any]]:
    """The layer entries of a Sequential, or of a functional model that is a chain, in the order
    they run; and all of them in the config's order (the order Keras 3 names their weights in)."""
    if not isinstance(model, dict) or not isinstance(model.get("class_name"), str):
        raise _refuse("The config is not a Keras model (no class_name).")
    cls = model["class_name"]
    reason = _custom(model)
    if reason is not None or cls not in ("Sequential", "Functional", "Model"):
        raise _refuse(
            f"The model is a {cls[:40]} ({reason or 'a subclassed model'}); its layers are defined by Python "
            "code, which is never run here. Save a Sequential or functional model.",
            "upload-unsafe" if reason else "unsupported-layer",
        )
    cfg = model.get("config")
    layers = cfg.get("layers") if isinstance(cfg, dict) else cfg
    if not isinstance(layers, list) or not layers:
        raise _refuse("The model's config lists no layers.")
    if cls == "Sequential":
        return layers, layers
    by_name: dict[str, Any] = {}
    for k, entry in enumerate(layers):
        name = (
            entry.get("name") or (entry.get("config") or {}).get("name") if isinstance(entry, dict) else None
        )
        if not isinstance(name, str):
            raise _refuse(f"Layer {k} of the functional model has no name.")
        by_name[name] = entry
    sources = {name: _inbound(entry) for name, entry in by_name.items()}
    starts = [n for n, s in sources.items() if not s]
    followers: dict[str, list[str]] = {n: [] for n in by_name}
    for name, inbound in sources.items():
        if len(inbound) > 1:
            raise _refuse(
                f"{_cap(_where(name, str(by_name[name].get('class_name'))))} reads {len(inbound)} inputs; "
                "only a chain of layers (each reading the one before) is read here.",
                "unsupported-layer",
            )
        for source in inbound:
            if source not in followers:
                raise _refuse(f"The functional model's layer {name[:60]!r} reads an unknown layer.")
            followers[source].append(name)
    if len(starts) != 1:
        raise _refuse(
            f"The functional model has {len(starts)} inputs; only a chain with one input is read here.",
            "unsupported-layer",
        )
    order, current = [], starts[0]
    while True:
        order.append(by_name[current])
        nxt = followers[current]
        if len(nxt) > 1:
            raise _refuse(
                f"The functional model's layer {current[:60]!r} feeds {len(nxt)} layers; only a chain is "
                "read here.",
                "unsupported-layer",
            )
        if not nxt:
            break
        current = nxt[0]
    if len(order) != len(by_name):
        raise _refuse(
            "The functional model has layers outside its one chain; only a chain is read here.",
            "unsupported-layer",
        )
    return order, layers


def _keras3_path_names(entries: list[Any]) -> dict[int, str]:
    """Keras 3's weight paths of the model's layers (by ``id`` of the config entry), in the order
    of its list: the snake_case class name, ``_k`` for the k-th repeat of a class
    (``saving_lib._get_unique_name``, ``naming.to_snake_case``)."""
    used: dict[str, int] = {}
    out: dict[int, str] = {}
    for entry in entries:
        cls = str(entry.get("class_name", "")) if isinstance(entry, dict) else ""
        name = re.sub(r"\W+", "", cls)
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
        name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out[id(entry)] = name
    return out


def _major(version: str) -> int:
    match = re.match(r"\s*(\d+)", version)
    return int(match.group(1)) if match else 2


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
                    raise _refuse(f"The file has no weights for {layer.where} (at {g}).", "shape-mismatch")
                node = _step(node, part, f"weights of {layer.where}")
            if not isinstance(node, h5py.Group) or len(node) != len(names):
                held = len(node) if isinstance(node, h5py.Group) else 0
                raise _refuse(
                    f"The file holds {held} weights for {layer.where}, but its config needs {len(names)} "
                    f"({', '.join(names)}).",
                    "shape-mismatch",
                )
            out.append([_dataset(node, str(i), f"{names[i]} of {layer.where}") for i in range(len(names))])
        return out
    group = _step(source.root, layer.name, f"weights of {layer.where}")
    if not isinstance(group, h5py.Group):
        raise _refuse(f"The file's weights of {layer.where} are not a group.", "shape-mismatch")
    listed = _list_attr(group, "weight_names")
    directions = 2 if layer.bidirectional else 1
    if len(listed) != directions * len(names):
        raise _refuse(
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
                raise _refuse(
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
        raise _refuse(
            f"The file's {what} is {_shape_text(got)}, but {need} needs {_shape_text(shape)}.",
            "shape-mismatch",
            got=list(got),
            need=list(shape),
        )
    if ds.chunks is not None:
        chunk = math.prod(ds.chunks) * ds.dtype.itemsize
        if chunk > max(math.prod(shape) * ds.dtype.itemsize, MIN_CHUNK_BYTES):
            raise _refuse(
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
            raise _refuse(
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
    entries, everything = _chain(model)
    paths = _keras3_path_names(everything)
    layers = [_parse_layer(entry, k, major, notes) for k, entry in enumerate(entries)]
    for layer, entry in zip(layers, entries, strict=True):
        layer.path = paths[id(entry)]
    # The order Keras runs them in must be one this app traces.
    before: list[Layer] = []
    recurrent: list[Layer] = []
    after: list[Layer] = []
    for layer in layers:
        if layer.role in ("input", "identity"):
            continue
        if layer.role in ("embedding", "masking"):
            if recurrent or after or before:
                raise _refuse(
                    f"{_cap(layer.where)} comes after other layers; an Embedding or Masking is read "
                    "only as the first layer.",
                    "unsupported-layer",
                )
            before.append(layer)
        elif layer.role == "recurrent":
            if after:
                raise _refuse(
                    f"{_cap(layer.where)} comes after a Dense layer; the recurrent layers must come "
                    "first (after an Embedding).",
                    "unsupported-layer",
                )
            if recurrent and not recurrent[-1].return_sequences:
                raise _refuse(
                    f"{_cap(layer.where)} reads {recurrent[-1].where}, which returns only its last "
                    "step (return_sequences=False).",
                    "shape-mismatch",
                )
            recurrent.append(layer)
        elif layer.role == "dense":
            if not recurrent:
                raise _refuse(
                    f"{_cap(layer.where)} comes before the recurrent layers; a Dense is read only "
                    "after them.",
                    "unsupported-layer",
                )
            after.append(layer)
        elif layer.role == "activation":
            if not after or after[-1].activation != "linear":
                raise _refuse(
                    f"{_cap(layer.where)} does not follow a Dense layer without activation; it is read "
                    "only there.",
                    "unsupported-layer",
                )
            after[-1].activation, after[-1].activation_as_saved = layer.activation, layer.activation_as_saved
    if not recurrent:
        raise _refuse(
            "The model has no LSTM, GRU or SimpleRNN layer (nothing recurrent to trace).",
            "no-recurrent-layer",
        )
    if before and before[0].role == "masking":
        notes.append(
            f"Steps whose inputs all equal {before[0].mask_value:g} are masked: Keras skips them, and so "
            "does the trace."
        )
    if before and before[0].mask_zero:
        notes.append("Token id 0 is masked (mask_zero): Keras skips it, and so does the trace.")
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
            raise _refuse(f"The file's kernel of {recurrent[0].where} is not a matrix.", "shape-mismatch")
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
        raise _refuse(
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
        major = _major(version)
        if major < 2:
            raise _refuse(
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


def read_net(data: bytes, limits: Limits, *, config: bytes | None = None) -> KerasNet:
    """The file as torch modules: ``load(...).module()``."""
    return load(data, limits, config=config).module()
