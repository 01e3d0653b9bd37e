"""Readers of users' files: each turns one format into the same thing, a flat state_dict.

One reader per format (``safetensors``, ``torch_files`` for ``.pt``/``.pth``/``.bin``/``.ckpt``),
each with two passes: ``inspect`` (measured, then structure only: meta tensors, no data) and
``load`` (the data). The upload route prices a model from ``inspect`` before it calls ``load``.
Nothing here ever unpickles code.

``keras`` (``.keras``, ``.h5``, ``.weights.h5``) has the same two passes but returns more than a
state_dict: a Keras file declares its architecture (activations, ``go_backwards``, merge modes,
Dense layers), so ``keras.load`` returns a ``KerasFile`` whose ``module()`` is a ``KerasNet``. It
is not in ``READERS``: a caller that finds an LSTM by its tensor names alone would drop what the
config says, so the upload path takes it through its own branch.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from app.formats import safetensors, torch_files
from app.formats.base import FormatError, Limits, Weights

READERS: dict[str, ModuleType] = {
    ".safetensors": safetensors,
    ".pt": torch_files,
    ".pth": torch_files,
    ".bin": torch_files,
    ".ckpt": torch_files,
}
SUFFIXES = tuple(READERS)

__all__ = ["READERS", "SUFFIXES", "FormatError", "Limits", "Weights", "inspect", "load"]


def reader(filename: str) -> ModuleType:
    """The reader of a file, by its suffix (422-worthy FormatError for any other)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in READERS:
        shown = suffix if suffix and len(suffix) <= 20 else "(none)"
        accepted = ", ".join(SUFFIXES)
        raise FormatError(
            f"Files of type {shown} are not read here; upload one of: {accepted}.",
            "unsupported-file",
            {"suffix": shown, "choices": list(SUFFIXES)},
        )
    return READERS[suffix]


def inspect(data: bytes, filename: str, limits: Limits) -> Weights:
    """Structure only (meta tensors), after checking what the file declares against ``limits``."""
    return reader(filename).inspect(data, limits)


def load(data: bytes, filename: str, limits: Limits) -> Weights:
    """The tensors with their data."""
    return reader(filename).load(data, limits)
