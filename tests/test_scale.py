"""Scaling out the best method: neighbour search for large sets, training on several
processes (torch.distributed)."""

import numpy as np
import pytest
import torch

from fashion_cluster.data import scale_images
from fashion_cluster.scan import nearest_neighbours


def _blobs(seed: int, n: int = 3000, dim: int = 32) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, dim))
    x = centres[rng.integers(10, size=n)] + 0.5 * rng.normal(size=(n, dim))
    return torch.from_numpy(x.astype(np.float32))


@pytest.mark.slow
def test_approximate_neighbours_find_the_exact_ones_and_repeat():
    x = _blobs(0)
    exact = nearest_neighbours(x, 10, search="exact").numpy()
    approximate = nearest_neighbours(x, 10, search="approximate", seed=0).numpy()
    assert approximate.shape == exact.shape
    assert not (approximate == np.arange(len(x))[:, None]).any()  # never itself
    found = [len(np.intersect1d(a, e)) for a, e in zip(approximate, exact, strict=True)]
    recall = np.mean(found) / 10
    # Measured 0.980-0.982 on seeds 0-4 of these blobs.
    assert recall > 0.95
    again = nearest_neighbours(x, 10, search="approximate", seed=0).numpy()
    np.testing.assert_array_equal(again, approximate)


def test_neighbour_search_is_checked():
    with pytest.raises(ValueError, match="search must be"):
        nearest_neighbours(_blobs(0, n=20), 3, search="fast")


def _simclr(x: np.ndarray, processes: int, seed: int = 0, **kwargs):
    from fashion_cluster.contrastive import SimCLRNet, train_simclr

    torch.manual_seed(seed)
    encoder = SimCLRNet(feature_dim=64)
    history = train_simclr(encoder, x, epochs=3, batch_size=256, seed=seed,
                           processes=processes, **kwargs)
    return encoder, np.array(history.loss)


@pytest.mark.distributed
def test_two_processes_train_like_one_with_the_same_global_batch(small_real, measured,
                                                                 tmp_path, monkeypatch):
    from fashion_cluster import contrastive, ddp

    (x, _), _ = small_real
    _, one = _simclr(x, 1)
    encoder, two = _simclr(x, 2)
    assert two[-1] < two[0]
    # Two processes draw other augmentations and normalise each half-batch on its own:
    # their curve differs from one process's by 0.5-0.8 % (seeds 0-5), one process's
    # curves of different seeds by up to 1 %.
    assert measured("ddp_loss_relative_difference", np.abs(two - one).max() / one.max()) < 0.02
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    mapped = np.load(tmp_path / "x.npy", mmap_mode="c")
    sent, shareable = [], ddp.shareable

    def recorded(a):
        sent.append(shareable(a))
        return sent[-1]
    monkeypatch.setattr(contrastive.ddp, "shareable", recorded)
    for images in (x, torch.from_numpy(x), mapped):
        again, _ = _simclr(images, 2)
        for name, value in encoder.state_dict().items():
            assert torch.equal(value, again.state_dict()[name]), name
    # Arrays and tensors in shared memory, a mapped array by its file.
    assert [type(a) for a in sent] == [torch.Tensor, torch.Tensor, ddp.MappedArray]


@pytest.mark.parametrize(("processes", "stored"), [
    pytest.param(1, False, marks=pytest.mark.slow),
    pytest.param(2, False, marks=pytest.mark.distributed),
    pytest.param(2, True, marks=pytest.mark.distributed),
])
def test_an_interrupted_contrastive_run_resumes_exactly(small_real, tmp_path, processes,
                                                        stored):
    from safetensors import safe_open

    (x, _), _ = small_real
    if stored:  # each process reads its own chunks
        zarr = pytest.importorskip("zarr")
        from fashion_cluster.contrastive import StoreRows
        from fashion_cluster.distributed import write_zarr

        path = write_zarr((x * 255).round().astype(np.uint8), tmp_path / "x.zarr", 300)
        x = StoreRows(zarr.open_array(str(path), mode="r"), scale_images, buffer_rows=600)
    checkpoint = tmp_path / "simclr.safetensors"

    def stop_after_one(epoch, epochs, history):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _simclr(x, processes, checkpoint=checkpoint, progress=stop_after_one)
    with safe_open(str(checkpoint), "pt") as fh:
        assert int(fh.metadata()["epoch"]) < 3  # stopped before the end: a real resume
    resumed, curve = _simclr(x, processes, checkpoint=checkpoint)
    whole, whole_curve = _simclr(x, processes)
    np.testing.assert_array_equal(curve, whole_curve)
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_bad_settings_are_refused_before_processes_start(small_real):
    from fashion_cluster import ContrastiveEncoder
    from fashion_cluster.ddp import shared_batch

    (x, _), _ = small_real
    with pytest.raises(ValueError, match="at least 2 images a batch on each of 2 process"):
        _simclr(x[:3], 2)
    with pytest.raises(ValueError, match="SimCLR on 12 images .* on each of 2 process"):
        ContrastiveEncoder(processes=2).fit_schedule(12)  # batches of 3 at most
    assert ContrastiveEncoder(processes=3).fit_schedule(60_000) == (8, 510)
    assert shared_batch(513, 2, 1, "x") == 512 and shared_batch(4, 2, 2, "x") == 4
    with pytest.raises(ValueError, match="^SCAN needs at least 1 image a batch on each of 3"):
        shared_batch(2, 3, 1, "SCAN")


@pytest.mark.distributed
def test_a_failing_process_is_reported_with_its_error(small_real):
    from fashion_cluster.ddp import ProcessGroupError

    (x, _), _ = small_real
    broken = x[:512].copy()
    broken[0] = np.nan
    with pytest.raises(ProcessGroupError, match="TrainingError: training loss became nan"):
        _simclr(broken, 2)


@pytest.mark.distributed
def test_the_contrastive_encoder_trains_from_a_zarr_store(fmnist, tmp_path):
    zarr = pytest.importorskip("zarr")

    import fashion_cluster as fc
    from fashion_cluster.distributed import write_zarr

    (images, _), _ = fmnist
    images = images[:2000]
    store = zarr.open_array(str(write_zarr(images, tmp_path / "x.zarr", chunk_rows=250)),
                            mode="r")
    settings = dict(feature_dim=64, epochs=3, batch_size=256, min_steps=0, random_state=0,
                    device="cpu")
    in_memory = fc.ContrastiveEncoder(**settings).fit(images)
    streamed = fc.ContrastiveEncoder(**settings).fit(store)
    # Chunks in a random order, shuffled 20,000 rows at a time: another batch order than
    # a full permutation, so another curve (measured 0.2 % apart), not a worse one.
    one, other = np.array(in_memory.loss_curve_), np.array(streamed.loss_curve_)
    assert np.abs(one - other).max() / one.max() < 0.02
    np.testing.assert_array_equal(streamed.transform(store),
                                  streamed.transform(images.reshape(2000, -1)))
    two = fc.ContrastiveEncoder(**settings, processes=2).fit(store)  # each reads the store
    assert np.abs(np.array(two.loss_curve_) - one).max() / one.max() < 0.02
    floats = zarr.open_array(str(write_zarr(images / 255.0, tmp_path / "f.zarr")), mode="r")
    with pytest.raises(ValueError, match="needs value_range"):
        fc.ContrastiveEncoder(**settings).fit(floats)
    with pytest.raises(ValueError, match="trains on images in memory"):
        fc.DenseAutoencoder(epochs=1).fit(store)


def _heads(features, augmented, processes: int, priors=None) -> dict:
    from fashion_cluster.scan import train_heads

    generator = torch.Generator().manual_seed(0)
    return train_heads(features, augmented, 10, heads=3, neighbours=10, epochs=2,
                       batch_size=256, entropy_weight=5.0, seed=0, generator=generator,
                       min_steps=60, processes=processes, priors=priors)


@pytest.mark.distributed
def test_scan_heads_on_two_processes_are_those_of_one(tmp_path):
    from fashion_cluster.scan import assign

    features = _blobs(0, n=2048)
    augmented = (features + 0.1 * _blobs(1, n=2048)).half()[None].repeat(2, 1, 1)
    np.save(tmp_path / "features.npy", np.concatenate([np.zeros((8, 32), np.float32),
                                                        features.numpy()]))
    np.save(tmp_path / "views.npy", augmented.numpy())
    mapped = np.load(tmp_path / "features.npy", mmap_mode="c")
    one = _heads(features, augmented, 1)
    two = _heads(features.numpy(), augmented.numpy(), 2)  # in shared memory
    # Mapped: views sent by their file, features as a slice of one (copied)
    from_files = _heads(mapped[8:], np.load(tmp_path / "views.npy", mmap_mode="c"), 2)
    assert one["batch_size"] == two["batch_size"] == 256
    for other in (two, from_files):
        # The same batches, split in two: equal up to float rounding (measured 3e-7 on
        # 60,000 Fashion-MNIST features after 3,510 steps).
        torch.testing.assert_close(other["weight"], one["weight"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(other["losses"], one["losses"], rtol=1e-6)
        assert other["selected"] == one["selected"]
        np.testing.assert_array_equal(assign(features, other), assign(features, one))
    # Two groups of heads (even and unequal cluster sizes): the same choice and head.
    priors = torch.tensor([[0.1] * 10, [0.2, 0.15, 0.12, 0.1, 0.1, 0.09, 0.08, 0.07, 0.05, 0.04]])
    one, two = (_heads(features, augmented, p, priors) for p in (1, 2))
    assert len(one["losses"]) == 6 and one["prior"] == two["prior"]
    assert one["selected"] == two["selected"]
    torch.testing.assert_close(two["weight"], one["weight"], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="at least 1 image a batch on each of 3 process"):
        _heads(features[:8], augmented[:, :8], 3)


@pytest.mark.distributed
def test_scan_fits_a_zarr_store_as_it_fits_images_in_memory(fmnist, tmp_path, monkeypatch):
    zarr = pytest.importorskip("zarr")
    import tempfile

    import fashion_cluster as fc
    from fashion_cluster.distributed import write_zarr

    (images, labels), _ = fmnist
    images, labels = images[:2000], labels[:2000]
    store = zarr.open_array(str(write_zarr(images, tmp_path / "x.zarr", chunk_rows=300)),
                            mode="r")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    encoder = fc.ContrastiveEncoder(feature_dim=64, epochs=2, min_steps=0, random_state=0,
                                    device="cpu").fit(images)
    settings = dict(n_clusters=10, epochs=2, min_steps=100, random_state=0)
    in_memory = fc.SCANClusterer(encoder, **settings).fit(images)
    streamed = fc.SCANClusterer(encoder, **settings).fit(store)
    # The same features and views (read in the same blocks), mapped from files instead.
    np.testing.assert_array_equal(streamed.labels_, in_memory.labels_)
    np.testing.assert_allclose(streamed.head_["weight"], in_memory.head_["weight"], atol=1e-6)
    two = fc.SCANClusterer(encoder, **settings, processes=2).fit(store)  # files mapped twice
    np.testing.assert_array_equal(two.labels_, in_memory.labels_)
    assert list(scratch.iterdir()) == []  # the feature files are gone
    np.testing.assert_array_equal(streamed.predict(store), streamed.labels_)
    np.testing.assert_allclose(streamed.predict_proba(store), in_memory.predict_proba(images))
    with pytest.raises(ValueError, match="features cannot be given with a store"):
        streamed.predict(store, features=np.zeros((2000, 64)))

    model = fc.ContrastiveSCAN(feature_dim=64, epochs=2, min_steps=0, scan_epochs=2,
                               scan_min_steps=100, random_state=0, device="cpu").fit(store)
    assert model.labels_.shape == (2000,)
    np.testing.assert_array_equal(model.predict(store), model.labels_)
    np.testing.assert_array_equal(model.predict(images), model.labels_)
    with pytest.raises(ValueError, match="pass an int n_clusters with a store"):
        fc.ContrastiveSCAN(n_clusters="auto").fit(store)
    five = zarr.open_array(str(write_zarr(images[:5], tmp_path / "5.zarr")), mode="r")
    with pytest.raises(ValueError, match="holds 5 images, at least 10 are needed"):
        fc.ContrastiveSCAN(n_clusters=10).fit(five)  # before any training


def _heads_asking_for_three(device, report):
    features = _blobs(0, n=200)
    return _heads(features, features[None].half(), 3)


@pytest.mark.distributed
def test_a_process_count_other_than_the_groups_is_refused():
    from fashion_cluster.ddp import ProcessGroupError, start

    with pytest.raises(ProcessGroupError, match="group of 2: pass processes=2"):
        start(_heads_asking_for_three, 2, (), torch.device("cpu"))


def _merge(processes: int) -> list[int]:
    from fashion_cluster.scan import train_heads

    features = _blobs(0, n=1200)
    out = train_heads(features, features[None].half(), 30, heads=2, neighbours=10, epochs=2,
                      batch_size=256, entropy_weight=5.0, seed=0,
                      generator=torch.Generator().manual_seed(0), min_steps=40,
                      processes=processes, merge_into=10)
    return out["merge"].tolist()


def _every_process_merge(device, report) -> list:
    import torch.distributed as dist

    merges = [None, None]
    dist.all_gather_object(merges, _merge(2))  # in the group, as under torchrun
    return merges


@pytest.mark.distributed
def test_a_group_of_processes_keeps_the_first_processs_merge():
    from fashion_cluster.ddp import start

    one = _merge(1)
    first, second = start(_every_process_merge, 2, (), torch.device("cpu"))
    assert first == second == one
    assert sorted(set(one)) == list(range(10))  # 30 clusters merged into 10


NPROC = """
name = "nproc"
methods = ["scan"]
[data]
n_train = 1000
n_test = 200
[elbow]
enabled = false
[clustering]
k = 10
sweep_seeds = [0]
[simclr]
epochs = 2
batch_size = 256
min_steps = 0
feature_dim = 64
[scan]
epochs = 2
views = 1
min_steps = 0
[report]
map_points = 100
map_method = "tsne"
"""


@pytest.mark.distributed
def test_run_trains_the_cnn_and_merged_heads_on_nproc_processes(tmp_path, real_dir):
    import json

    from fashion_cluster import cli

    preset = tmp_path / "nproc.toml"
    preset.write_text(NPROC)
    out = tmp_path / "out"
    assert cli.main(["run", "--preset", str(preset), "--out", str(out), "--device", "cpu",
                     "--data-dir", str(real_dir), "--nproc", "2", "--cluster-sizes", "merged",
                     "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["simclr"]["processes"] == 2
    info = metrics["methods"]["scan"]["info"]
    assert info["processes"] == 2
    assert info["cluster_sizes"] == "merged" and info["over_clusters"] == 30
    # New images get the clusters the run gave them, merged as in the run.
    from fashion_cluster import load_run
    from fashion_cluster.config import load_preset
    from fashion_cluster.study import load_study_data

    run, data = load_run(out), load_study_data(load_preset(str(preset)), real_dir)
    labels, probability = run.method("scan").assign(run.scale(data.test_images))
    np.testing.assert_array_equal(labels, run.labels["scan"]["test"])
    assert ((probability > 0) & (probability <= 1)).all()
