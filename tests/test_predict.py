"""``fashion-cluster predict`` and ``load_run`` on a finished run: the run's own images get
the run's clusters, every run exports its assignments, bad input gets one clear line."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from fashion_cluster import cli, load_run
from fashion_cluster.config import load_preset
from fashion_cluster.study import load_study_data

# Every test here reads the tiny study run of conftest.tiny_run (a whole preset).
pytestmark = pytest.mark.soak


@pytest.fixture(scope="module")
def run_and_data(tiny_run, real_dir):
    preset, out, _ = tiny_run
    return out, load_study_data(load_preset(str(preset)), real_dir)


def test_every_run_exports_its_assignments(run_and_data):
    out, data = run_and_data
    rows = list(csv.DictReader((out / "assignments.csv").open()))
    run = load_run(out)
    assert len(rows) == len(data.train_images) + len(data.test_images)
    assert rows[0].keys() >= {"split", "index", "class", *run.methods,
                              *(f"{m}_class" for m in run.methods)}
    for name in run.methods:
        for split in ("train", "test"):
            column = [int(r[name]) for r in rows if r["split"] == split]
            np.testing.assert_array_equal(column, run.labels[name][split])
    names = data.class_names
    assert [r["class"] for r in rows if r["split"] == "test"] == \
        [names[c] for c in data.test_labels]


def test_load_run_predicts_the_runs_own_clusters(run_and_data):
    out, data = run_and_data
    run = load_run(out)
    assert set(run.methods) == {"kmeans_raw", "ae_kmeans", "ae_gmm", "conv_ae_kmeans"}
    for name in run.methods:
        labels, confidence = run.method(name).assign(run.scale(data.test_images))
        np.testing.assert_array_equal(labels, run.labels[name]["test"], err_msg=name)
        assert (confidence is None) == (name != "ae_gmm")
    assert run.best_method() in run.methods


def test_predict_an_image_folder_and_a_single_image(run_and_data, tmp_path):
    out, data = run_and_data
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(data.test_images[i]).save(folder / f"img{i}.png")
    csv_path = tmp_path / "pred.csv"
    assert cli.main(["predict", str(out), str(folder), "--method", "ae_gmm",
                     "--out", str(csv_path), "--quiet"]) == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["image"] for r in rows] == [f"img{i}.png" for i in range(5)]
    expected = load_run(out).labels["ae_gmm"]["test"][:5]
    assert [int(r["cluster"]) for r in rows] == expected.tolist()
    assert all(r["class"] and 0 < float(r["probability"]) <= 1 for r in rows)
    one = tmp_path / "one.csv"
    assert cli.main(["predict", str(out), str(folder / "img3.png"), "--out", str(one),
                     "--method", "kmeans_raw", "--quiet"]) == 0
    rows = list(csv.DictReader(one.open()))
    assert len(rows) == 1 and rows[0]["image"] == "img3.png" and "probability" not in rows[0]


def test_predict_bad_input_is_one_line_and_no_csv(run_and_data, tmp_path, capsys):
    out, data = run_and_data
    csv_path = tmp_path / "pred.csv"
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((3, 32, 32), np.uint8))
    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(np.zeros((28, 28, 3), np.uint8) + 90).save(colour / "c.png")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "bad.png").write_bytes(b"not a png")
    empty = tmp_path / "empty"
    empty.mkdir()
    no_method = tmp_path / "no_method"
    shutil.copytree(out, no_method)
    (no_method / "methods" / "ae_gmm.safetensors").unlink()
    cases = [
        ([str(tmp_path / "nowhere"), str(big)], "nowhere: not a finished fashion-cluster run"),
        ([str(out), str(big), "--method", "scan"], "the run has no method 'scan'"),
        ([str(out), str(big)], "images of shape 32x32 (grey), but the run"),
        ([str(out), str(colour)], "with 3 channels, but the run"),
        ([str(out), str(corrupt)], "bad.png: not a readable image"),
        ([str(out), str(empty)], "empty: no images found"),
        ([str(no_method), str(big), "--method", "ae_gmm"],
         "methods/ae_gmm.safetensors is missing; rerun `fashion-cluster run"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert cli.main(["predict", *args, "--out", str(csv_path)]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err, (args, err)
        assert not csv_path.exists()
