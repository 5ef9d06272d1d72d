"""The module that is traced: a Hugging Face causal LM's prefill and decode steps with
the key/value cache as plain tensors in and out.

Hugging Face models keep their cache in a `Cache` object, which TorchScript cannot take
as an input. Here the cache crosses the model boundary as two stacked tensors,
past_keys and past_values of shape [layers, batch, kv_heads, length, head_dim], and a
DynamicCache is rebuilt from them inside the traced code. The caller owns the cache, so
one loaded model serves any number of sequences at once, sharing its weights.
"""

from __future__ import annotations

import inspect

import torch


def cache_keyword(model: torch.nn.Module) -> str:
    """The name of forward's cache argument: "cache" from transformers 5.2x on,
    "past_key_values" before (both accepted by 5.x, the old one with a warning)."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def returned_cache(output: object) -> object:
    """The cache object of a model output, under either of its names."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


class CausalLMStep(torch.nn.Module):
    """prefill(input_ids [B,T], attention_mask [B,T]) and decode(input_ids [B,1],
    attention_mask [B,T+1], past_keys, past_values), each returning (logits of the last
    position [B,V], past_keys, past_values) for the prompt plus what was decoded.

    Positions come from the attention mask as in Hugging Face generate (cumulative sum
    of the mask, minus one), so left-padded batches of prompts of different lengths get
    the positions each prompt would have alone.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self._cache_keyword = cache_keyword(model)
        self._logits_to_keep = "logits_to_keep" in inspect.signature(model.forward).parameters

    def _step(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, cache: object):
        from transformers.cache_utils import DynamicCache  # noqa: F401  (cache is one)

        positions = attention_mask.long().cumsum(-1) - 1
        positions = positions.masked_fill(attention_mask == 0, 1)[:, -input_ids.shape[1]:]
        kwargs = {self._cache_keyword: cache, "use_cache": True}
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1  # the LM head on the last position only: prefill's biggest saving
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, **kwargs)
        layers = returned_cache(output).layers
        return (output.logits[:, -1, :], torch.stack([layer.keys for layer in layers]),
                torch.stack([layer.values for layer in layers]))

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        from transformers.cache_utils import DynamicCache

        # Plain DynamicLayers, built without the config: a sliding-window layer whose window
        # is at least the context limit (export.describe refuses others) never crops, so it
        # holds what a full layer holds, without the Python length bookkeeping a trace freezes.
        return self._step(input_ids, attention_mask, DynamicCache())

    def decode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, past_keys: torch.Tensor,
               past_values: torch.Tensor):
        from transformers.cache_utils import DynamicCache

        layers = list(zip(past_keys.unbind(0), past_values.unbind(0)))
        return self._step(input_ids, attention_mask, DynamicCache(ddp_cache_data=layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return self.prefill(input_ids, attention_mask)
