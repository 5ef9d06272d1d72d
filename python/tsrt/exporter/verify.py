"""Verification: the saved file, loaded by libtsrt (the C++ runtime users embed), must
give eager PyTorch's golden outputs within the recorded tolerance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsrt.exporter import output_file
from tsrt.exporter.report import ExportError, ExportReport
from tsrt import Error  # tsrt.__getattr__ imports torch before tsrt._C
from tsrt.capture import first_line
from tsrt.model import load


class VerificationFailed(Exception):
    """The saved file does not match eager PyTorch in C++; str() says where and by how much."""


def verify_in_cpp(path: str | Path, device: str = "cpu") -> list[dict]:
    """Loads `path` with libtsrt on `device` and compares it with its golden outputs;
    returns one dict per golden output (pair, path, passed, max_abs, max_rel, detail)."""
    model = load(str(path), device=device)
    try:
        checks = model.verify()
    except Error as error:  # it fails on a golden input eager ran: as wrong as a wrong answer
        raise VerificationFailed(f"the saved model fails in C++ on its golden inputs, where eager PyTorch "
                                 f"runs: {first_line(error)}") from None
    failed = [c for c in checks if not c["passed"]]
    if failed:
        details = "; ".join(f"{c['path']}: max abs {c['max_abs']:.3g} {c['detail']}" for c in failed)
        raise VerificationFailed(f"the saved model does not match eager PyTorch when run by libtsrt: {details}")
    return checks


def publish_verified(staging: Path, path: str | Path, report: ExportReport, verify: bool, device: str, stage: Any) -> None:
    """Verifies the staged file in C++ and publishes it at `path`, or keeps it as
    <name>.rejected and raises ExportError."""
    if verify:
        with stage("verify", "verifying the saved file in C++ against the golden outputs"):
            try:
                report.verification = verify_in_cpp(staging, device)
            except VerificationFailed as failure:
                report.rejected_path = str(output_file.reject(staging, path))
                report.findings.append(f"[verify] {failure}")
                report.mode = "failed"
                raise ExportError(report) from None
    output_file.publish(staging, path)
