"""Where a diagnosis points, and what it quotes: "file:line" locations (split,
normalised, shown relative to the working directory), the source line at one, and
the parsed source of a function the static scan reads.

Every stage of the doctor locates its findings with these, so that the same place
is written the same way whichever stage found it, and findings de-duplicate on it.
"""

from __future__ import annotations

import ast
import inspect
import io
import linecache
import os
import textwrap
import tokenize
import types
from dataclasses import dataclass


@dataclass
class FunctionSource:
    """The dedented source of one function and where it lies in its file."""

    file: str
    first_line: int
    text: str
    tree: ast.Module

    @property
    def definition(self) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The function's `def`; None when its source is not one (a lambda's line)."""
        node = self.tree.body[0] if self.tree.body else None
        return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None

    def location(self, node: ast.AST) -> str:
        """file:line of `node` in the file (the tree's lines count from the function)."""
        return f"{self.file}:{self.first_line + node.lineno - 1}"

    def segment(self, node: ast.AST) -> str:
        """`node` as written, on one line and shortened."""
        text = ast.get_source_segment(self.text, node) or ast.unparse(node)
        return shorten(" ".join(text.split()))


def source_of(function: types.FunctionType) -> FunctionSource | None:
    """The parsed source of `function`; None when it cannot be read (exec(), a REPL)
    or parsed."""
    try:
        lines, first_line = inspect.getsourcelines(function)
        file = inspect.getsourcefile(function) or function.__code__.co_filename
    except (OSError, TypeError):
        return None
    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    return FunctionSource(normalize_path(file), max(first_line, 1), text, tree)


def shorten(text: str, limit: int = 100) -> str:
    """`text` cut to `limit` characters, ending in "..." when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_path(path: str) -> str:
    """An absolute path when the file exists (else as given), so that one file is
    always written the same way."""
    return os.path.abspath(path) if os.path.exists(path) else path


def normalize_location(location: str) -> str:
    """`location` ("file:line") with its path normalised; "" stays ""."""
    if not location:
        return ""
    path, line = split_location(location)
    return f"{normalize_path(path)}:{line}" if line else location


def split_location(location: str) -> tuple[str, int]:
    """("file", line) of "file:line"; line 0 when there is none."""
    path, _, line = location.rpartition(":")
    return (path, int(line)) if line.isdigit() else (location, 0)


def source_line(location: str) -> str:
    """The code at `location`, stripped of its comment and shortened; "" when unknown."""
    if not location:
        return ""
    path, line = split_location(location)
    return shorten(_without_comment(linecache.getline(path, line)).strip()) if line else ""


def _without_comment(line: str) -> str:
    """The line without a trailing # comment (one inside a string stays)."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return line[: token.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass
    return line


def display_location(location: str) -> str:
    """The location relative to the working directory when the file lies below it."""
    path, line = split_location(location)
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            path = relative
    return f"{path}:{line}" if line else path
