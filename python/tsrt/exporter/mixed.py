"""The third capture of `auto`: a scripted submodule class inside a trace, for models
whose top level cannot be scripted but whose data-dependent part can."""

from __future__ import annotations

import inspect
import os
import time
from typing import Callable

import torch

from tsrt.capture import Capture, Finding, froze_decisions, froze_decisions_in, script, trace


def _source_span(cls: type) -> tuple[str, int, int] | None:
    """(file, first line, last line) of `cls`'s forward, where Python can find it."""
    forward = getattr(cls, "forward", None)
    try:
        lines, first = inspect.getsourcelines(forward)
        return os.path.abspath(inspect.getsourcefile(forward) or ""), first, first + len(lines) - 1
    except (OSError, TypeError):
        return None


def _warned_classes(module: torch.nn.Module, findings: list[Finding]) -> list[type]:
    """The submodule classes whose forward holds a line a TracerWarning names,
    innermost (shortest forward) first: scripting the smallest code that holds the
    frozen decision is the likeliest to compile."""
    locations = set()
    for finding in findings:
        if froze_decisions_in(finding) and finding.location:
            file, _, line = finding.location.rpartition(":")
            locations.add((os.path.abspath(file), int(line)))
    spans: dict[type, tuple[str, int, int]] = {}
    for name, submodule in module.named_modules():
        cls = type(submodule)
        if name and cls not in spans:
            span = _source_span(cls)
            if span and any(file == span[0] and span[1] <= line <= span[2] for file, line in locations):
                spans[cls] = span
    return sorted(spans, key=lambda cls: spans[cls][2] - spans[cls][1])


def mixed(module: torch.nn.Module, example_inputs: tuple, check: Callable[[Capture], str],
          traced: Capture | None = None, budget_seconds: float = 60.0) -> Capture:
    """Scripts every instance of one submodule class inside `module`, traces the rest;
    the first combination that passes `check` wins.

    The candidates are the classes whose code the trace's TracerWarnings point at
    (`traced`'s findings), innermost first; when the trace diverged without such
    warnings, the classes of the direct children.
    Each candidate costs a script and a trace, so the search stops at
    `budget_seconds`. Submodules are swapped in place and put back: no copy of the
    model is made, whatever its size."""
    started = time.perf_counter()
    findings = traced.findings if traced else []
    classes = _warned_classes(module, findings)
    if not classes and any(froze_decisions_in(f) for f in findings):
        # The frozen decisions are in code no submodule's forward holds (a library's
        # mask helper, a function): scripting a submodule cannot reach them.
        return Capture(None, "mixed", [Finding("mixed", "the TracerWarnings point at code outside every "
                                               "submodule's forward, so no submodule was scripted")])
    if not classes:
        classes = list(dict.fromkeys(type(child) for _, child in module.named_children()))
    tried: list[str] = []
    for cls in classes:
        if time.perf_counter() - started > budget_seconds:
            return Capture(None, "mixed", [Finding("mixed", f"stopped after {budget_seconds:.0f} s with "
                                                   f"{len(classes) - len(tried)} candidate(s) untried (tried "
                                                   f"{', '.join(tried) or 'none'})")])
        tried.append(cls.__name__)
        sites = [(name, submodule) for name, submodule in module.named_modules() if name and type(submodule) is cls]
        # Only the outermost instances: scripting one scripts what it holds.
        sites = [(n, m) for n, m in sites if not any(n.startswith(o + ".") for o, _ in sites)]
        swapped = []
        try:
            for name, submodule in sites:
                scripted = script(submodule)
                if scripted.module is None:
                    break
                parent_name, _, child = name.rpartition(".")
                parent = module.get_submodule(parent_name) if parent_name else module
                setattr(parent, child, scripted.module)
                swapped.append((parent, child, submodule))
            else:
                attempt = trace(module, example_inputs)
                if attempt.module is not None:
                    diverged = check(attempt) or ("still freezes Python control flow" if froze_decisions(attempt) else "")
                    if not diverged:
                        attempt.mode = "mixed"
                        attempt.findings.insert(0, Finding("mixed", f"{len(sites)} submodule(s) of class "
                                                           f"{cls.__name__} scripted, the rest traced"))
                        return attempt
        finally:
            for parent, child, original in reversed(swapped):
                setattr(parent, child, original)
    return Capture(None, "mixed", [Finding("mixed", "no scripted submodule class made the trace correct"
                                           + (f" (tried {', '.join(tried[:5])})" if tried else " (no candidates)"))])
