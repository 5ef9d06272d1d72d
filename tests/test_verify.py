"""Golden pairs: export records eager outputs in the file and checks the saved file
in C++ before it reports success; ./infer --verify replays them (PASS/FAIL, exit 0/1)."""

from __future__ import annotations

import io
import json
import subprocess

import numpy as np

import torch

from tsrt import zoo
import tsrt
from conftest import INFER
from tsrt.exporter.verify import VerificationFailed, verify_in_cpp


def infer(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_every_zoo_export_verifies(zoo_dir):
    for path in sorted(zoo_dir.glob("*.pt")):
        result = infer(path, "--verify", "--json")
        assert result.returncode == 0, (path.name, result.stdout, result.stderr)
        report = json.loads(result.stdout)
        assert report["passed"] and len(report["checks"]) >= 2, path.name


def test_golden_pairs_cover_two_shapes(zoo_dir):
    metadata = tsrt.load(zoo_dir / "gru_seq.script.pt").metadata
    assert len(metadata["golden"]) == 2
    extra = tsrt.load(zoo_dir / "gru_seq.script.pt").extra_files
    first, second = (np.load(io.BytesIO(extra[pair["inputs"][0]])).shape for pair in metadata["golden"])
    assert first != second, "the second golden pair should vary the dynamic dimensions"


def swap_weights(zoo_dir, tmp_path):
    """A file whose golden outputs came from other weights: what a wrong export looks like."""
    entry = zoo.get("mlp")
    original = tsrt.load(zoo_dir / "mlp.script.pt")
    torch.manual_seed(99)
    other = torch.jit.freeze(torch.jit.script(entry.factory().eval()))
    path = tmp_path / "swapped.pt"
    torch.jit.save(other, str(path), _extra_files=original.extra_files)
    return path


def test_verify_fails_on_mismatch(zoo_dir, tmp_path):
    result = infer(swap_weights(zoo_dir, tmp_path), "--verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  pair 0  output" in result.stdout and result.stdout.rstrip().endswith("FAIL")


def test_export_refuses_a_file_that_does_not_match(zoo_dir, tmp_path):
    path = swap_weights(zoo_dir, tmp_path)
    try:
        verify_in_cpp(path)
    except VerificationFailed as error:
        assert "does not match eager PyTorch" in str(error)
    else:
        raise AssertionError("verification should have failed")


def test_verify_without_golden_is_a_usage_error(tmp_path):
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    result = infer(path, "--verify")
    assert result.returncode == 2 and "has no golden input/output pairs" in result.stderr


def test_golden_can_be_left_out(tmp_path):
    entry = zoo.get("mlp")
    tsrt.export(entry.build(), entry.example_inputs(), tmp_path / "m.pt", "trace", golden=0)
    metadata = tsrt.load(tmp_path / "m.pt").metadata
    assert metadata["golden"] == [] and not any(name.startswith("golden/") for name in tsrt.load(tmp_path / "m.pt").extra_files)


def test_metadata_is_self_describing(zoo_dir):
    metadata = tsrt.load(zoo_dir / "multi_io.script.pt").metadata
    forward = metadata["methods"]["forward"]
    assert [i["name"] for i in forward["inputs"]] == ["a", "b", "index"]
    assert forward["inputs"][2] == {"name": "index", "dtype": "int64", "shape": [3], "dynamic_dims": [0],
                                    "value_range": [0, 8]}
    assert forward["output_structure"] == "Tuple[Tensor, Dict[str, Tensor]]"
    for key in ("format_version", "torch_version", "created", "source", "export_mode", "export_reason", "tolerance"):
        assert metadata[key], key
    assert metadata["source"] == "tsrt.zoo.multi_io.MultiIO"
