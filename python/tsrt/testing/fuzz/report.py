"""Running a list of cases and counting outcomes: the report, its table, its findings
and the files kept to rebuild them."""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from .mutators import KINDS, Case, goes_to_infer
from .pt2_mutators import ESCAPE_PREFIX, PT2_KINDS
from .worker import Result, Worker, run_infer

OUTCOMES = ("same", "error", "corrupt", "crash", "hang", "unclean")
BAD_OUTCOMES = ("corrupt", "crash", "hang", "unclean")


@dataclass
class CaseResult:
    case: Case
    result: Result

    def to_json(self) -> dict:
        return {"seed": self.case.seed, "index": self.case.index, "kind": self.case.kind,
                "source": str(self.case.source), "variant": self.case.variant, **asdict(self.result)}


@dataclass
class FuzzReport:
    """Everything run_cases saw."""

    results: list[CaseResult]
    seconds: float
    worker_restarts: int = 0

    @property
    def by_outcome(self) -> Counter:
        return Counter(r.result.outcome for r in self.results)

    def _outcomes_by(self, key: Callable[[CaseResult], str]) -> dict[str, Counter]:
        table: dict[str, Counter] = {}
        for r in self.results:
            table.setdefault(key(r), Counter())[r.result.outcome] += 1
        return table

    @property
    def by_kind(self) -> dict[str, Counter]:
        return self._outcomes_by(lambda r: r.case.kind)

    @property
    def by_route(self) -> dict[str, Counter]:
        return self._outcomes_by(lambda r: r.result.route)

    @property
    def findings(self) -> list[CaseResult]:
        return [r for r in self.results if r.result.outcome in BAD_OUTCOMES]

    def to_json(self, with_results: bool = False) -> dict:
        out = {"cases": len(self.results), "seconds": round(self.seconds, 1), "worker_restarts": self.worker_restarts,
                "by_outcome": {o: self.by_outcome[o] for o in OUTCOMES},
                "by_kind": {k: {o: c[o] for o in OUTCOMES} for k, c in self.by_kind.items()},
                "by_route": {k: {o: c[o] for o in OUTCOMES} for k, c in self.by_route.items()},
                "findings": [f.to_json() for f in self.findings]}
        if with_results:
            out["results"] = [r.to_json() for r in self.results]
        return out


def reproduce_command(case: Case, path: Path, route: str) -> str:
    if route == "infer":
        return f"./infer {path} --verify"
    return f".venv/bin/python -c \"import tsrt; print(tsrt.load('{path}').verify())\""


def _keep(case: Case, result: Result, keep: Path) -> Path:
    keep.mkdir(parents=True, exist_ok=True)
    path = keep / case.name
    path.write_bytes(case.data)
    note = {**CaseResult(case, result).to_json(), "file": str(path),
            "rebuild": f"python scripts/fuzz_loader.py --seed {case.seed} --index {case.index} --keep {keep}",
            "reproduce": reproduce_command(case, path, result.route)}
    path.with_suffix(".json").write_text(json.dumps(note, indent=1) + "\n")
    return path


def _escaped_files() -> list[Path]:
    """Files that an escaping entry of pt2_mutators would have written: its names aim
    at tmp/ under the root, the working directory or a temporary folder."""
    folders = {Path("/"), Path.cwd(), Path(tempfile.gettempdir()), Path("/tmp")}
    candidates = {f for folder in folders for f in (folder, folder / "tmp") if f.is_dir()}
    return sorted(p for folder in candidates for p in folder.glob(f"{ESCAPE_PREFIX}*"))


def run_cases(cases: Sequence[Case], infer_share: float = 0.1, timeout: float = 20.0, *,
              infer: Path | None = None, keep: Path | None = None, keep_all: bool = False,
              progress: Callable[[str], None] | None = None) -> FuzzReport:
    """Runs every case (through the worker, or ./infer for `infer_share` of them) and counts outcomes.

    infer: the ./infer launcher (or a built binary, e.g. a sanitizer build) for the
    `infer_share` of cases that go through it; required when infer_share > 0.
    keep: a folder where the files of corrupt/crash/hang/unclean cases (all cases with
    keep_all) are saved with a .json note saying how to rebuild and rerun them.
    """
    if infer is None and infer_share > 0:
        raise ValueError("run_cases: infer_share > 0 needs the path of ./infer (infer=...)")
    start = time.monotonic()
    results: list[CaseResult] = []
    worker = Worker()
    with tempfile.TemporaryDirectory(prefix="tsrt-fuzz-") as scratch:
        try:
            for number, case in enumerate(cases, 1):
                path = Path(scratch) / case.name
                path.write_bytes(case.data)
                began = time.monotonic()
                if goes_to_infer(case, infer_share):
                    result = run_infer(path, timeout, infer)
                else:
                    result = worker.check(path, case.source, timeout)
                result.seconds = round(time.monotonic() - began, 3)
                escaped = _escaped_files()
                if escaped:
                    # Whatever else happened, a file written outside the extraction folder is the worst outcome.
                    result = Result("corrupt", "escape", f"wrote outside its folder: {', '.join(map(str, escaped))}; "
                                    f"{result.outcome}: {result.detail}", route=result.route, seconds=result.seconds)
                    for stray in escaped:
                        stray.unlink()
                results.append(CaseResult(case, result))
                path.unlink()
                if keep is not None and (keep_all or result.outcome in BAD_OUTCOMES):
                    _keep(case, result, keep)
                if progress and (number % 100 == 0 or number == len(cases)):
                    counts = Counter(r.result.outcome for r in results)
                    progress(f"[{number}/{len(cases)}] {time.monotonic() - start:.0f} s  " +
                             "  ".join(f"{o} {counts[o]}" for o in OUTCOMES))
        finally:
            worker.close()
    return FuzzReport(results, time.monotonic() - start, worker.restarts)


def format_table(report: FuzzReport) -> str:
    """Outcomes per mutation kind, then totals and per route: the closing-note table."""
    seen = report.by_kind
    kinds = tuple(k for k in KINDS + tuple(k for k in PT2_KINDS if k not in KINDS) if k in seen) or KINDS
    width = max(len(k) for k in kinds + ("total",))
    header = f"{'kind':<{width}}  {'cases':>5}  " + "  ".join(f"{o:>7}" for o in OUTCOMES)
    lines = [header, "-" * len(header)]
    by_kind = report.by_kind
    for kind in kinds:
        counts = by_kind.get(kind, Counter())
        lines.append(f"{kind:<{width}}  {sum(counts.values()):>5}  " + "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    lines.append("-" * len(header))
    total = report.by_outcome
    lines.append(f"{'total':<{width}}  {len(report.results):>5}  " + "  ".join(f"{total[o]:>7}" for o in OUTCOMES))
    for route, counts in sorted(report.by_route.items()):
        lines.append(f"{'via ' + route:<{width}}  {sum(counts.values()):>5}  " +
                     "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    return "\n".join(lines)


def format_findings(report: FuzzReport, keep: Path | None) -> str:
    """One paragraph per bad outcome: what was done, what happened, how to rebuild it."""
    lines = []
    for finding in report.findings:
        case, result = finding.case, finding.result
        lines.append(f"{result.outcome.upper()}  seed {case.seed} index {case.index}  {case.kind} of "
                     f"{case.source.name}  via {result.route}: {case.variant}")
        lines.append(f"    {result.detail}")
        if keep is not None:
            path = keep / case.name
            lines.append(f"    saved as {path}; rerun: {reproduce_command(case, path, result.route)}")
        lines.append(f"    rebuild: python scripts/fuzz_loader.py --seed {case.seed} --index {case.index} --keep DIR")
    return "\n".join(lines)
