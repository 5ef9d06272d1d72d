"""TorchScript files are programs: tsrt inspect --audit lists what reaches outside
tensors, and an operator allow-list refuses models that use anything else."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

import tsrt
from conftest import INFER, ROOT
from errors import raises_tsrt


class ReadsAFile(torch.nn.Module):
    def forward(self, x: torch.Tensor, path: str) -> torch.Tensor:
        print("reading", path)
        data = torch.from_file(path, False, 4)
        if bool(x.sum() > 1e9):
            raise RuntimeError("too big")
        return x + data


def test_audit_lists_file_reads_prints_and_raises(tmp_path):
    path = tmp_path / "reader.pt"
    torch.jit.save(torch.jit.script(ReadsAFile()), str(path))
    result = subprocess.run([sys.executable, "-m", "tsrt.cli", "inspect", "--audit", "--json", str(path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"aten::from_file", "prim::Print", "prim::RaiseException"}


def test_audit_of_a_plain_model_is_empty(zoo_dir):
    report = json.loads(tsrt.load(zoo_dir / "resnet_cnn.trace.pt").report(as_json=True))
    assert report["audit"] == []


def test_allow_list_refuses_unlisted_operators(zoo_dir):
    with raises_tsrt("invalid_model", "outside the allow-list: aten::relu"):
        tsrt.load(zoo_dir / "mlp.trace.pt", allowed_operators=["aten::linear"])
    model = tsrt.load(zoo_dir / "mlp.trace.pt", allowed_operators=["aten::*", "prim::*"])
    assert model(torch.zeros(2, 64)).shape[0] == 2


def test_infer_allowed_operators_file(zoo_dir, tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("# the operators we reviewed\naten::linear   \n")
    result = subprocess.run([str(INFER), str(zoo_dir / "mlp.trace.pt"), "--allowed-operators", str(allow)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "aten::relu" in result.stderr
    allow.write_text("aten::*\nprim::*\n")
    result = subprocess.run([str(INFER), str(zoo_dir / "mlp.trace.pt"), "--allowed-operators", str(allow)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    missing = subprocess.run([str(INFER), str(zoo_dir / "mlp.trace.pt"), "--allowed-operators", str(tmp_path / "nope.txt")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "cannot read the operator allow-list" in missing.stderr
