"""Fast JSON responses: orjson, numpy arrays serialised natively, floats rounded for display.

Rounding to ``Settings.float_digits`` (4) significant digits is the only approximation between the
network and the screen (DESIGN principle 1). Rounded values are cast to float32, which orjson writes
in their shortest form ("0.1234"), so a trace of floats stays small.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import torch
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def round_sig(values: Any, digits: int = 4) -> np.ndarray:
    """Round to ``digits`` significant digits (elementwise); returns float32 for compact JSON."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(x)))
    magnitude[~np.isfinite(magnitude)] = 0.0
    scale = 10.0 ** (digits - 1 - magnitude)
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = np.round(x * scale) / scale
    return np.where(np.isfinite(rounded), rounded, x).astype(np.float32)


def full_precision(values: Any) -> np.ndarray:
    """Unrounded float32 (for callers that ask for full precision)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.ascontiguousarray(values, dtype=np.float32)


def dumps(content: Any) -> bytes:
    """orjson with numpy support; the one JSON encoder of the app."""
    return orjson.dumps(content, option=_OPTIONS)


class FastJSONResponse(JSONResponse):
    """JSON response rendered by orjson (numpy arrays included)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
