"""The Python face of libtsrt's Model: load a file, call it like a module.

Structures come from libtsrt's serialisers (tsrt/json.h) as JSON text and are
parsed here, once, by `_document`: a signature, the metadata, a verify report and
a benchmark result have the shapes ./infer --json prints. Options go to C++ as
tsrt._C.LoadOptions / OptimizeOptions / BenchmarkOptions, whose field names are
the keywords of `load()` and `Model.benchmark()`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from tsrt import _C


def _document(text: str) -> Any:
    """A JSON document written by libtsrt's serialisers."""
    return json.loads(text)


class Model:
    """A model file loaded by the C++ runtime.

    Call it with torch tensors or numpy arrays (positionally or by input name);
    it returns torch tensors in the model's own output structure (tuples, lists,
    dicts, scalars, None). The GIL is released while C++ runs, so threads sharing
    one Model run in parallel.
    """

    def __init__(self, handle: "_C.Model") -> None:
        self._handle = handle

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._handle.run("forward", args, kwargs)

    def run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Runs `method` (forward or a @torch.jit.export method, exported by name)."""
        return self._handle.run(method, args, kwargs)

    @property
    def path(self) -> str:
        return self._handle.path

    @property
    def device(self) -> str:
        return self._handle.device

    @property
    def format(self) -> str:
        return self._handle.format

    @property
    def methods(self) -> list[str]:
        return self._handle.methods

    def signature(self, method: str = "forward") -> dict[str, Any]:
        """Inputs and return type of `method`: {"method", "inputs": [{"name", "type",
        "has_default", "default", "spec"}], "return_type", "output_names", "text"}; a
        spec is an input of tsrt.json ({"name", "dtype", "shape", "dynamic_dims", and
        "value_range" when set}) or None."""
        return _document(self._handle.signature(method))

    def report(self, as_json: bool = False, with_code: bool = True) -> str:
        """What `tsrt inspect` prints: methods, metadata, operators with counts, weights,
        warnings (custom operators, baked-in devices, torch version skew) and the forward code."""
        return self._handle.report(as_json, with_code)

    def verify(self) -> list[dict[str, Any]]:
        """Runs the golden inputs recorded at export and compares with the golden outputs.

        One dict per output: pair, path, passed, max_abs, max_rel, detail (the
        "checks" of ./infer --verify --json). Raises tsrt.Error when the file has no
        golden pairs.
        """
        return _document(self._handle.verify())["checks"]

    @property
    def extra_files(self) -> dict[str, bytes]:
        return self._handle.extra_files

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The tsrt metadata of the file, or None for files tsrt did not export."""
        text = self._handle.metadata_json
        return None if text is None else _document(text)

    @property
    def optimizations(self) -> list[str]:
        """What load() applied (freezing, optimize_for_inference, precision, executor, warm-up)."""
        return self._handle.optimizations

    @property
    def runtime_report(self) -> list[str]:
        """What the model compiled while serving: for a TorchScript file with dynamic
        dimensions and convolutions, each input shape fused in oneDNN so far, with its
        compile time and calls, and the calls that ran unfused. Empty otherwise."""
        return self._handle.runtime_report

    @property
    def load_ms(self) -> float:
        return self._handle.load_ms

    def benchmark(self, *args: Any, method: str = "forward", warmup_iters: int = 10, warmup_seconds: float = 0.0,
                  iters: int = 0, duration_seconds: float = 0.0, concurrency: int = 1, profile_iters: int = 0,
                  profile_top: int = 15, unstable_cv: float = 0.10) -> dict[str, Any]:
        """Times `method` on `args` in C++ (tsrt::benchmark): the figures of ./infer --bench --json.

        First call, warm-up, then a timed run of `iters` calls or `duration_seconds`
        (100 calls when neither is given) from `concurrency` threads. Returns latency
        min/mean/median/p90/p95/p99/max in ms, throughput, cv (flagged unstable above
        `unstable_cv`), peak RSS, and with profile_iters > 0 the operators by self time.
        The keywords are the fields of tsrt::BenchmarkOptions.
        """
        options = _C.BenchmarkOptions()
        for name, value in (("method", method), ("warmup_iters", warmup_iters), ("warmup_seconds", warmup_seconds),
                            ("iters", iters), ("duration_seconds", duration_seconds), ("concurrency", concurrency),
                            ("profile_iters", profile_iters), ("profile_top", profile_top),
                            ("unstable_cv", unstable_cv)):
            setattr(options, name, value)
        return _document(self._handle.benchmark(args, options))

    def __repr__(self) -> str:
        return f"tsrt.Model({self.path!r}, format={self.format}, device={self.device}, methods={self.methods})"


def load(path: str, *, device: str = "cpu", check_inputs: bool = True,
         allowed_operators: Sequence[str] | None = None, verify_checksums: bool = True,
         inference_mode: bool = True, freeze: bool = True, optimize_for_inference: bool = True,
         onednn_fusion: bool = True, onednn_fusion_shapes: int = 8, graph_executor_optimize: bool = False,
         adaptive_threads: bool = True,
         precision: str = "fp32",
         warmup_runs: int = 0, max_input_bytes: int = 0, describe_only: bool = False) -> Model:
    """Loads a model file with libtsrt: a TorchScript file (.pt) or an AOTInductor
    package (.pt2); the format is read from its contents.

    The keywords are the fields of tsrt::LoadOptions and tsrt::OptimizeOptions
    (cpp/include/tsrt/model.h, optimize.h), with the same names and defaults as in
    C++ and as ./infer's flags (--optimize-for-inference / --no-optimize-for-inference, ...):

    device: "cpu", "cuda" or "cuda:N".
    check_inputs: check inputs against the file's metadata (dtype, rank, fixed dims).
    allowed_operators: when given, refuse a model that uses any operator not listed
        (exact names like "aten::linear", or "prim::*" for a namespace); a .pt2
        package is refused (its operators are machine code).
    verify_checksums: check the CRC-32 of every weight storage (LibTorch does not).
    inference_mode / freeze / optimize_for_inference / onednn_fusion /
    graph_executor_optimize: the load-time optimisations (all but the last on).
    onednn_fusion_shapes: input shapes fused at most for a file with dynamic
        dimensions (each compiled at its first call; see Model.runtime_report).
    adaptive_threads: on CPU with more than one intra-op thread, time forward on one
        thread and on all at load, and run calls up to the input size where one thread
        won on one thread (waking OpenMP's others costs more than a small call).
    precision: "fp32", "bf16" or "fp16" for weights and compute (inputs and outputs
        stay float32).
    warmup_runs: calls per method at load, on inputs of the declared shapes.
    max_input_bytes: the largest input front ends make for this model (random inputs,
        .npy files); 0: no fixed limit (inputs above the free memory are refused anyway).
    describe_only: read the file to describe it without running any of its code: a
        .pt2's library is not loaded (calls raise), a .pt whose __setstate__ would
        run at load is refused when its code reaches outside tensors; no optimisation.

    Raises tsrt.Error when the file is missing, damaged, not a loadable model, or
    uses an operator outside `allowed_operators`.
    """
    options = _C.LoadOptions()
    options.device = device
    options.check_inputs = check_inputs
    options.allowed_operators = list(allowed_operators) if allowed_operators is not None else None
    options.verify_checksums = verify_checksums
    options.describe_only = describe_only
    optimize = options.optimize
    optimize.inference_mode = inference_mode
    optimize.freeze = freeze
    optimize.optimize_for_inference = optimize_for_inference
    optimize.onednn_fusion = onednn_fusion
    optimize.onednn_fusion_shapes = onednn_fusion_shapes
    optimize.graph_executor_optimize = graph_executor_optimize
    optimize.adaptive_threads = adaptive_threads
    optimize.precision = precision
    optimize.warmup_runs = warmup_runs
    options.max_input_bytes = max_input_bytes
    # os.fsencode: the path's bytes as the OS gave them (a name that is not UTF-8
    # arrives as surrogate escapes, which a C++ std::string cannot take as str).
    return Model(_C.load(os.fsencode(path), options))


def set_num_threads(threads: int) -> None:
    """LibTorch's intra-op thread count for the whole process (what ./infer --threads sets)."""
    _C.set_num_threads(threads)
