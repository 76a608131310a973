"""Where the accuracy tests' thresholds come from.

Runs every test marked ``accuracy`` over many seeds (``FASHION_CLUSTER_TEST_SEED``) and
with 1 and 2 threads, collects the scores each test records (``measured`` fixture, via
``--junitxml``), and prints min / median / max per score. Then runs them once per
deliberate breakage (``tests/helpers/sabotage.py``: random labels, a collapsed
clustering, networks that do not train) and lists which tests fail, which should be all
of them.

    python benchmarks/bench_thresholds.py --seeds 10 --out benchmarks/results/thresholds.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from common import machine, table

ROOT = Path(__file__).resolve().parents[1]


def run_tests(seed: int, threads: int, sabotage: str = "", select: str = "") -> dict:
    """Run the accuracy tests once; returns {"scores": {name: value}, "failed": [...]}."""
    env = {**os.environ, "FASHION_CLUSTER_TEST_SEED": str(seed), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "FASHION_CLUSTER_SABOTAGE": sabotage,
           # the sabotage plugin (-p sabotage) is test infrastructure: tests/helpers/
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "helpers"),
                                          os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-m", "accuracy", "-p", "sabotage",
               "-p", "no:cacheprovider", f"--junitxml={report}", "-o", "junit_family=xunit1"]
        if select:
            cmd += ["-k", select]
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        tree = ET.parse(report)
    scores, failed, names = {}, [], []
    for case in tree.iter("testcase"):
        name = case.get("name")
        names.append(name)
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        for prop in case.iter("property"):
            scores[prop.get("name")] = float(prop.get("value"))
    return {"scores": scores, "failed": failed, "tests": names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts to run with (default 1 2)")
    parser.add_argument("--select", default="", help="pytest -k expression (default: all)")
    parser.add_argument("--no-sabotage", action="store_true", help="skip the broken runs")
    parser.add_argument("--out", type=Path, help="also write the Markdown log here")
    args = parser.parse_args()

    values: dict[str, list[float]] = defaultdict(list)
    lines = [f"# Accuracy-test thresholds: {time.strftime('%Y-%m-%d')}", "",
             f"Machine: {machine()}.", "",
             f"`python benchmarks/bench_thresholds.py --seeds {args.seeds} --threads "
             f"{' '.join(map(str, args.threads))}`" + (f" `--select '{args.select}'`"
                                                      if args.select else ""), ""]
    failures = []
    for threads in args.threads:
        for seed in range(args.seeds):
            tic = time.perf_counter()
            result = run_tests(seed, threads, select=args.select)
            for name, value in result["scores"].items():
                values[name].append(value)
            failures += [(threads, seed, f) for f in result["failed"]]
            print(f"threads {threads} seed {seed}: {time.perf_counter() - tic:.0f} s, "
                  f"failed {result['failed']}", flush=True)
    rows = [[name, len(v), f"{min(v):.4f}", f"{sorted(v)[len(v) // 2]:.4f}", f"{max(v):.4f}"]
            for name, v in sorted(values.items())]
    lines += ["## Working methods", "",
              "A test records its scores up to its first failed assertion, so a score has fewer "
              "runs where an earlier assertion of its test failed.", "",
              table(["score", "runs", "min", "median", "max"], rows),
              "", "Failed runs: " + (", ".join(f"{f} (threads {t}, seed {s})"
                                               for t, s, f in failures) or "none"), ""]
    if not args.no_sabotage:
        lines += ["## Broken on purpose (seed 0, 2 threads)", ""]
        broken_rows, broken_scores = [], defaultdict(dict)
        for mode in ("random", "collapse", "untrained"):
            result = run_tests(0, max(args.threads), sabotage=mode, select=args.select)
            for name, value in result["scores"].items():
                broken_scores[name][mode] = f"{value:.4f}"
            passed = sorted(set(result["tests"]) - set(result["failed"]))
            broken_rows.append([mode, f"{len(result['failed'])} of {len(result['tests'])}",
                                ", ".join(passed) or "none"])
            for name, value in sorted(result["scores"].items()):
                print(f"{mode}: {name} = {value:.4f}")
            print(f"{mode}: failed {result['failed']}", flush=True)
        lines += [table(["breakage", "tests failed", "tests that still passed"], broken_rows), "",
                  "Scores of the broken runs (a test stops recording at its first failed "
                  "assertion, so some are missing):", "",
                  table(["score", "random", "collapse", "untrained"],
                        [[name, *(modes.get(m, "–") for m in ("random", "collapse", "untrained"))]
                         for name, modes in sorted(broken_scores.items())]), ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
