"""tsrt.export_causal_lm: a Hugging Face causal language model to one TorchScript file
with a prefill and a decode method, the key/value cache as explicit tensors in and out.

The stages: recognise the model (a generating, decoder-only PreTrainedModel whose
layers all keep a full-attention cache) and read its generation contract; trace both
methods of CausalLMStep at an example batch of 2 with a left-padded row; check the
trace against eager at other batch sizes, prompt lengths and padding, over a prefill
and two decode steps; freeze; record one golden pair per method; save with the
contract; verify the saved file in C++ (libtsrt) before it reaches the output path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from tsrt.capture import first_line
from tsrt.contract import METADATA_FILE, dtype_name, encode_metadata, metadata_document, method_entry
from tsrt.exporter import output_file
from tsrt.exporter.golden import npy_bytes
from tsrt.exporter.inputs import UsageError
from tsrt.exporter.pipeline import failed
from tsrt.exporter.report import ExportError, ExportReport
from tsrt.exporter.stages import Stages
from tsrt.exporter.torchscript import save
from tsrt.exporter.verify import publish_verified
from tsrt.generation.contract import TASK, GenerationContract, context_limit, token_ids
from tsrt.generation.step import CausalLMStep
from tsrt.spec import TensorSpec, Tolerance
from tsrt.version import __version__

METHODS = ("prefill", "decode")
OUTPUT_NAMES = ["logits", "past_keys", "past_values"]
# The trace replays eager's own operations, so the two agree to float32 rounding of a
# different kernel choice at most; a frozen batch or length shows up as an error or as
# differences of order one.
TOLERANCE = Tolerance(atol=1e-4, rtol=1e-4)


def export_causal_lm(model: torch.nn.Module, path: str | Path, *, example_batch: int = 2, example_length: int = 6,
                     verify: bool = True, progress: Callable[[str], None] | None = None) -> ExportReport:
    """Exports a Hugging Face causal LM (GPT2LMHeadModel, LlamaForCausalLM, ...) to a
    TorchScript file at `path` with two methods:

      prefill(input_ids [B,T] int64, attention_mask [B,T] int64)
          -> (logits [B,V] of the last position, past_keys, past_values)
      decode(input_ids [B,1], attention_mask [B,T+1], past_keys, past_values)
          -> (logits [B,V], past_keys, past_values) with one position more

    past_keys / past_values are float32 [layers, B, kv_heads, T, head_dim]. Prompts of
    different lengths share a batch left-padded (attention_mask 0 on the padding).
    The file's tsrt.json records task "causal_lm" and `generation`: context limit,
    eos and pad ids, vocabulary size, cache layout (GenerationContract).

    example_batch (>= 2) and example_length size the trace; it is then checked at
    other batches and lengths. Raises UsageError (a ValueError) for a model that is not
    a causal LM this exporter handles, ExportError when the trace does not match
    eager PyTorch at other sizes or the saved file fails verification in C++.
    """
    if example_batch < 2:
        raise UsageError("example_batch must be at least 2: traced at batch 1, Hugging Face's masking code "
                         "bakes the batch size into the trace")
    say = progress or (lambda _: None)
    report = ExportReport(path=str(path), mode="trace", format="torchscript")
    stage = Stages(report, say)
    model = model.eval()
    contract = describe(model)  # UsageError for anything else, before any work
    if example_length + 12 > contract.context_limit:
        raise UsageError(f"example_length {example_length} leaves no room under the context limit "
                         f"{contract.context_limit} for the checks at longer prompts; use a shorter one")
    try:
        return _export(model, Path(path), contract, example_batch, example_length, verify, report, stage)
    except (ExportError, UsageError):
        raise
    except Exception as error:  # noqa: BLE001 - every failure reaches the user as an ExportError
        raise ExportError(failed(report, error)) from error


def describe(model: torch.nn.Module) -> GenerationContract:
    """The generation contract of `model`, or UsageError saying why it is not a causal LM
    that export_causal_lm handles. Cache dimensions are filled in by a first prefill."""
    try:
        import transformers
    except ImportError:  # pragma: no cover - the venv has it
        raise UsageError("export_causal_lm needs the transformers package") from None
    what = f"{type(model).__module__}.{type(model).__qualname__}"
    if not isinstance(model, transformers.PreTrainedModel):
        raise UsageError(f"export_causal_lm takes a Hugging Face causal language model (a PreTrainedModel that "
                         f"generates text, such as GPT2LMHeadModel or LlamaForCausalLM); got {what}. "
                         "Use tsrt.export for other modules")
    config = model.config
    if getattr(config, "is_encoder_decoder", False) or not model.can_generate():
        raise UsageError(f"{what} is not a decoder-only causal language model (it cannot generate, or it is an "
                         "encoder-decoder); export_causal_lm takes models such as GPT2LMHeadModel or "
                         "LlamaForCausalLM. Use tsrt.export for other models")
    from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

    limit = context_limit(config)
    for layer in DynamicCache(config=config).layers:
        if type(layer) is DynamicLayer:
            continue
        # A window at least as long as the context never slides: the layer is a full one.
        if type(layer) is DynamicSlidingWindowLayer and layer.sliding_window >= limit:
            continue
        detail = f" of window {layer.sliding_window} (shorter than the context limit {limit})" \
            if isinstance(layer, DynamicSlidingWindowLayer) else ""
        raise UsageError(f"{what} keeps {type(layer).__name__} cache layers{detail}; export_causal_lm handles "
                         "models whose every layer keeps a full-attention cache only, for now")
    generation = getattr(model, "generation_config", None)
    eos = token_ids(getattr(generation, "eos_token_id", None) if generation is not None else None) \
        or token_ids(getattr(config, "eos_token_id", None))
    pad = getattr(generation, "pad_token_id", None) if generation is not None else None
    pad = pad if pad is not None else getattr(config, "pad_token_id", None)
    return GenerationContract(context_limit=limit, eos_token_ids=eos,
                              pad_token_id=pad, vocab_size=int(config.vocab_size), layers=0, kv_heads=0, head_dim=0)


def example_tokens(batch: int, length: int, vocab: int, seed: int, padded_rows: int = 1) -> tuple:
    """(input_ids, attention_mask) with the first `padded_rows` rows left-padded by
    two tokens, so that the masking code's padded branch is what gets traced."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[:padded_rows, :min(2, length - 1)] = 0
    return ids, mask


def step_specs(contract: GenerationContract, batch: int, length: int) -> dict[str, list[TensorSpec]]:
    """The input specs of prefill and decode: batch and lengths vary, the rest is fixed."""
    tokens = (0, contract.vocab_size)
    cache_shape = (contract.layers, batch, contract.kv_heads, length, contract.head_dim)
    return {
        "prefill": [TensorSpec("input_ids", (batch, length), torch.int64, (0, 1), tokens),
                    TensorSpec("attention_mask", (batch, length), torch.int64, (0, 1), (1, 2))],
        "decode": [TensorSpec("input_ids", (batch, 1), torch.int64, (0,), tokens),
                   TensorSpec("attention_mask", (batch, length + 1), torch.int64, (0, 1), (1, 2)),
                   TensorSpec("past_keys", cache_shape, torch.float32, (1, 3)),
                   TensorSpec("past_values", cache_shape, torch.float32, (1, 3))],
    }


def _export(model: torch.nn.Module, path: Path, contract: GenerationContract, batch: int, length: int,
            verify: bool, report: ExportReport, stage: Stages) -> ExportReport:
    step = CausalLMStep(model).eval()
    prefill_inputs = example_tokens(batch, length, contract.vocab_size, seed=0)
    with torch.no_grad():
        logits, keys, values = step.prefill(*prefill_inputs)
        next_ids = logits.argmax(-1, keepdim=True)
        decode_inputs = (next_ids, torch.cat([prefill_inputs[1], torch.ones_like(next_ids)], 1), keys, values)
    contract = GenerationContract(**{**vars(contract), "vocab_size": logits.shape[-1], "layers": keys.shape[0],
                                     "kv_heads": keys.shape[2], "head_dim": keys.shape[4],
                                     "cache_dtype": dtype_name(keys.dtype)})
    with stage("capture", f"tracing prefill and decode at batch {batch}, prompt length {length}"):
        traced = trace(step, prefill_inputs, decode_inputs, report.findings)
    with stage("check", "checking the trace against eager at other batch sizes and prompt lengths"):
        divergence = generalisation(step, traced, contract, batch, length)
    if divergence:
        report.mode = "failed"
        report.attempts.append(f"trace: {divergence}")
        report.findings.append("the traced steps do not match eager PyTorch at other batch sizes or prompt lengths "
                               "(a size frozen by the model's Python code); try another example_batch/example_length, "
                               "or report the model")
        raise ExportError(report)
    report.reason = "prefill and decode traced; they match eager at other batch sizes, prompt lengths and padding"
    with stage("freeze", "freezing"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            frozen = torch.jit.freeze(traced, preserved_attrs=list(METHODS))
    with stage("golden", "recording golden outputs"):
        golden, extra_files = record_golden(step, {"prefill": prefill_inputs, "decode": decode_inputs})
    specs = step_specs(contract, batch, length)
    structure = "Tuple[Tensor, Tensor, Tensor]"
    metadata = metadata_document(
        producer=f"tsrt {__version__}", source=f"{type(model).__module__}.{type(model).__qualname__}",
        export_mode="trace", export_reason=report.reason, findings=report.findings,
        methods={name: method_entry(specs[name], OUTPUT_NAMES, structure) for name in METHODS},
        tolerance=TOLERANCE.to_json(), golden=golden, frozen=True,
        task=TASK, generation=contract.to_json())
    extra_files[METADATA_FILE] = encode_metadata(metadata)
    report.tolerance = {**TOLERANCE.to_json(), "source": "export_causal_lm"}
    with output_file.staged(path) as staging:
        with stage("save"):
            save(frozen, staging, extra_files)
        publish_verified(staging, path, report, verify, "cpu", stage)
    return report


def trace(step: CausalLMStep, prefill_inputs: tuple, decode_inputs: tuple, findings: list[str]) -> torch.jit.ScriptModule:
    """Both methods traced into one module (their weights shared). TracerWarnings are
    expected (the cache's Python bookkeeping) and judged by the check that follows."""
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        traced = torch.jit.trace_module(step, {"prefill": prefill_inputs, "decode": decode_inputs},
                                        check_trace=False)
    tracer = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    if tracer:
        findings.append(f"[trace] {len(tracer)} TracerWarning(s) from the model's Python code; the trace was "
                        "checked at other batch sizes and prompt lengths instead")
    return traced


def generalisation(step: CausalLMStep, traced: torch.jit.ScriptModule, contract: GenerationContract,
                   batch: int, length: int) -> str:
    """'' when the trace matches eager at batch sizes and prompt lengths it was not
    traced at (padded and unpadded, a prefill then two decode steps); else what differed."""
    cases = [(1, 3, 0), (batch + 1, length + 5, 1), (batch, max(2, length - 3), 0), (batch, 1, 0)]
    for b, t, padded in cases:
        ids, mask = example_tokens(b, t, contract.vocab_size, seed=100 + b * 31 + t, padded_rows=padded)
        where = f"batch {b}, prompt length {t}" + (", padded" if padded else "")
        try:
            with torch.no_grad():
                expected = step.prefill(ids, mask)
                actual = traced.prefill(ids, mask)
                difference = compare(actual, expected)
                for n in range(2):
                    if difference:
                        break
                    where = f"decode step {n + 1} after a prompt of batch {b}, length {t}"
                    next_ids = expected[0].argmax(-1, keepdim=True)
                    mask = torch.cat([mask, torch.ones_like(next_ids)], 1)
                    expected = step.decode(next_ids, mask, expected[1], expected[2])
                    actual = traced.decode(next_ids, mask, actual[1], actual[2])
                    difference = compare(actual, expected)
        except Exception as error:  # noqa: BLE001 - a trace that raises where eager runs is wrong
            return f"the traced module fails at {where}: {first_line(error)}"
        if difference:
            return f"the traced module differs from eager at {where}: {difference}"
    return ""


def compare(actual: tuple, expected: tuple) -> str:
    """'' when every output matches within TOLERANCE; else the first that does not."""
    for name, a, e in zip(OUTPUT_NAMES, actual, expected):
        if a.shape != e.shape:
            return f"{name} has shape {list(a.shape)}, eager {list(e.shape)}"
        excess = ((a - e).abs() - TOLERANCE.atol - TOLERANCE.rtol * e.abs()).max().item() if a.numel() else 0.0
        if excess > 0:
            return f"{name} max abs error {(a - e).abs().max().item():.3g}"
    return ""


def record_golden(step: CausalLMStep, inputs: dict[str, tuple]) -> tuple[list[dict], dict[str, bytes]]:
    """One golden pair per method, from eager: `./infer model.pt --verify` and the
    export's own verification in C++ run them."""
    entries: list[dict] = []
    files: dict[str, bytes] = {}
    for index, (method, values) in enumerate(inputs.items()):
        with torch.no_grad():
            outputs = getattr(step, method)(*values)
        entry: dict[str, Any] = {"method": method, "inputs": [], "outputs": []}
        for k, tensor in enumerate(values):
            name = f"golden/{index}/input_{k}.npy"
            files[name] = npy_bytes(tensor)
            entry["inputs"].append(name)
        for j, (output_name, tensor) in enumerate(zip(OUTPUT_NAMES, outputs)):
            name = f"golden/{index}/output_{j}.npy"
            files[name] = npy_bytes(tensor)
            entry["outputs"].append({"path": output_name, "file": name})
        entries.append(entry)
    return entries, files
