"""AOTInductor packages (.pt2): tsrt export --format aoti, run by libtsrt.

Parity: the packages of tests/conftest.py AOTI_MODELS (compiled once a session, cached
in build/aoti-cache) against eager PyTorch, over 3 random inputs x 3 shapes on every
dynamic dimension (the example, halved -- batch 1 for resnet_cnn -- and +3), with each
zoo model's own tolerance (atol 1e-5 / rtol 1e-4; 1e-4 / 1e-3 for conv and attention
models, whose compiled kernels reorder float sums). Then what the package carries
(metadata, golden pairs), the CLI, threads, and every error path with its message.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tsrt import zoo
import tsrt
from conftest import AOTI_MODELS, INFER, ROOT
from errors import raises_tsrt
from parity import Errors, compare, shape_variants
from tsrt.exporter import ExportError, export
from tsrt.spec import TensorSpec

SEEDS = (21, 22, 23)


# ---- parity -------------------------------------------------------------------------


@pytest.mark.parametrize("name", AOTI_MODELS)
def test_aoti_parity(aoti_packages, name, record_property):
    entry = zoo.get(name)
    eager = entry.build()
    loaded = tsrt.load(aoti_packages[name])
    assert loaded.format == "aoti"
    assert sorted(loaded.methods) == sorted(["forward", *entry.methods])
    errors = Errors()
    for method, specs in [("forward", entry.inputs), *entry.methods.items()]:
        shapes = set()
        for sizes in shape_variants(entry, specs):
            for seed in SEEDS:
                inputs = entry.example_inputs(seed=seed, sizes=sizes, specs=specs)
                shapes.add(tuple(tuple(x.shape) for x in inputs))
                with torch.no_grad():
                    expected = getattr(eager, method)(*inputs)
                for _ in range(2):
                    errors.merge(compare(loaded.run(method, *inputs), expected, entry.tolerance.atol,
                                         entry.tolerance.rtol))
        assert len(shapes) == 3, f"{method}: the shape variants should give three shapes, got {shapes}"
    record_property("max_abs", errors.max_abs)
    print(f"{name}.pt2: max abs {errors.max_abs:.3g}, max rel {errors.max_rel:.3g} "
          f"(atol {entry.tolerance.atol}, rtol {entry.tolerance.rtol})")


def test_outputs_keep_the_eager_structure(aoti_packages):
    """multi_io returns (Tensor, {'gathered', 'scores'}): rebuilt from the package's out spec."""
    entry = zoo.get("multi_io")
    inputs = entry.example_inputs(seed=5)
    actual = tsrt.load(aoti_packages["multi_io"])(*inputs)
    expected = entry.build()(*inputs)
    assert isinstance(actual, tuple) and isinstance(actual[1], dict)
    assert list(actual[1]) == list(expected[1]), "dict keys keep eager's order"
    compare(actual, expected, entry.tolerance.atol, entry.tolerance.rtol)


def test_non_contiguous_inputs_give_the_eager_answer(aoti_packages):
    """Compiled kernels assume the export's (contiguous) strides; libtsrt must not pass a view as is."""
    model = tsrt.load(aoti_packages["extra_method"])
    eager = zoo.get("extra_method").build()
    x = torch.randn(20, 6).t()  # shape [6, 20], strides (1, 6)
    assert not x.is_contiguous()
    compare(model(x), eager(x), 1e-5, 1e-4)
    compare(model.run("embed", x), eager.embed(x), 1e-5, 1e-4)


def test_threads_share_one_package(aoti_packages):
    """4 threads x 30 calls on mixed batch sizes through one Model equal a serial run."""
    model = tsrt.load(aoti_packages["extra_method"])
    inputs = [torch.randn(batch, 20, generator=torch.Generator().manual_seed(batch)) for batch in (1, 3, 8, 17)]
    expected = [model(x) for x in inputs]
    results, failures = {}, []
    start = threading.Barrier(4)

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(30):
                results[(t, i)] = model(inputs[(t + i) % len(inputs)])
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    wrong = [key for key, out in results.items() if not torch.equal(out, expected[(key[0] + key[1]) % len(inputs)])]
    assert len(results) == 120 and not wrong, f"{len(wrong)} threaded outputs differ from the serial run"


def test_no_extracted_package_is_left_while_a_model_lives(aoti_packages):
    """tsrt extracts each package into a private folder of its own (LibTorch's loader
    extracts nothing: it is handed that folder, see test_untrusted.py) and removes it
    once the package is loaded: a process killed while serving leaves nothing behind."""
    import glob
    import tempfile

    pattern = str(Path(tempfile.gettempdir()) / "tsrt-pt2-*")
    loaded = [tsrt.load(aoti_packages["extra_method"]) for _ in range(3)]
    ours = [folder for folder in glob.glob(pattern) if Path(folder).stat().st_uid == os.getuid()
            and any(Path(folder).rglob("*.so"))]
    assert ours == [], f"extracted packages left behind: {ours}"
    x = torch.rand(3, 20)
    outputs = [model(x) for model in loaded]
    torch.testing.assert_close(outputs[0], outputs[2])


def _process_rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_reloading_a_package_maps_its_library_once(aoti_packages):
    """A package's libraries cannot be unloaded (glibc ignores dlclose on libraries with
    STB_GNU_UNIQUE symbols): a service that reloads a model must not map them anew each time."""
    path = aoti_packages["extra_method"]
    x = torch.rand(2, 20)
    expected = tsrt.load(path, adaptive_threads=False)(x)

    def mappings() -> int:
        return sum("tsrt-pt2-" in line for line in open("/proc/self/maps"))

    before, rss_before = mappings(), _process_rss_mib()
    for _ in range(1000):
        model = tsrt.load(path, adaptive_threads=False)
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
        del model
    assert mappings() == before, f"{mappings() - before} more mappings of extracted libraries after 1,000 cycles"
    assert _process_rss_mib() - rss_before < 32, f"RSS grew {_process_rss_mib() - rss_before:.1f} MiB"


# ---- what the package carries ------------------------------------------------------------


def test_package_carries_metadata_and_golden_pairs(aoti_packages):
    model = tsrt.load(aoti_packages["multi_io"])
    meta = model.metadata
    assert meta["format"] == "aoti" and meta["export_mode"] == "torch.export"
    assert [spec["name"] for spec in meta["methods"]["forward"]["inputs"]] == ["a", "b", "index"]
    assert len(meta["golden"]) == 2
    assert all(name in model.extra_files for pair in meta["golden"] for name in pair["inputs"])
    # The names come from the metadata: a compiled package does not record them.
    assert [i["name"] for i in model.signature()["inputs"]] == ["a", "b", "index"]
    with zipfile.ZipFile(aoti_packages["multi_io"]) as archive:
        names = archive.namelist()
    assert any(n.endswith("/extra/tsrt.json") for n in names)
    assert any("/data/aotinductor/model/" in n and n.endswith(".so") for n in names)
    assert all(check["passed"] for check in model.verify())


def test_infer_runs_and_verifies_a_package(aoti_packages):
    run = subprocess.run([str(INFER), str(aoti_packages["extra_method"])], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "(aoti, cpu" in run.stdout and "float32[4, 5]" in run.stdout
    embed = subprocess.run([str(INFER), str(aoti_packages["extra_method"]), "--method", "embed"], capture_output=True,
                           text=True, timeout=120)
    assert embed.returncode == 0 and "float32[4, 12]" in embed.stdout, embed.stderr
    verify = subprocess.run([str(INFER), str(aoti_packages["extra_method"]), "--verify"], capture_output=True, text=True,
                            timeout=120)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.rstrip().endswith("PASS") and verify.stdout.count("  PASS  pair") == 2


def test_inspect_says_compiled_package(aoti_packages):
    cli = [sys.executable, "-m", "tsrt.cli", "inspect"]
    text = subprocess.run(cli + [str(aoti_packages["resnet_cnn"])], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert text.returncode == 0, text.stderr
    assert "compiled package (AOTInductor) for cpu" in text.stdout
    assert "forward(image: Tensor float32[N0, 3, N2, N3])" in text.stdout
    report = json.loads(subprocess.run(cli + [str(aoti_packages["resnet_cnn"]), "--json"], capture_output=True,
                                       text=True, cwd=ROOT, timeout=120).stdout)
    assert report["format"] == "aoti" and report["compiled"] is True and report["operators"] == {}
    assert report["package"]["AOTI_DEVICE_KEY"] == "cpu"
    assert report["parameters"]["count"] > 0


def test_audit_refuses_to_vouch_for_a_package(aoti_packages):
    run = subprocess.run([sys.executable, "-m", "tsrt.cli", "inspect", "--audit", str(aoti_packages["extra_method"])],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 1 and run.stdout == ""
    assert "compiled AOTInductor package" in run.stderr and "cannot be audited" in run.stderr


# ---- which zoo models torch.export takes -------------------------------------------------


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_aoti_claims_hold(name):
    """ZooEntry.aoti says whether torch.export captures the model with its dynamic dims;
    capture only (no compile), so every model is checked in about a second."""
    entry = zoo.get(name)
    dynamic = tuple({d: torch.export.Dim.DYNAMIC for d in spec.dynamic_dims} for spec in entry.inputs)
    try:
        torch.export.export(entry.build(), entry.example_inputs(), dynamic_shapes=dynamic, strict=False)
        captured = True
    except Exception:  # noqa: BLE001 - any failure means "not capturable"
        captured = False
    assert captured == entry.aoti, f"{name}: ZooEntry.aoti={entry.aoti} but torch.export {'captures' if captured else 'refuses'} it"


# ---- export failures -------------------------------------------------------------------


class BranchOnSum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # the line the error must point at
            return x * 2
        return -x


def test_data_dependent_branch_names_file_line_and_fix(tmp_path):
    with pytest.raises(ExportError) as info:
        export(BranchOnSum(), (torch.randn(3, 4),), tmp_path / "b.pt2", format="aoti")
    report = str(info.value)
    line = next(i for i, text in enumerate(Path(__file__).read_text().splitlines(), 1) if "the line the error" in text)
    assert f"test_aoti.py:{line}: if x.sum() > 0:" in report
    assert "torch.cond" in report and "--format torchscript" in report
    assert "torch.export cannot capture the model" in report
    assert not (tmp_path / "b.pt2").exists()


def test_loop_over_a_dynamic_dim_says_declare_it_static(tmp_path):
    with pytest.raises(ExportError) as info:
        tsrt.export(zoo.get("gru_seq").build(), zoo.get("gru_seq").example_inputs(), tmp_path / "g.pt2",
                    format="aoti", input_specs=zoo.get("gru_seq").inputs)
    report = str(info.value)
    assert "specialized it to be a constant" in report and "declare that dimension static" in report


def test_cli_export_of_gated_fails_with_the_location(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tsrt.cli", "export", "--zoo", "gated", "-o", str(tmp_path / "g.pt2"),
                          "-q"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1
    assert "zoo/gated.py:33: if x.mean() > 0:" in run.stderr and "torch.cond" in run.stderr


def test_cli_exports_a_pt2_from_a_batch_1_example(tmp_path):
    """-o *.pt2 implies --format aoti; a batch-1 example (which torch.export would specialise)
    is captured size-obliviously at batch 2, and the package runs batch 1 and others."""
    package = tmp_path / "m.pt2"
    run = subprocess.run([sys.executable, "-m", "tsrt.cli", "export", "tsrt.zoo.mlp:make_mlp", "-o", str(package),
                          "--example", "x=1x64:float32", "--json", "-q"], capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["format"] == "aoti" and report["mode"] == "torch.export"
    assert any("x[0]): captured size-obliviously at size 2" in finding for finding in report["findings"])
    assert report["verification"] and all(check["passed"] for check in report["verification"])
    assert report["timings"]["aoti_compile"] > 0
    # Compiled with tsrt's default Inductor settings (a model this small unfrozen: frozen, its
    # weights are pre-packed, which costs it 7x a call), with its compile time per method.
    assert report["compile"]["inductor_configs"] == {"freezing": False}
    assert 0 < report["compile"]["seconds"]["forward"] <= report["timings"]["aoti_compile"]
    # The CLI built its own (unseeded) MLP: its golden pairs are the eager reference.
    # Pair 0 is the batch-1 example itself, pair 1 batch 2; both verified in C++ above.
    model = tsrt.load(package)
    golden_input = model.extra_files[model.metadata["golden"][0]["inputs"][0]]
    assert np.load(io.BytesIO(golden_input)).shape == (1, 64)
    assert [c["passed"] for c in model.verify()] == [True, True]
    assert tuple(model(torch.randn(5, 64)).shape) == (5, 10)


def test_inductor_configs_need_the_aoti_format(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tsrt.cli", "export", "--zoo", "mlp", "-o", str(tmp_path / "m.pt"),
                          "--inductor-config", "max_autotune=true"], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert run.returncode == 2 and "--inductor-config sets how AOTInductor compiles" in run.stderr
    bad = subprocess.run([sys.executable, "-m", "tsrt.cli", "export", "--zoo", "mlp", "-o", str(tmp_path / "m.pt2"),
                          "--inductor-config", "max_autotune"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "--inductor-config expects KEY=VALUE" in bad.stderr
    with pytest.raises(ValueError, match="inductor_configs apply to format 'aoti'"):
        export(zoo.get("mlp").build(), zoo.get("mlp").example_inputs(), tmp_path / "m.pt",
               inductor_configs={"freezing": False})
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m.pt2").exists()


def test_cli_refuses_a_torchscript_mode_with_aoti(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tsrt.cli", "export", "--zoo", "mlp", "--format", "aoti", "--mode",
                          "trace", "-o", str(tmp_path / "m.pt2")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "--format aoti always uses torch.export" in run.stderr


# ---- load and input errors ----------------------------------------------------------------


def _rewrite(source: Path, target: Path, change) -> Path:
    """Copies the zip `source` to `target`, passing each record through change(name, bytes) -> bytes | None (drop)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info))
            if data is not None:
                new.writestr(info, data)
    return target


def test_damaged_library_is_refused_before_loading(aoti_packages, tmp_path):
    damaged = tmp_path / "damaged.pt2"
    shutil.copy(aoti_packages["extra_method"], damaged)
    with zipfile.ZipFile(damaged) as archive:
        library = next(i for i in archive.infolist() if i.filename.endswith(".so"))
    data = bytearray(damaged.read_bytes())
    data[library.header_offset + 30 + len(library.filename) + len(library.extra) + library.file_size // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with raises_tsrt("invalid_model", "damaged.pt2", ".so' fails its CRC-32 check"):
        tsrt.load(damaged)
    # An allow-list refuses a package before anything of it is loaded (dlopen runs its code).
    with raises_tsrt("unsupported", "compiled AOTInductor package"):
        tsrt.load(damaged, allowed_operators=["aten::*"])


def test_truncated_package(aoti_packages, tmp_path):
    truncated = tmp_path / "truncated.pt2"
    truncated.write_bytes(aoti_packages["extra_method"].read_bytes()[:100_000])
    with raises_tsrt("invalid_model", "truncated.pt2", "truncated"):
        tsrt.load(truncated)


def test_pt2_without_a_compiled_model(aoti_packages, tmp_path):
    program = _rewrite(aoti_packages["extra_method"], tmp_path / "program.pt2",
                       lambda name, data: None if "/data/aotinductor/" in name else data)
    with raises_tsrt("invalid_model", "without an AOTInductor-compiled model", "--format aoti"):
        tsrt.load(program)


def test_package_for_a_device_this_process_lacks(aoti_packages, tmp_path):
    """A CUDA package, as its metadata says (this CPU-only torch cannot compile a real one)."""
    cuda = _rewrite(aoti_packages["extra_method"], tmp_path / "cuda.pt2",
                    lambda name, data: data.replace(b'"AOTI_DEVICE_KEY": "cpu"', b'"AOTI_DEVICE_KEY": "cuda"')
                    if name.endswith("_metadata.json") else data)
    expected = "no CUDA" if not torch.cuda.is_available() else "load it with device 'cuda'"
    with raises_tsrt("unsupported", "cuda.pt2", "compiled for device 'cuda', not cpu", expected):
        tsrt.load(cuda)
    run = subprocess.run([str(INFER), str(cuda)], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "compiled for device 'cuda'" in run.stderr


def test_wrong_inputs_are_named(aoti_packages):
    model = tsrt.load(aoti_packages["extra_method"])
    with raises_tsrt("invalid_argument", "input 'x' expects dtype float32, got float64"):
        model(torch.randn(2, 20, dtype=torch.float64))
    with raises_tsrt("invalid_argument", "input 'x' expects size 20 in dimension 1"):
        model(torch.randn(2, 19))
    with raises_tsrt("invalid_argument", "embed(): input 'x' expects size 20 in dimension 1"):
        model.run("embed", torch.randn(2, 19))
    with raises_tsrt("invalid_argument", "input 'x'", "rank"):
        model(torch.randn(2, 20, 1))
    with raises_tsrt("invalid_argument", "takes 1 input, got 2"):
        model(torch.randn(2, 20), torch.randn(2, 20))
    with raises_tsrt("invalid_argument", "has no method 'classify'", "embed, forward"):
        model.run("classify", torch.randn(2, 20))
    multi_io = tsrt.load(aoti_packages["multi_io"])
    a, b, index = zoo.get("multi_io").example_inputs()
    with raises_tsrt("invalid_argument", "input 'index' expects dtype int64"):
        multi_io(a, b, index.to(torch.int32))


def test_non_tensor_input_without_metadata_checks(aoti_packages):
    model = tsrt.load(aoti_packages["extra_method"], check_inputs=False)
    with raises_tsrt("invalid_argument", "input 'x' expects Tensor, got int 3", "tensors only"):
        model(3)
    # Past the contract, the compiled kernel's own check, without LibTorch's backtrace. The
    # package is frozen, so its linear layers are oneDNN's pre-packed linear (whose message
    # is about a primitive descriptor), not aten::mm's "cannot be multiplied".
    with raises_tsrt("runtime", "extra_method", "failed in forward(x: float32[2, 19])") as info:
        model(torch.randn(2, 19))
    assert "primitive descriptor" in str(info.value) or "cannot be multiplied" in str(info.value), str(info.value)
    assert "Exception raised from" not in str(info.value)


def test_allow_list_cannot_audit_a_package(aoti_packages):
    with raises_tsrt("unsupported", "compiled AOTInductor package", "allow-list"):
        tsrt.load(aoti_packages["extra_method"], allowed_operators=["aten::*", "prim::*"])


# ---- the compile cache (TSRT_AOTI_CACHE) ---------------------------------------------------


def test_compile_cache_reuses_a_package_of_the_same_program(tmp_path, monkeypatch):
    """Same program and settings: the second export takes the compiled package from the
    cache (and still verifies it against eager); other weights miss."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TSRT_AOTI_CACHE", str(cache))
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    specs = [TensorSpec("input", (2, 8), dynamic_dims=(0,))]  # nn.Sequential.forward(input)
    first = export(module, (torch.randn(2, 8),), tmp_path / "a.pt2", format="aoti", input_specs=specs)
    assert first.compile["cache"] == {"directory": str(cache), "hits": []}
    assert len(list(cache.glob("*.pt2"))) == 1
    second = export(module, (torch.randn(2, 8),), tmp_path / "b.pt2", format="aoti", input_specs=specs)
    assert second.compile["cache"]["hits"] == ["forward"]
    assert second.verification and all(check["passed"] for check in second.verification)
    x = torch.randn(5, 8)
    with torch.no_grad():
        compare(tsrt.load(tmp_path / "b.pt2")(x), module(x), 1e-5, 1e-4)
        module[0].weight.add_(1.0)
    third = export(module, (torch.randn(2, 8),), tmp_path / "c.pt2", format="aoti", input_specs=specs)
    assert third.compile["cache"]["hits"] == [], "a package compiled for other weights was reused"
    with torch.no_grad():
        compare(tsrt.load(tmp_path / "c.pt2")(x), module(x), 1e-5, 1e-4)


def test_compile_cache_key_covers_the_settings():
    from tsrt.exporter.aoti_compile import CompileCache

    program = torch.export.export(nn.Linear(3, 2).eval(), (torch.randn(2, 3),))
    assert CompileCache.key(program, {"freezing": True}) == CompileCache.key(program, {"freezing": True})
    assert CompileCache.key(program, {"freezing": True}) != CompileCache.key(program, {"freezing": False})


# ---- automatic dynamic dimensions (no dynamic=) ------------------------------------------


def _small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2)).eval()


@pytest.fixture()
def frozen_by_default(monkeypatch):
    """tsrt freezes _small_cnn as it freezes a large model: small models compile unfrozen
    by default (aoti_compile.SMALL_WEIGHT_ELEMENTS), and these tests are about freezing."""
    from tsrt.exporter import aoti_compile
    monkeypatch.setattr(aoti_compile, "SMALL_WEIGHT_ELEMENTS", 0)


@pytest.fixture()
def aoti_cache(monkeypatch):
    monkeypatch.setenv("TSRT_AOTI_CACHE", str(ROOT / "build" / "aoti-cache"))


def test_automatic_dims_vary_every_dimension_the_model_allows(tmp_path, aoti_cache):
    module = _small_cnn()
    report = export(module, (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti")
    assert report.dynamic["summary"].startswith("input[0,2,3]")
    assert not any("[dynamic]" in finding for finding in report.findings)
    loaded = tsrt.load(tmp_path / "cnn.pt2")
    for seed, shape in enumerate([(1, 3, 16, 16), (3, 3, 24, 20), (2, 3, 9, 31)]):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            compare(loaded(x), module(x), 1e-5, 1e-4)


def test_automatic_dims_past_the_budget_fall_back_to_the_batch(tmp_path, aoti_cache, monkeypatch):
    """A model whose symbolic shapes explode costs the budget, not an export that never
    ends: the package keeps the batch dynamic, and the report says why the rest is fixed."""
    monkeypatch.setenv("TSRT_AOTI_DIMS_BUDGET", "0")
    module = _small_cnn()
    report = export(module, (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti")
    assert report.dynamic["summary"].startswith("input[0] (the batch only")
    assert any("with every dimension automatic did not finish in 0 s (TSRT_AOTI_DIMS_BUDGET)" in finding
               for finding in report.findings), report.findings
    assert report.verification and all(check["passed"] for check in report.verification)
    loaded = tsrt.load(tmp_path / "cnn.pt2")
    x = torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        compare(loaded(x), module(x), 1e-5, 1e-4)
    with raises_tsrt("invalid_argument", "expects size 16 in dimension 2"):
        loaded(torch.randn(2, 3, 20, 16))


def test_automatic_dims_budget_must_be_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("TSRT_AOTI_DIMS_BUDGET", "five minutes")
    with pytest.raises(ValueError, match="TSRT_AOTI_DIMS_BUDGET='five minutes' is not a number of seconds"):
        export(_small_cnn(), (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti")
    assert not (tmp_path / "cnn.pt2").exists()


def test_a_dynamic_package_that_does_not_match_eager_is_compiled_again_fixed(tmp_path, aoti_cache, monkeypatch, frozen_by_default):
    """Inductor can miscompile a model with symbolic sizes (RAFT with a dynamic batch: off by
    1.5 at the example). Dimensions nobody declared stay dynamic only where the package
    matches eager: otherwise export compiles again with the example's shapes fixed."""
    from tsrt.exporter import aoti
    from tsrt.exporter.verify import VerificationFailed

    real_verify = aoti.verify_in_cpp
    calls = []

    def verify_failing_the_dynamic_package(path, device="cpu"):
        dynamic = tsrt.load(path).signature("forward")["inputs"][0]["spec"]["dynamic_dims"]
        calls.append(tuple(dynamic))
        if dynamic:
            raise VerificationFailed("the saved model does not match eager PyTorch when run by libtsrt: output: "
                                     "max abs 1.5 outside atol 1e-05")
        return real_verify(path, device)

    monkeypatch.setattr(aoti, "verify_in_cpp", verify_failing_the_dynamic_package)
    module = _small_cnn()
    report = export(module, (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti")
    assert calls == [(0, 2, 3), ()], "the fixed package must be verified too"
    assert report.dynamic["summary"].startswith("none (fixed")
    assert any(finding.startswith("[verify] compiled with input[0,2,3] dynamic dimensions and freezing on, the "
                                  "package does not match eager (the saved model does not match eager PyTorch")
               and finding.endswith(": compiling again with the example's shapes fixed")
               for finding in report.findings), report.findings
    assert report.compile["inductor_configs"]["freezing"] is True
    assert report.verification and all(check["passed"] for check in report.verification)
    loaded = tsrt.load(tmp_path / "cnn.pt2")
    assert loaded.signature("forward")["inputs"][0]["spec"]["dynamic_dims"] == []
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        compare(loaded(x), module(x), 1e-5, 1e-4)


def test_a_declared_dynamic_dimension_is_never_dropped_silently(tmp_path, aoti_cache, monkeypatch):
    """With dynamic= the user decided: a package that does not match is rejected, not refixed."""
    from tsrt.exporter import aoti, verify
    from tsrt.exporter.verify import VerificationFailed

    def failing(path, device="cpu"):
        raise VerificationFailed("the saved model does not match eager PyTorch when run by libtsrt: output: max abs 1.5")

    monkeypatch.setattr(aoti, "verify_in_cpp", failing)
    monkeypatch.setattr(verify, "verify_in_cpp", failing)
    with pytest.raises(ExportError, match="does not match eager"):
        export(_small_cnn(), (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti", dynamic={"input": [0]})
    assert not (tmp_path / "cnn.pt2").exists() and (tmp_path / "cnn.rejected.pt2").exists()


def test_a_package_that_fails_on_a_golden_input_is_rejected_like_a_wrong_answer(tmp_path, aoti_cache, monkeypatch):
    """RAFT's miscompiled package raised in C++ at the golden batch 2: that is a failed
    verification (the file is kept as .rejected), not an error that escapes export."""
    from tsrt.exporter import verify

    real_load = verify.load

    class FailsOnGolden:
        def __init__(self, path, device="cpu"):
            self.model = real_load(path, device=device)

        def verify(self):
            self.model.run("forward", torch.randn(2, 5, 16, 16))  # wrong channels: a real tsrt.Error

    monkeypatch.setattr(verify, "load", FailsOnGolden)
    with pytest.raises(ExportError) as info:
        export(_small_cnn(), (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti", dynamic={"input": [0]})
    assert any(finding.startswith("[verify] the saved model fails in C++ on its golden inputs, where eager "
                                  "PyTorch runs: ") for finding in info.value.report.findings), info.value.report.findings
    assert not (tmp_path / "cnn.pt2").exists() and (tmp_path / "cnn.rejected.pt2").exists()


def test_a_frozen_package_that_does_not_match_is_compiled_again_without_freezing(tmp_path, aoti_cache, monkeypatch, frozen_by_default):
    """Freezing is tsrt's choice, not the caller's: kept only where the package matches."""
    from tsrt.exporter import aoti
    from tsrt.exporter.verify import VerificationFailed

    real_verify = aoti.verify_in_cpp
    calls = []

    def fail_first(path, device="cpu"):
        calls.append(path)
        if len(calls) == 1:
            raise VerificationFailed("the saved model does not match eager PyTorch when run by libtsrt: output: max abs 1.5")
        return real_verify(path, device)

    monkeypatch.setattr(aoti, "verify_in_cpp", fail_first)
    module = _small_cnn()
    report = export(module, (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti", dynamic={"input": [0]})
    assert len(calls) == 1, "the last settings are verified by publishing, as any package"
    assert report.verification and all(check["passed"] for check in report.verification)
    assert report.compile["inductor_configs"]["freezing"] is False
    assert any(finding.startswith("[verify] compiled with input[0] dynamic dimensions and freezing on") and
               finding.endswith("compiling again without freezing") for finding in report.findings), report.findings
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        compare(tsrt.load(tmp_path / "cnn.pt2")(x), module(x), 1e-5, 1e-4)


def test_freezing_the_caller_asked_for_is_not_dropped(tmp_path, aoti_cache, monkeypatch):
    from tsrt.exporter import aoti

    monkeypatch.setattr(aoti, "verify_in_cpp", lambda *_: pytest.fail("no safer settings to try: no early check"))
    report = export(_small_cnn(), (torch.randn(2, 3, 16, 16),), tmp_path / "cnn.pt2", format="aoti",
                    dynamic={"input": [0]}, inductor_configs={"freezing": True})
    assert report.compile["inductor_configs"]["freezing"] is True and report.verification


def test_small_models_compile_unfrozen_with_autotuned_gemms(monkeypatch):
    # Freezing pre-packs weights, which costs a fixed ~15 us a layer a call: the zoo MLP's
    # package ran 7x slower with it; Inductor's own GEMMs beat MKL's on its tiny matrices.
    # Large models keep freezing, and a caller's setting always wins.
    from tsrt.exporter.aoti_compile import SMALL_MODEL_CONFIGS, SMALL_WEIGHT_ELEMENTS, inductor_configs_for
    monkeypatch.delenv("TSRT_AOTI_AUTOTUNE", raising=False)
    small = torch.nn.Linear(64, 32)
    large = torch.nn.Linear(SMALL_WEIGHT_ELEMENTS, 1)
    assert inductor_configs_for(None, small) == SMALL_MODEL_CONFIGS
    assert SMALL_MODEL_CONFIGS == {"freezing": False, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"}
    assert inductor_configs_for(None, large) == {"freezing": True}
    assert inductor_configs_for({"cpp.weight_prepack": False}, small) == {"freezing": True, "cpp.weight_prepack": False}
    assert inductor_configs_for({"freezing": True}, small) == {"freezing": True}
    assert inductor_configs_for({"freezing": False}, small) == {"freezing": False}
    assert inductor_configs_for({"max_autotune": False}, small) == {"freezing": True, "max_autotune": False}
    assert inductor_configs_for(None) == {"freezing": True}
    monkeypatch.setenv("TSRT_AOTI_AUTOTUNE", "0")
    assert inductor_configs_for(None, small) == {"freezing": False}


def test_a_small_model_gets_inductor_gemms_that_match_eager(tmp_path, monkeypatch):
    """The default for a small model, compiled for real: Inductor's C++ micro-GEMMs in the
    package, right at batches the example did not show."""
    monkeypatch.delenv("TSRT_AOTI_AUTOTUNE", raising=False)
    monkeypatch.delenv("TSRT_AOTI_CACHE", raising=False)
    entry = zoo.get("mlp")
    model = entry.build()
    report = tsrt.export(model, entry.example_inputs(), tmp_path / "mlp.pt2", format="aoti")
    assert report.compile["inductor_configs"]["max_autotune"] is True
    with zipfile.ZipFile(tmp_path / "mlp.pt2") as archive:
        source = "".join(archive.read(name).decode() for name in archive.namelist() if name.endswith(".cpp"))
    assert "micro_gemm" in source
    loaded = tsrt.load(tmp_path / "mlp.pt2")
    for seed, batch in enumerate([1, 5, 300]):
        x = torch.randn(batch, *entry.inputs[0].shape[1:], generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(loaded(x), expected, atol=1e-5, rtol=1e-4)


PACKING_ORDER = """
import sys, zipfile, torch, tsrt
from tsrt.spec import TensorSpec
def packed(model, width, path):
    tsrt.export(model.eval(), (torch.rand(2, width),), path, format="aoti", golden=1,
                input_specs=[TensorSpec("input", (2, width), dynamic_dims=(0,))])
    with zipfile.ZipFile(path) as archive:
        return any("linear_pointwise" in archive.read(name).decode() for name in archive.namelist()
                   if name.endswith("wrapper.cpp"))
small = packed(torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU()), 64, sys.argv[1] + "/small.pt2")
large = packed(torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU()), 512, sys.argv[1] + "/large.pt2")
again = packed(torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU()), 64, sys.argv[1] + "/again.pt2")
print(small, large, again)
"""


def test_weight_packing_follows_each_model_not_the_first_compile_of_the_process(tmp_path):
    """Inductor registers its weight-packing patterns once a process: with a per-model
    "cpp.weight_prepack" setting, the first compile's held for all the others. In a fresh
    process: small (not packed), then large (packed), then small again (not packed)."""
    run = subprocess.run([sys.executable, "-c", PACKING_ORDER, str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600, env={**os.environ, "TSRT_AOTI_CACHE": ""})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["False", "True", "False"]
