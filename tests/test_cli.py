"""./infer from the shell: outputs saved as .npy match eager PyTorch, and every
bad input gets a clear message and the documented exit code (2 usage/input, 1 model)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tsrt import zoo
from conftest import INFER
from parity import compare

USAGE, MODEL_FAILURE = 2, 1


def infer(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=120)


def save_inputs(tmp_path: Path, entry, seed: int, sizes=None) -> tuple[list[Path], tuple]:
    inputs = entry.example_inputs(seed=seed, sizes=sizes)
    files = []
    for spec, tensor in zip(entry.inputs, inputs):
        files.append(tmp_path / f"{spec.name}.npy")
        np.save(files[-1], tensor.numpy())
    return files, inputs


def saved_outputs(out_dir: Path) -> dict:
    manifest = json.loads((out_dir / "outputs.json").read_text())
    return {path: (None if file is None else torch.from_numpy(np.load(out_dir / file))) for path, file in manifest.items()}


@pytest.mark.parametrize("name,mode", [("resnet_cnn", "trace"), ("gru_seq", "script"), ("transformer_encoder", "script")])
def test_positional_npy_inputs_match_eager(zoo_dir, tmp_path, name, mode):
    entry = zoo.get(name)
    files, inputs = save_inputs(tmp_path, entry, seed=5, sizes={s.name: {d: 1 for d in s.dynamic_dims[:1]} for s in entry.inputs})
    result = infer(zoo_dir / f"{name}.{mode}.pt", *files, "--save-outputs", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    with torch.no_grad():
        expected = entry.build()(*inputs)
    outputs = saved_outputs(tmp_path / "out")
    expected_leaves = list(expected) if isinstance(expected, tuple) else [expected]
    actual_leaves = [outputs[f"output[{i}]"] for i in range(len(expected_leaves))] if isinstance(expected, tuple) else [outputs["output"]]
    compare(actual_leaves, expected_leaves, entry.tolerance.atol, entry.tolerance.rtol)


def test_named_inputs_nested_outputs_and_json(zoo_dir, tmp_path):
    entry = zoo.get("multi_io")
    files, inputs = save_inputs(tmp_path, entry, seed=7, sizes={s.name: {0: 5} for s in entry.inputs})
    named = [arg for spec, file in zip(entry.inputs, files) for arg in ("--input", f"{spec.name}={file}")]
    result = infer(zoo_dir / "multi_io.script.pt", *named, "--json", "--save-outputs", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [o["path"] for o in report["outputs"]] == ["output[0]", "output[1]['gathered']", "output[1]['scores']"]
    assert report["outputs"][0]["shape"] == [5, 8] and report["outputs"][0]["dtype"] == "float32"
    with torch.no_grad():
        summed, extras = entry.build()(*inputs)
    outputs = saved_outputs(tmp_path / "out")
    compare([outputs["output[0]"], outputs["output[1]['gathered']"], outputs["output[1]['scores']"]],
            [summed, extras["gathered"], extras["scores"]], entry.tolerance.atol, entry.tolerance.rtol)
    assert report["outputs"][0]["min"] == pytest.approx(summed.min().item(), abs=1e-5)


def test_scalar_and_none_outputs(zoo_dir, tmp_path):
    result = infer(zoo_dir / "mixed_outputs.script.pt", "--json", "--save-outputs", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    kinds = [o["kind"] for o in json.loads(result.stdout)["outputs"]]
    assert kinds == ["tensor", "none", "int", "float", "bool", "tensor", "tensor"]
    outputs = saved_outputs(tmp_path / "out")
    assert outputs["output[1]"] is None and outputs["output[2]"].dtype == torch.int64


def test_no_flags_uses_metadata_and_prints_outputs(zoo_dir):
    result = infer(zoo_dir / "resnet_cnn.script.pt")
    assert result.returncode == 0, result.stderr
    assert "random from metadata" in result.stdout and "float32[2, 10]" in result.stdout


def test_shape_flag_and_method(zoo_dir):
    result = infer(zoo_dir / "extra_method.script.pt", "--method", "embed", "--shape", "x=3x20", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"][0]["shape"][0] == 3


def test_info_lists_methods(zoo_dir):
    result = infer(zoo_dir / "extra_method.script.pt", "--info")
    assert result.returncode == 0
    assert "embed(x: Tensor float32[N0, 20])" in result.stdout


def test_help():
    result = infer("--help")
    assert result.returncode == 0 and "examples:" in result.stdout


@pytest.fixture
def plain_torchscript(tmp_path) -> Path:
    """A TorchScript file from elsewhere: no tsrt metadata."""
    class Add(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
            return (a + b) * scale
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(Add()), str(path))
    return path


def test_plain_file_with_scalar_flag(plain_torchscript, tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 2), np.float32))
    result = infer(plain_torchscript, tmp_path / "a.npy", "--input", f"b={tmp_path / 'a.npy'}", "--input", "scale=3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"][0]["values"] == [6.0] * 4


# --- bad input: message and exit code ---------------------------------------------------

def corrupt_copy(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


@pytest.mark.parametrize("case", ["missing_file", "directory", "text_file", "truncated", "torch_save_pickle",
                                  "missing_inputs", "too_many_inputs", "wrong_dtype", "wrong_rank", "wrong_dim",
                                  "unknown_method", "unknown_input_name", "unknown_flag", "fortran_npy",
                                  "npy_missing", "bad_shape_spec", "bad_device", "no_model"])
def test_bad_input(case, zoo_dir, tmp_path, plain_torchscript):
    mlp = zoo_dir / "mlp.script.pt"
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((2, 64), np.float32))
    args, code, message = {
        "missing_file": ([tmp_path / "nope.pt"], USAGE, "does not exist"),
        "directory": ([tmp_path], USAGE, "is a directory"),
        "text_file": ([tmp_path / "t.pt"], MODEL_FAILURE, "not a model archive"),
        "truncated": ([tmp_path / "cut.pt"], MODEL_FAILURE, "cut.pt"),
        "torch_save_pickle": ([tmp_path / "ckpt.pt"], MODEL_FAILURE, "torch.save"),
        "missing_inputs": ([plain_torchscript], USAGE, "needs inputs that were not given: a b"),
        "too_many_inputs": ([mlp, good, good], USAGE, "takes 1 inputs, but 2 input files"),
        "wrong_dtype": ([mlp, tmp_path / "f64.npy"], USAGE, "input 'x' expects dtype float32, got float64"),
        "wrong_rank": ([mlp, tmp_path / "r1.npy"], USAGE, "expects rank 2"),
        "wrong_dim": ([mlp, "--shape", "x=2x63"], USAGE, "expects size 64 in dimension 1"),
        "unknown_method": ([mlp, "--method", "nope"], USAGE, "has no method 'nope'"),
        "unknown_input_name": ([mlp, "--input", f"y={good}"], USAGE, "has no input named 'y'"),
        "unknown_flag": ([mlp, "--frobnicate"], USAGE, "unknown option '--frobnicate'"),
        "fortran_npy": ([mlp, tmp_path / "fortran.npy"], USAGE, "Fortran"),
        "npy_missing": ([mlp, tmp_path / "absent.npy"], USAGE, "absent.npy"),
        "bad_shape_spec": ([mlp, "--shape", "x=2by64"], USAGE, "expected NAME=DIMxDIM"),
        "bad_device": ([mlp, "--device", "tpu"], USAGE, "unknown device 'tpu'"),
        "no_model": ([], USAGE, "no model file given"),
    }[case]
    (tmp_path / "t.pt").write_text("not a model\n")
    corrupt_copy(mlp, tmp_path / "cut.pt", keep=0.6)
    torch.save({"weight": torch.zeros(2)}, tmp_path / "ckpt.pt")
    np.save(tmp_path / "f64.npy", np.zeros((2, 64), np.float64))
    np.save(tmp_path / "r1.npy", np.zeros((64,), np.float32))
    np.save(tmp_path / "fortran.npy", np.asfortranarray(np.zeros((2, 64), np.float32)))
    result = infer(*args)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert message in result.stderr, result.stderr
    assert result.stderr.startswith("infer: error:"), result.stderr
