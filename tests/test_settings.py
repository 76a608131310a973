"""One source for each setting: the estimators' defaults are their preset's, and the
presets' checks and the estimators' validation read the same allowed values."""

from __future__ import annotations

import inspect

import pytest

import fashion_cluster as fc
from fashion_cluster import config, settings
from fashion_cluster.config import load_preset

# Parameters of how and where a fit runs, which no preset sets.
NOT_SETTINGS = {"image_shape", "device", "random_state", "verbose"}


def _preset_value(preset, key: str):
    section, name = key.split(".")
    return getattr(getattr(preset, section), name)


@pytest.mark.parametrize("cls", [fc.ContrastiveSCAN], ids=lambda c: c.__name__)
def test_estimator_defaults_are_their_presets(cls):
    preset = load_preset(cls.PRESET)
    defaults = cls()
    for param, key in cls.PRESET_KEYS.items():
        assert getattr(defaults, param) == _preset_value(preset, key), (param, key)
    params = set(inspect.signature(cls).parameters)
    assert params - NOT_SETTINGS == set(cls.PRESET_KEYS), "a parameter without its setting"


def test_contrastive_scan_shares_its_batch_with_the_scan_step():
    """ContrastiveSCAN has one batch size for both steps: the preset must agree."""
    best = load_preset("best")
    assert best.simclr.batch_size == best.scan.batch_size
    assert best.simclr.processes == best.scan.processes


def test_the_presets_and_the_estimators_read_the_same_choices():
    from fashion_cluster import clusterers, estimators

    assert config.CLUSTER_SIZES is settings.CLUSTER_SIZES is clusterers.CLUSTER_SIZES \
        is estimators.CLUSTER_SIZES
    assert settings.CHOICES["cluster_sizes"] is settings.CLUSTER_SIZES
    assert settings.CHOICES["gmm_covariance"] is settings.COVARIANCE_TYPES
