"""Stage 2 of the doctor: script the module and explain what the compiler rejects.

`torch.jit.script` stops at the first error. Its message is classified by
TorchScript's own texts, in both the old and the current wordings, into one of
the doctor's kinds; a message
no pattern knows stays a "script_error" that quotes the compiler. This adds what
the static scan cannot see, and `Findings.add_covered` drops what it already saw.
"""

from __future__ import annotations

import re

import torch

from tsrt import capture
from tsrt.doctor.diagnosis import DEFAULT_REWRITE, Diagnosis
from tsrt.doctor.findings import Findings
from tsrt.doctor.source import normalize_location, source_line

# TorchScript's own texts, old and current wordings (torchscript-pitfalls.md, section B).
_SCRIPT_ERRORS: list[tuple[str, re.Pattern[str]]] = [
    ("generator_expression", re.compile(r"GeneratorExp aren't supported")),
    ("list_comprehension_with_condition", re.compile(r"comprehension ifs (are )?not supported", re.I)),
    ("set_comprehension", re.compile(r"SetComp aren't supported")),
    ("dict_comprehension", re.compile(r"DictComp aren't supported")),
    ("set_type", re.compile(r"\bSet aren't supported|Unknown type (name|constructor) '(typing\.)?"
                            r"(set|Set|frozenset|AbstractSet)'|\bset\(Tensor 0\)")),
    ("lambda", re.compile(r"Lambda aren't supported")),
    ("varargs", re.compile(r"variable number of arguments|keyword-only arguments with defaults|"
                           r"keyword-arg expansion is not supported")),
    ("modulelist_variable_index", re.compile(r"Expected integer literal for index|ModuleList/Sequential indexing|"
                                             r"Unable to extract string literal index|ModuleDict indexing")),
    ("unresolvable_submodule_call", re.compile(r"getattr's second argument must be a string literal|"
                                               r"has no attribute or method '__call__'|"
                                               r"failed to convert Python type: '(list|tuple|dict)'.*torch\.nn\.Module")),
    ("none_default_unannotated", re.compile(r"Expected a default value of type \S+ on parameter|"
                                            r"for argument '\w+' but instead found type 'NoneType'")),
    ("source_unavailable", re.compile(r"could not get source code|Can't get source for")),
]
# super().forward(x) / super()(x): TorchScript sees super() as a call returning a Tensor.
_SUPER_ERROR = re.compile(r"(nonexistent attribute or method|has no attribute or method) '\w+'.*Tensor|"
                          r"Tensor.*(has no attribute or method|nonexistent attribute or method)|"
                          r"cannot call a value of type 'Tensor'")


def classify_script_error(message: str, source_line: str = "") -> str:
    """The kind of a TorchScript compiler error message ("script_error" when unknown);
    `source_line` (the line it points at) tells a super() misuse from other errors."""
    for kind, pattern in _SCRIPT_ERRORS:
        if pattern.search(message):
            return kind
    if _SUPER_ERROR.search(message) and ("super(" in source_line or "super(" in message):
        return "super_call"
    return "script_error"


def _from_script_error(finding: capture.Finding) -> Diagnosis:
    message = re.sub(r"^scripting failed:\s*", "", finding.message).rstrip(":").strip()
    location = normalize_location(finding.location)
    line = source_line(location)
    kind = classify_script_error(message, line)
    if kind == "script_error":
        rewrite = f"TorchScript says: {message}; {DEFAULT_REWRITE['script_error']}"
    else:
        rewrite = DEFAULT_REWRITE[kind]
    return Diagnosis(kind, location, line or message, rewrite)


def add_script_findings(found: Findings, module: torch.nn.Module) -> None:
    """Scripts `module` (through `capture.script`) and adds the compiler's error,
    unless the scan already reported it."""
    for finding in capture.script(module).findings:
        found.add_covered(_from_script_error(finding))
