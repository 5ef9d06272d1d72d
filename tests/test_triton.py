"""Triton model repositories: every config.pbtxt written for the zoo parses with
Triton's own protobuf schema (tritonclient's model_config_pb2) and says, field by
field, what the model takes and returns; models Triton's PyTorch backend can't
describe are refused, naming the output; the .pt2 (AOTInductor) path on a
fabricated metadata dict."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tsrt import zoo
from conftest import zoo_cases
from tsrt import triton
from tsrt.cli import main as tsrt_main
from tsrt.triton import TensorConfig, TritonConfigError

model_config_pb2 = pytest.importorskip(
    "tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] is not installed (make setup installs it)")
from google.protobuf import text_format  # noqa: E402  (installed with tritonclient[grpc])

# What each zoo model's outputs are, as Triton sees them with max_batch_size > 0
# (batch dimension dropped): (data type, dims) per output, by position.
OUTPUTS = {
    "mlp": [("TYPE_FP32", [10])],
    "resnet_cnn": [("TYPE_FP32", [10])],
    "gated": [("TYPE_FP32", [8])],
    "gru_seq": [("TYPE_FP32", [16]), ("TYPE_FP32", [-1, 16])],  # final hidden state, every step's
    "transformer_encoder": [("TYPE_FP32", [-1, 32])],            # sequence length varies
    "extra_method": [("TYPE_FP32", [5])],
}
REFUSED = {  # output structures the PyTorch backend can't return, and the output named
    "multi_io": "output 'output[1]' is a dict, not a tensor",
    "mixed_outputs": "output 'output[1]' is None, not a tensor",
}


def parse(config_text: str):
    return text_format.Parse(config_text, model_config_pb2.ModelConfig())


def data_type(name: str) -> int:
    return model_config_pb2.DataType.Value(name)


@pytest.mark.parametrize("name,mode", zoo_cases(), ids=[f"{n}.{m}" for n, m in zoo_cases()])
def test_zoo_repositories_parse_with_tritons_schema(zoo_dir, tmp_path, name, mode):
    source = zoo_dir / f"{name}.{mode}.pt"
    if name in REFUSED:
        with pytest.raises(TritonConfigError, match=REFUSED[name].replace("[", r"\[").replace("]", r"\]")):
            triton.write_repository(source, tmp_path / "repo")
        assert not (tmp_path / "repo" / name).exists(), "nothing is written for a refused model"
        return
    model_dir = triton.write_repository(source, tmp_path / "repo")
    assert model_dir == tmp_path / "repo" / name  # named after the file, up to its first dot
    assert (model_dir / "1" / "model.pt").read_bytes() == source.read_bytes()
    config = parse((model_dir / "config.pbtxt").read_text())
    assert config.name == name
    assert config.platform == "pytorch_libtorch" and config.backend == ""
    assert config.max_batch_size == triton.DEFAULT_MAX_BATCH_SIZE  # every zoo input and output has batch dim 0
    assert config.HasField("dynamic_batching")
    entry = zoo.get(name)
    assert len(config.input) == len(entry.inputs)
    for parsed, spec in zip(config.input, entry.inputs):
        assert parsed.name == spec.name  # forward()'s argument names: the backend's documented input convention
        assert parsed.data_type == data_type(triton.TRITON_DTYPES[str(spec.dtype).removeprefix("torch.")])
        assert list(parsed.dims) == [-1 if d in spec.dynamic_dims else size for d, size in enumerate(spec.shape)][1:]
    assert [(o.name, model_config_pb2.DataType.Name(o.data_type), list(o.dims)) for o in config.output] == \
        [(f"OUTPUT__{i}", dtype, dims) for i, (dtype, dims) in enumerate(OUTPUTS[name])]


def test_max_batch_size_choices(zoo_dir, tmp_path):
    source = zoo_dir / "gru_seq.script.pt"
    unbatched = parse((triton.write_repository(source, tmp_path / "a", max_batch_size=0) / "config.pbtxt").read_text())
    assert unbatched.max_batch_size == 0 and not unbatched.HasField("dynamic_batching")
    assert list(unbatched.input[0].dims) == [-1, -1, 12]  # the batch dimension stays, as -1
    assert [list(o.dims) for o in unbatched.output] == [[-1, 16], [-1, -1, 16]]
    sixteen = parse((triton.write_repository(source, tmp_path / "b", name="gru", max_batch_size=16)
                     / "config.pbtxt").read_text())
    assert sixteen.name == "gru" and sixteen.max_batch_size == 16
    with pytest.raises(TritonConfigError, match="max_batch_size must be >= 0, got -1"):
        triton.write_repository(source, tmp_path / "c", max_batch_size=-1)


def fixed(name: str, dims: tuple[int, ...], dtype: str = "float32", batch: bool = False) -> TensorConfig:
    return TensorConfig(name, name, dtype, dims, batch)


def test_configs_that_cannot_batch_or_be_typed():
    # The output's first dimension is not the batch: no batching by default, an error when asked.
    inputs = [fixed("x", (-1, 4), batch=True)]
    outputs = [fixed("OUTPUT__0", (3, 4))]
    assert parse(triton.make_config("m", "torchscript", inputs, outputs)).max_batch_size == 0
    with pytest.raises(TritonConfigError, match=r"max_batch_size 4 needs a batch dimension, but output 'OUTPUT__0' "
                                                r"has no batch dimension 0 \(dims \[3, 4\]\); use --max-batch-size 0"):
        triton.make_config("m", "torchscript", inputs, outputs, max_batch_size=4)
    with pytest.raises(TritonConfigError, match="output 'OUTPUT__0' has dtype complex64, which Triton's PyTorch "
                                                "backend does not support"):
        triton.make_config("m", "torchscript", inputs, [fixed("OUTPUT__0", (2,), "complex64")])
    with pytest.raises(TritonConfigError, match="model name 'a/b' must be letters, digits"):
        triton.make_config("a/b", "torchscript", inputs, outputs)
    # A 0-d output travels as [1], reshaped to [] (Triton shapes have rank >= 1).
    scalar = parse(triton.make_config("m", "torchscript", inputs, [fixed("OUTPUT__0", ())]))
    assert list(scalar.output[0].dims) == [1] and list(scalar.output[0].reshape.shape) == []


def aoti_metadata() -> dict:
    """What an AOTInductor export's metadata looks like, as far as Triton cares."""
    return {"format": "aoti", "methods": {"forward": {
        "inputs": [{"name": "tokens", "dtype": "int64", "shape": [2, 128], "dynamic_dims": [0, 1]},
                   {"name": "mask", "dtype": "bool", "shape": [2, 128], "dynamic_dims": [0, 1]}],
        "outputs": ["logits"]}}}


def test_aoti_package_config_from_metadata():
    metadata = aoti_metadata()
    assert triton.model_format(metadata) == "aoti" and triton.model_filename("aoti") == "model.pt2"
    assert triton.model_format({}, "model.pt2") == "aoti" and triton.model_format({}, "model.pt") == "torchscript"
    # Positional names for .pt2 even when argument names are known: its runner takes a flat list.
    inputs = triton.input_configs(metadata, ["tokens", "mask"], "aoti")
    assert [(i.name, i.source, i.dims) for i in inputs] == [("INPUT__0", "tokens", (-1, -1)), ("INPUT__1", "mask", (-1, -1))]
    outputs = [TensorConfig("OUTPUT__0", "logits", "float16", (-1, -1, 50), batch=True)]
    config = parse(triton.make_config("lm", "aoti", inputs, outputs))
    assert (config.backend, config.platform, config.max_batch_size) == ("pytorch", "torch_aoti", 8)
    assert [(i.name, model_config_pb2.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == \
        [("INPUT__0", "TYPE_INT64", [-1]), ("INPUT__1", "TYPE_BOOL", [-1])]
    assert (config.output[0].name, config.output[0].data_type, list(config.output[0].dims)) == \
        ("OUTPUT__0", data_type("TYPE_FP16"), [-1, 50])


def test_input_names_fall_back_to_positions():
    metadata = aoti_metadata()
    # The TorchScript schema names its arguments differently (e.g. names given with --example): by position.
    assert [i.name for i in triton.input_configs(metadata, ["input_0", "input_1"])] == ["INPUT__0", "INPUT__1"]
    assert [i.name for i in triton.input_configs(metadata, ["tokens", "mask"])] == ["tokens", "mask"]
    with pytest.raises(TritonConfigError, match="input 'tokens' has dtype complex64"):
        bad = aoti_metadata()
        bad["methods"]["forward"]["inputs"][0]["dtype"] = "complex64"
        triton.input_configs(bad, None)
    with pytest.raises(TritonConfigError, match="the file's metadata describes no inputs of forward"):
        triton.input_configs({"methods": {}}, None)


def test_file_without_metadata_is_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))
    with pytest.raises(TritonConfigError, match="has no tsrt metadata"):
        triton.write_repository(plain, tmp_path / "repo")


def test_cli(zoo_dir, tmp_path, capsys):
    assert tsrt_main(["triton-repo", str(zoo_dir / "mlp.trace.pt"), str(tmp_path / "repo"), "--name", "m",
                      "--max-batch-size", "4"]) == 0
    assert parse((tmp_path / "repo" / "m" / "config.pbtxt").read_text()).max_batch_size == 4
    assert (tmp_path / "repo" / "m" / "1" / "model.pt").is_file()
    assert tsrt_main(["triton-repo", str(zoo_dir / "multi_io.script.pt"), str(tmp_path / "repo")]) == 1
    assert "tsrt triton-repo: error: output 'output[1]' is a dict, not a tensor" in capsys.readouterr().err
    assert tsrt_main(["export", "--zoo", "gated", "-o", str(tmp_path / "g.pt"), "--max-batch-size", "4"]) == 2
    assert "--name and --max-batch-size describe the Triton repository: give --triton-repo DIR too" \
        in capsys.readouterr().err
    assert not (tmp_path / "g.pt").exists()
    # export --triton-repo: the exported file goes straight into a repository.
    assert tsrt_main(["export", "--zoo", "gated", "-o", str(tmp_path / "gated.pt"), "-q",
                      "--triton-repo", str(tmp_path / "repo")]) == 0
    assert parse((tmp_path / "repo" / "gated" / "config.pbtxt").read_text()).input[0].name == "x"
    assert (tmp_path / "repo" / "gated" / "1" / "model.pt").read_bytes() == (tmp_path / "gated.pt").read_bytes()
