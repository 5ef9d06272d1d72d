#!/usr/bin/env python3
"""Generation speed: tsrt (tsrt.Generator, the C++ loop, at batch 1; the file's
prefill/decode from a Python loop at batch > 1) beside Hugging Face eager
generate(do_sample=False), same threads, same process, same random-weight model.

Figures: time to first token (the prefill and one argmax) and decode tokens/s per
sequence after the first, at prompt lengths 8 and 128, batch 1 and 4, for a
GPT-2-small-sized config (124M parameters, 12 layers, hidden 768, vocab 50257) by
default. Each figure is the median of --repeats runs, the peers interleaved. The
memory-bandwidth bound is the weights' bytes read once per decode step at
--bandwidth GB/s (measure yours: a STREAM-like copy; default 20, a guess for 2 cores).

    .venv/bin/python scripts/bench_generate.py                       # the table
    .venv/bin/python scripts/bench_generate.py --precision bf16 --batches 1 --prompts 8   # tsrt in bf16
    .venv/bin/python scripts/bench_generate.py --layers 2 --hidden 128 --new-tokens 16   # quick

Not a test: it times, and prints the ratio tsrt / HF. ONNX Runtime GenAI is not run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import tsrt  # before torch: tsrt sets OpenMP's wait policy
import torch


def build(layers: int, hidden: int, heads: int, vocab: int, context: int):
    from tsrt.testing import corpus, torchvision_ops

    if corpus.library_available("torchvision"):
        torchvision_ops.install()
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads, vocab_size=vocab,
                                     n_positions=context, eos_token_id=None, bos_token_id=None)
    return transformers.GPT2LMHeadModel(config).eval()


def hf_run(model, ids: torch.Tensor, new_tokens: int) -> tuple[float, float]:
    """(time to first token ms, decode tokens/s per sequence) of HF generate."""
    mask = torch.ones_like(ids)
    with torch.no_grad():
        start = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=1, min_new_tokens=1, do_sample=False)
        first = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       do_sample=False)
        total = (time.perf_counter() - start) * 1000
    return first, (new_tokens - 1) * 1000 / max(total - first, 1e-9)


def tsrt_run(loaded, ids: torch.Tensor, new_tokens: int) -> tuple[float, float]:
    if ids.shape[0] == 1:
        generator = tsrt.Generator(loaded)
        generator.append_tokens(ids[0].tolist())
        generator.generate(new_tokens)
        stats = generator.stats
        return stats["first_token_ms"], stats["decode_tokens_per_second"]
    mask = torch.ones_like(ids)
    start = time.perf_counter()
    logits, keys, values = loaded.run("prefill", ids, mask)
    next_ids = logits.argmax(-1, keepdim=True)
    first = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    for _ in range(new_tokens - 1):
        mask = torch.cat([mask, torch.ones_like(next_ids)], 1)
        logits, keys, values = loaded.run("decode", next_ids, mask, keys, values)
        next_ids = logits.argmax(-1, keepdim=True)
    return first, (new_tokens - 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--prompts", default="8,128")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--bandwidth", type=float, default=20.0, help="GB/s for the memory-bandwidth bound")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="tsrt's load precision (HF stays float32)")
    parser.add_argument("--json", type=Path, default=Path("bench_results/generate.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tsrt.set_num_threads(args.threads)
    model = build(args.layers, args.hidden, args.heads, args.vocab, args.context)
    weight_bytes = sum({p.data_ptr(): p.numel() * p.element_size() for p in model.parameters()}.values())
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "lm.pt"
        start = time.perf_counter()
        tsrt.export_causal_lm(model, path)
        export_s = time.perf_counter() - start
        loaded = tsrt.load(str(path), precision=args.precision)
        bound = args.bandwidth * 1e9 / weight_bytes
        print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters ({weight_bytes / 1e6:.0f} MB), "
              f"export {export_s:.1f} s, {args.threads} threads, tsrt in {args.precision}; bandwidth bound {bound:.0f} steps/s "
              f"at {args.bandwidth:g} GB/s")
        rows = []
        generator = torch.Generator().manual_seed(0)
        for batch in (int(b) for b in args.batches.split(",")):
            for length in (int(p) for p in args.prompts.split(",")):
                ids = torch.randint(0, args.vocab, (batch, length), generator=generator)
                tsrt_run(loaded, ids, 3)  # first calls (profiling executor) out of the timing
                hf_run(model, ids, 3)
                runs = {"tsrt": [], "hf": []}
                for _ in range(args.repeats):
                    runs["tsrt"].append(tsrt_run(loaded, ids, args.new_tokens))
                    runs["hf"].append(hf_run(model, ids, args.new_tokens))
                row = {"batch": batch, "prompt": length}
                for peer, values in runs.items():
                    row[f"{peer}_first_token_ms"] = statistics.median(v[0] for v in values)
                    row[f"{peer}_decode_tokens_per_s"] = statistics.median(v[1] for v in values)
                row["decode_ratio"] = row["tsrt_decode_tokens_per_s"] / row["hf_decode_tokens_per_s"]
                row["tsrt_steps_per_s_of_bound"] = row["tsrt_decode_tokens_per_s"] / bound
                rows.append(row)
                print(f"batch {batch} prompt {length:4d}: first token tsrt {row['tsrt_first_token_ms']:7.1f} ms, "
                      f"HF {row['hf_first_token_ms']:7.1f} ms | decode tsrt {row['tsrt_decode_tokens_per_s']:7.1f}, "
                      f"HF {row['hf_decode_tokens_per_s']:7.1f} tokens/s per sequence: {row['decode_ratio']:.2f}x; "
                      f"tsrt at {row['tsrt_steps_per_s_of_bound']:.0%} of the bandwidth bound")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"weight_bytes": weight_bytes, "export_s": export_s, "threads": args.threads, "precision": args.precision,
                                     "bandwidth_gb_s": args.bandwidth, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
