"""examples/cpp_service (tsrt_serve), built with find_package(tsrt) against the
installed package and started on a free loopback port, spoken to with the Open
Inference Protocol's own client (tritonclient.http) and with raw HTTP.

Good requests match eager PyTorch within each zoo model's tolerance, as JSON and as
binary tensors, at two batch sizes and several random inputs; every protocol error
gets its status and a message that says what was wrong; concurrent clients each get
their own answer; the server keeps serving after every error and stops cleanly on
SIGTERM with the requests it holds answered."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

import tsrt
from tsrt import zoo
from conftest import ROOT
from oip_server import Server, as_tensor, eager_leaves, triton_inputs
from parity import Errors, compare

# name served -> (zoo model, exported file)
MODELS = {"mlp": ("mlp", "mlp.trace.pt"), "multi_io": ("multi_io", "multi_io.script.pt"),
          "mixed": ("mixed_outputs", "mixed_outputs.script.pt"), "extra": ("extra_method", "extra_method.script.pt"),
          "cnn": ("resnet_cnn", "resnet_cnn.trace.pt"), "encoder": ("transformer_encoder", "transformer_encoder.script.pt"),
          "gru": ("gru_seq", "gru_seq.script.pt")}
MAX_BODY_MB = 4


@pytest.fixture(scope="module")
def server(serve_binary, zoo_dir) -> Iterator[Server]:
    instance = Server(serve_binary, "--threads", "24", "--max-body-mb", str(MAX_BODY_MB),
                      *(f"{name}={zoo_dir / file}" for name, (_, file) in MODELS.items()))
    try:
        yield instance
    finally:
        instance.stop()  # always, even when a test failed


@pytest.fixture
def client(server) -> Iterator[httpclient.InferenceServerClient]:
    triton = httpclient.InferenceServerClient(server.address, concurrency=16, network_timeout=120)
    try:
        yield triton
    finally:
        triton.close()


def test_health_and_server_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("mlp") and client.is_model_ready("mlp", "1")
    assert not client.is_model_ready("nope") and not client.is_model_ready("mlp", "2")
    metadata = client.get_server_metadata()
    assert metadata["name"] == "tsrt_serve" and "binary_tensor_data" in metadata["extensions"]


def test_model_metadata_from_the_contract(client):
    """Datatypes in the protocol's names, -1 for the dimensions the file declares dynamic
    (inputs) or that change when those do (outputs, measured at start-up)."""
    mlp = client.get_model_metadata("mlp")
    assert mlp["name"] == "mlp" and mlp["versions"] == ["1"] and mlp["platform"] == "pytorch_libtorch"
    assert mlp["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 64]}]
    assert mlp["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]
    multi = client.get_model_metadata("multi_io", "1")
    assert [(i["name"], i["datatype"], i["shape"]) for i in multi["inputs"]] == [
        ("a", "FP32", [-1, 8]), ("b", "FP32", [-1, 8]), ("index", "INT64", [-1])]
    assert client.get_model_metadata("cnn")["inputs"][0]["shape"] == [-1, 3, -1, -1]
    assert client.get_model_metadata("encoder")["inputs"][0]["shape"] == [-1, -1, 16]
    mixed = {o["name"]: (o["datatype"], o["shape"]) for o in client.get_model_metadata("mixed")["outputs"]}
    # The None output is left out: the protocol has no None.
    assert list(mixed.values()) == [("FP32", [-1, 3]), ("INT64", []), ("FP64", []), ("BOOL", []),
                                    ("FP32", [-1, 3]), ("FP32", [-1, 3])]
    with pytest.raises(InferenceServerException, match="no model named 'nope'") as error:
        client.get_model_metadata("nope")
    assert error.value.status() == "404"


def infer_and_compare(client, zoo_dir, served: str, batch: int, seed: int, binary: bool, method: str = "forward") -> Errors:
    zoo_name, file = MODELS[served]
    entry = zoo.get(zoo_name)
    specs = entry.methods.get(method, entry.inputs)
    inputs = entry.example_inputs(seed=seed, sizes={s.name: {0: batch} for s in specs}, specs=specs)
    expected = eager_leaves(zoo_name, inputs, zoo_dir / file, method)
    result = client.infer(served, triton_inputs(httpclient, [s.name for s in specs], inputs, binary),
                          outputs=[httpclient.InferRequestedOutput(path, binary_data=binary) for path, _ in expected],
                          parameters={"method": method} if method != "forward" else None)
    answer = result.get_response()
    assert [o["name"] for o in answer["outputs"]] == [path for path, _ in expected]
    assert all(("binary_data_size" in o.get("parameters", {})) == binary for o in answer["outputs"])
    errors = Errors()
    for path, leaf in expected:
        expected_tensor = as_tensor(leaf)
        actual = torch.from_numpy(np.array(result.as_numpy(path)))
        errors.merge(compare(actual, expected_tensor, entry.tolerance.atol, entry.tolerance.rtol, path))
    return errors


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("served", ["mlp", "multi_io", "mixed", "cnn", "encoder", "gru"])
def test_infer_matches_eager(client, zoo_dir, served, binary):
    errors = Errors()
    for batch in (1, 5):
        for seed in (3, 4, 5):
            errors.merge(infer_and_compare(client, zoo_dir, served, batch, seed, binary))
    tolerance = zoo.get(MODELS[served][0]).tolerance
    print(f"\n{served} ({'binary' if binary else 'json'}): max abs {errors.max_abs:.2e}, max rel {errors.max_rel:.2e} "
          f"(atol {tolerance.atol}, rtol {tolerance.rtol})")


def test_exported_method_through_a_parameter(client, zoo_dir):
    """parameters.method runs a @torch.jit.export method instead of forward."""
    infer_and_compare(client, zoo_dir, "extra", 3, 7, binary=True, method="embed")
    infer_and_compare(client, zoo_dir, "extra", 2, 8, binary=False)


def test_all_outputs_by_default_and_request_id(client, zoo_dir):
    """Without "outputs", tritonclient asks for every output as binary (binary_data_output)."""
    entry = zoo.get("multi_io")
    inputs = entry.example_inputs(seed=9)
    result = client.infer("multi_io", triton_inputs(httpclient, ["a", "b", "index"], inputs, binary=False),
                          request_id="req-42")
    answer = result.get_response()
    assert answer["id"] == "req-42" and answer["model_name"] == "multi_io" and answer["model_version"] == "1"
    expected = eager_leaves("multi_io", inputs, zoo_dir / MODELS["multi_io"][1])
    assert [o["name"] for o in answer["outputs"]] == [path for path, _ in expected]
    for path, leaf in expected:
        compare(torch.from_numpy(np.array(result.as_numpy(path))), leaf, entry.tolerance.atol, entry.tolerance.rtol, path)


def test_one_output_of_several(server, zoo_dir):
    entry = zoo.get("multi_io")
    a, b, index = entry.example_inputs(seed=12)
    payload = {"inputs": [{"name": "a", "shape": list(a.shape), "datatype": "FP32", "data": a.flatten().tolist()},
                          {"name": "b", "shape": list(b.shape), "datatype": "FP32", "data": b.tolist()},  # nested lists
                          {"name": "index", "shape": list(index.shape), "datatype": "INT64", "data": index.tolist()}],
               "outputs": [{"name": "output[1]['scores']"}]}
    status, answer = server.post_json("/v2/models/multi_io/infer", payload)
    assert status == 200, answer
    (output,) = answer["outputs"]
    expected = dict(eager_leaves("multi_io", (a, b, index), zoo_dir / MODELS["multi_io"][1]))["output[1]['scores']"]
    assert output["name"] == "output[1]['scores']" and output["datatype"] == "FP32" and output["shape"] == list(expected.shape)
    compare(torch.tensor(output["data"], dtype=torch.float32).reshape(output["shape"]), expected, 1e-5, 1e-4)


def tensor(name: str, shape: list[int], datatype: str = "FP32", value: Any = 1.0, **extra: Any) -> dict:
    count = int(np.prod(shape)) if shape else 1
    return {"name": name, "shape": shape, "datatype": datatype, "data": [value] * count, **extra}


def binary_body(header: dict, payload: bytes) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(header).encode()
    return text + payload, {"Inference-Header-Content-Length": str(len(text)), "Content-Type": "application/octet-stream"}


X = tensor("x", [2, 64])
ABI = [tensor("a", [2, 8]), tensor("b", [2, 8]), tensor("index", [2], "INT64", 1)]
BAD_REQUESTS = [
    # (model, body or (body, headers), status, message fragment)
    ("mlp", b"{not json", 400, "the request is not JSON"),
    ("nope", {"inputs": []}, 404, "no model named 'nope'; this server has: cnn, encoder, extra, gru, mixed, mlp, multi_io"),
    ("mlp/versions/7", {"inputs": [X]}, 404, "model 'mlp' has no version '7'; it has version 1"),
    ("mlp", [X], 400, "the request must be a JSON object"),
    ("mlp", {"tensors": [X]}, 400, 'the request needs "inputs": [{"name", "shape", "datatype", "data"}, ...]'),
    ("mlp", {"inputs": {"x": X}}, 400, 'the request needs "inputs"'),
    ("mlp", {"inputs": [3]}, 400, "input 0: expected an object"),
    ("mlp", {"inputs": [{"shape": [1], "datatype": "FP32", "data": [1.0]}]}, 400, 'input 0: "name" must be a string'),
    ("mlp", {"inputs": [X, X]}, 400, "input 'x' is given twice"),
    ("mlp", {"inputs": [tensor("x", [2, 64], "FLOAT32")]}, 400, "input 'x': datatype 'FLOAT32' is not one tsrt_serve takes"),
    ("mlp", {"inputs": [tensor("x", [2, 64], "BYTES", "a")]}, 400, "datatype 'BYTES' is not one tsrt_serve takes"),
    ("mlp", {"inputs": [{**X, "datatype": 32}]}, 400, "input 'x': \"datatype\" must be a string such as \"FP32\""),
    ("mlp", {"inputs": [{**X, "shape": "2x64"}]}, 400, "input 'x': \"shape\" must be a list of sizes"),
    ("mlp", {"inputs": [{**X, "shape": [2, -64]}]}, 400, "input 'x': \"shape\" must hold sizes >= 0"),
    ("mlp", {"inputs": [{**X, "shape": [1 << 40, 1 << 40]}]}, 400, "has too many elements"),
    ("mlp", {"inputs": [{**X, "data": [1.0, 2.0, 3.0]}]}, 400, "input 'x': shape [2, 64] holds 128 values, \"data\" has 3"),
    ("mlp", {"inputs": [{**X, "shape": [1000000, 64]}]}, 400, "shape [1000000, 64] holds 64000000 values, \"data\" has 128"),
    ("mlp", {"inputs": [tensor("x", [1, 2], value="a")]}, 400, "input 'x': data[0] is \"a\", not a number (datatype FP32)"),
    ("mlp", {"inputs": [{k: v for k, v in X.items() if k != "data"}]}, 400,
     "input 'x': needs \"data\" or parameters.binary_data_size"),
    ("mlp", {"inputs": [{**X, "parameters": []}]}, 400, "input 'x': \"parameters\" must be an object"),
    ("multi_io", {"inputs": ABI[:2] + [tensor("index", [2], "INT64", 1.5)]}, 400,
     "input 'index': data[0] is 1.5, not an integer (datatype INT64)"),
    ("multi_io", {"inputs": ABI[:2] + [tensor("index", [2], "INT32", 1 << 40)]}, 400,
     "input 'index': data[0] is 1099511627776, not in the datatype's range (datatype INT32)"),
    ("mlp", {"inputs": [tensor("x", [2, 64], "INT64", 1)]}, 400, "input 'x' expects dtype float32, got int64"),
    ("mlp", {"inputs": [tensor("x", [2, 63])]}, 400, "expects size 64 in dimension 1"),
    ("mlp", {"inputs": [tensor("x", [64])]}, 400, "expects rank 2"),
    ("mlp", {"inputs": [X, tensor("y", [2, 64])]}, 400, "unknown input 'y'"),
    ("multi_io", {"inputs": ABI[:2]}, 400, "missing input 'index'"),
    ("mlp", {"inputs": [X], "outputs": [{"name": "logits"}]}, 400, "unknown output 'logits'; the model's outputs are: output"),
    ("mlp", {"inputs": [X], "outputs": [{"name": "output", "parameters": {"classification": 3}}]}, 400,
     "the classification extension is not supported"),
    ("mlp", {"inputs": [X], "parameters": {"binary_data_output": "yes"}}, 400,
     'parameter "binary_data_output" must be a boolean, got "yes"'),
    ("mlp", {"inputs": [X], "parameters": {"method": "decode"}}, 400, "model 'mlp' has no method 'decode'"),
    ("mlp", {"inputs": [X], "id": 7}, 400, '"id" must be a string'),
    ("mlp", {"inputs": [{**X, "parameters": {"shared_memory_region": "r"}}]}, 400,
     "input 'x': the shared-memory extension is not supported by tsrt_serve"),
    # The binary tensor data extension: sizes that disagree with the shape or the body.
    ("mlp", {"inputs": [{"name": "x", "shape": [2, 64], "datatype": "FP32", "parameters": {"binary_data_size": 512}}]}, 400,
     "input 'x': binary_data_size needs the Inference-Header-Content-Length header"),
    ("mlp", binary_body({"inputs": [{"name": "x", "shape": [2, 64], "datatype": "FP32", "parameters": {"binary_data_size": 500}}]},
                        bytes(500)), 400, "input 'x': shape [2, 64] of FP32 is 512 bytes, binary_data_size says 500"),
    ("mlp", binary_body({"inputs": [{"name": "x", "shape": [2, 64], "datatype": "FP32", "parameters": {"binary_data_size": 512}}]},
                        bytes(100)), 400, "input 'x': binary_data_size 512 runs past the body (100 bytes left)"),
    ("mlp", binary_body({"inputs": [{"name": "x", "shape": [1 << 31, 1 << 31], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}]}, bytes(16)), 400,
     "is too many bytes, binary_data_size says 16"),
    ("mlp", binary_body({"inputs": [{"name": "x", "shape": [2, 64], "datatype": "FP32", "parameters": {"binary_data_size": 512}}]},
                        bytes(600)), 400, "the body carries 88 bytes after the JSON header that no input claims"),
    ("mlp", binary_body({"inputs": [{**X, "parameters": {"binary_data_size": 512}}]}, bytes(512)), 400,
     "give \"data\" or parameters.binary_data_size, not both"),
    ("mlp", (json.dumps({"inputs": [X]}).encode(), {"Inference-Header-Content-Length": "999999"}), 400,
     "Inference-Header-Content-Length is 999999 but the body has only"),
    ("mlp", (json.dumps({"inputs": [X]}).encode(), {"Inference-Header-Content-Length": "-3"}), 400,
     "Inference-Header-Content-Length must be a byte count, got '-3'"),
    # index out of range: the model itself fails (5xx), and says where.
    ("multi_io", {"inputs": ABI[:2] + [tensor("index", [2], "INT64", 100)]}, 500,
     "failed in forward(a: float32[2, 8], b: float32[2, 8], index: int64[2])"),
]


@pytest.mark.parametrize("model,body,status,fragment", BAD_REQUESTS, ids=[f"{r[2]}-{r[3][:40]}" for r in BAD_REQUESTS])
def test_bad_requests_get_protocol_errors_and_the_server_goes_on(server, client, zoo_dir, model, body, status, fragment):
    payload, headers = body if isinstance(body, tuple) else (body, None)
    got_status, answer = server.post_json(f"/v2/models/{model}/infer", payload, headers)
    assert got_status == status, answer
    assert set(answer) == {"error"}, answer
    assert fragment in answer["error"], answer["error"]
    # Still serving, and still right.
    infer_and_compare(client, zoo_dir, "mlp", 2, 11, binary=True)


def test_protocol_client_sees_the_error(client):
    with pytest.raises(InferenceServerException, match="input 'x' expects dtype float32, got int64") as error:
        client.infer("mlp", [httpclient.InferInput("x", [1, 64], "INT64").set_data_from_numpy(np.ones((1, 64), np.int64))])
    assert error.value.status() == "400"


def test_body_over_the_limit_is_refused(server):
    status, _, body = server.request("POST", "/v2/models/mlp/infer", bytes((MAX_BODY_MB << 20) + 1),
                                     {"Content-Type": "application/octet-stream"})
    assert status == 413
    assert json.loads(body) == {"error": f"POST /v2/models/mlp/infer: the request body is over {MAX_BODY_MB} MiB"}
    assert server.get_json("/v2/health/ready")[0] == 200


def test_unknown_routes_are_json_404(server):
    for path in ("/v1/models", "/v2/models/mlp/versions/1/stats", "/healthz"):
        status, answer = server.get_json(path)
        assert status == 404 and "no such route" in answer["error"], (path, answer)


def test_concurrent_clients_each_get_their_own_answer(client, zoo_dir):
    """32 requests in flight at once through the client's own concurrency (async_infer),
    JSON and binary mixed, batch sizes 1 to 4: each answer matches its own eager output."""
    entry = zoo.get("multi_io")
    cases = [entry.example_inputs(seed=100 + i, sizes={s.name: {0: 1 + i % 4} for s in entry.inputs}) for i in range(32)]
    pending = [client.async_infer("multi_io", triton_inputs(httpclient, ["a", "b", "index"], inputs, binary=i % 2 == 0))
               for i, inputs in enumerate(cases)]
    for inputs, request in zip(cases, pending):
        result = request.get_result(timeout=120)
        for path, leaf in eager_leaves("multi_io", inputs, zoo_dir / MODELS["multi_io"][1]):
            compare(torch.from_numpy(np.array(result.as_numpy(path))), leaf, entry.tolerance.atol, entry.tolerance.rtol, path)


def test_version_is_tsrts_one_version(serve_binary, client):
    result = subprocess.run([str(serve_binary), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"tsrt_serve (tsrt) {tsrt.__version__}, built against LibTorch ")
    assert client.get_server_metadata()["version"] == tsrt.__version__  # the protocol's server metadata too


def test_startup_errors(serve_binary, zoo_dir, tmp_path):
    def start(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(serve_binary), *map(str, args)], capture_output=True, text=True, timeout=120)

    no_models = start("--port", "0")
    assert no_models.returncode == 2 and "give at least one model file" in no_models.stderr
    bad_flag = start("--verbose", zoo_dir / "mlp.trace.pt")
    assert bad_flag.returncode == 2 and "unknown flag --verbose" in bad_flag.stderr
    bad_port = start("--port", "http", zoo_dir / "mlp.trace.pt")
    assert bad_port.returncode == 2 and "--port expects a number from 0 to 65535, got 'http'" in bad_port.stderr
    missing = start("--port", "0", f"m={tmp_path / 'missing.pt'}")
    assert missing.returncode == 2 and "can't load model 'm'" in missing.stderr and "missing.pt" in missing.stderr
    equals = start("--port=http", zoo_dir / "mlp.trace.pt")  # --flag=value is --flag value
    assert equals.returncode == 2 and "--port expects a number from 0 to 65535, got 'http'" in equals.stderr
    no_value = start("--version=2")
    assert no_value.returncode == 2 and "--version takes no value, got '--version=2'" in no_value.stderr
    twice = start("--port", "0", zoo_dir / "mlp.trace.pt", zoo_dir / "mlp.script.pt")
    assert twice.returncode == 2 and "two models named 'mlp'" in twice.stderr


def test_sigterm_answers_the_requests_in_flight(serve_binary, zoo_dir):
    """SIGTERM once 8 requests of the slowest model have been sent: each still gets its
    200 and the right answer, and the process exits 0."""
    instance = Server(serve_binary, "--threads", "8", zoo_dir / "resnet_cnn.trace.pt")  # named "resnet_cnn" after the file
    entry = zoo.get("resnet_cnn")
    (image,) = entry.example_inputs(seed=1, sizes={"image": {0: 16, 2: 64, 3: 64}})
    body = json.dumps({"inputs": [{"name": "image", "shape": list(image.shape), "datatype": "FP32",
                                   "data": image.flatten().tolist()}]}).encode()
    results: list[Any] = [None] * 8
    sent = threading.Semaphore(0)

    def call(i: int) -> None:
        connection = http.client.HTTPConnection(instance.host, instance.port, timeout=120)
        connection.request("POST", "/v2/models/resnet_cnn/infer", body=body, headers={"Content-Type": "application/json"})
        sent.release()
        response = connection.getresponse()
        results[i] = (response.status, json.loads(response.read()))
        connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for _ in threads:
            assert sent.acquire(timeout=120)
    finally:
        status = instance.stop()
    for thread in threads:
        thread.join(timeout=120)
    assert status == 0
    assert [r and r[0] for r in results] == [200] * 8
    expected = eager_leaves("resnet_cnn", (image,), zoo_dir / "resnet_cnn.trace.pt")[0][1]
    for _, answer in results:
        (output,) = answer["outputs"]
        compare(torch.tensor(output["data"]).reshape(output["shape"]), expected, entry.tolerance.atol, entry.tolerance.rtol)
    assert "tsrt_serve: stopped" in instance.process.stdout.read()


# ---- metrics ---------------------------------------------------------------------------

def scrape(server: Server) -> dict[tuple[str, tuple], float]:
    """/metrics through prometheus_client's own text parser: {(sample name, sorted labels): value}."""
    samples = {}
    for family in text_string_to_metric_families(server.metrics()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_parse_and_count(server, client):
    before = scrape(server)
    for seed in range(5):
        client.infer("mlp", triton_inputs(httpclient, ["x"], zoo.get("mlp").example_inputs(seed=seed), binary=True))
    for _ in range(2):
        assert server.post_json("/v2/models/mlp/infer", {"inputs": [tensor("x", [2, 63])]})[0] == 400
    assert server.post_json("/v2/models/nope/infer", {"inputs": []})[0] == 404
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("tsrt_requests_total", model="mlp") == 7
    assert delta("tsrt_request_failures_total", model="mlp", code="400") == 2
    assert delta("tsrt_request_failures_total", model="_unknown", code="404") == 1
    assert delta("tsrt_request_duration_seconds_count", model="mlp") == 7
    assert delta("tsrt_request_duration_seconds_sum", model="mlp") > 0
    buckets = sorted(((float(dict(labels)["le"]), value) for (name, labels), value in after.items()
                      if name == "tsrt_request_duration_seconds_bucket" and dict(labels)["model"] == "mlp"))
    assert [v for _, v in buckets] == sorted(v for _, v in buckets), "buckets must be cumulative"
    assert buckets[-1] == (float("inf"), after[("tsrt_request_duration_seconds_count", (("model", "mlp"),))])
    assert all(value == 0 for (name, _), value in after.items() if name == "tsrt_inflight_requests")
    assert {dict(labels)["model"] for (name, labels) in after if name == "tsrt_requests_total"} == {*MODELS, "_unknown"}


# ---- dynamic batching ------------------------------------------------------------------

BATCHED = ("mlp", "multi_io", "encoder", "cnn")


@pytest.fixture(scope="module")
def batched_server(serve_binary, zoo_dir) -> Iterator[Server]:
    # A long delay (200 ms) so that the concurrent requests below surely meet in batches,
    # even on a loaded machine: at 20 ms the encoder's 24 requests (two lengths that
    # cannot stack) arrived too far apart under load and all ran alone. Two runners a
    # model, so that batches are gathered while others run; one intra-op thread each.
    instance = Server(serve_binary, "--threads", "40", "--batch", "all", "--max-batch", "16", "--batch-delay-us", "200000",
                      "--batch-workers", "2", "--intra-op-threads", "1",
                      *(f"{name}={zoo_dir / MODELS[name][1]}" for name in (*BATCHED, "mixed")))
    try:
        yield instance
    finally:
        instance.stop()


@contextlib.contextmanager
def request_on_its_way(server: Server, model: str) -> Iterator[None]:
    """A request whose headers have arrived and whose body has not: the batcher waits
    (up to its delay) for it, so that requests sent meanwhile surely meet in batches."""
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode())
        yield
    # Gone without its body: the server drops it and stops waiting for it.


@pytest.mark.parametrize("served", BATCHED)
def test_batched_answers_equal_unbatched_ones(server, batched_server, zoo_dir, served):
    """24 concurrent requests (batch sizes 1 to 3; for the encoder, two sequence lengths
    that must not stack together), JSON and binary, while one more is on its way: each
    batched answer equals the unbatched server's answer for the same request and
    eager's, within the model's tolerance; the batch-size histogram shows that requests
    did run together. For multi_io, one request in the middle fails in the model
    (index out of range): it gets its 500, and its batch neighbours their answers."""
    zoo_name, file = MODELS[served]
    entry = zoo.get(zoo_name)
    names = [s.name for s in entry.inputs]
    cases = []
    for i in range(24):
        sizes = {s.name: {0: 1 + i % 3, **({1: 7 + 3 * (i % 2)} if served == "encoder" else {})} for s in entry.inputs}
        cases.append(entry.example_inputs(seed=500 + i, sizes=sizes))
    poisoned = 11 if served == "multi_io" else None
    if poisoned is not None:
        cases[poisoned] = (*cases[poisoned][:2], torch.full_like(cases[poisoned][2], 100))
    before = scrape(batched_server)
    batched = httpclient.InferenceServerClient(batched_server.address, concurrency=24, network_timeout=120)
    plain = httpclient.InferenceServerClient(server.address, concurrency=4, network_timeout=120)
    try:
        with request_on_its_way(batched_server, served):
            pending = [batched.async_infer(served, triton_inputs(httpclient, names, inputs, binary=i % 2 == 0))
                       for i, inputs in enumerate(cases)]
            results = []
            for request in pending:
                try:
                    results.append(request.get_result(timeout=120))
                except InferenceServerException as error:
                    results.append(error)
        worst = 0.0
        for i, (inputs, result) in enumerate(zip(cases, results)):
            if i == poisoned:
                assert isinstance(result, InferenceServerException) and result.status() == "500", result
                assert "failed in forward" in result.message()
                continue
            assert not isinstance(result, InferenceServerException), result
            alone = plain.infer(served, triton_inputs(httpclient, names, inputs, binary=True))
            for path, leaf in eager_leaves(zoo_name, inputs, zoo_dir / file):
                answer = torch.from_numpy(np.array(result.as_numpy(path)))
                unbatched = torch.from_numpy(np.array(alone.as_numpy(path)))
                compare(answer, leaf, entry.tolerance.atol, entry.tolerance.rtol, path)
                worst = max(worst, compare(answer, unbatched, entry.tolerance.atol, entry.tolerance.rtol, path).max_abs)
    finally:
        batched.close()
        plain.close()
    after = scrape(batched_server)
    key_count, key_sum = ("tsrt_batch_size_count", (("model", served),)), ("tsrt_batch_size_sum", (("model", served),))
    calls = after[key_count] - before.get(key_count, 0)
    requests = after[key_sum] - before.get(key_sum, 0)
    print(f"\n{served}: {requests:.0f} requests in {calls:.0f} calls; max |batched - unbatched| = {worst:.2e}")
    assert requests >= 24 and calls < requests, "some requests should have run together"
    queued = after[("tsrt_queue_duration_seconds_count", (("model", served),))]
    assert queued >= 24


def test_a_lone_request_does_not_wait_for_company(batched_server):
    """With nobody else on the way, a request runs at once instead of waiting out the
    batching delay (20 ms here): ten requests one after another queue far less than 10 x 20 ms."""
    before = scrape(batched_server)
    client = httpclient.InferenceServerClient(batched_server.address)
    try:
        for seed in range(10):
            client.infer("mlp", triton_inputs(httpclient, ["x"], zoo.get("mlp").example_inputs(seed=seed), binary=True))
    finally:
        client.close()
    after = scrape(batched_server)
    key = ("tsrt_queue_duration_seconds_sum", (("model", "mlp"),))
    count = ("tsrt_queue_duration_seconds_count", (("model", "mlp"),))
    assert after[count] - before.get(count, 0) == 10
    assert after[key] - before.get(key, 0) < 0.05, "each request waited for company that was not coming"


def test_batching_refused_where_it_would_change_answers(serve_binary, zoo_dir):
    def start(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(serve_binary), "--port", "0", *map(str, args)], capture_output=True, text=True, timeout=120)

    gated = start("--batch", "gated", zoo_dir / "gated.script.pt")
    assert gated.returncode == 2
    assert ("can't batch model 'gated': output 'output' of a request differs when it runs stacked with another: "
            "forward mixes the rows of a batch") in gated.stderr
    mixed = start("--batch", "mixed", f"mixed={zoo_dir / 'mixed_outputs.script.pt'}")
    assert mixed.returncode == 2
    assert "can't batch model 'mixed': output 'output[2]' does not follow the batch in dimension 0" in mixed.stderr
    unknown = start("--batch", "nope", zoo_dir / "mlp.trace.pt")
    assert unknown.returncode == 2 and "--batch nope: no model of that name" in unknown.stderr
    for flag in ("--max-batch", "--batch-workers", "--intra-op-threads"):
        bad = start(flag, "many", zoo_dir / "mlp.trace.pt")
        assert bad.returncode == 2 and f"{flag} expects a number from" in bad.stderr and "got 'many'" in bad.stderr


# ---- load and faults -------------------------------------------------------------------

def test_short_load_and_fault_run(serve_binary, zoo_dir, tmp_path):
    """scripts/serve_load.py fault for a few seconds (the closing note has the 60-second
    run): good clients right every time, every fault answered with its 4xx (or, for the
    ones that hang up, the server simply going on), RSS flat, SIGTERM with a burst in
    flight answered, exit 0."""
    summary_file = tmp_path / "summary.json"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "serve_load.py"), "fault", "--serve", str(serve_binary),
                          "--zoo-dir", str(zoo_dir), "--seconds", "5", "--clients", "3", "--fault-clients", "3",
                          "--json", str(summary_file)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    assert summary["good_requests"] > 0 and summary["wrong_answers"] == 0 and not summary["good_errors"]
    assert not summary["crashed"] and summary["exit_code"] == 0
    assert summary["sigterm_burst_answered"] == summary["sigterm_burst"] == 16
    expected = {"malformed_json": "HTTP 400", "lying_shape_json": "HTTP 400", "lying_shape_binary": "HTTP 400",
                "huge_shape_json": "HTTP 400", "huge_shape_binary": "HTTP 400", "wrong_dtype": "HTTP 400",
                "unknown_model": "HTTP 404", "oversize_body": "HTTP 413", "slow_sender": "HTTP 200"}
    for kind, outcome in expected.items():
        assert set(summary["faults"][kind]) == {outcome}, (kind, summary["faults"][kind])
    for kind in ("half_body", "disconnect_mid_request", "disconnect_mid_response", "not_http"):
        assert kind in summary["faults"], kind


def test_allowed_operators_for_served_models(serve_binary, zoo_dir, tmp_path):
    """--allowed-operators, as infer has it: a model outside the list is refused before
    it runs (exit 1); the model's own operators let it serve and answer as eager does."""
    model_file = zoo_dir / "mlp.trace.pt"
    operators = sorted(json.loads(tsrt.load(model_file, describe_only=True).report(as_json=True))["operators"])
    too_few = tmp_path / "too_few.txt"
    too_few.write_text("aten::relu\n")
    refused = subprocess.run([str(serve_binary), "--port", "0", "--allowed-operators", str(too_few), str(model_file)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "outside the allow-list" in refused.stderr, refused.stderr
    assert "aten::linear" in refused.stderr
    missing = subprocess.run([str(serve_binary), "--port", "0", "--allowed-operators", str(tmp_path / "none.txt"),
                              str(model_file)], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "--allowed-operators" in missing.stderr, missing.stderr

    enough = tmp_path / "enough.txt"
    enough.write_text("\n".join(operators) + "\n")
    server = Server(serve_binary, "--allowed-operators", str(enough), f"mlp={model_file}")
    try:
        x = torch.rand(3, 64)
        status, answer = server.post_json("/v2/models/mlp/infer", {"inputs": [
            {"name": "x", "shape": [3, 64], "datatype": "FP32", "data": x.flatten().tolist()}]})
        assert status == 200, answer
        output = answer["outputs"][0]
        actual = torch.tensor(output["data"], dtype=torch.float32).reshape(output["shape"])
        torch.testing.assert_close(actual, torch.jit.load(str(model_file))(x), rtol=1e-5, atol=1e-5)
    finally:
        server.stop()
