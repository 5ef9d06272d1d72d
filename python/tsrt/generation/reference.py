"""Greedy decoding over a loaded causal LM file: the reference loop, in Python.

It follows Hugging Face generate(do_sample=False) step for step, so that the two can be
compared token for token: the next token is the argmax of the last position's logits;
a sequence that produced an end-of-sequence id is finished and emits the pad id (eos[0]
when the model has none) while the others go on; generation stops when every sequence
is finished or max_new_tokens were added. The cache stays in the caller's hands:
each step feeds decode the past_keys/past_values the previous step returned.
"""

from __future__ import annotations

from typing import Sequence

import torch

from tsrt import Error
from tsrt.generation.contract import GenerationContract


class GenerationError(Error):
    """A generation request that the model cannot serve (a prompt past the context
    limit, a malformed prompt); `.code` is "invalid_argument" like tsrt.Error's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = "invalid_argument"


def check_request(contract: GenerationContract, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  max_new_tokens: int) -> None:
    """Refuses, with the reason and the limit, what the model file cannot generate."""
    if input_ids.dim() != 2 or input_ids.dtype != torch.int64 or input_ids.shape[1] == 0:
        raise GenerationError(f"input_ids must be int64 token ids of shape [batch, length >= 1]; got "
                              f"{input_ids.dtype} of shape {list(input_ids.shape)}")
    if attention_mask.shape != input_ids.shape:
        raise GenerationError(f"attention_mask has shape {list(attention_mask.shape)}, input_ids "
                              f"{list(input_ids.shape)}: they must match")
    if max_new_tokens < 0:
        raise GenerationError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    length, limit = input_ids.shape[1], contract.context_limit
    if length > limit:
        raise GenerationError(f"the prompt has {length} tokens, more than the model's context limit of {limit} "
                              "positions; shorten it")
    if length + max_new_tokens > limit:
        raise GenerationError(f"a prompt of {length} tokens plus max_new_tokens={max_new_tokens} passes the "
                              f"model's context limit of {limit} positions; ask for at most "
                              f"{limit - length} new tokens")
    out_of_vocab = (input_ids < 0) | (input_ids >= contract.vocab_size)
    if bool(out_of_vocab.any()):
        raise GenerationError(f"input_ids holds {int(input_ids[out_of_vocab][0])}, outside the vocabulary "
                              f"[0, {contract.vocab_size})")


def greedy(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *, max_new_tokens: int,
           eos_token_ids: Sequence[int] | None = None, pad_token_id: int | None = None) -> torch.Tensor:
    """The prompt followed by up to `max_new_tokens` greedy tokens, [batch, length + new],
    as Hugging Face generate(do_sample=False) returns it.

    model: a tsrt.Model loaded from a file of tsrt.export_causal_lm. input_ids [B,T]
    int64, prompts of different lengths left-padded; attention_mask [B,T] (all ones by
    default). eos_token_ids / pad_token_id: the file's by default. Raises
    GenerationError for a prompt the model cannot take (past the context limit).
    """
    contract = GenerationContract.from_metadata(model.metadata, model.path)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    check_request(contract, input_ids, attention_mask, max_new_tokens)
    eos = torch.tensor(list(contract.eos_token_ids if eos_token_ids is None else eos_token_ids), dtype=torch.int64)
    if pad_token_id is None:
        pad_token_id = contract.pad_token_id if contract.pad_token_id is not None else (
            int(eos[0]) if len(eos) else None)
    tokens, mask = input_ids, attention_mask.to(torch.int64)
    unfinished = torch.ones(input_ids.shape[0], dtype=torch.bool)
    if max_new_tokens == 0:
        return tokens
    logits, keys, values = model.run("prefill", tokens, mask)
    for step in range(max_new_tokens):
        next_ids = logits.argmax(-1)
        if len(eos):
            next_ids = torch.where(unfinished, next_ids, torch.full_like(next_ids, pad_token_id))
            unfinished &= ~torch.isin(next_ids, eos)
        tokens = torch.cat([tokens, next_ids[:, None]], 1)
        mask = torch.cat([mask, torch.ones_like(next_ids)[:, None]], 1)
        if not bool(unfinished.any()) or step == max_new_tokens - 1:
            break
        logits, keys, values = model.run("decode", next_ids[:, None], mask, keys, values)
    return tokens
