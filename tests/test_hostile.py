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
from typing import Tuple

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


# ---- code that runs inside torch::jit::load -------------------------------------


class WritesAtLoad(torch.nn.Module):
    """torch::jit::load calls __setstate__ to restore the object: its file write runs
    before any check on the loaded graphs could refuse the model."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.written = torch.zeros(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool]:
        return (self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool]) -> None:
        self.target = state[0]
        self.training = state[1]
        # Kept in an attribute: a write whose tensor is dead, the JIT drops.
        self.written = torch.from_file(self.target, shared=True, size=8, dtype=torch.uint8).fill_(67).float()


@pytest.fixture()
def writes_at_load(tmp_path):
    target = tmp_path / "written_at_load"
    path = tmp_path / "setstate.pt"
    torch.jit.save(torch.jit.script(WritesAtLoad(str(target))), str(path))
    target.unlink(missing_ok=True)  # scripting and saving do not run __setstate__; be sure
    return path, target


def test_setstate_runs_at_load_without_a_gate(writes_at_load):
    # What the gate is for: a plain load writes the file.
    path, target = writes_at_load
    tsrt.load(path)
    assert target.read_bytes() == b"C" * 8


def test_allow_list_refuses_setstate_before_it_runs(writes_at_load, tmp_path):
    path, target = writes_at_load
    allowed = ["aten::relu", "prim::*"]
    with raises_tsrt("invalid_model", "outside the allow-list: ", "aten::fill_", "aten::from_file", "before loading"):
        tsrt.load(path, allowed_operators=allowed)
    assert not target.exists()

    allow = tmp_path / "allow.txt"
    allow.write_text("\n".join(allowed) + "\n")
    result = _finishes([str(INFER), str(path), "--allowed-operators", str(allow), "--shape", "x=2"])
    assert result.returncode == 1 and "aten::from_file" in result.stderr, result.stderr
    assert not target.exists()


def test_audit_reads_setstate_code_without_loading(writes_at_load):
    path, target = writes_at_load
    result = _finishes([sys.executable, "-m", "tsrt.cli", "inspect", "--audit", "--json", str(path)])
    assert result.returncode == 0, result.stderr
    assert "aten::from_file" in json.loads(result.stdout)
    assert "__setstate__" in result.stderr and "not loaded" in result.stderr
    assert not target.exists()
    # Describing it (inspect, infer --info) refuses rather than runs it.
    result = _finishes([sys.executable, "-m", "tsrt.cli", "inspect", str(path)])
    assert result.returncode == 1 and "__setstate__" in result.stderr, result.stderr
    result = _finishes([str(INFER), str(path), "--info"])
    assert result.returncode != 0 and "does not run a file's code to describe it" in result.stderr, result.stderr
    assert not target.exists()


def test_code_audit_sees_calls_in_any_spelling(tmp_path):
    # The scan reads the archive's code as text: whitespace and line breaks between the
    # parts of a call, ops.ns.name calls and method calls are calls all the same; text
    # inside strings and comments is not.
    from tsrt import _C

    source = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(CallsFunction()), str(source))
    import zipfile

    with zipfile.ZipFile(source) as archive:
        records = {info.filename: archive.read(info) for info in archive.infolist()}
    code_name = next(name for name, data in records.items() if name.endswith(".py") and b"from_file" in data)
    text = records[code_name].decode()
    assert "torch.from_file(" in text
    text = text.replace("torch.from_file(", "torch .\\\n  from_file (")
    text += '\n# torch.save(x) in a comment\ndef _unused(x: Tensor) -> str:\n  return "torch.load(x)"\n'
    records[code_name] = text.encode()
    edited = tmp_path / "edited.pt"
    with zipfile.ZipFile(edited, "w") as archive:
        for name, data in records.items():
            archive.writestr(name, data)
    audit = _C.audit_code(str(edited))
    assert "aten::from_file" in audit["audit"] and "aten::fill_" in audit["operators"]
    assert "aten::save" not in audit["operators"] and "aten::load" not in audit["operators"]
    assert audit["runs_at_load"] == []


# ---- infer --json: stdout is one JSON document, whatever the model prints ---------


class Prints(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("model says hello", x.shape)
        return x * 2


def test_model_print_does_not_break_json(tmp_path):
    path = tmp_path / "prints.pt"
    torch.jit.save(torch.jit.script(Prints()), str(path))
    result = _finishes([str(INFER), str(path), "--json", "--shape", "x=3"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # nothing but the report on stdout
    assert "model says hello" in result.stderr and "model says hello" not in result.stdout
    assert report


@pytest.mark.parametrize("case", ["missing file", "bad flag"])
def test_errors_under_json_are_json(tmp_path, case):
    args = [str(tmp_path / "absent.pt")] if case == "missing file" else [str(tmp_path / "absent.pt"), "--no-such-flag"]
    result = _finishes([str(INFER), *args, "--json"])
    assert result.returncode == 2, result
    error = json.loads(result.stdout)["error"]
    assert error["code"] in ("io", "invalid_argument") and error["message"] in result.stderr


# ---- describing a compiled package runs none of it --------------------------------


def test_describing_a_package_runs_none_of_its_code(aoti_packages, tmp_path):
    import shutil
    import zipfile

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the hostile library with")
    marker = tmp_path / "constructor_ran"
    source = tmp_path / "constructor.c"
    source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void ran(void) {\n'
                      f'  FILE* f = fopen("{marker}", "w"); if (f) {{ fputs("ran", f); fclose(f); }}\n}}\n')
    library = tmp_path / "constructor.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    hostile = tmp_path / "hostile.pt2"
    with zipfile.ZipFile(aoti_packages["extra_method"]) as package, zipfile.ZipFile(hostile, "w") as out:
        for info in package.infolist():
            data = package.read(info)
            if "/data/aotinductor/model/" in info.filename and info.filename.endswith(".so"):
                data = library.read_bytes()  # forward's library, replaced
            out.writestr(info, data)

    result = _finishes([str(INFER), str(hostile), "--info"])
    assert result.returncode == 0, result.stderr
    assert "forward" in result.stdout and "AOTInductor" in result.stdout
    result = _finishes([sys.executable, "-m", "tsrt.cli", "inspect", "--json", str(hostile)])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["compiled"] is True
    assert not marker.exists(), "describing the package ran its library's constructor"
    described = tsrt.load(hostile, describe_only=True)
    with raises_tsrt("unsupported", "described only"):
        described(torch.rand(2, 20))
    assert not marker.exists()

    # Loading it to run it does run the constructor: what describing must not do.
    with pytest.raises(tsrt.Error):
        tsrt.load(hostile)
    assert marker.read_text() == "ran"


def test_security_docs_list_the_registrys_outside_reaching_operators():
    """docs/security.md lists what --audit flags, from the operator registry: the list must
    be the registry's, and the registry's must hold the operators known to reach out."""
    import re

    from tsrt import _C

    registry = _C.outside_reaching_operators()
    for known in ("aten::from_file", "aten::save", "prim::Print", "prim::RaiseException", "aten::warn",
                  "aten::manual_seed"):
        assert known in registry, known
    assert "aten::relu" not in registry and "aten::linear" not in registry
    text = (ROOT / "docs" / "security.md").read_text()
    block = re.search(r"<!-- outside-reaching operators: begin.*?-->(.*?)<!-- outside-reaching operators: end",
                      text, re.S)
    assert block, "docs/security.md lost its operator list"
    documented = re.findall(r"^- `([^`]+)`$", block.group(1), re.M)
    assert documented == registry, "update docs/security.md's list to:\n" + "\n".join(f"- `{op}`" for op in registry)


class Saves(torch.nn.Module):
    def forward(self, x: torch.Tensor, path: str) -> torch.Tensor:
        torch.save(x, path)  # aten::save: writes a file, found from its schema's `filename`
        return x


def test_audit_flags_a_file_write_no_list_named(tmp_path):
    path = tmp_path / "saves.pt"
    torch.jit.save(torch.jit.script(Saves()), str(path))
    result = _finishes([sys.executable, "-m", "tsrt.cli", "inspect", "--audit", "--json", str(path)])
    assert result.returncode == 0, result.stderr
    assert "aten::save" in json.loads(result.stdout)
    with raises_tsrt("invalid_model", "outside the allow-list", "aten::save"):
        tsrt.load(path, allowed_operators=["prim::*"])


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_no_extracted_package_is_left_after_a_signal(aoti_packages, tmp_path, signal_name):
    import signal
    import time

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen([str(INFER), str(aoti_packages["extra_method"]), "--bench", "--duration", "30"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # Loaded and serving: the benchmark prints nothing before it ends, so wait for the
        # load to finish by the folder coming and going (or a few seconds at most).
        time.sleep(4)
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        process.send_signal(getattr(signal, signal_name))
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert list(tmp_path.iterdir()) == [], "an extraction folder was left behind"
