"""Text generation with Hugging Face causal language models.

    import tsrt
    tsrt.export_causal_lm(model, "lm.pt")          # prefill + decode, the cache as tensors
    lm = tsrt.load("lm.pt")
    tokens = tsrt.generation.greedy(lm, input_ids, attention_mask, max_new_tokens=32)

export: the exporter (export_causal_lm); step: the traced wrapper (CausalLMStep);
contract: what the file records for generation (GenerationContract); reference: greedy, the
reference decoding loop in Python, which equals Hugging Face generate(do_sample=False);
generator: tsrt.Generator, the C++ loop (libtsrt's tsrt::Generator) with sampling.
"""

from tsrt.generation.contract import GenerationContract
from tsrt.generation.export import export_causal_lm
from tsrt.generation.generator import Generator, generate_batch
from tsrt.generation.reference import GenerationError, greedy

__all__ = ["GenerationContract", "GenerationError", "Generator", "export_causal_lm", "generate_batch", "greedy"]
