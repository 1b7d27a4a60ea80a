"""Typed ``params:classifier`` / ``params:evaluation``: conf/base is complete, mistakes are one line."""
from __future__ import annotations

import pytest

from faceless.recognition.config import ClassifierConfig, EvaluationConfig
from faceless.utils.config import from_params, to_params
from faceless.utils.errors import ConfigError

from ..conftest import base_params


def classifier_config(**overrides) -> ClassifierConfig:
    return from_params(ClassifierConfig, base_params("classifier", **overrides), "classifier")


def test_conf_base_builds_both_configs():
    cfg = classifier_config()
    assert cfg.model.arch == "small_cnn"
    assert cfg.selection == "last"
    assert (cfg.normalisation.mean, cfg.normalisation.std) == (0.5, 0.25)
    assert cfg.val_batch_size == 128 and cfg.one_cycle_pct_start == 0.2
    assert to_params(cfg) == base_params("classifier")  # every key of conf/base, nothing else
    assert from_params(EvaluationConfig, base_params("evaluation"), "evaluation").batch_size == 128


def test_unknown_arch_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"classifier\.model\.arch .*small_cnn.*'resnet9'"):
        classifier_config(model__arch="resnet9")


def test_a_missing_key_is_named():
    params = base_params("classifier")
    del params["augment"]["flip"]
    with pytest.raises(ConfigError, match=r"missing parameter classifier\.augment\.flip"):
        from_params(ClassifierConfig, params, "classifier")


def test_an_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"classifier\.model\.widht"):
        classifier_config(model__widht=8)


@pytest.mark.parametrize("key, value, name", [
    ("selection", "best", r"classifier\.selection"),
    ("epochs", 0, r"classifier\.epochs"),
    ("val_batch_size", 0, r"classifier\.val_batch_size"),
    ("normalisation__std", 0, r"classifier\.normalisation\.std"),
    ("checkpoint_every_epochs", -1, r"classifier\.checkpoint_every_epochs"),
    ("device", "tpu", r"classifier\.device"),
])
def test_bad_values_are_one_line_naming_the_parameter(key, value, name):
    with pytest.raises(ConfigError, match=name) as err:
        classifier_config(**{key: value})
    assert "\n" not in str(err.value)


def test_evaluation_batch_size_must_be_positive():
    with pytest.raises(ConfigError, match=r"evaluation\.batch_size"):
        from_params(EvaluationConfig, base_params("evaluation", batch_size=0), "evaluation")


@pytest.mark.parametrize("seeds", [[], [0, 0], [0, 3]])
def test_seeds_must_be_a_list_of_well_separated_seeds(seeds):
    with pytest.raises(ConfigError, match=r"classifier\.seeds .*at least 4 apart"):
        classifier_config(seeds=seeds)
    assert classifier_config(seeds=[0, 10, 4]).seeds == [0, 10, 4]


def test_conf_base_evaluation_statistics():
    cfg = from_params(EvaluationConfig, base_params("evaluation"), "evaluation")
    assert (cfg.bootstrap.samples, cfg.bootstrap.confidence, cfg.bootstrap.seed) == (2000, 0.95, 0)
    assert cfg.permutations == 10000 and cfg.flip_tta is False
    # every declared variant against lr, in conf's order, and srgan against bicubic
    declared = list(base_params("variants"))
    assert [pair for pair in cfg.comparisons if pair[1] == "lr"] == [[v, "lr"] for v in declared if v != "lr"]
    assert ["srgan", "bicubic"] in cfg.comparisons
    assert ["srgan_pretrained", "bicubic"] in cfg.comparisons  # generic pretrained SR vs plain upscaling


@pytest.mark.parametrize("key, value, name", [
    ("bootstrap__samples", 0, r"evaluation\.bootstrap\.samples"),
    ("bootstrap__confidence", 95, r"evaluation\.bootstrap\.confidence"),
    ("bootstrap__seed", "x", r"evaluation\.bootstrap\.seed"),
    ("permutations", 0, r"evaluation\.permutations"),
    ("flip_tta", "yes", r"evaluation\.flip_tta"),
    ("comparisons", [["srgan", "srgan"]], r"evaluation\.comparisons\[0\]"),
    ("comparisons", [["srgan", "lr", "bicubic"]], r"evaluation\.comparisons\[0\]"),
])
def test_bad_evaluation_values_are_one_line_naming_the_parameter(key, value, name):
    with pytest.raises(ConfigError, match=name) as err:
        from_params(EvaluationConfig, base_params("evaluation", **{key: value}), "evaluation")
    assert "\n" not in str(err.value)
