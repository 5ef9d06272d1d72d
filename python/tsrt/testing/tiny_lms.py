"""Tiny random-weight causal LMs (2 layers, hidden 64, vocabulary 128, context 64) for
the generation tests: GPT-2 (tied embedding, learned positions), Llama (RoPE,
grouped-query attention: 4 heads, 2 key/value heads), Qwen2 (biased q/k/v), Mistral
(a sliding window of 4096, longer than the context, so a full cache) and GPT-NeoX
(partial rotary, parallel residual)."""

from __future__ import annotations

import torch
import transformers

VOCAB = 128
CONTEXT = 64


def tiny_gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=64, vocab_size=VOCAB, n_positions=CONTEXT,
                                     bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config).eval()


def tiny_llama():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      hidden_size=64, intermediate_size=128, vocab_size=VOCAB,
                                      max_position_embeddings=CONTEXT)
    return transformers.LlamaForCausalLM(config).eval()


_COMMON = dict(num_hidden_layers=2, num_attention_heads=4, hidden_size=64, intermediate_size=128, vocab_size=VOCAB,
               max_position_embeddings=CONTEXT)


def tiny_qwen2():
    torch.manual_seed(0)
    return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(num_key_value_heads=2, **_COMMON)).eval()


def tiny_mistral(sliding_window: int = 4096):
    torch.manual_seed(0)
    config = transformers.MistralConfig(num_key_value_heads=2, sliding_window=sliding_window, **_COMMON)
    return transformers.MistralForCausalLM(config).eval()


def tiny_gpt_neox():
    torch.manual_seed(0)
    return transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(**_COMMON)).eval()


ARCHITECTURES = {"gpt2": tiny_gpt2, "llama": tiny_llama, "qwen2": tiny_qwen2, "mistral": tiny_mistral,
                 "gpt_neox": tiny_gpt_neox}
