"""Fuzzes the model loader with damaged copies of real zoo exports.

    python scripts/fuzz_loader.py --cases 2000 --seed 0 [--infer-share 0.1] [--keep DIR] [--json]
    python scripts/fuzz_loader.py --seed 0 --index 417 --keep /tmp/case   # rebuild and rerun one case

Each case is a file made from a zoo export (or from nothing) by one kind of mutation
(KINDS, taking turns): truncation; flipped bytes anywhere, or aimed at tensor data,
at deflated records (code/*.py, *.debug_pkl: the archive check has no CRC for them),
at local headers, the central directory or the end records; removed, duplicated or
reordered entries; zips of other things; empty files; header fields set to huge
values; random bytes; and "ambiguous" archives that two zip readers may read
differently (a second entry whose name differs only in letter case, a zip64 end
record pointing at another central directory). Case INDEX of seed SEED is the same
mutation on every run (given the same zoo exports), so `--index` rebuilds a finding.

A case's outcome is one of
  same     it loaded and its golden replay (Model.verify) passed: outputs equal the original's
           (when the mutation removed the golden records, the original's golden inputs are
           replayed instead and compared with the original model's outputs)
  error    a clean refusal: tsrt.Error, or ./infer exiting 1/2 with "infer: error:"
  corrupt  it loaded but its outputs differ from the original's: silent corruption
  crash    the process died (killed by a signal, or exited in the middle of a case)
  hang     no answer within --timeout seconds
  unclean  it failed, but not cleanly: another exception type than tsrt.Error, or ./infer
           exiting without "infer: error:" (e.g. "infer: internal error:")
Most cases run in a long-lived worker process (torch is imported once); --infer-share
of them run `./infer FILE --verify` instead. The exit status is 1 when any case is
corrupt, crash, hang or unclean.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
INFER = ROOT / "infer"

DEFAULT_MODELS = ("mlp", "resnet_cnn", "gru_seq", "multi_io", "mixed_outputs")
KINDS = (
    "truncate", "flip_any", "flip_data", "flip_compressed", "flip_local", "flip_central", "flip_end",
    "remove_entry", "duplicate_entry", "reorder_entries", "other_zip", "empty", "huge_field", "random_bytes",
    "ambiguous",
)
OUTCOMES = ("same", "error", "corrupt", "crash", "hang", "unclean")
BAD_OUTCOMES = ("corrupt", "crash", "hang", "unclean")

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


# --------------------------------------------------------------------------- zip layout


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


def _patch(data: bytes, offset: int, width: int, value: int) -> bytes:
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
        out += _patch(record, 42, 4, where.get(key, 0))
    central_size = len(out) - central_offset
    count = len(centrals)
    if layout.zip64_end_offset is not None:
        zip64_offset = len(out)
        record = data[layout.zip64_end_offset:layout.zip64_locator_offset]
        for offset, value in ((24, count), (32, count), (40, central_size), (48, central_offset)):
            record = _patch(record, offset, 8, value)
        out += record
        out += _patch(data[layout.zip64_locator_offset:layout.end_offset], 8, 8, zip64_offset)
    end = data[layout.end_offset:]
    for offset, width, value in ((8, 2, count), (10, 2, count), (12, 4, central_size), (16, 4, central_offset)):
        end = _patch(end, offset, width, min(value, (1 << 8 * width) - 1))
    return bytes(out + end)


def _parts(data: bytes, layout: ZipLayout) -> tuple[list[tuple[object, bytes]], list[tuple[object, bytes]]]:
    """Each entry's local part and central record, keyed by its index."""
    locals_ = sorted(((i, data[e.local_offset:e.local_end]) for i, e in enumerate(layout.entries)),
                     key=lambda item: layout.entries[item[0]].local_offset)
    centrals = [(i, data[e.central_offset:e.central_offset + e.central_length]) for i, e in enumerate(layout.entries)]
    return locals_, centrals


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Source:
    """A zoo export that mutations start from."""

    path: Path
    data: bytes = field(repr=False)
    layout: ZipLayout = field(repr=False)

    @classmethod
    def read(cls, path: Path) -> "Source":
        data = Path(path).read_bytes()
        return cls(Path(path), data, parse_zip(data))


@dataclass
class Case:
    """One fuzz input: case `index` of `seed`, made from `source` by mutation `kind`."""

    seed: int
    index: int
    kind: str
    source: Path  # the export it was made from; verify compares against it
    variant: str  # what exactly the mutation did
    data: bytes = field(repr=False)

    @property
    def name(self) -> str:
        return f"case-{self.seed}-{self.index:05d}-{self.kind}.pt"


def _flip(rng: random.Random, data: bytes, layout: ZipLayout, positions: Iterable[int]) -> tuple[bytes, str]:
    out = bytearray(data)
    changes = []
    for position in sorted(set(positions)):
        mask = 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
        out[position] ^= mask
        changes.append(f"{position}^0x{mask:02x} ({region_of(layout, position)})")
    return bytes(out), "flipped " + ", ".join(changes)


def _flip_count(rng: random.Random) -> int:
    return rng.choice((1, 1, 1, 2, 2, 3, 8))


def mutate_truncate(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data, layout = source.data, source.layout
    roll = rng.random()
    if roll < 0.4:
        cut = rng.randrange(1, len(data))
    elif roll < 0.7:  # inside the central directory or the end records
        cut = rng.randrange(layout.central_offset, len(data))
    else:  # at (or next to) a boundary between structures
        boundaries = [layout.central_offset, layout.end_offset, len(data) - 1]
        boundaries += [b for e in layout.entries for b in (e.local_offset, e.data_offset, e.local_end)]
        cut = min(max(rng.choice(boundaries) + rng.randint(-2, 2), 1), len(data) - 1)
    return data[:cut], f"cut at byte {cut} of {len(data)} ({region_of(layout, cut)})"


def mutate_flip_any(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data = source.data
    return _flip(rng, data, source.layout, (rng.randrange(len(data)) for _ in range(_flip_count(rng))))


def _flip_in_data(rng: random.Random, source: Source, entries: Sequence[ZipEntry]) -> tuple[bytes, str]:
    entry = rng.choice(entries)
    count = rng.choice((1, 1, 2, 3))
    positions = (entry.data_offset + rng.randrange(entry.data_size) for _ in range(count))
    return _flip(rng, source.data, source.layout, positions)


def mutate_flip_data(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Inside the bytes of a tensor storage (data/N, or constants/N of a frozen model)."""
    tensors = [e for e in source.layout.entries
               if e.data_size and e.record.startswith(("data/", "constants/"))]
    return _flip_in_data(rng, source, tensors or [e for e in source.layout.entries if e.data_size])


def mutate_flip_compressed(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Inside a deflated entry (code/*.py, *.debug_pkl): the archive check has no CRC for these."""
    deflated = [e for e in source.layout.entries if e.data_size and e.method != 0]
    return _flip_in_data(rng, source, deflated or [e for e in source.layout.entries if e.data_size])


def mutate_flip_local(rng: random.Random, source: Source) -> tuple[bytes, str]:
    entry = rng.choice(source.layout.entries)
    span = 30 if rng.random() < 0.5 else entry.header_length  # the fixed fields, or name and extra too
    positions = [entry.local_offset + rng.randrange(span) for _ in range(rng.choice((1, 1, 2)))]
    return _flip(rng, source.data, source.layout, positions)


def mutate_flip_central(rng: random.Random, source: Source) -> tuple[bytes, str]:
    entry = rng.choice(source.layout.entries)
    span = 46 if rng.random() < 0.5 else entry.central_length
    positions = [entry.central_offset + rng.randrange(span) for _ in range(rng.choice((1, 1, 2)))]
    return _flip(rng, source.data, source.layout, positions)


def mutate_flip_end(rng: random.Random, source: Source) -> tuple[bytes, str]:
    layout = source.layout
    regions = [(layout.end_offset, len(source.data) - layout.end_offset)]
    if layout.zip64_end_offset is not None:
        regions += [(layout.zip64_end_offset, layout.zip64_locator_offset - layout.zip64_end_offset),
                    (layout.zip64_locator_offset, layout.end_offset - layout.zip64_locator_offset)]
    start, length = rng.choice(regions)
    positions = [start + rng.randrange(length) for _ in range(rng.choice((1, 1, 2)))]
    return _flip(rng, source.data, layout, positions)


def mutate_remove_entry(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data, layout = source.data, source.layout
    locals_, centrals = _parts(data, layout)
    victim = rng.randrange(len(layout.entries))
    name = layout.entries[victim].name
    centrals = [c for c in centrals if c[0] != victim]
    if rng.random() < 0.2:
        return rebuild(data, layout, locals_, centrals), f"removed {name} from the central directory only"
    locals_ = [part for part in locals_ if part[0] != victim]
    return rebuild(data, layout, locals_, centrals), f"removed {name}"


def _renamed(local: bytes, central: bytes, old: str, new: str) -> tuple[bytes, bytes]:
    """A local part and central record with the entry's name changed (same data and CRC)."""
    old_bytes, new_bytes = old.encode(), new.encode()
    local = _patch(local, 26, 2, len(new_bytes))
    local = local[:30] + new_bytes + local[30 + len(old_bytes):]
    central = _patch(central, 28, 2, len(new_bytes))
    central = central[:46] + new_bytes + central[46 + len(old_bytes):]
    return local, central


def mutate_duplicate_entry(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data, layout = source.data, source.layout
    locals_, centrals = _parts(data, layout)
    index = rng.randrange(len(layout.entries))
    entry = layout.entries[index]
    local, central = dict(locals_)[index], dict(centrals)[index]
    roll = rng.random()
    where = rng.randrange(len(centrals) + 1)
    if roll < 0.4:
        locals_.append(("copy", local))
        centrals.insert(where, ("copy", central))
        how = f"a second {entry.name} (local part and central record)"
    elif roll < 0.7:
        centrals.insert(where, (index, central))
        how = f"a second central record for {entry.name}, pointing at the same data"
    else:
        new_name = entry.name + "_copy"
        local, central = _renamed(local, central, entry.name, new_name)
        locals_.append(("copy", local))
        centrals.insert(where, ("copy", central))
        how = f"a copy of {entry.name} named {new_name}"
    return rebuild(data, layout, locals_, centrals), f"added {how} at directory position {where}"


def _shuffled(rng: random.Random, items: list) -> list:
    shuffled = list(items)
    for _ in range(10):  # a permutation that moves something, when there is anything to move
        rng.shuffle(shuffled)
        if shuffled != items:
            break
    return shuffled


def mutate_reorder_entries(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data, layout = source.data, source.layout
    locals_, centrals = _parts(data, layout)
    roll = rng.random()
    if roll < 0.25:
        i, j = rng.sample(range(len(locals_)), 2)
        locals_[i], locals_[j] = locals_[j], locals_[i]
        first, second = layout.entries[locals_[j][0]].record, layout.entries[locals_[i][0]].record
        how = f"swapped the local parts of {first} and {second}"
    elif roll < 0.5:
        locals_ = _shuffled(rng, locals_)
        how = "shuffled the local parts (central directory order kept)"
    elif roll < 0.75:
        centrals = _shuffled(rng, centrals)
        how = "shuffled the central directory (data order kept)"
    else:
        locals_, centrals = _shuffled(rng, locals_), _shuffled(rng, centrals)
        how = "shuffled both the local parts and the central directory"
    return rebuild(data, layout, locals_, centrals), how


def _garbage_pickle(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Bytes that a pickle reader will choke on, or that unpickle to the wrong thing."""
    choices = {
        "random bytes": lambda: rng.randbytes(rng.randrange(1, 512)),
        "protocol 2 header then random bytes": lambda: b"\x80\x02" + rng.randbytes(rng.randrange(0, 256)),
        "an int": lambda: b"\x80\x02K\x05.",
        "an empty tuple": lambda: b"\x80\x02).",
        "a global of an unknown class": lambda: b"\x80\x02c__torch__.Missing\nThing\nq\x00)\x81q\x01.",
        "a storage of a missing record": lambda: (
            b"\x80\x02(X\x07\x00\x00\x00storageq\x00ctorch\nFloatStorage\nq\x01X\x02\x00\x00\x0099q\x02"
            b"X\x03\x00\x00\x00cpuq\x03K\x10tq\x04Q."),
        "no stop opcode": lambda: b"\x80\x02]q\x00(K\x01K\x02e",
    }
    real = [e for e in source.layout.entries if e.record in ("data.pkl", "constants.pkl") and e.data_size > 2]
    if real:
        entry = rng.choice(real)
        choices["a truncated real pickle"] = lambda: source.data[entry.data_offset:entry.data_offset +
                                                                  rng.randrange(1, entry.data_size)]
    what = rng.choice(sorted(choices))
    return choices[what](), what


def mutate_other_zip(rng: random.Random, source: Source) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    roll = rng.random()
    method = zipfile.ZIP_STORED if rng.random() < 0.5 else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        if roll < 0.25:
            names = rng.sample(["readme.txt", "notes/todo.md", "model.json", "LICENSE", "weights.csv", "a/b/c.txt"],
                               rng.randint(1, 4))
            for name in names:
                words = rng.choices(["model", "tensor", "the", "weights", "zip", "code", "data", "\n"],
                                    k=rng.randrange(200))
                archive.writestr(name, " ".join(words))
            how = f"a zip of text files ({', '.join(names)})"
        elif roll < 0.5:
            code = rng.choice([
                "class Model(Module):\n  __parameters__ = []\n"
                "  def forward(self, x: Tensor) -> Tensor:\n    return x\n",
                "def forward(self x) -> ::\n  return ((\n",
                "".join(rng.choices("abcdefgh ():=\n.\t[]0123456789", k=rng.randrange(1, 400))),
            ])
            data_pkl, data_what = _garbage_pickle(rng, source)
            constants_pkl, constants_what = _garbage_pickle(rng, source)
            archive.writestr("archive/code/__torch__/model.py", code)
            archive.writestr("archive/data.pkl", data_pkl)
            archive.writestr("archive/constants.pkl", constants_pkl)
            archive.writestr("archive/version", rng.choice(["3", "6", "10", "999999", "-1", "abc", ""]))
            how = f"an archive with code/ but garbage pickles (data.pkl: {data_what}; constants.pkl: {constants_what})"
        elif roll < 0.75:
            target = rng.choice([e for e in source.layout.entries if e.record in ("data.pkl", "constants.pkl")]).record
            garbage, what = _garbage_pickle(rng, source)
            for entry in source.layout.entries:
                content = source.data[entry.data_offset:entry.data_offset + entry.data_size]
                if entry.method != 0:
                    content = zlib.decompressobj(-15).decompress(content)
                archive.writestr(entry.name, garbage if entry.record == target else content)
            how = f"{source.path.name} rewritten with its {target} replaced by {what}"
        elif roll < 0.9:
            archive.writestr("archive/data.pkl", b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01K\x01s.")
            archive.writestr("archive/data/0", rng.randbytes(64))
            archive.writestr("archive/version", "3")
            how = "a torch.save-style checkpoint (data.pkl, data/0)"
        else:
            archive.writestr("archive/archive_format", "pt2")
            archive.writestr("archive/data/aotinductor/model/model.so", rng.randbytes(rng.randrange(1, 2048)))
            how = "an AOTInductor-style package with a garbage model.so"
    return buffer.getvalue(), how


def mutate_empty(rng: random.Random, source: Source) -> tuple[bytes, str]:
    return b"", "an empty file"


def mutate_huge_field(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data, layout = source.data, source.layout
    group = rng.choice(("central", "local", "end"))
    if group == "central":
        entry = rng.choice(layout.entries)
        label, offset, width = rng.choice(CENTRAL_FIELDS)
        where, at = f"central record of {entry.record}", entry.central_offset + offset
    elif group == "local":
        entry = rng.choice(layout.entries)
        label, offset, width = rng.choice(LOCAL_FIELDS)
        where, at = f"local header of {entry.record}", entry.local_offset + offset
    else:
        fields = [("end record", layout.end_offset, f) for f in END_FIELDS]
        if layout.zip64_end_offset is not None:
            fields += [("zip64 end record", layout.zip64_end_offset, f) for f in ZIP64_END_FIELDS]
            fields += [("zip64 locator", layout.zip64_locator_offset, f) for f in ZIP64_LOCATOR_FIELDS]
        where, base, (label, offset, width) = rng.choice(fields)
        at = base + offset
    past_end = len(data) + rng.randrange(1, 1 << 20)
    values = {2: [0xFFFF, 0xFFFF, 0xFFFE, rng.randrange(0x1000, 0xFFFF)],
              4: [0xFFFFFFFF, 0xFFFFFFFF, past_end, len(data), 0x80000000],
              8: [(1 << 64) - 1, 0xFFFFFFFF, past_end, 1 << 63]}[width]
    value = rng.choice(values)
    return _patch(data, at, width, value), f"set the {label} of the {where} (byte {at}) to {value:#x}"


def mutate_random_bytes(rng: random.Random, source: Source) -> tuple[bytes, str]:
    length = int(2 ** rng.uniform(0, 16))
    body = rng.randbytes(length)
    roll = rng.random()
    if roll < 1 / 3:
        return body, f"{length} random bytes"
    if roll < 2 / 3:
        return LOCAL_SIGNATURE + body, f'"PK\\x03\\x04" and {length} random bytes'
    count, size, offset = rng.randrange(1 << 16), rng.randrange(length + 64), rng.randrange(length + 64)
    end = END_SIGNATURE + struct.pack("<HHHHIIH", 0, 0, count, count, size, offset, 0)
    return (LOCAL_SIGNATURE + body + end,
            f'"PK\\x03\\x04", {length} random bytes and an end record '
            f'({count} entries, directory {size} bytes at {offset})')


def _other_case(rng: random.Random, name: str) -> str:
    """`name` with the case of some letters after its top-level folder swapped (at least one):
    LibTorch refuses records outside the folder, whatever their case."""
    start = name.find("/") + 1
    letters = [i for i, c in enumerate(name) if c.isalpha() and i >= start]
    chosen = set(rng.sample(letters, rng.randint(1, min(3, len(letters)))))
    return "".join(c.swapcase() if i in chosen else c for i, c in enumerate(name))


def _changed_copy(rng: random.Random, data: bytes, entry: ZipEntry) -> tuple[bytes, bytes, int]:
    """The entry's local part with some data bytes changed, its new data, and their CRC-32."""
    local = bytearray(data[entry.local_offset:entry.local_end])
    start = entry.header_length + rng.randrange(entry.data_size)
    for position in range(start, min(start + rng.randint(1, 64), entry.header_length + entry.data_size)):
        local[position] ^= rng.randrange(1, 256)
    new_data = bytes(local[entry.header_length:entry.header_length + entry.data_size])
    return bytes(local), new_data, zlib.crc32(new_data)


def mutate_ambiguous(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Archives that two zip readers may read differently: LibTorch's reader (miniz) finds
    names case-insensitively and takes the directory the zip64 end record points at."""
    data, layout = source.data, source.layout
    tensors = [i for i, e in enumerate(layout.entries)
               if e.method == 0 and e.data_size and e.record.startswith(("data/", "constants/"))]
    index = rng.choice(tensors or [i for i, e in enumerate(layout.entries) if e.method == 0 and e.data_size])
    entry = layout.entries[index]
    locals_, centrals = _parts(data, layout)
    roll = rng.random()
    if roll < 0.5 or layout.zip64_end_offset is None:
        new_name = _other_case(rng, entry.name)
        changed = rng.random() < 0.8
        local, central = dict(locals_)[index], dict(centrals)[index]
        if changed:
            local, new_data, crc = _changed_copy(rng, data, entry)
            central = _patch(central, 16, 4, crc)
            if local[entry.header_length + entry.data_size:][:4] == b"PK\x07\x08":  # the data descriptor's CRC too
                local = _patch(local, entry.header_length + entry.data_size + 4, 4, crc)
        local, central = _renamed(local, central, entry.name, new_name)
        where = rng.randrange(len(centrals) + 1)
        locals_.append(("copy", local))
        centrals.insert(where, ("copy", central))
        what = "with changed bytes and their CRC-32" if changed else "with the same bytes"
        return (rebuild(data, layout, locals_, centrals),
                f"added {new_name}, a copy of {entry.name} {what}, at directory position {where}")
    # A second central directory that only the zip64 end record points at.
    body = bytearray(data[:layout.central_offset])
    shadow = []
    how = ""
    for key, record in centrals:
        if key == index and roll < 0.85:
            changed, _, _ = _changed_copy(rng, data, entry)
            record = _patch(record, 42, 4, len(body))
            body += changed
            how = f"{entry.record} points at a changed copy of its data"
        shadow.append(record)
    if not how:
        shadow = [record for key, record in centrals if key != index]
        how = f"{entry.record} is missing"
    directory = data[layout.central_offset:layout.central_offset + layout.central_size]
    shadow_offset = len(body) + len(directory)
    shadow_bytes = b"".join(shadow)
    out = body + directory + shadow_bytes
    zip64_end = data[layout.zip64_end_offset:layout.zip64_locator_offset]
    for offset, value in ((24, len(shadow)), (32, len(shadow)), (40, len(shadow_bytes)), (48, shadow_offset)):
        zip64_end = _patch(zip64_end, offset, 8, value)
    zip64_offset = len(out)
    out += zip64_end + _patch(data[layout.zip64_locator_offset:layout.end_offset], 8, 8, zip64_offset)
    end = _patch(data[layout.end_offset:], 16, 4, len(body))
    return bytes(out + end), f"the zip64 end record points at a second central directory in which {how}"


MUTATIONS: dict[str, Callable[[random.Random, Source], tuple[bytes, str]]] = {
    "truncate": mutate_truncate,
    "flip_any": mutate_flip_any,
    "flip_data": mutate_flip_data,
    "flip_compressed": mutate_flip_compressed,
    "flip_local": mutate_flip_local,
    "flip_central": mutate_flip_central,
    "flip_end": mutate_flip_end,
    "remove_entry": mutate_remove_entry,
    "duplicate_entry": mutate_duplicate_entry,
    "reorder_entries": mutate_reorder_entries,
    "other_zip": mutate_other_zip,
    "empty": mutate_empty,
    "huge_field": mutate_huge_field,
    "random_bytes": mutate_random_bytes,
    "ambiguous": mutate_ambiguous,
}
assert tuple(MUTATIONS) == KINDS


def make_case(sources: Sequence[Source], seed: int, index: int) -> Case:
    """Case `index` of `seed`: the kinds take turns, everything else comes from the case's own RNG."""
    rng = random.Random(f"tsrt-fuzz/{seed}/{index}")
    kind = KINDS[index % len(KINDS)]
    source = rng.choice(sources)
    data, variant = MUTATIONS[kind](rng, source)
    return Case(seed, index, kind, source.path, variant, data)


def make_cases(sources: Sequence[Path | Source], n: int, seed: int, start: int = 0) -> list[Case]:
    """Cases start .. start+n-1 of `seed`, made from the zoo exports `sources`."""
    loaded = sorted((s if isinstance(s, Source) else Source.read(Path(s)) for s in sources), key=lambda s: str(s.path))
    return [make_case(loaded, seed, index) for index in range(start, start + n)]


def goes_to_infer(case: Case, infer_share: float) -> bool:
    """Whether the case runs through ./infer: a fixed draw per (seed, index)."""
    return random.Random(f"tsrt-fuzz-route/{case.seed}/{case.index}").random() < infer_share


# --------------------------------------------------------------------------- running


@dataclass
class Result:
    outcome: str
    stage: str  # load, verify, run (the worker); infer; worker (it died or stopped answering)
    detail: str
    route: str = "worker"
    seconds: float = 0.0


# Runs in the worker process: one JSON request per stdin line, one JSON result per stdout line.
WORKER = r'''
import io, json, os, sys
out = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # stray prints (C++ or Python) go to stderr, not into the protocol
import numpy as np
import torch
import tsrt

ORIGINALS = {}

def short(error):
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else ""

def original(source):
    """The original's golden inputs, its outputs on them, and its tolerance."""
    if source not in ORIGINALS:
        model = tsrt.load(source)
        metadata = model.metadata
        pairs = []
        for pair in metadata["golden"]:
            inputs = [torch.from_numpy(np.load(io.BytesIO(model.extra_files[name]))) for name in pair["inputs"]]
            pairs.append((pair["method"], inputs, model.run(pair["method"], *inputs)))
        ORIGINALS[source] = (pairs, metadata["tolerance"])
    return ORIGINALS[source]

def close(a, b, tolerance):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
        return False
    try:
        torch.testing.assert_close(a, b, atol=tolerance["atol"], rtol=tolerance["rtol"], equal_nan=True)
        return True
    except (AssertionError, TypeError, ValueError):
        return False

def differs_from_original(model, source):
    """None when the model gives the original's outputs on the original's golden inputs."""
    pairs, tolerance = original(source)
    for index, (method, inputs, expected) in enumerate(pairs):
        if not close(model.run(method, *inputs), expected, tolerance):
            return f"pair {index}: outputs differ from the original model's"
    return None

def check(path, source):
    try:
        model = tsrt.load(path)
    except tsrt.Error as error:
        return {"outcome": "error", "stage": "load", "detail": f"[{error.code}] {short(error)}"}
    except Exception as error:
        return {"outcome": "unclean", "stage": "load", "detail": f"{type(error).__name__}: {short(error)}"}
    try:
        checks = model.verify()
        why = ""
    except tsrt.Error as error:
        checks, why = None, f"verify: [{error.code}] {short(error)}"
    except Exception as error:
        return {"outcome": "unclean", "stage": "verify", "detail": f"{type(error).__name__}: {short(error)}"}
    if checks and all(c["passed"] for c in checks):
        return {"outcome": "same", "stage": "verify", "detail": ""}
    if checks:
        failed = [c for c in checks if not c["passed"]]
        why = "verify FAIL: " + "; ".join(f"pair {c['pair']} {c['path']}: {c['detail']}" for c in failed[:4])
    # The golden replay could not run, or failed: compare with the original model directly.
    try:
        difference = differs_from_original(model, source)
    except tsrt.Error as error:
        if checks:
            return {"outcome": "corrupt", "stage": "verify",
                    "detail": f"{why} (and it fails on the original's inputs: {short(error)})"}
        return {"outcome": "error", "stage": "run", "detail": f"{why}; run: [{error.code}] {short(error)}"}
    except Exception as error:
        return {"outcome": "unclean", "stage": "run", "detail": f"{why}; run: {type(error).__name__}: {short(error)}"}
    if checks:
        note = difference or "only the golden records look damaged: the model gives the original's outputs"
        return {"outcome": "corrupt", "stage": "verify", "detail": f"{why} ({note})"}
    if difference:
        return {"outcome": "corrupt", "stage": "run", "detail": f"{why}; {difference}"}
    return {"outcome": "same", "stage": "run",
            "detail": f"{why}; the original's golden inputs give the original's outputs"}

print(json.dumps({"ready": True}), file=out)
for line in sys.stdin:
    request = json.loads(line)
    try:
        result = check(request["path"], request["source"])
    except Exception as error:
        result = {"outcome": "unclean", "stage": "worker", "detail": f"{type(error).__name__}: {short(error)}"}
    print(json.dumps(result), file=out)
'''


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Worker:
    """A long-lived `python -c WORKER` that loads and verifies one file per request."""

    def __init__(self, python: str = sys.executable, start_timeout: float = 180.0) -> None:
        self._python = python
        self._start_timeout = start_timeout
        self._process: subprocess.Popen | None = None
        self.restarts = 0

    def _start(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen([self._python, "-c", WORKER], cwd=ROOT, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1,
                                         errors="replace")
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self._process, self._lines), daemon=True).start()
        try:
            ready = self._lines.get(timeout=self._start_timeout)
        except queue.Empty:
            ready = None
        if ready is None:
            self._stop()
            raise RuntimeError(f"the fuzz worker did not start:\n{self._stderr_tail()}")

    @staticmethod
    def _pump(process: subprocess.Popen, lines: queue.Queue) -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def _stderr_tail(self, limit: int = 1500) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read().decode("utf-8", "replace").strip()

    def _stop(self) -> int | None:
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.kill()
        code = self._process.wait()
        self._process = None
        return code

    def check(self, path: Path, source: Path, timeout: float) -> Result:
        if self._process is None:
            self._start()
        request = json.dumps({"path": str(path), "source": str(source)}) + "\n"
        try:
            self._process.stdin.write(request)
            self._process.stdin.flush()
            line = self._lines.get(timeout=timeout)
        except BrokenPipeError:
            line = None
        except queue.Empty:
            self._stop()
            self.restarts += 1
            return Result("hang", "worker", f"no answer in {timeout:g} s; worker killed")
        if line is None:
            code = self._process.wait()
            tail = self._stderr_tail(600).replace("\n", " | ")
            self._stop()
            self.restarts += 1
            how = f"killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
            return Result("crash", "worker", f"worker {how}; stderr: {tail}")
        return Result(**json.loads(line))

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def run_infer(path: Path, timeout: float) -> Result:
    """`./infer FILE --verify` as its own process."""
    try:
        done = subprocess.run([str(INFER), str(path), "--verify"], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result("hang", "infer", f"no exit in {timeout:g} s; killed", route="infer")
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace").strip()
    first = stderr.splitlines()[0][:300] if stderr else ""
    code = done.returncode
    if code < 0:
        return Result("crash", "infer", f"killed by {_signal_name(-code)}; stderr: {stderr[-600:]}", route="infer")
    if code == 0:
        return Result("same", "infer", "", route="infer")
    if code == 1 and "FAIL" in stdout:
        failed = [line.strip() for line in stdout.splitlines() if line.strip().startswith("FAIL")]
        return Result("corrupt", "infer", "; ".join(failed[:4]), route="infer")
    if code in (1, 2) and "infer: error:" in stderr:
        return Result("error", "infer", first, route="infer")
    return Result("unclean", "infer", f"exit {code}: {first or stdout[-300:]}", route="infer")


@dataclass
class CaseResult:
    case: Case
    result: Result

    def to_json(self) -> dict:
        return {"seed": self.case.seed, "index": self.case.index, "kind": self.case.kind,
                "source": str(self.case.source), "variant": self.case.variant, **asdict(self.result)}


@dataclass
class FuzzReport:
    """Everything run_cases saw."""

    results: list[CaseResult]
    seconds: float
    worker_restarts: int = 0

    @property
    def by_outcome(self) -> Counter:
        return Counter(r.result.outcome for r in self.results)

    def _outcomes_by(self, key: Callable[[CaseResult], str]) -> dict[str, Counter]:
        table: dict[str, Counter] = {}
        for r in self.results:
            table.setdefault(key(r), Counter())[r.result.outcome] += 1
        return table

    @property
    def by_kind(self) -> dict[str, Counter]:
        return self._outcomes_by(lambda r: r.case.kind)

    @property
    def by_route(self) -> dict[str, Counter]:
        return self._outcomes_by(lambda r: r.result.route)

    @property
    def findings(self) -> list[CaseResult]:
        return [r for r in self.results if r.result.outcome in BAD_OUTCOMES]

    def to_json(self, with_results: bool = False) -> dict:
        out = {"cases": len(self.results), "seconds": round(self.seconds, 1), "worker_restarts": self.worker_restarts,
                "by_outcome": {o: self.by_outcome[o] for o in OUTCOMES},
                "by_kind": {k: {o: c[o] for o in OUTCOMES} for k, c in self.by_kind.items()},
                "by_route": {k: {o: c[o] for o in OUTCOMES} for k, c in self.by_route.items()},
                "findings": [f.to_json() for f in self.findings]}
        if with_results:
            out["results"] = [r.to_json() for r in self.results]
        return out


def reproduce_command(case: Case, path: Path, route: str) -> str:
    if route == "infer":
        return f"./infer {path} --verify"
    return f".venv/bin/python -c \"import tsrt; print(tsrt.load('{path}').verify())\""


def _keep(case: Case, result: Result, keep: Path) -> Path:
    keep.mkdir(parents=True, exist_ok=True)
    path = keep / case.name
    path.write_bytes(case.data)
    note = {**CaseResult(case, result).to_json(), "file": str(path),
            "rebuild": f"python scripts/fuzz_loader.py --seed {case.seed} --index {case.index} --keep {keep}",
            "reproduce": reproduce_command(case, path, result.route)}
    path.with_suffix(".json").write_text(json.dumps(note, indent=1) + "\n")
    return path


def run_cases(cases: Sequence[Case], infer_share: float = 0.1, timeout: float = 20.0, *,
              keep: Path | None = None, keep_all: bool = False,
              progress: Callable[[str], None] | None = None) -> FuzzReport:
    """Runs every case (through the worker, or ./infer for `infer_share` of them) and counts outcomes.

    keep: a folder where the files of corrupt/crash/hang/unclean cases (all cases with
    keep_all) are saved with a .json note saying how to rebuild and rerun them.
    """
    start = time.monotonic()
    results: list[CaseResult] = []
    worker = Worker()
    with tempfile.TemporaryDirectory(prefix="tsrt-fuzz-") as scratch:
        try:
            for number, case in enumerate(cases, 1):
                path = Path(scratch) / case.name
                path.write_bytes(case.data)
                began = time.monotonic()
                if goes_to_infer(case, infer_share):
                    result = run_infer(path, timeout)
                else:
                    result = worker.check(path, case.source, timeout)
                result.seconds = round(time.monotonic() - began, 3)
                results.append(CaseResult(case, result))
                path.unlink()
                if keep is not None and (keep_all or result.outcome in BAD_OUTCOMES):
                    _keep(case, result, keep)
                if progress and (number % 100 == 0 or number == len(cases)):
                    counts = Counter(r.result.outcome for r in results)
                    progress(f"[{number}/{len(cases)}] {time.monotonic() - start:.0f} s  " +
                             "  ".join(f"{o} {counts[o]}" for o in OUTCOMES))
        finally:
            worker.close()
    return FuzzReport(results, time.monotonic() - start, worker.restarts)


# --------------------------------------------------------------------------- CLI


def export_sources(work: Path, names: Sequence[str]) -> list[Path]:
    """Exports the zoo models `names` (mode auto) into work/, reusing files already there."""
    sys.path.insert(0, str(ROOT))  # models/ lives at the repo root
    from tsrt import zoo
    
    paths = []
    for name in names:
        path = work / f"{name}.auto.pt"
        if not path.exists():
            zoo.get(name).export(path, "auto")
        paths.append(path)
    return paths


def format_table(report: FuzzReport) -> str:
    width = max(len(k) for k in KINDS + ("total",))
    header = f"{'kind':<{width}}  {'cases':>5}  " + "  ".join(f"{o:>7}" for o in OUTCOMES)
    lines = [header, "-" * len(header)]
    by_kind = report.by_kind
    for kind in KINDS:
        counts = by_kind.get(kind, Counter())
        lines.append(f"{kind:<{width}}  {sum(counts.values()):>5}  " + "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    lines.append("-" * len(header))
    total = report.by_outcome
    lines.append(f"{'total':<{width}}  {len(report.results):>5}  " + "  ".join(f"{total[o]:>7}" for o in OUTCOMES))
    for route, counts in sorted(report.by_route.items()):
        lines.append(f"{'via ' + route:<{width}}  {sum(counts.values()):>5}  " +
                     "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    return "\n".join(lines)


def format_findings(report: FuzzReport, keep: Path | None) -> str:
    lines = []
    for finding in report.findings:
        case, result = finding.case, finding.result
        lines.append(f"{result.outcome.upper()}  seed {case.seed} index {case.index}  {case.kind} of "
                     f"{case.source.name}  via {result.route}: {case.variant}")
        lines.append(f"    {result.detail}")
        if keep is not None:
            path = keep / case.name
            lines.append(f"    saved as {path}; rerun: {reproduce_command(case, path, result.route)}")
        lines.append(f"    rebuild: python scripts/fuzz_loader.py --seed {case.seed} --index {case.index} --keep DIR")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="example: python scripts/fuzz_loader.py --cases 2000 --seed 0 --keep /tmp/fuzz_findings")
    parser.add_argument("--cases", type=int, default=2000, help="how many cases (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int,
                        help="run only case INDEX of --seed (saved to --keep whatever its outcome)")
    parser.add_argument("--infer-share", type=float, default=0.1, help="share of cases run through ./infer --verify")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--keep", type=Path, help="save the files of corrupt/crash/hang/unclean cases here")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="zoo models to mutate (comma-separated)")
    parser.add_argument("--work", type=Path, help="where the zoo exports go (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the report, every case included, as JSON")
    parser.add_argument("--infer", type=Path, help="the infer binary to fuzz (default ./infer; e.g. a sanitizer build)")
    args = parser.parse_args(argv)

    if args.infer is not None:
        global INFER
        INFER = args.infer.resolve()
    with tempfile.TemporaryDirectory(prefix="tsrt-fuzz-zoo-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        print(f"exporting {args.models} into {work}", file=sys.stderr)
        sources = export_sources(work, args.models.split(","))
        if args.index is not None:
            cases = make_cases(sources, 1, args.seed, start=args.index)
        else:
            cases = make_cases(sources, args.cases, args.seed)
        say = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
        report = run_cases(cases, args.infer_share, args.timeout, keep=args.keep,
                           keep_all=args.index is not None and args.keep is not None, progress=say)

    if args.json:
        print(json.dumps({"seed": args.seed, **report.to_json(with_results=True)}, indent=1))
    elif args.index is not None:
        finding = report.results[0]
        print(json.dumps(finding.to_json(), indent=1))
        if args.keep is not None:
            print(f"saved as {args.keep / finding.case.name}")
    else:
        print(format_table(report))
        print(f"{len(report.results)} cases in {report.seconds:.0f} s (seed {args.seed}, "
              f"{report.worker_restarts} worker restarts)")
        if report.findings:
            print(f"\n{len(report.findings)} findings:")
            print(format_findings(report, args.keep))
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
