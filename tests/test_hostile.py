"""Hostile TorchScript files: code hidden where a one-graph walk does not look (a
called function, a fork target, a submodule's method) and paths that are not files.
Under an allow-list none of it may run; the audit must name what it hides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings

import pytest
import torch

import tsrt
from conftest import INFER, ROOT
from errors import raises_tsrt

warnings.filterwarnings("ignore", category=DeprecationWarning)


@torch.jit.script
def _overwrite(x: torch.Tensor, path: str) -> torch.Tensor:
    # shared=True maps the file read-write and creates it: fill_ writes to disk.
    # The result is used: a write whose tensor is dead, the JIT drops.
    written = torch.from_file(path, shared=True, size=8, dtype=torch.uint8).fill_(67)
    return x + written.sum() * 0


class CallsFunction(torch.nn.Module):
    def forward(self, x: torch.Tensor, path: str) -> torch.Tensor:
        return _overwrite(torch.relu(x), path)


class Forks(torch.nn.Module):
    def forward(self, x: torch.Tensor, path: str) -> torch.Tensor:
        return torch.jit.wait(torch.jit.fork(_overwrite, torch.relu(x), path))


class Helper(torch.nn.Module):
    def write(self, x: torch.Tensor, path: str) -> torch.Tensor:
        written = torch.from_file(path, shared=True, size=8, dtype=torch.uint8).fill_(67)
        return x + written.sum() * 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class CallsSubmoduleMethod(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.helper = Helper()

    def forward(self, x: torch.Tensor, path: str) -> torch.Tensor:
        return self.helper.write(torch.relu(x), path)


HIDDEN = {"function": CallsFunction, "fork": Forks, "submodule": CallsSubmoduleMethod}
# What a reviewer who read only forward's own graph would allow.
FORWARD_ONLY = ["aten::relu", "aten::wait", "prim::CallFunction", "prim::CallMethod", "prim::GetAttr",
                "prim::Constant", "prim::fork"]


@pytest.fixture(scope="module")
def hidden_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    paths = {}
    for name, cls in HIDDEN.items():
        paths[name] = out / f"{name}.pt"
        torch.jit.save(torch.jit.script(cls()), str(paths[name]))
    return paths


@pytest.mark.parametrize("where", sorted(HIDDEN))
def test_hidden_file_write_runs_without_an_allow_list(hidden_models, where, tmp_path):
    # The hostile model does what it says: without a gate, the file is written (as
    # written: freezing may find the write dead and drop it).
    target = tmp_path / "written"
    model = tsrt.load(hidden_models[where], freeze=False, optimize_for_inference=False, onednn_fusion=False)
    model(torch.ones(2), str(target))
    assert target.read_bytes() == b"C" * 8


@pytest.mark.parametrize("where", sorted(HIDDEN))
def test_allow_list_sees_hidden_code(hidden_models, where, tmp_path):
    target = tmp_path / "written"
    with raises_tsrt("invalid_model", "outside the allow-list: ", "aten::fill_, aten::from_file"):
        model = tsrt.load(hidden_models[where], allowed_operators=FORWARD_ONLY)
        model(torch.ones(2), str(target))
    assert not target.exists()

    allow = tmp_path / "allow.txt"
    allow.write_text("\n".join(FORWARD_ONLY) + "\n")
    result = subprocess.run([str(INFER), str(hidden_models[where]), "--allowed-operators", str(allow),
                             "--shape", "x=2", "--input", f"path={target}"], capture_output=True, text=True)
    assert result.returncode == 1 and "aten::from_file" in result.stderr, result.stderr
    assert not target.exists()


@pytest.mark.parametrize("where", sorted(HIDDEN))
def test_audit_names_hidden_code(hidden_models, where):
    result = subprocess.run([sys.executable, "-m", "tsrt.cli", "inspect", "--audit", "--json",
                             str(hidden_models[where])], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "aten::from_file" in json.loads(result.stdout)


# ---- paths that are not regular files -------------------------------------------


def _finishes(args, timeout=60):
    """Runs args (a subprocess) and returns it; a hang fails the test instead of blocking it."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def test_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    # In-process first, on a thread, so that a block shows as a failure, not a hung suite.
    errors: list[BaseException] = []

    def load() -> None:
        try:
            tsrt.load(fifo)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        with open(fifo, "wb"):  # unblock it before failing
            pass
        pytest.fail("tsrt.load blocked on a FIFO")
    assert len(errors) == 1 and isinstance(errors[0], tsrt.Error), errors
    assert errors[0].code == "io" and "FIFO" in str(errors[0]) and "not a regular file" in str(errors[0])

    result = _finishes([str(INFER), str(fifo)])
    assert result.returncode == 2 and "is a FIFO (named pipe), not a regular file" in result.stderr, result.stderr
    result = _finishes([sys.executable, "-m", "tsrt.cli", "inspect", str(fifo)])
    assert result.returncode != 0 and "FIFO" in result.stderr, result.stderr


def test_fifo_allow_list_is_refused_at_once(zoo_dir, tmp_path):
    fifo = tmp_path / "allow.txt"
    os.mkfifo(fifo)
    result = _finishes([str(INFER), str(zoo_dir / "mlp.trace.pt"), "--allowed-operators", str(fifo)])
    assert result.returncode == 2 and "cannot read the operator allow-list" in result.stderr, result.stderr
    assert "FIFO" in result.stderr


def test_character_device_is_refused():
    with raises_tsrt("io", "/dev/zero", "a character device, not a regular file"):
        tsrt.load("/dev/zero")
