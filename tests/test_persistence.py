"""Saving and loading estimators: identical predictions after a round trip, no pickle,
clear errors for damaged or foreign files."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from safetensors.numpy import save_file
from sklearn.base import clone
from test_estimators import ESTIMATORS, estimator_id

import fashion_cluster as fc
from fashion_cluster.artifacts import ArtifactError


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 16))
    return np.concatenate([rng.normal(c, 1.0, (40, 16)) for c in centres]).astype(np.float32)


def _outputs(est, x: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for name in ("predict", "transform", "predict_proba"):
        if hasattr(est, name):
            out[name] = getattr(est, name)(x)
    return out


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=estimator_id)
@pytest.mark.slow
def test_round_trip_gives_identical_outputs(estimator, blobs, tmp_path):
    est = clone(estimator).fit(blobs)
    path = tmp_path / "est.safetensors"
    est.save(path)
    loaded = fc.load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params().keys() == est.get_params().keys()
    new = blobs[::-1][:30] + 0.1  # unseen samples
    before, after = _outputs(est, new), _outputs(loaded, new)
    assert before.keys() == after.keys() and before
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    if hasattr(est, "labels_"):
        np.testing.assert_array_equal(est.labels_, loaded.labels_)


def test_the_file_holds_no_pickle(blobs, tmp_path):
    path = tmp_path / "est.safetensors"
    fc.GMMClusterer(3, random_state=0).fit(blobs).save(path)
    data = path.read_bytes()
    # safetensors: an 8-byte header length, a JSON header, raw tensor bytes. No pickle
    # protocol marker anywhere, and the header parses as JSON.
    assert pickle.PROTO not in data[:2]
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    assert header["__metadata__"]["format"].startswith("fashion-cluster estimator")


def test_unfitted_estimator_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fc.KMeansClusterer(3).save(tmp_path / "x.safetensors")


def test_damaged_or_foreign_files_are_refused_with_their_name(blobs, tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(ArtifactError, match="missing.safetensors: not found"):
        fc.load(missing)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file")
    with pytest.raises(ArtifactError, match="garbage.safetensors: damaged"):
        fc.load(garbage)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(foreign))
    with pytest.raises(ArtifactError, match="foreign.safetensors: not a fashion-cluster"):
        fc.load(foreign)
    good = tmp_path / "good.safetensors"
    fc.KMeansClusterer(3, random_state=0).fit(blobs).save(good)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(ArtifactError, match="truncated.safetensors"):
        fc.load(truncated)


def test_a_file_naming_another_class_builds_nothing(blobs, tmp_path):
    """Loading builds only this package's estimators: a file naming any other class
    (here ``os.system``-like names) is refused before anything is constructed."""
    path = tmp_path / "evil.safetensors"
    tree = {"class": "system", "params": {"__dict__": {}}, "state": {"__dict__": {}}}
    save_file({"x": np.zeros(1, np.float32)}, str(path),
              metadata={"format": "fashion-cluster estimator 1", "tree": json.dumps(tree)})
    with pytest.raises(ArtifactError, match="'system' is not a fashion-cluster estimator"):
        fc.load(path)


def test_pickle_in_place_of_an_estimator_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (marker.write_text, ("executed",))

    path = tmp_path / "est.safetensors"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ArtifactError, match="damaged or not a safetensors file"):
        fc.load(path)
    assert not marker.exists()


def test_weights_that_do_not_fit_the_network_are_reported(blobs, tmp_path):
    from safetensors import safe_open

    path = tmp_path / "ae.safetensors"
    fc.DenseAutoencoder(hidden=(8,), code_dim=2, epochs=1, random_state=0).fit(blobs).save(path)
    with safe_open(str(path), framework="np") as fh:
        meta = fh.metadata()
        arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - not a dict
    meta["tree"] = meta["tree"].replace('"code_dim": 2', '"code_dim": 3')
    save_file(arrays, str(path), metadata=meta)
    with pytest.raises(ArtifactError, match="ae.safetensors: damaged estimator file"):
        fc.load(path)


def test_a_file_from_before_a_parameter_existed_loads_with_the_value_it_was_fitted_with(
        blobs, tmp_path):
    """ContrastiveSCAN files written before ``cluster_sizes`` existed were fitted with even
    sizes: they load with "equal", not with today's default ("auto")."""
    from safetensors import safe_open

    est = next(e for e in ESTIMATORS if type(e).__name__ == "ContrastiveSCAN")
    path = tmp_path / "old.safetensors"
    clone(est).fit(blobs).save(path)
    with safe_open(str(path), framework="np") as fh:
        meta = fh.metadata()
        arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - not a dict
    tree = json.loads(meta["tree"])
    del tree["params"]["__dict__"]["cluster_sizes"]
    old = {key: value for key, value in meta.items() if key != "sha256"}  # none back then
    save_file(arrays, str(path), metadata={**old, "tree": json.dumps(tree)})
    assert fc.ContrastiveSCAN().cluster_sizes == "auto"
    assert fc.load(path).cluster_sizes == "equal"
