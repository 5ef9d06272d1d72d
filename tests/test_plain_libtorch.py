"""tsrt builds the LibTorch way, with no Python in the picture.

A C++ shop has LibTorch unpacked in its build image and points CMake at it
(CMAKE_PREFIX_PATH or Torch_DIR, LibTorch's own convention). Here the torch wheel's
share/cmake stands in for that LibTorch, given as a plain prefix, and CMake runs in an
environment whose PATH holds only the build tools (no python3 on it) with Python's CMake
package disabled, so that any step that still asked Python would fail the test:

- the project itself configures (Torch and nlohmann/json found from the prefix);
- examples/hello_tsrt builds against the installed libtsrt and runs a model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.utils

import tsrt

ROOT = Path(__file__).resolve().parent.parent
TORCH_PREFIX = torch.utils.cmake_prefix_path  # <site-packages>/torch/share/cmake, holding Torch/


def _real_tool(name: str) -> str | None:
    """A compiled cmake/ninja/c++ (not pip's Python wrapper script of cmake)."""
    for candidate in (f"/usr/bin/{name}", shutil.which(name), str(Path(sys.executable).parent / name)):
        if candidate and os.path.isfile(candidate) and not open(candidate, "rb").read(2) == b"#!":
            return candidate
    return None


CMAKE = _real_tool("cmake")
pytestmark = pytest.mark.skipif(CMAKE is None, reason="no compiled cmake binary (pip's wrapper needs Python)")


def json_prefix() -> str:
    """A prefix holding include/nlohmann/json.hpp: the nlohmann-json PyPI package's directory
    (a LibTorch build image would have apt's nlohmann-json3-dev in /usr instead)."""
    import nlohmann_json

    return os.path.dirname(nlohmann_json.__file__)


def without_python(tmp_path: Path) -> dict:
    """An environment like `env -i` whose PATH is one directory of symlinks to the build
    tools and whatever the compiler driver calls (as, ld), and no python anywhere on it."""
    tools = tmp_path / "tools"
    tools.mkdir()
    names = {"cmake": CMAKE, "ninja": _real_tool("ninja"), "c++": _real_tool("c++"), "ccache": _real_tool("ccache")}
    for name in ("as", "ld", "ld.bfd", "ld.gold", "ar", "ranlib", "strip", "nm", "objdump", "readelf"):
        names[name] = shutil.which(name)
    for name, target in names.items():
        if target:
            (tools / name).symlink_to(target)
    env = {"PATH": str(tools), "HOME": str(tmp_path), "LANG": "C"}
    # The C++ cache, when the suite runs with one: a warm compile, same result.
    for name in ("CCACHE_DIR", "CCACHE_BASEDIR", "CMAKE_CXX_COMPILER_LAUNCHER"):
        if name in os.environ and (name != "CMAKE_CXX_COMPILER_LAUNCHER" or names["ccache"]):
            env[name] = os.environ[name]
    assert not any((tools / p).exists() for p in ("python", "python3"))
    return env


def cmake(env: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([CMAKE, *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"cmake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def generator(env: dict) -> list[str]:
    return ["-G", "Ninja"] if (Path(env["PATH"]) / "ninja").exists() else []


def test_the_project_configures_against_a_plain_libtorch_prefix(tmp_path):
    env = without_python(tmp_path)
    result = cmake(env, "-S", str(ROOT), "-B", str(tmp_path / "build"), *generator(env),
                   "-DTSRT_BUILD_PYTHON=OFF", "-DTSRT_BUILD_TESTS=OFF", "-DCMAKE_DISABLE_FIND_PACKAGE_Python=ON",
                   f"-DCMAKE_PREFIX_PATH={TORCH_PREFIX};{json_prefix()}", timeout=300)
    assert f"tsrt: torch {torch.__version__.split('+')[0]}" in result.stdout
    assert "found via Torch_DIR / CMAKE_PREFIX_PATH" in result.stdout
    cache = (tmp_path / "build" / "CMakeCache.txt").read_text()
    assert "Python_EXECUTABLE:" not in cache or "Python_EXECUTABLE:FILEPATH=\n" in cache


def test_without_libtorch_or_python_the_error_says_what_to_give(tmp_path):
    env = without_python(tmp_path)
    result = subprocess.run([CMAKE, "-S", str(ROOT), "-B", str(tmp_path / "build"), *generator(env),
                             "-DTSRT_BUILD_PYTHON=OFF", "-DTSRT_BUILD_TESTS=OFF",
                             "-DCMAKE_DISABLE_FIND_PACKAGE_Python=ON", f"-DCMAKE_PREFIX_PATH={json_prefix()}",
                             # not the checkout's .venv either: a source tree without one
                             "-DPython_EXECUTABLE="],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    assert "LibTorch not found" in result.stderr and "-DCMAKE_PREFIX_PATH=/path/to/libtorch" in result.stderr


def test_hello_tsrt_builds_and_runs_on_the_installed_libtsrt_without_python(tmp_path):
    env = without_python(tmp_path)
    build = tmp_path / "hello"
    cmake(env, "-S", str(ROOT / "examples" / "hello_tsrt"), "-B", str(build), *generator(env),
          "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_DISABLE_FIND_PACKAGE_Python=ON",
          f"-DCMAKE_PREFIX_PATH={TORCH_PREFIX};{tsrt.cmake_prefix_path}", timeout=300)
    cmake(env, "--build", str(build), "--parallel", "2")

    model = torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.Tanh()).eval()
    tsrt.export(model, (torch.rand(2, 8),), tmp_path / "tiny.pt")
    result = subprocess.run([str(build / "hello_tsrt"), str(tmp_path / "tiny.pt")], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "output" in result.stdout and "float32" in result.stdout


def test_a_python_without_torch_is_told_about_build_isolation(tmp_path):
    # pip's build isolation builds in a fresh venv without the torch installed: say so.
    env = without_python(tmp_path)
    no_torch = tmp_path / "python-without-torch"
    no_torch.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n")
    no_torch.chmod(0o755)
    result = subprocess.run([CMAKE, "-S", str(ROOT), "-B", str(tmp_path / "build"), *generator(env),
                             "-DTSRT_BUILD_PYTHON=ON", "-DTSRT_BUILD_TESTS=OFF", f"-DPython_EXECUTABLE={no_torch}"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "Install torch into this Python first" in message and "--no-build-isolation" in message, result.stderr
