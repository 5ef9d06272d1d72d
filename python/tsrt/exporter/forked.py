"""Running one step of an export in a forked child, under a deadline.

Some steps can take unboundedly long on some models (torch.export with every
dimension symbolic spends minutes in sympy on a Swin transformer) and cannot be
interrupted in-process. A forked child gets the module and everything else as they
are, without pickling; when the deadline passes, the child and everything it started
(Inductor's compile workers, the C++ compiler) are killed as one process group, and
the caller carries on with a cheaper plan.

The child runs with one intra-op thread: GNU OpenMP's thread pool does not survive
fork (a parallel region in the child would wait for threads that are not there), and
with one thread ATen runs every loop inline. Only the forking thread exists in the
child: should another thread of the caller hold a lock the step needs, the child waits
until the deadline, which is why every forked step has one.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import torch

from tsrt.capture import first_line


def available() -> bool:
    """Whether steps can run forked here: POSIX, and CUDA not yet initialised in this
    process (a forked child cannot use it: "Cannot re-initialize CUDA in forked subprocess")."""
    return hasattr(os, "fork") and hasattr(os, "killpg") and not torch.cuda.is_initialized()


@dataclass
class Outcome:
    """What a forked step gave: `value` when it returned, else `problem` says why not
    (timed_out: the deadline passed and the child was killed)."""

    value: Any = None
    problem: str = ""
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problem


def run(step: Callable[[], Any], *, seconds: float) -> Outcome:
    """step() in a forked child; its return value (picklable) comes back through a pipe."""
    started = time.monotonic()
    # Whatever the parent has buffered would otherwise be written twice.
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        _child(step, read_end, write_end)
    os.close(write_end)
    with contextlib.suppress(OSError):  # the child does the same; whoever runs first wins the race
        os.setpgid(pid, pid)
    chunks, deadline = [], started + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(pid)
                return Outcome(problem=f"did not finish in {seconds:.0f} s", timed_out=True,
                               seconds=time.monotonic() - started)
            ready, _, _ = select.select([read_end], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(read_end, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    except BaseException:  # Ctrl-C included: the child is in its own group and would outlive us
        _kill_group(pid)
        raise
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - started
    if not chunks:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
        return Outcome(problem=f"the child process died ({how}) before it answered", seconds=elapsed)
    kind, payload = pickle.loads(b"".join(chunks))
    if kind == "error":
        return Outcome(problem=payload, seconds=elapsed)
    return Outcome(value=payload, seconds=elapsed)


def _child(step: Callable[[], Any], read_end: int, write_end: int) -> None:
    code = 1
    try:
        os.close(read_end)
        # Its own process group: killing it reaches the compile workers and compilers it starts.
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        torch.set_num_threads(1)
        try:
            data = pickle.dumps(("value", step()))
        except BaseException as error:  # noqa: BLE001 - every failure goes back as text
            data = pickle.dumps(("error", f"{type(error).__name__}: {first_line(error)}"))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        code = 0
    except BaseException:  # noqa: BLE001 - a child must never return into the caller's code
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    os.waitpid(pid, 0)
