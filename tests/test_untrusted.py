"""Untrusted model files (issue 15): a .pt2 package cannot write outside the private
folder tsrt extracts it into; archives that lie about sizes are refused within
bounded memory; messages stay text whatever bytes the file holds; inputs that ask for
more memory than allowed are refused before anything is allocated."""

from __future__ import annotations

import gc
import json
import os
import stat
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import tsrt
from conftest import INFER
from errors import raises_tsrt
from tsrt.testing.fuzz import ESCAPE_PREFIX, Source
from tsrt.testing.fuzz.pt2_mutators import (S_IFCHR, S_IFLNK, entry_parts, evil_names, with_entry_added,
                                            zeros_deflated)


def infer(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    # bytes, not text: the test checks that stderr is UTF-8 instead of assuming it
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, timeout=180, env=env)


@pytest.fixture(scope="module")
def package(aoti_packages) -> Path:
    return aoti_packages["extra_method"]


@pytest.fixture(scope="module")
def script_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("untrusted") / "linear.pt"
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(torch.nn.Linear(4, 4)), str(path))
    return path


def with_entry(source: Path, target: Path, name: bytes, data: bytes = b"\x7fELF", **fields) -> Path:
    """`source` plus one entry named `name` (raw bytes), written to `target`."""
    local, central = entry_parts(name, data, **fields)
    target.write_bytes(with_entry_added(Source.read(source), local, central, where=1))
    return target


def escaped_files() -> list[Path]:
    folders = {Path("/tmp"), Path("/"), Path.cwd()}
    return [p for f in folders for d in (f, f / "tmp") if d.is_dir() for p in d.glob(f"{ESCAPE_PREFIX}*")]


# ---- 1. names that leave the folder ----------------------------------------------------

NAME_FORMS = [(name, what) for name, what in evil_names("forward", "test")]
REASONS = {
    "climbs out with ../": "climbs out of the archive",
    "absolute": "is absolute",
    "climbs out with backslashes": "climbs out of the archive",
    "climbs out with . and repeated slashes": "climbs out of the archive",
    "drive letter": "starts with a drive letter",
    "drive-relative": "starts with a drive letter",
    "NUL byte": "holds a NUL byte",
    "climbs out after .": "climbs out of the archive",
    "is .. itself": "climbs out of the archive",
}


@pytest.mark.parametrize("name,what", NAME_FORMS, ids=[what for _, what in NAME_FORMS])
def test_escaping_entry_names_are_refused(package, tmp_path, name, what):
    evil = with_entry(package, tmp_path / "evil.pt2", name.encode())
    with raises_tsrt("invalid_model", "evil.pt2", REASONS[what], "must stay inside it") as info:
        tsrt.load(evil)
    # The entry is named, escaped: a NUL shows as \x00, never as a raw byte.
    shown = name.replace("\\", "\\x5c").replace("\x00", "\\x00")
    assert f"entry '{shown}'" in str(info.value)
    assert not escaped_files()


@pytest.mark.parametrize("name,what", NAME_FORMS[:3], ids=[what for _, what in NAME_FORMS[:3]])
def test_infer_refuses_escaping_entries(package, tmp_path, name, what):
    evil = with_entry(package, tmp_path / "evil.pt2", name.encode())
    done = infer(evil)
    stderr = done.stderr.decode("utf-8")  # strict: must be UTF-8
    assert done.returncode == 1 and "infer: error:" in stderr and REASONS[what] in stderr, stderr
    assert not escaped_files()


def test_entry_names_that_stay_inside_still_load(package, tmp_path):
    # ".", repeated slashes and a ".." that stays inside normalise to a name inside the folder.
    ok = with_entry(package, tmp_path / "ok.pt2", b"forward/./extra//notes/../readme.txt", b"hello")
    assert tsrt.load(ok).verify()


@pytest.mark.parametrize("mode,what", [(S_IFLNK | 0o777, "is a symbolic link"), (S_IFCHR | 0o600, "is a special file")])
def test_symlink_and_device_entries_are_refused(package, tmp_path, mode, what):
    evil = with_entry(package, tmp_path / "link.pt2", b"forward/data/aotinductor/model/x.so", b"/etc/passwd",
                      external=mode << 16)
    with raises_tsrt("invalid_model", "'forward/data/aotinductor/model/x.so'", what):
        tsrt.load(evil)


def test_symlink_in_a_torchscript_file_is_refused(script_file, tmp_path):
    evil = with_entry(script_file, tmp_path / "link.pt", b"linear/extra/link", b"/etc/passwd", external=S_IFLNK << 16)
    with raises_tsrt("invalid_model", "'linear/extra/link'", "is a symbolic link"):
        tsrt.load(evil)


def test_package_is_extracted_into_a_private_folder_that_is_removed(package, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    model = tsrt.load(package)
    # tsrt's folder (tsrt-pt2-XXXXXX, mode 0700) is gone once the package is loaded, and
    # LibTorch's loader made none of its own: nothing is left while the model serves.
    assert list(tmp_path.iterdir()) == []
    assert model.verify() and all(check["passed"] for check in model.verify())
    del model
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_flipped_library_byte_is_refused_before_it_is_loaded(package, tmp_path, monkeypatch):
    source = Source.read(package)
    library = next(e for e in source.layout.entries if e.name.endswith(".so"))
    data = bytearray(source.data)
    data[library.data_offset + 4096] ^= 0x20
    damaged = tmp_path / "flipped.pt2"
    damaged.write_bytes(bytes(data))
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    with raises_tsrt("invalid_model", library.name, "CRC-32"):
        tsrt.load(damaged)
    # Refused while extracting: the library never reached dlopen, and nothing is left.
    assert str(work) not in Path("/proc/self/maps").read_text()
    assert list(work.iterdir()) == []


def test_package_with_sources_only_is_refused(package, tmp_path):
    """Without a .so the loader would run the compiler command the package names."""
    source = Source.read(package)
    from tsrt.testing.fuzz.zip_layout import parts, rebuild

    locals_, centrals = parts(source.data, source.layout)
    drop = {i for i, e in enumerate(source.layout.entries) if e.name.endswith(".so") and "/model/" in e.name}
    path = tmp_path / "sources.pt2"
    path.write_bytes(rebuild(source.data, source.layout, [p for p in locals_ if p[0] not in drop],
                             [c for c in centrals if c[0] not in drop]))
    with raises_tsrt("unsupported", "model 'model' has no compiled library", "does not run a compiler"):
        tsrt.load(path)


# ---- 2. sizes that lie ------------------------------------------------------------------


def bomb_entry(name: bytes, inflated: int, declared: int) -> tuple[bytes, bytes]:
    payload, crc = zeros_deflated(inflated)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(payload), declared, len(name), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 8, 0, 0, crc, len(payload), declared,
                          len(name), 0, 0, 0, 0, 0, 0)
    return local + name + payload, central + name


PEAK_MEMORY = textwrap.dedent("""
    import resource, sys, tsrt
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        tsrt.load(sys.argv[1])
        print("LOADED")
    except tsrt.Error as error:
        print(error)
    print("GROWTH_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
""")


@pytest.mark.parametrize("declared,message", [
    (4096, "inflates to more than its recorded 4096 bytes (a zip bomb?)"),
    ((1 << 32) - 1, "more than the 1024 MiB any model record needs"),
    (600 << 20, "more than deflate can expand (a zip bomb?)"),
])
def test_zip_bomb_is_refused_within_bounded_memory(script_file, tmp_path, declared, message):
    # 512 MiB of zeros in ~0.5 MiB of deflate, declaring `declared` bytes.
    local, central = bomb_entry(b"linear/extra/bomb.bin", 512 << 20, declared)
    if declared == 600 << 20:  # beyond the ratio: keep only 1/4 of the compressed bytes
        local = local[:len(local) - (len(local) - 30 - 21) * 3 // 4]
        central = central[:20] + struct.pack("<I", len(local) - 30 - 21) + central[24:]
        local = local[:18] + struct.pack("<I", len(local) - 30 - 21) + local[22:]
    bomb = tmp_path / "bomb.pt"
    bomb.write_bytes(with_entry_added(Source.read(script_file), local, central, where=1))
    assert bomb.stat().st_size < 2 << 20
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(bomb)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LOADED" not in done.stdout and "'linear/extra/bomb.bin'" in done.stdout and message in done.stdout, \
        done.stdout
    growth_mib = int(done.stdout.split("GROWTH_KIB")[1]) / 1024
    # Inflated in 32 KiB windows: the 512 MiB never exist in memory at once.
    assert growth_mib < 64, f"peak memory grew by {growth_mib:.0f} MiB"


# ---- 4. messages stay text ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"\xac", b"\xff\xfe", b"\xc3", b"\x1b[31m", b"\xed\xa0\x80"])
def test_non_utf8_entry_names_are_escaped_in_every_message(script_file, tmp_path, raw):
    name = b"linear/" + raw + b"ase/data/1"
    local, central = entry_parts(name, b"0123456789abcdef")
    local = local[:30] + b"X" + local[31:]  # the local header names another entry
    bad = tmp_path / "name.pt"
    bad.write_bytes(with_entry_added(Source.read(script_file), local, central, where=1))
    escaped = "".join(f"\\x{b:02x}" for b in raw) if raw != b"\x1b[31m" else "\\x1b[31m"
    with raises_tsrt("invalid_model", f"the local header of 'linear/{escaped}ase/data/1' names another entry") as info:
        tsrt.load(bad)
    str(info.value).encode("utf-8")
    done = infer(bad, "--json")
    stderr = done.stderr.decode("utf-8")  # strict: raises on a raw byte
    assert done.returncode == 1 and f"'linear/{escaped}ase/data/1'" in stderr and "\x1b" not in stderr, stderr


def test_non_utf8_file_name_is_escaped(script_file, tmp_path):
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/model\xff.pt"))
    odd.write_bytes(script_file.read_bytes()[:100])
    with raises_tsrt("invalid_model", "model\\xff.pt") as info:
        tsrt.load(odd)
    str(info.value).encode("utf-8")
    done = infer(odd)
    assert done.returncode == 1 and "model\\xff.pt" in done.stderr.decode("utf-8")


# ---- 5. inputs that ask for too much -----------------------------------------------------


def test_huge_shape_is_refused_before_allocating(script_file):
    done = infer(script_file, "--shape", "input=100000x100000x100")
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 2, stderr
    assert "input 'input': shape 100000x100000x100 needs 3.6 TiB (4000000000000 bytes)" in stderr
    assert "of memory available now; give a smaller shape" in stderr


def test_input_limit_is_configurable(script_file):
    done = infer(script_file, "--shape", "input=64x4", "--max-input-bytes", "512")
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 2 and "needs 1.0 KiB (1024 bytes), more than the input limit of 512 bytes" in stderr, stderr
    assert "--max-input-bytes" in stderr
    assert infer(script_file, "--shape", "input=32x4", "--max-input-bytes", "512").returncode == 0


def test_npy_header_claiming_terabytes_is_refused_before_reading(script_file, tmp_path):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    huge = tmp_path / "huge.npy"
    huge.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(64))
    done = infer(script_file, "--input", f"input={huge}")
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 2, stderr
    assert f"{huge}: shape 1000000x1000000 needs 3.6 TiB (4000000000000 bytes)" in stderr
    done = infer(script_file, "--input", f"input={huge}", "--max-input-bytes", "1000")
    assert done.returncode == 2 and "more than the input limit of 1000 bytes" in done.stderr.decode("utf-8")
