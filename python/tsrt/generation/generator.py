"""tsrt.Generator: libtsrt's tsrt::Generator (cpp/include/tsrt/generator.h) from Python.

    lm = tsrt.load("lm.pt")
    generator = tsrt.Generator(lm, temperature=0.8, top_k=40, seed=7)
    generator.append_tokens([1, 15, 27])
    new_ids = generator.generate(32)            # stops after an eos id
    generator.stats                             # first_token_ms, decode_tokens_per_second, ...

The loop runs in C++ with the GIL released; many Generators share one loaded Model.
"""

from __future__ import annotations

from typing import Callable, Sequence

from tsrt import _C
from tsrt.model import Model


class Generator:
    """One sequence being generated over a causal LM file of tsrt.export_causal_lm.

    temperature 0 is greedy; otherwise logits / temperature, cut to top_k (0: all)
    and top_p (1: all), sampled with a generator seeded by `seed` (reproducible).
    Raises tsrt.Error (code invalid_argument) for a file that is not a causal LM
    export, sampling options out of range, token ids outside the vocabulary, or a
    sequence past the context limit.
    """

    def __init__(self, model: Model, *, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
                 seed: int = 0) -> None:
        sampling = _C.SamplingOptions()
        sampling.temperature, sampling.top_k, sampling.top_p, sampling.seed = temperature, top_k, top_p, seed
        self._handle = _C.Generator(model._handle, sampling)

    def append_tokens(self, tokens: Sequence[int]) -> None:
        """Adds tokens (the prompt); they run through the model at the next step."""
        self._handle.append_tokens([int(t) for t in tokens])

    def next_token(self) -> int:
        """Runs what was appended, chooses the next token, appends and returns it."""
        return self._handle.next_token()

    def generate(self, max_new_tokens: int, on_token: Callable[[int], None] | None = None) -> list[int]:
        """Up to max_new_tokens tokens, stopping after an eos id or at the context limit."""
        return self._handle.generate(max_new_tokens, on_token)

    def rewind(self, length: int) -> None:
        """Keeps the first `length` tokens of the sequence, forgets the rest."""
        self._handle.rewind(length)

    @property
    def tokens(self) -> list[int]:
        return self._handle.tokens

    @property
    def context_limit(self) -> int:
        return self._handle.context_limit

    @property
    def eos_token_ids(self) -> list[int]:
        return self._handle.eos_token_ids

    @property
    def stats(self) -> dict:
        """Timings of the last generate(): first_token_ms, decode_ms, new_tokens, decode_tokens_per_second."""
        return self._handle.stats


def generate_batch(model: Model, prompts: Sequence[Sequence[int]], max_new_tokens: int, *, temperature: float = 0.0,
                   top_k: int = 0, top_p: float = 1.0, seed: int = 0) -> list[list[int]]:
    """Several prompts at once, in one prefill and one decode call per step (libtsrt's
    tsrt::generate_batch): each prompt's new tokens, each stopping after an eos id.
    Greedy gives what each prompt gives alone."""
    sampling = _C.SamplingOptions()
    sampling.temperature, sampling.top_k, sampling.top_p, sampling.seed = temperature, top_k, top_p, seed
    return _C.generate_batch(model._handle, [[int(t) for t in p] for p in prompts], max_new_tokens, sampling)
