"""IDX reading, locating, verifying and downloading Fashion-MNIST."""

from __future__ import annotations

import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import idx_bytes, write_idx

from fashion_cluster import cli, data
from fashion_cluster.data import DatasetError, check_pair, read_idx

# ----------------------------------------------------------------- IDX format


def test_read_idx_gzip_and_plain_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", images)), images)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a", images, compress=False)), images)


def test_read_idx_other_dtypes(tmp_path):
    values = np.array([1.5, -2.0, 3.25], dtype=np.float32)
    out = read_idx(write_idx(tmp_path / "f.gz", values, type_code=0x0D))
    assert out.dtype == np.float32 and np.array_equal(out, values)
    ints = np.array([[1, -70000]], dtype=np.int32)
    assert np.array_equal(read_idx(write_idx(tmp_path / "i.gz", ints, type_code=0x0C)), ints)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"nothere\.gz: file not found"):
        read_idx(tmp_path / "nothere.gz")


def test_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "t.gz", np.zeros((50, 28, 28), np.uint8) + 7)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DatasetError, match=r"t\.gz: truncated gzip"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = write_idx(tmp_path / "c.gz", np.arange(5000, dtype=np.uint8).reshape(50, 100) % 251)
    raw = bytearray(path.read_bytes())
    raw[20:40] = b"\xff" * 20
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"c\.gz: (corrupt gzip|truncated)"):
        read_idx(path)


def test_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "m.gz", np.zeros((2, 2), np.uint8), magic_zero=b"\x12\x34")
    with pytest.raises(DatasetError, match=r"m\.gz: wrong magic number 0x1234"):
        read_idx(path)


def test_wrong_dtype_code(tmp_path):
    path = tmp_path / "d.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 2), np.uint8), type_code=0x07)))
    with pytest.raises(DatasetError, match=r"d\.gz: unknown IDX dtype code 0x07"):
        read_idx(path)


@pytest.mark.parametrize(("cut", "word"), [(-5, "shorter"), (7, "longer")])
def test_payload_length_mismatch(tmp_path, cut, word):
    payload = idx_bytes(np.ones((3, 4, 4), np.uint8))
    payload = payload[:cut] if cut < 0 else payload + b"\x00" * cut
    path = tmp_path / "p.gz"
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(DatasetError, match=rf"p\.gz: payload is {word} than the header says"):
        read_idx(path)


def test_label_and_image_counts_differ():
    with pytest.raises(DatasetError, match=r"lab: 4 labels for 3 images in img"):
        check_pair(np.zeros((3, 2, 2), np.uint8), np.zeros(4, np.uint8), "img", "lab")


def test_labels_outside_range():
    with pytest.raises(DatasetError, match=r"lab: labels outside 0\.\.9 \(found 0\.\.12\)"):
        check_pair(np.zeros((3, 2, 2), np.uint8), np.array([0, 12, 3], np.uint8), "img", "lab",
                   n_classes=10)


def test_errors_are_value_errors():
    assert issubclass(DatasetError, ValueError)


# ------------------------------------------------------------ checksums, roots


def _fake_dataset(folder: Path, n: int = 20, label_max: int = 9) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split_images, split_labels in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                                       ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        write_idx(folder / f"{split_images}.gz", rng.integers(0, 255, (n, 28, 28), np.uint8))
        write_idx(folder / f"{split_labels}.gz", rng.integers(0, label_max + 1, n).astype(np.uint8))
    return folder


def test_checksum_mismatch_names_file(tmp_path):
    root = _fake_dataset(tmp_path / "fake")
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch"):
        data.load_fashion_mnist("train", root=root, download=False)


def test_explicit_root_is_authoritative(tmp_path, real_dir, monkeypatch):
    # The real files exist elsewhere, yet an explicit empty root must not fall back to them.
    monkeypatch.setenv("FASHION_MNIST_DIR", str(real_dir))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"file not found \(searched .*empty\)"):
        data.load_fashion_mnist("test", root=empty, download=False)


def test_env_var_is_searched_first(tmp_path, monkeypatch):
    fake = _fake_dataset(tmp_path / "env")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(fake))
    assert data.candidate_dirs()[0] == fake
    with pytest.raises(DatasetError, match="checksum mismatch"):
        data.load_fashion_mnist("train", download=False)


def test_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / "fashion-cluster" / "fashion-mnist"


def test_bad_split_name():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        data.load_fashion_mnist("validation")


# ------------------------------------------------------------------ real data


def test_real_files_shapes_and_balance(fmnist):
    (xtr, ytr), (xte, yte) = fmnist
    assert xtr.shape == (60000, 28, 28) and xtr.dtype == np.uint8
    assert xte.shape == (10000, 28, 28) and yte.dtype == np.uint8
    assert np.array_equal(np.bincount(ytr), np.full(10, 6000))
    assert np.array_equal(np.bincount(yte), np.full(10, 1000))
    assert len(data.CLASS_NAMES) == 10 and data.CLASS_NAMES[9] == "Ankle boot"


def test_scale_images(fmnist):
    (xtr, _), _ = fmnist
    scaled = data.scale_images(xtr[:1000])
    assert scaled.shape == (1000, 784) and scaled.dtype == np.float32
    assert np.array_equal(scaled, xtr[:1000].reshape(1000, -1).astype(np.float32) / 255)


def test_file_status_real(real_dir):
    statuses = data.file_status(real_dir)
    assert [s.verified for s in statuses] == [True] * 4
    assert all(s.size and s.size > 1000 for s in statuses)


# ------------------------------------------------------------------- download


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server on 127.0.0.1 serving a folder; yields (base_url, folder)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = lambda *a, **k: _Quiet(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    server.shutdown()
    server.server_close()


def test_download_good_files(mirror, real_dir, tmp_path):
    url, folder = mirror
    for stem in data.FILES:
        shutil.copy(real_dir / f"{stem}.gz", folder)
    dest = tmp_path / "dest"
    seen = []
    for stem in data.FILES:
        data.download(stem, dest, mirror=url, progress=lambda done, total: seen.append(done))
    images, labels = data.load_fashion_mnist("test", root=dest, download=False)
    assert images.shape == (10000, 28, 28) and seen
    assert not list(dest.glob("*.part"))


def test_load_downloads_into_explicit_root(mirror, real_dir, tmp_path, monkeypatch):
    url, folder = mirror
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(real_dir / f"{stem}.gz", folder)
    monkeypatch.setenv("FASHION_MNIST_MIRROR", url)
    root = tmp_path / "root"
    images, _ = data.load_fashion_mnist("test", root=root)
    assert images.shape[0] == 10000
    assert (root / "t10k-images-idx3-ubyte.gz").is_file()


def test_download_truncated_leaves_nothing(mirror, real_dir, tmp_path):
    url, folder = mirror
    raw = (real_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: downloaded file is "
                                           r"unusable: .*truncated gzip"):
        data.download("t10k-labels-idx1-ubyte", dest, mirror=url)
    assert list(dest.iterdir()) == []


def test_download_corrupted_content_leaves_nothing(mirror, real_dir, tmp_path):
    url, folder = mirror
    payload = bytearray(gzip.decompress((real_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    payload[100] ^= 1  # one label changed: still a valid IDX file, wrong content
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(payload)))
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError, match="checksum mismatch"):
        data.download("t10k-labels-idx1-ubyte", dest, mirror=url)
    assert list(dest.iterdir()) == []


def test_download_http_error(mirror, tmp_path):
    url, _ = mirror
    with pytest.raises(DatasetError, match=r"download failed \(HTTP 404"):
        data.download("t10k-labels-idx1-ubyte", tmp_path / "dest", mirror=url)


def test_download_unreachable(tmp_path):
    with pytest.raises(DatasetError, match="download failed"):
        data.download("t10k-labels-idx1-ubyte", tmp_path, mirror="http://127.0.0.1:9/",
                      timeout=5)


# ------------------------------------------------------------------------ CLI


def test_cli_data_reports_and_exit_status(real_dir, tmp_path, capsys):
    assert cli.main(["data", "--data-dir", str(real_dir)]) == 0
    out = capsys.readouterr().out
    assert "all 4 files verified" in out and str(real_dir) in out
    assert cli.main(["data", "--data-dir", str(_fake_dataset(tmp_path / "f"))]) == 1
    assert "checksum mismatch" in capsys.readouterr().out


def test_cli_data_fetch(mirror, real_dir, tmp_path, monkeypatch, capsys):
    url, folder = mirror
    for stem in data.FILES:
        shutil.copy(real_dir / f"{stem}.gz", folder)
    monkeypatch.setenv("FASHION_MNIST_MIRROR", url)
    root = tmp_path / "fetched"
    assert cli.main(["data", "--data-dir", str(root)]) == 1
    assert cli.main(["data", "--data-dir", str(root), "--fetch"]) == 0
    assert "all 4 files verified" in capsys.readouterr().out
