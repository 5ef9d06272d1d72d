"""Load-time optimisations (tsrt/optimize.h): each switch keeps parity with eager
PyTorch, says what it applied, and bf16 stays within its own tolerance."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from tsrt import zoo
import tsrt
from parity import Errors, compare, zoo_parity

SEEDS = (21, 22)

# One traced CNN (oneDNN-packed convolutions), one scripted transformer, one
# scripted model with data-dependent control flow, one with a second method.
CASES = [("resnet_cnn", "trace"), ("transformer_encoder", "script"), ("gated", "script"), ("extra_method", "trace")]
VARIANTS = {
    "no optimize_for_inference": dict(optimize_for_inference=False),
    "no oneDNN fusion": dict(onednn_fusion=False),
    "profiling executor": dict(graph_executor_optimize=True),
    "no InferenceMode": dict(inference_mode=False),
    "warm-up at load": dict(warmup_runs=2),
}


def parity(loaded: tsrt.Model, name: str, atol: float, rtol: float) -> Errors:
    return zoo_parity(loaded, zoo.get(name), atol, rtol, SEEDS)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name,mode", CASES)
def test_each_switch_keeps_parity(zoo_dir, name, mode, variant):
    entry = zoo.get(name)
    loaded = tsrt.load(zoo_dir / f"{name}.{mode}.pt", **VARIANTS[variant])
    parity(loaded, name, entry.tolerance.atol, entry.tolerance.rtol)


def test_default_load_says_what_it_applied(zoo_dir):
    steps = tsrt.load(zoo_dir / "mlp.trace.pt").optimizations
    assert "frozen in the file (weights are graph constants)" in steps
    assert any(step.startswith("optimize_for_inference (") for step in steps), steps
    assert "c10::InferenceMode on every call" in steps
    assert "graph executor: runs the optimised graph as is" in steps


@pytest.fixture(scope="module")
def fixed_shape_cnn(tmp_path_factory) -> str:
    """The zoo CNN exported for one input shape only: where oneDNN fusion applies."""
    entry = zoo.get("resnet_cnn")
    path = tmp_path_factory.mktemp("fixed") / "cnn.pt"
    specs = [dataclasses.replace(spec, dynamic_dims=()) for spec in entry.inputs]
    tsrt.export(entry.build(), entry.example_inputs(), path, mode="trace", input_specs=specs,
                tolerance=entry.tolerance)
    return str(path)


def test_fixed_shape_convolutions_get_onednn_fusion_compiled_at_load(fixed_shape_cnn):
    steps = tsrt.load(fixed_shape_cnn).optimizations
    assert any(step.startswith("oneDNN Graph fusion of convolutions") for step in steps), steps
    assert not any(step.startswith("optimize_for_inference") for step in steps), steps
    assert "warmed up forward (2 calls at the declared shapes)" in steps
    assert any(step.startswith("graph executor: profiling") for step in steps), steps
    steps = tsrt.load(fixed_shape_cnn, onednn_fusion=False).optimizations
    assert any(step.startswith("optimize_for_inference (") for step in steps), steps


def test_onednn_fusion_matches_eager(fixed_shape_cnn):
    entry = zoo.get("resnet_cnn")
    loaded = tsrt.load(fixed_shape_cnn)
    eager = entry.build()
    for seed in SEEDS + (23,):
        inputs = entry.example_inputs(seed=seed)
        with torch.no_grad():
            expected = eager(*inputs)
        for _ in range(3):
            compare(loaded(*inputs), expected, entry.tolerance.atol, entry.tolerance.rtol)


def dynamic_cnn_inputs(batch: int, size: int, seed: int) -> tuple[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand((batch, 3, size, size), generator=generator) * 2 - 1,)


def fused_lines(model: tsrt.Model) -> dict[str, str]:
    """runtime_report's per-shape lines, by their "forward(...)" key."""
    lines = {}
    for line in model.runtime_report:
        if line.startswith("oneDNN fusion for "):
            key, _, rest = line[len("oneDNN fusion for "):].partition(": ")
            lines[key] = rest
    return lines


def expect_eager(model: tsrt.Model, inputs: tuple[torch.Tensor], calls: int = 3) -> None:
    entry = zoo.get("resnet_cnn")
    with torch.no_grad():
        expected = entry.build()(*inputs)
    for _ in range(calls):
        compare(model(*inputs), expected, entry.tolerance.atol, entry.tolerance.rtol)


def test_dynamic_shapes_get_onednn_fusion_per_shape(zoo_dir):
    """A file with dynamic dimensions: each new input shape is fused at its first
    call, the declared one at load; every shape matches eager, the first call included."""
    model = tsrt.load(zoo_dir / "resnet_cnn.trace.pt")
    steps = model.optimizations
    assert any(step.startswith("oneDNN Graph fusion per input shape") for step in steps), steps
    assert any(step.startswith("optimize_for_inference (") for step in steps), steps  # for shapes past the bound
    assert "warmed up forward (1 calls at the declared shapes)" in steps
    assert list(fused_lines(model)) == ["forward(2x3x32x32 Float)"]
    for batch, size, seed in [(1, 32, 21), (5, 32, 22), (2, 40, 23), (1, 32, 24)]:
        expect_eager(model, dynamic_cnn_inputs(batch, size, seed))
    lines = fused_lines(model)
    assert set(lines) == {"forward(2x3x32x32 Float)", "forward(1x3x32x32 Float)", "forward(5x3x32x32 Float)",
                          "forward(2x3x40x40 Float)"}
    assert lines["forward(1x3x32x32 Float)"].endswith(", 6 calls"), lines
    assert all(line.startswith("compiled in ") for line in lines.values()), lines
    assert not any("ran unfused" in line for line in model.runtime_report), model.runtime_report


def test_shapes_past_the_bound_run_unfused_and_match(zoo_dir):
    model = tsrt.load(zoo_dir / "resnet_cnn.trace.pt", onednn_fusion_shapes=2)
    for batch, seed in [(1, 31), (3, 32), (4, 33)]:
        expect_eager(model, dynamic_cnn_inputs(batch, 32, seed))
    assert set(fused_lines(model)) == {"forward(2x3x32x32 Float)", "forward(1x3x32x32 Float)"}
    assert model.runtime_report[-1] == (
        "oneDNN fusion: 6 calls ran unfused (optimize_for_inference), 6 of them because 2 shapes were fused already")


def test_non_contiguous_inputs_run_unfused_and_match(zoo_dir):
    model = tsrt.load(zoo_dir / "resnet_cnn.trace.pt")
    (image,) = dynamic_cnn_inputs(2, 32, 41)
    strided = image.transpose(2, 3)  # same shape, not contiguous
    assert not strided.is_contiguous()
    expect_eager(model, (strided,), calls=2)
    assert model.runtime_report[-1].startswith("oneDNN fusion: 2 calls ran unfused"), model.runtime_report


def test_per_shape_fusion_can_be_turned_off(zoo_dir):
    model = tsrt.load(zoo_dir / "resnet_cnn.trace.pt", onednn_fusion_shapes=0)
    assert "oneDNN Graph fusion per input shape off (onednn_fusion_shapes 0)" in model.optimizations
    expect_eager(model, dynamic_cnn_inputs(3, 32, 51))
    assert model.runtime_report == []
    with pytest.raises(tsrt.Error, match="onednn_fusion_shapes must not be negative"):
        tsrt.load(zoo_dir / "resnet_cnn.trace.pt", onednn_fusion_shapes=-1)


def test_per_shape_fusion_from_many_threads(zoo_dir):
    """Threads meeting new shapes at once: one compiles each shape, the others run
    unfused meanwhile; every answer matches eager."""
    model = tsrt.load(zoo_dir / "resnet_cnn.trace.pt")
    eager = zoo.get("resnet_cnn").build()
    cases = [dynamic_cnn_inputs(batch, 32, 60 + batch) for batch in (1, 3, 4)]
    with torch.no_grad():
        expected = [eager(*inputs) for inputs in cases]
    failures: list[str] = []

    def work(offset: int) -> None:
        try:
            for step in range(6):
                index = (offset + step) % len(cases)
                compare(model(*cases[index]), expected[index], 1e-4, 1e-3)
        except Exception as error:  # reported below, with the thread's view
            failures.append(repr(error))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    lines = fused_lines(model)
    assert {"forward(1x3x32x32 Float)", "forward(3x3x32x32 Float)", "forward(4x3x32x32 Float)"} <= set(lines)
    calls = sum(int(line.rsplit(", ", 1)[1].split()[0]) for line in lines.values())
    unfused = next((int(line.split()[2]) for line in model.runtime_report if "ran unfused" in line), 0)
    assert calls + unfused == 1 + 4 * 6  # the load's warm-up call and every thread's


def test_bench_reports_the_shapes_it_fused(zoo_dir):
    model = tsrt.load(zoo_dir / "resnet_cnn.trace.pt")
    report = model.benchmark(*dynamic_cnn_inputs(3, 32, 71), iters=3, warmup_iters=1)
    assert any(line.startswith("oneDNN fusion for forward(3x3x32x32 Float): compiled in ")
               for line in report["optimizations"]), report["optimizations"]


def test_onednn_fusion_does_not_leak_into_other_torchscript(fixed_shape_cnn):
    """The fuser is a process-wide LibTorch pass: after tsrt runs a CNN with it,
    TorchScript compiled later in the process must not be fused."""
    model = tsrt.load(fixed_shape_cnn)
    model(*zoo.get("resnet_cnn").example_inputs(seed=1))
    module = torch.jit.freeze(torch.jit.script(zoo.get("resnet_cnn").build()).eval())
    x = zoo.get("resnet_cnn").example_inputs(seed=0)
    with torch.no_grad():
        for _ in range(3):
            module(*x)
    graph = str(torch.jit.last_executed_optimized_graph())
    assert "LlgaFusion" not in graph and "oneDNNFusion" not in graph


def test_onednn_fusion_does_not_leak_into_torchscript_compiled_meanwhile(fixed_shape_cnn):
    """The same while tsrt's fused CNN runs on another thread (the GIL released):
    TorchScript that the profiling executor compiles meanwhile, here on this thread,
    must not be fused either. When the fuser pass was registered for the process while
    any fusion window was open, it leaked into these compiles."""
    model = tsrt.load(fixed_shape_cnn)
    image = zoo.get("resnet_cnn").example_inputs(seed=1)
    stop = threading.Event()

    def keep_running() -> None:
        while not stop.is_set():
            model(*image)

    runner = threading.Thread(target=keep_running)
    runner.start()
    try:
        fused = []
        for attempt in range(6):
            module = torch.jit.freeze(torch.jit.script(zoo.get("resnet_cnn").build()).eval())
            x = zoo.get("resnet_cnn").example_inputs(seed=attempt)
            with torch.no_grad():
                for _ in range(3):
                    module(*x)
            graph = str(torch.jit.last_executed_optimized_graph())
            fused.append("LlgaFusion" in graph or "oneDNNFusion" in graph)
    finally:
        stop.set()
        runner.join()
    assert not any(fused), f"fused in {sum(fused)} of {len(fused)} compiles"


@pytest.fixture(scope="module")
def unfrozen_mlp(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("unfrozen") / "mlp.pt"
    zoo.get("mlp").export(path, "trace", freeze=False)
    return str(path)


def test_an_unfrozen_file_is_frozen_at_load(unfrozen_mlp):
    loaded = tsrt.load(unfrozen_mlp)
    assert "froze the module (torch::jit::freeze)" in loaded.optimizations
    entry = zoo.get("mlp")
    parity(loaded, "mlp", entry.tolerance.atol, entry.tolerance.rtol)


def test_freeze_off_keeps_the_weights_as_attributes(unfrozen_mlp):
    loaded = tsrt.load(unfrozen_mlp, freeze=False)
    steps = loaded.optimizations
    assert "not frozen (freeze off)" in steps
    assert "optimize_for_inference skipped: it needs a frozen module" in steps
    entry = zoo.get("mlp")
    parity(loaded, "mlp", entry.tolerance.atol, entry.tolerance.rtol)


# bf16 keeps 8 bits of mantissa: errors of about 2^-8 relative per operation,
# accumulated over a few layers. These bounds are what the zoo shows with headroom.
BF16_CASES = [("resnet_cnn", "trace", 0.05), ("mlp", "trace", 0.05), ("transformer_encoder", "script", 0.15),
              ("extra_method", "trace", 0.05)]


@pytest.mark.parametrize("name,mode,atol", BF16_CASES)
def test_bf16_matches_float32_eager_within_its_tolerance(zoo_dir, name, mode, atol, record_property):
    loaded = tsrt.load(zoo_dir / f"{name}.{mode}.pt", precision="bf16")
    assert any(step.startswith("precision bf16:") for step in loaded.optimizations)
    errors = parity(loaded, name, atol=atol, rtol=0.05)
    record_property("bf16_max_abs", errors.max_abs)
    # Not silently float32: bf16 really changed the numbers.
    assert errors.max_abs > 1e-6


def test_bf16_outputs_are_float32(zoo_dir):
    loaded = tsrt.load(zoo_dir / "resnet_cnn.trace.pt", precision="bf16")
    out = loaded(*zoo.get("resnet_cnn").example_inputs(seed=0))
    assert out.dtype == torch.float32


def test_unknown_precision_is_refused(zoo_dir):
    with pytest.raises(tsrt.Error, match="unknown precision 'int8'; expected fp32, bf16 or fp16") as info:
        tsrt.load(zoo_dir / "mlp.trace.pt", precision="int8")
    assert info.value.code == "invalid_argument"


class _FeedForward(torch.nn.Module):
    """A transformer's feed-forward block: 3-D activations through two linears and a norm."""

    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(48, 8192)  # 393,216 weights: the smallest pre-packed
        self.down = torch.nn.Linear(8192, 48, bias=False)
        self.small = torch.nn.Linear(48, 48)  # left on MKL
        self.norm = torch.nn.LayerNorm(48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.small(self.norm(x + self.down(torch.nn.functional.gelu(self.up(x)))))


@pytest.fixture(scope="module")
def plain_traced_linears(tmp_path_factory) -> tuple[str, torch.nn.Module]:
    """A file as users bring it: torch.jit.trace(model).save(), no tsrt metadata."""
    torch.manual_seed(5)
    model = _FeedForward().eval()
    path = tmp_path_factory.mktemp("traced") / "ffn.pt"
    with torch.no_grad():
        torch.jit.trace(model, torch.randn(2, 8, 48)).save(str(path))
    return str(path), model


def test_a_traced_files_linears_run_on_prepacked_onednn_weights(plain_traced_linears):
    path, model = plain_traced_linears
    loaded = tsrt.load(path)
    assert any(step.startswith("oneDNN linears: 2 weights pre-packed") for step in loaded.optimizations), \
        loaded.optimizations
    # several fresh inputs at the traced shape and at two others
    for shape in ((2, 8, 48), (1, 3, 48), (5, 33, 48)):
        for seed in SEEDS:
            x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                expected = model(x)
            compare(loaded(x), expected, atol=1e-5, rtol=1e-4)


def test_prepacked_linears_follow_optimize_for_inference(plain_traced_linears, zoo_dir):
    path, _ = plain_traced_linears
    steps = tsrt.load(path, optimize_for_inference=False).optimizations
    assert not any(step.startswith("oneDNN linears") for step in steps), steps
    # a CNN's linears are left to optimize_for_inference's own oneDNN conversion
    steps = tsrt.load(zoo_dir / "resnet_cnn.trace.pt", onednn_fusion=False).optimizations
    assert not any(step.startswith("oneDNN linears") for step in steps), steps
