"""What export fits to the model instead of assuming: the parity tolerance (from the
model's own float32 noise), the dimensions that may vary (probed), and what reaches
the output path (only a verified file). Each has its failing side tested too."""

from __future__ import annotations

import copy
import time

import pytest
import torch
from torch import nn

import tsrt
from tsrt.contract import flatten_outputs
from tsrt.exporter import pipeline
from tsrt.exporter.dynamic_dims import trial_sizes
from tsrt.exporter.mixed import mixed
from tsrt.exporter.tolerance import FLOOR, NOISE_FACTOR, fit_tolerance


class DeepConvNet(nn.Module):
    """Twenty conv+BN+ReLU blocks with real BatchNorm statistics: deep enough that
    float32 rounding grows past a fixed 1e-5 once freezing folds the BatchNorms."""

    def __init__(self, depth: int = 20, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3))) * 100.0


def deep_net() -> DeepConvNet:
    torch.manual_seed(0)
    model = DeepConvNet()
    model.train()
    with torch.no_grad():  # BatchNorm statistics that make the outputs vary
        for _ in range(3):
            model(torch.randn(8, 3, 16, 16))
    return model.eval()


def test_tolerance_is_fitted_to_the_model_and_recorded(tmp_path):
    model = deep_net()
    example = (torch.randn(2, 3, 16, 16),)
    tolerance, info = fit_tolerance(model, lambda m, xs: m(*xs), [example])
    assert info["source"].startswith("measured") and info["noise"] > 0
    assert tolerance.atol == pytest.approx(max(FLOOR.atol, NOISE_FACTOR * info["noise"]), rel=0.1)
    # The module was converted to float64 and back in place: its weights are float32 again.
    assert all(p.dtype == torch.float32 for p in model.parameters())
    report = tsrt.export(model, example, tmp_path / "deep.pt")
    recorded = tsrt.load(tmp_path / "deep.pt").metadata["tolerance"]
    assert recorded["atol"] == pytest.approx(report.tolerance["atol"]) and recorded["atol"] >= FLOOR.atol
    assert "tolerance: atol" in str(report) and "measured" in str(report)


def test_an_explicit_tolerance_wins(tmp_path):
    report = tsrt.export(deep_net(), (torch.randn(2, 3, 16, 16),), tmp_path / "deep.pt",
                         tolerance=tsrt.Tolerance(atol=1e-3, rtol=1e-3))
    assert report.tolerance["source"] == "given"
    assert tsrt.load(tmp_path / "deep.pt").metadata["tolerance"] == {"atol": 1e-3, "rtol": 1e-3}


def test_a_flipped_weight_fails_at_the_fitted_tolerance_and_never_reaches_the_output(tmp_path, monkeypatch):
    """The golden outputs come from the model with one weight's sign flipped, while the
    file holds the original: C++ verification must refuse it at the fitted tolerance,
    keep it only as deep.rejected.pt, and leave nothing (not even an older file) at
    the output path."""
    model = deep_net()
    example = (torch.randn(2, 3, 16, 16),)
    flipped = copy.deepcopy(model)
    with torch.no_grad():
        # One weight of the classifier, on a feature that is alive (many ReLU channels
        # of a random deep net are dead: flipping their weights changes nothing).
        alive = int(model.body(example[0]).mean(dim=(2, 3)).abs().sum(0).argmax())
        flipped.head.weight[0, alive] *= -1
    real_record = pipeline.record_golden
    monkeypatch.setattr(pipeline, "record_golden",
                        lambda run, *args: real_record(lambda *xs: flipped(*xs), *args))
    target = tmp_path / "deep.pt"
    target.write_bytes(b"an older export")
    with pytest.raises(tsrt.ExportError) as info:
        tsrt.export(model, example, target)
    assert not target.exists()
    assert (tmp_path / "deep.rejected.pt").is_file()
    assert info.value.report.rejected_path == str(tmp_path / "deep.rejected.pt")
    assert "does not match eager PyTorch when run by libtsrt" in str(info.value)
    assert info.value.code == "export_failed" and isinstance(info.value, tsrt.Error)
    assert not list(tmp_path.glob(".deep.*"))  # no staging file left behind


class Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class FixedWidth(nn.Module):
    """Dim 1 is Linear's features: eager itself refuses another size."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class BakedLength(nn.Module):
    """The trace turns x.size(1) into a constant through int(): another length runs
    in eager but not in the trace."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = int(x.size(1))
        return x.sum(dim=1, keepdim=True).expand(x.size(0), 8) * length


def test_dimensions_that_vary_are_found_and_the_others_stay_fixed(tmp_path):
    report = tsrt.export(Conv().eval(), (torch.randn(2, 3, 32, 32),), tmp_path / "conv.pt")
    assert tsrt.load(tmp_path / "conv.pt").metadata["methods"]["forward"]["inputs"][0]["dynamic_dims"] == [0, 2, 3]
    verdicts = {tuple(p["dims"]): p["verdict"] for p in report.dynamic["probed"]}
    assert verdicts[("x[2]", "x[3]")] == "dynamic" and verdicts[("x[1]",)].startswith("fixed: eager")

    report = tsrt.export(FixedWidth().eval(), (torch.randn(2, 12),), tmp_path / "fixed.pt")
    assert tsrt.load(tmp_path / "fixed.pt").metadata["methods"]["forward"]["inputs"][0]["dynamic_dims"] == [0]
    assert report.dynamic["probed"][0]["verdict"] == "fixed: eager PyTorch refuses other sizes"


def test_a_length_the_trace_baked_in_stays_fixed(tmp_path):
    report = tsrt.export(BakedLength().eval(), (torch.randn(2, 16),), tmp_path / "baked.pt", mode="trace")
    assert tsrt.load(tmp_path / "baked.pt").metadata["methods"]["forward"]["inputs"][0]["dynamic_dims"] == [0]
    assert report.dynamic["probed"][0]["verdict"].startswith("fixed: the capture")
    with pytest.raises(tsrt.Error, match="expects size 16 in dimension 1"):
        tsrt.load(tmp_path / "baked.pt")(torch.randn(2, 9))


class PoolsToOnePixel(nn.Module):
    """Five 2x poolings: 32x32 is its minimum, and the smaller trial size (16) pools to nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        for _ in range(5):
            x = nn.functional.max_pool2d(x, 2)
        return x.flatten(1)


def test_a_minimum_size_is_probed_with_larger_sizes(tmp_path):
    model = PoolsToOnePixel().eval()
    report = tsrt.export(model, (torch.randn(2, 3, 32, 32),), tmp_path / "pools.pt")
    loaded = tsrt.load(tmp_path / "pools.pt")
    assert loaded.metadata["methods"]["forward"]["inputs"][0]["dynamic_dims"] == [0, 2, 3]
    verdicts = {tuple(p["dims"]): p for p in report.dynamic["probed"]}
    assert verdicts[("x[2]", "x[3]")]["verdict"] == "dynamic"
    assert min(verdicts[("x[2]", "x[3]")]["tried"]) > 32
    for seed, shape in [(3, (1, 3, 64, 64)), (4, (3, 3, 48, 80))]:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), atol=1e-5, rtol=1e-4)
    pairs = loaded.verify()
    assert pairs and all(pair["passed"] for pair in pairs), pairs


def test_an_explicit_dynamic_declaration_wins(tmp_path):
    report = tsrt.export(Conv().eval(), (torch.randn(2, 3, 32, 32),), tmp_path / "conv.pt", dynamic={"x": [0]})
    assert tsrt.load(tmp_path / "conv.pt").metadata["methods"]["forward"]["inputs"][0]["dynamic_dims"] == [0]
    assert report.dynamic == {}


@pytest.mark.parametrize("size,expected", [(1, (2, 3)), (2, (1, 3)), (16, (8, 24)), (224, (192, 256)), (7, (6, 8))])
def test_trial_sizes_keep_the_power_of_two_factor(size, expected):
    assert trial_sizes(size) == expected


def test_conv_parity_at_probed_sizes_in_cpp(tmp_path):
    """The probed dimensions really run in C++ at sizes the export never tried."""
    model = Conv().eval()
    tsrt.export(model, (torch.randn(2, 3, 32, 32),), tmp_path / "conv.pt")
    loaded = tsrt.load(tmp_path / "conv.pt")
    for seed, shape in [(1, (1, 3, 20, 44)), (2, (3, 3, 64, 8))]:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), atol=1e-5, rtol=1e-4)


class RaisesInForward(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ torch.ones(5, 5)  # wrong inner size for the example


class TakesAList(nn.Module):
    def forward(self, images: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([image.mean() for image in images])


def test_every_failure_is_an_export_error_with_the_users_line(tmp_path):
    with pytest.raises(tsrt.ExportError) as info:
        tsrt.export(RaisesInForward().eval(), (torch.randn(2, 3),), tmp_path / "m.pt")
    text = str(info.value)
    assert text.startswith(f"export of {tmp_path / 'm.pt'} failed: RuntimeError: ")
    assert "RuntimeError" in text and "test_export_fit.py" in text and "x @ torch.ones(5, 5)" in text
    assert info.value.code == "export_failed" and not (tmp_path / "m.pt").exists()

    # A list of tensors is no failure any more (structured inputs, tests/test_structured_inputs.py):
    # it exports as it is, with no rewrite proposed.
    report = tsrt.export(TakesAList().eval(), ([torch.randn(3, 8, 8), torch.randn(3, 8, 8)],), tmp_path / "m.pt")
    assert not any("batched tensor" in line for line in report.findings)
    assert tsrt.load(tmp_path / "m.pt").metadata["methods"]["forward"]["inputs"][0]["kind"] == "list"


def test_the_report_says_why_each_rejected_attempt_was_rejected(tmp_path):
    report = tsrt.zoo.get("gated").export(tmp_path / "gated.pt")
    assert report.mode == "script"
    assert report.attempts and report.attempts[0].startswith("trace: ")
    assert "rejected trace:" in str(report)


def test_repeated_findings_are_grouped_with_a_count():
    report = tsrt.ExportReport(path="m.pt", mode="trace", reason="r", findings=["a", "b", "a", "a"])
    assert str(report).splitlines()[1:3] == ["  - a (x3)", "  - b"]


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Gate()
        self.other = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.other(x))


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x - 1


def test_mixed_scripts_the_class_the_warnings_point_at_and_respects_its_budget():
    from tsrt.capture import trace
    from tsrt.exporter import check

    model = Branchy().eval()
    example = (torch.randn(2, 4),)
    traced = trace(model, example)
    expected = check.reference(model, [example, (-torch.ones(2, 4) * 5,), (torch.ones(2, 4) * 5,)])
    started = time.perf_counter()
    found = mixed(model, example, lambda c: check.divergence(c.module, expected, tsrt.Tolerance()), traced)
    assert found.module is not None and "class Gate scripted" in found.findings[0].message
    assert time.perf_counter() - started < 60
    assert isinstance(model.inner, Gate)  # the swapped submodule is put back
    out_of_time = mixed(model, example, lambda c: "never", traced, budget_seconds=-1)
    assert out_of_time.module is None and "stopped after" in out_of_time.findings[0].message


def test_outputs_of_a_flattened_trace_are_named_by_the_one_path_rule(tmp_path):
    class Nested(nn.Module):
        def forward(self, x: torch.Tensor):
            return {"a": x + 1, "pair": (x * 2, None)}

    tsrt.export(Nested().eval(), (torch.randn(2, 3),), tmp_path / "n.pt", mode="trace")
    names = tsrt.load(tmp_path / "n.pt").metadata["methods"]["forward"]["outputs"]
    eager_paths = [p for p, leaf in flatten_outputs(Nested()(torch.randn(2, 3))) if leaf is not None]
    assert names == eager_paths == ["output['a']", "output['pair'][0]"]


class Float32Only(nn.Module):
    """Makes a float32 tensor inside forward: the model cannot run in float64."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) @ torch.eye(8, dtype=torch.float32)  # matmul refuses float64 @ float32


def test_a_model_that_cannot_run_in_float64_gets_an_estimated_tolerance():
    model = Float32Only().eval()
    tolerance, info = fit_tolerance(model, lambda m, xs: m(*xs), [(torch.randn(4, 8) * 1000,)])
    assert "a float32 rounding of the inputs" in info["source"] and info["noise"] > 0
    assert tolerance.atol >= FLOOR.atol and all(p.dtype == torch.float32 for p in model.parameters())


def test_keyword_inputs_must_name_forwards_parameters(tmp_path):
    with pytest.raises(ValueError, match=r"example inputs \['x'\] are not parameters of Conv2d.forward\(input\)"):
        tsrt.export(nn.Conv2d(3, 4, 3).eval(), {"x": torch.randn(1, 3, 8, 8)}, tmp_path / "m.pt")
