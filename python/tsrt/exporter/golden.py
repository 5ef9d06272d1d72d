"""Golden input/output pairs: eager PyTorch's answers, recorded into the model file so
that `./infer model.pt --verify` can prove the file still gives them."""

from __future__ import annotations

import io
from typing import Any, Callable, Sequence

import numpy as np
import torch

from tsrt.contract import flatten_outputs
from tsrt.exporter.dynamic_dims import trial_sizes
from tsrt.spec import TensorSpec

DEFAULT_GOLDEN_PAIRS = 2
GOLDEN_MAX_BYTES = 8 << 20  # golden pairs past this size are left out: the file is for shipping


def npy_bytes(value: Any) -> bytes | None:
    """A tensor or scalar as .npy bytes; None when numpy has no such dtype."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bfloat16:
            return None
        # C order always: a transposed view (x.t(), CLIP's logits_per_image) would
        # otherwise be saved in Fortran order, which libtsrt's .npy reader refuses.
        array = np.ascontiguousarray(value.detach().cpu().resolve_conj().numpy())
    elif isinstance(value, (bool, int, float)):
        array = np.asarray(value, dtype=np.bool_ if isinstance(value, bool) else np.int64 if isinstance(value, int) else np.float64)
    else:
        return None
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def golden_inputs(specs: Sequence[TensorSpec], example_inputs: tuple, count: int) -> list[tuple]:
    """The example inputs first, then random ones at other sizes of the dynamic dims."""
    pairs = [example_inputs]
    generator = torch.Generator().manual_seed(1234)
    randomizable = all(s.dtype.is_floating_point or s.value_range is not None for s in specs)
    for i in range(1, count):
        if not randomizable or len(specs) != len(example_inputs):
            break
        # The sizes the dynamic-dimension probe tried: a stride-32 network gets another
        # multiple of 32, not an odd size it was never claimed to take.
        sizes = {s.name: {d: trial_sizes(s.shape[d])[(i - 1) % 2] for d in s.dynamic_dims} for s in specs}
        pairs.append(tuple(s.random(generator, sizes.get(s.name)) for s in specs))
    return pairs


def record_golden(run: Callable[..., Any], specs: Sequence[TensorSpec], example_inputs: tuple, count: int,
                  output_names: Sequence[str], findings: list[str]) -> tuple[list[dict], dict[str, bytes]]:
    """Calls `run` (eager PyTorch, positional inputs) on golden inputs; returns their
    tsrt.json entries and .npy extra files."""
    entries: list[dict] = []
    files: dict[str, bytes] = {}
    total = 0
    if count <= 0:
        return entries, files
    if not all(isinstance(x, torch.Tensor) for x in example_inputs):
        findings.append("golden pairs left out: only tensor inputs can be recorded")
        return entries, files
    for index, inputs in enumerate(golden_inputs(specs, example_inputs, count)):
        try:
            with torch.no_grad():
                output = run(*inputs)
        except Exception:
            # A random pair at another size that eager itself refuses (the smaller trial
            # size of a dimension at its model's minimum) proves nothing: leave it out.
            if index == 0:
                raise
            findings.append(f"golden pair {index} left out: eager PyTorch refuses its input sizes")
            continue
        pair_files: dict[str, bytes | None] = {}
        entry: dict[str, Any] = {"method": "forward", "inputs": [], "outputs": []}
        for k, tensor in enumerate(inputs):
            name = f"golden/{index}/input_{k}.npy"
            pair_files[name] = npy_bytes(tensor)
            entry["inputs"].append(name)
        for j, (path, leaf) in enumerate(flatten_outputs(output, output_names)):
            if leaf is None:
                entry["outputs"].append({"path": path, "file": None})
                continue
            name = f"golden/{index}/output_{j}.npy"
            pair_files[name] = npy_bytes(leaf)
            entry["outputs"].append({"path": path, "file": name})
        if any(data is None for data in pair_files.values()):
            findings.append("golden pairs left out: an input or output has no .npy form (bfloat16, str)")
            return [], {}
        size = sum(len(data) for data in pair_files.values() if data is not None)
        if total + size > GOLDEN_MAX_BYTES:
            findings.append(f"golden pair {index} left out: over the {GOLDEN_MAX_BYTES >> 20} MiB cap")
            break
        total += size
        files.update({name: data for name, data in pair_files.items() if data is not None})
        entries.append(entry)
    return entries, files
