"""``.safetensors``: no pickle at all; a JSON header declares every tensor before its bytes.

The format (https://github.com/huggingface/safetensors): 8 bytes little-endian N, then N bytes of
JSON ``{name: {"dtype": "F32", "shape": [4, 3], "data_offsets": [begin, end]}, "__metadata__": {…}}``,
then the data. ``inspect`` parses and checks the header itself — every dtype known, every shape a
list of non-negative integers whose size times the dtype's width is exactly its byte range, every
range inside the file, their sum within ``Limits.max_unpacked_bytes`` — and returns meta tensors;
``load`` then lets the safetensors library read the data.
"""

from __future__ import annotations

import json
import math
import struct

import torch

from app.formats.base import FormatError, Limits, Weights

DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
MAX_HEADER_BYTES = 16 * 2**20


def _name(name: str) -> str:
    """A tensor's name for a message: quoted, or described when it is too long to show whole."""
    return f"tensor {name!r}" if len(name) <= 80 else f"a tensor with a {len(name):,}-character name"


def _refuse(reason: str, code: str = "unreadable-file") -> FormatError:
    return FormatError(f"The file is not a valid .safetensors file: {reason}.", code, {"reason": reason})


def header(data: bytes, limits: Limits) -> dict[str, tuple[str, list[int], int, int]]:
    """name → (dtype, shape, begin, end) from the header, checked against the file and ``limits``."""
    if len(data) < 8:
        raise _refuse("it is shorter than the 8-byte header length")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(len(data) - 8, MAX_HEADER_BYTES):
        raise _refuse(f"its header claims {size:,} bytes, more than the file holds")
    try:
        raw = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _refuse("its header is not JSON") from exc
    if not isinstance(raw, dict):
        raise _refuse("its header is not a JSON object")
    room = len(data) - 8 - size
    entries: dict[str, tuple[str, list[int], int, int]] = {}
    total = 0
    for name, spec in raw.items():
        if name == "__metadata__":
            continue
        if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES:
            raise _refuse(f"{_name(name)} has no dtype this app reads (F64, F32, F16, BF16, integers)")
        shape, offsets = spec.get("shape"), spec.get("data_offsets")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise _refuse(f"{_name(name)} has a shape that is not a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise _refuse(f"{_name(name)} has no valid data_offsets")
        begin, end = offsets
        width = DTYPES[spec["dtype"]][1]
        nbytes = math.prod(shape) * width
        if not 0 <= begin <= end <= room or end - begin != nbytes:
            raise _refuse(
                f"{_name(name)} declares {nbytes:,} bytes at [{begin}, {end}], which the file "
                f"({room:,} bytes of data) does not hold"
            )
        total += nbytes
        entries[name] = (spec["dtype"], shape, begin, end)
    if total > limits.max_unpacked_bytes:
        raise FormatError(
            f"The file declares {total:,} bytes of tensors, but the limit is {limits.max_unpacked_bytes:,}.",
            "upload-unsafe",
            {"size": total, "limit": limits.max_unpacked_bytes},
        )
    return entries


def inspect(data: bytes, limits: Limits) -> Weights:
    """Meta tensors (names, shapes, dtypes; no data) from the checked header."""
    entries = header(data, limits)
    tensors = {
        name: torch.empty(shape, dtype=DTYPES[dtype][0], device="meta")
        for name, (dtype, shape, _, _) in entries.items()
    }
    return Weights(tensors, [], "safetensors")


def load(data: bytes, limits: Limits) -> Weights:
    """The tensors with their data (the header is checked again first)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    header(data, limits)
    try:
        tensors = dict(load_safetensors(data))
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise _refuse("its data could not be read") from exc
    return Weights(tensors, [], "safetensors")
