"""The TorchScript stage: choose the capture (trace, script, or a scripted submodule
inside a trace) that matches eager, freeze it, check its graph, and save it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Mapping

import torch

from tsrt import capture
from tsrt.exporter.mixed import mixed
from tsrt.exporter.report import ExportError, ExportReport


def choose(mode: str, traceable: torch.nn.Module | None, module: torch.nn.Module, example_inputs: tuple,
           check: Callable[[capture.Capture], str], report: ExportReport,
           say: Callable[[str], None]) -> capture.Capture:
    """Runs the capture strategies that `mode` allows and returns the first correct one;
    every rejected attempt is recorded in report.attempts with its reason."""
    attempts: list[capture.Capture] = []

    def accept(candidate: capture.Capture, reason: str) -> capture.Capture:
        report.reason = reason
        report.findings.extend(str(f) for f in candidate.findings)
        for attempt in attempts:
            if attempt is not candidate:
                report.attempts.append(rejection(attempt))
        return candidate

    if traceable is None and mode == "trace":
        raise ValueError("this model cannot be traced (its outputs include non-tensors); use mode='script' or 'auto'")
    if mode in ("auto", "trace") and traceable is not None:
        say("tracing")
        traced = capture.trace(traceable, example_inputs)
        attempts.append(traced)
        if traced.module is not None:
            say("checking the trace against eager at other values and sizes")
            traced.diverged = check(traced)
            if not traced.diverged and (mode == "trace" or not capture.froze_decisions(traced)):
                return accept(traced, "the trace matches eager at other values and sizes of the dynamic dimensions")
    if mode in ("auto", "script"):
        say("scripting")
        scripted = capture.script(module)
        attempts.append(scripted)
        if scripted.module is not None:
            say("checking the scripted module against eager")
            scripted.diverged = check(scripted)
            if not scripted.diverged:
                if mode == "script":
                    why = "script requested"
                elif not attempts[:-1]:
                    why = "outputs are not all tensors"
                elif attempts[0].module is None:
                    why = "tracing failed"
                else:
                    why = "the trace " + (attempts[0].diverged or "froze Python control flow (TracerWarning)")
                return accept(scripted, why + "; the scripted module matches eager")
    if mode == "auto" and traceable is not None:
        say("tracing with one submodule scripted at a time")
        combined = mixed(traceable, example_inputs, check, attempts[0] if attempts else None)
        attempts.append(combined)
        if combined.module is not None:
            return accept(combined, "neither a plain trace nor script is correct; a scripted submodule inside the trace is")
        traced = attempts[0]
        if traced.module is not None and not traced.diverged:
            return accept(traced, "script failed; the trace matched eager on every checked input despite the "
                                  "TracerWarnings, which are listed: check them")
    for attempt in attempts:
        report.attempts.append(rejection(attempt))
        report.findings.extend(str(f) for f in attempt.findings)
    # The doctor's static scan finds every construct, not just the first that fails.
    from tsrt.doctor import diagnose

    report.findings.extend(f"[doctor] {diagnosis}" for diagnosis in diagnose(module))
    report.mode = "failed"
    raise ExportError(report)


def rejection(attempt: capture.Capture) -> str:
    """'trace: <why>' for an attempt that was not kept."""
    if attempt.module is None:
        failures = [f.message for f in attempt.findings if "failed" in f.message or attempt.mode == "mixed"]
        return f"{attempt.mode}: {failures[0] if failures else 'it failed'}"
    if attempt.diverged:
        captured = {"trace": "traced", "script": "scripted"}.get(attempt.mode, attempt.mode)
        return f"{attempt.mode}: the {captured} module {attempt.diverged}"
    frozen = [f for f in attempt.findings if capture.froze_decisions_in(f)]
    where = f" at {frozen[0].location}" if frozen and frozen[0].location else ""
    return f"{attempt.mode}: it froze Python control flow ({len(frozen)} TracerWarning(s), first{where})"


def lint_graph(scripted: torch.jit.ScriptModule, findings: list[str]) -> None:
    """Refuses training-mode dropout/batch norm left in the graph; flags device constants."""
    training_ops = []
    for method in [scripted.forward, *[getattr(scripted, m) for m in scripted._c._method_names() if m != "forward"]]:
        graph = method.graph
        for node in graph.findAllNodes("aten::dropout") + graph.findAllNodes("aten::feature_dropout") \
                + graph.findAllNodes("aten::batch_norm"):
            flag = list(node.inputs())[2 if node.kind() != "aten::batch_norm" else 5]
            if flag.node().kind() != "prim::Constant" or flag.toIValue() is not False:
                training_ops.append(node.kind())
        for node in graph.findAllNodes("prim::Constant"):
            if node.output().type().kind() == "DeviceObjType" and "cuda" in str(node.output().toIValue()):
                findings.append(f"[graph] device constant {node.output().toIValue()} baked into the graph: "
                                "the model will only run on that GPU; create tensors with *_like(x) or buffers")
    if training_ops:
        raise ValueError(f"the exported graph still runs {', '.join(sorted(set(training_ops)))} in training mode; "
                         "call model.eval() and avoid passing training=True explicitly")


def freeze(scripted: torch.jit.ScriptModule, enabled: bool) -> torch.jit.ScriptModule:
    """Weights inlined as constants and BatchNorm folded into convolutions; methods other
    than forward (@torch.jit.export) are kept."""
    if not enabled:
        return scripted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        extra_methods = [name for name in scripted._c._method_names() if name != "forward"]
        return torch.jit.freeze(scripted, preserved_attrs=extra_methods)


def save(scripted: torch.jit.ScriptModule, path: Path, extra_files: Mapping[str, bytes]) -> None:
    """Writes the TorchScript archive with tsrt's extra files (metadata, golden pairs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, str(path), _extra_files=dict(extra_files))
