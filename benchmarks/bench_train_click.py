"""Training throughput of the click model: what each robot-in-the-loop step costs, and what buys more of them.

    .venv/bin/python benchmarks/bench_train_click.py [--steps 40] [--json out.json]

On real BTCV slices (three training patients from ../shared/data), with the bundled click model's network, one
torch thread, batch 16 at 96 x 96 and the default correction schedule, it times whole training steps (sampling,
robot simulation with the SDK's own passes, the update) under four settings, interleaved round by round so that a
noisy neighbour hurts them alike:

  fp32, BLAS free     the v1 / v2 recipe: float32 passes, numpy's BLAS left with its default threads
  fp32, BLAS capped   numpy's BLAS capped to the torch thread count (`radseg._blas.blas_limiter`)
  bf16, BLAS free     bfloat16 autocast for every forward pass (`radseg.training.loop.autocast`)
  bf16, BLAS capped   both: what `radseg train click` does now on a CPU with native bfloat16

and prints median samples/s per setting, the ratio to the first, and the split of one step between the simulation
(no-grad passes, robot) and the update (forward, backward, optimiser). A second table repeats the fp32 / bf16
comparison of the simulation's masks: the share of pixels on which a bf16 pass and an fp32 pass agree.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np


def _bank(root, manifest):
    from radseg.training.data import btcv
    from radseg.training.data.slices import SliceBank

    bank = SliceBank()
    for case in btcv.cases(root)[:3]:
        bank.add_volume(btcv.load(root, case), manifest, min_area=4)
    return bank.finalize()


def main(argv=None) -> int:
    import torch

    from radseg._blas import blas_limiter
    from radseg.eval.datasets import find_data_root
    from radseg.training.click import train as T
    from radseg.training.loop import optimise, resolve_precision

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=40, help="timed steps per setting (40)")
    ap.add_argument("--data", default=None, help="the shared data folder")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ckpt = T.load_checkpoint("sdk/models/click")
    model, manifest = T.model_from_checkpoint(ckpt)
    model = model.to(memory_format=torch.channels_last)
    bank = _bank(find_data_root(args.data), manifest)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-9)  # a near-zero step: every setting times the same network
    native_bf16 = resolve_precision("auto") == "bf16"
    settings = [("fp32", False), ("fp32", True)] + ([("bf16", False), ("bf16", True)] if native_bf16 else [])
    rng = np.random.default_rng(0)
    times = {s: [] for s in settings}
    split = {s: [] for s in settings}

    def step(precision):
        t0 = time.perf_counter()
        cases = bank.sample_balanced(rng, 16)
        state = T.simulate(model, bank, cases, manifest, rng, T.correction_count(rng, 5), 0.3, precision=precision)
        x, y = T.training_batch(state, manifest, rng)
        t1 = time.perf_counter()
        optimise(model, opt, x.contiguous(memory_format=torch.channels_last), y, 0.5, precision)
        t2 = time.perf_counter()
        return t2 - t0, t1 - t0

    for s in settings:  # warm-up
        with blas_limiter(1 if s[1] else None)():
            step(s[0])
    for _ in range(args.steps):
        for s in settings:
            with blas_limiter(1 if s[1] else None)():
                total, sim = step(s[0])
            times[s].append(total)
            split[s].append(sim / total)
    base = statistics.median(times[settings[0]])
    rows = []
    print(f"click training step, batch 16 at {manifest.input_size}, one torch thread, {args.steps} steps each")
    print(f"{'setting':<22}{'samples/s':>10}{'vs fp32':>9}{'simulation share':>18}")
    for s in settings:
        med = statistics.median(times[s])
        name = f"{s[0]}, BLAS {'capped' if s[1] else 'free'}"
        rows.append({"setting": name, "samples_per_s": round(16 / med, 1), "ratio": round(base / med, 2),
                     "simulation_share": round(statistics.median(split[s]), 2)})
        print(f"{name:<22}{16 / med:>10.1f}{base / med:>8.2f}x{statistics.median(split[s]):>17.0%}")
    agree = None
    if native_bf16:
        cases = bank.sample_balanced(np.random.default_rng(1), 64)
        state = T.simulate(model, bank, cases, manifest, np.random.default_rng(1), 0, 0.0)
        xs = np.stack([T.make_input(s["img"], s["clicks"], None, s["sp"], manifest)[0][0] for s in state])
        a = T.predict_logits(model, xs, precision="fp32") > 0
        b = T.predict_logits(model, xs, precision="bf16") > 0
        agree = float((a == b).mean())
        print(f"simulation masks, bf16 vs fp32 pass on 64 first clicks: {agree:.2%} of pixels agree")
    else:
        print("this CPU has no native bfloat16: only the fp32 settings were timed")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "bf16_pixel_agreement": agree, "steps": args.steps}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
