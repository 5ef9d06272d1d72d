"""The Python face of libtsrt's Model: load a file, call it like a module."""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from tsrt import _C


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
        """Inputs (name, TorchScript type, default, tsrt spec) and return type of `method`."""
        return self._handle.signature(method)

    def report(self, as_json: bool = False, with_code: bool = True) -> str:
        """What `tsrt inspect` prints: methods, metadata, operators with counts, weights,
        warnings (custom operators, baked-in devices, torch version skew) and the forward code."""
        return self._handle.report(as_json, with_code)

    def verify(self) -> list[dict[str, Any]]:
        """Runs the golden inputs recorded at export and compares with the golden outputs.

        One dict per output: pair, path, passed, max_abs, max_rel, detail. Raises
        tsrt.Error when the file has no golden pairs.
        """
        return self._handle.verify()

    @property
    def extra_files(self) -> dict[str, bytes]:
        return self._handle.extra_files

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The tsrt metadata of the file, or None for files tsrt did not export."""
        text = self._handle.metadata_json
        return None if text is None else json.loads(text)

    @property
    def optimizations(self) -> list[str]:
        """What load() applied (freezing, optimize_for_inference, precision, executor, warm-up)."""
        return self._handle.optimizations

    @property
    def load_ms(self) -> float:
        return self._handle.load_ms

    def benchmark(self, *args: Any, method: str = "forward", warmup_iters: int = 10, warmup_seconds: float = 0.0,
                  iters: int = 0, duration_seconds: float = 0.0, concurrency: int = 1, profile_iters: int = 0,
                  profile_top: int = 15) -> dict[str, Any]:
        """Times `method` on `args` in C++ (tsrt::benchmark): the figures of ./infer --bench --json.

        First call, warm-up, then a timed run of `iters` calls or `duration_seconds`
        (100 calls when neither is given) from `concurrency` threads. Returns latency
        min/mean/median/p90/p95/p99/max in ms, throughput, cv, peak RSS, and with
        profile_iters > 0 the operators by self time.
        """
        text = self._handle.benchmark(method, args, warmup_iters, warmup_seconds, iters, duration_seconds,
                                      concurrency, profile_iters, profile_top)
        return json.loads(text)

    def __repr__(self) -> str:
        return f"tsrt.Model({self.path!r}, format={self.format}, device={self.device}, methods={self.methods})"


def load(path: str, device: str = "cpu", check_inputs: bool = True,
         allowed_ops: Sequence[str] | None = None, *, precision: str = "fp32", freeze: bool = True,
         optimize: bool = True, inference_mode: bool = True, jit_optimize: bool = False,
         warmup: int = 0, verify_checksums: bool = True, onednn_fusion: bool = True) -> Model:
    """Loads a model file with libtsrt on `device` ("cpu", "cuda", "cuda:N"): a TorchScript
    file (.pt) or an AOTInductor package (.pt2); the format is read from its contents.

    allowed_ops: when given, refuse a model that uses any operator not listed
    (exact names like "aten::linear", or "prim::*" for a namespace).
    precision: "fp32", "bf16" or "fp16" for weights and compute (inputs and outputs
    stay float32). freeze / optimize / onednn_fusion / inference_mode / jit_optimize: the load-time
    optimisations of tsrt/optimize.h (the first three on by default); warmup: calls
    per method at load on inputs of the declared shapes. verify_checksums: check the
    CRC-32 of every weight storage (on by default; LibTorch does not).
    Raises tsrt.Error when the file is missing, damaged, not a loadable model,
    or uses an operator outside `allowed_ops` (a .pt2 package with `allowed_ops`
    is refused: its operators are machine code).
    """
    # os.fsencode: the path's bytes as the OS gave them (a name that is not UTF-8
    # arrives as surrogate escapes, which a C++ std::string cannot take as str).
    return Model(_C.load(os.fsencode(path), device, check_inputs, list(allowed_ops) if allowed_ops is not None else None,
                         precision, freeze, optimize, inference_mode, jit_optimize, warmup, verify_checksums,
                         onednn_fusion))


def set_num_threads(threads: int) -> None:
    """LibTorch's intra-op thread count for the whole process (what ./infer --threads sets)."""
    _C.set_num_threads(threads)
