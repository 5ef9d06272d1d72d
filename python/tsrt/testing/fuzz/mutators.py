"""Mutations of a model file: each takes an RNG and a Source (a zoo export) and
returns the damaged bytes and a sentence saying what was done. Case INDEX of seed
SEED is the same mutation on every run, so a finding can be rebuilt."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .zip_layout import (CENTRAL_FIELDS, END_FIELDS, END_SIGNATURE, LOCAL_FIELDS, LOCAL_SIGNATURE,
                         ZIP64_END_FIELDS, ZIP64_LOCATOR_FIELDS, ZipEntry, ZipLayout, parse_zip, parts, patch,
                         rebuild, region_of)

DEFAULT_MODELS = ("mlp", "resnet_cnn", "gru_seq", "multi_io", "mixed_outputs")
KINDS = (
    "truncate", "flip_any", "flip_data", "flip_compressed", "flip_local", "flip_central", "flip_end",
    "remove_entry", "duplicate_entry", "reorder_entries", "other_zip", "empty", "huge_field", "random_bytes",
    "ambiguous",
)


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
        return f"case-{self.seed}-{self.index:05d}-{self.kind}{self.source.suffix or '.pt'}"


def flip(rng: random.Random, data: bytes, layout: ZipLayout, positions: Iterable[int]) -> tuple[bytes, str]:
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
    return flip(rng, data, source.layout, (rng.randrange(len(data)) for _ in range(_flip_count(rng))))


def flip_in_data(rng: random.Random, source: Source, entries: Sequence[ZipEntry]) -> tuple[bytes, str]:
    entry = rng.choice(entries)
    count = rng.choice((1, 1, 2, 3))
    positions = (entry.data_offset + rng.randrange(entry.data_size) for _ in range(count))
    return flip(rng, source.data, source.layout, positions)


def mutate_flip_data(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Inside the bytes of a tensor storage (data/N, or constants/N of a frozen model)."""
    tensors = [e for e in source.layout.entries
               if e.data_size and e.record.startswith(("data/", "constants/"))]
    return flip_in_data(rng, source, tensors or [e for e in source.layout.entries if e.data_size])


def mutate_flip_compressed(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Inside a deflated entry (code/*.py, *.debug_pkl): the archive check has no CRC for these."""
    deflated = [e for e in source.layout.entries if e.data_size and e.method != 0]
    return flip_in_data(rng, source, deflated or [e for e in source.layout.entries if e.data_size])


def mutate_flip_local(rng: random.Random, source: Source) -> tuple[bytes, str]:
    entry = rng.choice(source.layout.entries)
    span = 30 if rng.random() < 0.5 else entry.header_length  # the fixed fields, or name and extra too
    positions = [entry.local_offset + rng.randrange(span) for _ in range(rng.choice((1, 1, 2)))]
    return flip(rng, source.data, source.layout, positions)


def mutate_flip_central(rng: random.Random, source: Source) -> tuple[bytes, str]:
    entry = rng.choice(source.layout.entries)
    span = 46 if rng.random() < 0.5 else entry.central_length
    positions = [entry.central_offset + rng.randrange(span) for _ in range(rng.choice((1, 1, 2)))]
    return flip(rng, source.data, source.layout, positions)


def mutate_flip_end(rng: random.Random, source: Source) -> tuple[bytes, str]:
    layout = source.layout
    regions = [(layout.end_offset, len(source.data) - layout.end_offset)]
    if layout.zip64_end_offset is not None:
        regions += [(layout.zip64_end_offset, layout.zip64_locator_offset - layout.zip64_end_offset),
                    (layout.zip64_locator_offset, layout.end_offset - layout.zip64_locator_offset)]
    start, length = rng.choice(regions)
    positions = [start + rng.randrange(length) for _ in range(rng.choice((1, 1, 2)))]
    return flip(rng, source.data, layout, positions)


def mutate_remove_entry(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data, layout = source.data, source.layout
    locals_, centrals = parts(data, layout)
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
    local = patch(local, 26, 2, len(new_bytes))
    local = local[:30] + new_bytes + local[30 + len(old_bytes):]
    central = patch(central, 28, 2, len(new_bytes))
    central = central[:46] + new_bytes + central[46 + len(old_bytes):]
    return local, central


def mutate_duplicate_entry(rng: random.Random, source: Source) -> tuple[bytes, str]:
    data, layout = source.data, source.layout
    locals_, centrals = parts(data, layout)
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
    locals_, centrals = parts(data, layout)
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
    return patch(data, at, width, value), f"set the {label} of the {where} (byte {at}) to {value:#x}"


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
    locals_, centrals = parts(data, layout)
    roll = rng.random()
    if roll < 0.5 or layout.zip64_end_offset is None:
        new_name = _other_case(rng, entry.name)
        changed = rng.random() < 0.8
        local, central = dict(locals_)[index], dict(centrals)[index]
        if changed:
            local, new_data, crc = _changed_copy(rng, data, entry)
            central = patch(central, 16, 4, crc)
            if local[entry.header_length + entry.data_size:][:4] == b"PK\x07\x08":  # the data descriptor's CRC too
                local = patch(local, entry.header_length + entry.data_size + 4, 4, crc)
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
            record = patch(record, 42, 4, len(body))
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
        zip64_end = patch(zip64_end, offset, 8, value)
    zip64_offset = len(out)
    out += zip64_end + patch(data[layout.zip64_locator_offset:layout.end_offset], 8, 8, zip64_offset)
    end = patch(data[layout.end_offset:], 16, 4, len(body))
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


Mutations = dict[str, Callable[[random.Random, Source], tuple[bytes, str]]]


def make_case(sources: Sequence[Source], seed: int, index: int, mutations: Mutations | None = None) -> Case:
    """Case `index` of `seed`: the kinds take turns, everything else comes from the case's own RNG.
    `mutations`: MUTATIONS (TorchScript files, the default) or PT2_MUTATIONS (packages)."""
    mutations = MUTATIONS if mutations is None else mutations
    kinds = tuple(mutations)
    rng = random.Random(f"tsrt-fuzz/{seed}/{index}")
    kind = kinds[index % len(kinds)]
    source = rng.choice(sources)
    data, variant = mutations[kind](rng, source)
    return Case(seed, index, kind, source.path, variant, data)


def make_cases(sources: Sequence[Path | Source], n: int, seed: int, start: int = 0,
               mutations: Mutations | None = None) -> list[Case]:
    """Cases start .. start+n-1 of `seed`, made from the exports `sources`."""
    loaded = sorted((s if isinstance(s, Source) else Source.read(Path(s)) for s in sources), key=lambda s: str(s.path))
    return [make_case(loaded, seed, index, mutations) for index in range(start, start + n)]


def goes_to_infer(case: Case, infer_share: float) -> bool:
    """Whether the case runs through ./infer: a fixed draw per (seed, index)."""
    return random.Random(f"tsrt-fuzz-route/{case.seed}/{case.index}").random() < infer_share
