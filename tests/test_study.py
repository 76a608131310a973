"""The study end to end on a small real subset: complete metrics, reuse, recompute."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED

from fashion_cluster import cli
from fashion_cluster.config import load_preset


@pytest.mark.accuracy
def test_metrics_json_is_complete(tiny_run, measured):
    _, out, _ = tiny_run
    m = json.loads((out / "metrics.json").read_text())
    assert m["preset"] == "tiny" and m["seed"] == SEED
    assert m["dataset"]["name"] == "fashion-mnist"
    assert m["dataset"]["n_train"] == 1500 and m["dataset"]["n_test"] == 500
    assert m["elbow"]["k"] == list(range(1, 7)) and len(m["elbow"]["sse"]) == 6
    assert m["elbow"]["n_init"] == 2 and "best_k" in m["elbow"]
    dense, conv = m["autoencoders"]["dense"], m["autoencoders"]["conv"]
    assert dense["parameters"] == 813_377 and conv["parameters"] == 38_786
    assert dense["epochs"] == 4 and len(dense["loss"]) == 4 and len(dense["val_loss"]) == 4
    assert dense["train_seconds"] > 0
    assert set(m["methods"]) == {"kmeans_raw", "ae_kmeans", "ae_gmm", "conv_ae_kmeans"}
    for name, method in m["methods"].items():
        assert method["fit_seconds"] > 0, name
        for split in ("train", "test"):
            s = method[split]
            assert set(s) >= {"accuracy", "unmatched_accuracy", "nmi", "ari", "confusion"}
            cm = np.array(s["confusion"])
            assert cm.shape == (10, 10)
            assert cm.sum() == (1500 if split == "train" else 500)
            assert np.trace(cm) / cm.sum() == pytest.approx(s["accuracy"])
            # 20 runs (seeds 0-9, 1 and 2 threads; benchmarks/results/thresholds-2026-11-30.md):
            # lowest of any method and split 0.269 (AE + K-Means, 4 epochs), medians
            # 0.35-0.51; random labels 0.14, collapsed 0.10.
            assert measured(f"tiny_{name}_{split}", s["accuracy"]) > 0.2, (name, split)
        spread = method["seeds"]["test"]["accuracy"]
        assert set(spread) >= {"mean", "std", "min", "max"} and len(spread["values"]) == 2
    loss = m["autoencoders"]["dense"]["loss"]
    # Last / first epoch: max 0.569 in 20 runs, 1.00 when the network did not train.
    assert measured("tiny_dense_loss_ratio", loss[-1] / loss[0]) < 0.8
    assert m["methods"]["ae_gmm"]["info"]["converged"] in (True, False)
    assert m["versions"]["torch"] and m["timing"]["total_seconds"] > 0


@pytest.mark.soak
def test_artifacts_written(tiny_run):
    _, out, _ = tiny_run
    for path in ("elbow.json", "models/dense_ae.safetensors", "models/dense_ae.json",
                 "models/conv_ae.safetensors", "codes/dense_ae.npz", "methods/ae_gmm.npz",
                 "figures/elbow.png", "figures/kmeans_raw_centers.png",
                 "figures/ae_gmm_confusion_test.png", "figures/dense_ae_loss.png",
                 "figures/conv_ae_reconstructions.png", "report.html"):
        assert (out / path).is_file(), path
    assert not list(out.rglob("*.tmp"))
    assert not (out / "checkpoints" / "dense_ae.safetensors").exists()


def _copy(tiny_run, tmp_path) -> tuple[Path, list[str]]:
    """A copy of the shared run's folder and the run's arguments pointed at it, so that
    the shared folder stays as its first run left it for the other tests."""
    _, out, args = tiny_run
    copy = Path(shutil.copytree(out, tmp_path / "copy"))
    return copy, [str(copy) if a == str(out) else a for a in args]


@pytest.mark.soak
def test_second_run_reuses_everything(tiny_run, tmp_path):
    out, args = _copy(tiny_run, tmp_path)
    tic = time.perf_counter()
    assert cli.main(args) == 0
    elapsed = time.perf_counter() - tic
    stages = json.loads((out / "metrics.json").read_text())["timing"]["stages"]
    assert all(s["reused"] for s in stages.values()), stages
    assert elapsed < 60


@pytest.mark.soak
def test_changed_setting_recomputes_only_what_depends_on_it(tiny_run, tmp_path):
    preset = tiny_run[0]
    out, args = _copy(tiny_run, tmp_path)
    before = json.loads((out / "metrics.json").read_text())
    changed = preset.with_name("tiny2.toml")
    changed.write_text(preset.read_text().replace("sweep_seeds = [0, 1]", "sweep_seeds = [0, 2]")
                       .replace('name = "tiny"', 'name = "tiny2"'))
    args = [a if a != str(preset) else str(changed) for a in args]
    assert cli.main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    stages = m["timing"]["stages"]
    assert all(stages[s]["reused"] for s in ("dense_ae", "conv_ae", "elbow"))
    assert not stages["kmeans_raw"]["reused"]
    assert m["methods"]["kmeans_raw"]["seeds"]["seeds"] == [0, 2]
    # Same seed 0 fit: the main result is unchanged.
    assert m["methods"]["kmeans_raw"]["test"]["accuracy"] == \
        before["methods"]["kmeans_raw"]["test"]["accuracy"]


def test_quick_preset_is_small():
    quick = load_preset("quick")
    assert quick.data.n_train <= 5000 and quick.dense_ae.epochs <= 10


@pytest.mark.slow
def test_k_auto_picks_the_number_of_well_separated_groups(tmp_path):
    """``--k auto`` chooses k by the silhouette of K-Means partitions of the run's features
    (here raw pixels), without labels: on four well-separated groups of images it picks
    4, and the report says so."""
    rng = np.random.default_rng(0)
    patterns = np.zeros((4, 12, 12), np.float32)
    for c in range(4):  # a bright quadrant a group
        patterns[c, 6 * (c // 2) : 6 * (c // 2) + 6, 6 * (c % 2) : 6 * (c % 2) + 6] = 1
    labels = np.repeat(np.arange(4), 60)
    images = np.clip(patterns[labels] + rng.normal(0, 0.15, (240, 12, 12)), 0, 1)
    data = tmp_path / "groups.npz"
    np.savez(data, images=(images * 255).astype(np.uint8), labels=labels)
    preset = tmp_path / "auto.toml"
    preset.write_text('name = "auto"\nmethods = ["kmeans_raw"]\n[elbow]\nk_max = 8\n'
                      "n_init = 3\n[clustering]\nn_init = 3\nsweep_seeds = [0]\n"
                      "[report]\nmap_points = 20\n")
    out = tmp_path / "out"
    assert cli.main(["run", "--preset", str(preset), "--dataset", str(data), "--k", "auto",
                     "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["k"] == 4 and "silhouette" in metrics["k_source"]
    chosen = metrics["k_choice"]
    assert chosen["representation"] == "raw" and chosen["k"] == list(range(2, 9))
    assert chosen["best_k"] == 4 and np.argmax(chosen["silhouette"]) == 2
    assert (out / "figures" / "k_choice.png").exists()
    assert "highest at <b>k = 4</b>" in (out / "report.html").read_text()
    assert metrics["methods"]["kmeans_raw"]["test"]["accuracy"] > 0.95
