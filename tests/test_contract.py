"""The model file's contract, Python side, checked against the fixture C++ is checked
against too (tests/fixtures/tsrt.json, docs/tsrt.schema.json,
tests/fixtures/output_paths.json): one dtype table, one output-path rule, one
tsrt.json reader and writer."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import torch

import tsrt
from tsrt import contract
from tsrt.input_tree import InputNode
from tsrt.spec import TensorSpec, Tolerance

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "tsrt.schema.json").read_text())
DOCUMENT = (FIXTURES / "tsrt.json").read_text()


def test_the_dtype_table_is_the_schemas_in_order():
    assert list(contract.DTYPES) == SCHEMA["$defs"]["dtype"]["enum"]
    for name, dtype in contract.DTYPES.items():
        assert contract.dtype_from_name(contract.dtype_name(dtype)) == dtype == contract.DTYPES[name]


def test_the_fixture_reads_and_every_node_parses():
    document = contract.read_metadata(DOCUMENT)
    assert document["format_version"] == contract.FORMAT_VERSION == SCHEMA["x-tsrt-format-version"]
    for method in document["methods"].values():
        for node in method["inputs"]:
            assert InputNode.from_json(node).to_json() == node


def test_the_fixture_input_trees():
    score = [InputNode.from_json(n) for n in json.loads(DOCUMENT)["methods"]["score"]["inputs"]]
    batch, pair, feats, crops, temperature, use_cache, extra = score
    assert [leaf.name for leaf in batch.leaves()] == ["batch.input_ids", "batch.mask"]
    assert batch.type_text() == "Dict[str, Tensor]" and pair.type_text() == "Tuple[Tensor, Tensor]"
    assert [leaf.name for leaf in feats.leaves()] == ["feats.0", "feats.1"] and feats.type_text() == "List[Tensor]"
    assert temperature.fixed_leaves() and temperature.value == 0.5 and not use_cache.fixed_leaves()
    assert extra.fixed_leaves()
    leaves = iter([torch.zeros(1), torch.ones(1)])
    assert list(batch.build(leaves)) == ["input_ids", "mask"]


def test_a_version_1_document_still_reads():
    document = contract.read_metadata((FIXTURES / "tsrt_v1.json").read_text())
    jsonschema.validate(document, SCHEMA)
    nodes = [InputNode.from_json(n) for n in document["methods"]["forward"]["inputs"]]
    assert [n.kind for n in nodes] == ["tensor"] * 3 and nodes[1].spec.value_range == (0, 1000)


def test_the_writer_produces_what_the_schema_requires():
    fixture = json.loads(DOCUMENT)
    methods = {name: contract.method_entry([InputNode.from_json(s) for s in method["inputs"]], method["outputs"],
                                           method.get("output_structure"))
               for name, method in fixture["methods"].items()}
    written = contract.metadata_document(
        producer=f"tsrt {tsrt.__version__}", source=fixture["source"], export_mode=fixture["export_mode"],
        export_reason=fixture["export_reason"], findings=fixture["findings"], methods=methods,
        tolerance=Tolerance(**fixture["tolerance"]).to_json(), golden=fixture["golden"], frozen=True)
    jsonschema.validate(written, SCHEMA)
    jsonschema.validate(fixture, SCHEMA)
    reread = contract.read_metadata(contract.encode_metadata(written))
    assert reread["methods"] == fixture["methods"] and reread["golden"] == fixture["golden"]


def test_a_real_export_validates_against_the_schema(tmp_path):
    tsrt.zoo.get("multi_io").export(tmp_path / "m.pt", "script")
    jsonschema.validate(tsrt.load(tmp_path / "m.pt").metadata, SCHEMA)


@pytest.mark.parametrize("bad,message", [
    ("[]", "expected a JSON object"),
    ("{", "not valid JSON"),
    ('{"methods": {}}', "'format_version' is missing"),
    ('{"format_version": 99, "methods": {}}', "newer than this tsrt reads"),
    ('{"format_version": 1, "methods": {"forward": {}}}', "'inputs' list"),
    ('{"format_version": 1, "methods": {"forward": {"inputs": [{"name": "x"}]}}}', "lacks name, dtype or shape"),
    ('{"format_version": 1, "methods": {"forward": {"inputs": [{"name": "x", "dtype": "float8", "shape": []}]}}}',
     "unknown dtype 'float8'"),
    ('{"format_version": 2, "methods": {"forward": {"inputs": [{"name": "x", "kind": "set"}]}}}', "unknown kind 'set'"),
    ('{"format_version": 2, "methods": {"forward": {"inputs": [{"name": "b", "kind": "dict", "items": []}]}}}',
     "one key per item"),
    ('{"format_version": 2, "methods": {"forward": {"inputs": [{"name": "t", "kind": "scalar", "type": "str"}]}}}',
     "int, float or bool"),
])
def test_the_reader_refuses_what_cpp_refuses(bad, message):
    with pytest.raises(ValueError, match=message):
        contract.read_metadata(bad, "m.pt")


def _build(value):
    """A fixture output as Python values: "T" a tensor, arrays tuples (names map onto the
    elements of a returned tuple, in C++ too), objects dicts."""
    if value == "T":
        return torch.zeros(1)
    if isinstance(value, list):
        return tuple(_build(v) for v in value)
    if isinstance(value, dict):
        return {k: _build(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", json.loads((FIXTURES / "output_paths.json").read_text())["cases"],
                         ids=lambda case: ",".join(case["paths"]))
def test_the_output_path_rule(case):
    paths = [path for path, _ in contract.flatten_outputs(_build(case["output"]), case["names"])]
    assert paths == case["paths"]
