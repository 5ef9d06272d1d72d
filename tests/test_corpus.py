"""The fast part of the corpus (scripts/corpus.py runs all of it: make corpus): one small
model each of torchvision, timm and Hugging Face, exported with tsrt.export's
defaults as a new user would, then run by libtsrt (tsrt.load) at the model's two
other shapes and compared with eager at the tolerance recorded in the file.

Skips only when the model's library is not installed (make setup installs them).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

import tsrt
from tsrt.testing import corpus

FAST = ("resnet18", "timm_resnet18", "hf_bert")

def _library(name: str) -> str:
    return corpus.get(name).library


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """{name: (path, prepared eager model)}, exported once for the module."""
    out = tmp_path_factory.mktemp("corpus")
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            model = corpus.build(name)
            path = out / f"{name}.pt"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = tsrt.export(model, corpus.get(name).example(0), path)
            cache[name] = (path, model, report)
        return cache[name]
    return get


def _tolerance(path: Path) -> tuple[float, float]:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("tsrt.json"))
        tolerance = json.loads(archive.read(name))["tolerance"]
    return tolerance["atol"], tolerance["rtol"]


CASES = [pytest.param(name, label,
                      marks=[pytest.mark.skipif(not corpus.library_available(_library(name)),
                                                reason=f"{_library(name)} is not installed (make setup installs it)")],
                      id=f"{name}-{label.replace(' ', '')}")
         for name in FAST for label, _ in corpus.get(name).shapes]


@pytest.mark.parametrize("name,label", CASES)
def test_corpus_model_matches_eager_in_cpp(exported, name: str, label: str) -> None:
    path, model, report = exported(name)
    assert path.exists() and report.verification, report
    atol, rtol = _tolerance(path)
    make = dict(corpus.get(name).shapes)[label]
    inputs = make(7)
    with torch.no_grad():
        expected = corpus.leaves(corpus.call(model, inputs))
    actual = corpus.leaves(corpus.call(tsrt.load(str(path)), inputs))
    comparison = corpus.compare(actual, expected, atol, rtol)
    assert comparison.within, f"{name} at {label}: {comparison.detail}"
    # the shape did change: a file that ignored it could not match
    example = corpus.leaves(corpus.call(model, corpus.get(name).example(0)))
    assert [tuple(t.shape) for _, t in expected] != [tuple(t.shape) for _, t in example]


def test_corpus_compare_catches_a_flipped_weight() -> None:
    """The comparison the corpus relies on fails on a real difference."""
    expected = [("output", torch.linspace(-1, 1, 10))]
    wrong = [expected[0][1].clone()]
    wrong[0][3] += 1e-2
    assert corpus.compare([expected[0][1].clone()], expected, 1e-5, 1e-4).within
    result = corpus.compare(wrong, expected, 1e-5, 1e-4)
    assert not result.within and abs(result.max_abs - 1e-2) < 1e-6
    assert not corpus.compare([torch.zeros(3)], expected, 1e-5, 1e-4).within  # shape
    assert not corpus.compare([], expected, 1e-5, 1e-4).within  # missing output


@pytest.mark.skipif(not corpus.library_available("torchvision"), reason="torchvision is not installed")
def test_corpus_preparation_makes_outputs_vary() -> None:
    """Batch norm statistics and zero heads are replaced before judging: the outputs of
    two different images differ by much more than any tolerance."""
    model = corpus.build("resnet18")
    (images,) = corpus.get("resnet18").example(0)
    with torch.no_grad():
        out = model(images)
    assert float((out[0] - out[1]).abs().max()) > 1e-2
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not torch.equal(norm.running_var, torch.ones_like(norm.running_var))
