"""Run every benchmark in turn (``make bench``); each prints its own Markdown table.

The scikit-learn baselines take a long time on 2 cores (the elbow sweep alone about
15 minutes, the whole baseline pipeline about 30): the whole set runs for about an hour.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ["bench_training.py"],
    ["bench_elbow.py", "--repeats", "3", "--baseline-repeats", "1"],
    ["bench_gmm.py"],
    ["bench_allocator.py"],
    ["bench_scaling.py"],
    ["bench_pipeline.py"],
    ["bench_distributed.py"],
    ["bench_step.py"],
    ["bench_predict.py"],  # needs results/paper and results/best (make run, PRESET=best)
    ["bench_presets.py", "--presets", "paper,fast,best", "--seeds", "0"],
]

if __name__ == "__main__":
    failed = []
    for args in BENCHMARKS:
        print(f"\n===== {' '.join(args)} =====", flush=True)
        if subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]]).returncode:
            failed.append(args[0])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
