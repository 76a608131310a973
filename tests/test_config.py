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
    ("[clustering]\nsweep_seeds = [1, 'a']", r"sweep_seeds must hold int"),
    ("this is = = not toml", r"not valid TOML"),
])
def test_bad_presets_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_preset(path)


def test_unknown_preset_name():
    with pytest.raises(ConfigError, match=r"unknown preset 'fast' \(available: .*paper"):
        load_preset("fast")
