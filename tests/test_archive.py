"""Damaged model files are refused before LibTorch reads them, with the damaged
entry named: LibTorch itself loads a file whose weight bytes changed, silently."""

from __future__ import annotations

import random
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

import tsrt
from errors import raises_tsrt


@pytest.fixture(scope="module")
def linear_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "linear.pt"
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(torch.nn.Linear(8, 8)), str(path))
    return path


def entry_data_offset(path: Path, suffix: str) -> int:
    data = path.read_bytes()
    info = next(i for i in zipfile.ZipFile(path).infolist() if i.filename.endswith(suffix))
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_length + extra_length


def test_flipped_weight_byte_is_refused_naming_the_entry(linear_file, tmp_path):
    data = bytearray(linear_file.read_bytes())
    data[entry_data_offset(linear_file, "data/0") + 3] ^= 0x10
    damaged = tmp_path / "flipped.pt"
    damaged.write_bytes(bytes(data))
    # The trap is real: LibTorch loads it and computes with the changed weight.
    changed = torch.jit.load(str(damaged)).weight
    assert not torch.equal(changed, torch.jit.load(str(linear_file)).weight)
    with raises_tsrt("invalid_model", "linear/data/0", "CRC-32"):
        tsrt.load(damaged)


def test_flipped_byte_in_a_frozen_weight_is_refused(tmp_path):
    """A frozen module (every tsrt export) keeps its weights as constants/N records,
    checked beside the load like data/N."""
    path = tmp_path / "frozen.pt"
    torch.manual_seed(0)
    torch.jit.save(torch.jit.freeze(torch.jit.script(torch.nn.Linear(8, 8).eval())), str(path))
    names = [i.filename for i in zipfile.ZipFile(path).infolist()]
    assert "frozen/constants/0" in names and not any("/data/" in n for n in names)
    data = bytearray(path.read_bytes())
    data[entry_data_offset(path, "constants/0") + 5] ^= 0x01
    damaged = tmp_path / "frozen_flipped.pt"
    damaged.write_bytes(bytes(data))
    with raises_tsrt("invalid_model", "frozen/constants/0", "CRC-32"):
        tsrt.load(damaged)
    tsrt.load(damaged, verify_checksums=False)  # the switch really turns the check off


@pytest.mark.parametrize("keep", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_truncated_files_are_refused(linear_file, tmp_path, keep):
    data = linear_file.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: int(len(data) * keep)])
    with raises_tsrt("invalid_model", "cut.pt"):
        tsrt.load(path)


def test_duplicated_entry_is_refused(linear_file, tmp_path):
    path = tmp_path / "dup.pt"
    with zipfile.ZipFile(linear_file) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the point
            target.writestr("linear/constants.pkl", b"\x80\x02).")
    with raises_tsrt("invalid_model", "appears twice"):
        tsrt.load(path)


def test_zip_of_other_things_and_random_bytes(tmp_path):
    other = tmp_path / "other.pt"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with raises_tsrt("invalid_model", "neither a TorchScript file"):
        tsrt.load(other)
    rng = random.Random(0)
    for i in range(20):
        noise = tmp_path / f"noise{i}.pt"
        noise.write_bytes(b"PK\x03\x04" + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 4000))))
        with raises_tsrt("invalid_model"):
            tsrt.load(noise)
