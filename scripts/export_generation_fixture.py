#!/usr/bin/env python3
"""The fixture of cpp/tests/test_generator.cpp (ctest): tiny random-weight causal LMs
exported with tsrt.export_causal_lm, and what Hugging Face generate(do_sample=False)
answers for a prompt, so that the C++ test compares tsrt::Generator with HF itself.

Writes OUT/<arch>.pt and OUT/<arch>.txt: line 1 the prompt's ids, line 2 HF's new ids
(space-separated), for each architecture of tsrt.testing.tiny_lms.

    .venv/bin/python scripts/export_generation_fixture.py --out build/test_data/generation
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tsrt  # before torch: tsrt sets OpenMP's wait policy
import torch

PROMPT = [5, 17, 99, 3, 64, 8, 120]
NEW_TOKENS = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--architectures", default="gpt2,llama")
    args = parser.parse_args()
    from tsrt.testing import corpus, torchvision_ops

    if corpus.library_available("torchvision"):
        torchvision_ops.install()
    from tsrt.testing.tiny_lms import ARCHITECTURES

    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.architectures.split(","):
        model = ARCHITECTURES[name]()
        tsrt.export_causal_lm(model, args.out / f"{name}.pt")
        ids = torch.tensor([PROMPT])
        with torch.no_grad():
            new = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                                 do_sample=False)[0, len(PROMPT):].tolist()
        (args.out / f"{name}.txt").write_text(" ".join(map(str, PROMPT)) + "\n" + " ".join(map(str, new)) + "\n")


if __name__ == "__main__":
    main()
