"""Nothing lost that the user did not ask to lose, nothing silently wrong: the write
policy (`fashion_cluster.outputs`), a run's manifest, model-file integrity, presets by
name, and one clear line (exit 2) for every foreseeable failure, before the work."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import three_kinds

import fashion_cluster as fc
from fashion_cluster import cli
from fashion_cluster.artifacts import ArtifactError, read_json
from fashion_cluster.config import ConfigError, load_preset


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _predict(run: Path, images: Path, *extra: str) -> int:
    return cli.main(["predict", str(run), str(images), "--quiet", *extra])


# ------------------------------------------------------------------ write policy


def test_predict_never_writes_into_a_run_or_over_its_input(raw_run, capsys):
    run, npy = raw_run["run"], raw_run["npy"]
    before, npy_bytes = _snapshot(run), npy.read_bytes()
    for target in (run / "metrics.json", run / "new.csv", npy):
        assert _predict(run, npy, "--out", str(target), "--overwrite") == 2
        assert str(target) in capsys.readouterr().err
    assert _snapshot(run) == before and npy.read_bytes() == npy_bytes
    fc.load_run(run)  # still whole


def test_predict_replaces_a_file_only_when_asked(raw_run, tmp_path, capsys):
    run, npy = raw_run["run"], raw_run["npy"]
    mine = tmp_path / "notes.csv"
    mine.write_text("my own notes\n")
    assert _predict(run, npy, "--out", str(mine)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert mine.read_text() == "my own notes\n"
    assert _predict(run, npy, "--out", str(tmp_path)) == 2  # a folder
    assert _predict(run, npy, "--out", str(mine), "--overwrite") == 0
    assert mine.read_text().startswith("image,cluster")


def test_a_link_is_followed_and_a_fifo_written_into(raw_run, tmp_path):
    run, npy = raw_run["run"], raw_run["npy"]
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    link.symlink_to(target)
    assert _predict(run, npy, "--out", str(link), "--overwrite") == 0
    assert link.is_symlink() and target.read_text().startswith("image,cluster")

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    assert _predict(run, npy, "--out", str(fifo)) == 0
    reader.join(timeout=60)
    assert received and received[0].count("\n") == 21
    assert fifo.is_fifo()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_line_and_the_device_stays(raw_run, capsys):
    assert _predict(raw_run["run"], raw_run["npy"], "--out", "/dev/full") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: /dev/full") and len(err.splitlines()) == 1
    assert Path("/dev/full").is_char_device()


def test_encode_never_deletes_a_folder(raw_run, tmp_path, capsys):
    model = tmp_path / "ae.safetensors"
    x = fc.load_run(raw_run["run"]).scale(np.load(raw_run["npy"]))
    fc.DenseAutoencoder(hidden=(8,), code_dim=2, epochs=1, random_state=0).fit(x).save(model)
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    for extra in ((), ("--overwrite",)):
        rc = cli.main(["encode", str(model), str(raw_run["npy"]), "--out", str(folder),
                       "--quiet", *extra])
        assert rc == 2 and str(folder) in capsys.readouterr().err
    assert (folder / "thesis.txt").read_text() == "years of work"
    assert cli.main(["encode", str(model), str(raw_run["npy"]), "--out",
                     str(raw_run["run"] / "f.zarr"), "--quiet"]) == 2
    features = tmp_path / "f.zarr"
    encode = ["encode", str(model), str(raw_run["npy"]), "--out", str(features), "--quiet"]
    assert cli.main(encode) == 0
    assert cli.main(encode) == 2  # exists
    assert cli.main([*encode, "--overwrite"]) == 0  # a zarr array: replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partials


def test_save_replaces_only_an_estimator_file(tmp_path):
    est = fc.KMeansClusterer(2, random_state=0).fit(np.random.default_rng(0).random((20, 3)))
    path = tmp_path / "m.safetensors"
    est.save(path)
    est.save(path)  # its own earlier file
    mine = tmp_path / "mine.txt"
    mine.write_text("keep me")
    with pytest.raises(fc.FashionClusterError, match="overwrite"):
        est.save(mine)
    assert mine.read_text() == "keep me"
    est.save(mine, overwrite=True)
    assert type(fc.load(mine)) is fc.KMeansClusterer


# --------------------------------------------------------------- whole or unfinished


@pytest.mark.slow
def test_an_interrupted_rerun_is_visibly_unfinished(raw_run, tmp_path, capsys):
    """A rerun with other settings, killed as it starts, leaves the old metrics beside
    an unfinished manifest: loading and predicting refuse it, naming the command."""
    run = tmp_path / "run"
    shutil.copytree(raw_run["run"], run)
    args = [a if a != str(raw_run["run"]) else str(run) for a in raw_run["args"]]
    proc = subprocess.Popen([sys.executable, "-m", "fashion_cluster.cli", *args, "--k", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while read_json(run / "manifest.json").get("complete") and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with pytest.raises(ArtifactError, match="unfinished or modified run.*--k 2"):
        fc.load_run(run)
    out = tmp_path / "p.csv"
    assert _predict(run, raw_run["npy"], "--out", str(out)) == 2
    assert "unfinished" in capsys.readouterr().err and not out.exists()
    assert cli.main([*args, "--k", "2"]) == 0  # the same command finishes it
    assert fc.load_run(run).metrics["k"] == 2


@pytest.mark.parametrize("change", ["flip", "swap", "remove"])
def test_a_modified_run_is_refused(raw_run, tmp_path, change):
    run = tmp_path / "run"
    shutil.copytree(raw_run["run"], run)
    model = run / "methods" / "kmeans_raw.safetensors"
    if change == "flip":
        data = bytearray(model.read_bytes())
        data[-3] ^= 0x10  # a bit of the last array's numbers
        model.write_bytes(bytes(data))
    elif change == "swap":
        other = fc.KMeansClusterer(3, random_state=1).fit(np.random.default_rng(1).random(
            (30, 784)))
        other.save(model)
    else:
        (run / "assignments.csv").unlink()
    with pytest.raises(ArtifactError, match="unfinished or modified run"):
        fc.load_run(run)
    assert cli.main(["report", str(run), "--quiet"]) == 2


def test_a_model_file_is_checked_for_damage_and_class(tmp_path):
    est = fc.KMeansClusterer(3, random_state=0).fit(np.random.default_rng(0).random((30, 4)))
    path = tmp_path / "m.safetensors"
    est.save(path)
    assert type(fc.KMeansClusterer.load(path)) is fc.KMeansClusterer
    with pytest.raises(ArtifactError, match="holds a KMeansClusterer, expected a GMMClusterer"):
        fc.GMMClusterer.load(path)
    with pytest.raises(ArtifactError, match="expected a GMMClusterer"):
        fc.load(path, expected=fc.GMMClusterer)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        fc.load(path)


def test_figures_and_report_keep_the_run_whole(raw_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(raw_run["run"], run)
    assert cli.main(["report", str(run), "--quiet"]) == 0
    assert cli.main(["figures", str(run), "--quiet"]) == 0
    fc.load_run(run)


def test_a_run_without_a_manifest_loads_with_a_warning(raw_run, tmp_path, monkeypatch):
    import logging

    run = tmp_path / "run"
    shutil.copytree(raw_run["run"], run)
    (run / "manifest.json").unlink()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("fashion_cluster.manifest")
    monkeypatch.setattr(logger, "disabled", False)  # whatever logging setup ran before
    logger.addHandler(handler)
    try:
        assert fc.load_run(run).methods == ["kmeans_raw"]
    finally:
        logger.removeHandler(handler)
    assert any("manifest" in r.getMessage() and r.levelno == logging.WARNING
               for r in records)


# ------------------------------------------------------------------------ presets


@pytest.mark.parametrize("thing", ["folder", "file"])
def test_a_bare_name_is_always_the_packaged_preset(tmp_path, monkeypatch, thing, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("quick", "best", "paper"):
        if thing == "folder":
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_text('name = "mine"\nseed = 7\n')
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert cli.main(["presets"]) == 0 and "quick" in capsys.readouterr().out
    assert load_preset("quick").name == "quick" and load_preset("quick").seed == 0
    (tmp_path / "mine.toml").write_text("seed = 7\n")
    assert load_preset("mine.toml").seed == 7
    assert load_preset("./quick" if thing == "file" else "best").seed in (0, 7)


@pytest.mark.parametrize(("text", "message"), [
    ("[simclr]\ntemperature = inf", "simclr.temperature must be a finite number"),
    ("[simclr]\ntemperature = nan", "simclr.temperature must be a finite number"),
    ("[scan]\nentropy_weight = nan", "scan.entropy_weight must be a finite number"),
    ("[data]\nimage_size = [0, 28]", "data.image_size must be [height, width]"),
    ("[data]\nimage_size = [28]", "data.image_size must be [height, width]"),
    ("[scan]\nmin_steps = -1", "scan.min_steps must be >= 0"),
])
def test_preset_values_are_checked_at_load(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_preset(path)


# ------------------------------------------------------------- errors before work


def test_output_paths_are_checked_before_the_work(raw_run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    tic = time.perf_counter()
    assert cli.main(["elbow", "--out", str(blocker / "sub"), "--dataset",
                     str(raw_run["npz"]), "--k-max", "40", "--quiet"]) == 2
    assert cli.main(["elbow", "--out", str(raw_run["run"]), "--dataset",
                     str(raw_run["npz"]), "--quiet"]) == 2  # a run's own folder
    assert cli.main(["run", "--preset", str(raw_run["preset"]), "--dataset",
                     str(raw_run["npz"]), "--out", str(blocker), "--quiet"]) == 2
    assert time.perf_counter() - tic < 30  # refused, not computed
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and str(blocker) in err


def test_k_auto_on_too_few_images_is_refused(tmp_path, capsys):
    images, _ = three_kinds(3)
    np.savez(tmp_path / "three.npz", images=images)
    assert cli.main(["run", "--preset", "quick", "--dataset", str(tmp_path / "three.npz"),
                     "--k", "auto", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "--k auto" in capsys.readouterr().err


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(raw_run, tmp_path):
    many = tmp_path / "many.npy"
    np.save(many, np.repeat(np.load(raw_run["npy"]), 1000, axis=0))
    shell = (f"{sys.executable} -m fashion_cluster.cli predict {raw_run['run']} {many} -q "
             "| head -n 2")
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=300)
    assert done.stdout.count("\n") == 2
    assert done.stderr == ""
