"""Exporting to an AOTInductor package (.pt2), the format that replaces TorchScript.

`torch.export.export` captures forward with the dynamic dimensions of the input
specs, `torch._inductor.aoti_compile_and_package` compiles it to a shared library
inside a .pt2 zip archive, and tsrt adds its metadata (tsrt.json) and golden pairs
as `extra/` records of that archive, where TorchScript files keep them too. The
AOTInductor loader only reads `data/aotinductor/<model>/`, so it ignores them.

Without dynamic= or input_specs, every dimension is left to torch.export's automatic
dynamic shapes (Dim.AUTO), in a forked child under a time budget
(AUTOMATIC_DIMS_BUDGET_SECONDS): past it, or when that attempt fails, the package is
captured again with the batch dimension dynamic only, and a finding says so.

When torch.export cannot capture the model (data-dependent control flow, a loop
that fixes a dynamic size), the ExportError says where (file:line) and what to do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.fx.experimental._config as fx_config
from torch.fx.experimental.symbolic_shapes import is_concrete_int

from tsrt.contract import METADATA_FILE, encode_metadata
from tsrt.exporter import forked, output_file
from tsrt.exporter.aoti_compile import compile_programs, inductor_configs_for, quiet_torch_logs
from tsrt.exporter.dynamic_dims import describe as describe_dynamic
from tsrt.exporter.golden import record_golden
from tsrt.exporter.inputs import ExampleInputs, UsageError
from tsrt.exporter.metadata import build_metadata
from tsrt.exporter.outputs import to_plain
from tsrt.exporter.report import ExportError, ExportReport
from tsrt.exporter.verify import VerificationFailed, publish_verified, verify_in_cpp
from tsrt.source_location import user_frame
from tsrt.spec import TensorSpec, Tolerance

# Without dynamic=, torch.export makes every dimension it can symbolic (Dim.AUTO). On
# some models that explodes: a Swin transformer's padded windows keep torch.export in
# sympy for minutes. The attempt runs forked under this budget; past it the package
# is exported with the batch dimension dynamic only, and the report says so.
AUTOMATIC_DIMS_BUDGET_SECONDS = 300.0


def explain_export_failure(error: BaseException) -> list[str]:
    """Findings for a torch.export failure: where, what torch said, and the way out."""
    message = str(error)
    first = next((line.strip() for line in message.splitlines() if line.strip()), type(error).__name__)
    where = user_frame(error)
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


def _small_dynamic_dims(specs: Sequence[TensorSpec]) -> list[str]:
    return [f"{s.name}[{d}]" for s in specs for d in s.dynamic_dims if d < len(s.shape) and s.shape[d] < 2]


def _size_oblivious(specs: Sequence[TensorSpec], findings: list[str]) -> contextlib.AbstractContextManager:
    """torch.export specialises sizes 0 and 1, and would refuse to keep such a dimension of
    the example dynamic. Size-oblivious capture does not assume the size is 1 or not, so
    the program holds no guard such as `batch != 1` (which the compiled package would not
    check: RAFT at batch 1 gave answers off by 1.5 from a program captured at batch 2)."""
    small = _small_dynamic_dims(specs)
    if not small:
        return contextlib.nullcontext()
    finding = (f"dynamic dimension(s) of size 0/1 in the example ({', '.join(small)}): captured "
               "size-obliviously at size 2, so that torch.export keeps them dynamic")
    if finding not in findings:  # once, however many times export captures
        findings.append(finding)
    return fx_config.patch(backed_size_oblivious=True)


def _capture_example(specs: Sequence[TensorSpec], example: tuple) -> tuple:
    """The example with its size-1 dynamic dimensions grown to 2 (each input repeated
    along them, so token ids and masks stay valid). Inductor compiles for the sizes it
    is shown: BERT-base captured size-obliviously at batch 1 compiled to a package right
    at batch 1 and wrong on every row but the first at batch 2 and 8 (max abs 0.30-0.34),
    the same program shown at batch 2 to one right at 1, 2 and 8 (4e-06). The package is
    still verified at the user's own example (golden pair 0)."""
    if len(specs) != len(example):
        return example
    grown = []
    for spec, value in zip(specs, example):
        if isinstance(value, torch.Tensor) and any(d < value.dim() and value.shape[d] == 1 for d in spec.dynamic_dims):
            sizes = [2 if d in spec.dynamic_dims and value.shape[d] == 1 else -1 for d in range(value.dim())]
            value = value.expand(*sizes).contiguous()
        grown.append(value)
    return tuple(grown)


def _dynamic_shapes(specs: Sequence[TensorSpec], automatic: bool = False) -> tuple:
    # Dim.DYNAMIC rather than named Dims: dimensions that must agree (a batch shared
    # by several inputs) are related by torch.export itself, and a dimension the code
    # fixes is an error instead of a silently static package. With `automatic` (no
    # dimensions declared), the declared ones stay DYNAMIC and every other dimension is
    # Dim.AUTO: dynamic where the model allows it, specialised where it does not.
    return tuple({dim: torch.export.Dim.DYNAMIC if dim in spec.dynamic_dims else torch.export.Dim.AUTO
                  for dim in range(len(spec.shape)) if automatic or dim in spec.dynamic_dims}
                 for spec in specs)


class _Method(torch.nn.Module):
    """`module.<name>` as forward: torch.export captures forward only."""

    def __init__(self, module: torch.nn.Module, name: str) -> None:
        super().__init__()
        self.module = module
        self.name = name

    def forward(self, *inputs: Any) -> Any:
        return getattr(self.module, self.name)(*inputs)


def _parameter_totals(module: torch.nn.Module) -> dict[str, int]:
    """Parameters and buffers as the package holds them: compiled into its library, where
    a reader of the archive alone (tsrt inspect, infer --info) cannot count them."""
    tensors = {id(t): t for t in (*module.parameters(), *module.buffers())}.values()
    return {"count": sum(t.numel() for t in tensors), "bytes": sum(t.numel() * t.element_size() for t in tensors)}


def _add_extra_files(path: Path, files: Mapping[str, bytes]) -> None:
    """Appends `files` as stored <root>/extra/<name> records, as torch.jit.save lays them out."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        for name, data in files.items():
            archive.writestr(f"{root}/extra/{name}", data)


class _PlainOutputs(torch.nn.Module):
    """`module` called with positional inputs (passed on as keywords when `names` is
    given), its outputs made plain (outputs.to_plain): torch.export records the
    output structure in the package, and libtsrt rebuilds builtin tuples, lists and
    dicts, not a ModelOutput or a cache class."""

    def __init__(self, module: torch.nn.Module, names: Sequence[str] | None) -> None:
        super().__init__()
        self.module = module
        self.names = list(names) if names else None

    def forward(self, *inputs: Any) -> Any:
        if self.names:
            return to_plain(self.module(**dict(zip(self.names, inputs))))
        return to_plain(self.module(*inputs))


def _automatic_dims(program: torch.export.ExportedProgram, specs: Sequence[TensorSpec]) -> tuple[TensorSpec, ...]:
    """The specs with the dimensions torch.export kept symbolic under Dim.AUTO."""
    placeholders = [node for node in program.graph.nodes if node.op == "placeholder"]
    user = [node for node in placeholders if node.name in set(program.graph_signature.user_inputs)]
    result = []
    for spec, node in zip(specs, user):
        shape = node.meta["val"].shape
        # A dimension AUTO specialised is a SymInt with a constant value, not a plain int.
        dims = tuple(d for d, size in enumerate(shape) if not is_concrete_int(size))
        result.append(replace(spec, dynamic_dims=dims))
    return tuple(result)


@dataclass
class _Built:
    """A compiled package and what capturing it found: the input specs (with the
    dimensions torch.export kept symbolic) and the program's range constraints."""

    package: Path
    specs: tuple[TensorSpec, ...]
    range_constraints: dict[str, str]
    freezing: bool


def export_aoti(module: torch.nn.Module, inputs: ExampleInputs, path: str | Path, report: ExportReport, *,
                eager_output: Any, output_names: Sequence[str] | None, tolerance: Tolerance,
                method_specs: Mapping[str, Sequence[TensorSpec]] | None, golden_count: int, verify: bool,
                probe_dims: bool, stage: Any, inductor_configs: Mapping[str, Any] | None = None) -> ExportReport:
    """tsrt.export(..., format="aoti"); see export() for the arguments."""
    configs = inductor_configs_for(inductor_configs, module)
    # A package runs only on the device it was compiled for: that of the example inputs.
    device = next((str(x.device) for x in inputs.values if x.device.type != "cpu"), "cpu")
    with output_file.staged(path) as package, tempfile.TemporaryDirectory() as scratch:
        def build(automatic: bool, forward: Sequence[TensorSpec] = inputs.specs,
                  settings: Mapping[str, Any] = configs) -> _Built:
            methods = {"forward": tuple(forward), **dict(method_specs or {})}
            return _capture_and_compile(module, inputs, methods, settings, report, stage, Path(scratch), automatic)

        def assemble(built: _Built) -> bool:
            """The package at the staging path with its metadata and golden pairs; whether
            there are golden pairs to verify."""
            inputs.specs = built.specs
            shutil.copyfile(built.package, package)
            with stage("golden", "recording golden outputs"):
                golden, extra_files = record_golden(lambda *xs: to_plain(inputs.call(module, xs)), built.specs,
                                                    inputs.values, golden_count, output_names or (), report.findings)
            metadata = build_metadata(module, report, built.specs, output_names, eager_output, tolerance, method_specs,
                                      golden, format="aoti", range_constraints=built.range_constraints,
                                      parameters=_parameter_totals(module))
            extra_files[METADATA_FILE] = encode_metadata(metadata)
            _add_extra_files(package, extra_files)
            return bool(golden)

        built = _build_automatic(build, report, stage) if probe_dims else None
        if built is None:
            built = build(automatic=False)
            if probe_dims:
                report.dynamic = {"summary": f"{describe_dynamic(built.specs)} (the batch only: the automatic "
                                             "attempt did not finish, see the findings)"}
        has_golden = assemble(built)
        verified = False
        # Inductor can miscompile (RAFT: a dynamic batch crashed at batch 2, freezing was off
        # by 1.5 at the example, while torch.export's program matched eager exactly). What
        # tsrt chose -- undeclared dynamic dimensions, freezing -- is kept only where the
        # package matches eager; otherwise export compiles again with safer settings.
        for specs, settings, how in (_safer_settings(built.specs, configs, inductor_configs, probe_dims)
                                     if verify and has_golden else []):
            with stage("verify", "verifying the saved file in C++ against the golden outputs"):
                try:
                    report.verification = verify_in_cpp(package, device)
                    verified = True
                except VerificationFailed as failure:
                    report.findings.append(
                        f"[verify] compiled with {_settings_text(built)}, the package does not match eager "
                        f"({_shortened(str(failure))}): compiling again {how}")
            if verified:
                break
            built = build(False, specs, settings)
            if not any(spec.dynamic_dims for spec in built.specs):
                report.dynamic = {"summary": "none (fixed: compiled with dynamic dimensions, the package did not "
                                             "match eager; see the findings)"}
            has_golden = assemble(built)
        publish_verified(package, path, report, verify and has_golden and not verified, device, stage)
    return report


def _safer_settings(specs: Sequence[TensorSpec], configs: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                    probe_dims: bool) -> list[tuple[tuple[TensorSpec, ...], dict[str, Any], str]]:
    """(specs, Inductor settings, how) to compile with, in order, when a package does not
    match eager: the example's shapes fixed (when nobody declared the dimensions), then
    without freezing (when the caller did not ask for it), then both."""
    fixed = tuple(replace(spec, dynamic_dims=()) for spec in specs)
    unfrozen = {**configs, "freezing": False}
    can_fix = probe_dims and any(s.dynamic_dims for s in specs)
    can_unfreeze = bool(configs.get("freezing")) and "freezing" not in dict(overrides or {})
    plans = []
    if can_fix:
        plans.append((fixed, dict(configs), "with the example's shapes fixed"))
    if can_unfreeze:
        plans.append((tuple(specs), unfrozen, "without freezing"))
    if can_fix and can_unfreeze:
        plans.append((fixed, unfrozen, "with the example's shapes fixed and without freezing"))
    return plans


def _settings_text(built: _Built) -> str:
    dims = describe_dynamic(built.specs)
    return f"{'no' if dims == 'none' else dims} dynamic dimensions and freezing {'on' if built.freezing else 'off'}"


def _shortened(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def automatic_dims_budget() -> float:
    """Seconds the automatic-dimensions attempt may take: TSRT_AOTI_DIMS_BUDGET or the default."""
    value = os.environ.get("TSRT_AOTI_DIMS_BUDGET", "")
    try:
        return float(value) if value else AUTOMATIC_DIMS_BUDGET_SECONDS
    except ValueError:
        raise UsageError(f"TSRT_AOTI_DIMS_BUDGET={value!r} is not a number of seconds") from None


def _build_automatic(build: Callable[[bool], _Built], report: ExportReport, stage: Any) -> _Built | None:
    """build(automatic=True) within the budget, in a forked child where the platform
    allows, so that a model whose symbolic shapes explode (minutes of sympy in
    torch.export, a compile that does not end) costs a bounded time; None when it did
    not finish or failed, with a finding that says so."""
    if not forked.available():
        return build(True)
    budget = automatic_dims_budget()
    stage.say(f"trying every dimension automatic: torch.export and AOTInductor in a child process, at most "
              f"{budget:.0f} s")
    attempt = forked.run(lambda: (build(True), report), seconds=budget)
    if attempt.ok:
        built, child_report = attempt.value
        vars(report).update(vars(child_report))
        return built
    report.findings.append(
        f"[dynamic] torch.export and AOTInductor with every dimension automatic {attempt.problem}"
        f"{' (TSRT_AOTI_DIMS_BUDGET)' if attempt.timed_out else ''}; exported with the batch dimension "
        "dynamic only: pass dynamic= to name the dimensions that must vary")
    report.timings["automatic_dims_attempt"] = round(attempt.seconds, 3)
    return None


def _capture_and_compile(module: torch.nn.Module, inputs: ExampleInputs, methods: Mapping[str, Sequence[TensorSpec]],
                         configs: Mapping[str, Any], report: ExportReport, stage: Any, scratch: Path,
                         automatic: bool) -> _Built:
    programs = _capture(module, inputs, methods, report, stage, automatic)
    program = programs["forward"]
    specs = tuple(methods["forward"])
    if automatic:
        specs = _automatic_dims(program, specs)
        report.dynamic = {"summary": f"{describe_dynamic(specs)} (torch.export's automatic dynamic shapes)"}
    report.mode = "torch.export"
    report.reason = f"torch.export captured {', '.join(programs)}; AOTInductor compiled it ahead of time"
    dynamic = automatic or any(spec.dynamic_dims for spec in methods["forward"])
    package = compile_programs(programs, configs, report, stage,
                               scratch / ("automatic" if automatic else "declared" if dynamic else "fixed")
                               / ("frozen" if configs.get("freezing") else "unfrozen"))
    return _Built(package, specs, {str(symbol): str(bounds) for symbol, bounds in program.range_constraints.items()},
                  bool(configs.get("freezing")))


def _capture(module: torch.nn.Module, inputs: ExampleInputs, methods: Mapping[str, Sequence[TensorSpec]],
             report: ExportReport, stage: Any, automatic: bool) -> dict[str, torch.export.ExportedProgram]:
    """torch.export of forward and of each extra method."""
    programs = {}
    with stage("torch.export", "capturing with torch.export (dynamic dimensions: " + (
            "automatic" if automatic else
            ", ".join(f"{s.name}:{','.join(map(str, s.dynamic_dims))}" for s in methods["forward"] if s.dynamic_dims)
            or "none") + ")"):
        for method, method_inputs in methods.items():
            example = inputs.values if method == "forward" else \
                tuple(spec.random(torch.Generator().manual_seed(0)) for spec in method_inputs)
            example = _capture_example(method_inputs, example)
            try:
                with quiet_torch_logs(), _size_oblivious(method_inputs, report.findings):
                    if method == "forward":
                        # Keyword inputs are passed on as keywords, in forward's order: the
                        # package takes them positionally in that order, as the metadata lists them.
                        captured = _PlainOutputs(module, inputs.names if inputs.by_keyword else None)
                        # The wrapper takes *inputs: one entry holding every input's dims.
                        programs[method] = torch.export.export(
                            captured, example, dynamic_shapes=(_dynamic_shapes(method_inputs, automatic),),
                            strict=False)
                    else:
                        # The wrapper takes *inputs: one entry holding every input's dims.
                        programs[method] = torch.export.export(
                            _Method(module, method), example,
                            dynamic_shapes=(_dynamic_shapes(method_inputs),), strict=False)
            except Exception as error:  # torch.export raises many types; all mean "cannot capture"
                report.mode = "failed"
                if method != "forward":
                    report.findings.append(f"[torch.export] in method {method}")
                report.findings.extend(explain_export_failure(error))
                raise ExportError(report) from error
    return programs
