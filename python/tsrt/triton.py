"""Triton Inference Server model repositories from tsrt model files.

    from tsrt import triton
    triton.write_repository("mlp.pt", "repo/", name="mlp", max_batch_size=8)
    # repo/mlp/config.pbtxt, repo/mlp/1/model.pt

The file's metadata gives the inputs (names, dtypes, shapes with their dynamic
dimensions). Outputs are measured: the model runs (through libtsrt) on random
inputs at the example sizes and again with every dynamic dimension one larger;
an output dimension that changed is dynamic (-1). Triton's PyTorch backend takes
tensors in and returns a tensor or a tuple of tensors: a model whose output holds
a dict, a list, None or a scalar is refused, naming that output.

Naming (Triton's model configuration guide, "Special Conventions for PyTorch Backend"):
inputs carry the names of forward()'s arguments, the convention the backend
documents for non-dict inputs, when the model's TorchScript schema has exactly the
names the metadata records; otherwise `INPUT__<i>` by position. Outputs have no
names in TorchScript, so they are `OUTPUT__<i>` by position (the one convention
documented for outputs); config.pbtxt carries the tsrt names in comments.
AOTInductor packages (.pt2, platform "torch_aoti") run through a flat call
specification: inputs and outputs are both `<NAME>__<i>` by position.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from tsrt.spec import TensorSpec

# tsrt's dtype names (numpy's) -> Triton's model-config data types.
TRITON_DTYPES: dict[str, str] = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "bfloat16": "TYPE_BF16",
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
}
DEFAULT_MAX_BATCH_SIZE = 8


class TritonConfigError(ValueError):
    """The model can't be described to Triton's PyTorch backend; the message says why."""


@dataclass(frozen=True)
class TensorConfig:
    """One input or output of a Triton model configuration."""

    name: str              # the name in config.pbtxt
    source: str            # its name in tsrt: the input name or the output path
    dtype: str             # tsrt dtype name, e.g. "float32"
    dims: tuple[int, ...]  # full shape, batch dimension included; -1 where the size varies
    batch: bool = False    # dimension 0 is the batch: Triton may stack requests along it


def model_format(metadata: Mapping[str, Any], path: str | Path = "") -> str:
    """"aoti" for an AOTInductor package (.pt2), else "torchscript"."""
    declared = str(metadata.get("format", "")).lower()
    if declared in ("aoti", "aotinductor", "pt2") or str(path).endswith(".pt2"):
        return "aoti"
    return "torchscript"


def model_filename(model_format_name: str) -> str:
    """The file name Triton's PyTorch backend loads from a version directory."""
    return "model.pt2" if model_format_name == "aoti" else "model.pt"


def _triton_dtype(dtype: str, what: str) -> str:
    try:
        return TRITON_DTYPES[dtype]
    except KeyError:
        raise TritonConfigError(f"{what} has dtype {dtype}, which Triton's PyTorch backend does not support; "
                                f"supported: {', '.join(TRITON_DTYPES)}") from None


def input_configs(metadata: Mapping[str, Any], argument_names: Sequence[str] | None = None,
                  fmt: str = "torchscript") -> list[TensorConfig]:
    """The inputs of forward, from the metadata. `argument_names`: forward's argument
    names in the TorchScript schema; the config uses them when they match the metadata."""
    forward = metadata.get("methods", {}).get("forward")
    if not forward or not forward.get("inputs"):
        raise TritonConfigError("the file's metadata describes no inputs of forward: export it with `tsrt export`")
    specs = forward["inputs"]
    for spec in specs:
        # Triton's PyTorch backend passes each input as one tensor: a structured input
        # (contract format_version 2) has no Triton form.
        if spec.get("kind", "tensor") != "tensor":
            raise TritonConfigError(f"input '{spec['name']}' is a {spec['kind']}; Triton's PyTorch backend passes "
                                    "tensors only: export a wrapper whose forward takes its tensors as arguments")
    names = [spec["name"] for spec in specs]
    by_argument = (fmt == "torchscript" and argument_names is not None
                   and list(argument_names[:len(names)]) == names
                   and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) and "__" not in n for n in names))
    configs = []
    for index, spec in enumerate(specs):
        _triton_dtype(spec["dtype"], f"input '{spec['name']}'")
        dynamic = set(spec.get("dynamic_dims", ()))
        dims = tuple(-1 if d in dynamic else int(size) for d, size in enumerate(spec["shape"]))
        configs.append(TensorConfig(spec["name"] if by_argument else f"INPUT__{index}", spec["name"],
                                    spec["dtype"], dims, 0 in dynamic))
    return configs


def batchable(inputs: Sequence[TensorConfig], outputs: Sequence[TensorConfig]) -> str:
    """Why Triton can't batch this model along dimension 0, or "" when it can: the
    first dimension of every input and every output must be the batch."""
    for kind, tensors in (("input", inputs), ("output", outputs)):
        for tensor in tensors:
            if not tensor.batch:
                return f"{kind} '{tensor.source}' has no batch dimension 0 (dims {list(tensor.dims)})"
    return ""


def _dims_text(dims: Sequence[int]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def _tensor_block(tensor: TensorConfig, drop_batch: bool, last: bool) -> list[str]:
    dims = tensor.dims[1:] if drop_batch else tensor.dims
    lines = ["  {", f"    # tsrt: {tensor.source} ({tensor.dtype}{list(tensor.dims)})",
             f'    name: "{tensor.name}"',
             f"    data_type: {TRITON_DTYPES[tensor.dtype]}"]
    if dims:
        lines.append(f"    dims: {_dims_text(dims)}")
    else:
        # Triton shapes have rank >= 1: a scalar travels as [1] and is reshaped to [].
        lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
    lines.append("  }" if last else "  },")
    return lines


def make_config(name: str, fmt: str, inputs: Sequence[TensorConfig], outputs: Sequence[TensorConfig],
                max_batch_size: int | None = None) -> str:
    """The text of config.pbtxt.

    max_batch_size: None picks DEFAULT_MAX_BATCH_SIZE when every input and output
    has a dynamic batch dimension 0 and 0 (no batching) otherwise; N > 0 demands a
    batchable model (TritonConfigError naming the tensor that is not); 0 turns
    batching off and keeps the batch dimension in dims as -1.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise TritonConfigError(f"model name '{name}' must be letters, digits, '_', '-' or '.' (it names a directory)")
    if max_batch_size is not None and max_batch_size < 0:
        raise TritonConfigError(f"max_batch_size must be >= 0, got {max_batch_size}")
    why_not = batchable(inputs, outputs)
    if max_batch_size is None:
        max_batch_size = 0 if why_not else DEFAULT_MAX_BATCH_SIZE
    elif max_batch_size > 0 and why_not:
        raise TritonConfigError(f"max_batch_size {max_batch_size} needs a batch dimension, but {why_not}; "
                                "use --max-batch-size 0")
    for tensor in outputs:
        _triton_dtype(tensor.dtype, f"output '{tensor.source}'")
    # TorchScript: the pytorch_libtorch platform. AOTInductor packages: the same pytorch
    # backend, platform torch_aoti, which loads model.pt2.
    head = ['backend: "pytorch"', 'platform: "torch_aoti"'] if fmt == "aoti" else ['platform: "pytorch_libtorch"']
    batched = max_batch_size > 0
    by_argument = bool(inputs) and not inputs[0].name.startswith("INPUT__")
    lines = [f"# Written by tsrt: inputs named {'as forward() names them' if by_argument else 'by position'}, "
             "outputs by position; each tensor's tsrt name and full shape in a comment.",
             f'name: "{name}"', *head, f"max_batch_size: {max_batch_size}", "input ["]
    for i, tensor in enumerate(inputs):
        lines += _tensor_block(tensor, batched, i == len(inputs) - 1)
    lines.append("]")
    lines.append("output [")
    for i, tensor in enumerate(outputs):
        lines += _tensor_block(tensor, batched, i == len(outputs) - 1)
    lines.append("]")
    if batched:
        lines.append("dynamic_batching { }")
    return "\n".join(lines) + "\n"


def _tensor_leaves(output: Any, names: Sequence[str]) -> list[tuple[str, torch.Tensor]]:
    """A tensor or a tuple of tensors as (name, tensor); TritonConfigError naming
    the first output that is something else."""
    leaves = [output] if isinstance(output, torch.Tensor) else output if isinstance(output, tuple) else None
    if leaves is None:
        raise TritonConfigError(f"forward returns a {type(output).__name__}; Triton's PyTorch backend needs a tensor "
                                "or a tuple of tensors")
    named = []
    for index, leaf in enumerate(leaves):
        label = names[index] if index < len(names) else ("output" if leaf is output else f"output[{index}]")
        if not isinstance(leaf, torch.Tensor):
            kind = "None" if leaf is None else f"a {type(leaf).__name__}"
            raise TritonConfigError(f"output '{label}' is {kind}, not a tensor: Triton's PyTorch backend returns only "
                                    "tensors (a tensor or a tuple of tensors); return the tensors it holds as a "
                                    "flat tuple, or serve this model with libtsrt (./infer, examples/cpp_service)")
        named.append((label, leaf))
    return named


def output_configs(model: Any, metadata: Mapping[str, Any]) -> list[TensorConfig]:
    """Outputs of forward, measured on `model` (a tsrt.Model): dtypes, -1 for the
    dimensions that change when the inputs' dynamic dimensions do, and whether
    dimension 0 is the batch (it follows the inputs' batch size and nothing else)."""
    forward = metadata["methods"]["forward"]
    specs = [TensorSpec.from_json(spec) for spec in forward["inputs"]]
    names = list(forward.get("outputs") or [])
    generator = torch.Generator().manual_seed(0)

    def run(sizes) -> list[tuple[str, torch.Tensor]]:
        return _tensor_leaves(model(*[s.random(generator, sizes(s)) for s in specs]), names)

    example = run(lambda s: None)
    grown = run(lambda s: {d: s.shape[d] + 1 for d in s.dynamic_dims})
    batch = specs[0].shape[0] if specs and all(0 in s.dynamic_dims for s in specs) else None
    rebatched = run(lambda s: {0: s.shape[0] + 2}) if batch is not None else None
    configs = []
    for index, ((label, first), (_, second)) in enumerate(zip(example, grown)):
        dims = tuple(-1 if a != b else a for a, b in zip(first.shape, second.shape))
        follows_batch = (batch is not None and first.dim() > 0 and first.shape[0] == batch
                         and second.shape[0] == batch + 1 and rebatched[index][1].shape[0] == batch + 2)
        dtype = str(first.dtype).removeprefix("torch.")
        configs.append(TensorConfig(f"OUTPUT__{index}", label, dtype, dims, follows_batch))
    return configs


def describe(path: str | Path, name: str | None = None,
             max_batch_size: int | None = None) -> tuple[str, str, str]:
    """(model name, format, config.pbtxt text) for the tsrt model file at `path`."""
    import tsrt

    model = tsrt.load(str(path))
    metadata = model.metadata
    if metadata is None:
        raise TritonConfigError(f"{path} has no tsrt metadata (input names, dtypes, shapes): export it with "
                                "`tsrt export`, or write config.pbtxt by hand")
    fmt = model_format(metadata, path)
    arguments = [argument["name"] for argument in model.signature("forward")["inputs"]]
    inputs = input_configs(metadata, arguments, fmt)
    outputs = output_configs(model, metadata)
    name = name or Path(path).name.split(".")[0]
    return name, fmt, make_config(name, fmt, inputs, outputs, max_batch_size)


def write_repository(path: str | Path, repository: str | Path, name: str | None = None,
                     max_batch_size: int | None = None, version: int = 1) -> Path:
    """Writes REPOSITORY/NAME/config.pbtxt and REPOSITORY/NAME/VERSION/model.pt (or
    model.pt2 for an AOTInductor package) for the model file at `path`; returns the
    model's directory. NAME defaults to the file name up to its first dot.
    Raises TritonConfigError when Triton's PyTorch backend can't serve the model;
    nothing is written then."""
    name, fmt, config = describe(path, name, max_batch_size)
    model_dir = Path(repository) / name
    version_dir = model_dir / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, version_dir / model_filename(fmt))
    (model_dir / "config.pbtxt").write_text(config)
    return model_dir
