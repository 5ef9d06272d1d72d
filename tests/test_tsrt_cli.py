"""The `tsrt export` command: a factory from a module path or a zoo model, a report,
exit 0 on success, 1 when no correct export exists, 2 for usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def tsrt_cli(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tsrt.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_export_factory_with_example_and_dynamic(tmp_path):
    out = tmp_path / "gated.pt"
    result = tsrt_cli("export", "tsrt.zoo.gated:Gated", "-o", out, "--example", "x=3x16:float32", "--dynamic", "x:0",
                      "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "script" and report["verification"]
    infer = subprocess.run([str(ROOT / "infer"), str(out), "--verify"], capture_output=True, text=True)
    assert infer.returncode == 0 and infer.stdout.rstrip().endswith("PASS")


def test_export_zoo(tmp_path):
    result = tsrt_cli("export", "--zoo", "gru_seq", "-o", tmp_path / "g.pt")
    assert result.returncode == 0, result.stderr
    assert "mode script" in result.stdout and "verified in C++" in result.stdout


def test_unexportable_model_exits_1_with_report(tmp_path):
    (tmp_path / "bad_model.py").write_text(
        "import torch\n"
        "class Bad(torch.nn.Module):\n"
        "    def forward(self, x, *rest):\n"
        "        if x.mean() > 0:\n"
        "            return x * 2\n"
        "        return x - 1\n")
    result = tsrt_cli("export", "bad_model:Bad", "-o", tmp_path / "b.pt", "--example", "x=2x4", cwd=tmp_path)
    assert result.returncode == 1
    assert "bad_model.py:4" in result.stderr and "variable number of arguments" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    for args, message in [(["export", "tsrt.zoo.mlp", "-o", tmp_path / "m.pt", "--example", "x=2x64"], "PACKAGE.MODULE:FACTORY"),
                          (["export", "tsrt.zoo.mlp:Nope", "-o", tmp_path / "m.pt", "--example", "x=2x64"], "Nope"),
                          (["export", "tsrt.zoo.mlp:MLP", "-o", tmp_path / "m.pt", "--example", "x=2by64"], "bad input spec"),
                          (["export", "tsrt.zoo.mlp:MLP", "-o", tmp_path / "m.pt", "--example", "x=2x64", "--dynamic", "y:0"], "unknown inputs"),
                          (["export", "--zoo", "nope", "-o", tmp_path / "m.pt"], "nope")]:
        result = tsrt_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, result.stderr


def test_doctor_command_lists_findings_and_exits_1(tmp_path):
    result = tsrt_cli("doctor", "doctor_cases:TwoProblems", "--json", cwd=ROOT / "tests")
    assert result.returncode == 1, result.stderr
    kinds = {finding["kind"] for finding in json.loads(result.stdout)}
    assert len(kinds) >= 2 and all(finding["rewrite"] for finding in json.loads(result.stdout))


def test_doctor_command_on_a_clean_model_exits_0():
    result = tsrt_cli("doctor", "doctor_cases:Clean", "--example", "x=2x4", cwd=ROOT / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout
