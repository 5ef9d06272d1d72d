"""Capturing a module as TorchScript: trace, script, or both mixed, each checked
against eager PyTorch on inputs it did not see.

`auto` tries them in order and keeps the first that is correct:
1. trace, with every TracerWarning recorded (file:line). A warning that a tensor
   became a Python bool/int/index means control flow or a size was frozen.
2. script, when the trace diverges from eager at another size or value, fails,
   or froze control flow.
3. mixed: script one submodule at a time and trace the rest, for models whose
   top level cannot be scripted but whose data-dependent part can.
"""

from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from tsrt.outputs import flatten_outputs
from tsrt.spec import TensorSpec, Tolerance

# TracerWarnings that mean a Python decision was frozen into the graph.
_FROZEN_DECISION = re.compile(r"Converting a tensor to a Python (boolean|integer|index|float)|"
                              r"Iterating over a tensor|torch.tensor results are registered as constants")


@dataclass
class Finding:
    """Something export noticed: where, what, and what to do."""

    stage: str      # "trace", "script", "mixed", "check", "graph"
    message: str
    location: str = ""  # file:line when known
    fix: str = ""

    def __str__(self) -> str:
        text = f"[{self.stage}] {self.message}"
        if self.location:
            text += f" at {self.location}"
        if self.fix:
            text += f"; fix: {self.fix}"
        return text


@dataclass
class Capture:
    module: torch.jit.ScriptModule | None
    mode: str
    findings: list[Finding] = field(default_factory=list)
    diverged: str = ""  # why the parity check failed, if it did


def _hide_deprecations() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)


def trace(module: torch.nn.Module, example_inputs: tuple) -> Capture:
    capture = Capture(None, "trace")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        _hide_deprecations()
        try:
            with torch.no_grad():
                # strict=False admits dict outputs; tsrt checks instead that the
                # structure holds across the inputs of the parity check.
                capture.module = torch.jit.trace(module, example_inputs, check_trace=False, strict=False)
        except Exception as error:  # noqa: BLE001 - any failure is a finding
            capture.findings.append(Finding("trace", f"tracing failed: {_first_line(error)}",
                                            fix="export with mode='script', or return tensors/tuples"))
    for warning in caught:
        if issubclass(warning.category, torch.jit.TracerWarning):
            frozen = bool(_FROZEN_DECISION.search(str(warning.message)))
            capture.findings.append(Finding(
                "trace", _first_line(warning.message), f"{warning.filename}:{warning.lineno}",
                "script this code (torch.jit.script / @torch.jit.script_if_tracing) or use tensor ops "
                "(torch.where, masking) instead of Python control flow" if frozen else ""))
    return capture


def froze_decisions(capture: Capture) -> bool:
    return any(f.stage == "trace" and _FROZEN_DECISION.search(f.message) for f in capture.findings)


def script(module: torch.nn.Module) -> Capture:
    capture = Capture(None, "script")
    with warnings.catch_warnings():
        _hide_deprecations()
        try:
            capture.module = torch.jit.script(module)
        except Exception as error:  # noqa: BLE001
            capture.findings.append(Finding("script", f"scripting failed: {_script_error_summary(error)}",
                                            _script_error_location(error)))
    return capture


def mixed(module: torch.nn.Module, example_inputs: tuple, check: Callable[[Capture], str]) -> Capture:
    """Scripts one submodule (largest first) inside a copy of `module`, traces the
    rest; the first combination that passes `check` wins."""
    failures = []
    names = [name for name, _ in module.named_modules() if name]
    for name in sorted(names, key=lambda n: n.count(".")):
        candidate = copy.deepcopy(module)
        parent_name, _, child = name.rpartition(".")
        parent = candidate.get_submodule(parent_name) if parent_name else candidate
        scripted = script(getattr(parent, child))
        if scripted.module is None:
            continue
        setattr(parent, child, scripted.module)
        attempt = trace(candidate, example_inputs)
        if attempt.module is None:
            continue
        diverged = check(attempt) or ("still freezes Python control flow" if froze_decisions(attempt) else "")
        if not diverged:
            attempt.mode = "mixed"
            attempt.findings.insert(0, Finding("mixed", f"submodule '{name}' scripted, the rest traced"))
            return attempt
        failures.append(name)
    return Capture(None, "mixed", [Finding("mixed", "no single scripted submodule made the trace correct"
                                           + (f" (tried {', '.join(failures[:5])})" if failures else ""))])


# --- parity against eager --------------------------------------------------------------

def check_inputs(specs: Sequence[TensorSpec], example_inputs: tuple, seeds: Sequence[int] = (101, 102)) -> list[tuple]:
    """Fresh inputs for checking a capture: new values at the example shape, then
    smaller and larger sizes on every dynamic dimension."""
    variants: list[dict[str, dict[int, int]]] = [{}]
    for resize in (lambda s: max(1, s // 2) if s > 1 else 2, lambda s: s + 3):
        variants.append({spec.name: {d: resize(spec.shape[d]) for d in spec.dynamic_dims} for spec in specs})
    inputs = []
    for sizes in variants:
        for seed in seeds:
            generator = torch.Generator().manual_seed(seed)
            inputs.append(tuple(_fresh(spec, example, generator, sizes.get(spec.name, {}))
                                for spec, example in zip(specs, example_inputs)))
    return inputs


def _fresh(spec: TensorSpec, example: torch.Tensor, generator: torch.Generator, sizes: dict[int, int]) -> torch.Tensor:
    """A random tensor like `example`: integers stay within the example's range
    (token ids, indices), floats keep its scale."""
    if spec.value_range is None and not spec.dtype.is_floating_point and spec.dtype != torch.bool and example.numel():
        low, high = int(example.min()), int(example.max()) + 1
        spec = TensorSpec(spec.name, spec.shape, spec.dtype, spec.dynamic_dims, (low, max(high, low + 1)))
    return spec.random(generator, sizes)


def divergence(candidate: torch.jit.ScriptModule, eager: torch.nn.Module, inputs: list[tuple],
               tolerance: Tolerance, calls: int = 2) -> str:
    """'' when `candidate` matches eager on every input (each called `calls` times:
    the profiling executor re-optimises on the second call), else why not."""
    for args in inputs:
        shapes = ", ".join(str(tuple(a.shape)) for a in args)
        with torch.no_grad():
            try:
                expected = flatten_outputs(eager(*args))
            except Exception:  # noqa: BLE001 - eager itself refuses this size: skip it
                continue
            for _ in range(calls):
                try:
                    actual = flatten_outputs(candidate(*args))
                except Exception as error:  # noqa: BLE001
                    return f"fails at inputs {shapes}: {_first_line(error)}"
                if [path for path, _ in actual] != [path for path, _ in expected]:
                    return (f"returns outputs {[p for p, _ in actual]} at inputs {shapes}, "
                            f"eager returns {[p for p, _ in expected]}")
                for (path, a), (_, e) in zip(actual, expected):
                    problem = _leaf_difference(a, e, tolerance)
                    if problem:
                        return f"{problem} in {path} at inputs {shapes}"
    return ""


def _leaf_difference(actual: Any, expected: Any, tolerance: Tolerance) -> str:
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            return f"returns {type(actual).__name__} where eager returns a tensor"
        if actual.shape != expected.shape:
            return f"has shape {tuple(actual.shape)} where eager has {tuple(expected.shape)}"
        if not torch.allclose(actual, expected, atol=tolerance.atol, rtol=tolerance.rtol, equal_nan=True):
            return f"differs from eager by {(actual.double() - expected.double()).abs().max().item():.3g}"
        return ""
    if isinstance(expected, float) and isinstance(actual, float):
        close = abs(actual - expected) <= tolerance.atol + tolerance.rtol * abs(expected)
        return "" if close else f"is {actual} where eager gives {expected}"
    return "" if actual == expected else f"is {actual!r} where eager gives {expected!r}"


# --- messages --------------------------------------------------------------------

def _first_line(error: Any) -> str:
    """The line of an error that says what happened: TorchScript interpreter errors
    put it last, after a traceback of serialized code."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    errors = [line for line in lines if re.match(r"^\w*(Error|Exception): ", line)]
    return errors[-1] if errors else lines[0]


def _script_error_summary(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _script_error_location(error: Exception) -> str:
    match = re.search(r'File "([^"]+)", line (\d+)', str(error))
    return f"{match.group(1)}:{match.group(2)}" if match else ""
