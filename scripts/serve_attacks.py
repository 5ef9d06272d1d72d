"""The HTTP-level attacks of issue 24 against a running tsrt_serve, measured: for each one,
what came back (status, answer size), how long it took, how far the server's RSS rose,
and whether a good request was still answered right after. The table in docs/serving.md
("Hostile clients") comes from this script, run against the server before and after
the fix:

  python scripts/serve_attacks.py --serve build/examples/cpp_service/tsrt_serve --model mlp=mlp.pt --max-body-mb 1

tests/test_serve_hostile.py asserts the same attacks' outcomes; this script only reports."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def exchange(port: int, chunks, timeout: float = 30) -> tuple[int, int, bytes]:
    """Sends each chunk of `chunks` (an iterable of bytes), then reads until close:
    (status or 0, total answer bytes, the first 300 bytes of the answer)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(1 << 20)
            except OSError:
                break
            if not data:
                break
            answer += data
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, len(answer), answer[:300] + b"..." + b" HTTP/1.1 " * (answer[300:].count(b"HTTP/1.1 ") if len(answer) < 100000 else 0)


GOOD = json.dumps({"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}]}).encode()


def good_request(port: int) -> bool:
    status, _, _ = exchange(port, [b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
                                   + str(len(GOOD)).encode() + b"\r\n\r\n" + GOOD], timeout=60)
    return status == 200


def head(path: bytes = b"/v2/models/mlp/infer", extra: bytes = b"") -> bytes:
    return b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n" + extra


def chunked_body(total_mib: int):
    yield head(extra=b"Transfer-Encoding: chunked\r\n\r\n")
    piece = b" " * (1 << 20)
    for _ in range(total_mib):
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


def compressed(encoding: str, inflated_mib: int) -> list[bytes]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    data = compressor.compress(b" " * (inflated_mib << 20)) + compressor.flush()
    return [head(extra=b"Content-Encoding: " + encoding.encode() + b"\r\nContent-Length: " + str(len(data)).encode()
                 + b"\r\n\r\n"), data]


def many_headers(count: int, size: int) -> list[bytes]:
    lines = b"".join(b"X-Filler-%d: " % i + b"a" * size + b"\r\n" for i in range(count))
    return [b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + lines + b"\r\n"]


def content_lengths(first: int, second: int) -> list[bytes]:
    return [head(extra=b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (first, second)) + GOOD]


def length_and_chunked() -> list[bytes]:
    body = b"%x\r\n" % len(GOOD) + GOOD + b"\r\n0\r\n\r\n"
    return [head(extra=b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body)) + body]


def smuggled() -> list[bytes]:
    second = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    first = (b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n"
             % (len(GOOD), len(GOOD) + len(second)))
    return [first + GOOD + second]


def many_ranges(parts: int) -> list[bytes]:
    ranges = ",".join(["0-"] * parts).encode()  # each part the whole answer; under httplib's 8 KiB header line
    return [head(extra=b"Range: bytes=" + ranges + b"\r\nContent-Length: %d\r\n\r\n" % len(GOOD)) + GOOD]


def trickle(port: int, connections: int, seconds: float) -> tuple[int, float]:
    """`connections` clients that send one header line a second for `seconds`, reconnecting
    when cut off; meanwhile
    good requests, one after another: (good answers, longest wait for one)."""
    stop = time.monotonic() + seconds

    def slow() -> None:
        while time.monotonic() < stop:  # cut off: connect again, as an attacker would
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=seconds + 10) as sock:
                    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
                    i = 0
                    while time.monotonic() < stop:
                        sock.sendall(b"X-Slow-%d: y\r\n" % i)
                        i += 1
                        time.sleep(1)
            except OSError:
                time.sleep(0.05)

    threads = [threading.Thread(target=slow, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    answered, worst = 0, 0.0
    while time.monotonic() < stop:
        started = time.monotonic()
        try:
            ok = good_request(port)
        except OSError:
            ok = False
        worst = max(worst, time.monotonic() - started)
        answered += ok
    for thread in threads:
        thread.join()
    return answered, worst


def idle_connections(port: int, count: int) -> tuple[bool, float]:
    """`count` connections that send nothing, then one good request: (answered, its wait)."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    try:
        started = time.monotonic()
        try:
            ok = good_request(port)
        except OSError:
            ok = False
        return ok, time.monotonic() - started
    finally:
        for sock in sockets:
            sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", required=True)
    parser.add_argument("--model", required=True, help="mlp=FILE (the zoo's mlp)")
    parser.add_argument("--max-body-mb", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    process = subprocess.Popen([args.serve, "--port", "0", "--threads", str(args.threads), "--max-body-mb",
                                str(args.max_body_mb), "--read-timeout-s", "5", args.model], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    port = int(line.split("127.0.0.1:")[1].split()[0])
    attacks = [
        ("chunked body of 64 MiB (limit 1 MiB)", lambda: chunked_body(64)),
        ("deflate body inflating to 256 MiB", lambda: compressed("deflate", 256)),
        ("gzip body inflating to 256 MiB", lambda: compressed("gzip", 256)),
        ("20,000 headers of 100 bytes", lambda: many_headers(20000, 100)),
        ("one header of 1 MiB", lambda: many_headers(1, 1 << 20)),
        ("two Content-Lengths that disagree", lambda: content_lengths(len(GOOD), len(GOOD) + 10)),
        ("Content-Length and chunked", length_and_chunked),
        ("Range with 2,500 parts on a POST", lambda: many_ranges(2500)),
        ("POST with neither Content-Length nor chunked, 64 MiB until close",
         lambda: [head(path=b"/v2/health/live", extra=b"\r\n")] + [b" " * (1 << 20)] * 64),
        ("smuggled: disagreeing Content-Lengths with a second request behind, keep-alive", smuggled),
    ]
    results = [{"attack": "baseline", "rss_mib": round(rss_kib(process.pid) / 1024, 1),
                "peak_rss_mib": round(hwm_kib(process.pid) / 1024, 1)}]
    for name, make in attacks:
        if process.poll() is not None:
            results.append({"attack": name, "outcome": f"server dead (exit {process.returncode})"})
            continue
        before = rss_kib(process.pid)
        started = time.monotonic()
        status, size, first = exchange(port, make())
        seconds = time.monotonic() - started
        alive = process.poll() is None
        rss = rss_kib(process.pid) - before if alive else 0
        peak = hwm_kib(process.pid) if alive else 0
        good = alive and good_request(port)
        results.append({"attack": name, "status": status, "answer_bytes": size, "answers": first.count(b"HTTP/1.1 "), "seconds": round(seconds, 2),
                        "rss_delta_mib": round(rss / 1024, 1), "peak_rss_mib": round(peak / 1024, 1), "alive": alive,
                        "good_after": good, "first": first[:120].decode("latin-1")})
    if process.poll() is None:
        ok, wait = idle_connections(port, 600)
        results.append({"attack": "600 idle connections, then a good request", "answered": ok, "wait_s": round(wait, 1),
                        "alive": process.poll() is None})
        time.sleep(6)  # the idle ones are gone
        answered, worst = trickle(port, args.threads, 12)
        results.append({"attack": f"{args.threads} clients trickling a header line a second for 12 s, reconnecting",
                        "good_answers": answered, "longest_wait_s": round(worst, 1), "alive": process.poll() is None})
    process.terminate()
    process.wait(timeout=30)
    for result in results:
        print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
