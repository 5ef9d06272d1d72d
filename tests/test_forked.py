"""tsrt.exporter.forked: one export step in a forked child, under a deadline."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tsrt.exporter import forked

pytestmark = pytest.mark.skipif(not forked.available(), reason="needs fork (POSIX)")


def test_the_value_comes_back():
    outcome = forked.run(lambda: {"answer": [42], "pid": os.getpid()}, seconds=30)
    assert outcome.ok and outcome.value["answer"] == [42]
    assert outcome.value["pid"] != os.getpid(), "the step ran in this process, not a child"


def test_an_error_comes_back_as_text():
    def step():
        raise RuntimeError("torch.export gave up\nwith a second line")

    outcome = forked.run(step, seconds=30)
    assert not outcome.ok and not outcome.timed_out
    assert outcome.problem == "RuntimeError: torch.export gave up"


def test_a_value_that_cannot_travel_is_an_error():
    outcome = forked.run(lambda: (lambda: None), seconds=30)
    assert not outcome.ok and "pickle" in outcome.problem.lower()


def test_a_child_that_dies_is_reported():
    outcome = forked.run(lambda: os._exit(3), seconds=30)
    assert not outcome.ok and outcome.problem == "the child process died (exit 3) before it answered"


def test_past_the_deadline_the_child_and_what_it_started_are_killed(tmp_path):
    """Inductor starts compile workers and compilers: the deadline reaches them too."""
    pid_file = tmp_path / "grandchild"

    def step():
        grandchild = subprocess.Popen(["sleep", "60"])
        pid_file.write_text(str(grandchild.pid))
        time.sleep(60)

    started = time.monotonic()
    outcome = forked.run(step, seconds=2)
    assert outcome.timed_out and outcome.problem == "did not finish in 2 s"
    assert time.monotonic() - started < 10
    grandchild = int(pid_file.read_text())
    for _ in range(50):  # killed at once; reaped by init a moment later
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{grandchild}/stat") as stat:
            if stat.read().split()[2] == "Z":
                break
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild outlived the deadline")


def test_not_available_once_cuda_is_initialised(monkeypatch):
    """A forked child cannot use CUDA: the caller then runs the step in-process."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert not forked.available()
