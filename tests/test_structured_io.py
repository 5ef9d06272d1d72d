"""Structured inputs and outputs (issue 23): dicts, tuples, lists, scalars and None in
and out of a model file, exported with no options, verified in C++, and run through
tsrt.load at other shapes and list lengths against eager PyTorch."""

from __future__ import annotations

import torch

import tsrt


def max_abs_error(actual, expected) -> float:
    """max |actual - expected| over the tensor leaves of two structures of one shape."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), type(actual)
        assert actual.shape == expected.shape
        return (actual.double() - expected.double()).abs().max().item() if expected.numel() else 0.0
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), (type(actual), list(actual))
        return max((max_abs_error(actual[k], expected[k]) for k in expected), default=0.0)
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        return max((max_abs_error(a, e) for a, e in zip(actual, expected)), default=0.0)
    assert actual == expected
    return 0.0


class Transposed(torch.nn.Module):
    def forward(self, x):
        return (x * 2).t()


def test_a_transposed_view_output_verifies(tmp_path):
    # np.save writes a transposed view in Fortran order, which libtsrt refuses to read.
    report = tsrt.export(Transposed(), (torch.randn(3, 5),), tmp_path / "t.pt")
    assert report.verification and all(c["passed"] for c in report.verification)
    model = tsrt.load(tmp_path / "t.pt")
    for rows in (2, 7):
        x = torch.randn(rows, 5)
        assert max_abs_error(model(x), (x * 2).t()) <= 1e-6
