"""A fast subset of scripts/fuzz_loader.py: damaged copies of zoo exports are refused
with a clean tsrt.Error (or "infer: error:"), or load and give the original's outputs.
None may crash, hang, or load and compute something else.

The full run is `python scripts/fuzz_loader.py --cases 2000 --seed 0`; a failing case
below is rebuilt with the `--seed/--index` command printed next to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tsrt import zoo
from conftest import INFER
from tsrt.testing import fuzz
from tsrt.testing.fuzz.cli import export_sources

SEED = 1
CASES = 320  # about 300 through the worker...
INFER_SHARE = 0.0625  # ...and about 20 through ./infer


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The exports the script mutates (mlp, resnet_cnn, gru_seq, multi_io, mixed_outputs; mode
    auto), so that its `--seed/--index` rebuilds any case of this test."""
    return export_sources(tmp_path_factory.mktemp("fuzz_sources"), fuzz.DEFAULT_MODELS, zoo)


@pytest.fixture(scope="module")
def keep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_findings")


@pytest.fixture(scope="module")
def report(sources: list[Path], keep: Path):
    cases = fuzz.make_cases(sources, CASES, SEED)
    return fuzz.run_cases(cases, infer_share=INFER_SHARE, timeout=20.0, infer=INFER, keep=keep)


def _findings(report, outcome: str, keep: Path) -> str:
    subset = fuzz.FuzzReport([r for r in report.results if r.result.outcome == outcome], report.seconds)
    return f"{len(subset.results)} {outcome} cases:\n{fuzz.format_findings(subset, keep)}"


def test_cases_are_reproducible_from_seed_and_index(sources):
    first = fuzz.make_cases(sources, 30, SEED)
    again = fuzz.make_cases(sources, 10, SEED, start=20)
    assert [(c.kind, c.variant, c.data) for c in first[20:]] == [(c.kind, c.variant, c.data) for c in again]


def test_every_mutation_kind_is_exercised_through_both_routes(report):
    by_kind = report.by_kind
    assert set(by_kind) == set(fuzz.KINDS), f"kinds never tried: {set(fuzz.KINDS) - set(by_kind)}"
    routes = {route: sum(counts.values()) for route, counts in report.by_route.items()}
    assert routes.get("worker", 0) >= 250 and 10 <= routes.get("infer", 0) <= 40, routes


def test_the_fuzzer_sees_both_refusals_and_harmless_changes(report):
    # Reordered entries are still a valid archive: they load unchanged. Empty files never load.
    assert report.by_kind["reorder_entries"]["same"] > 0, fuzz.format_table(report)
    assert report.by_kind["empty"]["error"] == sum(report.by_kind["empty"].values()), fuzz.format_table(report)


def test_no_crash(report, keep):
    assert report.by_outcome["crash"] == 0, _findings(report, "crash", keep)


def test_no_hang(report, keep):
    assert report.by_outcome["hang"] == 0, _findings(report, "hang", keep)


def test_no_silent_corruption(report, keep):
    assert report.by_outcome["corrupt"] == 0, _findings(report, "corrupt", keep)


def test_failures_are_clean_errors(report, keep):
    # tsrt.load promises tsrt.Error; anything else escapes `except tsrt.Error`.
    assert report.by_outcome["unclean"] == 0, _findings(report, "unclean", keep)
