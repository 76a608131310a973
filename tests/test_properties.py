"""Property-based tests (hypothesis): whatever arrays, shapes, dtypes or file bytes come
in, `read_images`, `fashion_cluster.load` and ``fashion-cluster predict`` give a result or
the package's own error (`FashionClusterError`; on the command line exit status 2 and one
line on stderr starting with ``error:``), never another exception, a traceback or exit
status 1, and never change an existing file.

Examples a test (module constants): ``READ_EXAMPLES`` = 100 for each ``read_images``
test, ``LOAD_EXAMPLES`` = 100 for each ``load`` test and ``PREDICT_EXAMPLES`` = 30 for
each ``predict`` test, which share one small K-Means run made once for the module. Every
test is derandomized (the same examples on every run, in CI too) and keeps no example
database. A test that finds a bug may be marked ``xfail(strict=True)`` with the bug and a
minimal example in its reason, and ``failing=True`` (no shrinking) while it is open.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fashion_cluster as fc
from fashion_cluster import cli
from fashion_cluster.artifacts import ArtifactError
from fashion_cluster.datasets import read_images
from fashion_cluster.errors import FashionClusterError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # on damaged images

READ_EXAMPLES = 100
LOAD_EXAMPLES = 100
PREDICT_EXAMPLES = 30


def _settings(examples: int, failing: bool = False):
    """Derandomized, no database, no deadline; ``failing``: for a test marked xfail, no
    shrinking (fast while it fails; its reason gives a minimal example)."""
    phases = [Phase.explicit, Phase.generate] if failing else list(Phase)
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    phases=phases,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _bytes_of(save, *args, **kwargs) -> bytes:
    buffer = io.BytesIO()
    save(buffer, *args, **kwargs)
    return buffer.getvalue()


# ------------------------------------------------------------------- strategies

DTYPES = ["uint8", "uint16", "int32", "int64", "float16", "float32", "float64", "complex64",
          "bool", "<U3"]
dtypes = st.sampled_from(DTYPES).map(np.dtype)
numeric_dtypes = st.sampled_from(DTYPES[:7]).map(np.dtype)
image_shapes = st.one_of(
    st.tuples(st.integers(0, 4), st.integers(1, 4), st.integers(1, 4)),
    st.tuples(st.integers(0, 4), st.integers(1, 4), st.integers(1, 4), st.sampled_from([1, 3])),
)
any_shapes = st.one_of(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
                       image_shapes)
# Arrays of any dtype and shape; floats include NaN and infinities.
any_arrays = hnp.arrays(dtypes, any_shapes)
image_like_arrays = hnp.arrays(numeric_dtypes, image_shapes)
pixel_arrays = hnp.arrays(numeric_dtypes, image_shapes.filter(lambda shape: shape[0] > 0),
                          elements=st.integers(0, 255))

_UNPICKLED: list[str] = []


def _unpickled(tag: str) -> str:
    """Called only when a pickle written by these tests is loaded: it must never be."""
    _UNPICKLED.append(tag)
    return tag


class _Tripwire:
    def __reduce__(self):
        return (_unpickled, ("unpickled",))


@st.composite
def object_arrays(draw) -> np.ndarray:
    """Object arrays (saved with pickle) holding a tripwire, shaped like images or not."""
    items = draw(st.lists(st.one_of(st.integers(0, 255), st.none(), st.text(max_size=3)),
                          max_size=5))
    array = np.empty(len(items) + 1, dtype=object)
    array[:] = [_Tripwire(), *items]
    return array.reshape(-1, 1, 1) if draw(st.booleans()) else array


NPZ_KEYS = ["images", "test_images", "labels", "test_labels", "class_names", "other"]
npz_contents = st.one_of(
    st.dictionaries(st.sampled_from(NPZ_KEYS), st.one_of(image_like_arrays, any_arrays,
                                                        object_arrays()), max_size=4),
    # Both splits, of pixel values: read past their checks.
    st.fixed_dictionaries({"images": pixel_arrays, "test_images": pixel_arrays},
                          optional={"labels": any_arrays, "class_names": any_arrays}),
)

# Starts of real formats, so that random bytes get past the first check now and then.
MAGICS = [b"", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00",
          b"PK\x03\x04", b"PK\x05\x06", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff",
          b"BM", b"II*\x00", b"MM\x00*", b"RIFF", b"\x1f\x8b", b"\x00\x00\x08\x03",
          b"\x08\x00\x00\x00\x00\x00\x00\x00"]
random_bytes = st.builds(lambda magic, body: magic + body, st.sampled_from(MAGICS),
                         st.binary(max_size=300))

# One small valid file of each kind that read_images reads (see valid_files).
ARRAY_FILES = ["x.npy", "x.npz", "compressed.npz"]
IMAGE_FILES = ["grey.png", "rgb.png", "wide.png", "float.tif", "x.gif", "x.jpg", "x.bmp",
               "x.webp"]


@functools.cache
def valid_files() -> dict[str, bytes]:
    from PIL import Image

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    files = {"x.npy": _bytes_of(np.save, grey),
             "x.npz": _bytes_of(np.savez, images=grey, labels=np.arange(3)),
             "compressed.npz": _bytes_of(np.savez_compressed, images=grey, test_images=grey)}
    pictures = {"grey.png": (Image.fromarray(grey[0]), "PNG"),
                "rgb.png": (Image.fromarray(rng.integers(0, 256, (4, 4, 3), np.uint8)), "PNG"),
                "wide.png": (Image.fromarray(grey[0].astype(np.uint16) * 257), "PNG"),
                "float.tif": (Image.fromarray(grey[0].astype(np.float32) / 255), "TIFF"),
                "x.gif": (Image.fromarray(grey[0]), "GIF"),
                "x.jpg": (Image.fromarray(grey[0]), "JPEG"),
                "x.bmp": (Image.fromarray(grey[0]), "BMP"),
                "x.webp": (Image.fromarray(grey[0]), "WEBP")}
    for name, (image, kind) in pictures.items():
        files[name] = _bytes_of(image.save, format=kind)
    assert sorted(files) == sorted(ARRAY_FILES + IMAGE_FILES)
    return files


def _mutate(data: bytes, ops: list[tuple]) -> bytes:
    data = bytearray(data)
    for kind, where, *arg in ops:
        pos = where % (len(data) + 1)
        if kind == "flip" and data:
            data[where % len(data)] ^= arg[0]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = arg[0]
        elif kind == "delete":
            del data[pos : pos + arg[0]]
    return bytes(data)


# Anywhere in the file, or in its first bytes, where the headers are.
positions = st.one_of(st.integers(0, 127), st.integers(0, 2**20))
mutations = st.lists(st.one_of(
    st.tuples(st.just("flip"), positions, st.integers(1, 255)),
    st.tuples(st.just("truncate"), positions),
    st.tuples(st.just("insert"), positions, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), positions, st.integers(1, 16)),
), min_size=1, max_size=3)


def damaged(names: list[str]):
    return st.builds(lambda name, ops: (name, _mutate(valid_files()[name], ops)),
                     st.sampled_from(names), mutations)


def npy_header(text: str, version: int) -> bytes:
    text = text.ljust(((len(text) + 12 + 63) // 64) * 64 - 12) + "\n"
    size = struct.pack("<H" if version == 1 else "<I", len(text))
    return (b"\x93NUMPY" + bytes([version, 0]) + size
            + text.encode("latin1" if version < 3 else "utf8", "replace"))


# Sides small or far too large: never an allocation that succeeds and is then filled.
npy_headers = st.one_of(
    st.builds(lambda descr, shape, fortran: f"{{'descr': {descr!r}, 'fortran_order': "
                                            f"{fortran!r}, 'shape': {tuple(shape)!r}, }}",
              st.sampled_from(["|u1", "<f8", ">f4", "<f2", "<u2", "<i8", "<c8", "|b1", "<U3",
                               "|O", "|V4", "<M8[s]", "nonsense", [("a", "<f4")],
                               [("a", "|u1", (2,))]]),
              st.lists(st.sampled_from([0, 1, 2, 3, 2**40, 2**62, -1]), max_size=5),
              st.booleans()),
    st.text(max_size=40),  # not a dictionary at all
    st.builds(lambda text: "{'descr': '|u1', 'fortran_order': False, 'shape': " + text,
              st.text(max_size=10)),  # cut short
)
crafted_npy = st.builds(lambda text, version, body: npy_header(text, version) + body,
                        npy_headers, st.sampled_from([1, 2, 3]), st.binary(max_size=64))

IDX_SIDES = [0, 1, 2, 3, 28, 2**16, 2**24, 2**31, 2**32 - 1]
IDX_ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@st.composite
def idx_files(draw) -> bytes:
    """IDX files with any header; the payload mostly as long as the header says (in
    int64 arithmetic, as a reader may compute it), else of any length."""
    type_code = draw(st.sampled_from([*IDX_ITEMSIZE, 0x07]))
    shape = draw(st.one_of(st.lists(st.sampled_from(IDX_SIDES), max_size=5),
                           st.builds(lambda side, n: [side] * n, st.sampled_from(IDX_SIDES),
                                     st.integers(1, 5))))
    promised = int(np.prod(shape, dtype=np.int64)) * IDX_ITEMSIZE.get(type_code, 1)
    if 0 <= promised <= 4096 and draw(st.booleans()):
        body = np.random.default_rng(draw(st.integers(0, 9))).bytes(promised)
    else:
        body = draw(st.binary(max_size=64))
    header = bytes([0, 0, type_code, len(shape)]) + b"".join(
        struct.pack(">I", side) for side in shape)
    return header + body


# ----------------------------------------------------------------- read_images


def _read(target: Path, folder: Path) -> None:
    """``read_images(target)`` is a result or a FashionClusterError; nothing changed."""
    before = _snapshot(folder)
    try:
        images, names = read_images(target)
    except FashionClusterError:
        pass
    else:
        assert len(images) == len(names)
        assert images.ndim in (3, 4) and len(images) > 0
        del images
    assert _snapshot(folder) == before


def _read_file(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(data)
        _read(Path(tmp) / name, Path(tmp))


def _read_folder(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        _read(folder, Path(tmp))


@_settings(READ_EXAMPLES)
@given(array=st.one_of(any_arrays, object_arrays()))
def test_read_images_on_random_npy_arrays(array):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, array, allow_pickle=True)
        _read(path, Path(tmp))
        if array.dtype == object:
            with pytest.raises(FashionClusterError):
                read_images(path)
    assert not _UNPICKLED


@_settings(READ_EXAMPLES)
@given(arrays=npz_contents, compressed=st.booleans())
def test_read_images_on_random_npz_arrays(arrays, compressed):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npz"
        (np.savez_compressed if compressed else np.savez)(path, **arrays)
        _read(path, Path(tmp))
    assert not _UNPICKLED


@_settings(READ_EXAMPLES)
@given(name=st.sampled_from(["x.png", "x.safetensors", "x.jpg", "x.tif"]), data=random_bytes)
def test_read_images_on_random_bytes_named_as_images(name, data):
    _read_file(name, data)


@_settings(READ_EXAMPLES)
@given(name=st.sampled_from(["x.npy", "x.npz"]),
       data=st.one_of(random_bytes, st.sampled_from(ARRAY_FILES).map(
           lambda name: valid_files()[name])))
def test_read_images_on_random_bytes_named_as_arrays(name, data):
    _read_file(name, data)


@_settings(READ_EXAMPLES)
@given(data=crafted_npy, where=st.sampled_from(["x.npy", "x.npz", "x.npz compressed"]))
def test_read_images_on_crafted_npy_headers(data, where):
    if where == "x.npy":
        return _read_file("x.npy", data)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED if "compressed" in where else
                         zipfile.ZIP_STORED) as zf:
        zf.writestr("images.npy", data)
    _read_file("x.npz", packed.getvalue())


@_settings(READ_EXAMPLES)
@given(file=damaged(IMAGE_FILES))
def test_read_images_on_damaged_image_files(file):
    name, data = file
    _read_file("x" + Path(name).suffix, data)


@_settings(READ_EXAMPLES)
@given(file=damaged(ARRAY_FILES))
def test_read_images_on_damaged_array_files(file):
    name, data = file
    _read_file("x" + Path(name).suffix, data)


@_settings(READ_EXAMPLES)
@given(mode=st.sampled_from(["L", "RGB", "I;16", "I", "F", "1", "LA", "RGBA"]),
       height=st.integers(1, 4), width=st.integers(1, 4), data=st.data())
def test_read_images_on_random_image_files(mode, height, width, data):
    """Images Pillow writes from random pixels, NaN and negative values included."""
    from PIL import Image

    dtype = {"I;16": "uint16", "I": "int32", "F": "float32", "1": "bool"}.get(mode, "uint8")
    bands = {"RGB": 3, "LA": 2, "RGBA": 4}.get(mode)
    array = data.draw(hnp.arrays(np.dtype(dtype), (height, width, bands) if bands
                                 else (height, width)))
    image = Image.fromarray(array)
    image = image if image.mode == mode else image.convert(mode)
    suffix = data.draw(st.sampled_from([".tif", ".png"] if mode in ("I", "F") else
                                       [".png", ".tif", ".webp", ".bmp"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        try:
            image.save(path)
        except (OSError, ValueError, KeyError):  # a mode this format cannot hold
            return
        _read(path, Path(tmp))


IMAGE_FOLDER_NAMES = ["a.png", "b.jpg", "sub/c.png", "sub/deeper/d.tif", "other/e.gif",
                      ".hidden.png", "sub/.f.png", "x.npy", "x.npz", "notes.txt"]
image_folder_files = st.one_of(
    random_bytes, damaged(IMAGE_FILES + ARRAY_FILES).map(lambda file: file[1]),
    st.sampled_from(IMAGE_FILES).map(lambda name: valid_files()[name]))


@_settings(READ_EXAMPLES)
@given(files=st.dictionaries(st.sampled_from(IMAGE_FOLDER_NAMES), image_folder_files,
                             max_size=4))
def test_read_images_on_random_image_folders(files):
    _read_folder(files)


IDX_NAMES = ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
             "test-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "a.png"]


@_settings(READ_EXAMPLES)
@given(files=st.dictionaries(
    st.sampled_from(IDX_NAMES),
    st.one_of(idx_files(), idx_files().map(lambda data: gzip.compress(data, mtime=0)),
              random_bytes),
    min_size=1, max_size=3))
def test_read_images_on_idx_folders(files):
    _read_folder(files)


# ------------------------------------------------------------------------ load


@functools.cache
def saved_estimator() -> tuple[bytes, np.ndarray, np.ndarray]:
    """A saved K-Means estimator's bytes, a fixed input and its predictions."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        fc.KMeansClusterer(2, random_state=0).fit(np.random.default_rng(0).random((20, 3))).save(
            path)
        data = path.read_bytes()
    x = np.random.default_rng(1).random((50, 3))
    return data, x, _load_bytes(data).predict(x)


def _load_bytes(data: bytes):
    """``fashion_cluster.load`` on a file holding ``data``: the estimator or the
    ArtifactError it raised, after checking that the file is unchanged and nothing else
    was written."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        path.write_bytes(data)
        before = _snapshot(Path(tmp))
        try:
            return fc.load(path)
        except FashionClusterError as exc:
            assert isinstance(exc, ArtifactError)
            return exc
        finally:
            assert _snapshot(Path(tmp)) == before


def _safetensors_bytes(header: object) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8)


@_settings(LOAD_EXAMPLES)
@given(data=st.one_of(
    random_bytes,
    st.builds(lambda header, body: _safetensors_bytes(header) + body,
              st.dictionaries(st.text(max_size=8), json_values, max_size=3),
              st.binary(max_size=64)),
    st.builds(lambda text, body: _safetensors_bytes(text) + body,
              st.binary(max_size=64), st.binary(max_size=64)),
))
def test_load_random_bytes(data):
    _load_bytes(data)  # an estimator or an ArtifactError


@_settings(LOAD_EXAMPLES)
@given(ops=mutations)
def test_load_a_damaged_estimator_file(ops):
    """Any change loads nothing or, after one change (in padding, say), the same model."""
    original, x, expected = saved_estimator()
    loaded = _load_bytes(_mutate(original, ops))
    if not isinstance(loaded, Exception) and len(ops) == 1:
        np.testing.assert_array_equal(loaded.predict(x), expected)


@_settings(LOAD_EXAMPLES)
@given(where=st.integers(0, 2**20), mask=st.integers(1, 255))
def test_load_refuses_a_flipped_byte_in_the_data(where, mask):
    original, x, expected = saved_estimator()
    start = 8 + struct.unpack("<Q", original[:8])[0]
    assert start < len(original)
    position = start + where % (len(original) - start)
    loaded = _load_bytes(_mutate(original, [("flip", position, mask)]))
    if not isinstance(loaded, Exception):
        np.testing.assert_array_equal(loaded.predict(x), expected)
    assert isinstance(loaded, ArtifactError) and "checksum" in str(loaded)


ESTIMATOR_NAMES = ["KMeansClusterer", "GMMClusterer", "SCANClusterer", "DenseAutoencoder",
                   "ConvAutoencoder", "ContrastiveEncoder", "AutoencoderKMeans",
                   "ContrastiveSCAN", "os.system", "Saveable"]
MARKERS = ["__array__", "__tuple__", "__dict__", "__estimator__"]


def tree_values(arrays: list[str]):
    """JSON as `persistence` writes it (arrays, tuples, dicts and estimators marked by a
    key), its markers holding the right kind of value or any other."""
    leaves = (st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=4)
              | st.sampled_from(arrays or ["none"]).map(lambda key: {"__array__": key}))
    return st.recursive(leaves, lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3).map(lambda d: {"__dict__": d})
        | st.lists(inner, max_size=3).map(lambda items: {"__tuple__": items})
        | st.builds(lambda name, params, state: {"__estimator__": {
            "class": name, "params": params, "state": state}},
            st.sampled_from(ESTIMATOR_NAMES), inner, inner)
        | st.builds(lambda marker, value: {marker: value}, st.sampled_from(MARKERS), inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ), max_leaves=6)


@st.composite
def crafted_estimator_files(draw) -> bytes:
    """A safetensors file in the estimator format with a random tree and random arrays,
    with a correct checksum or none (as files written before checksums existed)."""
    from safetensors.numpy import save

    from fashion_cluster.persistence import FORMAT, _digest

    arrays = draw(st.dictionaries(
        st.sampled_from(["params.a", "state.b", "state.c.0"]),
        hnp.arrays(st.sampled_from(["float32", "float64", "int64", "uint8"]).map(np.dtype),
                   hnp.array_shapes(min_dims=1, max_dims=2, max_side=3)), max_size=2))
    values = tree_values(sorted(arrays))
    attributes = st.dictionaries(st.text(max_size=8), values, max_size=3).map(
        lambda d: {"__dict__": d})
    tree = draw(st.one_of(
        st.fixed_dictionaries({"class": st.sampled_from(ESTIMATOR_NAMES),
                               "params": st.one_of(attributes, values),
                               "state": st.one_of(attributes, values)}),
        values))
    text = json.dumps(tree)
    metadata = {"format": FORMAT, "tree": text}
    if draw(st.booleans()):
        metadata["sha256"] = _digest(text, arrays)
    return save(arrays, metadata=metadata)


@_settings(LOAD_EXAMPLES)
@given(data=crafted_estimator_files())
def test_load_a_crafted_estimator_file(data):
    _load_bytes(data)  # an estimator or an ArtifactError


# --------------------------------------------------------------------- predict

@pytest.fixture(scope="module")
def finished_run(raw_run) -> Path:
    """conftest.py's finished K-Means run on 150 generated images of three kinds."""
    return raw_run["run"]


def _predict(run: Path, data: bytes | np.ndarray, name: str) -> tuple[int, list[list[str]]]:
    """``fashion-cluster predict RUN INPUT --out CSV --quiet`` on ``data`` saved as
    ``name``: exit status 0 and a CSV, or 2, one line on stderr and no CSV; nothing else
    written or changed, the run whole. Returns the status and the CSV's rows."""
    run_before = _snapshot(run)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / name
        if isinstance(data, np.ndarray):
            np.save(source, data, allow_pickle=True)
        else:
            source.write_bytes(data)
        (tmp / "keep.txt").write_text("not an output")
        before = _snapshot(tmp)
        out = tmp / "out.csv"
        err, stdout = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdout):
            status = cli.main(["predict", str(run), str(source), "--out", str(out), "--quiet"])
        err = err.getvalue()
        assert status in (0, 2), err
        assert stdout.getvalue() == ""
        after = _snapshot(tmp)
        assert {name: after.get(name) for name in before} == before
        if status == 0:
            assert err == "" and set(after) - set(before) == {"out.csv"}
            with open(out, newline="") as fh:
                rows = list(csv.reader(fh))
        else:
            assert err.startswith("error:") and err.count("\n") == 1, err
            assert set(after) == set(before)
            rows = []
    assert _snapshot(run) == run_before
    fc.load_run(run)
    return status, rows


PREDICT_SHAPES = [(28, 28), (784,), (28, 28, 1), (28, 28, 3), (27, 28), (28,), (),
                  (28, 28, 2), (1, 28, 28), (14, 14)]


@st.composite
def images_for_the_run(draw) -> np.ndarray:
    """Arrays like new images for the run (n 28x28 8-bit images), and unlike them: other
    shapes and dtypes, values outside 0..255, NaN, infinities, floats within [0, 1]."""
    if draw(st.booleans()):  # plausible: images of the run's size, pixel values
        shape = (draw(st.integers(1, 4)), *draw(st.sampled_from([(28, 28), (28, 28, 1)])))
        dtype = draw(numeric_dtypes)
        return draw(hnp.arrays(dtype, shape, elements=st.integers(0, 255)))
    shape = (draw(st.integers(0, 4)), *draw(st.sampled_from(PREDICT_SHAPES)))
    dtype = draw(dtypes)
    elements = hnp.from_dtype(dtype)
    if dtype.kind in "iufc":
        elements = st.one_of(st.integers(0, 255), elements)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@_settings(PREDICT_EXAMPLES)
@given(images=images_for_the_run())
@pytest.mark.slow
def test_predict_on_random_arrays(finished_run, images):
    status, rows = _predict(finished_run, images, "new.npy")
    if status == 0:
        assert rows[0][:2] == ["image", "cluster"] and len(rows) == len(images) + 1


@_settings(PREDICT_EXAMPLES)
@given(name=st.sampled_from(["new.npy", "new.npz", "new.png", "new.safetensors"]),
       data=st.one_of(random_bytes, crafted_npy, image_folder_files,
                      npz_contents.map(lambda arrays: _bytes_of(np.savez, **arrays))))
@pytest.mark.slow
def test_predict_on_random_files(finished_run, name, data):
    _predict(finished_run, data, name)
