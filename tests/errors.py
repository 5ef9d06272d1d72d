"""Asserting on tsrt.Error: its code and the fragments its message must contain."""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

import tsrt


@contextlib.contextmanager
def raises_tsrt(code: str, *fragments: str) -> Iterator[pytest.ExceptionInfo]:
    """The block raises tsrt.Error (a RuntimeError) with `.code == code` and a message containing `fragments`."""
    with pytest.raises(tsrt.Error) as info:
        yield info
    error = info.value
    assert isinstance(error, RuntimeError), "tsrt.Error must be a RuntimeError subclass"
    assert getattr(error, "code", None) == code, f"expected code {code!r}, got {getattr(error, 'code', None)!r}: {error}"
    for fragment in fragments:
        assert fragment in str(error), f"{fragment!r} not in the message: {error}"
