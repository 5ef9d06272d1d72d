"""scripts/bench_compare.py --busy: the neighbour process it runs beside the table
starts, burns CPU, ends when asked, and ends by itself at its time limit."""

from __future__ import annotations

import signal
import sys
import time

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench_compare  # noqa: E402


def wait_until_dead(spinner: bench_compare.Spinner, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while spinner.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not spinner.alive()


def test_spinner_stops_when_asked_and_reports_its_cpu_time():
    spinner = bench_compare.Spinner(600, bench_compare.busy_core())
    try:
        assert spinner.alive()
        time.sleep(1.0)
    finally:
        spinner.stop()
    assert not spinner.alive()
    assert spinner.process.returncode == -signal.SIGTERM
    assert spinner.cpu_seconds > 0 and spinner.wall_seconds >= 1.0


def test_spinner_ends_by_itself_at_its_limit():
    spinner = bench_compare.Spinner(0.5)
    try:
        # Generous: a loaded machine may take seconds just to start Python.
        assert wait_until_dead(spinner, 60), "the spinner outlived its limit"
    finally:
        spinner.stop()
    assert spinner.process.returncode == 0  # it ended itself, it was not killed


def test_busy_neighbour_is_none_unless_asked():
    with bench_compare.busy_neighbour(False, 10, print) as spinner:
        assert spinner is None
    with bench_compare.busy_neighbour(True, 600, lambda _: None) as spinner:
        assert spinner.alive()
    assert not spinner.alive() and spinner.process.returncode == -signal.SIGTERM
