"""Running one case: in a long-lived worker process (torch imported once) that loads
and verifies a file per request, or through `./infer FILE --verify`; either way the
answer is a Result with one of the outcome classes (see tsrt.testing.fuzz)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

@dataclass
class Result:
    outcome: str
    stage: str  # load, verify, run (the worker); infer; worker (it died or stopped answering)
    detail: str
    route: str = "worker"
    seconds: float = 0.0


# Runs in the worker process: one JSON request per stdin line, one JSON result per stdout line.
WORKER = r'''
import io, json, os, sys
out = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # stray prints (C++ or Python) go to stderr, not into the protocol
import numpy as np
import torch
import tsrt

ORIGINALS = {}

def short(error):
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else ""

def original(source):
    """The original's golden inputs, its outputs on them, and its tolerance."""
    if source not in ORIGINALS:
        model = tsrt.load(source)
        metadata = model.metadata
        pairs = []
        for pair in metadata["golden"]:
            inputs = [torch.from_numpy(np.load(io.BytesIO(model.extra_files[name]))) for name in pair["inputs"]]
            pairs.append((pair["method"], inputs, model.run(pair["method"], *inputs)))
        ORIGINALS[source] = (pairs, metadata["tolerance"])
    return ORIGINALS[source]

def close(a, b, tolerance):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
        return False
    try:
        torch.testing.assert_close(a, b, atol=tolerance["atol"], rtol=tolerance["rtol"], equal_nan=True)
        return True
    except (AssertionError, TypeError, ValueError):
        return False

def differs_from_original(model, source):
    """None when the model gives the original's outputs on the original's golden inputs."""
    pairs, tolerance = original(source)
    for index, (method, inputs, expected) in enumerate(pairs):
        if not close(model.run(method, *inputs), expected, tolerance):
            return f"pair {index}: outputs differ from the original model's"
    return None

def check(path, source):
    try:
        model = tsrt.load(path)
    except tsrt.Error as error:
        return {"outcome": "error", "stage": "load", "detail": f"[{error.code}] {short(error)}"}
    except Exception as error:
        return {"outcome": "unclean", "stage": "load", "detail": f"{type(error).__name__}: {short(error)}"}
    try:
        checks = model.verify()
        why = ""
    except tsrt.Error as error:
        checks, why = None, f"verify: [{error.code}] {short(error)}"
    except Exception as error:
        return {"outcome": "unclean", "stage": "verify", "detail": f"{type(error).__name__}: {short(error)}"}
    if checks and all(c["passed"] for c in checks):
        return {"outcome": "same", "stage": "verify", "detail": ""}
    if checks:
        failed = [c for c in checks if not c["passed"]]
        why = "verify FAIL: " + "; ".join(f"pair {c['pair']} {c['path']}: {c['detail']}" for c in failed[:4])
    # The golden replay could not run, or failed: compare with the original model directly.
    try:
        difference = differs_from_original(model, source)
    except tsrt.Error as error:
        if checks:
            return {"outcome": "corrupt", "stage": "verify",
                    "detail": f"{why} (and it fails on the original's inputs: {short(error)})"}
        return {"outcome": "error", "stage": "run", "detail": f"{why}; run: [{error.code}] {short(error)}"}
    except Exception as error:
        return {"outcome": "unclean", "stage": "run", "detail": f"{why}; run: {type(error).__name__}: {short(error)}"}
    if checks:
        note = difference or "only the golden records look damaged: the model gives the original's outputs"
        return {"outcome": "corrupt", "stage": "verify", "detail": f"{why} ({note})"}
    if difference:
        return {"outcome": "corrupt", "stage": "run", "detail": f"{why}; {difference}"}
    return {"outcome": "same", "stage": "run",
            "detail": f"{why}; the original's golden inputs give the original's outputs"}

print(json.dumps({"ready": True}), file=out)
for line in sys.stdin:
    request = json.loads(line)
    try:
        result = check(request["path"], request["source"])
    except Exception as error:
        result = {"outcome": "unclean", "stage": "worker", "detail": f"{type(error).__name__}: {short(error)}"}
    print(json.dumps(result), file=out)
'''


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Worker:
    """A long-lived `python -c WORKER` that loads and verifies one file per request."""

    def __init__(self, python: str = sys.executable, start_timeout: float = 180.0) -> None:
        self._python = python
        self._start_timeout = start_timeout
        self._process: subprocess.Popen | None = None
        self.restarts = 0

    def _start(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen([self._python, "-c", WORKER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1,
                                         errors="replace")
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self._process, self._lines), daemon=True).start()
        try:
            ready = self._lines.get(timeout=self._start_timeout)
        except queue.Empty:
            ready = None
        if ready is None:
            self._stop()
            raise RuntimeError(f"the fuzz worker did not start:\n{self._stderr_tail()}")

    @staticmethod
    def _pump(process: subprocess.Popen, lines: queue.Queue) -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def _stderr_tail(self, limit: int = 1500) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read().decode("utf-8", "replace").strip()

    def _stop(self) -> int | None:
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.kill()
        code = self._process.wait()
        self._process = None
        return code

    def check(self, path: Path, source: Path, timeout: float) -> Result:
        if self._process is None:
            self._start()
        request = json.dumps({"path": str(path), "source": str(source)}) + "\n"
        try:
            self._process.stdin.write(request)
            self._process.stdin.flush()
            line = self._lines.get(timeout=timeout)
        except BrokenPipeError:
            line = None
        except queue.Empty:
            self._stop()
            self.restarts += 1
            return Result("hang", "worker", f"no answer in {timeout:g} s; worker killed")
        if line is None:
            code = self._process.wait()
            tail = self._stderr_tail(600).replace("\n", " | ")
            self._stop()
            self.restarts += 1
            how = f"killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
            return Result("crash", "worker", f"worker {how}; stderr: {tail}")
        return Result(**json.loads(line))

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def run_infer(path: Path, timeout: float, infer: Path) -> Result:
    """`INFER FILE --verify` as its own process (`infer`: the ./infer launcher or a built binary)."""
    try:
        done = subprocess.run([str(infer), str(path), "--verify"], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result("hang", "infer", f"no exit in {timeout:g} s; killed", route="infer")
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace").strip()
    first = stderr.splitlines()[0][:300] if stderr else ""
    code = done.returncode
    if code < 0:
        return Result("crash", "infer", f"killed by {_signal_name(-code)}; stderr: {stderr[-600:]}", route="infer")
    if code == 0:
        return Result("same", "infer", "", route="infer")
    if code == 1 and "FAIL" in stdout:
        failed = [line.strip() for line in stdout.splitlines() if line.strip().startswith("FAIL")]
        return Result("corrupt", "infer", "; ".join(failed[:4]), route="infer")
    if code in (1, 2) and "infer: error:" in stderr:
        return Result("error", "infer", first, route="infer")
    return Result("unclean", "infer", f"exit {code}: {first or stdout[-300:]}", route="infer")
