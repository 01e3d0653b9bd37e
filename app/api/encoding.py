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


_LOG10_2 = float(np.log10(2.0))
_POW_OFFSET = 340
with np.errstate(over="ignore"):
    _POW10 = 10.0 ** np.arange(-_POW_OFFSET, _POW_OFFSET + 1, dtype=np.float64)  # 1e-340 … 1e340


def round_sig(values: Any, digits: int = 4) -> np.ndarray:
    """Round to ``digits`` significant digits (elementwise); returns float32 for compact JSON.

    The decimal exponent comes from the binary one (frexp) plus one comparison, which is cheaper
    than a log10 per element; the result equals ``float(f"{x:.{digits}g}")``.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    x = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(x)
    _, exp2 = np.frexp(magnitude)  # magnitude = m · 2**exp2, m in [0.5, 1)
    exp10 = np.floor((exp2 - 1) * _LOG10_2).astype(np.int64)  # floor(log10) or one less
    exp10 += magnitude >= _POW10[np.clip(exp10 + 1 + _POW_OFFSET, 0, 2 * _POW_OFFSET)]
    scale = _POW10[np.clip(digits - 1 - exp10 + _POW_OFFSET, 0, 2 * _POW_OFFSET)]
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
