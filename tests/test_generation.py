"""tsrt.export_causal_lm and greedy decoding through the C++ runtime: token for token
equal to Hugging Face generate(do_sample=False) on tiny random-weight GPT-2 and Llama
configs, at batch 1 and 2, prompts of different lengths (left-padded together); the
contract the file records; and every refusal (not a causal LM, a trace that does not
generalise, a prompt past the context limit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import tsrt
from tsrt.generation import GenerationError, greedy
from tsrt.exporter.inputs import UsageError
from tsrt.generation.step import cache_keyword

transformers = pytest.importorskip("transformers")
from tsrt.testing.tiny_lms import ARCHITECTURES, CONTEXT, VOCAB, tiny_gpt2, tiny_mistral  # noqa: E402  (after the importorskip)

NEW_TOKENS = 12
PROMPTS = ([5, 17, 99], [3, 64, 8, 120, 41, 7, 77, 2, 90])  # two lengths, neither the trace's (6)


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def exported(request, tmp_path_factory):
    """(eager model, loaded file) per architecture, exported once."""
    model = ARCHITECTURES[request.param]()
    path = tmp_path_factory.mktemp("lm") / f"{request.param}.pt"
    report = tsrt.export_causal_lm(model, path)
    assert report.verification and all(check["passed"] for check in report.verification)
    return model, tsrt.load(str(path))


def left_padded(prompts, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of prompts of different lengths, left-padded as decoder-only models take them."""
    length = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (length - len(p)) + list(p) for p in prompts])
    mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


def hugging_face(model, ids, mask, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False,
                              **kwargs)


@pytest.mark.parametrize("prompts", [PROMPTS[:1], PROMPTS[1:], PROMPTS], ids=["batch1-len3", "batch1-len9", "batch2"])
def test_greedy_equals_hugging_face_generate(exported, prompts):
    model, loaded = exported
    ids, mask = left_padded(prompts)
    expected = hugging_face(model, ids, mask)
    actual = greedy(loaded, ids, mask, max_new_tokens=NEW_TOKENS)
    assert actual.tolist() == expected.tolist()


def test_a_sequence_that_ends_is_padded_as_hugging_face_does(exported):
    """With an eos id that row 0 produces early, that row stops and emits the pad id
    while row 1 goes on; HF's rule, token for token."""
    model, loaded = exported
    ids, mask = left_padded(PROMPTS)
    free_run = hugging_face(model, ids, mask)
    eos = int(free_run[0, ids.shape[1] + 1])  # row 0's second new token
    expected = hugging_face(model, ids, mask, eos_token_id=eos, pad_token_id=VOCAB - 1)
    actual = greedy(loaded, ids, mask, max_new_tokens=NEW_TOKENS, eos_token_ids=[eos], pad_token_id=VOCAB - 1)
    assert actual.tolist() == expected.tolist()
    row = actual[0, ids.shape[1]:].tolist()
    ended = row.index(eos)  # 0 or 1: where row 0 ended
    assert row[ended + 1:] == [VOCAB - 1] * (len(row) - ended - 1) and len(row) > ended + 1


def test_steps_match_eager_logits_and_cache(exported):
    """prefill and decode of the file against the eager model's own forward with its
    DynamicCache, at a batch and length the trace never saw (3 x 11): max abs and
    relative error within 1e-4."""
    model, loaded = exported
    generator = torch.Generator().manual_seed(7)
    for batch, length in ((3, 11), (1, 2)):
        ids = torch.randint(0, VOCAB, (batch, length), generator=generator)
        mask = torch.ones_like(ids)
        with torch.no_grad():
            eager = model(input_ids=ids, attention_mask=mask, use_cache=True)
        logits, keys, values = loaded.run("prefill", ids, mask)
        torch.testing.assert_close(logits, eager.logits[:, -1], atol=1e-4, rtol=1e-4)
        cache = eager.cache if getattr(eager, "cache", None) is not None else eager.past_key_values
        torch.testing.assert_close(keys, torch.stack([layer.keys for layer in cache.layers]), atol=1e-4, rtol=1e-4)
        next_ids = logits.argmax(-1, keepdim=True)
        mask = torch.cat([mask, torch.ones_like(next_ids)], 1)
        with torch.no_grad():
            eager = model(input_ids=next_ids, attention_mask=mask, use_cache=True, **{cache_keyword(model): cache})
        logits, keys, _ = loaded.run("decode", next_ids, mask, keys, values)
        torch.testing.assert_close(logits, eager.logits[:, -1], atol=1e-4, rtol=1e-4)
        assert keys.shape[3] == length + 1


def test_the_contract_records_what_generation_needs(exported):
    model, loaded = exported
    metadata = loaded.metadata
    assert metadata["task"] == "causal_lm"
    generation = metadata["generation"]
    assert generation["context_limit"] == CONTEXT
    assert generation["vocab_size"] == VOCAB
    eos = model.generation_config.eos_token_id
    assert generation["eos_token_ids"] == ([] if eos is None else [eos] if isinstance(eos, int) else list(eos))
    cache = generation["cache"]
    config = model.config
    assert cache["layout"] == ["layers", "batch", "kv_heads", "length", "head_dim"]
    assert cache["layers"] == config.num_hidden_layers
    assert cache["kv_heads"] == getattr(config, "num_key_value_heads", config.num_attention_heads)
    assert cache["head_dim"] == config.hidden_size // config.num_attention_heads
    assert sorted(metadata["methods"]) == ["decode", "prefill"]
    assert [s["name"] for s in metadata["methods"]["decode"]["inputs"]] == \
        ["input_ids", "attention_mask", "past_keys", "past_values"]
    assert all(check["passed"] for check in loaded.verify())  # ./infer --verify's golden pairs, one per method
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parents[1] / "docs" / "tsrt.schema.json").read_text())
    jsonschema.validate(metadata, schema)


def test_a_malformed_cache_is_refused_by_the_contract(exported):
    _, loaded = exported
    ids = torch.tensor([[1, 2, 3]])
    _, keys, values = loaded.run("prefill", ids, torch.ones_like(ids))
    with pytest.raises(tsrt.Error, match="past_keys"):
        loaded.run("decode", ids[:, :1], torch.ones(1, 4, dtype=torch.long), keys[:1], values[:1])


def test_a_prompt_past_the_context_limit_is_refused(exported):
    _, loaded = exported
    too_long = torch.ones(1, CONTEXT + 1, dtype=torch.long)
    with pytest.raises(GenerationError, match=f"65 tokens, more than the model's context limit of {CONTEXT}"):
        greedy(loaded, too_long, max_new_tokens=1)
    with pytest.raises(GenerationError, match="ask for at most 4 new tokens"):
        greedy(loaded, torch.ones(1, CONTEXT - 4, dtype=torch.long), max_new_tokens=5)
    with pytest.raises(GenerationError, match="outside the vocabulary"):
        greedy(loaded, torch.tensor([[VOCAB]]), max_new_tokens=1)


def test_a_model_that_is_not_a_causal_lm_is_refused(tmp_path):
    with pytest.raises(UsageError, match="takes a Hugging Face causal language model.*got torch.nn.modules.linear"):
        tsrt.export_causal_lm(torch.nn.Linear(4, 4), tmp_path / "linear.pt")
    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(num_hidden_layers=1, num_attention_heads=2, hidden_size=32,
                                                          intermediate_size=64, vocab_size=100))
    with pytest.raises(UsageError, match="not a decoder-only causal language model"):
        tsrt.export_causal_lm(bert, tmp_path / "bert.pt")
    with pytest.raises(UsageError, match="DynamicSlidingWindowLayer cache layers of window 16 .shorter than the "
                                         f"context limit {CONTEXT}"):
        tsrt.export_causal_lm(tiny_mistral(sliding_window=16), tmp_path / "mistral.pt")
    with pytest.raises(UsageError, match="example_batch must be at least 2"):
        tsrt.export_causal_lm(tiny_gpt2(), tmp_path / "gpt2.pt", example_batch=1)
    assert not list(tmp_path.iterdir())


def test_a_file_of_plain_export_is_not_generated_from(tmp_path):
    tsrt.export(torch.nn.Linear(4, 4).eval(), (torch.randn(2, 4),), tmp_path / "linear.pt", golden=0, verify=False)
    with pytest.raises(ValueError, match="not a causal language model exported by tsrt.export_causal_lm"):
        greedy(tsrt.load(str(tmp_path / "linear.pt")), torch.tensor([[1]]), max_new_tokens=1)


class BatchBakingGPT2(transformers.GPT2LMHeadModel):
    """A causal LM whose Python code turns the batch size into a number: a trace
    freezes it, so the file would be wrong at any other batch."""

    def forward(self, input_ids=None, **kwargs):
        output = super().forward(input_ids=input_ids, **kwargs)
        output.logits = output.logits * float(input_ids.shape[0])
        return output


def test_a_trace_that_does_not_generalise_is_refused(tmp_path):
    torch.manual_seed(0)
    model = BatchBakingGPT2(tiny_gpt2().config).eval()
    with pytest.raises(tsrt.ExportError, match="differs from eager at batch 1") as failure:
        tsrt.export_causal_lm(model, tmp_path / "baked.pt")
    assert failure.value.report.mode == "failed"
    assert not (tmp_path / "baked.pt").exists()


def test_weights_are_stored_once(exported):
    """Both methods share one copy of each weight, and GPT-2's tied embedding and LM head
    are one tensor in the file (the issue saw a .pt2 store them twice)."""
    import zipfile

    model, loaded = exported
    embedding = model.get_input_embeddings().weight.detach().numpy().tobytes()
    archive = zipfile.ZipFile(loaded.path)
    constants = [archive.read(e) for e in archive.infolist() if "/constants/" in e.filename]
    assert sum(data == embedding for data in constants) == 1
