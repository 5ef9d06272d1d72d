"""Compiling exported programs with AOTInductor into one package, with tsrt's Inductor
settings, and the optional compile cache (TSRT_AOTI_CACHE)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import platform
import shutil
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch

from tsrt.exporter.report import ExportReport

# Inductor settings every package is compiled with (docs/speed.md has the measurements).
# freezing: the weights become constants of the compiled graph, so Inductor folds
# them (batch norm into convolutions), pre-packs them for oneDNN / MKL and fuses
# convolutions with what follows; without it they stay inputs of every call.
DEFAULT_INDUCTOR_CONFIGS: dict[str, Any] = {"freezing": True}


# Pre-packed weights cost a fixed ~15 us a layer a call with a dynamic batch (oneDNN's
# _linear_pointwise): the zoo MLP's package took 0.040 ms a call frozen against 0.0058
# unfrozen (0.0054 frozen with "cpp.weight_prepack": False), at batch 1 and 8 alike.
# ResNet-18 and BERT-base gain from it (docs/speed.md). A model whose largest weight is
# below this many elements (a 256x256 matrix) is compiled without freezing; where between
# the MLP (2048) and BERT (768x3072) the crossover lies is not measured.
#
# Not "cpp.weight_prepack": False, though it was 7% faster: Inductor registers its
# weight-packing patterns once a process, at its first frozen compile (a functools.cache'd
# lazy_init), so whichever setting came first held for every later compile in the
# process. A 512x512 model exported first left the MLP's package pre-packed (0.040 ms,
# bench_compare's MLP row), and the MLP first would have left BERT unpacked. Unfrozen
# compiles never run those patterns.
SMALL_WEIGHT_ELEMENTS = 65536

# Small models also get Inductor's own C++ GEMMs, chosen against ATen's (MKL) per shape
# by timing at compile time: no library call overhead around a tiny matrix product. The
# zoo MLP's package, ./infer --bench, 2 threads, median ms at batch 1 / 8 / 64 / 1024:
# 0.005 / 0.005 / 0.008 / 0.056 against 0.006 / 0.007 / 0.013 / 0.085 unfrozen with
# ATen's GEMMs (ONNX Runtime from Python: 0.008 / 0.009). The compile takes about 3x as
# long (35 s against 10 s for the MLP): the candidate kernels are compiled and timed.
SMALL_MODEL_CONFIGS: dict[str, Any] = {"freezing": False, "max_autotune": True,
                                       "max_autotune_gemm_backends": "CPP,ATEN"}
# TSRT_AOTI_AUTOTUNE=0 leaves the GEMM autotuning out (small models still compile
# unfrozen): for test suites and quick iterations that compile many small packages.
AUTOTUNE_ENVIRONMENT = "TSRT_AOTI_AUTOTUNE"


def inductor_configs_for(overrides: Mapping[str, Any] | None, module: torch.nn.Module | None = None
                         ) -> dict[str, Any]:
    """tsrt's defaults with the caller's settings on top ({"freezing": False} turns it off);
    with `module`, small models compile unfrozen and with autotuned C++ GEMMs unless the
    caller chose any of those settings (above)."""
    chosen = dict(overrides or {})
    configs = {**DEFAULT_INDUCTOR_CONFIGS, **chosen}
    small_model_keys = set(SMALL_MODEL_CONFIGS) | {"cpp.weight_prepack"}
    if module is not None and configs.get("freezing") and not small_model_keys & set(chosen):
        largest = max((p.numel() for p in module.parameters()), default=0)
        if largest < SMALL_WEIGHT_ELEMENTS:
            configs.update(SMALL_MODEL_CONFIGS)
            if os.environ.get(AUTOTUNE_ENVIRONMENT, "") == "0":
                configs = {key: value for key, value in configs.items() if not key.startswith("max_autotune")}
    return configs


@contextlib.contextmanager
def quiet_torch_logs():
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


def compile_programs(programs: Mapping[str, torch.export.ExportedProgram], configs: Mapping[str, Any], report: ExportReport,
             stage: Any, scratch: Path) -> Path:
    """One package holding every method's compiled model; its path under `scratch`."""
    scratch.mkdir(parents=True, exist_ok=True)
    package = scratch / "package.pt2"
    with stage("aoti_compile", "compiling with AOTInductor (tens of seconds; minutes for large models)"):
        compile_seconds, cache_hits = {}, []
        compile_cache = CompileCache.from_environment()
        for method, method_program in programs.items():
            # aoti_compile_and_package insists on a .pt2 name; each extra method is
            # compiled on its own and moved into the forward package.
            compiled = scratch / f"{method}.pt2"
            started = time.perf_counter()
            key = compile_cache.key(method_program, configs) if compile_cache else ""
            cached = compile_cache.lookup(key) if compile_cache else None
            if cached:
                shutil.copyfile(cached, compiled)
                cache_hits.append(method)
            else:
                # Under no_grad: Inductor applies freezing only with grad disabled (compile_fx),
                # and silently compiles an unfrozen package otherwise.
                with quiet_torch_logs(), torch.no_grad():
                    torch._inductor.aoti_compile_and_package(method_program, package_path=str(compiled),
                                                             inductor_configs=dict(configs))
                if compile_cache:
                    compile_cache.store(key, compiled)
            compile_seconds[method] = round(time.perf_counter() - started, 3)
            if method == "forward":
                shutil.copyfile(compiled, package)
            else:
                add_compiled_model(package, compiled, method)
        report.compile = {"inductor_configs": configs, "seconds": compile_seconds}
        if compile_cache:
            report.compile["cache"] = {"directory": str(compile_cache.root), "hits": cache_hits}
    return package


def add_compiled_model(package: Path, compiled: Path, name: str) -> None:
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
