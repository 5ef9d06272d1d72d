"""The same model exported twice gives byte-identical files.

torch stores a file's name inside its archive (every entry under `<stem>/`): export
stages the file under the output's own name, so no temporary name (`.mlp.r6olv4l7.partial`)
reaches the model. The one field that differs between two exports, tsrt.json's "created"
time, is pinned by SOURCE_DATE_EPOCH (the reproducible-builds convention). Each export
runs in a fresh process, as two builds would: within one process TorchScript numbers the
classes it compiles (`___torch_mangle_N`), so a second export there differs in those names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

EXPORT = """
import sys, torch, tsrt
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).eval()
tsrt.export(model, (torch.ones(2, 16),), sys.argv[1], mode=sys.argv[2])
"""
EPOCH = "1764547200"  # 2025-12-01T00:00:00Z


def export(path: Path, mode: str = "auto", epoch: str | None = EPOCH) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = epoch
    return subprocess.run([sys.executable, "-c", EXPORT, str(path), mode], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("mode", ["auto", "script"])
def test_two_exports_of_one_model_are_byte_identical(tmp_path, mode):
    first, second = tmp_path / "a" / "mlp.pt", tmp_path / "b" / "mlp.pt"
    for path in (first, second):
        result = export(path, mode)
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert names and all(name.startswith("mlp/") for name in names), names[:5]  # no temporary name inside
    assert sorted(p.name for p in first.parent.iterdir()) == ["mlp.pt"]  # and no staging left behind
    metadata = json.loads(zipfile.ZipFile(first).read("mlp/extra/tsrt.json"))
    assert metadata["created"] == "2025-12-01T00:00:00+00:00"


def test_a_bad_source_date_epoch_is_refused_with_the_fix(tmp_path):
    result = export(tmp_path / "mlp.pt", epoch="yesterday")
    assert result.returncode != 0
    assert "SOURCE_DATE_EPOCH must be whole seconds since 1970, got 'yesterday'" in result.stderr
    assert not (tmp_path / "mlp.pt").exists()
