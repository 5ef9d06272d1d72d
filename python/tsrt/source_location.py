"""Telling the user's code from the libraries': the frame or file:line a message points
at must be one the user can edit, not torch's or tsrt's own."""

from __future__ import annotations

import os
import re
import traceback

import torch

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_TSRT_DIR = os.path.dirname(os.path.abspath(__file__))
# The zoo ships inside tsrt but stands for user code: its models are what users write.
_ZOO_DIR = os.path.join(_TSRT_DIR, "zoo")


def is_library_file(path: str) -> bool:
    """True for files of torch or of tsrt itself (not tsrt's zoo models)."""
    path = os.path.abspath(path)
    if path.startswith(_ZOO_DIR + os.sep):
        return False
    return path.startswith(_TORCH_DIR + os.sep) or path.startswith(_TSRT_DIR + os.sep)


def user_frame(error: BaseException) -> tuple[str, int, str] | None:
    """(file, line, code) of the innermost frame outside torch and tsrt in `error`'s
    tracebacks (its cause and context too), else the last such 'File ..., line ...'
    that torch quotes in its message."""
    found = None
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame in traceback.extract_tb(current.__traceback__):
            if not is_library_file(frame.filename) and "<" not in frame.filename:
                found = (frame.filename, frame.lineno or 0, (frame.line or "").strip())
        current = current.__cause__ or current.__context__
    if found is None:
        quoted = re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s*(.*)', str(error))
        for filename, line, code in quoted:
            if not is_library_file(filename):
                found = (filename, int(line), code.strip())
    return found
