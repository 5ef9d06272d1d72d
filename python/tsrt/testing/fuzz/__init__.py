"""Fuzzes the model loader with damaged copies of real zoo exports (TorchScript files,
or AOTInductor packages with --format pt2).

    python scripts/fuzz_loader.py --cases 2000 --seed 0 [--infer-share 0.1] [--keep DIR] [--json]
    python scripts/fuzz_loader.py --format pt2 --cases 1000 --seed 0   # AOTInductor packages
    python scripts/fuzz_loader.py --seed 0 --index 417 --keep /tmp/case   # rebuild and rerun one case

Each case is a file made from a zoo export (or from nothing) by one kind of mutation
(KINDS, taking turns): truncation; flipped bytes anywhere, or aimed at tensor data,
at deflated records (code/*.py, *.debug_pkl: the archive check has no CRC for them),
at local headers, the central directory or the end records; removed, duplicated or
reordered entries; zips of other things; empty files; header fields set to huge
values; random bytes; and "ambiguous" archives that two zip readers may read
differently (a second entry whose name differs only in letter case, a zip64 end
record pointing at another central directory). Packages get their own kinds
(pt2_mutators.PT2_KINDS): flips in the compiled library (code and the weights at
its end), the metadata, the golden pairs and the kept sources; entries whose names
climb out of the extraction folder, symlinks and devices, names that are not UTF-8,
zip bombs. A file written outside the folder counts as corrupt. Case INDEX of seed SEED is the same
mutation on every run (given the same zoo exports), so `--index` rebuilds a finding.

A case's outcome is one of
  same     it loaded and its golden replay (Model.verify) passed: outputs equal the original's
           (when the mutation removed the golden records, the original's golden inputs are
           replayed instead and compared with the original model's outputs)
  error    a clean refusal: tsrt.Error, or ./infer exiting 1/2 with "infer: error:"
  corrupt  it loaded but its outputs differ from the original's: silent corruption
  crash    the process died (killed by a signal, or exited in the middle of a case)
  hang     no answer within --timeout seconds
  unclean  it failed, but not cleanly: another exception type than tsrt.Error, or ./infer
           exiting without "infer: error:" (e.g. "infer: internal error:")
Most cases run in a long-lived worker process (torch is imported once); --infer-share
of them run `./infer FILE --verify` instead. The exit status is 1 when any case is
corrupt, crash, hang or unclean.

The package: zip_layout (the zip parser and rebuilder), mutators (TorchScript
kinds, cases), pt2_mutators (package kinds), worker (running one case), report
(running many, the table), cli (the command line of scripts/fuzz_loader.py).
"""

from .mutators import DEFAULT_MODELS, KINDS, MUTATIONS, Case, Source, goes_to_infer, make_case, make_cases
from .pt2_mutators import ESCAPE_PREFIX, PT2_KINDS, PT2_MUTATIONS
from .report import (BAD_OUTCOMES, OUTCOMES, CaseResult, FuzzReport, format_findings, format_table,
                     reproduce_command, run_cases)
from .worker import Result, Worker, run_infer
from .zip_layout import ZipEntry, ZipLayout, parse_zip

__all__ = [
    "BAD_OUTCOMES", "DEFAULT_MODELS", "ESCAPE_PREFIX", "KINDS", "MUTATIONS", "OUTCOMES", "PT2_KINDS", "PT2_MUTATIONS",
    "Case", "CaseResult", "FuzzReport", "Result", "Source", "Worker", "ZipEntry", "ZipLayout", "format_findings",
    "format_table", "goes_to_infer", "make_case", "make_cases", "parse_zip", "reproduce_command", "run_cases",
    "run_infer",
]
