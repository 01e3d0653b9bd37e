"""Bring your own LSTM: read a user's checkpoint safely, find the LSTM in it, and keep uploads.

Accepted files (``read_weights``):

* ``.safetensors`` (preferred: no pickle at all);
* ``.pt`` / ``.pth`` read ONLY with ``torch.load(weights_only=True)``: a plain ``nn.LSTM``
  state_dict, or any module's state_dict holding an LSTM under a prefix (``encoder.rnn.``), or a
  training checkpoint that nests one under ``state_dict`` / ``model_state_dict`` / ``model``.
  torch's weights_only unpickler had an RCE before 2.6 (CVE-2025-32434) and memory corruption
  before 2.10 (CVE-2026-24747); the torch pin (2.13.0) is checked at import.

``find_lstms`` lists every LSTM by prefix; ``user_checkpoint`` validates its shapes (messages name
both sizes: ``weight_hh_l0 is [512, 100], but hidden size 128 needs [512, 128]``), picks an
embedding and an output layer next to it when they fit, and returns one of our own checkpoints
(kind ``lstm``), which the normal loader serves.

``UploadStore`` keeps uploads as such checkpoints under a configurable directory, named by the
hash of what was uploaded (``upload-<16 hex>``), so every worker finds them by name. Names are
checked against that pattern before any path is built, so nothing can escape the directory or
shadow a shipped model. Old uploads expire least-recently-used first beyond a size budget.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from app.checkpoints import FORMAT_VERSION, ModelEntry, entry_from_checkpoint, load_entry, save
from app.tasks.vocab import Vocab

_MIN_TORCH = (2, 10)
if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < _MIN_TORCH:
    raise ImportError("torch >= 2.10 is required for safe weights_only loading of uploads")

UPLOAD_NAME = re.compile(r"^upload-[0-9a-f]{16}$")
LSTM_PARAM = re.compile(r"(weight|bias)_(ih|hh)_l\d+(_reverse)?")
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")
UNK_TOKENS = ("<unk>", "<UNK>", "[UNK]", "UNK", "<oov>", "\ufffd")


class UploadError(ValueError):
    """A user file we cannot use; the message says why, for the page (``choices``: LSTM prefixes)."""

    def __init__(self, message: str, choices: list[str] | None = None) -> None:
        super().__init__(message)
        self.choices = choices or []


# --- reading weights -------------------------------------------------------------------------


def read_weights(data: bytes, filename: str) -> dict[str, Tensor]:
    """Tensors by name from a .safetensors or .pt/.pth file's bytes (never unpickles code)."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load as load_safetensors

        try:
            return dict(load_safetensors(data))
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise UploadError(f"{filename}: not a valid .safetensors file ({exc})") from exc
    if suffix not in (".pt", ".pth", ".bin"):
        raise UploadError(
            f"{filename}: unsupported file type {suffix or '(none)'}; use .safetensors, .pt or .pth"
        )
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # every refusal or corruption ends here, with a readable reason
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        unsafe = re.search(r"unsupported global[^\n]*", text, re.IGNORECASE)
        if unsafe:
            detail = unsafe.group(0).strip()
            raise UploadError(
                f"{filename}: refused — safe loading (torch.load weights_only=True) does not run pickled "
                f"code or objects ({detail[:160]}). Save a state_dict (torch.save(model.state_dict(), …)) "
                "or use .safetensors."
            ) from exc
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise UploadError(f"{filename}: not a readable PyTorch file ({first[:200]})") from exc
    return _flatten(obj, filename)


def _flatten(obj: Any, filename: str) -> dict[str, Tensor]:
    """The tensors of a state_dict, unwrapping the usual training-checkpoint nesting."""
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, Tensor)}
        if tensors:
            return tensors
        for key in NESTED_KEYS:
            if isinstance(obj.get(key), dict):
                return _flatten(obj[key], filename)
        keys = ", ".join(map(str, list(obj)[:10])) or "nothing"
        raise UploadError(f"{filename}: a dict without tensors (keys: {keys})")
    if isinstance(obj, Tensor):
        raise UploadError(f"{filename}: a single tensor {list(obj.shape)}, not a state_dict")
    raise UploadError(f"{filename}: holds a {type(obj).__name__}, not a state_dict")


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
    items = [f"{k} {_shape(v)}" for k, v in list(weights.items())[:limit]]
    more = f", … ({len(weights) - limit} more)" if len(weights) > limit else ""
    return ", ".join(items) + more


def _other_rnn(w_ih0: Tensor, w_hh0: Tensor | None) -> str | None:
    """ "GRU" or "RNN" when layer 0's weights have 3 or 1 gate blocks instead of the LSTM's 4."""
    if w_hh0 is None or w_ih0.dim() != 2 or w_hh0.dim() != 2 or w_hh0.shape[0] != w_ih0.shape[0]:
        return None
    gates = w_hh0.shape[0] / max(1, w_hh0.shape[1])
    return {3.0: "GRU", 1.0: "RNN"}.get(gates)


def find_lstms(weights: dict[str, Tensor]) -> list[FoundLSTM]:
    """Every LSTM in a state_dict, by prefix; shapes are checked, naming both sizes on a mismatch."""
    prefixes = sorted(k[: -len("weight_ih_l0")] for k in weights if k.endswith("weight_ih_l0"))
    found = []
    for prefix in prefixes:
        if any(k.startswith(prefix + "weight_hr_l") for k in weights):
            raise UploadError(
                f"{prefix or 'the'} LSTM has a projection (proj_size > 0), which is not supported"
            )
        w_ih0 = weights[prefix + "weight_ih_l0"]
        w_hh0 = weights.get(prefix + "weight_hh_l0")
        if w_ih0.dim() != 2 or w_ih0.shape[0] % 4 and not _other_rnn(w_ih0, w_hh0):
            raise UploadError(f"{prefix}weight_ih_l0 is {_shape(w_ih0)}, but an LSTM needs [4·hidden, input]")
        if _other_rnn(w_ih0, w_hh0):
            continue  # a GRU (3 gates) or a vanilla RNN (1): reported if no LSTM is found
        hidden, inputs = w_ih0.shape[0] // 4, w_ih0.shape[1]
        layers = 0
        while prefix + f"weight_ih_l{layers}" in weights:
            layers += 1
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
                        raise UploadError(
                            f"{prefix}{name} is missing (an LSTM with {layers} layer(s) needs it)"
                        )
                    if tuple(tensor.shape) != shape:
                        need = "[" + ", ".join(map(str, shape)) + "]"
                        what = (
                            f"hidden size {hidden}"
                            if "hh" in name or "bias" in name
                            else (f"input size {in_size} and hidden size {hidden}")
                        )
                        raise UploadError(f"{prefix}{name} is {_shape(tensor)}, but {what} needs {need}")
        found.append(FoundLSTM(prefix, inputs, hidden, layers, bidirectional, bias))
    return found


def _pick(candidates: list[tuple[str, Tensor]], preferred: tuple[str, ...]) -> tuple[str, Tensor] | None:
    if len(candidates) == 1:
        return candidates[0]
    named = [c for c in candidates if any(p in c[0].lower() for p in preferred)]
    return named[0] if len(named) == 1 else None


def _vocab_from_json(raw: bytes, tokenization: str) -> Vocab:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UploadError(f"vocabulary: not valid JSON ({exc})") from exc
    if isinstance(data, dict) and "tokens" in data and isinstance(data["tokens"], list):
        data = data["tokens"]
    if isinstance(data, list):
        tokens = data
    elif isinstance(data, dict):
        if not all(isinstance(v, int) for v in data.values()):
            raise UploadError("vocabulary: a token → index dict needs integer indices")
        size = max(data.values(), default=-1) + 1
        tokens = [None] * size
        for token, index in data.items():
            if index < 0:
                raise UploadError(f"vocabulary: negative index {index} for {token!r}")
            tokens[index] = token
        missing = [i for i, t in enumerate(tokens) if t is None]
        if missing:
            tokens = [t if t is not None else f"<unused {i}>" for i, t in enumerate(tokens)]
    else:
        raise UploadError("vocabulary: expected a JSON list of tokens or a token → index object")
    if not tokens:
        raise UploadError("vocabulary: empty")
    if not all(isinstance(t, str) for t in tokens):
        raise UploadError("vocabulary: every token must be a string")
    if len(set(tokens)) != len(tokens):
        raise UploadError("vocabulary: tokens must be unique")
    level: Literal["char", "word"] = "char" if tokenization == "char" else "word"
    unk = next((t for t in UNK_TOKENS if t in tokens), None)
    return Vocab(tuple(tokens), level, {"unk": unk} if unk else {})


def user_checkpoint(
    weights: dict[str, Tensor],
    name: str,
    source: str,
    prefix: str | None = None,
    vocab_json: bytes | None = None,
    tokenization: str = "char",
) -> dict[str, Any]:
    """One of our checkpoints (kind ``lstm``) built from a user's weights, validated."""
    found = find_lstms(weights)
    if not found:
        others = sorted(
            {
                f"an nn.{kind} under {k[: -len('weight_ih_l0')].rstrip('.') or '(top level)'}"
                for k in weights
                if k.endswith("weight_ih_l0")
                and (kind := _other_rnn(weights[k], weights.get(k.replace("weight_ih", "weight_hh"))))
            }
        )
        seen = f" It looks like {', '.join(others)}, which this page does not trace." if others else ""
        raise UploadError(
            "no nn.LSTM weights found (looked for keys ending in weight_ih_l0 with 4 gate blocks)."
            + seen
            + " The file holds: "
            + summarize(weights)
        )
    if prefix is None:
        if len(found) > 1:
            raise UploadError(
                "several LSTMs found; choose one with 'prefix': " + "; ".join(f.describe() for f in found),
                choices=[f.prefix.rstrip(".") for f in found],
            )
        lstm = found[0]
    else:
        matches = [f for f in found if f.prefix.rstrip(".") == prefix.rstrip(".")]
        if not matches:
            raise UploadError(
                f"no LSTM under prefix {prefix!r}; found: " + "; ".join(f.describe() for f in found)
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

    vocab = _vocab_from_json(vocab_json, tokenization) if vocab_json else None
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
        if vocab is not None and len(vocab) != table.shape[0]:
            raise UploadError(
                f"vocabulary has {len(vocab)} tokens, but embedding {key} is {_shape(table)} "
                f"({table.shape[0]} rows)"
            )
        config.update(vocab_size=int(table.shape[0]), embedding=True)
        state["embed.weight"] = table.float()
        notes.append(f"embedding {key} {_shape(table)}")
    elif vocab is not None:
        if len(vocab) != lstm.input_size:
            raise UploadError(
                f"vocabulary has {len(vocab)} tokens, but the LSTM reads {lstm.input_size}-dim inputs and no "
                "embedding was found; a vocabulary without an embedding needs one-hot inputs of its size"
            )
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


def entry_for_file(path: Path) -> ModelEntry:
    """`serve --model FILE`: one of our checkpoints, or a user's own weights (vocabulary from
    FILE's stem + ``.vocab.json`` when that file exists)."""
    if not path.is_file():
        return load_entry(path)  # the "file not found" reason
    if path.suffix.lower() != ".safetensors":
        try:
            head = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            head = None
        if isinstance(head, dict) and "format_version" in head:
            return load_entry(path)
    try:
        weights = read_weights(path.read_bytes(), path.name)
        vocab_path = path.with_name(path.stem + ".vocab.json")
        vocab = vocab_path.read_bytes() if vocab_path.is_file() else None
        ckpt = user_checkpoint(weights, path.stem, path.name, vocab_json=vocab)
    except (UploadError, OSError) as exc:
        return ModelEntry(name=path.stem, path=path, reason=f"{path.name}: {exc}")
    return entry_from_checkpoint(ckpt, path)


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
            raise UploadError("internal: not an upload name")
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
