"""tsrt doctor: each TorchScript export problem of doctor_cases.py is diagnosed at
its line with a rewrite, a clean model has none, and the report says where and how.

Lines are found by the marker comment on them (`# doctor: <kind>`), never hard-coded.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

import doctor_cases
from tsrt import zoo
from tsrt.doctor import KINDS, Diagnosis, classify_script_error, diagnose, format_report

CASES_FILE = Path(doctor_cases.__file__).resolve()
CASES_TEXT = CASES_FILE.read_text().splitlines()


def marker_lines(marker: str) -> list[int]:
    """The lines of doctor_cases.py that end with `marker` (1-based)."""
    return [number for number, line in enumerate(CASES_TEXT, start=1) if line.rstrip().endswith(marker)]


def marker_line(marker: str) -> int:
    lines = marker_lines(marker)
    assert len(lines) == 1, f"marker {marker!r} should be on exactly one line of {CASES_FILE.name}, found {lines}"
    return lines[0]


def line_in_cases(diagnosis: Diagnosis) -> int | None:
    """The line of a diagnosis located in doctor_cases.py, else None."""
    path, _, line = diagnosis.location.rpartition(":")
    return int(line) if path and Path(path).resolve() == CASES_FILE else None


@functools.lru_cache(maxsize=None)
def diagnosed(model: type, with_inputs: bool = True) -> tuple[Diagnosis, ...]:
    return tuple(diagnose(model(), doctor_cases.example_inputs() if with_inputs else None))


@pytest.mark.parametrize("kind", list(doctor_cases.CASES))
def test_each_kind_is_found_at_its_line_and_nothing_else(kind: str) -> None:
    found = diagnosed(doctor_cases.CASES[kind])
    line = marker_line(f"# doctor: {kind}")
    assert [d.kind for d in found] == [kind], format_report(list(found))
    (diagnosis,) = found
    assert line_in_cases(diagnosis) == line, f"{diagnosis.location} is not doctor_cases.py:{line}"
    assert diagnosis.rewrite.strip() and diagnosis.construct.strip()


@pytest.mark.parametrize("model, kind", doctor_cases.VARIANTS, ids=[m.__name__ for m, _ in doctor_cases.VARIANTS])
def test_other_spellings_are_found(model: type, kind: str) -> None:
    found = diagnosed(model)
    line = marker_line(f"# doctor: {kind} @{model.__name__}")
    matches = [d for d in found if d.kind == kind and line_in_cases(d) == line]
    assert matches, f"no {kind} at doctor_cases.py:{line} in:\n{format_report(list(found))}"
    assert all(d.rewrite for d in matches)


@pytest.mark.parametrize("model", [doctor_cases.Clean, doctor_cases.IgnoredPythonOnly])
def test_clean_model_has_no_diagnoses(model: type) -> None:
    assert diagnosed(model) == ()
    assert format_report([]) == "no problems found: the model scripts and traces correctly"


def test_two_different_problems_are_both_reported() -> None:
    found = diagnosed(doctor_cases.TwoProblems)
    expected = {("lambda", marker_line("# doctor: lambda @TwoProblems")),
                ("modulelist_variable_index", marker_line("# doctor: modulelist_variable_index @TwoProblems"))}
    assert {(d.kind, line_in_cases(d)) for d in found} == expected


def test_every_occurrence_is_reported() -> None:
    found = diagnosed(doctor_cases.RepeatedConstruct)
    lines = marker_lines("# doctor: lambda @RepeatedConstruct")
    assert len(lines) == 2
    assert sorted(line_in_cases(d) for d in found if d.kind == "lambda") == lines


def test_report_gives_file_line_construct_and_rewrite() -> None:
    found = list(diagnosed(doctor_cases.GeneratorExpression))
    report = format_report(found)
    line = marker_line("# doctor: generator_expression")
    assert f"doctor_cases.py:{line}: generator expression `tuple(p * 2 for p in xs)`" in report
    assert "use a list comprehension: [p * 2 for p in xs]" in report
    assert found[0].rewrite in report and "\n" not in str(found[0])
    assert report.splitlines()[0] == "1 TorchScript export problem found:"


def test_report_of_a_trace_finding_quotes_the_source_line() -> None:
    (diagnosis,) = diagnosed(doctor_cases.DataDependentControlFlow)
    assert diagnosis.construct == "if x.sum() > 0:"
    assert "torch.where" in str(diagnosis)


def test_without_example_inputs_only_scan_and_script_run() -> None:
    assert diagnosed(doctor_cases.DataDependentControlFlow, with_inputs=False) == ()
    assert [d.kind for d in diagnosed(doctor_cases.Lambda, with_inputs=False)] == ["lambda"]


def test_diagnose_leaves_the_model_in_its_mode() -> None:
    model = doctor_cases.Clean().train()
    diagnose(model, doctor_cases.example_inputs())
    assert all(m.training for m in model.modules())


def test_zoo_models_that_script_get_no_scan_or_script_findings() -> None:
    trace_kinds = {"data_dependent_control_flow", "tensor_constant_in_trace", "device_constant_in_trace",
                   "trace_failed", "trace_warning"}
    for name, entry in zoo.ZOO.items():
        if "script" not in entry.modes:
            continue
        found = diagnose(entry.build(), entry.example_inputs())
        assert not [d for d in found if d.kind not in trace_kinds], f"{name}:\n{format_report(found)}"


# TorchScript's own texts (torchscript-pitfalls.md, section B), in older and current wordings.
SCRIPT_ERRORS = [
    ("torch.jit.frontend.UnsupportedNodeError: GeneratorExp aren't supported", "generator_expression"),
    ("torch.jit.frontend.NotSupportedError: comprehension ifs not supported yet", "list_comprehension_with_condition"),
    ("Comprehension ifs are not supported yet:", "list_comprehension_with_condition"),
    ("SetComp aren't supported:", "set_comprehension"),
    ("torch.jit.frontend.UnsupportedNodeError: DictComp aren't supported", "dict_comprehension"),
    ("Set aren't supported:", "set_type"),
    ("Unknown type name 'set':", "set_type"),
    ("torch.jit.frontend.UnsupportedNodeError: Lambda aren't supported", "lambda"),
    ("torch.jit.frontend.NotSupportedError: Compiled functions can't take variable number of arguments or use "
     "keyword-only arguments with defaults", "varargs"),
    ("keyword-arg expansion is not supported", "varargs"),
    ("Expected integer literal for index. ModuleList/Sequential indexing is only supported with integer literals.",
     "modulelist_variable_index"),
    ("Unable to extract string literal index. ModuleDict indexing is only supported with string literals.",
     "modulelist_variable_index"),
    ("getattr's second argument must be a string literal:", "unresolvable_submodule_call"),
    ("'__torch__.torch.nn.modules.linear.Linear' object has no attribute or method '__call__'.",
     "unresolvable_submodule_call"),
    ('Expected a default value of type int on parameter "k".:', "none_default_unannotated"),
    ("OSError: could not get source code", "source_unavailable"),
    ("OSError: Can't get source for <function f>. TorchScript requires source access in order to carry out "
     "compilation, make sure original .py files are available.", "source_unavailable"),
    ("try blocks aren't supported:", "script_error"),
]


@pytest.mark.parametrize("message, kind", SCRIPT_ERRORS)
def test_script_error_messages_are_classified(message: str, kind: str) -> None:
    assert classify_script_error(message) == kind


@pytest.mark.parametrize("message", [
    "Tried to access nonexistent attribute or method 'forward' of type 'Tensor'",
    "'Tensor' object has no attribute or method 'forward'.:",
    "cannot call a value of type 'Tensor':",
])
def test_super_errors_need_super_in_the_source_line(message: str) -> None:
    assert classify_script_error(message, "return super().forward(x) * 2") == "super_call"
    assert classify_script_error(message, "return y.forward(x)") == "script_error"


def test_every_kind_has_a_title() -> None:
    assert set(doctor_cases.CASES) <= set(KINDS)


def test_device_constant_made_inside_torch_points_at_torch() -> None:
    """nn.LSTM traced without a state creates it with device=input.device: no line of
    the model's own makes the constant, so the diagnosis points at torch's."""
    found = diagnose(torch.nn.LSTM(4, 3, batch_first=True), (torch.randn(2, 5, 4),))
    assert [d.kind for d in found] == ["device_constant_in_trace"]
    assert found[0].location.rpartition(":")[0].endswith("rnn.py")
