"""Load and faults against tsrt_serve (examples/cpp_service), on loopback only.

    python scripts/serve_load.py fault --serve build/examples/cpp_service/tsrt_serve --seconds 60
    python scripts/serve_load.py bench --serve build/examples/cpp_service/tsrt_serve --seconds 8

fault: starts the server, drives it with --clients good clients (Open Inference
Protocol requests, JSON and binary, checked against eager PyTorch) and, in the
same run, --fault-clients clients that send malformed JSON, bodies that stop
half-way, disconnect mid-request or mid-response, send slowly, declare shapes that
claim more data than they carry, and very large shapes. Samples the server's RSS
every second. At the end it sends SIGTERM while a burst of requests is in flight:
each must be answered and the server must exit 0. Exit status 1 when anything went
wrong: a crash, a wrong answer, a good request that failed, a fault answered with
anything but its expected 4xx, RSS that grew, an unclean stop.

bench: the same good clients without faults (binary tensors), at 1, 8 and 32
clients, with and without --batch (interleaved, --rounds times), printing
throughput and p50/p99 latency medians, the batched/unbatched ratios, and where the
time went: the server's and the clients' CPU time per request, and requests per
model call. Its default model is wide_mlp (below), whose per-row cost falls with
the batch; --model mlp is the zoo's tiny MLP, where HTTP and JSON cost the most.

Bounded: stops after --seconds or --max-requests, whichever comes first; the server
listens on 127.0.0.1 and the clients connect nowhere else. --json writes the summary.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import tsrt  # noqa: I001  (before torch: it chooses how LibTorch's OpenMP threads wait; docs/python.md)
import numpy as np
import torch

from tsrt import zoo
from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry
from tsrt.zoo import mlp as zoo_mlp

ROOT = Path(__file__).resolve().parents[1]

HOST = "127.0.0.1"  # never anything else
DATATYPES = {torch.float32: ("FP32", np.float32), torch.int64: ("INT64", np.int64), torch.float64: ("FP64", np.float64),
             torch.bool: ("BOOL", np.bool_)}
FROM_DATATYPE = {name: dtype for name, dtype in DATATYPES.values()}
# Served name -> (zoo model, exported file name, rows per request). Small and fast
# models keep the client (Python) from being the bottleneck on two cores.
LOAD_MODELS = {"mlp": ("mlp", "mlp.trace.pt"), "multi_io": ("multi_io", "multi_io.script.pt"),
               "cnn": ("resnet_cnn", "resnet_cnn.trace.pt")}
# bench's default model, not in the test zoo: the zoo's MLP made wide (256 -> 1024 -> 1024
# -> 256, 6 MiB of weights), so that one row's forward costs more than its HTTP round
# trip and a batch of rows costs far less per row than one row does (matrix-vector
# products become matrix-matrix ones). The zoo's mlp is the opposite case: so small that
# a request's cost is HTTP and JSON, which batching does not reduce.
WIDE_MLP = ZooEntry(name="wide_mlp", factory=lambda: zoo_mlp.MLP(256, 1024, 256),
                    inputs=(TensorSpec("x", (4, 256), dynamic_dims=(0,)),), modes=("trace",),
                    tolerance=Tolerance(atol=1e-4, rtol=1e-3))
BENCH_MODELS = {**LOAD_MODELS, "wide_mlp": ("wide_mlp", "wide_mlp.trace.pt")}
MAX_BODY_MB = 4


def zoo_entry(name: str) -> ZooEntry:
    return WIDE_MLP if name == WIDE_MLP.name else zoo.get(name)


# ---- the server --------------------------------------------------------------------

class Serve:
    def __init__(self, binary: Path, args: list[str]) -> None:
        self.process = subprocess.Popen([str(binary), "--host", HOST, "--port", "0", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        while line.startswith("tsrt_serve: batching"):
            line = self.process.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"tsrt_serve did not start: {line!r} {self.process.stderr.read()}")
        self.port = int(line.split("listening on http://")[1].split()[0].rsplit(":", 1)[1])

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        return self.process.returncode


def zoo_files(zoo_dir: Path | None, models: dict[str, tuple[str, str]] = LOAD_MODELS) -> Path:
    """A directory with the files `models` names: zoo_dir when it has them all, else a
    temporary one they are exported into."""
    if zoo_dir and all((zoo_dir / file).exists() for _, file in models.values()):
        return zoo_dir

    out = Path(tempfile.mkdtemp(prefix="serve_load_"))
    for zoo_name, file in models.values():
        zoo_entry(zoo_name).export(out / file, file.split(".")[1])
    return out


# ---- requests: encoded once, checked against eager ------------------------------------

@dataclass
class Case:
    model: str
    body: bytes
    headers: dict[str, str]
    expected: dict[str, np.ndarray]
    atol: float
    rtol: float


def encode(inputs: list[tuple[str, torch.Tensor]], binary: bool) -> tuple[bytes, dict[str, str]]:
    tensors, payload = [], b""
    for name, tensor in inputs:
        datatype, numpy_dtype = DATATYPES[tensor.dtype]
        entry: dict[str, Any] = {"name": name, "shape": list(tensor.shape), "datatype": datatype}
        if binary:
            raw = tensor.numpy().astype(numpy_dtype).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            payload += raw
        else:
            entry["data"] = tensor.flatten().tolist()
        tensors.append(entry)
    header = json.dumps({"inputs": tensors, "parameters": {"binary_data_output": binary}}).encode()
    headers = {"Content-Type": "application/octet-stream" if binary else "application/json"}
    if binary:
        headers["Inference-Header-Content-Length"] = str(len(header))
    return header + payload, headers


def make_cases(names: list[str], count: int, zoo_dir: Path) -> list[Case]:
    """`count` requests a model, batch sizes 1 to 4, JSON and binary alternating, with eager's answers."""
    import tsrt
    from tsrt.contract import flatten_outputs

    cases = []
    for served in names:
        zoo_name, file = BENCH_MODELS[served]
        entry = zoo_entry(zoo_name)
        eager = entry.build()
        output_names = tsrt.load(zoo_dir / file).metadata["methods"]["forward"]["outputs"]
        for i in range(count):
            sizes = {s.name: {0: 1 + i % 4} for s in entry.inputs}
            inputs = entry.example_inputs(seed=1000 + i, sizes=sizes)
            with torch.no_grad():
                output = eager(*inputs)
            expected = {path: np.asarray(torch.as_tensor(leaf)) for path, leaf in flatten_outputs(output, output_names)
                        if leaf is not None}
            body, headers = encode([(s.name, t) for s, t in zip(entry.inputs, inputs)], binary=i % 2 == 1)
            cases.append(Case(served, body, headers, expected, entry.tolerance.atol, entry.tolerance.rtol))
    return cases


def decode(headers: dict[str, str], body: bytes) -> dict[str, np.ndarray]:
    length = headers.get("inference-header-content-length")
    header = json.loads(body[:int(length)] if length else body)
    offset = int(length) if length else 0
    outputs = {}
    for output in header["outputs"]:
        numpy_dtype = FROM_DATATYPE[output["datatype"]]
        size = output.get("parameters", {}).get("binary_data_size")
        if size is not None:
            array = np.frombuffer(body[offset:offset + size], dtype=numpy_dtype)
            offset += size
        else:
            array = np.asarray(output["data"], dtype=numpy_dtype)
        outputs[output["name"]] = array.reshape(output["shape"])
    return outputs


def correct(case: Case, outputs: dict[str, np.ndarray]) -> bool:
    if outputs.keys() != case.expected.keys():
        return False
    return all(outputs[k].shape == v.shape and np.allclose(outputs[k], v, atol=case.atol, rtol=case.rtol)
               for k, v in case.expected.items())


# ---- clients -------------------------------------------------------------------------

@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    good_errors: dict[str, int] = field(default_factory=dict)   # good requests that failed, by what happened
    wrong: int = 0
    faults: dict[str, dict[str, int]] = field(default_factory=dict)  # fault kind -> outcome -> count
    unexpected: list[str] = field(default_factory=list)

    def count(self, table: dict, key: str) -> None:
        with self.lock:
            table[key] = table.get(key, 0) + 1


class Budget:
    """Stops every client after `seconds` or `max_requests` requests, whichever comes first."""

    def __init__(self, seconds: float, max_requests: int) -> None:
        self.deadline = time.monotonic() + seconds
        self.left = max_requests
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0 or time.monotonic() >= self.deadline:
                return False
            self.left -= 1
            return True


def good_client(port: int, cases: list[Case], budget: Budget, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection(HOST, port, timeout=60)  # keep-alive, as real clients do
    while budget.take():
        case = rng.choice(cases)
        start = time.perf_counter()
        try:
            connection.request("POST", f"/v2/models/{case.model}/infer", body=case.body, headers=case.headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                tally.count(tally.good_errors, f"HTTP {response.status}")
                continue
            outputs = decode({k.lower(): v for k, v in response.getheaders()}, body)
        except (OSError, http.client.HTTPException) as error:
            tally.count(tally.good_errors, type(error).__name__)
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=60)
            continue
        with tally.lock:
            tally.latencies.append(elapsed)
            if not correct(case, outputs):
                tally.wrong += 1
    connection.close()


def raw_exchange(port: int, data: bytes, read: bool = True, timeout: float = 30) -> tuple[int | None, bytes]:
    """Sends bytes on a fresh connection; returns (HTTP status or None when the server
    closed without answering, body)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        if not read:
            return None, b""
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                text = b"".join(chunks)
                head, _, rest = text.partition(b"\r\n\r\n")
                if _ and b"content-length:" in head.lower():
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    if len(rest) >= length:
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    text = b"".join(chunks)
    if not text.startswith(b"HTTP/1.1 "):
        return None, text
    return int(text[9:12]), text.partition(b"\r\n\r\n")[2]


def http_request(path: str, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body) if length is None else length}",
             "Connection: close"] + [f"{k}: {v}" for k, v in (headers or {"Content-Type": "application/json"}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


MLP = "/v2/models/mlp/infer"


def x_input(**overrides: Any) -> dict:
    return {"name": "x", "shape": [2, 64], "datatype": "FP32", "data": [0.5] * 128, **overrides}


def fault_kinds(port: int, good: Case) -> dict[str, Callable[[], tuple[str, bool]]]:
    """Each fault: what happened (an outcome label) and whether that is what it should get."""

    def status_of(data: bytes, expected: int) -> tuple[str, bool]:
        status, body = raw_exchange(port, data)
        ok = status == expected and b'"error"' in body
        return (f"HTTP {status}" if status else "closed"), ok

    def binary(header: dict, payload: bytes) -> bytes:
        text = json.dumps(header).encode()
        return http_request(MLP, text + payload, {"Inference-Header-Content-Length": str(len(text)),
                                                  "Content-Type": "application/octet-stream"})

    def half_body() -> tuple[str, bool]:
        # Announces 4 KiB, sends a third, hangs up: nobody to answer; the server must just go on.
        raw_exchange(port, http_request(MLP, json.dumps({"inputs": [x_input()]}).encode()[:1300], length=4096), read=False)
        return "sent", True

    def disconnect_mid_request() -> tuple[str, bool]:
        raw_exchange(port, b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Len", read=False)
        return "sent", True

    def disconnect_mid_response() -> tuple[str, bool]:
        # A request with a large answer (the CNN at 64x64, JSON), and the client gone before it comes.
        image = {"name": "image", "shape": [8, 3, 64, 64], "datatype": "FP32", "data": [0.1] * (8 * 3 * 64 * 64)}
        with socket.create_connection((HOST, port), timeout=30) as sock:
            sock.sendall(http_request("/v2/models/cnn/infer", json.dumps({"inputs": [image]}).encode()))
            sock.recv(16)  # the first bytes of the answer, then gone with the rest unread
        return "sent", True

    def slow_sender() -> tuple[str, bool]:
        # A good request trickled in 8 pieces over ~1.2 s (under the server's 5 s read timeout): a 200, and right.
        data = http_request(f"/v2/models/{good.model}/infer", good.body, good.headers)
        with socket.create_connection((HOST, port), timeout=30) as sock:
            step = len(data) // 8 + 1
            for i in range(0, len(data), step):
                sock.sendall(data[i:i + step])
                time.sleep(0.15)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks)
        head, _, body = text.partition(b"\r\n\r\n")
        if not text.startswith(b"HTTP/1.1 200"):
            return f"HTTP {text[9:12].decode() or 'none'}", False
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.decode().partition(":") for line in head.split(b"\r\n")[1:])}
        return "HTTP 200", correct(good, decode(headers, body))

    def oversize_body() -> tuple[str, bool]:
        return status_of(http_request(MLP, bytes((MAX_BODY_MB << 20) + 1), {"Content-Type": "application/octet-stream"}), 413)

    return {
        "malformed_json": lambda: status_of(http_request(MLP, b'{"inputs": [{"name": "x", "shape": [2, 6'), 400),
        "not_http": lambda: (lambda r: ("HTTP %s" % r[0] if r[0] else "closed", r[0] in (400, None)))(
            raw_exchange(port, b"HELLO THERE\r\n\r\n")),
        "lying_shape_json": lambda: status_of(http_request(MLP, json.dumps(
            {"inputs": [x_input(shape=[200, 64])]}).encode()), 400),
        "lying_shape_binary": lambda: status_of(binary({"inputs": [{"name": "x", "shape": [200, 64], "datatype": "FP32",
                                                                    "parameters": {"binary_data_size": 51200}}]},
                                                       bytes(512)), 400),
        "huge_shape_json": lambda: status_of(http_request(MLP, json.dumps(
            {"inputs": [x_input(shape=[1 << 40, 1 << 40])]}).encode()), 400),
        "huge_shape_binary": lambda: status_of(binary({"inputs": [{"name": "x", "shape": [1 << 31, 1 << 31, 64],
                                                                   "datatype": "FP32",
                                                                   "parameters": {"binary_data_size": 512}}]},
                                                      bytes(512)), 400),
        "wrong_dtype": lambda: status_of(http_request(MLP, json.dumps(
            {"inputs": [x_input(datatype="INT64", data=[1] * 128)]}).encode()), 400),
        "unknown_model": lambda: status_of(http_request("/v2/models/nope/infer", json.dumps(
            {"inputs": [x_input()]}).encode()), 404),
        "oversize_body": oversize_body,
        "half_body": half_body,
        "disconnect_mid_request": disconnect_mid_request,
        "disconnect_mid_response": disconnect_mid_response,
        "slow_sender": slow_sender,
    }


def fault_client(port: int, good: Case, budget: Budget, tally: Tally, seed: int) -> None:
    kinds = fault_kinds(port, good)
    names = sorted(kinds)
    turn = seed
    while budget.take():
        kind = names[turn % len(names)]  # in turn, so that even a short run sends every kind
        turn += 1
        try:
            outcome, ok = kinds[kind]()
        except (OSError, http.client.HTTPException) as error:
            outcome, ok = type(error).__name__, False
        with tally.lock:
            tally.faults.setdefault(kind, {}).setdefault(outcome, 0)
            tally.faults[kind][outcome] += 1
            if not ok:
                tally.unexpected.append(f"{kind}: {outcome}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# ---- fault: the load-and-fault run -------------------------------------------------

def run_fault(args: argparse.Namespace) -> int:
    zoo_dir = zoo_files(args.zoo_dir)
    cases = make_cases(list(LOAD_MODELS), 8, zoo_dir)
    threads = args.clients + args.fault_clients + 8
    server_args = ["--threads", str(threads), "--max-body-mb", str(MAX_BODY_MB), *args.server_args.split(),
                   *(f"{name}={zoo_dir / file}" for name, (_, file) in LOAD_MODELS.items())]
    serve = Serve(args.serve, server_args)
    tally = Tally()
    budget = Budget(args.seconds, args.max_requests)
    rss: list[tuple[float, float]] = []
    started = time.monotonic()
    workers = [threading.Thread(target=good_client, args=(serve.port, cases, budget, tally, i)) for i in range(args.clients)]
    good_mlp = next(c for c in cases if c.model == "mlp")
    workers += [threading.Thread(target=fault_client, args=(serve.port, good_mlp, budget, tally, 100 + i))
                for i in range(args.fault_clients)]
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers):
        if serve.alive():
            rss.append((time.monotonic() - started, serve.rss_mib()))
        time.sleep(1.0)
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    crashed = not serve.alive()

    # SIGTERM once a burst has been sent: every request of it must still be answered, and right.
    burst: list[Any] = [None] * 16
    burst_cases = [c for c in cases if c.model == "cnn"] or cases
    sent = threading.Semaphore(0)

    def one(i: int) -> None:
        case = burst_cases[i % len(burst_cases)]
        try:
            connection = http.client.HTTPConnection(HOST, serve.port, timeout=60)
            connection.request("POST", f"/v2/models/{case.model}/infer", body=case.body, headers=case.headers)
            sent.release()
            response = connection.getresponse()
            body = response.read()
            burst[i] = response.status == 200 and correct(case, decode({k.lower(): v for k, v in response.getheaders()}, body))
        except (OSError, http.client.HTTPException):
            burst[i] = False
            sent.release()

    burst_threads = [threading.Thread(target=one, args=(i,)) for i in range(len(burst))] if not crashed else []
    for thread in burst_threads:
        thread.start()
    for _ in burst_threads:
        sent.acquire(timeout=30)
    exit_code = serve.stop()
    for thread in burst_threads:
        thread.join()

    warm = [m for t, m in rss if t >= min(10.0, elapsed / 4)] or [m for _, m in rss]
    rss_start, rss_end = (warm[0], warm[-1]) if warm else (float("nan"), float("nan"))
    growth = rss_end - rss_start
    rss_flat = growth <= max(16.0, 0.05 * rss_start)
    fault_total = sum(sum(v.values()) for v in tally.faults.values())
    summary = {
        "seconds": round(elapsed, 1), "clients": args.clients, "fault_clients": args.fault_clients,
        "good_requests": len(tally.latencies), "throughput_rps": round(len(tally.latencies) / elapsed, 1),
        "p50_ms": round(percentile(tally.latencies, 0.5) * 1e3, 2), "p99_ms": round(percentile(tally.latencies, 0.99) * 1e3, 2),
        "good_errors": tally.good_errors, "wrong_answers": tally.wrong, "fault_requests": fault_total,
        "faults": tally.faults, "unexpected_fault_outcomes": len(tally.unexpected),
        "unexpected_examples": sorted(set(tally.unexpected))[:10], "crashed": crashed,
        "rss_mib_after_warmup": round(rss_start, 1), "rss_mib_end": round(rss_end, 1),
        "rss_mib_max": round(max((m for _, m in rss), default=float("nan")), 1), "rss_flat": rss_flat,
        "rss_mib_every_10s": [round(m, 1) for t, m in rss[::10]],
        "sigterm_burst_answered": sum(bool(b) for b in burst) if burst_threads else 0,
        "sigterm_burst": len(burst_threads), "exit_code": exit_code,
    }
    ok = (not crashed and tally.wrong == 0 and not tally.good_errors and not tally.unexpected and rss_flat
          and exit_code == 0 and all(burst) and len(tally.latencies) > 0)
    summary["ok"] = ok
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


# ---- bench: batching on and off at 1/8/32 clients -----------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_sum(port: int, name: str) -> float:
    """The sum of metric `name` over its labels in the server's /metrics."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def run_bench(args: argparse.Namespace) -> int:
    model = args.model
    models = {model: BENCH_MODELS[model]}
    zoo_dir = zoo_files(args.zoo_dir, models)
    cases = [c for c in make_cases([model], 16, zoo_dir)]
    cases = [c for c in cases if "Inference-Header-Content-Length" in c.headers]  # binary: the client stays cheap
    file = zoo_dir / models[model][1]
    common = args.server_args.split()
    configs = {"unbatched": common, "batched": [*common, "--batch", model, "--max-batch", str(args.max_batch),
                                                 "--batch-delay-us", str(args.delay_us), *args.batch_args.split()]}
    results: dict[tuple[str, int], list[dict]] = {}
    for round_index in range(args.rounds):
        for clients in args.clients_list:
            for config, extra in configs.items():  # interleaved: contention hits both alike
                serve = Serve(args.serve, ["--threads", str(clients + 4), *extra, f"{model}={file}"])
                tally = Tally()
                budget = Budget(args.seconds, args.max_requests)
                server_cpu, client_cpu = cpu_seconds(serve.process.pid), time.process_time()
                started = time.monotonic()
                workers = [threading.Thread(target=good_client, args=(serve.port, cases, budget, tally, i))
                           for i in range(clients)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
                elapsed = time.monotonic() - started
                server_cpu, client_cpu = cpu_seconds(serve.process.pid) - server_cpu, time.process_time() - client_cpu
                calls = metric_sum(serve.port, "tsrt_batch_size_count")
                requests_in_calls = metric_sum(serve.port, "tsrt_batch_size_sum")
                serve.stop()
                if tally.wrong or tally.good_errors:
                    print(f"{config} x{clients}: {tally.wrong} wrong, errors {tally.good_errors}", file=sys.stderr)
                    return 1
                done = max(1, len(tally.latencies))
                results.setdefault((config, clients), []).append(
                    {"rps": len(tally.latencies) / elapsed, "p50": percentile(tally.latencies, 0.5) * 1e3,
                     "p99": percentile(tally.latencies, 0.99) * 1e3, "server_cpu_ms": server_cpu / done * 1e3,
                     "client_cpu_ms": client_cpu / done * 1e3,
                     "per_call": requests_in_calls / calls if calls else 1.0})
    rows = []
    load = os.getloadavg()
    print(f"model {model}, {args.rounds} rounds of {args.seconds} s, interleaved; medians over rounds; "
          f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"unbatched: {' '.join(configs['unbatched']) or '(defaults)'}; batched: {' '.join(configs['batched'])}")
    keys = ("rps", "p50", "p99", "server_cpu_ms", "client_cpu_ms", "per_call")
    print(f"{'clients':>7} {'config':>10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'srv cpu ms/req':>14} "
          f"{'client cpu ms/req':>17} {'req/call':>8}")
    for clients in args.clients_list:
        medians = {}
        for config in configs:
            runs = results[(config, clients)]
            medians[config] = {k: statistics.median(r[k] for r in runs) for k in keys}
            m = medians[config]
            print(f"{clients:>7} {config:>10} {m['rps']:>8.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} "
                  f"{m['server_cpu_ms']:>14.3f} {m['client_cpu_ms']:>17.3f} {m['per_call']:>8.1f}")
            rows.append({"clients": clients, "config": config, **{k: round(v, 3) for k, v in m.items()}})
        batched, unbatched = medians["batched"], medians["unbatched"]
        print(f"{clients:>7} {'ratio':>10} {batched['rps'] / unbatched['rps']:>7.2f}x {batched['p50'] / unbatched['p50']:>7.2f}x "
              f"{batched['p99'] / unbatched['p99']:>7.2f}x  (batched / unbatched)")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average": load, "configs": configs, "rows": rows}, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fault", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--serve", type=Path, required=True, help="the tsrt_serve binary")
        p.add_argument("--zoo-dir", type=Path, help="exported zoo files (<model>.<mode>.pt); exported when not given")
        p.add_argument("--seconds", type=float, default=60 if name == "fault" else 8)
        p.add_argument("--max-requests", type=int, default=2_000_000, help="stop after this many requests in all")
        p.add_argument("--json", help="write the summary here")
    fault = sub.choices["fault"]
    fault.add_argument("--clients", type=int, default=8)
    fault.add_argument("--fault-clients", type=int, default=4)
    fault.add_argument("--server-args", default="--batch all", help="extra tsrt_serve flags")
    bench = sub.choices["bench"]
    bench.add_argument("--model", default="wide_mlp", choices=sorted(BENCH_MODELS))
    bench.add_argument("--clients-list", type=lambda s: [int(c) for c in s.split(",")], default=[1, 8, 32])
    bench.add_argument("--rounds", type=int, default=3)
    bench.add_argument("--max-batch", type=int, default=32)
    bench.add_argument("--delay-us", type=int, default=2000)
    bench.add_argument("--server-args", default="", help="tsrt_serve flags for both configurations (--intra-op-threads 1)")
    bench.add_argument("--batch-args", default="", help="more tsrt_serve flags for the batched one (--batch-workers 2)")
    args = parser.parse_args()
    return run_fault(args) if args.command == "fault" else run_bench(args)


if __name__ == "__main__":
    sys.exit(main())
