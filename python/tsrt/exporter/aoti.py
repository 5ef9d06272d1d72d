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
import hashlib
import io
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch.fx.experimental.symbolic_shapes import is_concrete_int

from tsrt.contract import METADATA_FILE, encode_metadata
from tsrt.exporter import output_file
from tsrt.exporter.golden import record_golden
from tsrt.exporter.inputs import ExampleInputs
from tsrt.exporter.metadata import build_metadata
from tsrt.exporter.outputs import to_plain
from tsrt.exporter.report import ExportError, ExportReport
from tsrt.exporter.verify import publish_verified
from tsrt.source_location import user_frame
from tsrt.spec import TensorSpec, Tolerance

# Inductor settings every package is compiled with (docs/speed.md has the measurements).
# freezing: the weights become constants of the compiled graph, so Inductor folds
# them (batch norm into convolutions), pre-packs them for oneDNN / MKL and fuses
# convolutions with what follows; without it they stay inputs of every call.
DEFAULT_INDUCTOR_CONFIGS: dict[str, Any] = {"freezing": True}

# Pre-packed weights cost a fixed ~15 us a layer a call with a dynamic batch (oneDNN's
# _linear_pointwise): the zoo MLP's package took 0.040 ms a call frozen against 0.0054
# with freezing but "cpp.weight_prepack": False (and 0.0058 unfrozen), at batch 1 and 8
# alike. ResNet-18 and BERT-base gain from it (docs/speed.md). A model whose largest
# weight is below this many elements (a 256x256 matrix) is compiled without pre-packing;
# where between the MLP (2048) and BERT (768x3072) the crossover lies is not measured.
SMALL_WEIGHT_ELEMENTS = 65536


def inductor_configs_for(overrides: Mapping[str, Any] | None, module: torch.nn.Module | None = None
                         ) -> dict[str, Any]:
    """tsrt's defaults with the caller's settings on top ({"freezing": False} turns it off);
    with `module`, frozen packages of small models skip weight pre-packing (above)."""
    configs = {**DEFAULT_INDUCTOR_CONFIGS, **dict(overrides or {})}
    if module is not None and configs.get("freezing") and "cpp.weight_prepack" not in configs:
        largest = max((p.numel() for p in module.parameters()), default=0)
        if largest < SMALL_WEIGHT_ELEMENTS:
            configs["cpp.weight_prepack"] = False
    return configs


class CompileCache:
    """Compiled packages by content: the key hashes the exported program as torch.export.save
    writes it (graph, signature, dynamic ranges, weights), the Inductor settings, the torch
    version and the CPU's instruction sets, so a hit is the package that compiling would
    give. On only when TSRT_AOTI_CACHE names a directory; nothing is ever evicted. A
    package taken from the cache is still verified against eager like a fresh one."""

    ENVIRONMENT = "TSRT_AOTI_CACHE"

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_environment(cls) -> "CompileCache | None":
        root = os.environ.get(cls.ENVIRONMENT, "")
        return cls(Path(root).expanduser()) if root else None

    @staticmethod
    def key(program: torch.export.ExportedProgram, configs: Mapping[str, Any]) -> str:
        digest = hashlib.sha256(torch.__version__.encode())
        digest.update(json.dumps(dict(configs), sort_keys=True, default=str).encode())
        cpuinfo = Path("/proc/cpuinfo")
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "") \
            if cpuinfo.exists() else platform.processor()
        digest.update(flags.encode())
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
        # Every record but the two that differ between captures of the same program:
        # a random serialization id, and the example inputs' values.
        with zipfile.ZipFile(buffer) as archive:
            for name in sorted(archive.namelist()):
                if not name.endswith(".data/serialization_id") and "/sample_inputs/" not in name:
                    digest.update(name.encode())
                    digest.update(archive.read(name))
        return digest.hexdigest()[:32]

    def lookup(self, key: str) -> Path | None:
        path = self.root / f"{key}.pt2"
        return path if path.exists() else None

    def store(self, key: str, compiled: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{key}.pt2"
        partial = target.with_name(f"{target.stem}.{os.getpid()}.partial")  # renamed when whole
        shutil.copyfile(compiled, partial)
        partial.replace(target)


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
        result.append(TensorSpec(spec.name, spec.shape, spec.dtype, dims, spec.value_range))
    return tuple(result)


def export_aoti(module: torch.nn.Module, inputs: ExampleInputs, path: str | Path, report: ExportReport, *,
                eager_output: Any, output_names: Sequence[str] | None, tolerance: Tolerance,
                method_specs: Mapping[str, Sequence[TensorSpec]] | None, golden_count: int, verify: bool,
                probe_dims: bool, stage: Any, inductor_configs: Mapping[str, Any] | None = None) -> ExportReport:
    """tsrt.export(..., format="aoti"); see export() for the arguments."""
    configs = inductor_configs_for(inductor_configs, module)
    specs = inputs.specs
    methods = {"forward": specs, **dict(method_specs or {})}
    programs = {}
    with stage("torch.export", "capturing with torch.export (dynamic dimensions: " + (
            "automatic" if probe_dims else
            ", ".join(f"{s.name}:{','.join(map(str, s.dynamic_dims))}" for s in specs if s.dynamic_dims) or "none")
            + ")"):
        for method, method_inputs in methods.items():
            example = inputs.values if method == "forward" else \
                tuple(spec.random(torch.Generator().manual_seed(0)) for spec in method_inputs)
            example = _export_inputs(method_inputs, example, report.findings)
            try:
                with _quiet_torch_logs():
                    if method == "forward":
                        # Keyword inputs are passed on as keywords, in forward's order: the
                        # package takes them positionally in that order, as the metadata lists them.
                        captured = _PlainOutputs(module, inputs.names if inputs.by_keyword else None)
                        # The wrapper takes *inputs: one entry holding every input's dims.
                        programs[method] = torch.export.export(
                            captured, example, dynamic_shapes=(_dynamic_shapes(method_inputs, probe_dims),),
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
    program = programs["forward"]
    if probe_dims:
        specs = inputs.specs = _automatic_dims(program, specs)
        varying = [f"{s.name}[{','.join(map(str, s.dynamic_dims))}]" for s in specs if s.dynamic_dims]
        report.dynamic = {"summary": (", ".join(varying) or "none") + " (torch.export's automatic dynamic shapes)"}
    report.mode = "torch.export"
    report.reason = f"torch.export captured {', '.join(programs)}; AOTInductor compiled it ahead of time"

    with output_file.staged(path) as package, tempfile.TemporaryDirectory() as scratch:
        with stage("aoti_compile", "compiling with AOTInductor (tens of seconds; minutes for large models)"):
            compile_seconds, cache_hits = {}, []
            compile_cache = CompileCache.from_environment()
            for method, method_program in programs.items():
                # aoti_compile_and_package insists on a .pt2 name; each extra method is
                # compiled on its own and moved into the forward package.
                compiled = Path(scratch) / f"{method}.pt2"
                started = time.perf_counter()
                key = compile_cache.key(method_program, configs) if compile_cache else ""
                cached = compile_cache.lookup(key) if compile_cache else None
                if cached:
                    shutil.copyfile(cached, compiled)
                    cache_hits.append(method)
                else:
                    # Under no_grad: Inductor applies freezing only with grad disabled (compile_fx),
                    # and silently compiles an unfrozen package otherwise.
                    with _quiet_torch_logs(), torch.no_grad():
                        torch._inductor.aoti_compile_and_package(method_program, package_path=str(compiled),
                                                                 inductor_configs=dict(configs))
                    if compile_cache:
                        compile_cache.store(key, compiled)
                compile_seconds[method] = round(time.perf_counter() - started, 3)
                if method == "forward":
                    shutil.copyfile(compiled, package)
                else:
                    _add_compiled_model(package, compiled, method)
            report.compile = {"inductor_configs": configs, "seconds": compile_seconds}
            if compile_cache:
                report.compile["cache"] = {"directory": str(compile_cache.root), "hits": cache_hits}
        with stage("golden", "recording golden outputs"):
            golden_entries, extra_files = record_golden(lambda *xs: to_plain(inputs.call(module, xs)), specs, inputs.values,
                                                        golden_count, output_names or (), report.findings)
        metadata = build_metadata(module, report, specs, output_names, eager_output, tolerance, method_specs,
                                  golden_entries, format="aoti",
                                  range_constraints={str(symbol): str(bounds)
                                                     for symbol, bounds in program.range_constraints.items()})
        extra_files[METADATA_FILE] = encode_metadata(metadata)
        _add_extra_files(package, extra_files)
        # A package runs only on the device it was compiled for: that of the example inputs.
        device = next((str(x.device) for x in inputs.values if x.device.type != "cpu"), "cpu")
        publish_verified(package, path, report, verify and bool(golden_entries), device, stage)
    return report
