"""PyTorch files (``.pt``, ``.pth``, ``.bin``, Lightning's ``.ckpt``): measured, then unpickled
ONLY by ``torch.load(weights_only=True)``, which never runs code from the file.

What ``torch.save`` writes is a zip archive: ``…/data.pkl`` (the object structure, a pickle) and one
member per tensor storage. Before torch sees a byte of it:

* the archive is measured (``app.formats.archives``): its member count, and each member's
  declared uncompressed size: every one, and their sum, must fit ``Limits.max_unpacked_bytes``,
  and the pickle ``Limits.max_pickle_bytes`` (a 1 MB deflated member that claims 1 GiB is refused
  here, never inflated; torch's reader never unpacks more than a member declares);
* the pickle's globals are listed (``torch.serialization.get_unsafe_globals_in_checkpoint``): a
  file that needs any global outside torch's own safe set and the numeric numpy scalars of
  ``NUMPY_SCALARS`` is refused, naming them;
* the legacy (pre-1.6, non-zip) format is refused: its pickle declares storage sizes that
  torch allocates before reading them, so it cannot be measured first.

Training checkpoints often hold numpy scalars (a learning rate, a best score) next to the
tensors; torch documents allow-listing such globals (``torch.serialization.safe_globals``). The
allow-list here is scoped to our own loads, and holds only numpy's scalar constructor and numeric
dtypes: a scalar of them is a number.

torch's weights_only unpickler had an RCE before 2.6 (CVE-2025-32434) and memory corruption before
2.10 (CVE-2026-24747); the torch pin (2.13.0) is checked at import.
"""

from __future__ import annotations

import io
import logging
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from app.formats.archives import MemberLimit, measure_zip
from app.formats.base import FormatError, Limits, Weights, flatten

log = logging.getLogger(__name__)

_MIN_TORCH = (2, 10)
if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < _MIN_TORCH:
    raise ImportError("torch >= 2.10 is required for safe weights_only loading of uploads")

NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")
LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."  # pickle of torch's legacy magic number


def _numpy_scalars() -> list[tuple[Any, str]]:
    """numpy's scalar constructor and its numeric dtypes, under the names pickles use for them
    (numpy 2 writes ``numpy._core``, numpy 1 wrote ``numpy.core``)."""
    from numpy._core import multiarray

    allowed: list[tuple[Any, str]] = [
        (multiarray.scalar, "numpy._core.multiarray.scalar"),
        (multiarray.scalar, "numpy.core.multiarray.scalar"),
        (np.dtype, "numpy.dtype"),
    ]
    for name in dir(np.dtypes):
        kind = getattr(np.dtypes, name)
        scalar = getattr(kind, "type", None)
        if not (name.endswith("DType") and isinstance(scalar, type)):
            continue
        if issubclass(scalar, np.bool_ | np.integer | np.floating) and not issubclass(scalar, np.timedelta64):
            allowed.append((kind, f"numpy.dtypes.{name}"))
    return allowed


NUMPY_SCALARS = _numpy_scalars()
ALLOWED_GLOBALS = {name for _, name in NUMPY_SCALARS}
_LOAD_LOCK = threading.Lock()  # the allow-list is process-wide; our loads add and remove it one at a time


@contextmanager
def _numpy_scalars_allowed() -> Iterator[None]:
    with _LOAD_LOCK, torch.serialization.safe_globals(NUMPY_SCALARS):  # type: ignore[arg-type]
        yield


WHAT = "a PyTorch checkpoint"


def _member_limit(limits: Limits) -> MemberLimit:
    def limit_of(member: zipfile.ZipInfo) -> tuple[int, str]:
        if member.filename.endswith(".pkl"):
            return limits.max_pickle_bytes, "Its pickle (the object structure)"
        return limits.max_unpacked_bytes, "A member"

    return limit_of


def measure(data: bytes, limits: Limits) -> None:
    """Check what a torch file declares before anything is unpacked (see the module docstring)."""
    if data.startswith(b"\x80"):  # a bare pickle: torch's legacy format (LEGACY_MAGIC) or pickle.dump
        what = "PyTorch's legacy format (before 1.6)" if data.startswith(LEGACY_MAGIC) else "a bare pickle"
        raise FormatError(
            f"The file is in {what}, not a zip archive: it declares tensor sizes that are allocated "
            "before they can be checked, so it is refused. Save it again with "
            "torch.save(model.state_dict(), path) from a current PyTorch, or as .safetensors.",
            "upload-unsafe",
            {"format": "legacy" if data.startswith(LEGACY_MAGIC) else "pickle"},
        )
    if not data.startswith(b"PK\x03\x04"):
        raise FormatError(
            "The file is not a readable PyTorch file: torch.save writes a zip archive, and this is not one.",
            "unreadable-file",
        )
    members = measure_zip(data, limits, WHAT, _member_limit(limits))
    if not any(m.filename.endswith("data.pkl") for m in members):
        raise FormatError(
            "The file is a zip archive but not a PyTorch checkpoint (it has no data.pkl).",
            "unreadable-file",
        )


def _check_globals(data: bytes) -> None:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    except Exception as exc:  # a damaged pickle: the load below gives the reason
        log.info("listing the globals of an upload failed: %s", exc)
        return
    refused = [n for n in names if n not in ALLOWED_GLOBALS]
    if refused:
        shown = [n for n in refused if len(n) <= 80][:3]
        more = len(refused) - len(shown)
        listed = ", ".join(shown)
        if more:
            listed = f"{listed} and {more} more" if shown else f"{more} globals with long names"
        raise FormatError(
            f"The file is refused: it holds pickled Python objects ({listed}) that safe loading "
            "(torch.load with weights_only=True) does not create, because creating them could run code. "
            "Save only the weights: torch.save(model.state_dict(), path), or use .safetensors.",
            "upload-unsafe",
            {"globals": shown},
        )


def _load(data: bytes, map_location: str) -> Any:
    with _numpy_scalars_allowed():
        try:
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
        except Exception as exc:  # corruption or a refusal: torch's text goes to the log only
            log.info("torch.load of an upload failed: %s", exc)
            if "unsupported global" in str(exc).lower():
                raise FormatError(
                    "The file is refused: it holds pickled Python objects that safe loading "
                    "(torch.load with weights_only=True) does not create. Save only the weights: "
                    "torch.save(model.state_dict(), path), or use .safetensors.",
                    "upload-unsafe",
                ) from exc
            raise FormatError(
                "The file could not be read as a PyTorch checkpoint; it may be truncated or damaged.",
                "unreadable-file",
            ) from exc


def _read(data: bytes, limits: Limits, map_location: str) -> Weights:
    measure(data, limits)
    _check_globals(data)
    weights = flatten(_load(data, map_location), NESTED_KEYS)
    weights.format = "torch"
    return weights


def inspect(data: bytes, limits: Limits) -> Weights:
    """Meta tensors (shapes, no data) and the skipped entries, after ``measure``."""
    return _read(data, limits, "meta")


def load(data: bytes, limits: Limits) -> Weights:
    """The tensors with their data (measured again first)."""
    return _read(data, limits, "cpu")
