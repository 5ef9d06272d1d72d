"""Collecting the doctor's diagnoses into one list with one entry per problem.

The three stages see the same problems from different sides: the scan quotes the
list `[self.a, self.b]`, the compiler points at the call `f(x)` that uses it, and
tracing compiles @torch.jit.export methods and fails on what scripting failed on.
`Findings` keeps one diagnosis per (kind, location), drops a compiler error the
scan already explains, and orders the result by file and line.
"""

from __future__ import annotations

from tsrt.doctor.diagnosis import Diagnosis
from tsrt.doctor.source import split_location

# (file, first line, last line) of one function the scan read.
Span = tuple[str, int, int]


class Findings:
    """The diagnoses found so far, and the functions the scan read (to tell whether
    two locations lie in the same function)."""

    def __init__(self) -> None:
        self.items: list[Diagnosis] = []
        self.spans: list[Span] = []
        self._keys: set[tuple[str, str]] = set()

    def add(self, diagnosis: Diagnosis) -> None:
        """Adds `diagnosis` unless one of its kind is already at its location."""
        if (diagnosis.kind, diagnosis.location) not in self._keys:
            self._keys.add((diagnosis.kind, diagnosis.location))
            self.items.append(diagnosis)

    def add_covered(self, diagnosis: Diagnosis | None) -> None:
        """Adds a script-error finding unless the scan already reported it: anything at
        the same line, or the same kind inside the same function (the compiler may
        point at the call `f(x)`, the scan at the list `[self.a, self.b]` it came from)."""
        if diagnosis is None:
            return
        if not diagnosis.location:
            if any(d.kind == diagnosis.kind for d in self.items):
                return
        elif any(d.location == diagnosis.location for d in self.items):
            return
        else:
            span = self._span_of(diagnosis.location)
            if span and any(d.kind == diagnosis.kind and self._span_of(d.location) == span for d in self.items):
                return
        self.add(diagnosis)

    def in_order(self) -> list[Diagnosis]:
        """The diagnoses by file and line; those with no location last."""
        return sorted(self.items, key=_order)

    def _span_of(self, location: str) -> Span | None:
        file, line = split_location(location)
        for span in self.spans:
            if span[0] == file and span[1] <= line <= span[2]:
                return span
        return None


def _order(diagnosis: Diagnosis) -> tuple[int, str, int]:
    if not diagnosis.location:
        return (1, "", 0)
    file, line = split_location(diagnosis.location)
    return (0, file, line)
