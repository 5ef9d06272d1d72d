"""Nested model outputs (issue 23, phase 2): a ModelOutput inside a ModelOutput
(CLIPModel's text_model_output / vision_model_output) and the EncoderDecoderCache of
seq2seq models with their default config (T5, BART) export with no options, their
leaves flattened and named by the output path rule (output['text_model_output']
['pooler_output'], output['cache']['cross_attention'][0]['key']), verify in C++ and
match eager through tsrt.load at two shapes.

Tolerance: max abs error <= 1e-5 and max relative error (|a - e| / max(|e|, 1e-3))
<= 1e-3 over 3 fresh random inputs at each of 2 shapes."""

from __future__ import annotations

import subprocess

import pytest
import torch

import tsrt
from conftest import INFER
from tsrt.exporter.outputs import flatten_tensors, to_plain

transformers = pytest.importorskip("transformers")

ATOL, RTOL = 1e-5, 1e-3


def assert_parity(loaded, model, make, shapes=(2, 3), trials=3):
    for size in shapes:
        for seed in range(trials):
            torch.manual_seed(100 * size + seed)
            kwargs = make(size)
            with torch.no_grad():
                expected = flatten_tensors(to_plain(model(**kwargs)))
            actual = loaded(**kwargs)
            actual = [actual] if isinstance(actual, torch.Tensor) else list(actual)
            assert len(actual) == len(expected)
            for a, e in zip(actual, expected):
                assert a.shape == e.shape
                diff = (a.double() - e.double()).abs()
                assert diff.max().item() <= ATOL, (size, seed, diff.max().item())
                assert (diff / e.double().abs().clamp_min(1e-3)).max().item() <= RTOL


def export_and_verify(model, example, path):
    report = tsrt.export(model, example, path)
    assert report.verification and all(c["passed"] for c in report.verification), report
    result = subprocess.run([str(INFER), str(path), "--verify"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "PASS" in result.stdout, result.stdout + result.stderr
    return report


def test_clip_nested_model_outputs(tmp_path):
    from tsrt.testing import torchvision_ops

    torchvision_ops.install()  # transformers' CLIP imports torchvision
    text = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=50,
                max_position_embeddings=16)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16,
                  patch_size=8)
    torch.manual_seed(0)
    model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision,
                                                           projection_dim=8)).eval()
    make = lambda n: {"input_ids": torch.randint(0, 50, (n, 5)), "pixel_values": torch.randn(n, 3, 16, 16)}  # noqa: E731
    report = export_and_verify(model, make(2), tmp_path / "clip.pt")
    flattened = next(line for line in report.findings if line.startswith("outputs flattened"))
    assert "output['text_model_output']['pooler_output']" in flattened
    assert_parity(tsrt.load(tmp_path / "clip.pt"), model, make)


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_seq2seq_default_config_returns_its_cache_as_outputs(tmp_path, family):
    torch.manual_seed(1)
    if family == "t5":
        config = transformers.T5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                       decoder_start_token_id=0)
        model = transformers.T5ForConditionalGeneration(config).eval()
    else:
        config = transformers.BartConfig(vocab_size=50, d_model=16, encoder_layers=1, decoder_layers=1,
                                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                         decoder_ffn_dim=32, max_position_embeddings=32)
        model = transformers.BartForConditionalGeneration(config).eval()
    make = lambda n: {"input_ids": torch.randint(3, 50, (n, 6)), "decoder_input_ids": torch.randint(3, 50, (n, 4))}  # noqa: E731
    report = export_and_verify(model, make(2), tmp_path / f"{family}.pt")
    assert any("EncoderDecoderCache" in line for line in report.findings), report.findings
    assert not any("ints/floats/bools" in line for line in report.findings), report.findings
    flattened = next(line for line in report.findings if line.startswith("outputs flattened"))
    assert "output['cache']['cross_attention'][0]['key']" in flattened
    assert_parity(tsrt.load(tmp_path / f"{family}.pt"), model, make)
