"""Building the examples as a user would: a separate CMake project that finds the
installed tsrt package with find_package(tsrt), against the tsrt this Python imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import tsrt


def _tool(name: str) -> str | None:
    """The venv's cmake/ninja (pip-installed next to this Python) before the system's."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def configure_and_build(source: Path, build: Path, *definitions: str, timeout: int = 600) -> Path:
    """cmake -S source -B build with CMAKE_PREFIX_PATH=tsrt.cmake_prefix_path, then
    cmake --build. Raises AssertionError with cmake's output when a step fails."""
    cmake = _tool("cmake")
    assert cmake, "cmake is not installed (make setup installs it into .venv)"
    generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}"] if _tool("ninja") else []
    # Only the tsrt package: its config finds the torch installed beside it.
    env = {k: v for k, v in os.environ.items() if k != "CMAKE_PREFIX_PATH"}
    steps = [
        [cmake, "-S", str(source), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release",
         f"-DCMAKE_PREFIX_PATH={tsrt.cmake_prefix_path}", f"-DPython_EXECUTABLE={sys.executable}", *definitions],
        [cmake, "--build", str(build), "--parallel", "2"],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=timeout, env=env)
        assert result.returncode == 0, f"{' '.join(step)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return build
