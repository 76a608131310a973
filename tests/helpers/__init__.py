"""Test infrastructure that is not a test: image-set recipes shared with
benchmarks/bench_image_sets.py, and the sabotage plugin of benchmarks/bench_thresholds.py."""
