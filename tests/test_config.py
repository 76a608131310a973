"""Presets: packaged ones load, bad ones are refused with a message naming the problem."""

import pytest

from fashion_cluster.config import ConfigError, StudyConfig, available_presets, load_preset


def test_packaged_presets_load():
    assert {"paper", "quick"} <= set(available_presets())
    paper = load_preset("paper")
    assert paper.name == "paper" and paper.clustering.k == 10
    assert paper.elbow.k_max == 25 and paper.elbow.n_init == 10
    assert paper.dense_ae.epochs == 100 and paper.dense_ae.batch_size == 256
    assert paper.data.n_train == 0
    quick = load_preset("quick")
    assert 0 < quick.data.n_train <= 10000
    assert load_preset("best").simclr.gamma == 2.0 and load_preset("fast").simclr.gamma == 1.0


def test_replace_nested():
    cfg = StudyConfig().replace(seed=3, clustering__k=7)
    assert cfg.seed == 3 and cfg.clustering.k == 7


@pytest.mark.parametrize(("text", "message"), [
    ("[elbow]\nk_max = 'many'", r"elbow\.k_max must be int"),
    ("[elbow]\nk_min = 0", r"elbow\.k_min must be >= 1"),
    ("[elbow]\nk_min = 9\nk_max = 3", r"k_min \(9\) is larger than elbow\.k_max \(3\)"),
    ("[clustering]\nbogus = 1", r"unknown key\(s\) in \[clustering\]: bogus"),
    ("[nonsense]\na = 1", r"unknown key\(s\): nonsense"),
    ("methods = ['kmeans_raw', 'magic']", r"unknown method\(s\) magic"),
    ("[dense_ae]\nlearning_rate = 0", r"learning_rate must be > 0"),
    ("[dense_ae]\nepochs = true", r"dense_ae\.epochs must be int"),
    ("[clustering]\ngmm_covariance = 'round'", r"must be one of full, tied"),
    ("[simclr]\ngamma = 0.5", r"simclr\.gamma must be >= 1"),
    ("[clustering]\nsweep_seeds = [1, 'a']", r"sweep_seeds must hold int"),
    ("this is = = not toml", r"not valid TOML"),
])
def test_bad_presets_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_preset(path)


def test_unknown_preset_name():
    with pytest.raises(ConfigError, match=r"unknown preset 'fastest' \(available: .*paper"):
        load_preset("fastest")


def test_a_partial_section_keeps_that_sections_other_defaults(tmp_path):
    # StudyConfig's conv_ae trains 5 epochs, not AutoencoderConfig's 100.
    path = tmp_path / "partial.toml"
    path.write_text("[conv_ae]\nbatch_size = 64\n[dense_ae]\nepochs = 3\n")
    cfg = load_preset(path)
    assert cfg.conv_ae.batch_size == 64 and cfg.conv_ae.epochs == StudyConfig().conv_ae.epochs == 5
    assert cfg.dense_ae.epochs == 3 and cfg.dense_ae.batch_size == 256


def test_validating_a_preset_loads_neither_torch_nor_scikit_learn():
    import subprocess
    import sys

    code = ("import sys; from fashion_cluster.config import load_preset; "
            "[load_preset(p) for p in ('paper', 'quick', 'fast', 'best', 'extended')]; "
            "heavy = {'torch', 'sklearn'} & set(sys.modules); assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_error_of_ours_has_one_base():
    from fashion_cluster import FashionClusterError
    from fashion_cluster.artifacts import ArtifactError
    from fashion_cluster.data import DatasetError
    from fashion_cluster.distributed import ClusterError
    from fashion_cluster.study import OutputError
    from fashion_cluster.training import TrainingError

    for error in (ArtifactError, ConfigError, DatasetError, OutputError):
        assert issubclass(error, FashionClusterError) and issubclass(error, ValueError)
    for error in (ClusterError, TrainingError):
        assert issubclass(error, FashionClusterError) and issubclass(error, RuntimeError)
