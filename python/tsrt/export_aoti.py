"""Exporting to an AOTInductor package (.pt2), the format that replaces TorchScript.

`torch.export.export` captures forward with the dynamic dimensions of the input
specs, `torch._inductor.aoti_compile_and_package` compiles it to a shared library
inside a .pt2 zip archive, and tsrt adds its metadata (tsrt.json) and golden pairs
as `extra/` records of that archive, where TorchScript files keep them too. The
AOTInductor loader only reads `data/aotinductor/<model>/`, so it ignores them.

When torch.export cannot capture the model (data-dependent control flow, a loop
that fixes a dynamic size), the ExportError says where (file:line) and what to do.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shutil
import tempfile
import time
import traceback
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from tsrt.spec import TensorSpec, Tolerance

# Torch's and tsrt's own frames are never where the user's problem is.
_LIBRARY_DIRS = tuple(str(Path(module.__file__).resolve().parent) for module in (torch,)) + (
    str(Path(__file__).resolve().parent),)


def _user_frame(error: BaseException) -> tuple[str, int, str] | None:
    """(file, line, code) of the innermost frame outside torch and tsrt in `error`'s
    tracebacks (its cause and context too), else the last such 'File ..., line ...'
    that torch quotes in its message."""
    found = None
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame in traceback.extract_tb(current.__traceback__):
            if not str(Path(frame.filename).resolve()).startswith(_LIBRARY_DIRS) and "<" not in frame.filename:
                found = (frame.filename, frame.lineno or 0, (frame.line or "").strip())
        current = current.__cause__ or current.__context__
    if found is None:
        quoted = re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s*(.*)', str(error))
        for filename, line, code in quoted:
            if not str(Path(filename).resolve()).startswith(_LIBRARY_DIRS):
                found = (filename, int(line), code.strip())
    return found


def explain_export_failure(error: BaseException) -> list[str]:
    """Findings for a torch.export failure: where, what torch said, and the way out."""
    message = str(error)
    first = next((line.strip() for line in message.splitlines() if line.strip()), type(error).__name__)
    where = _user_frame(error)
    findings = [f"[torch.export] {type(error).__name__}: {first}"]
    # Constraint violations list each offending dimension on a "  - " line.
    findings += [f"[torch.export] {line.strip()[2:]}" for line in message.splitlines() if line.startswith("  - ")][:3]
    if where:
        findings.append(f"[torch.export] at {where[0]}:{where[1]}: {where[2]}")
    if "data-dependent" in message or "GuardOnDataDependent" in type(error).__name__:
        findings.append("[fix] the model branches on (or converts to a Python number) a tensor's values, which "
                        "torch.export cannot capture: rewrite `if` on a tensor as torch.cond(pred, true_fn, false_fn, "
                        "(x,)), keep values as tensors (no int()/.item()), or export to TorchScript instead "
                        "(--format torchscript; script mode keeps the control flow)")
    elif "Constraints violated" in message or "specialized it to be a constant" in message:
        findings.append("[fix] the code fixes the size of a dimension declared dynamic (e.g. a Python loop over "
                        "it): declare that dimension static (leave it out of --dynamic), or export to TorchScript "
                        "instead (--format torchscript; script mode keeps loops)")
    else:
        findings.append("[fix] see torch.export's message above; TorchScript (--format torchscript) may capture "
                        "what torch.export cannot")
    return findings


@contextlib.contextmanager
def _quiet_torch_logs():
    """Silences torch's own warnings and the graph dumps it prints to stderr on a failed
    capture: what matters reaches the user through ExportError's findings."""
    loggers = [logging.getLogger(name) for name in ("torch.fx.experimental.symbolic_shapes", "torch._export",
                                                    "torch.export", "torch._dynamo", "torch._inductor")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export_inputs(specs: Sequence[TensorSpec], example_inputs: tuple, findings: list[str]) -> tuple:
    """The example inputs, with dynamic dimensions of size 0 or 1 regrown to 2:
    torch.export specialises such sizes and would refuse to keep them dynamic."""
    small = {s.name: {d: 2 for d in s.dynamic_dims if s.shape[d] < 2 and d < len(s.shape)} for s in specs}
    if not any(small.values()):
        return example_inputs
    findings.append("example inputs regrown to size 2 on dynamic dimensions of size 0/1 for torch.export, "
                    "which specialises those sizes; the package still runs at size 1")
    generator = torch.Generator().manual_seed(0)
    return tuple(spec.random(generator, small[spec.name]) for spec in specs)


def _dynamic_shapes(specs: Sequence[TensorSpec]) -> tuple:
    # Dim.DYNAMIC rather than named Dims: dimensions that must agree (a batch shared
    # by several inputs) are related by torch.export itself, and a dimension the code
    # fixes is an error instead of a silently static package.
    return tuple({dim: torch.export.Dim.DYNAMIC for dim in spec.dynamic_dims} for spec in specs)


class _Method(torch.nn.Module):
    """`module.<name>` as forward: torch.export captures forward only."""

    def __init__(self, module: torch.nn.Module, name: str) -> None:
        super().__init__()
        self.module = module
        self.name = name

    def forward(self, *inputs: Any) -> Any:
        return getattr(self.module, self.name)(*inputs)


def _add_compiled_model(package: Path, compiled: Path, name: str) -> None:
    """Moves the one model of the package `compiled` into `package` as model `name`:
    a package holds several models, each under data/aotinductor/<name>/, and the
    loader picks one by name. aoti_compile_and_package names its model "model"."""
    with zipfile.ZipFile(compiled) as source, zipfile.ZipFile(package, "a", compression=zipfile.ZIP_STORED) as target:
        source_root = source.namelist()[0].split("/", 1)[0]
        target_root = target.namelist()[0].split("/", 1)[0]
        prefix = f"{source_root}/data/aotinductor/model/"
        for info in source.infolist():
            if info.filename.startswith(prefix):
                target.writestr(f"{target_root}/data/aotinductor/{name}/{info.filename[len(prefix):]}", source.read(info))


def _add_extra_files(path: Path, files: Mapping[str, bytes]) -> None:
    """Appends `files` as stored <root>/extra/<name> records, as torch.jit.save lays them out."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        for name, data in files.items():
            archive.writestr(f"{root}/extra/{name}", data)


def export_aoti(module: torch.nn.Module, example_inputs: tuple, path: str | Path, report: Any, *,
                by_keyword: bool, specs: Sequence[TensorSpec], eager_output: Any,
                output_names: Sequence[str] | None, tolerance: Tolerance,
                method_specs: Mapping[str, Sequence[TensorSpec]] | None, golden: int, verify: bool,
                say: Callable[[str], None]) -> Any:
    """tsrt.export(..., format="aoti"); see export() for the arguments."""
    from tsrt.export import METADATA_FILE, ExportError, _metadata, _record_golden, _verify_in_cpp

    if by_keyword:
        raise ValueError("format 'aoti' takes positional inputs in forward's order; pass example_inputs as a tuple")
    if not all(isinstance(x, torch.Tensor) for x in example_inputs):
        raise ValueError("format 'aoti' exports tensor inputs only; give other arguments defaults or use TorchScript")
    say("capturing with torch.export (dynamic dimensions: " +
        (", ".join(f"{s.name}:{','.join(map(str, s.dynamic_dims))}" for s in specs if s.dynamic_dims) or "none") + ")")
    started = time.perf_counter()
    methods = {"forward": specs, **dict(method_specs or {})}
    programs = {}
    for method, method_inputs in methods.items():
        example = example_inputs if method == "forward" else \
            tuple(spec.random(torch.Generator().manual_seed(0)) for spec in method_inputs)
        captured = module if method == "forward" else _Method(module, method)
        try:
            with _quiet_torch_logs():
                dynamic = _dynamic_shapes(method_inputs)
                # The wrapper takes *inputs: one entry holding every input's dims.
                programs[method] = torch.export.export(captured, _export_inputs(method_inputs, example, report.findings),
                                                       dynamic_shapes=dynamic if method == "forward" else (dynamic,),
                                                       strict=False)
        except Exception as error:  # torch.export raises many types; all mean "cannot capture"
            report.mode = "failed"
            if method != "forward":
                report.findings.append(f"[torch.export] in method {method}")
            report.findings.extend(explain_export_failure(error))
            raise ExportError(report) from error
    program = programs["forward"]
    report.timings["torch.export"] = time.perf_counter() - started
    report.mode = "torch.export"
    report.reason = f"torch.export captured {', '.join(programs)}; AOTInductor compiled it ahead of time"

    say("compiling with AOTInductor (tens of seconds)")
    started = time.perf_counter()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # aoti_compile_and_package insists on a .pt2 name; tsrt's own name may differ.
        # The package is complete (metadata and golden pairs in) before it reaches `path`.
        package = Path(scratch) / "model.pt2"
        for method, method_program in programs.items():
            compiled = package if method == "forward" else Path(scratch) / f"{method}.pt2"
            with _quiet_torch_logs():
                torch._inductor.aoti_compile_and_package(method_program, package_path=str(compiled))
            if compiled != package:
                _add_compiled_model(package, compiled, method)
        report.timings["aoti_compile"] = time.perf_counter() - started

        say("recording golden outputs")
        metadata = _metadata(module, report.mode, report, specs, output_names, eager_output, tolerance)
        metadata["format"] = "aoti"
        for method, method_inputs in (method_specs or {}).items():
            metadata["methods"][method] = {"inputs": [s.to_json() for s in method_inputs], "outputs": []}
        metadata["range_constraints"] = {str(symbol): str(bounds)
                                         for symbol, bounds in program.range_constraints.items()}
        golden_entries, extra_files = _record_golden(module, specs, example_inputs, golden, output_names or (),
                                                     report.findings) if golden > 0 else ([], {})
        metadata["golden"] = golden_entries
        metadata["findings"] = [str(f) for f in report.findings]
        extra_files[METADATA_FILE] = json.dumps(metadata, indent=1).encode()
        _add_extra_files(package, extra_files)
        shutil.move(str(package), target)
    if verify and golden_entries:
        say("verifying the saved package in C++ against the golden outputs")
        # A package runs only on the device it was compiled for: that of the example inputs.
        device = next((str(x.device) for x in example_inputs if x.device.type != "cpu"), "cpu")
        report.verification = _verify_in_cpp(path, device)
    return report
