"""Inputs are read as they are, or refused with a message naming the file: images of more
than 8 bits, folders with images beside class sub-folders, values that do not fit the run,
NaN / infinite / complex arrays, decompression bombs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from fashion_cluster.data import DatasetError
from fashion_cluster.datasets import check_values, load_dataset, read_images
from fashion_cluster.runs import RunResult


def _grey(seed: int = 0, shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    """An 8-bit image using the whole range 0..255."""
    values = np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)
    values.flat[:2] = (0, 255)
    return values


def _run(tmp_path: Path, value_range=(0, 255)) -> RunResult:
    return RunResult(tmp_path / "run", {"dataset": {"image_shape": [8, 8],
                                                    "value_range": list(value_range)}}, {})


# ------------------------------------------------------------ more than 8 bits


@pytest.mark.parametrize(("name", "wide"), [
    ("png16.png", lambda a: Image.fromarray(a.astype(np.uint16) * 257)),  # mode I;16
    ("be16.tif", lambda a: Image.fromarray((a.astype(np.uint16) * 257).astype(">u2"))),
    ("int32.tif", lambda a: Image.fromarray(a.astype(np.int32) * 257)),  # mode I
    ("float.tif", lambda a: Image.fromarray(a.astype(np.float32) / 255)),  # mode F
])
def test_a_wide_copy_of_an_8_bit_image_reads_as_that_image(tmp_path, name, wide):
    grey = _grey()
    wide(grey).save(tmp_path / name)
    images, names = read_images(tmp_path / name)
    assert names == [name] and images.dtype == np.uint8
    np.testing.assert_array_equal(images[0], grey)


def test_16_bit_values_are_rounded_to_the_nearest_8_bit_value(tmp_path):
    values = np.array([[0, 128, 129, 257, 385, 386, 65406, 65407]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "steps.png")
    images, _ = read_images(tmp_path / "steps.png")
    np.testing.assert_array_equal(images[0, 0], [0, 0, 1, 1, 1, 2, 254, 255])


def test_a_folder_of_8_and_16_bit_images_in_colour_gets_one_scale(tmp_path):
    grey = _grey()
    Image.fromarray(grey).save(tmp_path / "a8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "b16.png")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "c.png")
    images, names = read_images(tmp_path)
    assert names == ["a8.png", "b16.png", "c.png"] and images.shape == (3, 8, 8, 3)
    for image in images:
        np.testing.assert_array_equal(image, np.stack([grey] * 3, axis=-1))


@pytest.mark.parametrize(("name", "image", "message"), [
    ("big.tif", Image.fromarray(np.full((4, 4), 70000, np.int32)),
     r"big\.tif: a 32-bit integer image with values 70000\.\.70000"),
    ("scaled.tif", Image.fromarray(np.full((4, 4), 200.0, np.float32)),
     r"scaled\.tif: a 32-bit float image with values 200\.\.200; float images are read as "
     r"0 \(black\) to 1"),
    ("nan.tif", Image.fromarray(np.full((4, 4), np.nan, np.float32)), r"nan\.tif: .*nan"),
])
def test_wide_images_outside_the_rule_are_refused(tmp_path, name, image, message):
    image.save(tmp_path / name)
    with pytest.raises(DatasetError, match=message):
        read_images(tmp_path / name)


# ------------------------------------------- images beside class sub-folders


@pytest.fixture
def mixed_folder(tmp_path):
    """Two class sub-folders (one nested deeper), and two images at the top level."""
    root = tmp_path / "mixed"
    for rel in ("cats/a.png", "cats/deep/b.png", "dogs/c.png", "loose1.png", "loose2.png",
                ".hidden.png", "dogs/.ipynb_checkpoints/d.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_grey(len(rel))).save(root / rel)
    return root


def test_predict_reads_every_image_of_a_folder(mixed_folder):
    images, names = read_images(mixed_folder)
    assert sorted(names) == sorted(["cats/a.png", "cats/deep/b.png", "dogs/c.png",
                                    "loose1.png", "loose2.png"])
    for image, name in zip(images, names, strict=True):
        np.testing.assert_array_equal(image, _grey(len(name)))


def test_a_labelled_set_with_unlabelled_images_is_refused(mixed_folder):
    with pytest.raises(DatasetError, match=r"mixed: 2 image\(s\) at the top level beside the "
                       r"class sub-folders \(loose1\.png, loose2\.png\).*Move them"):
        load_dataset(mixed_folder)
    for name in ("loose1.png", "loose2.png"):
        (mixed_folder / name).unlink()
    data = load_dataset(mixed_folder, test_fraction=0.3)
    assert data.class_names == ["cats", "dogs"]
    assert len(data.train_images) + len(data.test_images) == 3


def test_top_level_images_beside_folders_without_images_are_unlabelled(tmp_path):
    (tmp_path / "notes").mkdir()
    for i in range(3):
        Image.fromarray(_grey(i)).save(tmp_path / f"{i}.png")
    data = load_dataset(tmp_path)
    assert not data.labelled and len(data.train_images) + len(data.test_images) == 3


# ------------------------------------------------------ values that do not fit


def _bad(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / name
    if name.endswith(".npz"):
        np.savez(path, images=array)
    else:
        np.save(path, array)
    return path


GOOD = np.full((3, 8, 8), 100.0)
NAN, INF = GOOD.copy(), GOOD.copy()
NAN[2, 1, 1], INF[1, 0, 0] = np.nan, -np.inf

BAD_VALUES = [  # array, message, refused without a run's range too
    (GOOD / 255, r"look scaled to \[0, 1\].*multiply them by 255 or give the uint8", False),
    (GOOD.astype(np.float32) / 255, r"look scaled to \[0, 1\]", False),
    (GOOD - 150, r"values outside 0\.\.255.*image 0 is the first: -50\.\.-50", False),
    (np.full((3, 8, 8), 300, np.int64), r"values outside 0\.\.255", False),
    (np.full((3, 8, 8), 256, np.uint16), r"values outside 0\.\.255", False),
    (NAN, r"NaN or infinite values \(image 2 is the first\)", True),
    (INF, r"NaN or infinite values \(image 1 is the first\)", True),
    (GOOD.astype(np.complex64), "images must be real numbers, got dtype complex64", True),
    (GOOD > 0, "images must be numbers, got dtype bool", True),
]


@pytest.mark.parametrize(("array", "message", "always"), BAD_VALUES)
def test_check_values_names_the_file_and_the_problem(tmp_path, array, message, always):
    path = _bad(tmp_path, "new.npy", array)
    mapped = np.load(path, mmap_mode="r")
    with pytest.raises(DatasetError, match=rf"new\.npy: .*{message}"):
        check_values(mapped, str(path), (0.0, 255.0), batch_size=2)
    if always:
        with pytest.raises(DatasetError, match=message):
            check_values(mapped, str(path))
    else:
        check_values(mapped, str(path))  # fine for a run on data of another range


@pytest.mark.parametrize(("array", "message", "always"), BAD_VALUES)
def test_the_run_refuses_images_that_do_not_fit_it(tmp_path, array, message, always):
    with pytest.raises(DatasetError, match=rf"images for the run at .*run: .*{message}"):
        _run(tmp_path).scale(array)
    if not always:  # in range for a run on floats of -100..1000
        _run(tmp_path, (-100.0, 1000.0)).scale(array)


@pytest.mark.parametrize("images", [
    np.zeros((2, 8, 8)),  # all black: the same on either scale
    np.full((2, 8, 8), 255.0),
    np.arange(128, dtype=np.uint16).reshape(2, 8, 8) * 2,
    np.full((2, 8, 8), 255, np.uint8),
])
def test_images_that_fit_the_run_are_scaled(tmp_path, images):
    scaled = _run(tmp_path).scale(images)
    np.testing.assert_allclose(scaled, images.reshape(2, -1) / 255, rtol=1e-6)


@pytest.mark.parametrize(("name", "array", "message"), [
    ("nan.npz", NAN, r"nan\.npz\[images\]: images contain NaN or infinite values"),
    ("inf.npz", INF, r"inf\.npz\[images\]: images contain NaN or infinite values"),
    ("complex.npz", GOOD.astype(np.complex128), r"complex\.npz\[images\]: .*real numbers"),
    ("bool.npz", GOOD > 0, r"bool\.npz\[images\]: images must be numbers, got dtype bool"),
])
def test_training_data_with_bad_values_is_refused(tmp_path, name, array, message):
    path = _bad(tmp_path, name, array)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)
    with pytest.raises(DatasetError, match=message):
        read_images(path)


def test_an_idx_file_of_floats_with_nan_is_refused_by_name(tmp_path):
    from conftest import write_idx

    write_idx(tmp_path / "train-images-idx3-ubyte", NAN.astype(np.float32), compress=False,
              type_code=0x0D)
    for read in (load_dataset, read_images):
        with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: images contain NaN"):
            read(tmp_path)


@pytest.mark.parametrize(("array", "message"), [
    (GOOD.astype(np.complex64), "real numbers"), (GOOD > 0, "got dtype bool")])
def test_read_images_refuses_an_npy_of_another_dtype(tmp_path, array, message):
    with pytest.raises(DatasetError, match=rf"new\.npy: images must be .*{message}"):
        read_images(_bad(tmp_path, "new.npy", array))


# --------------------------------------------------------- decompression bombs


@pytest.mark.parametrize(("limit", "band"), [(40, "warning"), (20, "error")])
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch, limit, band):
    """64 pixels: between 1 and 2 times a limit of 40 Pillow only warns; above 2 times (a
    limit of 20) it raises. Both are refused, naming the file, before any pixel is read."""
    Image.fromarray(_grey()).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    message = rf"bomb\.png: 64 pixels, more than the limit of {limit}: a decompression bomb\?"
    with pytest.raises(DatasetError, match=message):
        read_images(tmp_path / "bomb.png")
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path)
    assert not decoded


def test_check_values_reads_a_zarr_array_of_rows(tmp_path):
    zarr = pytest.importorskip("zarr")
    store = zarr.open_array(str(tmp_path / "rows.zarr"), mode="w", shape=(10, 64),
                            chunks=(4, 64), dtype="f4")
    store[:] = 0.5
    images, names = read_images(tmp_path / "rows.zarr")
    assert len(names) == 10
    with pytest.raises(DatasetError, match=r"rows\.zarr: float values within \[0, 1\]"):
        check_values(images, "rows.zarr", [0.0, 255.0], batch_size=3)
    check_values(images, "rows.zarr")
