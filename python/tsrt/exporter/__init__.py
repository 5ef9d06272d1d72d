"""Exporting a PyTorch module to a self-describing, verified model file: TorchScript
(.pt) or an AOTInductor package (.pt2). `tsrt.export` is `pipeline.export`; the
stages are the modules of this package (pipeline.py lists them)."""

from tsrt.exporter.pipeline import FORMATS, MODES, export
from tsrt.exporter.report import ExportError, ExportReport

__all__ = ["ExportError", "ExportReport", "FORMATS", "MODES", "export"]
