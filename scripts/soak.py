"""Long-run memory check: many calls on one loaded model with shapes varying over
the declared dynamic dimensions; resident memory must settle.

    python scripts/soak.py --model transformer_encoder --calls 10000

Prints RSS after the first call, at call 1,000 and at the end, and the growth
from 1,000 to the end (target: under 5%). Exit 1 above --max-growth.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path


from tsrt import zoo
import tsrt


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="transformer_encoder", help="zoo model name")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--max-growth", type=float, default=5.0, help="percent, from call 1,000 to the end")
    args = parser.parse_args()

    entry = zoo.get(args.model)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / f"{args.model}.pt"
        entry.export(path, "auto")
        model = tsrt.load(path)
        rng = random.Random(0)
        # A pool of inputs over the dynamic dimensions, so input memory is not what grows.
        pool = []
        for seed in range(16):
            sizes = {s.name: {d: rng.randint(1, 2 * s.shape[d]) for d in s.dynamic_dims} for s in entry.inputs}
            pool.append(entry.example_inputs(seed=seed, sizes=sizes))
        first = checkpoint = None
        for call in range(1, args.calls + 1):
            outputs = model(*pool[call % len(pool)])
            if call == 1:
                first = rss_mib()
                leaves = outputs if isinstance(outputs, tuple) else (outputs,)
                assert not any(t.requires_grad or t.grad_fn is not None for t in leaves if hasattr(t, "grad_fn")), \
                    "outputs carry autograd state"
            if call == 1000:
                checkpoint = rss_mib()
        end = rss_mib()
    growth = (end - checkpoint) / checkpoint * 100
    print(f"{args.model}: RSS after call 1: {first:.1f} MiB, call 1,000: {checkpoint:.1f} MiB, "
          f"call {args.calls:,}: {end:.1f} MiB; growth from 1,000: {growth:+.2f}%")
    return 0 if growth < args.max_growth else 1


if __name__ == "__main__":
    sys.exit(main())
