"""Command-line conventions: --version, ``python -m fashion_cluster``, one version."""

import importlib.metadata
import subprocess
import sys

import pytest

import fashion_cluster


def test_version_is_written_once_and_printed_by_python_m():
    assert importlib.metadata.version("fashion-cluster") == fashion_cluster.__version__
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"fashion-cluster {fashion_cluster.__version__}"


def test_device_takes_a_cuda_index_and_refuses_others():
    from fashion_cluster import cli

    parser = cli._parser()
    assert parser.parse_args(["run", "--device", "cuda:1"]).device == "cuda:1"
    assert parser.parse_args(["run"]).device == "auto"
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--device", "cuda:x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice: 'cuda:x'" in done.stderr


def _options(parser):
    """(parser, option) pairs of a parser and all its subcommands."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        elif action.option_strings and action.dest not in ("help", "version"):
            yield parser.prog, action


def test_every_option_has_help_and_run_help_lists_the_presets():
    from fashion_cluster import cli
    from fashion_cluster.config import available_presets, load_preset

    missing = [f"{prog} {action.option_strings[0]}" for prog, action in _options(cli._parser())
               if not action.help]
    assert not missing
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--help"],
                          capture_output=True, text=True, timeout=60)
    for name in available_presets():
        description = load_preset(name).description
        assert description and f"{name}" in done.stdout and description in done.stdout


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch, capsys):
    import pytest

    from fashion_cluster import cli

    monkeypatch.setattr(cli, "_cmd_presets", lambda args: 1 / 0)
    assert cli.main(["presets"]) == 1
    err = capsys.readouterr().err
    assert "error: unexpected ZeroDivisionError: division by zero" in err
    assert "run with --debug for the traceback" in err and "Traceback" not in err
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "presets"])


TINY = """
methods = ["kmeans_raw"]
[elbow]
enabled = false
[clustering]
k = 3
n_init = 1
sweep_seeds = [0]
[report]
map_points = 10
map_method = "tsne"
"""


@pytest.mark.slow
def test_verbosity_flags(tmp_path, capsys):
    import numpy as np

    from fashion_cluster import cli

    images = np.random.default_rng(0).integers(0, 255, (40, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "tiny.npz", images=images)
    (tmp_path / "tiny.toml").write_text(TINY)

    def run(*flags: str, out: str) -> str:
        args = [*flags, "run", "--preset", str(tmp_path / "tiny.toml"), "--dataset",
                str(tmp_path / "tiny.npz"), "--out", str(tmp_path / out), "--device", "cpu"]
        assert cli.main(args) == 0
        captured = capsys.readouterr()
        assert "results in" in captured.out  # results on stdout whatever the level
        return captured.err

    normal, quiet, verbose = run(out="a"), run("-q", out="b"), run("-v", out="c")
    assert "K-Means on raw pixels: k = 3" in normal and "key " not in normal
    assert "K-Means on raw pixels" not in quiet and "key " not in quiet
    assert "K-Means on raw pixels: k = 3" in verbose and "kmeans_raw: key " in verbose



def test_run_summary_says_when_a_result_is_doubtful(tmp_path):
    from fashion_cluster.cli import _summary_line

    method = {"label_free": {"train": {"cluster_sizes": [95, 5, 0]},
                             "test": {"silhouette": 0.1}},
              "warnings": ["1 of the 3 clusters are empty: the method found only 2 groups"]}
    text = _summary_line({"methods": {"scan": method}}, tmp_path, 12.0)
    assert "doubtful: 1 of the 3 clusters are empty" in text
    assert "doubtful" not in _summary_line({"methods": {"scan": dict(method, warnings=[])}},
                                           tmp_path, 12.0)
