"""A subset of `python scripts/fuzz_loader.py --format pt2`: damaged copies of AOTInductor
packages (the compiled library and the weights at its end, metadata, golden pairs,
central directory, removed and duplicated entries, names that climb out of the
extraction folder, symlinks, names that are not UTF-8, zip bombs) are refused with a
clean tsrt.Error (or "infer: error:"), or load and give the original's outputs. None
may crash, hang, compute something else, fail uncleanly, or write outside its folder.

The full run (1,000 cases) is `python scripts/fuzz_loader.py --format pt2 --cases 1000
--seed 0`; a failing case below is rebuilt with `--format pt2 --seed 1 --index N`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import INFER
from tsrt.testing import fuzz

SEED = 1
CASES = 90  # six of each kind; a package load costs ~0.1 s more than a TorchScript one
INFER_SHARE = 0.1


@pytest.fixture(scope="module")
def sources(aoti_packages) -> list[Path]:
    # The packages compiled for the AOTI tests; the script compiles the same models.
    return [aoti_packages["extra_method"], aoti_packages["resnet_cnn"]]


@pytest.fixture(scope="module")
def keep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_pt2_findings")


@pytest.fixture(scope="module")
def report(sources: list[Path], keep: Path):
    cases = fuzz.make_cases(sources, CASES, SEED, mutations=fuzz.PT2_MUTATIONS)
    return fuzz.run_cases(cases, infer_share=INFER_SHARE, timeout=60.0, infer=INFER, keep=keep)


def _findings(report, keep: Path) -> str:
    return f"{fuzz.format_table(report)}\n{fuzz.format_findings(report, keep)}"


def test_every_package_mutation_kind_is_exercised(report):
    assert set(report.by_kind) == set(fuzz.PT2_KINDS), set(fuzz.PT2_KINDS) - set(report.by_kind)
    routes = {route: sum(counts.values()) for route, counts in report.by_route.items()}
    assert routes.get("infer", 0) >= 3 and routes.get("worker", 0) >= 70, routes


def test_attacks_are_always_refused(report, keep):
    # Escaping names, symlinks and bombs must never load: "same" would mean the check let them through.
    for kind in ("evil_name", "special_entry", "zip_bomb"):
        counts = report.by_kind[kind]
        assert counts["error"] == sum(counts.values()), f"{kind}: {dict(counts)}\n{_findings(report, keep)}"


def test_flipped_library_bytes_never_load(report, keep):
    counts = report.by_kind["flip_library"]
    assert counts["error"] == sum(counts.values()), f"{dict(counts)}\n{_findings(report, keep)}"


def test_harmless_changes_still_load(report):
    assert report.by_kind["reorder_entries"]["same"] > 0, fuzz.format_table(report)


def test_no_bad_outcome(report, keep):
    bad = {outcome: report.by_outcome[outcome] for outcome in fuzz.BAD_OUTCOMES}
    assert not any(bad.values()), f"{bad}\n{_findings(report, keep)}"
