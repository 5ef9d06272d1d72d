"""Timing each stage of an export into its report, and telling the user which runs."""

from __future__ import annotations

import time
from typing import Any, Callable

from tsrt.exporter.report import ExportReport


class Stages:
    """Times each stage into the report: `with stages("tracing"): ...`."""

    def __init__(self, report: ExportReport, say: Callable[[str], None]) -> None:
        self.report = report
        self.say = say

    def __call__(self, name: str, message: str | None = None) -> "Stage":
        if message:
            self.say(message)
        return Stage(self.report, name)


class Stage:
    def __init__(self, report: ExportReport, name: str) -> None:
        self.report, self.name = report, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        timings = self.report.timings
        timings[self.name] = timings.get(self.name, 0.0) + time.perf_counter() - self.started
