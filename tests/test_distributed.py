"""Sweeps on a local Dask cluster (127.0.0.1 only): same results, worker loss survived,
unreachable schedulers reported, K-Means streamed from a chunked array on disk."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fashion_cluster import cli
from fashion_cluster import kmeans as km
from fashion_cluster.data import DatasetError

pytest.importorskip("dask.distributed")

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def client():
    from fashion_cluster.distributed import connect

    c = connect(workers=2)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def _scores(metrics: dict) -> tuple[dict, list[float]]:
    """What in metrics.json is a result (no timings, no environment): the exact part, and
    the sums of squares apart. A worker runs with its own thread count, which changes the
    order of float32 additions, so sums of squares agree only to rounding."""
    sums = list(metrics["elbow"]["sse"])
    exact = {"best_k": metrics["elbow"]["best_k"]}
    for name, m in metrics["methods"].items():
        sweep = []
        for entry in m["sweep"]:
            entry = {k: v for k, v in entry.items() if k != "fit_seconds"}
            if "sse" in entry:
                sums.append(entry.pop("sse"))
            sweep.append(entry)
        exact[name] = {"train": m["train"], "test": m["test"], "sweep": sweep}
    return exact, sums


def test_run_on_local_cluster_matches_local_run(tiny_run, real_dir, tmp_path):
    preset, local_out, _ = tiny_run
    out = tmp_path / "dask"
    assert cli.main(["run", "--preset", str(preset), "--out", str(out), "--device", "cpu",
                     "--data-dir", str(real_dir), "--workers", "2", "--quiet"]) == 0
    ours, our_sums = _scores(json.loads((out / "metrics.json").read_text()))
    theirs, their_sums = _scores(json.loads((local_out / "metrics.json").read_text()))
    assert ours == theirs
    # K-Means' Lloyd steps carry float32 rounding from one iteration to the next: a worker
    # thread's sums differ in the last bits, so the SSE after 15 iterations differs by up
    # to 3.5e-5 relative (measured: ae_kmeans, seed 1, 49.85074 on a worker against
    # 49.85249 here) while every label, and so every score, is the same.
    assert our_sums == pytest.approx(their_sums, rel=1e-4)


@contextlib.contextmanager
def _worker_killed_when_busy(client, after: float = 0.0):
    """Kill (SIGKILL) the first worker seen busy, ``after`` seconds later, while the body
    runs; yields the list of killed workers' addresses."""
    pids = client.run(os.getpid)
    killed: list[str] = []

    def kill_one_when_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                time.sleep(after)
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_when_busy)
    killer.start()
    try:
        yield killed
    finally:
        killer.join()


def test_worker_killed_mid_sweep_is_survived(client, small_real):
    from fashion_cluster.distributed import DaskRunner

    (x, _), _ = small_real
    x = np.concatenate([x, x[:, ::-1]])  # 4,000 images, so that tasks take a while
    ks = list(range(2, 12))
    expected = km.kmeans_sweep(x, ks, n_init=3, seed=1, subsample=1500)
    runner = DaskRunner(client)
    with _worker_killed_when_busy(client) as killed:
        got = runner.elbow(x, ks, n_init=3, seed=1, subsample=1500)
    assert killed, "no worker was busy to be killed"
    for k in ks:
        assert np.array_equal(got[k].centroids, expected[k].centroids), k
        # Same centroids; the sum differs in the last digits (workers' thread count).
        assert got[k].sse == pytest.approx(expected[k].sse, rel=1e-5)


def test_unreachable_scheduler_is_a_clear_error_in_bounded_time(tmp_path):
    tic = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "fashion_cluster.cli", "elbow", "--out",
                           str(tmp_path), "--k-max", "3", "--scheduler", "tcp://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 10 s" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - tic < 60


def test_without_cluster_flags_dask_is_not_imported(tmp_path, real_dir):
    code = ("import sys; from fashion_cluster import cli; "
            f"assert cli.main(['elbow', '--out', {str(tmp_path)!r}, '--k-max', '3', "
            f"'--n-init', '1', '--n-images', '500', '--quiet', '--data-dir', {str(real_dir)!r}]"
            ") == 0; "
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]; "
            "assert not loaded, loaded")
    _python_ok(code)


def _python_ok(code: str) -> None:
    """Run ``code`` in a fresh interpreter (a clean sys.modules); it must succeed."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr


def test_package_and_cluster_modules_do_not_load_torch():
    """Dask workers re-import the driver's main module (the ``fashion-cluster`` script):
    torch there would cost every worker ~190 MB before its first task."""
    code = ("import sys, fashion_cluster, fashion_cluster.cli, fashion_cluster.distributed; "
            "assert 'torch' not in sys.modules; "
            "from fashion_cluster import DenseAutoencoder, clustering_accuracy; "
            "assert 'torch' in sys.modules and DenseAutoencoder.__name__ == 'DenseAutoencoder'")
    _python_ok(code)


def test_starting_local_workers_leaves_the_environment_alone():
    from fashion_cluster.distributed import connect

    before = dict(os.environ)
    c = connect(workers=1)
    try:
        assert c.run(lambda: os.environ.get("OMP_NUM_THREADS")) != {}  # workers did start
        assert dict(os.environ) == before
        # A restarted worker (after a crash, say) leaves the thread settings alone too;
        # Dask then sets only its own bookkeeping and malloc variables.
        c.restart()
        dask_own = ("PYTHONHASHSEED", "__DASK_PARENT_PID", "MALLOC_TRIM_THRESHOLD_")
        assert ({k: v for k, v in os.environ.items() if k not in dask_own}
                == {k: v for k, v in before.items() if k not in dask_own})
    finally:
        cluster = c.cluster
        c.close()
        cluster.close()


def test_out_of_core_kmeans_rejects_bad_input(client, tmp_path):
    from fashion_cluster.distributed import fit_kmeans_out_of_core, write_zarr

    with pytest.raises(DatasetError, match="no such zarr array"):
        fit_kmeans_out_of_core(client, tmp_path / "missing.zarr", k=3)
    path = write_zarr(np.zeros((4, 784), dtype=np.uint8), tmp_path / "four.zarr")
    with pytest.raises(ValueError, match="4 rows, fewer than k = 5"):
        fit_kmeans_out_of_core(client, path, k=5)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        fit_kmeans_out_of_core(client, path, k=0)


def test_out_of_core_kmeans_on_a_chunked_zarr_array(client, fmnist, tmp_path):
    from fashion_cluster.distributed import fit_kmeans_out_of_core, write_zarr

    (images, _), _ = fmnist
    images = images[:4000]
    path = write_zarr(images, tmp_path / "images.zarr", chunk_rows=500)
    result = fit_kmeans_out_of_core(client, path, k=5, seed=0, max_iter=100, tol=1e-9)
    assert result["chunks"] == 8 and result["n_samples"] == 4000
    assert result["centroids"].shape == (5, 784)
    x = images.reshape(4000, -1).astype(np.float32) / 255
    local = km.kmeans(x, 5, n_init=3, seed=0, subsample=None)
    assert result["sse"] == pytest.approx(local.sse, rel=0.03)
    _, sse = km.assign(x, result["centroids"])
    assert sse == pytest.approx(result["sse"], rel=1e-5)
    # Converged centroids are the means of their members (one more Lloyd step moves nothing).
    labels, _ = km.assign(x, result["centroids"])
    means = np.stack([x[labels == j].mean(0) for j in range(5)])
    assert np.abs(means - result["centroids"]).max() < 1e-3


def test_predict_on_a_cluster_survives_a_killed_worker(client, tiny_run, fmnist, tmp_path):
    from fashion_cluster.assignments import predict_csv
    from fashion_cluster.distributed import DaskRunner, write_zarr
    from fashion_cluster.runs import load_run

    _, out, _ = tiny_run
    (images, _), _ = fmnist
    store = write_zarr(images[:8000], tmp_path / "new.zarr", chunk_rows=1000)
    local = tmp_path / "local.csv"
    assert cli.main(["predict", str(out), str(store), "--method", "ae_gmm", "--out",
                     str(local), "--quiet"]) == 0
    run = load_run(out)
    method = run.method("ae_gmm")
    remote = tmp_path / "remote.csv"
    with _worker_killed_when_busy(client, after=0.5) as killed:  # loading, or assigning
        assigned = DaskRunner(client).assign(out, "ae_gmm", store, 8000, 250)
        predict_csv(run, method, images[:1], range(8000), remote, 250, assigned=assigned)
    assert killed, "no worker was busy to be killed"
    assert remote.read_text() == local.read_text()
    assert len(local.read_text().splitlines()) == 8001


def test_predict_on_local_workers_from_the_command_line(tiny_run, fmnist, tmp_path,
                                                       capsys):
    _, out, _ = tiny_run
    (images, _), _ = fmnist
    np.save(tmp_path / "new.npy", images[:3000])
    paths = {name: tmp_path / f"{name}.csv" for name in ("here", "workers")}
    assert cli.main(["predict", str(out), str(tmp_path / "new.npy"), "--out",
                     str(paths["here"]), "--quiet"]) == 0
    assert cli.main(["predict", str(out), str(tmp_path / "new.npy"), "--out",
                     str(paths["workers"]), "--workers", "2", "--batch-size", "500",
                     "--quiet"]) == 0
    assert paths["workers"].read_text() == paths["here"].read_text()
    assert cli.main(["predict", str(out), "fashion-mnist", "--workers", "2", "--quiet"]) == 2
    assert "must be an .npy or .zarr array" in capsys.readouterr().err


def test_encode_into_a_zarr_array_on_a_cluster_and_here(client, tiny_run, fmnist, tmp_path):
    import zarr

    import fashion_cluster as fc
    from fashion_cluster.distributed import DaskRunner, encode_to_zarr, write_zarr
    from fashion_cluster.runs import load_run

    _, out, _ = tiny_run
    (images, _), _ = fmnist
    images = images[:3000]
    store = write_zarr(images, tmp_path / "images.zarr", chunk_rows=700)
    # A saved estimator, fitted on raw pixels: images go in as they are.
    encoder = fc.ContrastiveEncoder(feature_dim=16, epochs=1, batch_size=64, min_steps=0,
                                    device="cpu", random_state=0).fit(images[:500])
    encoder.save(tmp_path / "encoder.safetensors")
    with _worker_killed_when_busy(client, after=0.5) as killed:
        path = encode_to_zarr(store, tmp_path / "f.zarr", batch_size=250,
                              model=tmp_path / "encoder.safetensors", runner=DaskRunner(client))
    assert killed, "no worker was busy to be killed"
    np.testing.assert_allclose(zarr.open_array(str(path), mode="r")[:],
                               encoder.transform(images.reshape(3000, -1)), atol=1e-5)
    # A run's representation: images are scaled as the run's input first.
    run = load_run(out)
    fitted = run.method("ae_kmeans")
    expected = fitted.representation.transform(run.scale(images))
    assert cli.main(["encode", str(out), str(store), "--method", "ae_kmeans", "--out",
                     str(tmp_path / "here.zarr"), "--quiet"]) == 0
    here = zarr.open_array(str(tmp_path / "here.zarr"), mode="r")
    assert here.chunks == (4096, expected.shape[1])
    np.testing.assert_allclose(here[:], expected, atol=1e-5)
    assert not (tmp_path / "here.zarr.partial").exists()
    assert cli.main(["encode", str(out), "fashion-mnist", "--out", str(tmp_path / "x.zarr"),
                     "--quiet"]) == 2
