"""The architecture of a Keras model from its JSON config alone: the chain of layers it runs, each
with its settings under Keras's names, and nothing that would need code.

The config is what ``model.get_config()`` writes (``config.json`` of a ``.keras`` archive, the
``model_config`` attribute of a legacy ``.h5``, ``model.to_json()``): a ``Sequential``'s
``layers``, or a functional model's ``layers`` with their ``inbound_nodes`` (Keras 3's
``{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": [name, …]}}]}`` or
Keras 2's ``[[[name, node, index, kwargs]]]``). ``read_chain`` returns the layers in the order
they run, refusing (``FormatError`` naming the layer) anything the module docstring of
``app.formats.keras`` does not list: a ``Lambda`` (Python code), a custom object (a ``module``
outside Keras or a ``registered_name`` of its own), a subclassed or nested model, a branching
graph, an unknown layer or activation, Keras 1's format.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from app.formats.base import FormatError
from app.nets.activations import ACTIVATIONS, KERAS2, KERAS2_ALIASES, KERAS3_ALIASES

CELLS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
IDENTITY = {"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout"}
SUPPORTED = (
    "InputLayer, Embedding, Masking, LSTM, GRU, SimpleRNN, Bidirectional, Dense, TimeDistributed(Dense), "
    "Activation and Dropout"
)


def refuse(message: str, code: str = "unreadable-file", **params: Any) -> FormatError:
    """The error for a file we will not read: our sentence, an API code, its named values."""
    return FormatError(message, code, params)


def _custom(entry: dict[str, Any]) -> str | None:
    """Why a config entry is a custom object, or None for Keras's own."""
    module, registered = entry.get("module"), entry.get("registered_name")
    if isinstance(module, str) and module != "keras" and not module.startswith("keras."):
        return f"defined in the Python module {module[:60]!r}"
    if isinstance(registered, str) and registered not in (entry.get("class_name"), "function"):
        return f"registered as {registered[:60]!r}"
    return None


def cap(text: str) -> str:
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
        raise refuse(
            f"The config of {where} gives {key} {str(value)[:40]!r}; it must be a whole number ≥ {low}."
        )
    return value


def _bool(cfg: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise refuse(f"The config of {where} gives {key} {str(value)[:40]!r}; it must be true or false.")
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
            raise refuse(
                f"The {key} of {where} is a custom function ({reason or 'not one of Keras'}); functions "
                "from a file are never run here.",
                "upload-unsafe",
            )
        value = value["config"]
    if value is None:
        value = "linear"
    if not isinstance(value, str):
        raise refuse(f"The config of {where} gives {key} a {type(value).__name__}, not a name.")
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
        raise refuse(
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
            raise refuse(f"{cap(where)} is quantized ({cls[:40]}); it is not read here.", "unsupported-layer")
        inner = policy.get("config")
        name = inner.get("name") if isinstance(inner, dict) else None
    if isinstance(name, str) and name not in ("float32", "float64"):
        notes.append(f"{cap(where)} computes in {name[:20]} in Keras; the trace computes in float32.")


def _plain_weights(cfg: dict[str, Any], where: str, notes: list[str]) -> None:
    """Refuse an Embedding's or Dense's extra weights (LoRA); note a 16-bit compute dtype."""
    if cfg.get("lora_rank"):
        raise refuse(f"{cap(where)} has LoRA weights, which are not read here.", "unsupported-layer")
    _check_dtype(cfg, where, notes)


def _recurrent(layer: Layer, entry: dict[str, Any], major: int, notes: list[str]) -> None:
    """Fill a recurrent layer's fields from its config (``entry`` is the LSTM/GRU/SimpleRNN's)."""
    cfg, where = entry["config"], layer.where
    cls = entry["class_name"]
    if "units" not in cfg and "output_dim" in cfg:
        raise refuse(
            f"{cap(where)} is in Keras 1's format (output_dim, no units), which is not read here; "
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
            raise refuse(f"The config of {where} names no recurrent_activation.")
        layer.recurrent_activation, layer.recurrent_activation_as_saved = _activation(
            cfg["recurrent_activation"], major, where, "recurrent_activation"
        )
    layer.use_bias = _bool(cfg, "use_bias", where, True)
    if layer.cell == "gru" and "reset_after" in cfg:
        layer.reset_after = _bool(cfg, "reset_after", where, False)
    layer.go_backwards = _bool(cfg, "go_backwards", where, False)
    layer.return_sequences = _bool(cfg, "return_sequences", where, False)
    if _bool(cfg, "return_state", where, False):
        raise refuse(
            f"{cap(where)} returns its states as extra outputs (return_state), which a chain of "
            "layers does not take.",
            "unsupported-layer",
        )
    if _bool(cfg, "stateful", where, False):
        notes.append(f"{cap(where)} is stateful; the trace starts from zero states (as after reset_states).")
    _check_dtype(cfg, where, notes)


def _parse_layer(entry: Any, index: int, major: int, notes: list[str]) -> Layer:
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise refuse(f"Layer {index} of the config is not a layer (no class_name).")
    cls = entry["class_name"]
    cfg = entry.get("config")
    if not isinstance(cfg, dict):
        raise refuse(f"Layer {index} ({cls[:40]}) of the config has no config object.")
    name = cfg.get("name", entry.get("name", f"#{index}"))
    name = name if isinstance(name, str) else f"#{index}"
    where = _where(name, cls)
    reason = _custom(entry)
    if reason is not None:
        raise refuse(
            f"{cap(where)} is a custom layer ({reason}); its code lives outside the file and is "
            "never run here.",
            "upload-unsafe",
            layer=name[:60],
        )
    if cls == "Lambda":
        raise refuse(
            f"{cap(where)} holds Python code (a Lambda layer), which is never run here; rebuild "
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
        _plain_weights(cfg, where, notes)
    elif cls == "Masking":
        layer.role = "masking"
        value = cfg.get("mask_value", 0.0)
        if type(value) not in (int, float) or not math.isfinite(value):
            raise refuse(f"The config of {where} gives a mask_value that is not a number.")
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
            raise refuse(
                f"{cap(where)} wraps a layer with go_backwards=True, which is not read here.",
                "unsupported-layer",
            )
        layer.bidirectional = True
        mode = cfg.get("merge_mode", "concat")
        if mode not in ("concat", "sum", "ave", "mul"):
            raise refuse(
                f"{cap(where)} has merge_mode {str(mode)[:20]!r}; the modes read here are concat, "
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
                raise refuse(
                    f"{cap(where)} has a backward_layer configured unlike its forward layer, which "
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
        _plain_weights(dense, where, notes)
    elif cls == "Activation":
        layer.role = "activation"
        layer.activation, layer.activation_as_saved = _activation(
            cfg.get("activation"), major, where, "activation", head=True
        )
    elif cls in ("CuDNNLSTM", "CuDNNGRU"):
        raise refuse(
            f"{cap(where)} is Keras 2's GPU-only {cls}, whose weights are laid out for cuDNN; "
            f"rebuild the model with {cls[5:]} in its place, load this file into it with Keras 2 (which "
            "converts the weights) and save that.",
            "unsupported-layer",
        )
    elif cls in ("Sequential", "Functional", "Model"):
        raise refuse(
            f"{cap(where)} is a model nested in the model, which is not read here.",
            "unsupported-layer",
        )
    else:
        raise refuse(
            f"{cap(where)} is not a layer this app reads; it reads {SUPPORTED}.",
            "unsupported-layer",
            layer=name[:60],
        )
    return layer


def _wrapped(cfg: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    inner = cfg.get(key)
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise refuse(f"The config of {where} has no {key}.")
    reason = _custom(inner)
    if reason is not None:
        raise refuse(
            f"{cap(where)} wraps a custom layer ({reason}), whose code is never run here.",
            "upload-unsafe",
        )
    if inner.get("class_name") not in allowed:
        shown = str(inner.get("class_name"))[:40]
        raise refuse(
            f"{cap(where)} wraps a {shown}; it may wrap {', '.join(sorted(allowed))}.",
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
        raise refuse("The config is not a Keras model (no class_name).")
    cls = model["class_name"]
    reason = _custom(model)
    if reason is not None or cls not in ("Sequential", "Functional", "Model"):
        raise refuse(
            f"The model is a {cls[:40]} ({reason or 'a subclassed model'}); its layers are defined by Python "
            "code, which is never run here. Save a Sequential or functional model.",
            "upload-unsafe" if reason else "unsupported-layer",
        )
    cfg = model.get("config")
    layers = cfg.get("layers") if isinstance(cfg, dict) else cfg
    if not isinstance(layers, list) or not layers:
        raise refuse("The model's config lists no layers.")
    if cls == "Sequential":
        return layers, layers
    by_name: dict[str, Any] = {}
    for k, entry in enumerate(layers):
        name = (
            entry.get("name") or (entry.get("config") or {}).get("name") if isinstance(entry, dict) else None
        )
        if not isinstance(name, str):
            raise refuse(f"Layer {k} of the functional model has no name.")
        by_name[name] = entry
    sources = {name: _inbound(entry) for name, entry in by_name.items()}
    starts = [n for n, s in sources.items() if not s]
    followers: dict[str, list[str]] = {n: [] for n in by_name}
    for name, inbound in sources.items():
        if len(inbound) > 1:
            raise refuse(
                f"{cap(_where(name, str(by_name[name].get('class_name'))))} reads {len(inbound)} inputs; "
                "only a chain of layers (each reading the one before) is read here.",
                "unsupported-layer",
            )
        for source in inbound:
            if source not in followers:
                raise refuse(f"The functional model's layer {name[:60]!r} reads an unknown layer.")
            followers[source].append(name)
    if len(starts) != 1:
        raise refuse(
            f"The functional model has {len(starts)} inputs; only a chain with one input is read here.",
            "unsupported-layer",
        )
    order, current = [], starts[0]
    while True:
        order.append(by_name[current])
        nxt = followers[current]
        if len(nxt) > 1:
            raise refuse(
                f"The functional model's layer {current[:60]!r} feeds {len(nxt)} layers; only a chain is "
                "read here.",
                "unsupported-layer",
            )
        if not nxt:
            break
        current = nxt[0]
    if len(order) != len(by_name):
        raise refuse(
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


def major_version(version: str) -> int:
    """The major Keras version of a ``keras_version`` string (2 when it names none)."""
    match = re.match(r"\s*(\d+)", version)
    return int(match.group(1)) if match else 2


@dataclass
class Chain:
    """A model's layers in the order they run (``layers``, InputLayer and Dropouts included),
    and the ones this app computes, by part: ``before`` (an Embedding or a Masking),
    ``recurrent``, ``after`` (Dense layers, an Activation folded into the Dense before it)."""

    layers: list[Layer]
    before: list[Layer]
    recurrent: list[Layer]
    after: list[Layer]


def read_chain(model: Any, major: int, notes: list[str]) -> Chain:
    """The chain of ``model`` (a parsed config) for a Keras ``major`` version's file; what the
    trace does differently from Keras is appended to ``notes``. Raises FormatError."""
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
                raise refuse(
                    f"{cap(layer.where)} comes after other layers; an Embedding or Masking is read "
                    "only as the first layer.",
                    "unsupported-layer",
                )
            before.append(layer)
        elif layer.role == "recurrent":
            if after:
                raise refuse(
                    f"{cap(layer.where)} comes after a Dense layer; the recurrent layers must come "
                    "first (after an Embedding).",
                    "unsupported-layer",
                )
            if recurrent and not recurrent[-1].return_sequences:
                raise refuse(
                    f"{cap(layer.where)} reads {recurrent[-1].where}, which returns only its last "
                    "step (return_sequences=False).",
                    "shape-mismatch",
                )
            recurrent.append(layer)
        elif layer.role == "dense":
            if not recurrent:
                raise refuse(
                    f"{cap(layer.where)} comes before the recurrent layers; a Dense is read only after them.",
                    "unsupported-layer",
                )
            after.append(layer)
        elif layer.role == "activation":
            if not after or after[-1].activation != "linear":
                raise refuse(
                    f"{cap(layer.where)} does not follow a Dense layer without activation; it is read "
                    "only there.",
                    "unsupported-layer",
                )
            after[-1].activation, after[-1].activation_as_saved = layer.activation, layer.activation_as_saved
    if not recurrent:
        raise refuse(
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
    return Chain(layers, before, recurrent, after)
