"""Bring your own LSTM: read a user's file safely, price it, find the LSTM in it, and keep uploads.

An upload is handled in an order that never materialises anything before it is measured
(``prepare``):

1. the file name (present, not too long) and its type (``app.formats``: ``.safetensors``, or a
   torch file ``.pt``/``.pth``/``.bin``/Lightning's ``.ckpt``, read only with weights_only);
2. ``formats.inspect``: what the file declares (a zip archive's member sizes, a safetensors header)
   against ``Settings.max_upload_unpacked_bytes``, then its structure as meta tensors (no data);
3. the LSTM found in that structure (``find_lstms``: shapes checked, naming both sizes), the
   vocabulary checked against it (``parse_vocab``: types, ids, duplicates, size), and the model
   priced (``check_price``: layers, hidden size, parameters, and the longest trace it allows
   within the request budgets of ``app.api.pricing``);
4. only then ``formats.load`` reads the data, and the same checkpoint is built from real tensors.

``user_checkpoint`` returns one of our own checkpoints (kind ``lstm``), which the normal loader
serves. ``UploadStore`` keeps uploads as such checkpoints under a configurable directory, named by
the hash of what was uploaded (``upload-<16 hex>``), so every worker finds them by name. Names are
checked against that pattern before any path is built, so nothing can escape the directory or
shadow a shipped model. Old uploads expire least-recently-used first beyond a size budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from app import formats
from app.api import pricing
from app.checkpoints import FORMAT_VERSION, ModelEntry, entry_from_checkpoint, load_entry, save
from app.config import Settings, get_settings
from app.tasks.vocab import Vocab

UPLOAD_NAME = re.compile(r"^upload-[0-9a-f]{16}$")
LSTM_PARAM = re.compile(r"(weight|bias)_(ih|hh)_l\d+(_reverse)?")
UNK_TOKENS = ("<unk>", "<UNK>", "[UNK]", "UNK", "<oov>", "\ufffd")
TOKENIZATIONS = {"char": "char", "characters": "char", "whitespace": "word"}  # → Vocab.level


class UploadError(ValueError):
    """A user file we cannot use. The message is our own sentence for the page; ``field`` is the
    form field at fault (``file``, ``vocab``, ``prefix``, ``tokenization``), ``code`` the API error
    code, ``choices`` the LSTM prefixes to choose from, ``status`` the HTTP status."""

    def __init__(
        self,
        message: str,
        choices: list[str] | None = None,
        *,
        field: str = "file",
        code: str = "unreadable-file",
        params: dict[str, Any] | None = None,
        status: int = 422,
    ) -> None:
        super().__init__(message)
        self.choices = choices or []
        self.field = field
        self.code = code
        self.params = params or {}
        self.status = status


def _vocab_error(message: str, **params: Any) -> UploadError:
    return UploadError(message, field="vocab", code="invalid-vocab", params=params)


def limits_of(settings: Settings) -> formats.Limits:
    return formats.Limits(max_unpacked_bytes=settings.max_upload_unpacked_bytes)


# --- reading weights -------------------------------------------------------------------------


def _from_format(exc: formats.FormatError) -> UploadError:
    return UploadError(str(exc), field="file", code=exc.code, params=exc.params)


def read_weights(data: bytes, filename: str, settings: Settings | None = None) -> dict[str, Tensor]:
    """Tensors by name from a file's bytes (measured first; never unpickles code)."""
    limits = limits_of(settings or Settings())
    try:
        return formats.load(data, filename, limits).tensors
    except formats.FormatError as exc:
        raise _from_format(exc) from exc


# --- finding and checking the LSTM ----------------------------------------------------------


@dataclass(frozen=True)
class FoundLSTM:
    prefix: str
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    bias: bool

    def describe(self) -> str:
        where = self.prefix.rstrip(".") or "(top level)"
        kind = "bidirectional " if self.bidirectional else ""
        size = f"input {self.input_size}, hidden {self.hidden_size}"
        return f"{where}: {kind}LSTM, {self.num_layers} layer(s), {size}"


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def summarize(weights: dict[str, Tensor], limit: int = 12) -> str:
    shown = [(k, v) for k, v in weights.items() if len(k) <= 80][:limit]
    items = [f"{k} {_shape(v)}" for k, v in shown]
    more = f", and {len(weights) - len(shown)} more" if len(weights) > len(shown) else ""
    return ", ".join(items) + more


def _other_rnn(w_ih0: Tensor, w_hh0: Tensor | None) -> str | None:
    """ "GRU" or "RNN" when layer 0's weights have 3 or 1 gate blocks instead of the LSTM's 4."""
    if w_hh0 is None or w_ih0.dim() != 2 or w_hh0.dim() != 2 or w_hh0.shape[0] != w_ih0.shape[0]:
        return None
    gates = w_hh0.shape[0] / max(1, w_hh0.shape[1])
    return {3.0: "GRU", 1.0: "RNN"}.get(gates)


def _shape_error(message: str) -> UploadError:
    return UploadError(message, code="shape-mismatch")


def find_lstms(weights: dict[str, Tensor], max_layers: int | None = None) -> list[FoundLSTM]:
    """Every LSTM in a state_dict, by prefix; shapes are checked, naming both sizes on a mismatch.
    ``max_layers``: refuse a deeper stack before checking its layers."""
    prefixes = sorted(k[: -len("weight_ih_l0")] for k in weights if k.endswith("weight_ih_l0"))
    found = []
    for prefix in prefixes:
        if any(k.startswith(prefix + "weight_hr_l") for k in weights):
            where = prefix.rstrip(".") or "top-level"
            raise UploadError(
                f"The {where} LSTM has a projection (proj_size > 0), which this page does not trace yet.",
                code="no-recurrent-layer",
            )
        w_ih0 = weights[prefix + "weight_ih_l0"]
        w_hh0 = weights.get(prefix + "weight_hh_l0")
        if w_ih0.dim() != 2 or w_ih0.shape[0] % 4 and not _other_rnn(w_ih0, w_hh0):
            raise _shape_error(
                f"{prefix}weight_ih_l0 is {_shape(w_ih0)}, but an LSTM needs [4·hidden, input]."
            )
        if _other_rnn(w_ih0, w_hh0):
            continue  # a GRU (3 gates) or a vanilla RNN (1): reported if no LSTM is found
        hidden, inputs = w_ih0.shape[0] // 4, w_ih0.shape[1]
        layers = 0
        while prefix + f"weight_ih_l{layers}" in weights:
            layers += 1
        if max_layers is not None and layers > max_layers:
            raise UploadError(
                f"The LSTM has {layers} layers, but the limit is {max_layers} (RLENS_MAX_UPLOAD_LAYERS).",
                code="model-too-large",
                params={"layers": layers, "limit": max_layers},
            )
        bidirectional = prefix + "weight_ih_l0_reverse" in weights
        bias = prefix + "bias_ih_l0" in weights
        dirs = 2 if bidirectional else 1
        for layer in range(layers):
            for suffix in ("", "_reverse") if bidirectional else ("",):
                in_size = inputs if layer == 0 else dirs * hidden
                expected: dict[str, tuple[int, ...]] = {
                    f"weight_ih_l{layer}{suffix}": (4 * hidden, in_size),
                    f"weight_hh_l{layer}{suffix}": (4 * hidden, hidden),
                }
                if bias:
                    expected[f"bias_ih_l{layer}{suffix}"] = (4 * hidden,)
                    expected[f"bias_hh_l{layer}{suffix}"] = (4 * hidden,)
                for name, shape in expected.items():
                    tensor = weights.get(prefix + name)
                    if tensor is None:
                        raise _shape_error(
                            f"{prefix}{name} is missing (an LSTM with {layers} layer(s) needs it)."
                        )
                    if tuple(tensor.shape) != shape:
                        need = "[" + ", ".join(map(str, shape)) + "]"
                        what = (
                            f"hidden size {hidden}"
                            if "hh" in name or "bias" in name
                            else (f"input size {in_size} and hidden size {hidden}")
                        )
                        raise _shape_error(f"{prefix}{name} is {_shape(tensor)}, but {what} needs {need}.")
        found.append(FoundLSTM(prefix, inputs, hidden, layers, bidirectional, bias))
    return found


def _pick(candidates: list[tuple[str, Tensor]], preferred: tuple[str, ...]) -> tuple[str, Tensor] | None:
    if len(candidates) == 1:
        return candidates[0]
    named = [c for c in candidates if any(p in c[0].lower() for p in preferred)]
    return named[0] if len(named) == 1 else None


# --- vocabularies ----------------------------------------------------------------------------


def _token(token: str) -> str:
    """A token for a message: quoted, or described when it is too long to show whole."""
    return repr(token) if len(token) <= 40 else f"a token of {len(token):,} characters"


@dataclass(frozen=True)
class VocabSpec:
    """A vocabulary as parsed, not yet allocated: (token, index) pairs, checked for types,
    duplicates and negative ids; ``build(rows)`` checks the size against the model first."""

    pairs: tuple[tuple[str, int], ...]
    tokenization: str | None  # "char" or "whitespace", when the file says
    unk: str | None  # the unknown token, when the file names one
    form: str  # "list" or "mapping"

    @property
    def size(self) -> int:
        """Rows this vocabulary addresses (the largest index + 1)."""
        return max((i for _, i in self.pairs), default=-1) + 1

    def build(self, rows: int, what: str, tokenization: str | None) -> Vocab:
        """The Vocab for a model with ``rows`` input rows (``what`` names them in messages)."""
        if self.form == "list" and len(self.pairs) != rows:
            raise _vocab_error(
                f"The vocabulary has {len(self.pairs):,} tokens, but {what}; the two must match.",
                tokens=len(self.pairs),
                rows=rows,
            )
        bad = next(((t, i) for t, i in self.pairs if i >= rows), None)
        if bad is not None:
            raise _vocab_error(
                f"The vocabulary gives {_token(bad[0])} index {bad[1]:,}, but {what} (indices 0 to "
                f"{rows - 1:,}).",
                index=bad[1],
                rows=rows,
            )
        if self.size != rows:
            raise _vocab_error(
                f"The vocabulary's largest index is {self.size - 1:,}, but {what}; every row needs a "
                "token (its largest index must be the last row).",
                size=self.size,
                rows=rows,
            )
        tokens: list[str | None] = [None] * rows
        for token, index in self.pairs:
            tokens[index] = token
        filled = tuple(t if t is not None else f"<unused {i}>" for i, t in enumerate(tokens))
        if len(set(filled)) != len(filled):
            raise _vocab_error("The vocabulary's tokens collide with the names of its unused rows.")
        chosen = self.tokenization or tokenization or "char"  # the vocabulary's own word wins
        level: Literal["char", "word"] = "char" if TOKENIZATIONS[chosen] == "char" else "word"
        unk = self.unk if self.unk is not None else next((t for t in UNK_TOKENS if t in filled), None)
        return Vocab(filled, level, {"unk": unk} if unk else {})


def parse_vocab(raw: bytes) -> VocabSpec:
    """Parse a vocabulary JSON without allocating what it names: a list of tokens, a token → index
    object, or ``{"tokens": list or object, "tokenization": "whitespace" | "characters", "unk": "…"}``.
    Every problem is an UploadError on the field ``vocab``."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _vocab_error("The vocabulary is not UTF-8 text.") from exc
    except json.JSONDecodeError as exc:
        raise _vocab_error(
            f"The vocabulary is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            line=exc.lineno,
            column=exc.colno,
        ) from exc
    except RecursionError as exc:
        raise _vocab_error("The vocabulary is JSON nested too deeply to read.") from exc
    tokenization = unk = None
    if isinstance(data, dict) and isinstance(data.get("tokens"), list | dict):
        extra = sorted(str(k) for k in data if k not in ("tokens", "tokenization", "unk"))
        if extra:
            shown = ", ".join(repr(k) for k in extra[:5] if len(k) <= 40)
            raise _vocab_error(
                f"The vocabulary object has keys it does not use ({shown or 'long ones'}); it takes "
                "tokens, tokenization and unk."
            )
        tokenization, unk = data.get("tokenization"), data.get("unk")
        if tokenization is not None and tokenization not in ("whitespace", "characters"):
            raise _vocab_error('The vocabulary\'s tokenization must be "whitespace" or "characters".')
        if unk is not None and not isinstance(unk, str):
            raise _vocab_error("The vocabulary's unk must be a string: the unknown token.")
        data = data["tokens"]
    if isinstance(data, list):
        if not all(isinstance(t, str) for t in data):
            k = next(k for k, t in enumerate(data) if not isinstance(t, str))
            raise _vocab_error(f"Every token of the vocabulary must be a string; entry {k} is not.", index=k)
        pairs = tuple((t, i) for i, t in enumerate(data))
        form = "list"
    elif isinstance(data, dict):
        for token, index in data.items():
            if type(index) is not int:
                shown = repr(index) if type(index) is float else f"a {type(index).__name__}"
                raise _vocab_error(
                    f"The vocabulary gives {_token(token)} the index {shown}, but an index must be a "
                    "whole number.",
                )
            if index < 0:
                raise _vocab_error(
                    f"The vocabulary gives {_token(token)} the negative index {index}.", index=index
                )
        pairs = tuple(data.items())
        seen: dict[int, str] = {}
        for token, index in pairs:
            if index in seen:
                raise _vocab_error(
                    f"The vocabulary gives index {index:,} to two tokens, {_token(seen[index])} and "
                    f"{_token(token)}.",
                    index=index,
                )
            seen[index] = token
        form = "mapping"
    else:
        raise _vocab_error(
            "The vocabulary must be a JSON list of tokens, a token → index object, or "
            '{"tokens": …, "tokenization": …, "unk": …}.'
        )
    if not pairs:
        raise UploadError("The vocabulary is empty.", field="vocab", code="empty")
    listed: set[str] = set()
    for token, _ in pairs:
        if token in listed:
            raise _vocab_error(f"The vocabulary lists {_token(token)} twice; tokens must be unique.")
        listed.add(token)
    if unk is not None and unk not in {t for t, _ in pairs}:
        raise _vocab_error(f"The vocabulary's unk {_token(unk)} is not one of its tokens.")
    return VocabSpec(pairs, tokenization, unk, form)


# --- building our checkpoint ---------------------------------------------------------------


def user_checkpoint(
    weights: dict[str, Tensor],
    name: str,
    source: str,
    prefix: str | None = None,
    vocab_json: bytes | None = None,
    tokenization: str | None = None,
    max_layers: int | None = None,
) -> dict[str, Any]:
    """One of our checkpoints (kind ``lstm``) built from a user's weights, validated. ``weights``
    may be meta tensors (shapes only): then everything is checked and nothing is allocated."""
    found = find_lstms(weights, max_layers)
    if not found:
        others = sorted(
            {
                f"an nn.{kind} under {k[: -len('weight_ih_l0')].rstrip('.') or '(top level)'}"
                for k in weights
                if k.endswith("weight_ih_l0")
                and (kind := _other_rnn(weights[k], weights.get(k.replace("weight_ih", "weight_hh"))))
            }
        )
        seen = f" It looks like {', '.join(others)}, which this page does not trace yet." if others else ""
        raise UploadError(
            "No nn.LSTM weights were found (keys ending in weight_ih_l0 with 4 gate blocks)."
            + seen
            + " The file holds: "
            + summarize(weights)
            + ".",
            code="no-recurrent-layer",
        )
    if prefix is None:
        if len(found) > 1:
            raise UploadError(
                "The file holds several LSTMs; choose one with prefix: "
                + "; ".join(f.describe() for f in found)
                + ".",
                choices=[f.prefix.rstrip(".") for f in found],
                field="prefix",
                code="ambiguous-prefix",
            )
        lstm = found[0]
    else:
        matches = [f for f in found if f.prefix.rstrip(".") == prefix.rstrip(".")]
        if not matches:
            raise UploadError(
                f"There is no LSTM under the prefix {_token(prefix)}; the file holds: "
                + "; ".join(f.describe() for f in found)
                + ".",
                choices=[f.prefix.rstrip(".") for f in found],
                field="prefix",
                code="unknown-prefix",
            )
        lstm = matches[0]
    p = lstm.prefix
    own = {k for k in weights if k.startswith(p) and LSTM_PARAM.fullmatch(k[len(p) :])}
    state = {"lstm." + k[len(p) :]: weights[k].float() for k in own}
    parent = p.rsplit(".", 2)[0] + "." if p.count(".") >= 2 else ""  # the module holding the LSTM
    near = {k: v for k, v in weights.items() if k not in own and k.startswith(parent)}

    embeds = [
        (k, v)
        for k, v in near.items()
        if k.endswith("weight") and v.dim() == 2 and v.shape[1] == lstm.input_size
    ]
    embeds = [(k, v) for k, v in embeds if "emb" in k.lower() or "encoder" in k.lower() or len(embeds) == 1]
    embed = _pick(embeds, ("emb",))
    dirs = 2 if lstm.bidirectional else 1
    heads = [
        (k, v)
        for k, v in near.items()
        if k.endswith("weight")
        and v.dim() == 2
        and v.shape[1] == dirs * lstm.hidden_size
        and (embed is None or k != embed[0])
    ]
    head = _pick(heads, ("head", "fc", "out", "linear", "decoder", "classifier", "proj"))

    spec = parse_vocab(vocab_json) if vocab_json else None
    vocab: Vocab | None = None
    config: dict[str, Any] = {
        "input_size": lstm.input_size,
        "hidden_size": lstm.hidden_size,
        "num_layers": lstm.num_layers,
        "bidirectional": lstm.bidirectional,
        "bias": lstm.bias,
    }
    notes = []
    if embed is not None and embed[0].startswith(parent):
        key, table = embed
        if spec is not None:
            rows = int(table.shape[0])
            vocab = spec.build(rows, f"the embedding {key} is {_shape(table)}, {rows:,} rows", tokenization)
        config.update(vocab_size=int(table.shape[0]), embedding=True)
        state["embed.weight"] = table.float()
        notes.append(f"embedding {key} {_shape(table)}")
    elif spec is not None:
        size = lstm.input_size
        what = f"the LSTM has no embedding and reads one-hot vectors of size {size:,}"
        vocab = spec.build(size, what, tokenization)
        config.update(one_hot=True)
        notes.append("one-hot inputs")
    if head is not None:
        key, w = head
        bias_key = key[: -len("weight")] + "bias"
        config.update(output_size=int(w.shape[0]), head_bias=bias_key in weights)
        state["head.weight"] = w.float()
        if bias_key in weights:
            state["head.bias"] = weights[bias_key].float()
        notes.append(f"output layer {key} {_shape(w)}")
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "kind": "lstm",
        "task": "user",
        "description": f"Your LSTM from {source}: {lstm.describe()}"
        + (f"; {', '.join(notes)}" if notes else ""),
        "config": config,
        "vocab": vocab.to_dict() if vocab is not None else {},
        "state_dict": state,
        "metrics": {"summary": {}},
        "history": {},
        "provenance": {
            "command": "upload",
            "seed": None,
            "data": source,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    }


# --- prices ----------------------------------------------------------------------------------


def recurrent_of(config: dict[str, Any]) -> pricing.Recurrent:
    """The recurrent stack of an upload's config (gate count from its cell kind; LSTM by default)."""
    return pricing.Recurrent(
        gates=pricing.GATES.get(str(config.get("mode", "LSTM")), 4),
        input_size=int(config["input_size"]),
        hidden_size=int(config["hidden_size"]),
        num_layers=int(config["num_layers"]),
        directions=2 if config.get("bidirectional") else 1,
        proj_size=int(config.get("proj_size", 0) or 0),
    )


def check_price(config: dict[str, Any], settings: Settings) -> int:
    """Refuse an upload over the limits on layers, hidden size and parameters, or one that could
    not trace ``Settings.upload_min_trace_steps`` steps within the request budgets; returns the
    most steps it can trace (≤ ``Settings.max_trace_chars``)."""
    rnn = recurrent_of(config)
    outputs = int(config.get("output_size") or 0)
    embedding = int(config.get("vocab_size") or 0) * rnn.input_size if config.get("embedding") else 0
    head = outputs * (rnn.directions * rnn.output_size + 1)
    params = rnn.params(bool(config.get("bias", True))) + embedding + head
    sizes = (
        ("recurrent layers", rnn.num_layers, settings.max_upload_layers, "RLENS_MAX_UPLOAD_LAYERS"),
        ("hidden units per layer", rnn.hidden_size, settings.max_upload_hidden, "RLENS_MAX_UPLOAD_HIDDEN"),
        ("parameters", params, settings.max_upload_params, "RLENS_MAX_UPLOAD_PARAMS"),
    )
    for what, value, limit, env in sizes:
        if value > limit:
            raise UploadError(
                f"The model has {value:,} {what}, but the limit is {limit:,} ({env}).",
                code="model-too-large",
                params={"what": what, "value": value, "limit": limit},
            )

    def price_of(steps: int) -> pricing.Price:
        return pricing.trace(rnn, steps, outputs, unit=True)

    most = pricing.max_steps(price_of, settings, settings.max_trace_chars)
    if most < min(settings.upload_min_trace_steps, settings.max_trace_chars):
        worst = price_of(settings.upload_min_trace_steps)
        need = settings.upload_min_trace_steps
        macs_limit = pricing.amount(settings.max_request_macs)
        floats_limit = pricing.amount(settings.max_response_floats)
        raise UploadError(
            f"The model could trace only {most:,} steps within the request budgets (a trace of {need} "
            f"steps would cost about {pricing.amount(worst.macs)} multiply-adds and return about "
            f"{pricing.amount(worst.floats)} numbers; the limits are {macs_limit} and {floats_limit}); an "
            f"upload must trace at least {need} steps (RLENS_UPLOAD_MIN_TRACE_STEPS).",
            code="over-budget",
            params={"most": most, "limit": need},
        )
    return most


@dataclass
class Prepared:
    """An upload, read, checked, priced and built: our checkpoint, and what the file held besides."""

    checkpoint: dict[str, Any]
    max_steps: int
    skipped: list[str] = field(default_factory=list)


def check_filename(filename: str | None, settings: Settings) -> str:
    """The upload's base name (for its suffix and messages), refused when empty or too long."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    if not base:
        raise UploadError(
            "file has no file name; send the checkpoint as a file part with its name (for example "
            "model.safetensors).",
            code="invalid-file-name",
        )
    limit = settings.max_filename_chars
    if len(base) > limit:
        raise UploadError(
            f"file has a name of {len(base):,} characters, but the limit is {limit}.",
            code="invalid-file-name",
            params={"length": len(base), "limit": limit},
        )
    return base


def prepare(
    data: bytes,
    filename: str,
    name: str,
    settings: Settings,
    vocab_json: bytes | None = None,
    tokenization: str | None = None,
    prefix: str | None = None,
) -> Prepared:
    """Measure, inspect, find, price, then load and build (see the module docstring)."""
    limits = limits_of(settings)
    try:
        shape = formats.inspect(data, filename, limits)
    except formats.FormatError as exc:
        raise _from_format(exc) from exc
    kwargs: dict[str, Any] = {"prefix": prefix, "vocab_json": vocab_json, "tokenization": tokenization}
    planned = user_checkpoint(shape.tensors, name, filename, max_layers=settings.max_upload_layers, **kwargs)
    most = check_price(planned["config"], settings)
    try:
        weights = formats.load(data, filename, limits)
    except formats.FormatError as exc:
        raise _from_format(exc) from exc
    ckpt = user_checkpoint(weights.tensors, name, filename, **kwargs)
    return Prepared(ckpt, most, shape.skipped)


def entry_for_file(path: Path, settings: Settings | None = None) -> ModelEntry:
    """`serve --model FILE`: one of our checkpoints, or a user's own weights (vocabulary from
    FILE's stem + ``.vocab.json`` when that file exists), measured and priced like an upload."""
    if not path.is_file():
        return load_entry(path)  # the "file not found" reason
    if path.suffix.lower() != ".safetensors":
        try:
            head = torch.load(path, map_location="meta", weights_only=True)
        except Exception:
            head = None
        if isinstance(head, dict) and "format_version" in head:
            return load_entry(path)
    try:
        vocab_path = path.with_name(path.stem + ".vocab.json")
        vocab = vocab_path.read_bytes() if vocab_path.is_file() else None
        prepared = prepare(path.read_bytes(), path.name, path.stem, settings or get_settings(), vocab)
    except (UploadError, OSError) as exc:
        return ModelEntry(name=path.stem, path=path, reason=f"{path.name}: {exc}")
    return entry_from_checkpoint(prepared.checkpoint, path)


# --- the upload store ------------------------------------------------------------------------


class UploadStore:
    """Uploaded models as our own checkpoints in one directory, shared by every worker."""

    def __init__(self, directory: Path, budget_bytes: int) -> None:
        self.directory = directory
        self.budget_bytes = budget_bytes

    def path_for(self, name: str) -> Path | None:
        """The file of an upload name, or None for anything that is not an upload name."""
        if not UPLOAD_NAME.match(name):
            return None
        return self.directory / f"{name}.pt"

    @staticmethod
    def name_for(*parts: bytes) -> str:
        digest = hashlib.sha256()
        for part in parts:
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return "upload-" + digest.hexdigest()[:16]

    def put(self, checkpoint: dict[str, Any]) -> Path:
        path = self.path_for(checkpoint["name"])
        if path is None:
            raise ValueError(f"not an upload name: {checkpoint['name']!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            save(checkpoint, path)
        self.touch(path)
        self.evict(keep=path)
        return path

    def touch(self, path: Path) -> None:
        try:
            now = time.time()
            os.utime(path, (now, now))
        except OSError:
            pass

    def load(self, name: str) -> ModelEntry | None:
        path = self.path_for(name)
        if path is None or not path.is_file():
            return None
        self.touch(path)
        return load_entry(path)

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete least-recently-used uploads until the total size fits the budget."""
        files = sorted(self.directory.glob("upload-*.pt"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        removed = []
        for path in files:
            if total <= self.budget_bytes:
                break
            if keep is not None and path == keep:
                continue
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed
