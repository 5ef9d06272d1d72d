"""tsrt.Generator (libtsrt's tsrt::Generator through the bindings) and
`infer --generate`: greedy generation in C++ token for token equal to Hugging Face
generate(do_sample=False) for tiny GPT-2 and Llama; seeded sampling reproducible and
within its top-k / top-p sets; stop on eos, rewind, the per-token callback; every
refusal with its message."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

import tsrt

transformers = pytest.importorskip("transformers")
from tsrt.testing.tiny_lms import ARCHITECTURES, CONTEXT, VOCAB  # noqa: E402  (after the importorskip)
from conftest import INFER  # noqa: E402

NEW_TOKENS = 16
PROMPTS = ([42], [5, 17, 99, 3, 64, 8, 120])  # lengths 1 and 7


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def exported(request, tmp_path_factory):
    """(eager model, path, loaded file) per architecture, exported once."""
    model = ARCHITECTURES[request.param]()
    path = tmp_path_factory.mktemp("lm") / f"{request.param}.pt"
    tsrt.export_causal_lm(model, path)
    return model, path, tsrt.load(str(path))


def hugging_face(model, prompt, max_new_tokens=NEW_TOKENS, **kwargs) -> list[int]:
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, **kwargs)
    return out[0, len(prompt):].tolist()


@pytest.mark.parametrize("prompt", PROMPTS, ids=["len1", "len7"])
def test_greedy_in_cpp_equals_hugging_face_generate(exported, prompt):
    model, _, loaded = exported
    generator = tsrt.Generator(loaded)
    generator.append_tokens(prompt)
    seen = []
    new = generator.generate(NEW_TOKENS, on_token=seen.append)
    assert new == hugging_face(model, prompt)
    assert seen == new and generator.tokens == prompt + new
    stats = generator.stats
    assert stats["new_tokens"] == len(new) and stats["first_token_ms"] > 0 and stats["decode_tokens_per_second"] > 0


def test_sequences_batched_together_equal_each_alone(exported):
    """tsrt.generation.generate_batch: one prefill and one decode call per step for all
    prompts (lengths 1, 7 and 3, left-padded): each equals its Generator alone and HF."""
    model, _, loaded = exported
    prompts = [PROMPTS[0], PROMPTS[1], [9, 9, 9]]
    together = tsrt.generation.generate_batch(loaded, prompts, NEW_TOKENS)
    for prompt, new in zip(prompts, together):
        alone = tsrt.Generator(loaded)
        alone.append_tokens(prompt)
        assert new == alone.generate(NEW_TOKENS) == hugging_face(model, prompt)
    seeded = dict(temperature=1.2, top_k=20, seed=5)
    assert tsrt.generation.generate_batch(loaded, prompts, 8, **seeded) == \
        tsrt.generation.generate_batch(loaded, prompts, 8, **seeded)
    with pytest.raises(tsrt.Error, match="every prompt needs a token"):
        tsrt.generation.generate_batch(loaded, [[1], []], 4)
    with pytest.raises(tsrt.Error, match="leaves no room under the model's context limit"):
        tsrt.generation.generate_batch(loaded, [[1] * CONTEXT], 4)


def test_infer_generate_prints_the_same_tokens(exported):
    model, path, _ = exported
    prompt = PROMPTS[1]
    result = subprocess.run([str(INFER), str(path), "--generate", ",".join(map(str, prompt)),
                             "--max-new-tokens", str(NEW_TOKENS), "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["new_tokens"] == hugging_face(model, prompt)
    assert report["first_token_ms"] > 0 and report["decode_tokens_per_second"] > 0
    text = subprocess.run([str(INFER), str(path), "--generate", "1,2,3", "--max-new-tokens", "4"],
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "time to first token:" in text.stdout and "tokens/s" in text.stdout


def test_generation_stops_after_an_eos_id(exported, tmp_path):
    model, _, _ = exported
    prompt = PROMPTS[1]
    eos = hugging_face(model, prompt)[3]
    model.generation_config.eos_token_id = eos
    try:
        tsrt.export_causal_lm(model, tmp_path / "eos.pt")
        expected = hugging_face(model, prompt)
        other = hugging_face(model, PROMPTS[0])
    finally:
        model.generation_config.eos_token_id = model.config.eos_token_id
    loaded = tsrt.load(str(tmp_path / "eos.pt"))
    generator = tsrt.Generator(loaded)
    generator.append_tokens(prompt)
    new = generator.generate(NEW_TOKENS)
    assert new == expected and new[-1] == eos and len(new) <= 4
    # Batched, the row that ends stops alone; the other goes on.
    assert tsrt.generation.generate_batch(loaded, [prompt, PROMPTS[0]], NEW_TOKENS) == [expected, other]


def sample(loaded, seed, prompt=PROMPTS[1], **options) -> list[int]:
    generator = tsrt.Generator(loaded, seed=seed, **options)
    generator.append_tokens(prompt)
    return generator.generate(NEW_TOKENS)


def test_seeded_sampling_is_reproducible(exported):
    _, _, loaded = exported
    options = dict(temperature=1.5, top_k=50, top_p=0.95)
    assert sample(loaded, 7, **options) == sample(loaded, 7, **options)
    assert sample(loaded, 7, **options) != sample(loaded, 8, **options)
    assert sample(loaded, 3, temperature=1.0, top_k=1) == sample(loaded, 0)  # top-1 sampling is greedy


def ranks_of(model, prompt, new) -> list[torch.Tensor]:
    """For each new token: its position in eager's logits sorted descending, and the probabilities."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + new])).logits[0, len(prompt) - 1:-1]
    out = []
    for row, token in zip(logits, new):
        order = row.argsort(descending=True)
        out.append(((order == token).nonzero().item(), row.softmax(-1)[order]))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_sampled_tokens_lie_in_the_top_k_and_top_p_sets(exported, seed):
    model, _, loaded = exported
    prompt = PROMPTS[1]
    new = sample(loaded, seed, prompt, temperature=2.0, top_k=3)
    assert all(rank < 3 for rank, _ in ranks_of(model, prompt, new))
    new = sample(loaded, seed, prompt, temperature=1.0, top_p=0.3)
    for rank, probabilities in ranks_of(model, prompt, new):
        # the token is in the smallest prefix of the sorted distribution reaching 0.3
        assert rank == 0 or probabilities[:rank].sum().item() < 0.3 + 1e-5


def test_rewind_regenerates_the_same_tokens(exported):
    _, _, loaded = exported
    prompt = PROMPTS[1]
    generator = tsrt.Generator(loaded)
    generator.append_tokens(prompt)
    first = generator.generate(8)
    generator.rewind(len(prompt) + 2)
    assert generator.generate(6) == first[2:]
    generator.rewind(0)
    generator.append_tokens(prompt)
    assert generator.generate(8) == first


def test_refusals(exported, tmp_path):
    _, _, loaded = exported
    generator = tsrt.Generator(loaded)
    with pytest.raises(tsrt.Error, match="needs tokens: append a prompt first"):
        generator.next_token()
    with pytest.raises(tsrt.Error, match=f"token id {VOCAB} is outside the vocabulary"):
        generator.append_tokens([VOCAB])
    with pytest.raises(tsrt.Error, match=f"{CONTEXT + 1} tokens pass the model's context limit of {CONTEXT}"):
        generator.append_tokens([1] * (CONTEXT + 1))
    generator.append_tokens([1] * (CONTEXT - 2))
    assert len(generator.generate(NEW_TOKENS)) <= 2  # stops at the context limit, no error
    with pytest.raises(tsrt.Error, match="at the model's context limit"):
        generator.next_token()
    with pytest.raises(tsrt.Error, match="cannot rewind to 100 tokens"):
        generator.rewind(100)
    for options, message in ((dict(temperature=-1), "temperature"), (dict(top_k=-1), "top_k"),
                             (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p")):
        with pytest.raises(tsrt.Error, match=message) as failure:
            tsrt.Generator(loaded, **options)
        assert failure.value.code == "invalid_argument"
    tsrt.export(torch.nn.Linear(4, 4).eval(), (torch.randn(2, 4),), tmp_path / "linear.pt", golden=0, verify=False)
    with pytest.raises(tsrt.Error, match="not a causal language model exported by tsrt.export_causal_lm"):
        tsrt.Generator(tsrt.load(str(tmp_path / "linear.pt")))
    result = subprocess.run([str(INFER), str(tmp_path / "linear.pt"), "--generate", "1,2"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "not a causal language model" in result.stderr
    result = subprocess.run([str(INFER), str(tmp_path / "linear.pt"), "--generate", "1,,2"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "--generate expects a non-negative integer" in result.stderr
