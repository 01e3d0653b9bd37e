"""What every reader of a user's file returns, and the error it raises.

A reader works in two passes over the file's bytes, so that nothing is materialised before it has
been measured:

1. ``inspect``: the file's structure only (tensors on the ``meta`` device: names, shapes, dtypes,
   no data), after checking what the file *declares* (a zip archive's member sizes, a safetensors
   header) against ``Limits``;
2. ``load``: the same tensors with their data, once the caller has priced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from app.config import Settings


class FormatError(ValueError):
    """A file we cannot or will not read. The message is our own sentence (never the library's
    text, never the file's bytes); ``code`` is the API error code, ``params`` its named values."""

    def __init__(
        self, message: str, code: str = "unreadable-file", params: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.params = params or {}


@dataclass(frozen=True)
class Limits:
    """What a file may declare before it is opened.

    The model sizes (``max_layers``, ``max_hidden``, ``max_params``; None: unchecked here) are
    checked by a reader that knows a model's architecture from its file before reading a weight
    (Keras); a state_dict's are checked once the recurrent module is found in it (app/uploads.py).
    """

    max_unpacked_bytes: int  # all tensors (a zip archive's members unpacked) together
    max_pickle_bytes: int = 2**20  # a torch file's pickle (its object structure, not its tensors)
    max_members: int = 10_000  # entries of a zip archive
    max_layers: int | None = None  # recurrent layers (a bidirectional layer counts once)
    max_hidden: int | None = None  # hidden units of one recurrent layer
    max_params: int | None = None  # parameters of every layer the model uses
    max_config_bytes: int = 4 * 2**20  # a model's architecture as JSON (Keras's config)

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """Every limit an upload's file is measured against, from the server's Settings."""
        return cls(
            max_unpacked_bytes=settings.max_upload_unpacked_bytes,
            max_layers=settings.max_upload_layers,
            max_hidden=settings.max_upload_hidden,
            max_params=settings.max_upload_params,
        )


# Where each model-size limit is set, for messages.
LIMIT_SETTINGS = {
    "max_layers": "RLENS_MAX_UPLOAD_LAYERS",
    "max_hidden": "RLENS_MAX_UPLOAD_HIDDEN",
    "max_params": "RLENS_MAX_UPLOAD_PARAMS",
}


@dataclass
class Weights:
    """Tensors by name (a flat state_dict), and what the file held besides them (skipped)."""

    tensors: dict[str, Tensor]
    skipped: list[str] = field(default_factory=list)
    format: str = ""


def describe_type(value: Any) -> str:
    """A short type name for the list of skipped entries: int, str, numpy.float64, list, …"""
    kind = type(value)
    module = kind.__module__
    if module == "builtins":
        return kind.__name__
    return f"{module.split('.')[0]}.{kind.__name__}"


def flatten(obj: Any, nested_keys: tuple[str, ...]) -> Weights:
    """The tensors of a state_dict, unwrapping the usual training-checkpoint nesting (a dict under
    ``state_dict``, ``model_state_dict``, … as Lightning's ``.ckpt`` and most training loops save);
    every other entry is listed as skipped, with its type."""
    skipped: list[str] = []
    path = ""
    while isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, Tensor)}
        if tensors:
            skipped += [f"{path}{k} ({describe_type(v)})" for k, v in obj.items() if k not in tensors]
            return Weights(tensors, skipped)
        inner = next((k for k in nested_keys if isinstance(obj.get(k), dict)), None)
        if inner is None:
            keys = ", ".join(str(k) for k in list(obj)[:10] if len(str(k)) <= 60) or "none"
            raise FormatError(
                f"The file holds a dict without tensors (its keys: {keys}); save a state_dict.",
                "no-recurrent-layer",
                {"keys": keys},
            )
        skipped += [f"{path}{k} ({describe_type(v)})" for k, v in obj.items() if k != inner]
        path += f"{inner}."
        obj = obj[inner]
    if isinstance(obj, Tensor):
        shape = "[" + ", ".join(str(s) for s in obj.shape) + "]"
        raise FormatError(
            f"The file holds a single tensor {shape}, not a state_dict; save model.state_dict().",
            "no-recurrent-layer",
            {"shape": shape},
        )
    kind = describe_type(obj)
    raise FormatError(
        f"The file holds a {kind}, not a state_dict; save model.state_dict().",
        "no-recurrent-layer",
        {"type": kind},
    )
