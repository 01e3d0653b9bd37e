"""Zip archives measured before a byte of them is unpacked: torch's ``.pt`` and Keras's ``.keras``.

The archive's end record gives its number of members (bounded before Python's ``zipfile`` builds
an object for each); the central directory then gives each member's declared uncompressed size,
and every member a reader will unpack, and their sum, must fit the limits (a 1 MB deflated
member that claims 1 GiB is refused here, never inflated). Python's ``zipfile`` never unpacks
more than a member declares, and checks its CRC, so a member that lies about its size fails.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable

from app.formats.base import FormatError, Limits

MemberLimit = Callable[[zipfile.ZipInfo], tuple[int, str] | None]  # (limit, what it is) or None: not read


def member_count(data: bytes, what: str) -> int:
    """Entries of a zip archive, from its end-of-central-directory record (zip64 included)."""
    tail_start = max(0, len(data) - (22 + 65535))
    at = data.rfind(b"PK\x05\x06", tail_start)
    if at < 0 or at + 22 > len(data):
        raise FormatError(
            f"The file could not be read as {what}: its zip archive has no directory.", "unreadable-file"
        )
    count = struct.unpack_from("<H", data, at + 10)[0]
    if count == 0xFFFF and at >= 20 and data[at - 20 : at - 16] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", data, at - 20 + 8)[0]
        if data[offset : offset + 4] == b"PK\x06\x06":
            count = struct.unpack_from("<Q", data, offset + 32)[0]
    return int(count)


def measure_zip(data: bytes, limits: Limits, what: str, limit_of: MemberLimit) -> list[zipfile.ZipInfo]:
    """The archive's members, after checking what it declares: the member count against
    ``Limits.max_members``, and every member ``limit_of`` gives a limit (the ones a reader will
    unpack) against it, their sum against ``Limits.max_unpacked_bytes``. ``what`` names the kind
    of file in messages ("a PyTorch checkpoint"). Raises FormatError (``upload-unsafe`` for a
    declared size over a limit, ``unreadable-file`` for a damaged archive)."""
    count = member_count(data, what)
    if count > limits.max_members:
        raise FormatError(
            f"The archive has {count:,} members, but the limit is {limits.max_members:,}.",
            "upload-unsafe",
            {"members": count, "limit": limits.max_members},
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise FormatError(
            f"The file could not be read as {what}: its zip archive is damaged.", "unreadable-file"
        ) from exc
    total = 0
    for member in members:
        rule = limit_of(member)
        if rule is None:
            continue
        limit, kind = rule
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FormatError(
                "The archive uses a compression method this app does not read (only stored and deflated).",
                "upload-unsafe",
            )
        size = member.file_size
        if member.compress_type == zipfile.ZIP_STORED and size != member.compress_size:
            raise FormatError(
                "The archive's directory contradicts itself (a stored member with two sizes).",
                "upload-unsafe",
            )
        if size > limit:
            raise FormatError(
                f"{kind} unpacks to {size:,} bytes, but the limit is {limit:,}; the archive is refused "
                "before it is unpacked.",
                "upload-unsafe",
                {"size": size, "limit": limit},
            )
        total += size
    if total > limits.max_unpacked_bytes:
        raise FormatError(
            f"The archive unpacks to {total:,} bytes, but the limit is {limits.max_unpacked_bytes:,}; "
            "it is refused before it is unpacked.",
            "upload-unsafe",
            {"size": total, "limit": limits.max_unpacked_bytes},
        )
    return members
