"""A run folder made by the previous release loads and predicts identically.

tests/fixtures/old_run/ was made by the release before run manifests and estimator
checksums (commit 3504ff6; its README.md and make_fixture.py say how). Every test works
on a copy of it in tmp_path: the committed fixture is never modified, and never
regenerated with newer code.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

import fashion_cluster as fc
from fashion_cluster import cli

FIXTURE = Path(__file__).parent / "fixtures" / "old_run"
METHODS = ["kmeans_raw", "ae_gmm"]
# Each method's representation in models/ (None: it clusters raw pixels).
REPRESENTATION = {"kmeans_raw": None, "ae_gmm": "dense_ae"}
ESTIMATOR_FILES = sorted(str(p.relative_to(FIXTURE / "run"))
                         for p in (FIXTURE / "run").glob("*/*.safetensors"))


@pytest.fixture
def old_run(tmp_path) -> Path:
    """A copy of the old release's run folder."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", run)
    return run


def new_images() -> np.ndarray:
    return np.load(FIXTURE / "new.npy", allow_pickle=False)


def expected_rows(method: str) -> list[dict[str, str]]:
    with open(FIXTURE / f"expected_{method}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_fixture_is_an_old_release_run():
    run = FIXTURE / "run"
    assert (run / ".fashion-cluster").is_file()
    assert not (run / "manifest.json").exists()
    assert sorted(json.loads((run / "metrics.json").read_text())["methods"]) == sorted(METHODS)
    assert ESTIMATOR_FILES == ["methods/ae_gmm.safetensors", "methods/kmeans_raw.safetensors",
                               "models/dense_ae.safetensors"]
    for name in ESTIMATOR_FILES:
        with safe_open(str(run / name), framework="np") as fh:
            assert "sha256" not in (fh.metadata() or {}), name
    assert new_images().shape == (25, 8, 8)
    assert any(0.5 < float(row["probability"]) < 0.99 for row in expected_rows("ae_gmm"))


def test_old_run_loads_with_a_manifest_warning(old_run, caplog, monkeypatch):
    # cli.main, run earlier in this process, stops the package's logger propagating.
    monkeypatch.setattr(logging.getLogger("fashion_cluster"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="fashion_cluster"):
        run = fc.load_run(old_run)
    warnings = [r for r in caplog.records
                if r.name.startswith("fashion_cluster") and r.levelno == logging.WARNING]
    assert any("manifest" in r.getMessage() for r in warnings), caplog.text
    assert run.methods == METHODS


def test_old_run_labels_are_those_of_its_method_files(old_run):
    run = fc.load_run(old_run)
    assert sorted(run.labels) == sorted(METHODS)
    for method in METHODS:
        with np.load(FIXTURE / "run" / "methods" / f"{method}.npz", allow_pickle=False) as old:
            np.testing.assert_array_equal(run.labels[method]["train"], old["train_labels"])
            np.testing.assert_array_equal(run.labels[method]["test"], old["test_labels"])


@pytest.mark.parametrize("method", METHODS)
def test_old_run_predicts_as_the_old_release_did(old_run, tmp_path, method):
    out = tmp_path / f"{method}.csv"
    rc = cli.main(["predict", str(old_run), str(FIXTURE / "new.npy"), "--method", method,
                   "--out", str(out), "--quiet"])
    assert rc == 0
    assert out.read_text() == (FIXTURE / f"expected_{method}.csv").read_text()


@pytest.mark.parametrize("method", METHODS)
def test_old_run_assigns_as_the_old_release_did(old_run, method):
    run = fc.load_run(old_run)
    fitted = run.method(method)
    labels, proba = fitted.assign(run.scale(new_images()))
    rows = expected_rows(method)
    assert [int(r["cluster"]) for r in rows] == labels.tolist()
    assert [int(r["image"]) for r in rows] == list(range(len(labels)))
    if fitted.cluster_classes is not None:
        assert [r["class"] for r in rows] == [fitted.cluster_classes[c] for c in labels]
    if "probability" in rows[0]:
        assert proba is not None
        assert [r["probability"] for r in rows] == [f"{p:.4f}" for p in proba]
    else:
        assert proba is None


@pytest.mark.parametrize("name", ESTIMATOR_FILES)
def test_old_estimator_files_load(old_run, name):
    path = old_run / name
    with safe_open(str(path), framework="np") as fh:
        tree = json.loads(fh.metadata()["tree"])
    estimator = fc.load(path)
    assert type(estimator).__name__ == tree["class"]


@pytest.mark.parametrize("method", METHODS)
def test_old_estimator_files_predict_as_the_old_release_did(old_run, method):
    run = fc.load_run(old_run)
    x = run.scale(new_images())
    artifact = REPRESENTATION[method]
    features = x if artifact is None else fc.load(
        old_run / "models" / f"{artifact}.safetensors").transform(x)
    clusterer = fc.load(old_run / "methods" / f"{method}.safetensors")
    labels = (clusterer.predict_proba(features).argmax(axis=1)
              if hasattr(clusterer, "predict_proba") else clusterer.predict(features))
    assert np.asarray(labels).tolist() == [int(r["cluster"]) for r in expected_rows(method)]
