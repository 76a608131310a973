"""Command-line conventions: --version, ``python -m fashion_cluster``, one version."""

import importlib.metadata
import subprocess
import sys

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
