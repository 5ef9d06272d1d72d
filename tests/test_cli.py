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
    # The load flags come from one table: every field of tsrt::LoadOptions, named with dashes.
    for flag in ("--device DEV", "--[no-]check-inputs", "--allowed-operators FILE", "--[no-]verify-checksums",
                 "--precision P", "--[no-]freeze", "--[no-]optimize-for-inference", "--[no-]onednn-fusion",
                 "--[no-]inference-mode", "--[no-]graph-executor-optimize", "--warmup-runs N"):
        assert f"  {flag}" in result.stdout, flag
    assert "run torch::jit::optimize_for_inference (on)" in result.stdout
    assert "re-optimise in LibTorch's profiling executor (off)" in result.stdout


@pytest.mark.parametrize("flags,expected", [
    (["--no-optimize-for-inference"], lambda steps: "optimize_for_inference off" in steps),
    (["--no-inference-mode"], lambda steps: "c10::InferenceMode on every call" not in steps),
    (["--no-inference-mode", "--inference-mode"], lambda steps: "c10::InferenceMode on every call" in steps),
    (["--warmup-runs", "2"], lambda steps: any(s.startswith("warmed up forward (2 calls") for s in steps)),
    (["--graph-executor-optimize"], lambda steps: any("profiling and re-optimising" in s for s in steps)),
    ([], lambda steps: any(s.startswith("optimize_for_inference (") for s in steps)
     and any(s == "graph executor: runs the optimised graph as is" for s in steps)),
])
def test_load_flags_reach_load(zoo_dir, flags, expected):
    result = infer(zoo_dir / "mlp.trace.pt", "--bench", "--iters", "1", "--warmup", "0", "--json", *flags)
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["optimizations"]
    assert expected(steps), steps


@pytest.mark.parametrize("flags,message", [
    (["--no-optimize"], "unknown option '--no-optimize'"),
    (["--allow-ops", "x.txt"], "unknown option '--allow-ops'"),
    (["--warmup-on-load", "2"], "unknown option '--warmup-on-load'"),
    (["--jit-optimize"], "unknown option '--jit-optimize'"),
    (["--no-checksums"], "unknown option '--no-checksums'"),
    (["--no-device"], "unknown option '--no-device'"),  # only switches have a --no- form
    (["--warmup-runs"], "--warmup-runs needs a value"),
    (["--warmup-runs", "-1"], "--warmup-runs expects a non-negative integer, got '-1'"),
    (["--precision", "int8"], "unknown precision 'int8'"),
])
def test_bad_load_flags_exit_2(zoo_dir, flags, message):
    result = infer(zoo_dir / "mlp.script.pt", *flags)
    assert result.returncode == USAGE, result.stderr
    assert message in result.stderr, result.stderr


def test_flag_equals_value_is_flag_space_value(zoo_dir, tmp_path):
    # GNU and trtexec style (--flag=value) and the spaced form give the same run.
    model = zoo_dir / "extra_method.script.pt"
    spaced = infer(model, "--method", "embed", "--shape", "x=3x20", "--seed", "4", "--json", "--show", "3")
    equals = infer(model, "--method=embed", "--shape=x=3x20", "--seed=4", "--json", "--show=3")
    assert spaced.returncode == 0 and equals.returncode == 0, equals.stderr
    assert json.loads(equals.stdout)["outputs"] == json.loads(spaced.stdout)["outputs"]
    # The table-driven load flags too (a valued one; switches take no value).
    result = infer(zoo_dir / "mlp.trace.pt", "--bench", "--iters=1", "--warmup=0", "--json", "--warmup-runs=2")
    assert result.returncode == 0, result.stderr
    assert any(s.startswith("warmed up forward (2 calls") for s in json.loads(result.stdout)["optimizations"])


@pytest.mark.parametrize("flags,message", [
    (["--json=1"], "--json takes no value, got '--json=1'"),
    (["--no-freeze=yes"], "--no-freeze takes no value"),
    (["--frobnicate=3"], "unknown option '--frobnicate'"),
    (["--seed="], "--seed expects a non-negative integer, got ''"),
    (["--iters=-2"], "--iters expects a non-negative integer, got '-2'"),
])
def test_bad_flag_equals_value_exits_2(zoo_dir, flags, message):
    result = infer(zoo_dir / "mlp.script.pt", *flags)
    assert result.returncode == USAGE, result.stderr
    assert message in result.stderr, result.stderr


def test_version_needs_no_model_and_names_the_one_version():
    import tsrt
    result = infer("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"infer (tsrt) {tsrt.__version__}, built against LibTorch ")
    assert torch.__version__.split("+")[0] in result.stdout


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
