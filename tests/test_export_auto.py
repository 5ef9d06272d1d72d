"""tsrt.export(mode="auto"): the classic TorchScript traps come out right, in C++,
at batch sizes 1, 2 and 3; output structures export without a wrapper; a model
nothing can export fails with a report that says where and what to do."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch import nn

from tsrt import zoo
import tsrt
from tsrt.exporter import ExportError
from parity import compare

BATCHES = (1, 2, 3)


class LoopOverBatch(nn.Module):
    """Classic case 1: a Python loop over the batch. A trace at batch 2 unrolls two
    iterations: at batch 3 it silently computes two rows, at batch 1 it fails."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = []
        for i in range(x.size(0)):
            rows.append(self.linear(x[i]) * (i + 1))
        return torch.stack(rows)


class IfOnMean(nn.Module):
    """Classic case 2: `if` on a tensor's value; the trace keeps one branch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return x * 2
        return -x + 10


@torch.jit.script
def _double_or_negate(x: torch.Tensor) -> torch.Tensor:
    if bool(x.sum() > 0):
        return x * 2
    return -x


class ScriptedHelper(nn.Module):
    """Classic case 3: a scripted helper called from a traced module keeps its control flow."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _double_or_negate(self.linear(x))


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return x * 3
        return x - 5


class UnscriptableTop(nn.Module):
    """Top level can't be scripted (*args); the data-dependent part is a submodule: mixed."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()
        self.linear = nn.Linear(6, 6)

    def forward(self, x, *extra):
        return self.gate(self.linear(x)) + 1


def inputs_taking_both_branches(batch: int) -> list[torch.Tensor]:
    torch.manual_seed(batch)
    base = torch.rand(batch, 6)
    return [base + 0.5, base - 1.5, torch.randn(batch, 6)]


@pytest.mark.parametrize("model_class,expected_mode", [
    (LoopOverBatch, "script"), (IfOnMean, "script"), (ScriptedHelper, "trace"), (UnscriptableTop, "mixed")])
def test_classic_cases_come_out_right(tmp_path, model_class, expected_mode):
    torch.manual_seed(0)
    eager = model_class().eval()
    report = tsrt.export(eager, (torch.randn(2, 6),), tmp_path / "m.pt")
    assert report.mode == expected_mode, str(report)
    loaded = tsrt.load(tmp_path / "m.pt")
    assert loaded.metadata["export_mode"] == expected_mode
    for batch in BATCHES:
        for x in inputs_taking_both_branches(batch):
            with torch.no_grad():
                compare(loaded(x), eager(x), atol=1e-5, rtol=1e-4)


def test_trace_of_loop_over_batch_is_wrong_without_tsrt():
    """The trap is real: the plain trace gives 2 rows at batch 3."""
    eager = LoopOverBatch().eval()
    with torch.no_grad():
        traced = torch.jit.trace(eager, (torch.randn(2, 6),), check_trace=False)
    assert traced(torch.randn(3, 6)).shape[0] == 2


def test_reason_names_the_divergence(tmp_path):
    report = tsrt.export(LoopOverBatch().eval(), (torch.randn(2, 6),), tmp_path / "m.pt")
    assert "the trace" in report.reason and ("output shape" in report.reason or "fails at" in report.reason)


class Unexportable(nn.Module):
    def forward(self, x, *extra):
        if x.mean() > 0:
            return x * 2
        return x - 1


def test_failure_report_names_line_construct_and_rewrite(tmp_path):
    with pytest.raises(ExportError) as info:
        tsrt.export(Unexportable().eval(), (torch.randn(2, 6),), tmp_path / "m.pt")
    text = str(info.value)
    assert "failed: no TorchScript form matches eager" in text
    assert "Converting a tensor to a Python boolean" in text and "test_export_auto.py:" in text
    assert "torch.where" in text  # the rewrite for frozen control flow
    assert "variable number of arguments" in text  # why script failed
    assert not (tmp_path / "m.pt").exists()


Pair = namedtuple("Pair", ["logits", "hidden"])


class NamedTupleOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x):
        return Pair(self.linear(x), x * 2)


class DictWithNone(nn.Module):
    def forward(self, x, mask=None):
        return {"scores": x.softmax(-1), "extra": None, "masked": x if mask is None else x * mask}


@pytest.mark.parametrize("model_class,example,names", [
    # One output-path rule (tsrt.contract.flatten_outputs, tsrt::flatten_outputs): a
    # flattened trace names its leaves as C++ names the leaves of the unflattened output.
    (NamedTupleOut, (torch.randn(2, 6),), ["output[0]", "output[1]"]),
    (DictWithNone, {"x": torch.randn(2, 6), "mask": torch.ones(2, 6)}, ["output['scores']", "output['masked']"]),
])
def test_structured_outputs_and_keyword_inputs_export_without_wrapper(tmp_path, model_class, example, names):
    eager = model_class().eval()
    report = tsrt.export(eager, example, tmp_path / "m.pt", mode="trace")
    loaded = tsrt.load(tmp_path / "m.pt")
    assert loaded.metadata["methods"]["forward"]["outputs"] == names, str(report)
    for batch in BATCHES:
        args = [torch.randn(batch, 6) for _ in (example if isinstance(example, tuple) else example.values())]
        with torch.no_grad():
            expected = eager(*args)
        leaves = [v for v in (expected.values() if isinstance(expected, dict) else expected) if v is not None]
        compare(list(loaded(*args)), leaves, atol=1e-6, rtol=1e-5)


class TrainingDropout(nn.Module):
    def forward(self, x):
        return nn.functional.dropout(x, 0.5, training=True)


def test_training_mode_dropout_is_refused(tmp_path):
    with pytest.raises((ValueError, ExportError), match="dropout|differs"):
        tsrt.export(TrainingDropout().eval(), (torch.randn(4, 6),), tmp_path / "m.pt", mode="script", golden=0)


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_auto_picks_a_valid_mode(tmp_path, name):
    entry = zoo.get(name)
    report = entry.export(tmp_path / f"{name}.pt", "auto")
    assert report.mode in entry.modes or report.mode == "mixed", str(report)
    assert report.verification and all(check["passed"] for check in report.verification)
    print(f"{name}: auto chose {report.mode}; C++ vs eager max abs "
          f"{max(c['max_abs'] for c in report.verification):.3g}")


def test_bert_from_config_exports_in_auto_and_matches_in_cpp(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=37, max_position_embeddings=64)
    torch.manual_seed(0)
    bert = transformers.BertModel(config).eval()
    ids = torch.randint(0, 100, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[0, 5:] = 0  # padding in the example, so the mask's branch is exercised
    tsrt.export(bert, {"input_ids": ids, "attention_mask": mask}, tmp_path / "bert.pt",
                dynamic={"input_ids": [0, 1], "attention_mask": [0, 1]})
    loaded = tsrt.load(tmp_path / "bert.pt")
    assert loaded.metadata["methods"]["forward"]["outputs"] == ["output['last_hidden_state']", "output['pooler_output']"]
    for batch, length, pad_from in [(1, 5, 5), (3, 11, 4), (2, 16, 9)]:
        ids = torch.randint(0, 100, (batch, length))
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[-1, pad_from:] = 0
        with torch.no_grad():
            expected = bert(input_ids=ids, attention_mask=mask)
        actual = loaded(ids, mask)  # the dict structure of BERT's ModelOutput is kept
        compare(actual, dict(expected), atol=1e-5, rtol=1e-4)


def test_specs_named_unlike_forward_parameters_are_refused(tmp_path):
    """C++ matches specs to arguments by name: a spec called 'image' for forward(x)
    would be dropped silently, and ./infer could not make the input."""
    with pytest.raises(ValueError, match=r"input_specs are named \['image'\], but forward's parameters are \['x'\]"):
        tsrt.export(zoo.get("mlp").build(), (torch.rand(2, 64),), tmp_path / "m.pt",
                    input_specs=[tsrt.TensorSpec("image", (2, 64), dynamic_dims=(0,))])
