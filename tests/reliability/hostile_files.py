"""Hostile uploads, built small: the cases issue 15 reported, and their kin.

* ``zip_bomb``: a real ``torch.save`` archive whose one tensor is ``unpacked`` bytes of zeros
  (1 GiB by default), its data member deflated: ~1 MB on disk. ``torch.load`` would inflate it.
* ``deep_lstm`` / ``wide_lstm``: ``nn.LSTM(1, 2, num_layers=5000)`` and ``nn.LSTM(1, 1024)`` as
  safetensors (the first is 2.4 MB, legal size, and took 9.9 s to upload before prices).
* ``pickle_bomb``: an archive whose ``data.pkl`` unpacks to ``size`` bytes of a pickle.
* ``keras_zip_bomb``: a ``.keras`` archive whose ``model.weights.h5`` inflates to 1 GiB.

Used by tests/test_uploads.py and bench/limits.py.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import torch
from safetensors.torch import save as save_safetensors
from torch import nn


def safetensors_of(module: nn.Module) -> bytes:
    return save_safetensors({k: v.contiguous() for k, v in module.state_dict().items()})


def deep_lstm(layers: int = 5000) -> bytes:
    return safetensors_of(nn.LSTM(1, 2, num_layers=layers))


def wide_lstm(hidden: int = 1024) -> bytes:
    return safetensors_of(nn.LSTM(1, hidden))


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive from (name, stored bytes, method, crc32, uncompressed size), written by hand
    so a member can carry an already-deflated stream and its true uncompressed size."""
    out = io.BytesIO()
    central = []
    for name, payload, method, crc, size in members:
        offset = out.tell()
        raw = name.encode()
        out.write(
            struct.pack(
                "<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, method, 0, 0x21, crc, len(payload), size, len(raw), 0
            )
        )
        out.write(raw)
        out.write(payload)
        central.append(
            struct.pack(
                "<4s4B4HL2L5H2L",
                b"PK\x01\x02",
                20,
                0,
                20,
                0,
                0,
                method,
                0,
                0x21,
                crc,
                len(payload),
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
        )
    start = out.tell()
    for entry in central:
        out.write(entry)
    size = out.tell() - start
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), size, start, 0))
    return out.getvalue()


def _saved_members(obj: object) -> dict[str, bytes]:
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return (name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data))


def deflated_zeros(unpacked: int) -> tuple[bytes, int]:
    """(a raw deflate stream of ``unpacked`` zero bytes, their CRC-32), about unpacked/1000 bytes."""
    chunk = 2**20
    zeros = bytes(chunk)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)  # repeats exactly
    stream = block * (unpacked // chunk) + compressor.flush()
    crc = 0
    for _ in range(unpacked // chunk):
        crc = zlib.crc32(zeros, crc)
    return stream, crc


def zip_bomb(unpacked: int = 2**30) -> bytes:
    """A ``.pt`` whose tensor ``weight_ih_l0`` is ``unpacked`` bytes of float32 zeros, deflated."""
    numel = unpacked // 4
    members = _saved_members({"weight_ih_l0": torch.zeros(3)})
    pkl = members["archive/data.pkl"]
    # The pickle names the storage's element count and the tensor's size: 3 → numel (BININT).
    count = b"J" + struct.pack("<i", numel)
    pkl = pkl.replace(b"cpuq\x06K\x03t", b"cpuq\x06" + count + b"t").replace(
        b"K\x00K\x03\x85", b"K\x00" + count + b"\x85"
    )
    stream, crc = deflated_zeros(unpacked)
    entries = [_stored("archive/data.pkl", pkl)]
    entries.append(("archive/data/0", stream, zipfile.ZIP_DEFLATED, crc, unpacked))
    entries += [_stored(n, d) for n, d in members.items() if n not in ("archive/data.pkl", "archive/data/0")]
    return _zip(entries)


def keras_zip_bomb(config: bytes, unpacked: int = 2**30) -> bytes:
    """A ``.keras`` whose ``model.weights.h5`` is ``unpacked`` bytes of zeros, deflated (~1 MB)."""
    stream, crc = deflated_zeros(unpacked)
    weights = ("model.weights.h5", stream, zipfile.ZIP_DEFLATED, crc, unpacked)
    return _zip([_stored("config.json", config), weights])


def pickle_bomb(size: int = 8 * 2**20) -> bytes:
    """A ``.pt`` whose ``data.pkl`` unpacks to ``size`` bytes (empty dicts appended to a list)."""
    body = b"\x80\x02]q\x00(" + b"}" * (size // 2) + b"e."  # [ {}, {}, … ]
    compressed = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = compressed.compress(body) + compressed.flush()
    return _zip([("archive/data.pkl", stream, zipfile.ZIP_DEFLATED, zlib.crc32(body), len(body))])
