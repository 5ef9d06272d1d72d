"""libtsrt from another CMake project: the installed package (headers, libtsrt,
tsrtConfig.cmake) builds examples/hello_tsrt with find_package(tsrt), and the
program runs exported models."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import torch

from tsrt import zoo
import tsrt
from conftest import ROOT
from consumer import configure_and_build
from tsrt.cli import main as tsrt_main
from tsrt.contract import flatten_outputs

HELLO = ROOT / "examples" / "hello_tsrt"


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/hello_tsrt configured and built from scratch against the installed package."""
    build = configure_and_build(HELLO, tmp_path_factory.mktemp("hello_build"))
    return build / "hello_tsrt"


def run(binary: Path, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_package_layout_and_cmake_prefix_command(capsys):
    prefix = Path(tsrt.cmake_prefix_path)
    for relative in ("include/tsrt/model.h", "include/tsrt/error.h", "lib/libtsrt.so",
                     "lib/cmake/tsrt/tsrtConfig.cmake", "lib/cmake/tsrt/tsrtConfigVersion.cmake",
                     "lib/cmake/tsrt/tsrtTargets.cmake"):
        assert (prefix / relative).is_file(), f"{relative} missing from the installed package at {prefix}"
    assert tsrt_main(["cmake-prefix"]) == 0
    assert capsys.readouterr().out.strip() == str(prefix)
    # The version file says which versions it satisfies: this one, and not another minor.
    version_file = (prefix / "lib/cmake/tsrt/tsrtConfigVersion.cmake").read_text()
    assert f'PACKAGE_VERSION "{tsrt.__version__}"' in version_file


@pytest.mark.parametrize("name,mode", [("resnet_cnn", "trace"), ("multi_io", "script"), ("gru_seq", "script")])
def test_hello_prints_the_output_shapes_of_eager(hello, zoo_dir, name, mode):
    result = run(hello, zoo_dir / f"{name}.{mode}.pt")
    assert result.returncode == 0, result.stderr
    entry = zoo.get(name)
    with torch.no_grad():
        eager = entry.build()(*entry.example_inputs())  # the example sizes, as hello_tsrt uses
    names = tsrt.load(zoo_dir / f"{name}.{mode}.pt").metadata["methods"]["forward"]["outputs"]
    expected = [f"output {path}: {str(leaf.dtype).removeprefix('torch.')}{list(leaf.shape)}"
                for path, leaf in flatten_outputs(eager, names)]
    printed = [line for line in result.stdout.splitlines() if line.startswith("output ")]
    assert printed == expected
    inputs = [line for line in result.stdout.splitlines() if line.startswith("input ")]
    assert [line.split()[1].rstrip(":") for line in inputs] == [spec.name for spec in entry.inputs]


def test_hello_errors(hello, zoo_dir, tmp_path):
    usage = run(hello)
    assert usage.returncode == 2 and "usage: hello_tsrt MODEL.pt" in usage.stderr
    missing = run(hello, tmp_path / "nope.pt")
    assert missing.returncode == 1 and "nope.pt" in missing.stderr
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))
    no_metadata = run(hello, plain)
    assert no_metadata.returncode == 2
    assert "has no tsrt metadata; export it with `tsrt export`" in no_metadata.stderr


def test_the_docs_show_the_example_program():
    """docs/cpp.md's C++ program is examples/hello_tsrt/main.cpp, which this file builds;
    the README's CMake lines are the ones that work."""
    page = (ROOT / "docs" / "cpp.md").read_text()
    source = (HELLO / "main.cpp").read_text()
    assert source.strip() in page
    assert re.search(r"find_package\(tsrt [0-9.]+ CONFIG REQUIRED\)", page)
    assert "find_package(tsrt CONFIG REQUIRED)" in (ROOT / "README.md").read_text()
