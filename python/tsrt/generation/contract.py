"""What a causal LM's model file records for generation (tsrt.json "task" and
"generation"), read from the Hugging Face model at export and back from the file at
run time. Readers of the file (tsrt.generation.greedy, later libtsrt's Generator) need
nothing else: the context limit, the end-of-sequence ids, the vocabulary and how the
cache tensors are laid out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

TASK = "causal_lm"
#: The order of the cache tensors' dimensions, as written in the file.
CACHE_LAYOUT = ["layers", "batch", "kv_heads", "length", "head_dim"]


@dataclass(frozen=True)
class GenerationContract:
    """context_limit: the most positions (prompt plus generated tokens) the model takes.
    eos_token_ids: generation stops when a sequence produces one of these. pad_token_id:
    what a finished sequence emits while others go on (Hugging Face's rule; eos[0] when
    the model has no pad id). vocab_size: the logits' last dimension."""

    context_limit: int
    eos_token_ids: tuple[int, ...]
    pad_token_id: int | None
    vocab_size: int
    layers: int
    kv_heads: int
    head_dim: int
    cache_dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        return {
            "context_limit": self.context_limit,
            "eos_token_ids": list(self.eos_token_ids),
            "pad_token_id": self.pad_token_id,
            "vocab_size": self.vocab_size,
            "padding_side": "left",
            "positions": "cumsum(attention_mask) - 1, as Hugging Face generate",
            "methods": {"prefill": ["input_ids", "attention_mask"],
                        "decode": ["input_ids", "attention_mask", "past_keys", "past_values"]},
            "cache": {"kind": "explicit", "inputs": ["past_keys", "past_values"], "layout": CACHE_LAYOUT,
                      "layers": self.layers, "kv_heads": self.kv_heads, "head_dim": self.head_dim,
                      "dtype": self.cache_dtype},
        }

    @staticmethod
    def from_metadata(metadata: Mapping[str, Any] | None, source: str = "the model file") -> "GenerationContract":
        """The contract of a loaded file's metadata; ValueError when it is not a causal LM export."""
        if not metadata or metadata.get("task") != TASK or not isinstance(metadata.get("generation"), dict):
            raise ValueError(f"{source} is not a causal language model exported by tsrt.export_causal_lm "
                             "(its tsrt.json has no task 'causal_lm'); export it with tsrt.export_causal_lm")
        g = metadata["generation"]
        cache = g["cache"]
        return GenerationContract(context_limit=int(g["context_limit"]),
                                  eos_token_ids=tuple(int(i) for i in g["eos_token_ids"]),
                                  pad_token_id=g.get("pad_token_id"), vocab_size=int(g["vocab_size"]),
                                  layers=int(cache["layers"]), kv_heads=int(cache["kv_heads"]),
                                  head_dim=int(cache["head_dim"]), cache_dtype=cache.get("dtype", "float32"))


def token_ids(value: Any) -> tuple[int, ...]:
    """A config's eos_token_id (None, an int or a list) as a tuple of ints."""
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def context_limit(config: Any) -> int:
    """n_positions (GPT-2) or max_position_embeddings (Llama and most others)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"{type(config).__name__} names no context limit (max_position_embeddings or n_positions)")
