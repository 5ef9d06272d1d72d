"""Mutations aimed at AOTInductor packages (.pt2): the compiled library (which the
loader dlopens, and which carries the weights at its end), the metadata, the golden
pairs, and entries whose names or attributes try to write outside the folder the
package is extracted into, or that inflate to far more than they claim. The generic
zip mutations (truncation, central directory, end records, removed and duplicated
entries) apply to packages unchanged."""

from __future__ import annotations

import functools
import random
import struct
import zlib

from .mutators import (Source, flip, flip_in_data, mutate_duplicate_entry, mutate_flip_central, mutate_flip_end,
                       mutate_huge_field, mutate_remove_entry, mutate_reorder_entries, mutate_truncate)
from .zip_layout import parts, rebuild

# Where an escaping entry would land: the runner looks for files of this prefix
# after every case; finding one is an escape, counted as corrupt.
ESCAPE_PREFIX = "tsrt-fuzz-escape-"

S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFCHR = 0o020000


def evil_names(top: str, tag: str) -> list[tuple[str, str]]:
    """(name, what) of entry names that reach outside the extraction folder, or are not
    file names at all. `top` is the archive's top folder, `tag` makes the target unique."""
    target = f"tmp/{ESCAPE_PREFIX}{tag}.so"
    deep = f"{top}/data/aotinductor/model/"
    return [
        (deep + "../" * 12 + target, "climbs out with ../"),
        (f"/{target}", "absolute"),
        (deep + "..\\" * 12 + target.replace("/", "\\"), "climbs out with backslashes"),
        (f"{top}//data/.//..//..//../{target}", "climbs out with . and repeated slashes"),
        (f"C:/{target}", "drive letter"),
        (f"c:{target}", "drive-relative"),
        (f"{top}/data/aotinductor/model/x\x00.so", "NUL byte"),
        (f"{top}/./.././../{target}", "climbs out after ."),
        ("..", "is .. itself"),
    ]


def entry_parts(name: bytes, data: bytes, *, method: int = 0, declared: int | None = None,
                       external: int = 0, made_by: int = 0x031E) -> tuple[bytes, bytes]:
    """A local part and central record (offset 0: rebuild() places it) for one entry."""
    crc = zlib.crc32(data)
    if method == 8:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = compressor.compress(data) + compressor.flush()
    else:
        payload = data
    size = len(data) if declared is None else declared
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(payload), size, len(name), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, made_by, 20, 0, method, 0, 0, crc, len(payload), size,
                          len(name), 0, 0, 0, 0, external, 0)
    return local + name + payload, central + name


def with_entry_added(source: Source, local: bytes, central: bytes, where: int) -> bytes:
    locals_, centrals = parts(source.data, source.layout)
    locals_.append(("extra", local))
    centrals.insert(where, ("extra", central))
    return rebuild(source.data, source.layout, locals_, centrals)


def _top(source: Source) -> str:
    return source.layout.entries[0].name.split("/", 1)[0]


def mutate_evil_name(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """A valid package plus one entry that tries to write outside the extraction folder."""
    tag = f"{rng.randrange(1 << 30):08x}"
    name, what = rng.choice(evil_names(_top(source), tag))
    local, central = entry_parts(name.encode("utf-8"), b"\x7fELF escaped")
    where = rng.randrange(len(source.layout.entries) + 1)
    return with_entry_added(source, local, central, where), f"added an entry whose name {what}: {name!r}"


def mutate_special_entry(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """An entry that is a symlink (or a device) by its Unix mode, with an innocent name."""
    top = _top(source)
    kind, mode = rng.choice([("a symlink", S_IFLNK | 0o777), ("a character device", S_IFCHR | 0o600)])
    name = f"{top}/data/aotinductor/model/link{rng.randrange(100)}.so"
    local, central = entry_parts(name.encode(), f"/tmp/{ESCAPE_PREFIX}link".encode(), external=mode << 16)
    where = rng.randrange(len(source.layout.entries) + 1)
    return with_entry_added(source, local, central, where), f"added {name}, {kind} (mode {mode:o})"


def mutate_non_utf8_name(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """An entry whose name is not UTF-8 (and holds control bytes): refused or ignored, never printed raw."""
    top = _top(source)
    raw = bytes(rng.choice([0x80, 0xAC, 0xFF, 0xC3, 0x1B, 0x07]) for _ in range(rng.randint(1, 4)))
    name = f"{top}/".encode() + raw + b"ase/data/1"
    local, central = entry_parts(name, rng.randbytes(16))
    locals_, centrals = parts(source.data, source.layout)
    roll = rng.random()
    if roll < 0.5:
        # The local header names something else: the check names the entry in its message.
        local = local[:30] + b"x" + local[31:]
        how = "whose local header names another entry"
    else:
        how = "otherwise valid"
    locals_.append(("extra", local))
    centrals.insert(rng.randrange(len(centrals) + 1), ("extra", central))
    return rebuild(source.data, source.layout, locals_, centrals), f"added an entry named {name!r}, {how}"


@functools.lru_cache(maxsize=None)
def zeros_deflated(size: int) -> tuple[bytes, int]:
    """`size` zero bytes, raw-deflated (about 1/1000 of the size), and their CRC-32."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    payload = b"".join(compressor.compress(chunk) for _ in range(size >> 20)) + compressor.flush()
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(chunk, crc)
    return payload, crc


def mutate_zip_bomb(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """A deflated entry whose bytes inflate far beyond what it declares (or that declares
    far more than deflate can expand)."""
    top = _top(source)
    inflated = rng.choice([64 << 20, 256 << 20])
    name = f"{top}/extra/bomb{rng.randrange(100)}.bin"
    roll = rng.random()
    payload, crc = zeros_deflated(inflated)
    declared = rng.choice([100, 4096, 1 << 20]) if roll < 0.6 else (1 << 32) - 1
    what = f"declares {declared} bytes" if roll < 0.6 else "declares 4 GiB"
    encoded = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(payload), declared, len(encoded), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 8, 0, 0, crc, len(payload), declared,
                          len(encoded), 0, 0, 0, 0, 0, 0)
    data = with_entry_added(source, local + encoded + payload, central + encoded, rng.randrange(len(source.layout.entries) + 1))
    return data, f"added {name}: {len(payload)} deflated bytes that inflate to {inflated >> 20} MiB, {what}"


def _entries_matching(source: Source, *suffixes: str):
    return [e for e in source.layout.entries if e.data_size and e.name.endswith(suffixes)]


def mutate_flip_library(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Bytes of the compiled library: code, or (its last quarter) the weights appended to it."""
    libraries = _entries_matching(source, ".so")
    entry = rng.choice(libraries)
    if rng.random() < 0.5:
        start = entry.data_offset + entry.data_size * 3 // 4
        positions = [start + rng.randrange(entry.data_size - entry.data_size * 3 // 4) for _ in range(rng.choice((1, 2)))]
        data, how = flip(rng, source.data, source.layout, positions)
        return data, how + " (the weights at the end of the library)"
    return flip_in_data(rng, source, libraries)


def mutate_flip_metadata(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Bytes of tsrt.json or the loader's *_metadata.json (device, call spec)."""
    return flip_in_data(rng, source, _entries_matching(source, ".json") or list(source.layout.entries))


def mutate_flip_golden(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Bytes of a golden input or output (.npy): the replay must fail, never pass."""
    return flip_in_data(rng, source, _entries_matching(source, ".npy") or list(source.layout.entries))


def mutate_flip_sources(rng: random.Random, source: Source) -> tuple[bytes, str]:
    """Bytes of the C++ sources kept beside the library (the loader does not compile them)."""
    return flip_in_data(rng, source, _entries_matching(source, ".cpp") or list(source.layout.entries))


PT2_MUTATIONS = {
    "truncate": mutate_truncate,
    "flip_library": mutate_flip_library,
    "flip_metadata": mutate_flip_metadata,
    "flip_golden": mutate_flip_golden,
    "flip_sources": mutate_flip_sources,
    "flip_central": mutate_flip_central,
    "flip_end": mutate_flip_end,
    "remove_entry": mutate_remove_entry,
    "duplicate_entry": mutate_duplicate_entry,
    "reorder_entries": mutate_reorder_entries,
    "huge_field": mutate_huge_field,
    "evil_name": mutate_evil_name,
    "special_entry": mutate_special_entry,
    "non_utf8_name": mutate_non_utf8_name,
    "zip_bomb": mutate_zip_bomb,
}
PT2_KINDS = tuple(PT2_MUTATIONS)
