"""README.md's C++ snippet compiles and runs as written.

The ```cpp and ```cmake blocks are read out of README.md itself (not copied here), put in
a CMake project under C++17 (the standard tsrt's recipe uses) that finds the installed
tsrt package, built, and run on a model exported for the snippet's input shape.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import torch

import tsrt
from consumer import _tool, configure_and_build

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    """The fenced code blocks of README.md in `language`, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", README.read_text(), flags=re.S | re.M)


def test_readme_has_one_cpp_and_one_cmake_block():
    assert len(blocks("cpp")) == 1 and len(blocks("cmake")) == 1


@pytest.mark.skipif(_tool("cmake") is None, reason="cmake is not installed")
def test_readme_cpp_snippet_compiles_and_runs(tmp_path):
    (cpp,), (cmake,) = blocks("cpp"), blocks("cmake")
    project = tmp_path / "project"
    project.mkdir()
    (project / "snippet.cpp").write_text(cpp)
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.21)\nproject(readme_snippet LANGUAGES CXX)\n"
        "set(CMAKE_CXX_STANDARD 17)\nset(CMAKE_CXX_STANDARD_REQUIRED ON)\nset(CMAKE_CXX_EXTENSIONS OFF)\n"
        "add_executable(my_service snippet.cpp)\n" + cmake)
    build = configure_and_build(project, tmp_path / "build")

    # The snippet loads model.pt from the current directory and feeds it 1x3x224x224.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=8), torch.nn.ReLU()).eval()
    tsrt.export(model, (torch.rand(1, 3, 224, 224),), tmp_path / "model.pt")
    result = subprocess.run([str(build / "my_service")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1, 4, 28, 28]"
