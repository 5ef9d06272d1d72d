"""The tsrt model zoo: small models that each exercise one TorchScript feature or trap.

`ZOO` maps a model name to its `ZooEntry` (in a fixed order); `get(name)` looks one up.
"""

from __future__ import annotations

from tsrt.zoo.entry import ZooEntry

from . import (extra_method, gated, gru_seq, mixed_outputs, mlp, multi_io, resnet_cnn,
               transformer_encoder)

ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in (
        mlp.ENTRY,
        resnet_cnn.ENTRY,
        gated.ENTRY,
        gru_seq.ENTRY,
        transformer_encoder.ENTRY,
        multi_io.ENTRY,
        extra_method.ENTRY,
        mixed_outputs.ENTRY,
    )
}


def get(name: str) -> ZooEntry:
    """The zoo entry called `name`; KeyError listing the valid names otherwise."""
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(f"unknown model '{name}'; valid names: {', '.join(ZOO)}") from None


__all__ = ["ZOO", "get"]
