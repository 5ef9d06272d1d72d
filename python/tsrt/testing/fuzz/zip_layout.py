"""The layout of a well-formed zip archive, and rebuilding one from its parts: what
the mutators need to aim at a record and to remove, duplicate or reorder entries."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

LOCAL_SIGNATURE = b"PK\x03\x04"
CENTRAL_SIGNATURE = b"PK\x01\x02"
END_SIGNATURE = b"PK\x05\x06"
ZIP64_END_SIGNATURE = b"PK\x06\x06"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"

# (name, offset in the record, width in bytes) of the fields that say where things are and how big.
CENTRAL_FIELDS = (("compressed size", 20, 4), ("uncompressed size", 24, 4), ("name length", 28, 2),
                  ("extra length", 30, 2), ("comment length", 32, 2), ("local header offset", 42, 4))
LOCAL_FIELDS = (("compressed size", 18, 4), ("uncompressed size", 22, 4), ("name length", 26, 2),
                ("extra length", 28, 2))
END_FIELDS = (("entries on this disk", 8, 2), ("total entries", 10, 2), ("directory size", 12, 4),
              ("directory offset", 16, 4), ("comment length", 20, 2))
ZIP64_END_FIELDS = (("entries on this disk", 24, 8), ("total entries", 32, 8), ("directory size", 40, 8),
                    ("directory offset", 48, 8))
ZIP64_LOCATOR_FIELDS = (("zip64 end offset", 8, 8),)


@dataclass(frozen=True)
class ZipEntry:
    """Where one record of a well-formed archive lies."""

    name: str
    method: int
    local_offset: int
    header_length: int  # local header + name + extra
    data_size: int  # compressed bytes
    local_end: int  # end of its local part: data, data descriptor and any gap up to the next header
    central_offset: int
    central_length: int

    @property
    def data_offset(self) -> int:
        return self.local_offset + self.header_length

    @property
    def record(self) -> str:
        """The name inside the archive's top-level folder ("constants/0")."""
        return self.name.split("/", 1)[-1]


@dataclass(frozen=True)
class ZipLayout:
    entries: tuple[ZipEntry, ...]  # in central-directory order
    central_offset: int
    central_size: int
    end_offset: int
    zip64_end_offset: int | None
    zip64_locator_offset: int | None


def parse_zip(data: bytes) -> ZipLayout:
    """The layout of a well-formed archive (the sources: torch.jit.save output)."""
    end = data.rfind(END_SIGNATURE)
    if end < 0:
        raise ValueError("no end-of-central-directory record")
    count, size, offset = struct.unpack_from("<HII", data, end + 10)
    zip64_end = zip64_locator = None
    if end >= 20 and data[end - 20:end - 16] == ZIP64_LOCATOR_SIGNATURE:
        zip64_locator = end - 20
        (zip64_end,) = struct.unpack_from("<Q", data, zip64_locator + 8)
        count, size, offset = struct.unpack_from("<QQQ", data, zip64_end + 32)
    raw = []
    at = offset
    for _ in range(count):
        if data[at:at + 4] != CENTRAL_SIGNATURE:
            raise ValueError(f"no central record at {at}")
        method, = struct.unpack_from("<H", data, at + 10)
        compressed, = struct.unpack_from("<I", data, at + 20)
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, at + 28)
        local, = struct.unpack_from("<I", data, at + 42)
        local_name, local_extra = struct.unpack_from("<HH", data, local + 26)
        name = data[at + 46:at + 46 + name_length].decode("utf-8", "replace")
        raw.append((name, method, local, 30 + local_name + local_extra, compressed, at,
                    46 + name_length + extra_length + comment_length))
        at += raw[-1][-1]
    starts = sorted(item[2] for item in raw) + [offset]
    entries = tuple(ZipEntry(name, method, local, header, compressed, starts[starts.index(local) + 1], central, length)
                    for name, method, local, header, compressed, central, length in raw)
    return ZipLayout(entries, offset, size, end, zip64_end, zip64_locator)


def region_of(layout: ZipLayout, position: int) -> str:
    """What part of the archive byte `position` belongs to, for case descriptions."""
    for entry in layout.entries:
        if entry.local_offset <= position < entry.data_offset:
            return f"local header of {entry.record}"
        if entry.data_offset <= position < entry.data_offset + entry.data_size:
            return f"data of {entry.record}"
        if entry.data_offset + entry.data_size <= position < entry.local_end:
            return f"descriptor of {entry.record}"
        if entry.central_offset <= position < entry.central_offset + entry.central_length:
            return f"central record of {entry.record}"
    if layout.zip64_end_offset is not None and layout.zip64_end_offset <= position < layout.end_offset:
        return "zip64 end records"
    if position >= layout.end_offset:
        return "end record"
    return "between records"


def patch(data: bytes, offset: int, width: int, value: int) -> bytes:
    return data[:offset] + value.to_bytes(width, "little") + data[offset + width:]


def rebuild(data: bytes, layout: ZipLayout, locals_: Sequence[tuple[object, bytes]],
            centrals: Sequence[tuple[object, bytes]]) -> bytes:
    """An archive of the local parts `locals_` (key, bytes) in that order, then the central
    records `centrals` (key of the local part they point at, record bytes), then end
    records like the original's with counts, size and offset updated."""
    out = bytearray()
    where: dict[object, int] = {}
    for key, blob in locals_:
        where.setdefault(key, len(out))
        out += blob
    central_offset = len(out)
    for key, record in centrals:
        out += patch(record, 42, 4, where.get(key, 0))
    central_size = len(out) - central_offset
    count = len(centrals)
    if layout.zip64_end_offset is not None:
        zip64_offset = len(out)
        record = data[layout.zip64_end_offset:layout.zip64_locator_offset]
        for offset, value in ((24, count), (32, count), (40, central_size), (48, central_offset)):
            record = patch(record, offset, 8, value)
        out += record
        out += patch(data[layout.zip64_locator_offset:layout.end_offset], 8, 8, zip64_offset)
    end = data[layout.end_offset:]
    for offset, width, value in ((8, 2, count), (10, 2, count), (12, 4, central_size), (16, 4, central_offset)):
        end = patch(end, offset, width, min(value, (1 << 8 * width) - 1))
    return bytes(out + end)


def parts(data: bytes, layout: ZipLayout) -> tuple[list[tuple[object, bytes]], list[tuple[object, bytes]]]:
    """Each entry's local part and central record, keyed by its index."""
    locals_ = sorted(((i, data[e.local_offset:e.local_end]) for i, e in enumerate(layout.entries)),
                     key=lambda item: layout.entries[item[0]].local_offset)
    centrals = [(i, data[e.central_offset:e.central_offset + e.central_length]) for i, e in enumerate(layout.entries)]
    return locals_, centrals
