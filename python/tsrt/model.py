"""The Python face of libtsrt's Model: load a file, call it like a module."""

from __future__ import annotations

import json
from typing import Any, Sequence

from tsrt import _C


class Model:
    """A model file loaded by the C++ runtime.

    Call it with torch tensors or numpy arrays (positionally or by input name);
    it returns torch tensors in the model's own output structure (tuples, lists,
    dicts, scalars, None). The GIL is released while C++ runs, so threads sharing
    one Model run in parallel.
    """

    def __init__(self, handle: "_C.Model") -> None:
        self._handle = handle

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._handle.run("forward", args, kwargs)

    def run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Runs `method` (forward or a @torch.jit.export method, exported by name)."""
        return self._handle.run(method, args, kwargs)

    @property
    def path(self) -> str:
        return self._handle.path

    @property
    def device(self) -> str:
        return self._handle.device

    @property
    def format(self) -> str:
        return self._handle.format

    @property
    def methods(self) -> list[str]:
        return self._handle.methods

    def signature(self, method: str = "forward") -> dict[str, Any]:
        """Inputs (name, TorchScript type, default, tsrt spec) and return type of `method`."""
        return self._handle.signature(method)

    def report(self, as_json: bool = False, with_code: bool = True) -> str:
        """What `tsrt inspect` prints: methods, metadata, operators with counts, weights,
        warnings (custom operators, baked-in devices, torch version skew) and the forward code."""
        return self._handle.report(as_json, with_code)

    def verify(self) -> list[dict[str, Any]]:
        """Runs the golden inputs recorded at export and compares with the golden outputs.

        One dict per output: pair, path, passed, max_abs, max_rel, detail. Raises
        tsrt.Error when the file has no golden pairs.
        """
        return self._handle.verify()

    @property
    def extra_files(self) -> dict[str, bytes]:
        return self._handle.extra_files

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The tsrt metadata of the file, or None for files tsrt did not export."""
        text = self._handle.metadata_json
        return None if text is None else json.loads(text)

    def __repr__(self) -> str:
        return f"tsrt.Model({self.path!r}, format={self.format}, device={self.device}, methods={self.methods})"


def load(path: str, device: str = "cpu", check_inputs: bool = True,
         allowed_ops: Sequence[str] | None = None) -> Model:
    """Loads a model file with libtsrt on `device` ("cpu", "cuda", "cuda:N"): a TorchScript
    file (.pt) or an AOTInductor package (.pt2); the format is read from its contents.

    allowed_ops: when given, refuse a model that uses any operator not listed
    (exact names like "aten::linear", or "prim::*" for a namespace).
    Raises tsrt.Error when the file is missing, damaged, not a loadable model,
    or uses an operator outside `allowed_ops` (a .pt2 package with `allowed_ops`
    is refused: its operators are machine code).
    """
    return Model(_C.load(str(path), device, check_inputs, list(allowed_ops) if allowed_ops is not None else None))
