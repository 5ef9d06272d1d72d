"""Making any module traceable: outputs flattened to a tuple of tensors with their
names recorded, keyword inputs passed positionally.

Tracing accepts only tensors and tuples/lists of them as outputs (pitfalls 6 and
7): dicts, HuggingFace ModelOutputs, namedtuples and None are refused or need
strict=False. tsrt wraps the model instead, so users write no wrapper.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from tsrt.contract import flatten_outputs


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def structure(output: Any) -> str:
    """The type of an output structure, written as TorchScript would:
    'Tuple[Tensor, Dict[str, Tensor]]', 'Optional' for None, 'int' for ints."""
    if isinstance(output, torch.Tensor):
        return "Tensor"
    if output is None:
        return "None"
    if isinstance(output, dict):
        values = sorted({structure(v) for v in output.values()})
        return f"Dict[str, {values[0] if len(values) == 1 else 'Any'}]"
    if _is_namedtuple(output):
        return f"{type(output).__name__}({', '.join(f'{k}: {structure(getattr(output, k))}' for k in output._fields)})"
    if isinstance(output, tuple):
        return f"Tuple[{', '.join(structure(v) for v in output)}]"
    if isinstance(output, list):
        values = sorted({structure(v) for v in output})
        return f"List[{values[0] if len(values) == 1 else 'Any'}]"
    return type(output).__name__


def _cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """(key, value) per layer of a Hugging Face key/value cache (DynamicCache and kin:
    `.layers` with `.keys`/`.values` in transformers 5, `key_cache`/`value_cache`
    before), or None when `cache` is not one."""
    layers = getattr(cache, "layers", None)
    if isinstance(layers, list) and all(hasattr(layer, "keys") and hasattr(layer, "values") for layer in layers):
        return [(layer.keys, layer.values) for layer in layers]
    keys, values = getattr(cache, "key_cache", None), getattr(cache, "value_cache", None)
    if isinstance(keys, list) and isinstance(values, list):
        return list(zip(keys, values))
    return None


def _encoder_decoder_parts(cache: Any) -> tuple[Any, Any] | None:
    """(self-attention cache, cross-attention cache) of an EncoderDecoderCache (T5, BART,
    Whisper with their default config), or None when `cache` is not one."""
    parts = getattr(cache, "self_attention_cache", None), getattr(cache, "cross_attention_cache", None)
    if all(part is not None and _cache_layers(part) is not None for part in parts):
        return parts
    return None


def is_cache(value: Any) -> bool:
    return not isinstance(value, (torch.Tensor, dict, list, tuple)) and (
        _cache_layers(value) is not None or _encoder_decoder_parts(value) is not None)


def to_plain(output: Any) -> Any:
    """`output` with every key/value cache object replaced by a tuple of
    {"key": tensor, "value": tensor} per layer (an EncoderDecoderCache by a dict of two
    such tuples, 'self_attention' and 'cross_attention'), and ModelOutputs by plain
    dicts: structures a model file can return and libtsrt can rebuild."""
    parts = _encoder_decoder_parts(output) if not isinstance(output, (torch.Tensor, dict, list, tuple)) else None
    if parts is not None:
        return {"self_attention": to_plain(parts[0]), "cross_attention": to_plain(parts[1])}
    if is_cache(output):
        return tuple({"key": key, "value": value} for key, value in _cache_layers(output) or [])
    if isinstance(output, dict):
        return {key: to_plain(value) for key, value in output.items()}
    if _is_namedtuple(output):
        return type(output)(*(to_plain(value) for value in output))
    if isinstance(output, (tuple, list)):
        return type(output)(to_plain(value) for value in output)
    return output


def holds_cache(output: Any) -> bool:
    """True when `output` holds a key/value cache object somewhere (flatten_outputs
    stops at it: it is a leaf of the path rule)."""
    return any(is_cache(leaf) for _, leaf in flatten_outputs(output))


def tensor_leaves(output: Any) -> list[tuple[str, torch.Tensor]]:
    """The non-None tensor leaves of `output` with their paths (contract.flatten_outputs:
    the same names C++ gives the leaves of a model that returns `output` unflattened)."""
    leaves = []
    for path, leaf in flatten_outputs(output):
        if isinstance(leaf, torch.Tensor):
            leaves.append((path, leaf))
        elif leaf is not None:
            raise TypeError(f"output {path} is a {type(leaf).__name__}, which a model file cannot return: "
                            "return tensors (or tuples, lists and dicts of them)")
    return leaves


def leaf_names(output: Any) -> list[str]:
    """Paths of the non-None tensor leaves of `output`, in flattening order."""
    return [name for name, _ in tensor_leaves(output)]


def flatten_tensors(output: Any) -> list[torch.Tensor]:
    """The non-None tensor leaves of `output`, in the order of leaf_names."""
    return [tensor for _, tensor in tensor_leaves(output)]


def has_scalar_leaves(output: Any) -> bool:
    """True when `output` holds ints, floats, bools or strings: a trace would
    freeze them as constants, so such models must be scripted."""
    if isinstance(output, torch.Tensor) or output is None:
        return False
    if isinstance(output, dict):
        return any(has_scalar_leaves(v) for v in output.values())
    if isinstance(output, (tuple, list)):
        return any(has_scalar_leaves(v) for v in output)
    return True


def nests_model_outputs(output: Any, top: bool = True) -> bool:
    """True when a dict subclass (a Hugging Face ModelOutput) sits inside another
    structure: the tracer takes one at the top (strict=False) but cannot type a nested
    one (CLIPModel's text_model_output and vision_model_output), so it is flattened."""
    if isinstance(output, dict):
        if not top and type(output) is not dict:
            return True
        return any(nests_model_outputs(v, False) for v in output.values())
    if isinstance(output, (tuple, list)):
        return any(nests_model_outputs(v, False) for v in output)
    return False


def needs_flattening(output: Any) -> bool:
    """True when tracing would refuse or mangle `output`'s structure: None,
    namedtuples and non-tensor leaves. (Dicts with str keys trace with strict=False.)"""
    if isinstance(output, torch.Tensor):
        return False
    if output is None or _is_namedtuple(output):
        return True
    if isinstance(output, dict):
        return any(not isinstance(k, str) or needs_flattening(v) for k, v in output.items())
    if isinstance(output, (tuple, list)):
        return any(needs_flattening(value) for value in output)
    return True


class FlatOutputs(torch.nn.Module):
    """Calls `module` with positional inputs (mapped to `input_names` as keywords
    when `by_keyword`) and returns its tensor leaves as a flat tuple.

    Its forward takes one parameter per input, named as the inputs are: a trace names
    the file's arguments after forward's parameters, and libtsrt matches the
    metadata's specs to them by name. (With *inputs the trace made up names from
    its graph, e.g. 'input' for Llama's input_ids, and calls by name failed.)"""

    def __init__(self, module: torch.nn.Module, input_names: Sequence[str], by_keyword: bool,
                 bound: Mapping[int, Any] | None = None) -> None:
        super().__init__()
        self.module = module
        self.input_names = list(input_names)
        self.by_keyword = by_keyword
        # Arguments a trace cannot take (scalars, None): passed with their example value.
        self.bound = dict(bound or {})
        if not all(name.isidentifier() for name in self.input_names):
            raise ValueError(f"input names must be Python identifiers: {self.input_names}")
        parameters = ", ".join(name for i, name in enumerate(self.input_names) if i not in self.bound)
        namespace: dict[str, Any] = {}
        exec(f"def forward(self, {parameters}):\n    return self.call(({parameters}{',' if parameters else ''}))\n",
             namespace)
        # An instance attribute: each wrapper has its own inputs, and tracing reads
        # the names from the bound method's signature.
        self.forward = namespace["forward"].__get__(self)

    def call(self, inputs: tuple) -> Any:  # traced only, never scripted
        if self.bound:
            given = iter(inputs)
            inputs = tuple(self.bound[i] if i in self.bound else next(given) for i in range(len(self.input_names)))
        if self.by_keyword:
            output = self.module(**dict(zip(self.input_names, inputs)))
        else:
            output = self.module(*inputs)
        leaves = flatten_tensors(to_plain(output))
        return leaves[0] if len(leaves) == 1 else tuple(leaves)
