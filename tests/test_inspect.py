"""tsrt inspect / ./infer --info: what is inside a model file, and the warnings
that matter at deployment (baked-in devices, torch version skew, custom ops)."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from tsrt import zoo
import tsrt
from conftest import ROOT


def tsrt_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tsrt.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_report_of_a_zoo_model(zoo_dir):
    result = tsrt_cli("inspect", zoo_dir / "mlp.trace.pt", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    eager = zoo.get("mlp").build()
    expected = sum(p.numel() for p in eager.parameters())
    assert report["parameters"]["count"] == expected  # frozen weights are graph constants: still counted
    assert report["parameters"]["bytes"] == expected * 4
    assert report["operators"]["aten::linear"] == 3
    assert report["methods"][0]["text"].startswith("forward(x: Tensor float32[N0, 64])")
    assert report["metadata"]["export_mode"] == "trace" and report["warnings"] == []
    assert "def forward" in report["code"]


def test_text_report_and_infer_info_agree(zoo_dir):
    text = tsrt_cli("inspect", zoo_dir / "extra_method.script.pt").stdout
    info = subprocess.run([str(ROOT / "infer"), str(zoo_dir / "extra_method.script.pt"), "--info"],
                          capture_output=True, text=True).stdout
    assert text.strip() == info.strip()
    assert "embed(x: Tensor float32[N0, 20])" in text and "golden      2 input/output pairs" in text


class DeviceBaked(torch.nn.Module):
    def forward(self, x):
        if x.size(0) < 0:
            return x.to(torch.device("cuda:0"))
        return x + 1


def test_device_constant_is_flagged(tmp_path):
    path = tmp_path / "dev.pt"
    torch.jit.save(torch.jit.freeze(torch.jit.script(DeviceBaked().eval())), str(path))
    report = json.loads(tsrt.load(path).report(as_json=True))
    assert report["device_constants"] == ["cuda:0"]
    assert any("cuda:0 is baked into the graph" in w for w in report["warnings"])


def test_newer_torch_is_flagged(zoo_dir, tmp_path):
    original = tsrt.load(zoo_dir / "mlp.script.pt")
    files = dict(original.extra_files)
    metadata = json.loads(files["tsrt.json"])
    metadata["torch_version"] = "2.99.0"
    files["tsrt.json"] = json.dumps(metadata).encode()
    path = tmp_path / "future.pt"
    torch.jit.save(torch.jit.load(str(zoo_dir / "mlp.script.pt")), str(path), _extra_files=files)
    text = tsrt.load(path).report()
    assert "WARNING     exported by torch 2.99.0, newer than this runtime's torch" in text


def test_custom_operator_names_the_missing_library(tmp_path):
    library = torch.library.Library("tsrt_test", "DEF")
    library.define("double(Tensor x) -> Tensor")
    library.impl("double", lambda x: x * 2, "CompositeExplicitAutograd")

    class UsesCustomOp(torch.nn.Module):
        def forward(self, x):
            return torch.ops.tsrt_test.double(x)

    path = tmp_path / "custom.pt"
    torch.jit.save(torch.jit.script(UsesCustomOp()), str(path))
    result = tsrt_cli("inspect", path)
    assert result.returncode == 1
    assert "tsrt_test::double" in result.stderr and "library" in result.stderr


class MakesZeros(torch.nn.Module):
    def forward(self, x):
        return x + torch.zeros(x.shape[1], device=x.device)


def test_traced_cpu_device_is_flagged_for_cuda_deployment(tmp_path):
    """A trace on the CPU bakes device=cpu into every tensor the model creates:
    on CUDA that model mixes devices. inspect says so before anyone deploys it."""
    path = tmp_path / "zeros.pt"
    torch.jit.save(torch.jit.trace(MakesZeros(), torch.rand(2, 3)), str(path))
    report = json.loads(tsrt.load(path).report(as_json=True))
    assert report["device_constants"] == ["cpu"]
    assert any(w.startswith("device cpu is baked into the graph") and "on CUDA the model mixes devices" in w
               for w in report["warnings"])


def test_a_model_that_creates_no_tensors_has_no_device_constants(zoo_dir):
    report = json.loads(tsrt.load(zoo_dir / "mlp.trace.pt").report(as_json=True))
    assert report["device_constants"] == []
