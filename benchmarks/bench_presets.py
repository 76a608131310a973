"""Whole runs of presets on Fashion-MNIST, back to back: accuracy, NMI, ARI and wall time.

For each seed, ``fashion-cluster run --preset P --seed S`` into a fresh folder for every
preset in turn, so that a preset's time can be stated as a ratio to another's measured
the same hour on the same machine (these machines drift). Each method's test accuracy,
NMI and ARI come from the run's ``metrics.json``; the wall time is the subprocess's.

    python benchmarks/bench_presets.py [--presets paper,fast,best] [--seeds 0,1,2]
        [--paper-seeds 0] [--out benchmarks/results/presets.md]

``--paper-seeds``: the seeds the ``paper`` preset runs for (its time hardly depends on
the seed; one run a seed of the others is enough for the ratio).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, table


def run(preset: str, seed: int, out: Path) -> dict:
    """One whole run; each method's test scores and the run's wall time."""
    tic = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--preset", preset,
                           "--seed", str(seed), "--out", str(out), "-q"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if done.returncode:
        raise RuntimeError(f"{preset} seed {seed}: exit {done.returncode}\n{done.stderr}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall": wall, "methods": {name: m["test"] for name, m in metrics["methods"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="paper,fast,best")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--paper-seeds", default="0")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    presets = args.presets.split(",")
    paper_seeds = {int(s) for s in args.paper_seeds.split(",")}
    lines, walls, scores = [f"Machine: {machine()}", ""], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            for preset in presets:
                if preset == "paper" and seed not in paper_seeds:
                    continue
                result = run(preset, seed, Path(tmp) / f"{preset}-{seed}")
                walls.setdefault(preset, []).append(result["wall"])
                for method, test in result["methods"].items():
                    scores.setdefault((preset, method), []).append(test)
                    line = (f"{preset} seed {seed}: {method} test {test['accuracy']:.4f}, "
                            f"NMI {test['nmi']:.3f}, ARI {test['ari']:.3f}; "
                            f"run {result['wall']:.0f} s")
                    print(line, flush=True)
                    lines.append(line)
    rows = []
    for (preset, method), tests in scores.items():
        accs = [t["accuracy"] for t in tests]
        spread = f" ± {statistics.stdev(accs):.1%}" if len(accs) > 1 else ""
        rows.append([preset, method, " / ".join(f"{a:.1%}" for a in accs),
                     f"{statistics.mean(accs):.1%}{spread}",
                     f"{statistics.mean(t['nmi'] for t in tests):.3f}",
                     f"{statistics.mean(t['ari'] for t in tests):.3f}",
                     f"{statistics.median(walls[preset]):.0f}"])
    text = "\n".join(lines + ["", table(
        ["preset", "method", "test acc. of each seed run", "mean ± sd", "NMI", "ARI",
         "median run s"], rows)])
    if "paper" in walls:
        paper = statistics.median(walls["paper"])
        text += "\n\n" + "\n".join(f"- {p}: {statistics.median(w) / paper:.2f}x the paper "
                                   "preset's wall time" for p, w in walls.items() if p != "paper")
    print(text)
    if args.out:
        args.out.write_text(f"`python benchmarks/bench_presets.py --presets {args.presets} "
                            f"--seeds {args.seeds} --paper-seeds {args.paper_seeds}`\n\n"
                            f"{text}\n")


if __name__ == "__main__":
    main()
