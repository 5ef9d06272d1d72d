#!/usr/bin/env python3
"""Exports every model of the corpus (tsrt.testing.corpus) as a new user would, and
writes what happened to bench_results/corpus.{md,json}.

For each model: a baseline (plain torch.jit.trace, checked against eager at another
batch size); `tsrt.export(model, example, path)` with the defaults (mode auto), and
with format="aoti" (.pt2); each file run through tsrt.load and ./infer at the
model's two other shapes and compared with eager. Each export runs in a child
process with a time limit, so that peak RSS is the model's own and a crash or a
hang of one model does not stop the run. Results are written after every model.

    python scripts/corpus.py                      # everything (make corpus)
    python scripts/corpus.py --models resnet50,hf_bert --quick
    python scripts/corpus.py --models hf_bert_base --formats torchscript --limit 600
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"[:400]


def _metadata(path: Path) -> dict:
    """The tsrt.json inside a .pt or .pt2 file ({} when absent)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("tsrt.json"):
                    return json.loads(archive.read(name))
    except (OSError, zipfile.BadZipFile, ValueError):
        pass
    return {}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run_infer(path: Path, inputs, workdir: Path, label: str) -> tuple[list, str]:
    """./infer on `inputs` (saved as .npy, by input name); returns its outputs in order."""
    import numpy as np
    import torch

    from tsrt.testing import corpus

    names = list(inputs) if isinstance(inputs, dict) else None
    if names is None:
        signature = _metadata(path).get("methods", {}).get("forward", {}).get("inputs", [])
        names = [spec["name"] for spec in signature]
        values = list(inputs)
    else:
        values = [inputs[n] for n in names]
    if len(names) != len(values) or any(not isinstance(v, torch.Tensor) for v in values):
        return [], "inputs are not tensors named by the file's metadata: ./infer cannot be given them"
    outdir = workdir / f"infer_{label}"
    outdir.mkdir(parents=True, exist_ok=True)
    args = [str(ROOT / "infer"), str(path), "--save-outputs", str(outdir), "--json"]
    for name, value in zip(names, values):
        file = outdir / f"in_{name}.npy"
        np.save(file, value.numpy())
        args += ["--input", f"{name}={file}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return [], f"exit {done.returncode}: {message[0] if message else ''}"[:400]
    manifest = json.loads((outdir / "outputs.json").read_text())
    # outputs.json lists each leaf path with its file in ./infer's depth-first order (the
    # order of tsrt's one output-path rule), which is eager's: no sorting (a sort put
    # output[10] before output[2] and compared RAFT's 11th flow with its 3rd).
    leaves = [(p, torch.from_numpy(np.load(outdir / f))) for p, f in manifest.items() if f]
    return leaves, ""


def _check_file(path: Path, model, entry, tolerance: dict, workdir: Path, result: dict, prefix: str) -> None:
    """tsrt.load and ./infer at the entry's two other shapes, against eager."""
    import torch

    import tsrt
    from tsrt.testing import corpus

    atol, rtol = tolerance.get("atol", 1e-5), tolerance.get("rtol", 1e-4)
    try:
        loaded = tsrt.load(str(path))
    except Exception as error:  # noqa: BLE001 - recorded, the run goes on
        result[f"{prefix}load_error"] = _first_line(error)
        return
    worst = 0.0
    for label, make in entry.shapes:
        inputs = make(7)
        with torch.no_grad():
            expected = corpus.leaves(corpus.call(model, inputs))
        for runner in ("tsrt.load", "./infer"):
            key = f"{prefix}{runner} {label}"
            try:
                if runner == "tsrt.load":
                    actual = corpus.leaves(corpus.call(loaded, inputs))
                    error = ""
                else:
                    actual, error = _run_infer(path, inputs, workdir, f"{prefix}{label}".replace(" ", "_"))
                if error:
                    result[key] = {"ok": False, "error": error}
                    continue
                # names differ between eager (ModelOutput keys) and the file; compare in order
                if runner == "./infer" and len(actual) != len(expected):
                    actual = actual  # recorded as a count mismatch below
                comparison = corpus.compare(actual, expected, atol, rtol)
                result[key] = {"ok": comparison.within, "max_abs": comparison.max_abs, "detail": comparison.detail}
                if comparison.max_abs != float("inf"):
                    worst = max(worst, comparison.max_abs)
            except Exception as error:  # noqa: BLE001
                result[key] = {"ok": False, "error": _first_line(error)}
    result[f"{prefix}max_abs"] = worst


def _baseline(model, entry) -> dict:
    """Plain torch.jit.trace at the example, checked against eager at the first other shape."""
    import torch

    from tsrt.testing import corpus

    example = entry.example(0)
    label, make = entry.shapes[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(example, dict):
                traced = torch.jit.trace(model, example_kwarg_inputs=example, strict=False, check_trace=False)
            else:
                traced = torch.jit.trace(model, example, strict=False, check_trace=False)
        inputs = make(7)
        with torch.no_grad():
            expected = corpus.leaves(corpus.call(model, inputs))
            actual = corpus.leaves(corpus.call(traced, inputs))
        comparison = corpus.compare(actual, expected, 1e-4, 1e-3)
        return {"ok": comparison.within, "at": label, "max_abs": comparison.max_abs, "detail": comparison.detail}
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "at": label, "error": _first_line(error)}


def run_child(name: str, fmt: str, workdir: Path, quick: bool) -> dict:
    """One model, one format, in this process: export, then run the file at two shapes."""
    import torch

    import tsrt
    from tsrt.testing import corpus

    torch.set_num_threads(int(os.environ.get("CORPUS_THREADS", "1")))
    entry = corpus.get(name)
    result: dict = {"model": name, "format": fmt, "library": entry.library, "kind": entry.kind}
    started = time.perf_counter()
    model = corpus.build(name)
    result["build_s"] = time.perf_counter() - started
    result["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    if fmt == "torchscript" and not quick:
        result["baseline"] = _baseline(model, entry)
    path = workdir / f"{name}.{'pt2' if fmt == 'aoti' else 'pt'}"
    stages: list[tuple[str, float]] = []

    def progress(line: str) -> None:
        stages.append((line, time.perf_counter()))
        # with the wall-clock time: the parent reads the stages back if it kills us
        print(f"[{name}] +{time.time():.2f} {line}", file=sys.stderr, flush=True)

    result["rss_before_export_mb"] = _rss_mb()
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            options = {"format": "aoti"} if fmt == "aoti" else {}
            report = tsrt.export(model, entry.example(0), path, progress=progress, **options)
        result["ok"] = True
        result["mode"] = report.mode
        result["reason"] = report.reason
        result["findings"] = list(report.findings)
        result["verification_max_abs"] = max((c["max_abs"] for c in report.verification), default=None)
        result["timings"] = dict(report.timings)
    except Exception as error:  # noqa: BLE001
        result["ok"] = False
        result["error"] = _first_line(error)
        result["error_type"] = f"{type(error).__module__}.{type(error).__name__}"
        result["error_full"] = str(error)[:4000]
        result["traceback_tail"] = traceback.format_exc().splitlines()[-6:]
        report = getattr(error, "report", None)
        if report is not None:
            result["mode"] = report.mode
            result["findings"] = list(report.findings)
    finished = time.perf_counter()
    result["export_s"] = finished - started
    result["peak_rss_mb"] = _rss_mb()
    marks = stages + [("end", finished)]
    result["stages_s"] = {line: round(marks[i + 1][1] - t, 2) for i, (line, t) in enumerate(marks[:-1])}
    result["file_left_at_path"] = path.exists()
    if path.exists():
        result["file_mb"] = path.stat().st_size / 1e6
        meta = _metadata(path)
        result["tolerance"] = meta.get("tolerance", {})
        inputs = meta.get("methods", {}).get("forward", {}).get("inputs", [])
        result["dynamic"] = {spec["name"]: spec.get("dynamic_dims", []) for spec in inputs}
    if result["ok"] and path.exists():
        _check_file(path, model, entry, result.get("tolerance", {}), workdir, result, "")
    return result


def _spawn(name: str, fmt: str, workdir: Path, limit: float, quick: bool) -> dict:
    """Runs run_child in a child process under `limit` seconds; its peak RSS from wait4."""
    out = workdir / f"{name}.{fmt}.json"
    log = open(workdir / f"{name}.{fmt}.log", "w")
    command = [sys.executable, __file__, "--child", name, "--format-child", fmt, "--workdir", str(workdir),
               "--out", str(out)] + (["--quick"] if quick else [])
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    status, usage, timed_out = 0, None, False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > limit:
            timed_out = True
            os.killpg(process.pid, 9)
            _, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.5)
    process.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    elapsed = time.perf_counter() - started
    if out.exists() and not timed_out:
        result = json.loads(out.read_text())
    else:
        result = {"model": name, "format": fmt, "ok": False}
        tail = (workdir / f"{name}.{fmt}.log").read_text().strip().splitlines()
        if timed_out:
            marks = []
            for line in tail:
                if line.startswith(f"[{name}] +"):
                    seconds, stage = line.split("] +", 1)[1].split(" ", 1)
                    marks.append((stage, float(seconds)))
            result["error"] = f"time limit: killed after {limit:.0f} s" + \
                (f" (last stage: {marks[-1][0]})" if marks else "")
            # each stage's seconds; the last one ran until the kill
            ends = [t for _, t in marks[1:]] + [time.time()]
            result["stages_s"] = {stage: round(end - t, 2) for (stage, t), end in zip(marks, ends)}
        else:
            result["error"] = f"child exited {process.returncode}: {tail[-1] if tail else ''}"[:400]
    result["child_s"] = elapsed
    result["child_peak_rss_mb"] = usage.ru_maxrss / 1024 if usage else None
    return result


# --- the table ----------------------------------------------------------------------

def _fmt(value, digits=3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _shape_checks(result: dict) -> str:
    keys = [k for k in result if k.startswith(("tsrt.load ", "./infer "))]
    if not keys:
        return ""
    passed = sum(1 for k in keys if result[k].get("ok"))
    return f"{passed}/{len(keys)}"


def _short(error: str) -> str:
    """An error for a table cell: without the file's path and the sentence every mismatch repeats."""
    import re

    error = re.sub(r"export of \S+?: ", "", error or "")
    error = error.replace("the saved model does not match eager PyTorch when run by libtsrt: ", "libtsrt != eager: ")
    error = error.replace(" outside atol 0.000010 + rtol 0.000100 * |expected|", " > default tol")
    return error[:170].replace("|", "/")


def _stage(progress_line: str) -> str:
    """A short name for a stage from export's progress line."""
    if "submodule" in progress_line:
        return "mixed"
    return progress_line.split(" ")[0].rstrip(",")


def table(results: dict) -> str:
    rows = ["| model | baseline trace | auto mode: why | dynamic dims | tolerance | max abs (2 shapes) | "
            "shape runs ok | export s (stages) | file MB | peak RSS MB | .pt2 |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, by_format in results.items():
        ts, aoti = by_format.get("torchscript", {}), by_format.get("aoti", {})
        base = ts.get("baseline", {})
        baseline = ("ok" if base.get("ok") else ("wrong" if "max_abs" in base else "error")) if base else ""
        if not ts:
            mode = "not run"
        elif ts.get("ok"):
            mode = f"{ts.get('mode')}: {ts.get('reason', '')}"
        else:
            left = "; file left at the output path" if ts.get("file_left_at_path") else ""
            mode = f"FAILED: {_short(ts.get('error', ''))}{left}"
        dynamic = "; ".join(f"{k}:{v}" for k, v in ts.get("dynamic", {}).items())
        tol = ts.get("tolerance", {})
        tolerance = f"{tol.get('atol', ''):g}/{tol.get('rtol', ''):g}" if tol else ""
        stages = ts.get("stages_s", {})
        stage_text = ", ".join(f"{_stage(k)} {v:.1f}" for k, v in stages.items())
        if aoti.get("ok"):
            shapes = _shape_checks(aoti)
            pt2 = f"ok {_fmt(aoti.get('max_abs'))}, {shapes} runs, {_fmt(aoti.get('export_s'), 3)} s"
        elif aoti:
            left = "; file left at the output path" if aoti.get("file_left_at_path") else ""
            pt2 = f"FAILED: {_short(aoti.get('error', ''))}{left}"
        else:
            pt2 = "not run"
        cells = [name, baseline, mode.replace("|", "/")[:220], dynamic, tolerance, _fmt(ts.get("max_abs")),
                 _shape_checks(ts), f"{_fmt(ts.get('export_s'), 3)} ({stage_text})" if ts else "",
                 _fmt(ts.get("file_mb"), 3), _fmt(ts.get("child_peak_rss_mb"), 4), pt2.replace("|", "/")[:220]]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated corpus model names (default: every available one)")
    parser.add_argument("--formats", default="torchscript,aoti", help="torchscript, aoti or both (default both)")
    parser.add_argument("--quick", action="store_true", help="the small models only, no baseline")
    parser.add_argument("--limit", type=float, default=300,
                        help="seconds per model and format (default 300; twice that for .pt2, whose export may "
                             "spend its automatic-dimensions budget before compiling again)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads of each child (default 1: stable timings on a shared machine)")
    parser.add_argument("--out", default=str(ROOT / "bench_results" / "corpus"),
                        help="output prefix: writes PREFIX.md and PREFIX.json")
    parser.add_argument("--workdir", help="where the exported files go (default: a temporary directory)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--format-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = run_child(args.child, args.format_child, Path(args.workdir), args.quick)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
        return 0

    from tsrt.testing import corpus

    if args.models:
        names = args.models.split(",")
        for name in names:
            corpus.get(name)
    else:
        names = [n for n in corpus.available() if corpus.MODELS[n].small or not args.quick]
    formats = args.formats.split(",")
    os.environ["CORPUS_THREADS"] = str(args.threads)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tsrt-corpus-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    # Every model in one format before the next: a run stopped early still covers the corpus.
    for fmt in formats:
        for name in names:
            print(f"{name} ({fmt}) ...", flush=True)
            result = _spawn(name, fmt, workdir, args.limit * (2 if fmt == "aoti" else 1), args.quick)
            results.setdefault(name, {})[fmt] = result
            status = "ok" if result.get("ok") else f"FAILED: {result.get('error', '')}"
            print(f"  {status} [{result['child_s']:.1f} s]", flush=True)
            out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
            out.with_suffix(".md").write_text(table(results))
    print(table(results))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}; files in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
