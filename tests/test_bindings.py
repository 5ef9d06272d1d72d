"""The Python API of tsrt (tsrt.load, tsrt.Model, tsrt.Error) over the C++ runtime.

One behaviour per test: loading and introspection, calling with numpy arrays and by
keyword, non-tensor inputs (scalars, str, Optional, List/Tuple/Dict) and nested
outputs, autograd hygiene, the error codes and messages, and sharing one Model
between threads with the GIL released.
"""

from __future__ import annotations

import inspect
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch
from torch import nn

import tsrt
from errors import raises_tsrt
from parity import compare

# ---- helpers ----------------------------------------------------------------------


def max_abs_error(actual: Any, expected: Any) -> float:
    """Largest |actual - expected| over a nested output; asserts the structures, dtypes and scalars match."""
    return compare(actual, expected, atol=1e-6, rtol=0.0).max_abs




def script_and_save(module: nn.Module, path: Path) -> tsrt.Model:
    """torch.jit.script + torch.jit.save (no tsrt metadata), then tsrt.load."""
    scripted = torch.jit.script(module.eval())
    torch.jit.save(scripted, str(path))
    return tsrt.load(path)


@pytest.fixture(scope="module")
def multi_io(zoo_dir: Path) -> tsrt.Model:
    return tsrt.load(zoo_dir / "multi_io.script.pt")


@pytest.fixture(scope="module")
def mlp(zoo_dir: Path) -> tsrt.Model:
    return tsrt.load(zoo_dir / "mlp.script.pt")


@pytest.fixture(scope="module")
def resnet(zoo_dir: Path) -> tsrt.Model:
    return tsrt.load(zoo_dir / "resnet_cnn.script.pt")


def multi_io_inputs(batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 8, generator=g), torch.randn(batch, 8, generator=g),
            torch.randint(0, 8, (batch,), generator=g))


# ---- loading and introspection ----------------------------------------------------


def test_load_returns_model_with_methods(multi_io):
    assert isinstance(multi_io, tsrt.Model)
    assert multi_io.methods == ["forward"]


def test_extra_method_is_listed(zoo_dir):
    model = tsrt.load(zoo_dir / "extra_method.script.pt")
    assert sorted(model.methods) == ["embed", "forward"]


def test_signature_names_types_and_specs(multi_io):
    signature = multi_io.signature("forward")
    assert signature["method"] == "forward"
    assert [i["name"] for i in signature["inputs"]] == ["a", "b", "index"]
    assert [i["type"] for i in signature["inputs"]] == ["Tensor", "Tensor", "Tensor"]
    assert [i["has_default"] for i in signature["inputs"]] == [False, False, False]
    specs = [i["spec"] for i in signature["inputs"]]
    assert specs[0] == {"name": "a", "dtype": "float32", "shape": [3, 8], "dynamic_dims": [0]}
    # The spec of tsrt.json, value_range included: one shape for a spec everywhere.
    assert specs[2] == {"name": "index", "dtype": "int64", "shape": [3], "dynamic_dims": [0], "value_range": [0, 8]}
    assert signature["return_type"] == "Tuple[Tensor, Dict[str, Tensor]]"
    assert "index: Tensor int64[N0]" in signature["text"]


def test_signature_default_is_forward(multi_io):
    assert multi_io.signature() == multi_io.signature("forward")


def test_metadata_dict(multi_io):
    metadata = multi_io.metadata
    assert isinstance(metadata, dict)
    assert metadata["export_mode"] == "script"
    assert metadata["torch_version"] == torch.__version__
    assert set(metadata["methods"]) == {"forward"}
    assert [s["name"] for s in metadata["methods"]["forward"]["inputs"]] == ["a", "b", "index"]


def test_documents_have_the_schemas_keys(multi_io):
    """The bindings hand out libtsrt's serialisers' documents: metadata is a whole
    tsrt.json (docs/tsrt.schema.json), a signature's spec is one of its inputs."""
    schema = json.loads((Path(__file__).parent.parent / "docs" / "tsrt.schema.json").read_text())
    assert set(schema["required"]) <= set(multi_io.metadata)
    spec = multi_io.signature()["inputs"][0]["spec"]
    assert set(schema["$defs"]["tensor_spec"]["required"]) <= set(spec)
    assert spec == multi_io.metadata["methods"]["forward"]["inputs"][0]


def test_extra_files_has_tsrt_json(multi_io):
    files = multi_io.extra_files
    assert "tsrt.json" in files
    assert isinstance(files["tsrt.json"], bytes)
    assert b'"export_mode": "script"' in files["tsrt.json"]


def test_format_device_path_and_repr(zoo_dir, multi_io):
    assert multi_io.format == "torchscript"
    assert multi_io.device == "cpu"
    assert multi_io.path == str(zoo_dir / "multi_io.script.pt")
    text = repr(multi_io)
    assert text.startswith("tsrt.Model(") and "multi_io.script.pt" in text
    assert "format=torchscript" in text and "device=cpu" in text and "forward" in text


def test_file_without_tsrt_metadata(tmp_path):
    class Plain(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1

    model = script_and_save(Plain(), tmp_path / "plain.pt")
    assert model.metadata is None
    assert "tsrt.json" not in model.extra_files
    assert model.signature()["inputs"][0]["spec"] is None
    assert torch.equal(model(torch.zeros(2)), torch.ones(2))


# ---- calling: numpy, keywords -----------------------------------------------------


def test_numpy_inputs_match_torch_inputs(multi_io):
    a, b, index = multi_io_inputs()
    from_torch = multi_io(a, b, index)
    from_numpy = multi_io(a.numpy(), b.numpy(), index.numpy())
    assert max_abs_error(from_numpy, from_torch) == 0.0


def test_read_only_numpy_input(multi_io):
    a, b, index = multi_io_inputs()
    a_np = a.numpy().copy()
    a_np.setflags(write=False)
    assert not a_np.flags.writeable
    assert max_abs_error(multi_io(a_np, b, index), multi_io(a, b, index)) == 0.0


def test_non_contiguous_numpy_slice(multi_io):
    a, b, index = multi_io_inputs()
    wide = np.zeros((3, 16), dtype=np.float32)
    wide[:, ::2] = a.numpy()
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    assert max_abs_error(multi_io(view, b, index), multi_io(a, b, index)) < 1e-6


def test_non_contiguous_torch_tensor(multi_io):
    a, b, index = multi_io_inputs()
    transposed = a.t().contiguous().t()  # same values, column-major strides
    assert not transposed.is_contiguous()
    assert max_abs_error(multi_io(transposed, b, index), multi_io(a, b, index)) < 1e-6


def test_keyword_arguments(multi_io):
    a, b, index = multi_io_inputs()
    expected = multi_io(a, b, index)
    assert max_abs_error(multi_io(index=index, b=b, a=a), expected) == 0.0


def test_mixed_positional_and_keyword(multi_io):
    a, b, index = multi_io_inputs()
    expected = multi_io(a, b, index)
    assert max_abs_error(multi_io(a, index=index, b=b), expected) == 0.0
    assert max_abs_error(multi_io.run("forward", a, b, index=index), expected) == 0.0


def test_input_given_twice(multi_io):
    a, b, index = multi_io_inputs()
    with raises_tsrt("invalid_argument", "'a'", "given twice"):
        multi_io(a, a=a, b=b, index=index)


def test_unknown_keyword(multi_io):
    a, b, index = multi_io_inputs()
    with raises_tsrt("invalid_argument", "unknown input 'c'"):
        multi_io(a=a, b=b, index=index, c=a)


def test_missing_keyword(multi_io):
    a, b, _ = multi_io_inputs()
    with raises_tsrt("invalid_argument", "missing input 'index'"):
        multi_io(a=a, b=b)


def test_run_extra_method(zoo_dir):
    model = tsrt.load(zoo_dir / "extra_method.script.pt")
    embedding = model.run("embed", torch.randn(4, 20))
    assert embedding.shape == (4, 12)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(4))


# ---- inputs beyond tensors, nested outputs ----------------------------------------


class Scalars(nn.Module):
    def forward(self, x: torch.Tensor, n: int, scale: float, flip: bool, mode: str) -> torch.Tensor:
        y = x * scale + n
        if flip:
            y = -y
        if mode == "double":
            y = y * 2
        return y


class OptionalInput(nn.Module):
    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        if bias is None:
            return x * 2
        return x + bias


class ListInput(nn.Module):
    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        return torch.stack(xs).sum(0) * 0.5


class TupleInput(nn.Module):
    def forward(self, pair: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return pair[0] * pair[1] - pair[1]


class DictInput(nn.Module):
    def forward(self, named: Dict[str, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros(2, 3)
        for key in sorted(named.keys()):
            total = total * 0.5 + named[key]
        return total


class NestedOutputs(nn.Module):
    def forward(self, x: torch.Tensor) -> Tuple[Dict[str, torch.Tensor], List[torch.Tensor], int, float, str,
                                                Optional[torch.Tensor]]:
        parts: List[torch.Tensor] = [x + 1, x.sum()]
        nothing: Optional[torch.Tensor] = None
        return {"double": x * 2, "neg": -x}, parts, x.numel(), 0.5, "ok", nothing


@pytest.mark.parametrize("n,scale,flip,mode", [(3, 0.5, False, "double"), (-2, 2.0, True, "plain")])
def test_int_float_bool_str_arguments(tmp_path, n, scale, flip, mode):
    module = Scalars()
    model = script_and_save(module, tmp_path / "scalars.pt")
    scripted = torch.jit.script(Scalars())
    x = torch.randn(2, 3)
    assert [i["type"] for i in model.signature()["inputs"]] == ["Tensor", "int", "float", "bool", "str"]
    actual = model(x, n, scale, flip, mode)
    assert max_abs_error(actual, scripted(x, n, scale, flip, mode)) == 0.0
    assert max_abs_error(model(x, n=n, scale=scale, flip=flip, mode=mode), actual) == 0.0


def test_optional_tensor_none_and_tensor(tmp_path):
    model = script_and_save(OptionalInput(), tmp_path / "optional.pt")
    scripted = torch.jit.script(OptionalInput())
    x, bias = torch.randn(4), torch.randn(4)
    assert max_abs_error(model(x, None), scripted(x, None)) == 0.0
    assert max_abs_error(model(x, bias), scripted(x, bias)) == 0.0
    assert max_abs_error(model(x, bias=bias), scripted(x, bias)) == 0.0


def test_optional_argument_default(tmp_path):
    model = script_and_save(OptionalInput(), tmp_path / "optional.pt")
    bias_info = model.signature()["inputs"][1]
    assert bias_info["type"] == "Optional[Tensor]"
    assert bias_info["has_default"] is True and bias_info["default"] == "None"
    x = torch.randn(4)
    assert torch.equal(model(x), x * 2)
    assert torch.equal(model(x=x), x * 2)


def _call(model: tsrt.Model, *args: Any) -> Any:
    """model(*args), or the tsrt.Error it raised (so that a refusal fails an assertion that explains it)."""
    try:
        return model(*args)
    except tsrt.Error as error:
        return error


def _container_args() -> tuple[list[torch.Tensor], tuple[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(2, 3, generator=g) for _ in range(3)]
    pair = (torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g))
    named = {"b": torch.randn(2, 3, generator=g), "a": torch.randn(2, 3, generator=g)}
    return xs, pair, named


# Regression guard: the bindings once typed a Python list/dict of tensors with its
# first element's shape-specialised TensorType; TorchScript's List/Dict types are
# invariant, so List[Tensor(float[2, 3])] was no subtype of the schema's List[Tensor]
# and every List[Tensor] / Dict[str, Tensor] input was refused.
CONTAINER_BUG = "tsrt refused a valid {kind} input"


def test_list_of_tensors_argument(tmp_path):
    model = script_and_save(ListInput(), tmp_path / "list.pt")
    scripted = torch.jit.script(ListInput())
    xs, _, _ = _container_args()
    assert model.signature()["inputs"][0]["type"] == "List[Tensor]"
    actual = _call(model, xs)
    assert not isinstance(actual, tsrt.Error), f"{CONTAINER_BUG.format(kind='List[Tensor]')}: {actual}"
    assert max_abs_error(actual, scripted(xs)) == 0.0


def test_list_of_numpy_arrays_argument(tmp_path):
    model = script_and_save(ListInput(), tmp_path / "list.pt")
    xs, _, _ = _container_args()
    actual = _call(model, [x.numpy() for x in xs])
    assert not isinstance(actual, tsrt.Error), f"{CONTAINER_BUG.format(kind='List[Tensor] (numpy)')}: {actual}"
    assert max_abs_error(actual, torch.jit.script(ListInput())(xs)) == 0.0


def test_tuple_of_tensors_argument(tmp_path):
    model = script_and_save(TupleInput(), tmp_path / "tuple.pt")
    scripted = torch.jit.script(TupleInput())
    _, pair, _ = _container_args()
    assert model.signature()["inputs"][0]["type"] == "Tuple[Tensor, Tensor]"
    assert max_abs_error(model(pair), scripted(pair)) == 0.0
    assert max_abs_error(model((pair[0].numpy(), pair[1])), scripted(pair)) == 0.0


def test_dict_of_tensors_argument(tmp_path):
    model = script_and_save(DictInput(), tmp_path / "dict.pt")
    scripted = torch.jit.script(DictInput())
    _, _, named = _container_args()
    assert model.signature()["inputs"][0]["type"] == "Dict[str, Tensor]"
    actual = _call(model, named)
    assert not isinstance(actual, tsrt.Error), f"{CONTAINER_BUG.format(kind='Dict[str, Tensor]')}: {actual}"
    assert max_abs_error(actual, scripted(named)) == 0.0


def test_container_of_wrong_element_type(tmp_path):
    model = script_and_save(ListInput(), tmp_path / "list.pt")
    with raises_tsrt("invalid_argument", "'xs'", "List[Tensor]", "List[int]"):
        model([1, 2])
    with raises_tsrt("invalid_argument", "input 0", "one type"):
        model([torch.zeros(1), "text"])


def test_empty_list_refused_with_explanation(tmp_path):
    model = script_and_save(ListInput(), tmp_path / "list.pt")
    with raises_tsrt("invalid_argument", "empty list"):
        model([])


def test_nested_outputs(tmp_path):
    model = script_and_save(NestedOutputs(), tmp_path / "nested.pt")
    scripted = torch.jit.script(NestedOutputs())
    x = torch.randn(2, 3)
    actual = model(x)
    expected = scripted(x)
    assert isinstance(actual, tuple) and len(actual) == 6
    assert isinstance(actual[0], dict) and set(actual[0]) == {"double", "neg"}
    assert isinstance(actual[1], list) and len(actual[1]) == 2
    assert actual[2:] == (6, 0.5, "ok", None)
    assert max_abs_error(actual, expected) == 0.0


# ---- autograd and output tensors --------------------------------------------------


def test_requires_grad_input_accepted(mlp):
    x = torch.randn(4, 64, requires_grad=True)
    out = mlp(x)
    assert not out.requires_grad and out.grad_fn is None
    assert torch.equal(out, mlp(x.detach()))
    assert x.grad is None


class Doubled(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


class TaggedTensor(torch.Tensor):
    """A tensor subclass: the bindings pass it through DLPack, not the shared-TensorImpl path."""


@pytest.mark.parametrize("kind", ["parameter", "subclass", "conj", "neg", "transposed"])
def test_tensor_kinds_reach_the_model_as_their_values(tmp_path, kind):
    # A plain tensor or Parameter shares its TensorImpl with C++; lazy conj/neg bits are
    # resolved and autograd dropped as on the DLPack path that every other kind takes.
    model = script_and_save(Doubled(), tmp_path / "doubled.pt")
    complex_values = torch.randn(3, 4, dtype=torch.cfloat)
    x = {"parameter": lambda: nn.Parameter(torch.randn(3, 4)),
         "subclass": lambda: torch.randn(3, 4).as_subclass(TaggedTensor),
         "conj": lambda: complex_values.conj(),
         "neg": lambda: complex_values.conj().imag,
         "transposed": lambda: torch.randn(4, 3).t()}[kind]()
    out = model(x)
    assert type(out) is torch.Tensor and not out.requires_grad
    expected = (x.detach().resolve_conj().resolve_neg() * 2).as_subclass(torch.Tensor)
    assert torch.equal(out, expected)


def test_requires_grad_non_leaf_inside_tuple(tmp_path):
    model = script_and_save(TupleInput(), tmp_path / "tuple.pt")
    w = torch.randn(2, 3, requires_grad=True)
    y = w * 2  # non-leaf with a grad_fn
    out = model((y, w))
    assert not out.requires_grad and out.grad_fn is None
    torch.testing.assert_close(out, (y * w - w).detach())


def test_outputs_are_ordinary_tensors(multi_io):
    a, b, index = multi_io_inputs()
    summed, scores = multi_io(a, b, index)
    assert isinstance(summed, torch.Tensor)
    assert not torch.is_inference_mode_enabled()
    assert not torch.is_inference(summed) and not torch.is_inference(scores["scores"])
    before = summed.clone()
    summed.add_(1)  # in place, outside any inference mode
    scores["gathered"].mul_(0)
    assert torch.equal(summed, before + 1)
    assert torch.equal(scores["gathered"], torch.zeros(3))
    # Usable in autograd-enabled code as well.
    weight = torch.ones_like(summed, requires_grad=True)
    (summed * weight).sum().backward()
    assert torch.equal(weight.grad, summed)


def test_outputs_do_not_alias_between_calls(multi_io):
    a, b, index = multi_io_inputs()
    first = multi_io(a, b, index)[0]
    first.fill_(123.0)
    second = multi_io(a, b, index)[0]
    torch.testing.assert_close(second, a + b)


# ---- errors -----------------------------------------------------------------------


def test_error_is_runtime_error_subclass():
    assert issubclass(tsrt.Error, RuntimeError)


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with raises_tsrt("io", "does not exist", str(missing)):
        tsrt.load(missing)


def test_text_file(tmp_path):
    text = tmp_path / "model.pt"
    text.write_text("this is not a model\n")
    with raises_tsrt("invalid_model", str(text), "not a model archive"):
        tsrt.load(text)


def test_truncated_zoo_file(tmp_path, zoo_dir):
    data = (zoo_dir / "mlp.script.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with raises_tsrt("invalid_model", str(truncated), "truncated"):
        tsrt.load(truncated)


def test_directory_empty_file_and_checkpoint(tmp_path):
    with raises_tsrt("io", "is a directory"):
        tsrt.load(tmp_path)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with raises_tsrt("invalid_model", "is empty"):
        tsrt.load(empty)
    checkpoint = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, checkpoint)
    with raises_tsrt("invalid_model", "torch.save checkpoint", "torch.jit.save"):
        tsrt.load(checkpoint)


def test_too_few_inputs(multi_io):
    a, b, _ = multi_io_inputs()
    with raises_tsrt("invalid_argument", "takes 3 inputs, got 2", "Missing: index"):
        multi_io(a, b)


def test_too_many_inputs(mlp):
    x = torch.randn(4, 64)
    with raises_tsrt("invalid_argument", "takes 1 input, got 2"):
        mlp(x, x)


def test_too_many_inputs_with_keywords(multi_io):
    a, b, index = multi_io_inputs()
    with raises_tsrt("invalid_argument", "at most 3 inputs"):
        multi_io(a, b, index, a, index=index)


def test_wrong_dtype(multi_io):
    a, b, index = multi_io_inputs()
    with raises_tsrt("invalid_argument", "input 'index'", "expects dtype int64, got float32"):
        multi_io(a, b, index.float())
    with raises_tsrt("invalid_argument", "input 'a'", "expects dtype float32, got float64"):
        multi_io(a.numpy().astype(np.float64), b, index)


def test_wrong_rank(mlp):
    with raises_tsrt("invalid_argument", "input 'x'", "expects rank 2", "got rank 3"):
        mlp(torch.randn(2, 4, 64))


def test_wrong_fixed_dim(mlp):
    with raises_tsrt("invalid_argument", "input 'x'", "expects size 64 in dimension 1", "[4, 63]"):
        mlp(torch.randn(4, 63))


def test_dynamic_dim_may_vary(mlp):
    assert mlp(torch.randn(7, 64)).shape == (7, 10)


def test_unknown_method(zoo_dir):
    model = tsrt.load(zoo_dir / "extra_method.script.pt")
    with raises_tsrt("invalid_argument", "no method 'nope'", "forward", "embed"):
        model.run("nope", torch.randn(4, 20))
    with raises_tsrt("invalid_argument", "no method 'nope'"):
        model.signature("nope")


def test_unsupported_python_object(mlp):
    with raises_tsrt("invalid_argument", "input 0", "type set"):
        mlp({1, 2})
    with raises_tsrt("invalid_argument", "type object"):
        mlp(x=object())


def test_int_too_large(tmp_path):
    model = script_and_save(Scalars(), tmp_path / "scalars.pt")
    with raises_tsrt("invalid_argument", "int64"):
        model(torch.zeros(1), 2**70, 1.0, False, "plain")


def test_scalar_of_wrong_type(tmp_path):
    model = script_and_save(Scalars(), tmp_path / "scalars.pt")
    with raises_tsrt("invalid_argument", "input 'mode'", "expects str"):
        model(torch.zeros(1), 1, 1.0, False, 5)


def test_device_tpu(zoo_dir):
    with raises_tsrt("invalid_argument", "'tpu'", "cpu"):
        tsrt.load(zoo_dir / "mlp.script.pt", device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda(zoo_dir):
    with raises_tsrt("invalid_argument", "'cuda'", "CUDA"):
        tsrt.load(zoo_dir / "mlp.script.pt", device="cuda")


# ---- options: one name per option ----------------------------------------------------

def _cpp_load_fields() -> dict[str, Any]:
    """The fields of tsrt::LoadOptions and its OptimizeOptions, with C++'s defaults."""
    options = tsrt._C.LoadOptions()
    fields = {name: getattr(options, name) for name in dir(options) if not name.startswith("_") and name != "optimize"}
    optimize = options.optimize
    fields.update({name: getattr(optimize, name) for name in dir(optimize) if not name.startswith("_")})
    # A list field's Python default is the empty tuple (an immutable default).
    return {name: tuple(value) if isinstance(value, list) else value for name, value in fields.items()}


def test_load_keywords_are_the_cpp_fields_with_their_defaults():
    parameters = dict(inspect.signature(tsrt.load).parameters)
    del parameters["path"]
    assert {name: p.default for name, p in parameters.items()} == _cpp_load_fields()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


@pytest.mark.parametrize("old,new", [("allowed_ops", "allowed_operators"), ("optimize", "optimize_for_inference"),
                                     ("jit_optimize", "graph_executor_optimize"), ("warmup", "warmup_runs")])
def test_old_option_names_are_gone(zoo_dir, old, new):
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{old}'"):
        tsrt.load(zoo_dir / "mlp.script.pt", **{old: 1})
    assert new in inspect.signature(tsrt.load).parameters


def test_options_reach_cpp(zoo_dir):
    steps = tsrt.load(zoo_dir / "mlp.script.pt", warmup_runs=2, precision="bfloat16").optimizations
    assert any(step.startswith("warmed up forward (2 calls") for step in steps), steps
    assert any(step.startswith("precision bf16") for step in steps), steps
    with raises_tsrt("invalid_argument", "unknown precision 'int8'"):
        tsrt.load(zoo_dir / "mlp.script.pt", precision="int8")


def test_benchmark_keywords_are_the_cpp_fields():
    options = tsrt._C.BenchmarkOptions()
    fields = {name: getattr(options, name) for name in dir(options) if not name.startswith("_")}
    parameters = dict(inspect.signature(tsrt.Model.benchmark).parameters)
    assert {name: parameters[name].default for name in fields} == fields


def test_check_inputs_false_lets_libtorch_fail(zoo_dir):
    model = tsrt.load(zoo_dir / "mlp.script.pt", check_inputs=False)
    with raises_tsrt("runtime", "failed in forward(", "float32[4, 63]"):
        model(torch.randn(4, 63))


def test_check_inputs_false_still_checks_count_and_types(zoo_dir):
    model = tsrt.load(zoo_dir / "mlp.script.pt", check_inputs=False)
    with raises_tsrt("invalid_argument", "takes 1 input, got 0"):
        model()
    with raises_tsrt("invalid_argument", "input 'x'", "expects Tensor"):
        model(3)


# ---- threads ----------------------------------------------------------------------

SHAPES = [(1, 3, 24, 24), (2, 3, 32, 32), (1, 3, 32, 24), (2, 3, 24, 32)]
THREADS, CALLS = 8, 50


def test_threads_share_one_model(resnet):
    g = torch.Generator().manual_seed(7)
    inputs = [torch.randn(shape, generator=g) for shape in SHAPES]
    # Serial reference, after the profiling executor has settled on each shape.
    for _ in range(3):
        expected = [resnet(x) for x in inputs]
    results: dict[tuple[int, int], torch.Tensor] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(CALLS):
                k = (t + i) % len(inputs)
                results[(t, i)] = resnet(inputs[k])
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert len(results) == THREADS * CALLS
    mismatched = [(t, i) for (t, i), out in results.items() if not torch.equal(out, expected[(t + i) % len(inputs)])]
    assert not mismatched, f"{len(mismatched)} threaded outputs differ from the serial run, e.g. {mismatched[:5]}"


def _timed_calls(resnet, x, threads: int, total_calls: int) -> float:
    per_thread = total_calls // threads
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            resnet(x)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - began


def test_thread_timings_are_reported(resnet, record_property):
    """Same total work on 1 and on 4 threads. Reported, not asserted: timings are no unit test."""
    x = torch.randn(4, 3, 32, 32)
    resnet(x), resnet(x)
    one = _timed_calls(resnet, x, 1, 40)
    four = _timed_calls(resnet, x, 4, 40)
    record_property("one_thread_s", one)
    record_property("four_threads_s", four)
    print(f"resnet_cnn 40 calls [4, 3, 32, 32]: 1 thread {one:.3f} s, 4 threads {four:.3f} s")


def _spinner_samples_during(call, repeats: int = 3) -> list[int]:
    """Runs `call()` on this thread `repeats` times while another Python thread spins,
    incrementing a counter. Returns, for each call, how many counter samples the
    spinner took in the middle half of the call (0 when the call held the GIL)."""
    stop = threading.Event()
    stamps: list[float] = []
    counter = [0]

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            if n % 16 == 0:
                counter[0] = n
                stamps.append(time.perf_counter())

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        while not stamps:
            time.sleep(0.001)
        windows = []
        for _ in range(repeats):
            time.sleep(0.005)
            began = time.perf_counter()
            call()
            ended = time.perf_counter()
            windows.append((began, ended))
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(old_interval)
    counts = []
    for began, ended in windows:
        quarter = (ended - began) / 4
        counts.append(sum(1 for s in stamps if began + quarter < s < ended - quarter))
    return counts


def test_spinner_detects_a_call_that_holds_the_gil():
    """Control for the next test: a long C call that keeps the GIL (builtin sum)
    leaves the spinner no time in the middle of the call."""
    counts = _spinner_samples_during(lambda: sum(range(4_000_000)))
    print(f"spinner samples in the middle of each GIL-holding call: {counts}")
    assert counts == [0, 0, 0], counts


def test_gil_released_during_cpp_call(resnet):
    x = torch.randn(16, 3, 64, 64)
    resnet(x), resnet(x)
    # One intra-op thread leaves the second core to the spinner: with two, a 2-core
    # machine has three busy threads and the spinner can miss a whole call (seen).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        counts = _spinner_samples_during(lambda: resnet(x))
    finally:
        torch.set_num_threads(threads)
    print(f"spinner samples in the middle of each model call: {counts}")
    assert all(count > 0 for count in counts), (
        f"a Python thread made no progress during model calls (samples per call: {counts}): the GIL is held")


class _Scale(nn.Module):
    def forward(self, x: torch.Tensor, scale: float, offset: int) -> torch.Tensor:
        return x * scale + offset


def test_python_int_for_float_and_numpy_scalars(tmp_path):
    """As in Python TorchScript: an int is accepted for a float argument, and numpy
    scalars pass as the numbers they hold."""
    model = script_and_save(_Scale(), tmp_path / "scale.pt")
    x = torch.ones(2)
    assert torch.equal(model(x, 2, 1), torch.full((2,), 3.0))
    assert torch.equal(model(x, np.float32(0.5), np.int64(2)), torch.full((2,), 2.5))
    with raises_tsrt("invalid_argument", "input 'offset' expects int"):
        model(x, 1.0, 2.5)


def test_eight_threads_by_500_calls_on_mixed_shapes_match_serial(zoo_dir):
    """One Model shared by 8 Python threads (GIL released in C++), 500 calls each,
    shapes mixed across calls: every output identical to a serial run."""
    model = tsrt.load(zoo_dir / "gru_seq.script.pt")
    generator = torch.Generator().manual_seed(3)
    inputs = [torch.randn(b, t, 12, generator=generator) for b, t in ((1, 3), (2, 7), (4, 1), (3, 11))]
    expected = [model(x) for x in inputs]
    mismatches = []

    def worker(offset: int) -> None:
        for call in range(500):
            which = (offset + call) % len(inputs)
            hidden, outputs = model(inputs[which])
            if not (torch.equal(hidden, expected[which][0]) and torch.equal(outputs, expected[which][1])):
                mismatches.append((offset, call))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not mismatches
