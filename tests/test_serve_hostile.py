"""tsrt_serve against hostile clients (issue 24): each attack goes over a raw socket to a
server on loopback, and after each one the process must still be running and a good
request must still get the right answer (eager PyTorch's, within the MLP's tolerance).

Every answer to an attack is a JSON {"error": ...} of bounded size with the stated status,
never the text of a C++ exception in a header (httplib's EXCEPTION_WHAT). The attack
table with the server's behaviour before and after is in docs/serving.md."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import zlib
from pathlib import Path
from typing import Iterator

import pytest
import torch

from tsrt import zoo
from oip_server import Server, eager_leaves
from parity import compare

MAX_BODY_MB = 1
DEEP = 100_000  # nesting depth of the deep-JSON attacks (the 200 KB body)
MESSAGE_LIMIT = 2048  # no error answer quotes a client's value at length


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory) -> Path:
    # Only the model the good client uses: exporting the whole zoo would cost more than the attacks.
    path = tmp_path_factory.mktemp("hostile") / "mlp.trace.pt"
    zoo.get("mlp").export(path, "trace")
    return path


@pytest.fixture(scope="module")
def server(serve_binary, mlp_file) -> Iterator[Server]:
    instance = Server(serve_binary, "--threads", "8", "--max-body-mb", str(MAX_BODY_MB), "--read-timeout-s", "2",
                      f"mlp={mlp_file}")
    try:
        yield instance
    finally:
        instance.stop()


def raw_exchange(server: Server, request: bytes | list[bytes], timeout: float = 20) -> tuple[int, dict[str, str], bytes]:
    """Sends `request` as it is (it should say Connection: close), or its pieces one after
    another, and reads until the server closes: (status, headers with lower-case names,
    body: everything after the first header block, later answers included). Status 0: no answer."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        try:
            for piece in [request] if isinstance(request, bytes) else request:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: its answer may still be there to read
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return 0, {}, answer
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def http_request(method: bytes, path: bytes, body: bytes = b"", headers: dict[bytes, bytes] | None = None) -> bytes:
    fields = {b"Host": b"127.0.0.1", b"Connection": b"close", b"Content-Type": b"application/json",
              **({b"Content-Length": str(len(body)).encode()} if body or method == b"POST" else {}), **(headers or {})}
    return method + b" " + path + b" HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in fields.items()) + b"\r\n" + body


GOOD_INPUT = zoo.get("mlp").example_inputs(seed=5, sizes={"x": {0: 3}})


def assert_still_serving(server: Server, mlp_file: Path) -> None:
    """Alive, and a good request gets eager PyTorch's answer."""
    assert server.process.poll() is None, f"tsrt_serve died: exit {server.process.returncode}"
    (x,) = GOOD_INPUT
    payload = {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.flatten().tolist()}]}
    status, answer = server.post_json("/v2/models/mlp/infer", payload)
    assert status == 200, answer
    (output,) = answer["outputs"]
    ((_, expected),) = eager_leaves("mlp", GOOD_INPUT, mlp_file)
    tolerance = zoo.get("mlp").tolerance
    compare(torch.tensor(output["data"], dtype=torch.float32).reshape(output["shape"]), expected, tolerance.atol,
            tolerance.rtol)


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected_status: int, fragment: str) -> None:
    assert status == expected_status, (status, body[:300])
    assert not any(name.startswith("exception") for name in headers), headers  # no exception text in a header
    assert len(body) < MESSAGE_LIMIT, f"{len(body)} bytes of error: {body[:200]!r}"
    answer = json.loads(body)  # valid JSON (and so valid UTF-8) even when the client's bytes were not
    assert set(answer) == {"error"} and fragment in answer["error"], answer


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


X_OK = b'{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [' + b", ".join([b"0.5"] * 64) + b"]}"

# ---- invalid UTF-8 where a client's bytes reach a response -------------------------------
UTF8_ATTACKS = [
    # (id, request, status, fragment of the error)
    ("path", http_request(b"GET", b"/v2/%FF"), 404, "no such route"),
    ("path-raw-byte", http_request(b"GET", b"/v2/\xff\xfe"), 404, "no such route"),
    ("model-name", http_request(b"GET", b"/v2/models/%C3%28/ready"), 404, "no model named"),
    ("model-name-infer", http_request(b"POST", b"/v2/models/%FF/infer", b'{"inputs": [' + X_OK + b"]}"), 404, "no model named"),
    ("version", http_request(b"GET", b"/v2/models/mlp/versions/%FF%FE"), 404, "has no version"),
    ("header-value", http_request(b"POST", b"/v2/models/mlp/infer", b'{"inputs": [' + X_OK + b"]}",
                                  {b"Inference-Header-Content-Length": b"\xff\xfe"}), 400, "must be a byte count"),
    ("json-string", http_request(b"POST", b"/v2/models/mlp/infer", b'{"inputs": [{"name": "\xff\xfe"}]}'), 400,
     "the request is not JSON"),
    ("json-long-string", http_request(b"POST", b"/v2/models/mlp/infer", b'{"id": "' + b"a" * 200_000 + b'\xff"}'), 400,
     "the request is not JSON"),
]

# ---- JSON nested 100,000 deep wherever a value is read or quoted --------------------------
DEEP_ATTACKS = [
    ("parameters", b'{"inputs": [' + X_OK + b'], "parameters": {"binary_data_output": ' + nested(DEEP) + b"}}"),
    ("shape", b'{"inputs": [{"name": "x", "shape": ' + nested(DEEP) + b', "datatype": "FP32", "data": [1]}]}'),
    ("output-parameters", b'{"inputs": [' + X_OK + b'], "outputs": [{"name": "output", "parameters": {"binary_data": '
     + nested(DEEP) + b"}}]}"),
    ("data", b'{"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": ' + nested(DEEP) + b"}]}"),
    ("objects", b'{"a": ' * DEEP + b"1" + b"}" * DEEP),
    ("unclosed", b"[" * DEEP),
]


@pytest.mark.parametrize("request_bytes,status,fragment", [a[1:] for a in UTF8_ATTACKS], ids=[a[0] for a in UTF8_ATTACKS])
def test_invalid_utf8_gets_a_json_error(server, mlp_file, request_bytes, status, fragment):
    assert_json_error(*raw_exchange(server, request_bytes), status, fragment)
    assert_still_serving(server, mlp_file)


@pytest.mark.parametrize("body", [a[1] for a in DEEP_ATTACKS], ids=[a[0] for a in DEEP_ATTACKS])
def test_deep_json_is_refused_while_parsing(server, mlp_file, body):
    assert_json_error(*raw_exchange(server, http_request(b"POST", b"/v2/models/mlp/infer", body)), 400,
                      "deeper than 32 levels")
    assert_still_serving(server, mlp_file)


def test_json_just_under_the_depth_limit_is_read(server, mlp_file):
    """32 levels (the most allowed) inside an unknown parameter: legal JSON that the server ignores, 200."""
    body = b'{"inputs": [' + X_OK + b'], "parameters": {"extra": ' + nested(30) + b"}}"
    status, _, answer = raw_exchange(server, http_request(b"POST", b"/v2/models/mlp/infer", body))
    assert status == 200, answer[:300]
    assert_still_serving(server, mlp_file)


# ---- flags --------------------------------------------------------------------------------
BAD_FLAGS = [
    (["--port", "70000"], "--port expects a number from 0 to 65535, got '70000'"),
    (["--port", "-1"], "--port expects a number from 0 to 65535, got '-1'"),
    (["--port", "80x"], "--port expects a number from 0 to 65535, got '80x'"),
    (["--port", "99999999999999999999"], "--port expects a number from 0 to 65535"),
    (["--threads", "0"], "--threads expects a number from 1 to 4096, got '0'"),
    (["--max-body-mb", "+5"], "--max-body-mb expects a number from 1 to"),
    (["--read-timeout-s", "1e3"], "--read-timeout-s expects a number from 1 to 3600, got '1e3'"),
    (["--batch-delay-us", " 5"], "--batch-delay-us expects a number from 0 to"),
    (["--port"], "--port needs a value"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f[0]) for f in BAD_FLAGS])
def test_out_of_range_flags_exit_2(serve_binary, mlp_file, flags, message):
    # Flags are read before any model loads: a refusal is immediate (the code before this
    # check started serving instead, and the timeout ended it).
    run = subprocess.run([str(serve_binary), str(mlp_file), *flags], capture_output=True, text=True, timeout=20)
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert message in run.stderr, run.stderr


# ---- memory and framing: what httplib 0.11.4 reads unlimited or ambiguously ---------------

def peak_rss_mib(server: Server) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def chunked(path: bytes, mib: int) -> list[bytes]:
    piece = b" " * (1 << 20)
    return ([http_request(b"POST", path, headers={b"Transfer-Encoding": b"chunked"}).replace(b"Content-Length: 0\r\n", b"")]
            + [b"%x\r\n" % len(piece) + piece + b"\r\n"] * mib + [b"0\r\n\r\n"])


def compressed(encoding: bytes, inflated_mib: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == b"gzip" else 15)
    data = compressor.compress(b" " * (inflated_mib << 20)) + compressor.flush()
    return http_request(b"POST", b"/v2/models/mlp/infer", data, {b"Content-Encoding": encoding})


INFER = b"/v2/models/mlp/infer"
GOOD_BODY = b'{"inputs": [' + X_OK + b"]}"
INSIDE = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"  # a request smuggled in as a body
LIMIT_ATTACKS = [
    # (id, request, status, fragment); each must also leave peak RSS within 32 MiB of before
    ("chunked-16-MiB", chunked(INFER, 16), 413, f"the request body is over {MAX_BODY_MB} MiB"),
    ("deflate-to-64-MiB", compressed(b"deflate", 64), 413, f"the request body is over {MAX_BODY_MB} MiB"),
    ("gzip-to-64-MiB", compressed(b"gzip", 64), 413, f"the request body is over {MAX_BODY_MB} MiB"),
    ("chunked-elsewhere", chunked(b"/v2/health/live", 16), 400, "only POST /v2/models/NAME/infer takes a chunked"),
    ("post-without-length", [b"POST /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"] + [b" " * (1 << 20)] * 16, 411,
     "a POST needs Content-Length or chunked"),
    ("20000-headers", http_request(b"GET", b"/v2/health/live",
                                   headers={b"X-Filler-%d" % i: b"a" * 100 for i in range(20000)}), 431, "header fields"),
    ("header-bytes", http_request(b"GET", b"/v2/health/live",
                                  headers={b"X-Filler-%d" % i: b"a" * 4000 for i in range(30)}), 431, "bytes; at most 65536"),
    ("two-content-lengths", http_request(b"POST", INFER, INSIDE, {b"Content-Length": b"%d\r\nContent-Length: 0" % len(INSIDE)}),
     400, "Content-Length is given 2 times"),
    ("length-and-chunked", http_request(b"POST", INFER, INSIDE, {b"Transfer-Encoding": b"chunked"}), 400,
     "Content-Length and Transfer-Encoding"),
    ("transfer-encoding-gzip", http_request(b"POST", INFER, headers={b"Transfer-Encoding": b"gzip"}).replace(
        b"Content-Length: 0\r\n", b""), 501, "is not chunked"),
]


@pytest.mark.parametrize("request_bytes,status,fragment", [a[1:] for a in LIMIT_ATTACKS], ids=[a[0] for a in LIMIT_ATTACKS])
def test_limits_hold_before_the_body_is_read(server, mlp_file, request_bytes, status, fragment):
    peak = peak_rss_mib(server)
    got_status, headers, body = raw_exchange(server, request_bytes)
    first, _, rest = body.partition(b"HTTP/1.1 ")
    assert not rest, f"a second answer on the same connection: {rest[:100]!r}"  # no smuggled request ran
    assert_json_error(got_status, headers, first, status, fragment)
    assert peak_rss_mib(server) - peak < 32, f"peak RSS rose {peak_rss_mib(server) - peak:.0f} MiB"
    assert_still_serving(server, mlp_file)


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
def test_a_compressed_body_under_the_limit_is_read(server, mlp_file, encoding):
    """The limit counts inflated bytes; a small compressed request (tritonclient's
    request_compression_algorithm) is still answered, as eager PyTorch would."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == b"gzip" else 15)
    data = compressor.compress(GOOD_BODY) + compressor.flush()
    status, _, body = raw_exchange(server, http_request(b"POST", INFER, data, {b"Content-Encoding": encoding}))
    assert status == 200, body[:300]
    x = torch.full((1, 64), 0.5)
    ((_, expected),) = eager_leaves("mlp", (x,), mlp_file)
    (output,) = json.loads(body)["outputs"]
    compare(torch.tensor(output["data"]).reshape(output["shape"]), expected, zoo.get("mlp").tolerance.atol,
            zoo.get("mlp").tolerance.rtol)


def test_many_ranges_on_a_post_are_ignored(server, mlp_file):
    """httplib cut a POST's answer into one multipart part per range (1.1 MB for 2,500 parts
    of a 323-byte answer); Range is ignored now: the plain JSON answer."""
    status, headers, body = raw_exchange(server, http_request(b"POST", INFER, GOOD_BODY,
                                                              {b"Range": b"bytes=" + b",".join([b"0-"] * 2500)}))
    assert status == 200 and headers["content-type"] == "application/json" and len(body) < 2048, (status, headers)
    assert json.loads(body)["outputs"][0]["name"] == "output"
    assert_still_serving(server, mlp_file)


TRICKLED = {  # what the trickling clients send first, then a byte string a second
    "headers": (b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n", b"X-Slow: y\r\n"),
    "body": (b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", b" "),
}


@pytest.mark.parametrize("part", TRICKLED)
def test_trickling_clients_do_not_stop_service(serve_binary, mlp_file, part):
    """As many clients as --threads, each sending a header line (or a byte of its body) a
    second and connecting again when cut off: a good client is still answered, each time
    within --read-timeout-s (2 s) plus 1.5 s. Before the deadline, httplib's per-read
    timeout never fired and the tricklers held every worker."""
    instance = Server(serve_binary, "--threads", "4", "--read-timeout-s", "2", f"mlp={mlp_file}")
    stop = time.monotonic() + 8
    first, then = TRICKLED[part]

    def trickle() -> None:
        while time.monotonic() < stop:
            try:
                with socket.create_connection((instance.host, instance.port), timeout=10) as sock:
                    sock.sendall(first)
                    while time.monotonic() < stop:
                        sock.sendall(then)
                        time.sleep(1)
            except OSError:
                pass  # cut off: come again, as an attacker would

    threads = [threading.Thread(target=trickle, daemon=True) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        waits = []
        for _ in range(3):
            started = time.monotonic()
            status, _, _ = raw_exchange(instance, http_request(b"GET", b"/v2/health/live"), timeout=3.5)
            waits.append(time.monotonic() - started)
            assert status == 200, f"no answer within 3.5 s (waits so far: {waits})"
        print(f"\ngood client's waits among 4 tricklers on 4 threads: {', '.join(f'{w:.2f}' for w in waits)} s")
        assert_still_serving(instance, mlp_file)
    finally:
        for thread in threads:
            thread.join()
        instance.stop()
