"""adaptive_threads: load times forward on one thread and on the caller's count, and
small calls then run on one thread (tsrt/optimize.h). Which way the timing goes is the
machine's business; these tests check what must hold either way: the line that says
what was chosen, outputs equal to eager at every size, the caller's thread count
unchanged after a call, and loads that never fail because of the probe."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import tsrt  # before torch, as everywhere
import torch
from torch import nn

from tsrt.zoo.mlp import MLP

LINE = "threads per call:"

@pytest.fixture
def two_threads():
    """The loading and calling thread on 2 intra-op threads, as on the 2-core machine."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: there is no second thread to choose against")
    before = torch.get_num_threads()
    tsrt.set_num_threads(2)
    yield
    tsrt.set_num_threads(before)


def thread_lines(model: tsrt.Model) -> list[str]:
    return [step for step in model.optimizations if step.startswith(LINE)]


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return MLP().eval()


@pytest.fixture(scope="module")
def mlp_file(mlp, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("adaptive") / "mlp.pt"
    tsrt.export(mlp, (torch.randn(4, 64),), path, mode="trace", dynamic={"x": [0]})
    return path


def test_dynamic_batch_gets_a_choice_and_matches_eager_at_every_size(two_threads, mlp, mlp_file):
    model = tsrt.load(mlp_file)
    lines = thread_lines(model)
    assert len(lines) == 1, model.optimizations
    line = lines[0]
    # Either way it names the declared shape it timed and what the probe cost.
    assert re.search(r"probed \d sizes? \(4x64( to \d+x64)?\) in [0-9.]+ ms$", line), line
    assert re.search(r"threads per call: (1 up to \d+ input elements|always 2 \(2 threads won clearly from the first size)", line), line
    for batch in (1, 8, 64, 1024):
        x = torch.randn(batch, 64)
        with torch.no_grad():
            expected = mlp(x)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)


def test_off_gives_no_line(two_threads, mlp_file):
    model = tsrt.load(mlp_file, adaptive_threads=False)
    assert thread_lines(model) == [], model.optimizations
    assert model(torch.randn(8, 64)).shape == (8, 10)


def test_one_thread_gets_no_line(mlp_file):
    before = torch.get_num_threads()
    tsrt.set_num_threads(1)
    try:
        model = tsrt.load(mlp_file)
    finally:
        tsrt.set_num_threads(before)
    assert thread_lines(model) == [], model.optimizations


def test_fixed_shape_file_gets_one_comparison(two_threads, mlp, tmp_path):
    path = tmp_path / "fixed.pt"
    tsrt.export(mlp, (torch.randn(8, 64),), path, mode="trace", dynamic={"x": []})
    model = tsrt.load(path)
    [line] = thread_lines(model)
    assert re.search(r"probed 1 size \(8x64\) in [0-9.]+ ms$", line), line
    assert ("threads per call: 1, the file's shapes being fixed" in line
            or "threads per call: always 2 (2 threads won clearly from the first size" in line), line
    x = torch.randn(8, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), mlp(x), atol=1e-5, rtol=0)


def test_file_without_shapes_is_not_probed(two_threads, mlp, tmp_path):
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(mlp), str(path))  # no tsrt metadata
    model = tsrt.load(path)
    assert thread_lines(model) == ["threads per call: always 2 (not probed: forward's input shapes are not in "
                                   "the metadata)"], model.optimizations
    assert model(torch.randn(3, 64)).shape == (3, 10)


class SmallBatchesOnly(nn.Module):
    """Takes batches of at most 4, and values below 100: the probe's grown batches fail."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.shape[0] <= 4, "at most 4 rows")
        torch._assert(bool((x < 100).all()), "values below 100")
        return self.fc(x)


@pytest.fixture(scope="module")
def small_batches_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("adaptive") / "small.pt"
    torch.manual_seed(0)
    module = SmallBatchesOnly().eval()
    # Scripted, so the checks stay in the graph; the batch declared dynamic (the
    # export's own check at other batches stays below 4).
    tsrt.export(module, (torch.randn(2, 64),), path, mode="script", dynamic={"x": [0]})
    return path


def test_model_that_fails_at_grown_batches_still_loads(two_threads, small_batches_file):
    model = tsrt.load(small_batches_file)
    [line] = thread_lines(model)
    # 2x64 and 4x64 timed, 8x64 threw and ended the probe.
    assert "probed 2 sizes (2x64 to 4x64; 8x64 failed) in " in line, line
    assert model(torch.randn(3, 64)).shape == (3, 10)


def test_callers_thread_count_is_kept_after_calls_and_failures(two_threads, small_batches_file):
    model = tsrt.load(small_batches_file)
    assert torch.get_num_threads() == 2
    model(torch.randn(1, 64))  # within any size the probe can have chosen one thread for
    assert torch.get_num_threads() == 2
    with pytest.raises(tsrt.Error, match="values below 100"):
        model(torch.full((1, 64), 1000.0))  # the same size, failing inside the call
    assert torch.get_num_threads() == 2
    with pytest.raises(tsrt.Error, match="at most 4 rows"):
        model(torch.randn(16, 64))
    assert torch.get_num_threads() == 2


def test_load_keyword_reaches_cpp():
    assert tsrt._C.OptimizeOptions().adaptive_threads is True
