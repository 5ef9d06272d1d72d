"""tsrt_serve for the tests: build it with find_package(tsrt), start it on a free
loopback port, talk to it with the protocol's own client (tritonclient.http) or raw
HTTP, and compare its answers with eager PyTorch."""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsrt import zoo
import tsrt
from conftest import ROOT
from consumer import configure_and_build
from tsrt.contract import flatten_outputs

SERVICE = ROOT / "examples" / "cpp_service"
NUMPY_TO_DATATYPE = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64", np.dtype(np.int64): "INT64",
                     np.dtype(np.int32): "INT32", np.dtype(np.bool_): "BOOL", np.dtype(np.float16): "FP16"}


def httplib_missing() -> str:
    """Why the service can't be built here, or "" when cpp-httplib is installed."""
    pkg_config = shutil.which("pkg-config")
    if pkg_config and subprocess.run([pkg_config, "--exists", "cpp-httplib"]).returncode == 0:
        return ""
    if any(Path(d, "httplib.h").exists() for d in ("/usr/include", "/usr/local/include")):
        return ""
    return "cpp-httplib is not installed: apt-get install libcpp-httplib-dev pkg-config (make setup does)"


def build_serve() -> Path:
    """tsrt_serve, built in build/examples/cpp_service (kept: later runs rebuild only what changed).
    TSRT_SERVE=PATH runs the tests against that binary instead: a build of the code before a
    fix, to see a new test fail there."""
    if os.environ.get("TSRT_SERVE"):
        return Path(os.environ["TSRT_SERVE"])
    return configure_and_build(SERVICE, ROOT / "build" / "examples" / "cpp_service") / "tsrt_serve"


class Server:
    """A tsrt_serve process on a free port (--port 0: the server picks it and prints it)."""

    def __init__(self, binary: Path, *args: str | Path) -> None:
        self.process = subprocess.Popen([str(binary), "--port", "0", *map(str, args)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        line = self._readline(timeout=120)
        while line and "listening on" not in line and time.monotonic() < deadline:  # "batching ..." lines come first
            line = self._readline(timeout=deadline - time.monotonic())
        if "listening on http://127.0.0.1:" not in line:
            self.process.kill()
            raise AssertionError(f"no listening line: {line!r} {self.process.stderr.read()}")
        self.url = line.split("listening on ")[1].split()[0]
        self.host, port = self.url.removeprefix("http://").split(":")
        self.port = int(port)
        self.address = f"{self.host}:{self.port}"  # what tritonclient.http takes

    def _readline(self, timeout: float) -> str:
        """A line of the server's stdout, or "" when none came within `timeout` s. Reads
        the pipe a byte at a time: a buffered readline takes the lines after the first
        into Python's buffer, where select does not see them. On a loaded machine the
        "batching" lines and "listening on" arrived in one read, and the test waited
        out its 120 s for a line it already held."""
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            byte = os.read(fd, 1) if ready else b""
            if not byte:
                return ""
            line += byte
        return line.decode()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def get_json(self, path: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", path)
        return status, json.loads(body) if body else None

    def post_json(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, _, answer = self.request("POST", path, body, headers)
        return status, json.loads(answer)

    def metrics(self) -> str:
        status, _, body = self.request("GET", "/metrics")
        assert status == 200
        return body.decode()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not stop within 20 s; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def eager_leaves(zoo_name: str, inputs: tuple, model_file: Path, method: str = "forward") -> list[tuple[str, Any]]:
    """Eager PyTorch's output leaves, named as the exported file names them, None leaves left out
    (the protocol has no None)."""
    with torch.no_grad():
        output = getattr(zoo.get(zoo_name).build(), method)(*inputs)
    names = tsrt.load(model_file).metadata["methods"][method]["outputs"]
    return [(path, leaf) for path, leaf in flatten_outputs(output, names) if leaf is not None]


def as_tensor(leaf: Any) -> torch.Tensor:
    """A leaf as the server sends it: Python floats as FP64, ints as INT64, bools as BOOL."""
    return torch.tensor(leaf, dtype=torch.float64) if isinstance(leaf, float) else torch.as_tensor(leaf)


def triton_inputs(httpclient: Any, names: list[str], tensors: tuple, binary: bool) -> list[Any]:
    inputs = []
    for name, tensor in zip(names, tensors):
        array = tensor.numpy()
        infer_input = httpclient.InferInput(name, list(array.shape), NUMPY_TO_DATATYPE[array.dtype])
        infer_input.set_data_from_numpy(array, binary_data=binary)
        inputs.append(infer_input)
    return inputs
