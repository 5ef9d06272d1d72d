"""Where an export writes: nothing reaches the output path unless it was verified.

The file is written beside the output (same directory, so the final rename is
atomic), verified there, and renamed onto the output path only when it passed. A
file that failed is kept under a name that says so, for the user to inspect; a
build step that checks for the output path never finds an unverified model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def rejected_path(path: Path) -> Path:
    """model.pt -> model.rejected.pt: the name a file that failed verification keeps."""
    return path.with_name(f"{path.stem}.rejected{path.suffix}")


@contextlib.contextmanager
def staged(path: str | Path) -> Iterator[Path]:
    """Yields a fresh path beside `path` to write and verify; the caller publishes it
    with publish(). A staged file left behind (an exception) is removed.

    The staged file has the output's own name, inside a fresh hidden directory: torch
    stores a file's name inside its archive (every entry sits under `<stem>/`), so a
    temporary file name would end up in the model and two exports of one model would
    differ byte for byte."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", suffix=".partial", dir=target.parent))
    staging = directory / target.name
    try:
        yield staging
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def publish(staging: Path, path: str | Path) -> None:
    """Moves a verified staged file onto `path` (atomic within one filesystem)."""
    os.replace(staging, path)


def reject(staging: Path, path: str | Path) -> Path:
    """Keeps a staged file that failed verification as <stem>.rejected<suffix>, and
    removes an older file at `path` so that nothing stale passes for this export."""
    target = rejected_path(Path(path))
    os.replace(staging, target)
    Path(path).unlink(missing_ok=True)
    return target
