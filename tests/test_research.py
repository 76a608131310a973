"""The research harness (research/) runs every idea, a few steps each, on a few hundred
small generated images, and reaches the package only through its public extension
points: a refactor of the package that breaks an idea fails here, not months later."""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fashion_cluster as fc
import fashion_cluster.contrastive as contrastive
from fashion_cluster.contrastive import Views, augment
from fashion_cluster.datasets import ImageSet
from research import encoders, heads, ideas

pytestmark = pytest.mark.slow

RESEARCH = Path(__file__).resolve().parents[1] / "research"

# A whole run in a few steps: a narrow CNN for one short epoch, two SCAN heads.
TINY = {"epochs": 1, "batch_size": 16, "min_steps": 3, "feature_dim": 32, "scan_epochs": 1,
        "scan_min_steps": 3, "heads": 2, "neighbours": 5, "views": 1, "device": "cpu",
        "cluster_sizes": "equal"}


def tiny_set(n_train: int = 100, n_test: int = 30, seed: int = 0) -> ImageSet:
    """10 classes of 28x28 uint8 images: a bright bar at each class's own place, noise."""
    rng = np.random.default_rng(seed)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        x = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            x[i, 2 + 2 * c : 6 + 2 * c, 4:24] += 180
        return x.astype(np.uint8), labels.astype(np.int64)
    (xtr, ytr), (xte, yte) = images(n_train), images(n_test)
    return ImageSet("tiny", [str(c) for c in range(10)], xtr, ytr, xte, yte)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these tiny steps are many times slower with two threads on a
    machine whose cores are busy (the runs compared are both in this process)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data() -> ImageSet:
    return tiny_set()


@pytest.fixture
def small_scan(monkeypatch):
    """The harness's SCAN step on saved encoders, in a few steps."""
    monkeypatch.setitem(ideas.SCAN_SETTINGS, "epochs", 1)
    monkeypatch.setitem(ideas.SCAN_SETTINGS, "batch_size", 64)
    monkeypatch.setitem(ideas.SCAN_SETTINGS, "min_steps", 3)


@pytest.fixture(scope="module")
def saved_encoder(data, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("research") / "rotate.safetensors"
    run = ideas.fit_whole_run(data.x_train, 10, 0, TINY, view_extras={"rotate": 10})
    run.encoder.save(path)
    np.save(f"{path}.labels.npy", run.labels_)
    return str(path)


def test_the_base_idea_is_the_package_bit_for_bit(data):
    run = ideas.fit_whole_run(data.x_train, 10, 0, TINY)
    model = fc.ContrastiveSCAN(10, image_shape=(1, 28, 28), random_state=0, **TINY)
    model.fit(data.x_train)
    assert np.array_equal(run.labels_, model.labels_)
    assert np.array_equal(run.predict(data.x_test), model.predict(data.x_test))
    assert np.array_equal(run.encoder.transform(data.x_test),
                          model.encoder_.transform(data.x_test))


@pytest.mark.parametrize("arch", [a for a in encoders.ARCHS if a != "base"])
def test_every_arch_trains(data, arch, tmp_path):
    """Each network, loss and head trains an encoder (the SCAN step after it is the same
    for all: the other tests run it); one saved loads with its network."""
    settings = {k: TINY[k] for k in ("epochs", "batch_size", "min_steps", "feature_dim",
                                     "device")}
    encoder = encoders.IdeaEncoder(image_shape=(1, 28, 28), random_state=0, arch=arch,
                                   **settings).fit(data.x_train)
    features = encoder.transform(data.x_test)
    assert features.shape == (len(data.x_test), TINY["feature_dim"])
    assert np.isfinite(features).all() and np.isfinite(encoder.loss_curve_).all()
    network = encoders.ARCHS[arch].get("network")
    if network is not None:
        assert isinstance(encoder.model_, network)
        encoder.save(tmp_path / "encoder.safetensors")
        again = fc.load(tmp_path / "encoder.safetensors")
        assert isinstance(again.model_, network)
        assert np.array_equal(again.transform(data.x_test), features)


def test_the_run_command_with_every_view_change(data, tmp_path, capsys):
    extras = ["--rotate", "15", "--erase", "0.5", "--blur", "0.5", "--solarize", "0.2",
              "--invert", "0.1", "--tone", "0.5", "--elastic", "1.5"]
    args = ideas.parser().parse_args(["run", "--params", json.dumps(TINY), "--augment",
                                      '{"jitter": 0.2}', *extras, "--save",
                                      str(tmp_path / "views.safetensors")])
    run = ideas.whole_run(args, data)
    assert "SCAN test" in capsys.readouterr().out
    assert run.encoder.view_extras == {"rotate": 15.0, "erase": 0.5, "blur": 0.5,
                                       "solarize": 0.2, "invert": 0.1, "tone": 0.5,
                                       "elastic": 1.5}
    again = fc.load(tmp_path / "views.safetensors")  # the idea is in its parameters
    assert isinstance(again, encoders.IdeaEncoder) and again.view_keywords == {"jitter": 0.2}
    assert np.array_equal(again.transform(data.x_test), run.encoder.transform(data.x_test))


@pytest.mark.parametrize("name", list(encoders.VIEW_EXTRAS))
def test_every_view_change_keeps_the_batch_shape(name):
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    views = encoders.idea_views({"noise": 0.0}, {name: 0.9 if name != "rotate" else 20})
    out = Views(views, torch.Generator().manual_seed(1), {"crop_min": 0.4, "gamma": 1.0})(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_the_idea_views_default_to_the_package_s():
    assert encoders.idea_views() is None and encoders.idea_views({}, {"rotate": 0}) is None
    assert encoders.IdeaEncoder().simclr_hooks() == {}
    with pytest.raises(ValueError, match="crop_min"):
        encoders.idea_views({"crop_min": 0.2})
    assert augment is contrastive.augment  # nothing replaced it


def _scan_args(saved_encoder: str, variant: str) -> argparse.Namespace:
    return ideas.parser().parse_args(["scan", "--encoders", saved_encoder, "--variant",
                                      variant, "--neighbours", "5", "--views", "2",
                                      "--heads", "2", "--components", "8", "--pool", "10"])


@pytest.mark.parametrize("variant", heads.VARIANTS)
def test_every_scan_variant_runs(data, saved_encoder, small_scan, variant, capsys):
    predicted = ideas.scan_variant(_scan_args(saved_encoder, variant), data)
    assert predicted.shape == (len(data.x_test),)
    assert "SCAN test" in capsys.readouterr().out


def test_the_miner_gives_the_neighbours_scan_trains_on(data, saved_encoder, small_scan):
    """The ``miner`` extension point: the fixed miner's neighbours are those used."""
    feats = torch.from_numpy(fc.load(saved_encoder).transform(data.x_train))
    mined = heads.mined_neighbours("shared", feats, feats[None], 5, pool=10)
    head = fc.scan.train_heads(feats, feats[None], 10, heads=2, neighbours=5, epochs=1,
                               batch_size=64, entropy_weight=5.0, seed=0,
                               generator=torch.Generator(), miner=heads.fixed_miner(mined),
                               all_heads=True)
    assert head["neighbours"] == 5 and head["heads_weight"].shape == (20, feats.shape[1])
    with pytest.raises(ValueError, match="neighbours"):
        fc.scan.train_heads(feats, feats[None], 10, heads=1, neighbours=4, epochs=1,
                            batch_size=64, entropy_weight=5.0, seed=0,
                            generator=torch.Generator(), miner=heads.fixed_miner(mined))


@pytest.mark.parametrize("command", ["consensus", "ceiling", "spectral", "e2e"])
def test_every_command_on_saved_encoders_runs(data, saved_encoder, small_scan, command,
                                              capsys):
    extra = ["--epochs", "1", "--batch", "64"] if command == "e2e" else []
    args = ideas.parser().parse_args([command, "--encoders", saved_encoder, *extra])
    ideas.COMMANDS[command](args, data)
    assert "test" in capsys.readouterr().out


def test_stability(saved_encoder, tmp_path, capsys):
    other = tmp_path / "other.labels.npy"
    np.save(other, np.load(f"{saved_encoder}.labels.npy")[::-1].copy())
    args = ideas.parser().parse_args(["stability", "--labels",
                                      f"{saved_encoder}.labels.npy,{other}"])
    assert -1 <= ideas.stability(args) <= 1
    assert "mean of 1 pairs" in capsys.readouterr().out


def _package_names(tree: ast.Module) -> set[str]:
    """The names a module binds to things of fashion_cluster (modules, classes, ...)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fashion_cluster"):
            names |= {alias.asname or alias.name for alias in node.names}
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names
                      if alias.name.startswith("fashion_cluster")}
    return names


def test_the_harness_replaces_nothing_in_the_package():
    """No assignment to an attribute of anything imported from fashion_cluster, no
    ``setattr``, and no private name of the package."""
    for path in sorted(RESEARCH.glob("*.py")):
        tree = ast.parse(path.read_text())
        package = _package_names(tree)
        assert not any(name.startswith("_") for name in package), path
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            assert not (isinstance(node, ast.Name) and node.id == "setattr"), where
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in package):
                assert not node.attr.startswith("_"), where
                assert isinstance(node.ctx, ast.Load), where
