"""Structured inputs (issue 23, contract format_version 2): a Dict[str, Tensor], a
Tuple[Tensor, Tensor], a List[Tensor] (fixed length traced, any length scripted), a
float argument, Optional[Tensor] = None and a bool (use_cache=False) export with no
options, verify in C++, and run through tsrt.load and ./infer at other shapes, matching
eager; wrong structures, keys, dtypes and scalars are refused with the path named.

Tolerance of every parity check: max abs error <= 1e-5 and max relative error
(|a - e| / max(|e|, 1e-3)) <= 1e-3, over 3 fresh random inputs at each of 2 shapes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import jsonschema
import numpy as np
import pytest
import torch

import tsrt
from conftest import INFER

ATOL, RTOL = 1e-5, 1e-3
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "tsrt.schema.json").read_text())


def errors(actual, expected) -> tuple[float, float]:
    """(max abs, max rel) over the tensor leaves of two structures of one shape."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and actual.shape == expected.shape, (type(actual), expected.shape)
        diff = (actual.double() - expected.double()).abs()
        if not diff.numel():
            return 0.0, 0.0
        return diff.max().item(), (diff / expected.double().abs().clamp_min(1e-3)).max().item()
    if isinstance(expected, dict):
        pairs = [errors(actual[k], expected[k]) for k in expected]
    elif isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected)
        pairs = [errors(a, e) for a, e in zip(actual, expected)]
    else:
        assert actual == expected
        return 0.0, 0.0
    return max((p[0] for p in pairs), default=0.0), max((p[1] for p in pairs), default=0.0)


def assert_parity(model, eager, make_args, shapes=(2, 5), trials=3):
    """C++ against eager on `trials` fresh inputs at each size of `shapes`."""
    worst = (0.0, 0.0)
    for size in shapes:
        for seed in range(trials):
            torch.manual_seed(1000 * size + seed)
            args = make_args(size)
            with torch.no_grad():
                expected = eager(*args)
            abs_err, rel_err = errors(model(*args), expected)
            assert abs_err <= ATOL and rel_err <= RTOL, (size, seed, abs_err, rel_err)
            worst = (max(worst[0], abs_err), max(worst[1], rel_err))
    return worst


def infer(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=120)


def assert_verifies(path: Path) -> None:
    result = infer(path, "--verify")
    assert result.returncode == 0 and "PASS" in result.stdout, result.stdout + result.stderr


def export(model, example, path, **options):
    report = tsrt.export(model.eval(), example, path, **options)
    assert report.verification and all(c["passed"] for c in report.verification), report
    jsonschema.validate(tsrt.load(path).metadata, SCHEMA)  # what is written is what the schema says
    return report


# --- the models ------------------------------------------------------------------------

class DictModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(batch["x"]) * batch["scale"] + batch["ids"].float().sum(1, keepdim=True)


def dict_args(n):
    return ({"x": torch.randn(n, 8), "scale": torch.randn(n, 1), "ids": torch.randint(0, 5, (n, 3))},)


class TupleModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 6)

    def forward(self, pair: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.linear(pair[0]) - pair[1]


def tuple_args(n):
    return ((torch.randn(n, 6), torch.randn(n, 6)),)


class ListModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        total = torch.zeros(1)
        for feat in feats:
            total = total + self.linear(feat).sum(0)
        return total


class Temperature(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(5, 5)

    def forward(self, x: torch.Tensor, temperature: float) -> torch.Tensor:
        return torch.softmax(self.linear(x) / temperature, dim=-1)


class OptionalMask(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if mask is not None:
            x = x * mask
        return self.linear(x)


# --- 1. Dict[str, Tensor] ------------------------------------------------------------------

@pytest.fixture(scope="module")
def dict_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dict") / "dict.pt"
    torch.manual_seed(0)
    model = DictModel().eval()
    report = export(model, dict_args(2), path)
    return model, path, report


def test_a_dict_input_exports_and_matches_eager(dict_file):
    model, path, report = dict_file
    assert report.mode == "trace"
    loaded = tsrt.load(path)
    nodes = loaded.metadata["methods"]["forward"]["inputs"]
    assert nodes[0]["kind"] == "dict" and nodes[0]["keys"] == ["x", "scale", "ids"]
    assert [item["name"] for item in nodes[0]["items"]] == ["batch.x", "batch.scale", "batch.ids"]
    assert_parity(loaded, model, dict_args)
    assert_verifies(path)


def test_a_dict_input_with_a_wrong_key_dtype_or_structure_is_refused(dict_file):
    _, path, _ = dict_file
    loaded = tsrt.load(path)
    (batch,) = dict_args(2)
    with pytest.raises(tsrt.Error, match="input 'batch' lacks key 'ids'"):
        loaded({"x": batch["x"], "scale": batch["scale"]})
    with pytest.raises(tsrt.Error, match="input 'batch' has key 'idz', which the model does not take"):
        loaded({**batch, "idz": batch["ids"]})
    with pytest.raises(tsrt.Error, match="input 'batch.ids' expects dtype int64, got float32"):
        loaded({**batch, "ids": batch["ids"].float()})
    with pytest.raises(tsrt.Error, match=r"input 'batch' expects a Dict\[str, Tensor\] with keys x, scale, ids"):
        loaded(batch["x"])


def test_triton_config_says_a_dict_input_has_no_triton_form(dict_file):
    from tsrt.triton import TritonConfigError, input_configs

    with pytest.raises(TritonConfigError, match="input 'batch' is a dict; Triton's PyTorch backend passes tensors only"):
        input_configs(tsrt.load(dict_file[1]).metadata)


def test_infer_takes_a_leaf_by_path_and_refuses_wrong_ones(dict_file, tmp_path):
    _, path, _ = dict_file
    good = tmp_path / "ids.npy"
    np.save(good, np.ones((2, 3), dtype=np.int64))
    result = infer(path, "--input", f"batch.ids={good}")
    assert result.returncode == 0, result.stderr
    wrong = tmp_path / "ids_f.npy"
    np.save(wrong, np.zeros((2, 3), dtype=np.float32))
    result = infer(path, "--input", f"batch.ids={wrong}")
    assert result.returncode != 0 and "input 'batch.ids' expects dtype int64, got float32" in result.stderr
    result = infer(path, "--input", f"batch.nope={good}")
    assert result.returncode != 0 and "no such tensor leaf" in result.stderr and "batch.ids" in result.stderr
    result = infer(path, "--input", f"batch={good}")  # a tensor where the model takes a dict
    assert result.returncode != 0 and "input 'batch' expects a Dict[str, Tensor]" in result.stderr


# --- 2. Tuple[Tensor, Tensor] --------------------------------------------------------------

def test_a_tuple_input_exports_without_a_rewrite_and_matches_eager(tmp_path):
    torch.manual_seed(1)
    model = TupleModel().eval()
    report = export(model, tuple_args(3), tmp_path / "pair.pt")
    assert not any("detection" in line or "unbind" in line for line in report.findings), report.findings
    loaded = tsrt.load(tmp_path / "pair.pt")
    assert_parity(loaded, model, tuple_args)
    assert_verifies(tmp_path / "pair.pt")
    with pytest.raises(tsrt.Error, match="input 'pair' expects a tuple of 2 items, got 3"):
        loaded(tuple_args(2)[0] + (torch.zeros(2, 6),))
    with pytest.raises(tsrt.Error, match=r"input 'pair.1' expects size 6 in dimension 1"):
        loaded((torch.zeros(2, 6), torch.zeros(2, 7)))


# --- 3. List[Tensor] -----------------------------------------------------------------------

def list_args(count):
    return lambda n: ([torch.randn(n, 4) for _ in range(count)],)


def test_a_traced_list_has_a_fixed_length(tmp_path):
    torch.manual_seed(2)
    model = ListModel().eval()
    export(model, list_args(2)(3), tmp_path / "list.pt")
    loaded = tsrt.load(tmp_path / "list.pt")
    node = loaded.metadata["methods"]["forward"]["inputs"][0]
    assert node["kind"] == "list" and not node.get("variable_length")
    assert_parity(loaded, model, list_args(2))
    assert_verifies(tmp_path / "list.pt")
    with pytest.raises(tsrt.Error, match="input 'feats' expects a list of 2 items"):
        loaded(*list_args(3)(2))


def test_a_scripted_list_takes_any_length(tmp_path):
    torch.manual_seed(3)
    model = ListModel().eval()
    report = export(model, list_args(2)(3), tmp_path / "list.pt", mode="script")
    assert report.mode == "script"
    loaded = tsrt.load(tmp_path / "list.pt")
    node = loaded.metadata["methods"]["forward"]["inputs"][0]
    assert node["variable_length"] and node["element"]["name"] == "feats.*"
    for count in (1, 3):
        assert_parity(loaded, model, list_args(count))
    assert_verifies(tmp_path / "list.pt")
    with pytest.raises(tsrt.Error, match=r"input 'feats.1' expects dtype float32, got float64"):
        loaded([torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.float64)])


# --- 4. a float argument ---------------------------------------------------------------------

def test_a_traced_float_is_fixed_at_its_example_value(tmp_path):
    torch.manual_seed(4)
    model = Temperature().eval()
    report = export(model, (torch.randn(2, 5), 0.5), tmp_path / "t.pt")
    assert report.mode == "trace"
    assert any("temperature=0.5 bound" in line for line in report.findings), report.findings
    loaded = tsrt.load(tmp_path / "t.pt")
    node = loaded.metadata["methods"]["forward"]["inputs"][1]
    assert node == {"kind": "scalar", "name": "temperature", "type": "float", "value": 0.5, "fixed": True}
    assert_parity(loaded, model, lambda n: (torch.randn(n, 5), 0.5))
    assert_parity(lambda x: loaded(x), lambda x: model(x, 0.5), lambda n: (torch.randn(n, 5),), trials=1)
    with pytest.raises(tsrt.Error, match="input 'temperature' was fixed to 0.5 at export"):
        loaded(torch.randn(2, 5), 0.7)
    with pytest.raises(tsrt.Error, match="input 'temperature' expects float, got int 1"):
        loaded(torch.randn(2, 5), 1)
    assert_verifies(tmp_path / "t.pt")
    result = infer(tmp_path / "t.pt", "--input", "temperature=0.7")
    assert result.returncode != 0 and "was fixed to 0.5 at export" in result.stderr


class MiddleScale(torch.nn.Module):
    def forward(self, x: torch.Tensor, scale: float, y: torch.Tensor) -> torch.Tensor:
        return x * scale + y


def test_a_fixed_argument_between_tensors_keeps_eagers_order(tmp_path):
    export(MiddleScale(), (torch.randn(2, 3), 2.0, torch.randn(2, 3)), tmp_path / "m.pt")
    loaded = tsrt.load(tmp_path / "m.pt")
    make = lambda n: (torch.randn(n, 3), 2.0, torch.randn(n, 3))  # noqa: E731
    assert_parity(loaded, MiddleScale(), make)
    assert_parity(lambda x, s, y: loaded(x=x, y=y), MiddleScale(), make, trials=1)
    with pytest.raises(tsrt.Error, match="input 'scale' was fixed to 2.0 at export"):
        loaded(torch.randn(2, 3), 3.0, torch.randn(2, 3))


def test_a_scripted_float_is_an_argument(tmp_path):
    torch.manual_seed(5)
    model = Temperature().eval()
    export(model, (torch.randn(2, 5), 0.5), tmp_path / "t.pt", mode="script")
    loaded = tsrt.load(tmp_path / "t.pt")
    assert loaded.metadata["methods"]["forward"]["inputs"][1]["fixed"] is False
    for temperature in (0.5, 2.0):
        assert_parity(loaded, model, lambda n: (torch.randn(n, 5), temperature))
    assert_verifies(tmp_path / "t.pt")
    with pytest.raises(tsrt.Error, match="input 'temperature' expects float, got bool"):
        loaded(torch.randn(2, 5), True)


# --- 5. Optional[Tensor] = None -----------------------------------------------------------------

def test_none_in_the_example_exports(tmp_path):
    torch.manual_seed(6)
    model = OptionalMask().eval()
    export(model, (torch.randn(2, 4), None), tmp_path / "m.pt")
    loaded = tsrt.load(tmp_path / "m.pt")
    assert loaded.metadata["methods"]["forward"]["inputs"][1] == {"kind": "none", "name": "mask", "fixed": True}
    assert_parity(loaded, model, lambda n: (torch.randn(n, 4), None))
    assert_parity(lambda x: loaded(x), model, lambda n: (torch.randn(n, 4),), trials=1)
    with pytest.raises(tsrt.Error, match="input 'mask' was None at export"):
        loaded(torch.randn(2, 4), torch.ones(2, 4))
    assert_verifies(tmp_path / "m.pt")


def test_a_scripted_optional_takes_none_or_a_tensor(tmp_path):
    torch.manual_seed(7)
    model = OptionalMask().eval()
    export(model, (torch.randn(2, 4), None), tmp_path / "m.pt", mode="script")
    loaded = tsrt.load(tmp_path / "m.pt")
    assert_parity(loaded, model, lambda n: (torch.randn(n, 4), None))
    assert_parity(loaded, model, lambda n: (torch.randn(n, 4), torch.rand(n, 4)))
    assert_verifies(tmp_path / "m.pt")


# --- 6. a bool: a Hugging Face model called with use_cache=False ----------------------------------

def test_gpt2_with_use_cache_false(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50, n_positions=32)
    torch.manual_seed(8)
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 50, (2, 7))
    report = export(model, {"input_ids": ids, "use_cache": False}, tmp_path / "gpt2.pt")
    assert any("use_cache=False bound" in line for line in report.findings), report.findings
    loaded = tsrt.load(tmp_path / "gpt2.pt")
    make = lambda n: (torch.randint(0, 50, (n, 7)),)  # noqa: E731
    # Its ModelOutput holds one tensor with use_cache=False: the file returns the logits.
    assert_parity(lambda x: loaded(input_ids=x), lambda x: model(input_ids=x, use_cache=False).logits, make)
    assert_parity(lambda x: loaded(input_ids=x, use_cache=False),
                  lambda x: model(input_ids=x, use_cache=False).logits, make, trials=1)
    with pytest.raises(tsrt.Error, match="input 'use_cache' was fixed to False at export"):
        loaded(input_ids=ids, use_cache=True)
    assert_verifies(tmp_path / "gpt2.pt")


def test_bert_with_return_dict_false(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(num_hidden_layers=1, num_attention_heads=2, hidden_size=16,
                                     intermediate_size=32, vocab_size=60, max_position_embeddings=32)
    torch.manual_seed(9)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 60, (2, 6))
    report = export(model, {"input_ids": ids, "return_dict": False}, tmp_path / "bert.pt")
    assert any("return_dict=False bound" in line for line in report.findings), report.findings
    loaded = tsrt.load(tmp_path / "bert.pt")
    assert_parity(lambda x: loaded(input_ids=x), lambda x: model(input_ids=x, return_dict=False),
                  lambda n: (torch.randint(0, 60, (n, 6)),))
    assert_verifies(tmp_path / "bert.pt")


# --- format_version 1 ------------------------------------------------------------------------

def test_a_version_1_model_file_still_loads_and_verifies(tmp_path):
    # The same file with its contract written as version 1 wrote it: flat tensor specs.
    torch.manual_seed(10)
    export(torch.nn.Linear(3, 2).eval(), (torch.randn(2, 3),), tmp_path / "v2.pt")
    names = tsrt.load(tmp_path / "v2.pt").metadata["golden"]
    extra = {"tsrt.json": ""} | {f: "" for pair in names for f in pair["inputs"] + [o["file"] for o in pair["outputs"]]}
    module = torch.jit.load(str(tmp_path / "v2.pt"), _extra_files=extra)
    document = json.loads(extra["tsrt.json"])
    document["format_version"] = 1
    assert all("kind" not in spec for spec in document["methods"]["forward"]["inputs"])
    extra["tsrt.json"] = json.dumps(document)
    torch.jit.save(module, str(tmp_path / "v1.pt"), _extra_files=extra)
    loaded = tsrt.load(tmp_path / "v1.pt")
    assert loaded.metadata["format_version"] == 1
    assert_verifies(tmp_path / "v1.pt")
    with pytest.raises(tsrt.Error, match="input 'input' expects dtype float32, got int64"):
        loaded(torch.zeros(2, 3, dtype=torch.int64))


# --- what the contract cannot hold --------------------------------------------------------------

class TakesStr(torch.nn.Module):
    def forward(self, x, how: str):
        return x


def test_a_str_input_is_refused_with_the_path(tmp_path):
    with pytest.raises(tsrt.ExportError, match="input 'how' is a str"):
        tsrt.export(TakesStr(), (torch.zeros(1), "sum"), tmp_path / "s.pt")


def test_structured_inputs_to_aoti_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="format 'aoti' takes tensor inputs only"):
        tsrt.export(TupleModel(), tuple_args(2), tmp_path / "p.pt2", format="aoti")
