"""Start-up: what does not need torch does not import it (torch costs seconds a start).

`import tsrt`, `tsrt --help`, `tsrt --version`, `tsrt cmake-prefix` and the `infer`
console script (which execs the C++ binary) must not import torch; the first attribute
that needs it (tsrt.load, tsrt.Error, ...) does. Each check runs in a fresh interpreter
with PYTHONPROFILEIMPORTTIME, which logs every module the process imports to stderr, so
the installed console scripts themselves are checked, not a function called in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tsrt

BIN = Path(sys.executable).parent
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def run(command: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Runs `command`; returns its result and the top-level modules its Python imported."""
    environment = {**os.environ, **(env or {}), "PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:") and "|" in line}
    return result, imported


def script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"console script {name} is not installed beside {sys.executable}")
    return str(path)


def test_import_tsrt_does_not_import_torch():
    result, imported = run([sys.executable, "-c", "import tsrt; print(tsrt.__version__)"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == tsrt.__version__
    assert "tsrt" in imported and "torch" not in imported


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["cmake-prefix"], ["export", "--help"]])
def test_tsrt_commands_that_need_no_torch_do_not_import_it(args):
    result, imported = run([script("tsrt"), *args])
    assert result.returncode == 0, result.stderr
    assert "torch" not in imported, f"tsrt {' '.join(args)} imported torch"


def test_tsrt_version_and_cmake_prefix_say_the_right_thing():
    version, _ = run([script("tsrt"), "--version"])
    assert version.stdout.strip() == f"tsrt {tsrt.__version__}"
    prefix, _ = run([script("tsrt"), "cmake-prefix"])
    directory = Path(prefix.stdout.strip())
    assert (directory / "lib" / "cmake" / "tsrt" / "tsrtConfig.cmake").is_file()
    assert str(directory) == tsrt.cmake_prefix_path


def test_infer_launcher_execs_the_binary_without_torch():
    result, imported = run([script("infer"), "--version"])
    assert result.returncode == 0, result.stderr
    # The binary's own line (the launcher prints nothing): the one version, from version.py.
    assert f"infer (tsrt) {tsrt.__version__}" in result.stdout
    assert "tsrt" in imported and "torch" not in imported


def test_attributes_that_need_torch_import_it_on_first_use():
    code = ("import sys, tsrt; assert 'torch' not in sys.modules; "
            "error = tsrt.Error; assert 'torch' in sys.modules and 'tsrt._C' in sys.modules; "
            "assert tsrt.load.__module__ == 'tsrt.model' and callable(tsrt.export); "
            "assert set(tsrt.__all__) <= set(dir(tsrt))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_subpackages_are_attributes_on_first_use():
    code = "import tsrt; assert tsrt.zoo.get('mlp') is not None and tsrt.triton.__name__ == 'tsrt.triton'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        tsrt.no_such_thing  # noqa: B018


def environment(**wait: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}, **wait}


def test_importing_tsrt_after_torch_warns_once_that_the_openmp_default_is_lost():
    # libgomp read its wait policy as torch loaded: tsrt can no longer choose it, and says so.
    code = "import torch, tsrt; import os; print(os.environ.get('GOMP_SPINCOUNT'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=environment())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"
    assert result.stderr.count("RuntimeWarning: tsrt was imported after torch") == 1, result.stderr
    assert "GOMP_SPINCOUNT=1000" in result.stderr


@pytest.mark.parametrize("first,wait", [("tsrt", {}), ("torch", {"GOMP_SPINCOUNT": "5000"}),
                                        ("torch", {"OMP_WAIT_POLICY": "PASSIVE"})])
def test_no_warning_when_tsrt_comes_first_or_the_environment_chose(first, wait):
    imports = "import tsrt, torch" if first == "tsrt" else "import torch, tsrt"
    result = subprocess.run([sys.executable, "-W", "error", "-c", imports], capture_output=True, text=True,
                            timeout=120, env=environment(**wait))
    assert result.returncode == 0, result.stderr
    assert "imported after torch" not in result.stderr
