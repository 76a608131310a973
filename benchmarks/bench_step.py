"""The dense autoencoder's training step: plain autograd, or torch.compile.

Both use the same loop (index_select batches, fused Adam). Measures, one after the other
on one machine: seconds per dense epoch (60,000 images, batch 256, median of epochs 2..N
of each variant, variants run in the order A B B A), then the whole paper preset's wall
time and accuracies with each (``[dense_ae] step = ...``). The run logged in
``results/step-2026-11-30.md`` also measured a hand-written step, since removed: on the
whole preset it gave the same numbers and no speed.

    python benchmarks/bench_step.py [--epochs 6] [--skip-preset]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import torch
from common import fashion_train, machine, median, table

from fashion_cluster.allocator import keep_freed_memory
from fashion_cluster.autoencoders import DenseAutoencoderNet
from fashion_cluster.training import STEPS, train_autoencoder


def epoch_seconds(step: str, x, epochs: int) -> list[float]:
    torch.manual_seed(0)
    history = train_autoencoder(DenseAutoencoderNet(), x, epochs=epochs, step=step)
    return history.epoch_seconds[1:]  # the first includes warm-up (and compilation)


def preset_run(step: str, folder: Path) -> dict:
    text = (resources.files("fashion_cluster") / "presets" / "paper.toml").read_text()
    preset = folder / f"paper-{step}.toml"
    preset.write_text(text.replace("[dense_ae]\n", f'[dense_ae]\nstep = "{step}"\n'))
    out = folder / step
    tic = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--preset", str(preset),
                    "--out", str(out), "--quiet"], check=True)
    wall = time.perf_counter() - tic
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall": wall, "dense_train": metrics["autoencoders"]["dense"]["train_seconds"],
            "test": {m: v["test"]["accuracy"] for m, v in metrics["methods"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--skip-preset", action="store_true")
    args = parser.parse_args()
    keep_freed_memory()  # as the command line does
    x = fashion_train()
    print(f"# Training step: {time.strftime('%Y-%m-%d')}\n\nMachine: {machine()}.\n")
    seconds = {s: [] for s in STEPS}
    for step in [*STEPS, *reversed(STEPS)]:
        seconds[step] += epoch_seconds(step, x, args.epochs)
        print(f"{step}: {median(seconds[step]):.2f} s an epoch so far", flush=True)
    rows = [[s, len(v), f"{median(v):.2f}", f"{median(v) / median(seconds[STEPS[0]]):.3f}"]
            for s, v in seconds.items()]
    print(table(["step", "epochs timed", "median s/epoch", f"vs {STEPS[0]}"], rows))
    if args.skip_preset:
        return
    with tempfile.TemporaryDirectory() as tmp:
        runs = {s: preset_run(s, Path(tmp)) for s in STEPS}
    methods = list(runs[STEPS[0]]["test"])
    rows = [[s, f"{r['wall']:.0f}", f"{r['wall'] / runs[STEPS[0]]['wall']:.3f}",
             f"{r['dense_train']:.0f}", *(f"{r['test'][m]:.4f}" for m in methods)]
            for s, r in runs.items()]
    print("\nWhole paper preset, one run each:\n")
    print(table(["step", "wall s", f"vs {STEPS[0]}", "dense training s",
                 *(f"{m} test acc." for m in methods)], rows))


if __name__ == "__main__":
    main()
