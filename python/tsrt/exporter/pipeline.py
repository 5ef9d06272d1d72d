"""tsrt.export: a PyTorch module to a self-describing, verified model file.

The stages, each a module of this package:
  inputs       names, order and specs of the example inputs
  outputs      a wrapper that makes any output structure traceable
  tolerance    the parity tolerance, fitted to the model's own float32 noise
  check        eager's answers on fresh inputs, and a capture's distance from them
  (tsrt.capture trace and script, shared with the doctor)
  mixed        a scripted submodule class inside a trace
  dynamic_dims which input dimensions the capture handles at other sizes
  torchscript  choosing the capture, freezing, saving (format "torchscript")
  aoti         torch.export + AOTInductor (format "aoti")
  golden       eager's outputs on a few inputs, recorded into the file
  metadata     the tsrt.json contract
  verify       the saved file run by libtsrt against the golden outputs
  output_file  nothing reaches the output path unless it was verified
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from tsrt.contract import METADATA_FILE, encode_metadata
from tsrt import capture
from tsrt.capture import first_line
from tsrt.exporter import aoti, check, detection, dynamic_dims, output_file, outputs, torchscript
from tsrt.exporter.golden import DEFAULT_GOLDEN_PAIRS, record_golden
from tsrt.exporter.inputs import ExampleInputs, UsageError, normalize_inputs
from tsrt.exporter.metadata import build_metadata
from tsrt.exporter.report import ExportError, ExportReport
from tsrt.exporter.tolerance import fit_tolerance
from tsrt.exporter.stages import Stages
from tsrt.exporter.verify import publish_verified
from tsrt.source_location import user_frame
from tsrt.spec import TensorSpec, Tolerance

MODES = ("auto", "trace", "script")
FORMATS = ("torchscript", "aoti")


def export(module: torch.nn.Module, example_inputs: Sequence[Any] | Mapping[str, Any], path: str | Path,
           mode: str = "auto", *,
           format: str = "torchscript",
           input_specs: Sequence[TensorSpec] | None = None,
           dynamic: Mapping[str, Sequence[int]] | None = None,
           method_specs: Mapping[str, Sequence[TensorSpec]] | None = None,
           output_names: Sequence[str] | None = None,
           tolerance: Tolerance | None = None,
           freeze: bool = True,
           golden: int = DEFAULT_GOLDEN_PAIRS,
           verify: bool = True,
           progress: Callable[[str], None] | None = None,
           inductor_configs: Mapping[str, Any] | None = None) -> ExportReport:
    """Exports `module` to a self-describing model file at `path`: TorchScript (.pt) or,
    with format="aoti", an AOTInductor package (.pt2).

    mode: "auto" (trace, checked against eager at other values and sizes; script
    when the trace is wrong; a scripted submodule class inside a trace when only that
    works), "trace" or "script" (checked the same way; an error if wrong).
    example_inputs: a tuple of tensors, or a dict for keyword inputs.
    input_specs / dynamic: the inputs' names, dtypes and varying dimensions
    ({name: [dims]}). Without either, the batch dimension varies and every other
    dimension is probed at other sizes: the ones where the file still matches eager
    are recorded as dynamic (report.dynamic says which and why).
    method_specs: inputs of extra @torch.jit.export methods (kept through freezing).
    format: "torchscript", or "aoti": torch.export with the same dynamic dimensions,
    compiled ahead of time by AOTInductor (`mode` and `freeze` do not apply; each
    method of method_specs becomes a compiled model of the package).
    inductor_configs: format="aoti" only: Inductor settings on top of tsrt's defaults
    (tsrt.exporter.aoti_compile.DEFAULT_INDUCTOR_CONFIGS, freezing on; {"freezing": False} turns it off).
    The report's `compile` says what was used and the compile seconds per method.
    tolerance: the parity tolerance; by default fitted to the model (its float32
    noise, eager float32 vs float64, times a factor; see exporter/tolerance.py).
    golden: input/output pairs recorded from eager PyTorch (0: none).
    verify: reload the saved file in C++ (libtsrt) and compare with the golden
    outputs before the file reaches `path`; a file that fails is kept as
    <name>.rejected<suffix> and ExportError is raised.
    progress: called with a line per stage (tracing, checking, scripting, ...).
    Raises ExportError (a tsrt.Error, code "export_failed") with every attempt, finding
    and fix when no correct file can be made, whatever stopped it (the model raising
    on its example inputs included); ValueError for arguments that make no sense
    (an unknown mode or format, specs named unlike forward's parameters).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format '{format}'; expected one of {', '.join(FORMATS)}")
    if format == "aoti" and mode != "auto":
        raise ValueError(f"mode '{mode}' is a TorchScript capture mode; format 'aoti' always uses torch.export")
    if inductor_configs and format != "aoti":
        raise ValueError("inductor_configs apply to format 'aoti' (AOTInductor) only")
    if mode not in MODES:
        raise ValueError(f"unknown export mode '{mode}'; expected one of {', '.join(MODES)}")
    say = progress or (lambda _: None)
    report = ExportReport(path=str(path), mode=mode, format=format)
    stage = Stages(report, say)
    try:
        return _export(module, example_inputs, path, mode, format, input_specs, dynamic, method_specs, output_names,
                       tolerance, freeze, golden, verify, report, stage, inductor_configs)
    except (ExportError, UsageError):
        raise
    except Exception as error:  # noqa: BLE001 - every failure reaches the user as an ExportError
        raise ExportError(failed(report, error)) from error


def failed(report: ExportReport, error: BaseException) -> ExportReport:
    """The report of an export that stopped on `error`: what was raised, and where in
    the user's code (the innermost frame outside torch and tsrt)."""
    report.mode = "failed"
    report.stopped_by = f"{type(error).__name__}: {first_line(error)}"
    report.findings.append(f"[export] {report.stopped_by}")
    where = user_frame(error)
    if where:
        report.findings.append(f"[export] at {where[0]}:{where[1]}: {where[2]}")
    return report


def _export(module: torch.nn.Module, example_inputs: Sequence[Any] | Mapping[str, Any], path: str | Path,
            mode: str, format: str, input_specs: Sequence[TensorSpec] | None,
            dynamic: Mapping[str, Sequence[int]] | None, method_specs: Mapping[str, Sequence[TensorSpec]] | None,
            output_names: Sequence[str] | None, tolerance: Tolerance | None, freeze: bool, golden: int,
            verify: bool, report: ExportReport, stage: Stages,
            inductor_configs: Mapping[str, Any] | None = None) -> ExportReport:
    module = module.eval()
    if input_specs is None and detection.is_detector(module, example_inputs):
        module, example_inputs = detection.wrap(module, example_inputs, report.findings)
        output_names = output_names or detection.OUTPUT_NAMES
        # Images of any count and size: the wrapper slices each image out of the padded batch.
        dynamic = dynamic if dynamic is not None else {"images": (0, 2, 3), "image_sizes": (0,)}
        if mode == "auto":
            mode = report.mode = "script"  # a trace would freeze the detection count
        if tolerance is None:
            tolerance = Tolerance(**detection.TOLERANCE)
            report.tolerance = {**tolerance.to_json(), "source": "detection models' default (boxes in pixels)"}
        report.findings.append(
            "a detection model (a list of images in, a list of per-image dicts out): exported as "
            "forward(images [N, 3, H, W] zero-padded, image_sizes int64 [N, 2]) -> boxes [K, 4], scores [K], "
            "labels [K], num_detections [N] (every image's detections in order; "
            "tsrt.exporter.detection.batch_images / split_detections convert). It calls torchvision::nms: "
            "run it with infer --load-library $(tsrt torchvision-ops-library), or "
            "tsrt.load(path, libraries=[tsrt.torchvision_ops_library()])")
    inputs = normalize_inputs(module, example_inputs, input_specs, dynamic)
    probe_dims = input_specs is None and dynamic is None
    with torch.no_grad():
        raw_output = inputs.call(module)
    # Key/value caches and ModelOutputs become plain tuples and dicts of tensors.
    eager_output = outputs.to_plain(raw_output)
    if outputs.holds_cache(raw_output):
        report.findings.append("the model returns a key/value cache object: its tensors are outputs too, named "
                               "[i]['key'] and [i]['value'] per layer (an EncoderDecoderCache's under ['self_attention'] "
                               "and ['cross_attention']; pass use_cache=False to leave them out)")
    with stage("tolerance", "measuring the model's float32 noise (eager float32 vs float64)"):
        if tolerance is None:
            tolerance, report.tolerance = fit_tolerance(module, inputs.call, [inputs.values])
        elif not report.tolerance:
            report.tolerance = {**tolerance.to_json(), "source": "given"}
    if format == "aoti":
        if inputs.trees is not None:
            raise UsageError("format 'aoti' takes tensor inputs only; a model with dict, tuple, list, scalar or None "
                             "inputs exports to TorchScript (format='torchscript', the default)")
        return aoti.export_aoti(module, inputs, path, report, eager_output=eager_output,
                                output_names=output_names, tolerance=tolerance, method_specs=method_specs,
                                golden_count=golden, verify=verify, probe_dims=probe_dims, stage=stage,
                                inductor_configs=inductor_configs)
    return _export_torchscript(module, inputs, path, mode, report, eager_output, raw_output, output_names,
                               tolerance, method_specs, freeze, golden, verify, probe_dims, stage)


def _export_torchscript(module: torch.nn.Module, inputs: ExampleInputs, path: str | Path, mode: str,
                        report: ExportReport, eager_output: Any, raw_output: Any, output_names: Sequence[str] | None,
                        tolerance: Tolerance, method_specs: Mapping[str, Sequence[TensorSpec]] | None,
                        freeze: bool, golden_count: int, verify: bool, probe_dims: bool, stage: Stages) -> ExportReport:
    scalar_outputs = outputs.has_scalar_leaves(eager_output)
    flatten = not scalar_outputs and (outputs.needs_flattening(eager_output) or outputs.holds_cache(raw_output)
                                      or outputs.nests_model_outputs(raw_output))
    bound = inputs.trees.bound() if inputs.trees is not None else {}
    wrap = not scalar_outputs and (inputs.by_keyword or flatten or bool(bound))
    traceable = outputs.FlatOutputs(module, inputs.names, inputs.by_keyword, bound).eval() if wrap else module
    if scalar_outputs:
        traceable = None
        report.findings.append("the model returns ints/floats/bools/str: a trace would freeze them as constants, "
                               "so only script can export it")
    if flatten:
        output_names = output_names or outputs.leaf_names(eager_output)
        report.findings.append(f"outputs flattened to a tuple for tracing: {', '.join(output_names)}")
    if bound:
        report.findings.append("a trace cannot take scalars or None: "
                               + ", ".join(f"{inputs.names[i]}={value!r}" for i, value in bound.items())
                               + " bound at their example value (recorded as fixed in the contract; libtsrt refuses "
                               "another value); a scripted export takes them as arguments")
    if inputs.by_keyword:
        report.findings.append(f"keyword inputs passed positionally, in this order: {', '.join(inputs.names)}")
    if isinstance(eager_output, dict) and not flatten:
        output_names = output_names or outputs.leaf_names(eager_output)
        report.findings.append("the model returns a dict: traced with strict=False; its keys are checked to stay fixed")

    # Checked against the original module, whatever wrapper is traced: a flattened
    # trace returns the leaves that eager's output has at the same paths.
    # Structured inputs: every call below takes the flat tensor leaves, and the runner
    # rebuilds the arguments (without the bound ones for a trace).
    reference_call = inputs.runner(traceable, True) if traceable is not None else inputs.runner(module, False)
    with stage("check inputs"):
        expected = check.reference(reference_call, check.check_inputs(inputs.specs, inputs.values))

    def diverged(candidate: capture.Capture) -> str:
        return check.divergence(inputs.runner(candidate.module, candidate.mode != "script"), expected, tolerance)

    example = inputs.values if inputs.trees is None else inputs.trees.traced_arguments(inputs.values)
    with stage("capture"):
        chosen = torchscript.choose(mode, traceable, module, example, diverged, report, stage.say)
    report.mode = chosen.mode
    # Scripting keeps the original module's outputs; only traces see the flattened ones.
    if chosen.mode == "script" and flatten:
        output_names = None
    exported = module if chosen.mode == "script" else traceable
    if chosen.mode == "script" and inputs.trees is not None:
        # Scalars and None are real arguments of a scripted module; its lists may vary in length.
        inputs.trees = inputs.trees.for_script()
    if probe_dims:
        with stage("dynamic dimensions", "probing which input dimensions may vary"):
            inputs.specs = dynamic_dims.probe(inputs.runner(chosen.module, chosen.mode != "script"), reference_call,
                                              inputs.specs, inputs.values, tolerance, report)
    with stage("freeze", "freezing, checking the graph"):
        scripted = torchscript.freeze(chosen.module, freeze)
        torchscript.lint_graph(scripted, report.findings)
    with stage("golden", "recording golden outputs"):
        golden_entries, extra_files = record_golden(inputs.runner(exported, chosen.mode != "script"), inputs.specs, inputs.values, golden_count,
                                                           output_names or (), report.findings)
    metadata = build_metadata(module, report, inputs.contract_inputs(), output_names, eager_output, tolerance, method_specs,
                              golden_entries, frozen=freeze)
    extra_files[METADATA_FILE] = encode_metadata(metadata)
    with output_file.staged(path) as staging:
        with stage("save"):
            torchscript.save(scripted, staging, extra_files)
        publish_verified(staging, path, report, verify and bool(golden_entries), "cpu", stage)
    return report
