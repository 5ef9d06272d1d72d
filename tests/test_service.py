"""examples/cpp_service (tsrt_serve), built with find_package(tsrt) against the
installed package and started on a free loopback port: real HTTP requests through
urllib. Good requests match eager PyTorch within each zoo model's tolerance (the
JSON round trip itself is exact: float32 -> double -> shortest repr -> double ->
float32); bad ones get the documented status, code and message; 16 concurrent
requests share one loaded model; the server keeps serving after every error and
stops cleanly on SIGTERM."""

from __future__ import annotations

import http.client
import json
import select
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from tsrt import zoo
from conftest import ROOT
from consumer import configure_and_build
from parity import compare
import tsrt
from tsrt.contract import flatten_outputs

SERVICE = ROOT / "examples" / "cpp_service"
MODELS = {"mlp": "mlp.trace.pt", "multi_io": "multi_io.script.pt", "mixed": "mixed_outputs.script.pt",
          "extra": "extra_method.script.pt"}


def httplib_missing() -> str:
    """Why the service can't be built here, or "" when cpp-httplib is installed."""
    pkg_config = shutil.which("pkg-config")
    if pkg_config and subprocess.run([pkg_config, "--exists", "cpp-httplib"]).returncode == 0:
        return ""
    if any(Path(d, "httplib.h").exists() for d in ("/usr/include", "/usr/local/include")):
        return ""
    return "cpp-httplib is not installed: apt-get install libcpp-httplib-dev pkg-config (make setup does)"


@pytest.fixture(scope="module")
def serve_binary() -> Path:
    """tsrt_serve, built in build/examples/cpp_service (kept: later runs rebuild only what changed)."""
    if httplib_missing():
        pytest.skip(httplib_missing())
    return configure_and_build(SERVICE, ROOT / "build" / "examples" / "cpp_service") / "tsrt_serve"


class Server:
    def __init__(self, binary: Path, *args: str | Path) -> None:
        self.process = subprocess.Popen([str(binary), "--port", "0", *map(str, args)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        # --port 0: the OS picks a free port, the server prints it; no race with another process.
        line = self._readline(timeout=60)
        assert "listening on http://127.0.0.1:" in line, f"no listening line: {line!r} {self.process.stderr.read()}"
        self.url = line.split("listening on ")[1].split()[0]
        deadline = time.time() + 30
        while True:
            try:
                if self.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "tsrt_serve did not answer /healthz within 30 s"
            time.sleep(0.05)

    def _readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline() if ready else ""

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def infer(self, model: str, payload: Any) -> tuple[int, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", f"/v1/models/{model}/infer", body)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not stop within 10 s; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="module")
def server(serve_binary, zoo_dir) -> Iterator[Server]:
    instance = Server(serve_binary, "--threads", "8", *(f"{name}={zoo_dir / file}" for name, file in MODELS.items()))
    try:
        yield instance
    finally:
        instance.stop()  # always, even when a test failed


def tensor_json(tensor: torch.Tensor) -> dict:
    return {"shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch."),
            "data": tensor.flatten().tolist()}


def eager(name: str, inputs: tuple, model_file: Path) -> list[tuple[str, Any]]:
    """Eager PyTorch's outputs, flattened with the output names the exported file records."""
    with torch.no_grad():
        output = zoo.get(name).build()(*inputs)
    return flatten_outputs(output, tsrt.load(model_file).metadata["methods"]["forward"]["outputs"])


def as_tensor(leaf: Any) -> torch.Tensor:
    """A leaf as libtsrt sends it: Python floats as float64, ints as int64, bools as bool."""
    return torch.tensor(leaf, dtype=torch.float64) if isinstance(leaf, float) else torch.as_tensor(leaf)


def check_outputs(answer: dict, expected: list[tuple[str, Any]], tolerance) -> None:
    assert [o["name"] for o in answer["outputs"]] == [path for path, _ in expected]
    for output, (path, leaf) in zip(answer["outputs"], expected):
        if leaf is None:
            assert output["data"] is None, path
            continue
        leaf = as_tensor(leaf)
        assert output["shape"] == list(leaf.shape), path
        assert output["dtype"] == str(leaf.dtype).removeprefix("torch."), path
        actual = torch.tensor(output["data"], dtype=leaf.dtype).reshape(output["shape"])
        compare([actual], [leaf], tolerance.atol, tolerance.rtol)


def test_health_and_models(server):
    assert server.get("/healthz") == (200, {"status": "ok"})
    status, listing = server.get("/v1/models")
    assert status == 200
    assert [m["name"] for m in listing["models"]] == sorted(MODELS)
    status, mlp = server.get("/v1/models/mlp")
    assert status == 200 and mlp["format"] == "torchscript" and mlp["methods"] == ["forward"]
    assert mlp["inputs"] == [{"name": "x", "type": "Tensor", "dtype": "float32", "shape": [4, 64], "dynamic_dims": [0]}]
    status, multi = server.get("/v1/models/multi_io")
    assert [(i["name"], i["dtype"]) for i in multi["inputs"]] == [("a", "float32"), ("b", "float32"), ("index", "int64")]
    assert multi["return_type"] == "Tuple[Tensor, Dict[str, Tensor]]"


@pytest.mark.parametrize("by_name", [True, False], ids=["by_name", "by_position"])
@pytest.mark.parametrize("name,model", [("mlp", "mlp"), ("multi_io", "multi_io"), ("mixed_outputs", "mixed")])
def test_infer_matches_eager(server, zoo_dir, name, model, by_name):
    entry = zoo.get(name)
    inputs = entry.example_inputs(seed=3, sizes={s.name: {0: 5} for s in entry.inputs})
    payload = ({spec.name: tensor_json(t) for spec, t in zip(entry.inputs, inputs)} if by_name
               else [tensor_json(t) for t in inputs])
    status, answer = server.infer(model, {"inputs": payload})
    assert status == 200, answer
    assert answer["model"] == model
    check_outputs(answer, eager(name, inputs, zoo_dir / MODELS[model]), entry.tolerance)


def test_infer_other_method(server):
    """"method" runs a @torch.jit.export method instead of forward."""
    entry = zoo.get("extra_method")
    (x,) = entry.example_inputs(seed=5)
    status, answer = server.infer("extra", {"method": "embed", "inputs": {"x": tensor_json(x)}})
    assert status == 200, answer
    with torch.no_grad():
        expected = entry.build().embed(x)
    check_outputs(answer, [("output", expected)], entry.tolerance)
    assert sorted(server.get("/v1/models/extra")[1]["methods"]) == ["embed", "forward"]


def ones(shape: list[int], dtype: str = "float32", value: Any = 1.0) -> dict:
    count = 1
    for size in shape:
        count *= size
    return {"shape": shape, "dtype": dtype, "data": [value] * count}


BAD_REQUESTS = [
    # (model, body, status, code, message fragment)
    ("mlp", b"{not json", 400, "invalid_json", "the request body is not JSON"),
    ("nope", {"inputs": {}}, 404, "not_found", "no model named 'nope'; this server has: extra, mixed, mlp, multi_io"),
    ("extra", {"method": "decode", "inputs": [ones([2, 20])]}, 400, "invalid_argument", "has no method 'decode'"),
    ("mlp", {"tensors": {}}, 400, "invalid_argument", 'expected {"inputs": {NAME: tensor, ...}}'),
    ("mlp", {"inputs": 3}, 400, "invalid_argument", '"inputs" must be an object (by name) or a list (by position)'),
    ("mlp", {"inputs": {"x": ones([2, 64], "int64", 1)}}, 400, "invalid_argument",
     "input 'x' expects dtype float32, got int64"),
    ("mlp", {"inputs": {"x": ones([2, 63])}}, 400, "invalid_argument", "expects size 64 in dimension 1"),
    ("mlp", {"inputs": {"x": ones([64])}}, 400, "invalid_argument", "expects rank 2"),
    ("mlp", {"inputs": {"x": ones([2, 64]), "y": ones([2, 64])}}, 400, "invalid_argument", "unknown input 'y'"),
    ("multi_io", {"inputs": {"a": ones([2, 8]), "b": ones([2, 8])}}, 400, "invalid_argument", "missing input 'index'"),
    ("mlp", {"inputs": {"x": {"shape": [2, 64], "data": [1.0, 2.0, 3.0]}}}, 400, "invalid_argument",
     "input 'x': shape [2, 64] holds 128 values, \"data\" has 3"),
    ("mlp", {"inputs": {"x": {"shape": [2, 64], "dtype": "float33", "data": [0.0] * 128}}}, 400, "invalid_argument",
     "input 'x': unknown dtype 'float33'"),
    ("mlp", {"inputs": {"x": {"shape": [1, 2], "data": ["a", 1]}}}, 400, "invalid_argument",
     "input 'x': data[0] is \"a\", not a number"),
    ("multi_io", {"inputs": {"a": ones([2, 8]), "b": ones([2, 8]), "index": ones([2], "int64", 1.5)}}, 400,
     "invalid_argument", "input 'index': data[0] is 1.5, not an integer"),
    ("mlp", {"inputs": {"x": {"data": []}}}, 400, "invalid_argument", "input 'x': missing \"shape\""),
    ("mlp", {"inputs": {"x": [1.0, 2.0]}}, 400, "invalid_argument",
     "input 'x': expected an object {\"shape\", \"dtype\", \"data\"}, got array"),
    ("mlp", {"inputs": [{"shape": "2x64", "data": []}]}, 400, "invalid_argument",
     "input 0: \"shape\" must be a list of sizes, got \"2x64\""),
    ("mlp", {"inputs": [{"shape": [2, -64], "data": []}]}, 400, "invalid_argument", "\"shape\" must hold sizes >= 0"),
    ("mlp", {"inputs": [{"shape": [1], "data": 1.0}]}, 400, "invalid_argument",
     "input 0: \"data\" must be a flat list of values, got number"),
    ("mlp", {"inputs": [{"shape": [1], "dtype": 32, "data": [1.0]}]}, 400, "invalid_argument",
     "input 0: \"dtype\" must be a string such as \"float32\""),
    ("mlp", {"inputs": [{"shape": [1], "dtype": "complex64", "data": [1.0]}]}, 400, "invalid_argument",
     "input 0: dtype complex64 can't travel as JSON numbers"),
    # index out of range: the model itself fails (5xx), and says where.
    ("multi_io", {"inputs": {"a": ones([2, 8]), "b": ones([2, 8]), "index": ones([2], "int64", 100)}}, 500,
     "runtime", "failed in forward(a: float32[2, 8], b: float32[2, 8], index: int64[2])"),
]


@pytest.mark.parametrize("model,body,status,code,fragment", BAD_REQUESTS,
                         ids=[f"{r[2]}-{r[4][:40]}" for r in BAD_REQUESTS])
def test_bad_requests_get_json_errors_and_the_server_goes_on(server, zoo_dir, model, body, status, code, fragment):
    got_status, answer = server.infer(model, body)
    assert got_status == status, answer
    assert answer["error"]["code"] == code
    assert fragment in answer["error"]["message"], answer["error"]["message"]
    # Still serving, and still right.
    entry = zoo.get("mlp")
    inputs = entry.example_inputs(seed=11)
    good_status, good = server.infer("mlp", {"inputs": [tensor_json(inputs[0])]})
    assert good_status == 200
    check_outputs(good, eager("mlp", inputs, zoo_dir / MODELS["mlp"]), entry.tolerance)


def test_large_bodies_whatever_their_content_type(server, zoo_dir):
    """curl -d sends application/x-www-form-urlencoded, which httplib caps at 8 KiB
    unless the handler reads the body itself; 64 rows of 64 floats are ~80 KiB."""
    entry = zoo.get("mlp")
    inputs = entry.example_inputs(seed=8, sizes={"x": {0: 64}})
    body = json.dumps({"inputs": [tensor_json(inputs[0])]}).encode()
    assert len(body) > 64 << 10
    status, answer = server.request("POST", "/v1/models/mlp/infer", body, "application/x-www-form-urlencoded")
    assert status == 200, answer
    check_outputs(answer, eager("mlp", inputs, zoo_dir / MODELS["mlp"]), entry.tolerance)


def test_body_over_64_mib_is_refused(server):
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", "/v1/models/mlp/infer")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str((64 << 20) + 1))
        connection.endheaders()
        # The server reads past (skips) the whole announced body before it answers.
        connection.send(bytes((64 << 20) + 1))
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413
    assert answer["error"]["code"] == "too_large"
    assert "the request body is over 64 MiB" in answer["error"]["message"]
    assert server.get("/healthz") == (200, {"status": "ok"})


def test_unknown_routes_are_json_404(server):
    for path in ("/v2/health", "/v1/models/nope"):
        status, answer = server.get(path)
        assert status == 404 and answer["error"]["code"] == "not_found", answer
    assert "no such route" in server.get("/v2/health")[1]["error"]["message"]
    assert "no model named 'nope'" in server.get("/v1/models/nope")[1]["error"]["message"]


def test_16_concurrent_requests_share_one_model(server, zoo_dir):
    entry = zoo.get("multi_io")
    cases = [entry.example_inputs(seed=100 + i, sizes={s.name: {0: 1 + i % 4} for s in entry.inputs}) for i in range(16)]
    results: list[Any] = [None] * len(cases)
    latencies: list[float] = [0.0] * len(cases)
    barrier = threading.Barrier(len(cases))

    def call(i: int) -> None:
        payload = {"inputs": {spec.name: tensor_json(t) for spec, t in zip(entry.inputs, cases[i])}}
        barrier.wait()  # all 16 in flight together
        start = time.perf_counter()
        results[i] = server.infer("multi_io", payload)
        latencies[i] = time.perf_counter() - start

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(cases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for inputs, (status, answer) in zip(cases, results):
        assert status == 200, answer
        check_outputs(answer, eager("multi_io", inputs, zoo_dir / MODELS["multi_io"]), entry.tolerance)  # each got its own answer
    print(f"\n16 concurrent multi_io requests: median {sorted(latencies)[8] * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms")


def test_startup_errors(serve_binary, zoo_dir, tmp_path):
    def start(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(serve_binary), *map(str, args)], capture_output=True, text=True, timeout=60)

    no_models = start("--port", "0")
    assert no_models.returncode == 2 and "give at least one model file" in no_models.stderr
    bad_flag = start("--verbose", zoo_dir / MODELS["mlp"])
    assert bad_flag.returncode == 2 and "unknown flag --verbose" in bad_flag.stderr
    bad_port = start("--port", "http", zoo_dir / MODELS["mlp"])
    assert bad_port.returncode == 2 and "--port expects a number >= 0, got 'http'" in bad_port.stderr
    missing = start("--port", "0", f"m={tmp_path / 'missing.pt'}")
    assert missing.returncode == 2 and "can't load model 'm'" in missing.stderr and "missing.pt" in missing.stderr
    twice = start("--port", "0", zoo_dir / MODELS["mlp"], zoo_dir / MODELS["mlp"])
    assert twice.returncode == 2 and "two models named 'mlp'" in twice.stderr


def test_sigterm_stops_cleanly(serve_binary, zoo_dir):
    instance = Server(serve_binary, zoo_dir / MODELS["mlp"])  # named "mlp" after the file
    try:
        assert [m["name"] for m in instance.get("/v1/models")[1]["models"]] == ["mlp"]
    finally:
        status = instance.stop()
    assert status == 0
    assert "tsrt_serve: stopped" in instance.process.stdout.read()
