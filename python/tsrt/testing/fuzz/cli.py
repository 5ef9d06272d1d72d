"""The command line of scripts/fuzz_loader.py (see tsrt.testing.fuzz for what it does)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Sequence

from . import __doc__ as fuzz_doc
from .mutators import DEFAULT_MODELS, MUTATIONS, make_cases
from .pt2_mutators import PT2_MUTATIONS
from .report import format_findings, format_table, run_cases

# Packages compile for ~20 s each: two models that stand for the zoo (two compiled
# methods; convolutions with a dynamic spatial size).
DEFAULT_PT2_MODELS = ("extra_method", "resnet_cnn")


def export_sources(work: Path, names: Sequence[str], zoo: ModuleType, format: str = "torchscript") -> list[Path]:
    """Exports the zoo models `names` (mode auto; format "torchscript" or "pt2") into
    work/, reusing files already there. `zoo` is tsrt.zoo (or a package like it)."""
    paths = []
    for name in names:
        path = work / (f"{name}.auto.pt" if format == "torchscript" else f"{name}.pt2")
        if not path.exists():
            zoo.get(name).export(path, "auto", format="torchscript" if format == "torchscript" else "aoti")
        paths.append(path)
    return paths


def main(zoo: ModuleType, default_infer: Path, argv: Sequence[str] | None = None) -> int:
    """The command line. `zoo`: the model zoo (the repository's models package, which
    the script passes in); `default_infer`: the ./infer to run when --infer is not given."""
    parser = argparse.ArgumentParser(
        description=fuzz_doc.splitlines()[0],
        epilog="example: python scripts/fuzz_loader.py --cases 2000 --seed 0 --keep /tmp/fuzz_findings")
    parser.add_argument("--cases", type=int, default=2000, help="how many cases (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int,
                        help="run only case INDEX of --seed (saved to --keep whatever its outcome)")
    parser.add_argument("--infer-share", type=float, default=0.1, help="share of cases run through ./infer --verify")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--keep", type=Path, help="save the files of corrupt/crash/hang/unclean cases here")
    parser.add_argument("--format", choices=("torchscript", "pt2"), default="torchscript",
                        help="what to fuzz: TorchScript exports, or AOTInductor packages (compiled once, ~20 s each)")
    parser.add_argument("--models", help="zoo models to mutate (comma-separated; default "
                        f"{','.join(DEFAULT_MODELS)}, or {','.join(DEFAULT_PT2_MODELS)} with --format pt2)")
    parser.add_argument("--work", type=Path, help="where the zoo exports go (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the report, every case included, as JSON")
    parser.add_argument("--infer", type=Path, help="the infer binary to fuzz (default ./infer; e.g. a sanitizer build)")
    args = parser.parse_args(argv)

    infer = (args.infer or default_infer).resolve()
    names = (args.models or ",".join(DEFAULT_PT2_MODELS if args.format == "pt2" else DEFAULT_MODELS)).split(",")
    mutations = PT2_MUTATIONS if args.format == "pt2" else MUTATIONS
    with tempfile.TemporaryDirectory(prefix="tsrt-fuzz-zoo-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        print(f"exporting {','.join(names)} ({args.format}) into {work}", file=sys.stderr)
        sources = export_sources(work, names, zoo, args.format)
        if args.index is not None:
            cases = make_cases(sources, 1, args.seed, start=args.index, mutations=mutations)
        else:
            cases = make_cases(sources, args.cases, args.seed, mutations=mutations)
        say = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
        report = run_cases(cases, args.infer_share, args.timeout, infer=infer, keep=args.keep,
                           keep_all=args.index is not None and args.keep is not None, progress=say)

    if args.json:
        print(json.dumps({"seed": args.seed, **report.to_json(with_results=True)}, indent=1))
    elif args.index is not None:
        finding = report.results[0]
        print(json.dumps(finding.to_json(), indent=1))
        if args.keep is not None:
            print(f"saved as {args.keep / finding.case.name}")
    else:
        print(format_table(report))
        print(f"{len(report.results)} cases in {report.seconds:.0f} s (seed {args.seed}, "
              f"{report.worker_restarts} worker restarts)")
        if report.findings:
            print(f"\n{len(report.findings)} findings:")
            print(format_findings(report, args.keep))
    return 1 if report.findings else 0
