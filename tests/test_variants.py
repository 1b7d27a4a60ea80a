"""Variants are data: faceless.variants (the ``variants`` mapping as checked specs, what each needs and
why it may not run) and faceless.sr.config.variant_config (a generator variant's SR config)."""
from __future__ import annotations

import dataclasses

import pytest

from faceless.sr.config import load_config, variant_config
from faceless.utils.errors import ConfigError
from faceless.variants import (
    VariantSpec,
    answering_reason,
    enabled_specs,
    no_data_reason,
    no_truth_reason,
    uses_other_people,
    variant_specs,
)

from .conftest import base_params
from .sr.helpers import tiny_params

BASE_ORDER = ["lr", "bicubic", "srgan", "srgan_other", "srgan_self", "srgan_id", "srgan_pretrained", "clean64", "hr"]


def one(block: dict, name: str = "v") -> VariantSpec:
    return variant_specs({name: block})[name]


def refused(block, match: str, name: str = "v") -> ConfigError:
    with pytest.raises(ConfigError, match=match) as error:
        variant_specs({name: block})
    assert "\n" not in str(error.value)
    return error.value


# ----------------------------------------------------------------------------------------------
# conf/base's mapping
# ----------------------------------------------------------------------------------------------
def test_conf_base_declares_the_family_in_the_tables_order_with_the_four_that_answer_on():
    specs = variant_specs(base_params("variants"))
    assert list(specs) == BASE_ORDER
    assert list(enabled_specs(base_params("variants"))) == ["lr", "bicubic", "srgan", "hr"]
    assert {n: s.input for n, s in specs.items()} == {
        "lr": "frames", "bicubic": "interpolate", "srgan": "generator", "srgan_other": "generator",
        "srgan_self": "generator", "srgan_id": "generator", "srgan_pretrained": "generator",
        "clean64": "truth_downscaled", "hr": "truth"}
    assert specs["srgan_self"].pairs == "self" and specs["srgan_self"].requires == ("truth",)
    assert specs["srgan_id"].identity and specs["srgan_other"].pairs == "other"
    assert specs["bicubic"].mode == "bicubic"
    # enabled: auto with import: null: off
    assert not specs["srgan_pretrained"].enabled and specs["srgan_pretrained"].import_file is None


@pytest.mark.parametrize("params", [None, {}, [], "srgan"])
def test_the_mapping_must_be_a_non_empty_mapping(params):
    with pytest.raises(ConfigError, match=r"^variants must be a mapping of variant names to blocks"):
        variant_specs(params)


# ----------------------------------------------------------------------------------------------
# Each block's keys
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["enabled", "input"])
def test_enabled_and_input_are_required(missing):
    block = {"enabled": True, "input": "frames"}
    del block[missing]
    refused(block, rf"^variants\.v\.{missing} is missing")


def test_a_block_that_is_not_a_mapping_is_refused():
    refused("frames", r"^variants\.v must be a mapping with at least `enabled` and `input`")


def test_an_unknown_input_is_refused_naming_the_choices():
    refused({"enabled": True, "input": "upscale"},
            r"^variants\.v\.input must be one of frames \| interpolate \| generator \| truth \| truth_downscaled")


@pytest.mark.parametrize(("block", "key"), [
    ({"enabled": True, "input": "frames", "mode": "bicubic"}, "mode"),       # a key of another kind of block
    ({"enabled": True, "input": "interpolate", "pairs": "self"}, "pairs"),
    ({"enabled": True, "input": "truth", "recipe": {}}, "recipe"),
    ({"enabled": True, "input": "generator", "recipes": {"gan_steps": 0}}, "recipes"),  # a typo
    ({"enabled": True, "input": "generator", "import_file": "g.pth"}, "import_file"),
])
def test_an_unknown_key_is_refused_in_one_line_naming_the_variant_and_the_key(block, key):
    error = refused(block, rf"^variants\.srgan_l1: unknown key\(s\) {key} for input: {block['input']} "
                           r"\(allowed: enabled, input, ", name="srgan_l1")
    assert "description" in str(error)  # the keys it may carry are listed


@pytest.mark.parametrize("enabled", ["yes", 1, 0, None, "true"])
def test_enabled_is_true_false_or_auto(enabled):
    refused({"enabled": enabled, "input": "frames"}, r"^variants\.v\.enabled must be true \| false \| auto, got ")


@pytest.mark.parametrize("block", [
    {"enabled": "auto", "input": "frames"},
    {"enabled": "auto", "input": "generator", "pairs": "self"},  # a trained generator: no file to wait for
])
def test_enabled_auto_is_only_for_an_import_variant(block):
    refused(block, r"^variants\.v\.enabled: auto is for an import variant \(on when `import` names a file\)")


def test_enabled_auto_switches_an_import_variant_on_exactly_when_it_names_a_file():
    off = one({"enabled": "auto", "input": "generator", "import": None})
    on = one({"enabled": "auto", "input": "generator", "import": "data/06_models/MSRResNet_x4.pth"})
    assert not off.enabled and on.enabled
    assert on.imports and not on.trains_generator and on.import_file == "data/06_models/MSRResNet_x4.pth"
    # a file named but the variant said off: off
    assert not one({"enabled": False, "input": "generator", "import": "g.pth"}).enabled


@pytest.mark.parametrize("import_file", ["", "  ", 3, ["g.pth"]])
def test_import_is_a_file_path_or_null(import_file):
    refused({"enabled": True, "input": "generator", "import": import_file},
            r"^variants\.v\.import must be a file path or null")


@pytest.mark.parametrize(("extra", "named"), [
    ({"recipe": {"gan_steps": 0}}, "recipe"),
    ({"pairs": "self"}, "pairs"),
    ({"identity": True}, "identity"),
    ({"init": "other.pth"}, "init"),
    ({"pairs": "truth", "recipe": {"gan_steps": 0}}, "pairs, recipe"),
])
def test_an_import_with_anything_that_would_train_it_is_refused(extra, named):
    refused({"enabled": True, "input": "generator", "import": "g.pth", **extra},
            rf"^variants\.v: an imported generator is used as it is; {named} would train it "
            r"\(use init: <file> to fine-tune a file instead\)")


def test_an_import_with_the_defaults_written_out_is_accepted():
    spec = one({"enabled": True, "input": "generator", "import": "g.pth", "recipe": {}, "identity": False,
                "init": None})
    assert spec.imports and spec.recipe == {}


@pytest.mark.parametrize(("key", "own"), [("pairs", "pairs"), ("init_weights", "init"),
                                          ("pretrained_weights", "import")])
def test_a_recipe_cannot_carry_what_the_variant_says_with_its_own_key(key, own):
    refused({"enabled": True, "input": "generator", "recipe": {key: "x"}},
            rf"^variants\.v\.recipe\.{key}: say it as the variant's own key \({own}\)")


@pytest.mark.parametrize(("block", "match"), [
    ({"recipe": [{"gan_steps": 0}]}, r"^variants\.v\.recipe must be a mapping of srgan's keys to replace"),
    ({"pairs": "others"}, r"^variants\.v\.pairs must be one of auto \| truth \| self \| other"),
    ({"requires": ["gpu"]}, r"^variants\.v\.requires must be one of truth"),
    ({"identity": "yes"}, r"^variants\.v\.identity must be true or false"),
    ({"init": ""}, r"^variants\.v\.init must be a file path or null"),
])
def test_a_generator_blocks_values_are_checked(block, match):
    refused({"enabled": True, "input": "generator", **block}, match)


def test_requires_may_be_one_word_or_a_list():
    assert one({"enabled": True, "input": "generator", "requires": "truth"}).requires == ("truth",)
    assert one({"enabled": True, "input": "generator", "requires": ["truth"]}).requires == ("truth",)
    assert one({"enabled": True, "input": "generator"}).requires == ()


def test_an_interpolation_is_bicubic_unless_said_and_only_a_known_one():
    assert one({"enabled": True, "input": "interpolate"}).mode == "bicubic"
    refused({"enabled": True, "input": "interpolate", "mode": "lanczos"}, r"^variants\.v\.mode must be one of bicubic")


@pytest.mark.parametrize("name", ["Srgan", "1x", "sr-gan", "srgan.l1", "_srgan", "sr gan", "srgän"])
def test_a_variants_name_is_lower_case_letters_digits_and_underscores_from_a_letter(name):
    refused({"enabled": True, "input": "frames"}, rf"^variants\.{name}: a variant's name is lower-case letters",
            name=name)


def test_a_new_variant_is_one_block():
    """The issue's example: srgan's recipe with an L1 pixel loss and no adversarial stage."""
    spec = one({"enabled": True, "input": "generator", "recipe": {"pretrain_losses": [{"type": "l1", "weight": 1.0}],
                                                                  "gan_steps": 0}}, name="srgan_l1")
    assert spec.name == "srgan_l1" and spec.trains_generator and spec.pairs == "auto"
    assert spec.arrays == "srgan_l1" and spec.from_frames_alone and not spec.needs_truth


# ----------------------------------------------------------------------------------------------
# What a spec needs and makes
# ----------------------------------------------------------------------------------------------
SPECS = {
    "lr": {"enabled": True, "input": "frames"},
    "bicubic": {"enabled": True, "input": "interpolate"},
    "srgan": {"enabled": True, "input": "generator", "pairs": "auto"},
    "srgan_truth": {"enabled": True, "input": "generator", "pairs": "truth"},
    "srgan_self": {"enabled": True, "input": "generator", "pairs": "self", "requires": ["truth"]},
    "srgan_self_anywhere": {"enabled": True, "input": "generator", "pairs": "self"},
    "srgan_other": {"enabled": True, "input": "generator", "pairs": "other"},
    "srgan_pretrained": {"enabled": True, "input": "generator", "import": "g.pth"},
    "clean64": {"enabled": True, "input": "truth_downscaled"},
    "hr": {"enabled": True, "input": "truth"},
}


@pytest.fixture(scope="module")
def specs():
    return variant_specs(SPECS)


def test_arrays_name_the_classifiers_input(specs):
    assert {n: s.arrays for n, s in specs.items()} == {
        "lr": "lr", "bicubic": "bicubic", "srgan": "srgan", "srgan_truth": "srgan_truth", "srgan_self": "srgan_self",
        "srgan_self_anywhere": "srgan_self_anywhere", "srgan_other": "srgan_other",
        "srgan_pretrained": "srgan_pretrained", "clean64": "clean64", "hr": "hr"}
    # the upscaling stage makes every input but the frames and the truth as they are
    assert {n for n, s in specs.items() if not s.makes_input} == {"lr", "hr"}


def test_needs_truth(specs):
    assert {n for n, s in specs.items() if s.needs_truth} == {"srgan_truth", "srgan_self", "clean64", "hr"}


def test_from_frames_alone(specs):
    assert {n for n, s in specs.items() if not s.from_frames_alone} == {"clean64", "hr"}


def test_generators_train_or_import(specs):
    assert {n for n, s in specs.items() if s.has_generator} == {
        "srgan", "srgan_truth", "srgan_self", "srgan_self_anywhere", "srgan_other", "srgan_pretrained"}
    assert {n for n, s in specs.items() if s.imports} == {"srgan_pretrained"}
    assert not any(s.imports and s.trains_generator for s in specs.values())


def test_other_peoples_frames_are_read_only_for_a_variant_that_is_on_and_trains_on_them(specs):
    assert uses_other_people(specs)
    assert not uses_other_people({n: s for n, s in specs.items() if n != "srgan_other"})
    assert not uses_other_people(variant_specs(base_params("variants")))  # conf/base: srgan_other off
    assert uses_other_people(variant_specs(base_params("variants", srgan_other__enabled=True)))


# ----------------------------------------------------------------------------------------------
# Why a variant cannot answer, or has no data
# ----------------------------------------------------------------------------------------------
def test_answering_reason_is_none_for_a_variant_that_is_on_and_made_from_frames():
    declared = variant_specs(base_params("variants", srgan_self__enabled=True))
    for name in ("lr", "bicubic", "srgan", "srgan_self"):
        assert answering_reason(declared, name) is None


def test_answering_reason_for_an_undeclared_variant_lists_the_declared():
    reason = answering_reason(variant_specs(base_params("variants")), "srgan_l1")
    assert reason == f"predict.variant=srgan_l1 is not a variant of conf's `variants` (declared: {', '.join(BASE_ORDER)})"


def test_answering_reason_for_a_variant_made_from_the_truth_names_the_usable_ones():
    declared = variant_specs(base_params("variants"))
    for name in ("hr", "clean64"):
        assert answering_reason(declared, name) == (
            f"predict.variant={name}: its input is made from the high-resolution truth, which unlabeled frames do "
            "not have; choose one of lr, bicubic, srgan")


def test_answering_reason_for_a_variant_that_is_off_says_how_to_switch_it_on():
    reason = answering_reason(variant_specs(base_params("variants")), "srgan_id", param="serving.variant")
    assert reason == ("serving.variant=srgan_id: that variant is off (variants.srgan_id.enabled), so no classifier is "
                      "trained for it; switch it on or choose one of lr, bicubic, srgan")


def test_no_data_reason_says_why_a_variants_arrays_are_empty(specs):
    assert no_data_reason(specs["hr"]) == "hr is the high-resolution truth: the source has none"
    assert no_data_reason(specs["clean64"]) == "clean64 is the high-resolution truth downscaled: the source has none"
    assert no_data_reason(specs["srgan"]) == "its generator was not trained: sr_report_srgan says why"
    assert no_data_reason(specs["srgan_pretrained"]) == ("its generator was not imported: "
                                                         "sr_report_srgan_pretrained says why")
    assert no_data_reason(specs["lr"]) == no_data_reason(specs["bicubic"]) == "the sampled side has no frames"


def test_no_truth_reason_names_what_the_variant_needs_truth_for(specs):
    assert no_truth_reason(specs["srgan_truth"]) == ("srgan_truth trains on truth pairs (pairs: truth): the source "
                                                     "has no high-resolution truth")
    assert no_truth_reason(specs["srgan_self"]) == ("srgan_self runs where the source has high-resolution truth "
                                                    "(requires: truth): this one has none")


# ----------------------------------------------------------------------------------------------
# variant_config: a generator variant's SR config
# ----------------------------------------------------------------------------------------------
def generator(name: str = "v", **block) -> VariantSpec:
    return one({"enabled": True, "input": "generator", **block}, name)


def test_the_recipe_replaces_srgans_keys_and_merges_nested_blocks_key_by_key(tmp_path):
    params = tiny_params(tmp_path)
    base = load_config(params)
    config = variant_config(params, generator(recipe={"pretrain_losses": [{"type": "l1", "weight": 1.0}],
                                                      "gan_steps": 0, "generator": {"blocks": 2}}))
    assert config.pretrain_losses == [{"type": "l1", "weight": 1.0}] and config.gan_steps == 0
    assert config.generator == dataclasses.replace(base.generator, blocks=2)  # the rest kept from srgan.generator
    assert config.generator.channels == base.generator.channels == 8
    assert config.gan_losses == base.gan_losses and config.pretrain_steps == base.pretrain_steps
    assert params["gan_steps"] == 4 and params["generator"]["blocks"] == 1  # srgan's own block untouched


def test_a_variant_without_changes_is_srgans_recipe_in_its_own_checkpoints(tmp_path):
    params = tiny_params(tmp_path)
    config = variant_config(params, generator("srgan"))
    assert config == load_config({**params, "checkpoint_dir": f"{tmp_path}/srgan"})


@pytest.mark.parametrize("recipe", [{"gan_step": 0}, {"self_variant": True}])
def test_an_unknown_recipe_key_is_refused(tmp_path, recipe):
    key = next(iter(recipe))
    with pytest.raises(ConfigError, match=rf"^recipe key '{key}' is not a key of srgan \(conf/base/parameters_srgan"):
        variant_config(tiny_params(tmp_path), generator(recipe=recipe))


def test_the_run_names_the_variant_of_a_bad_recipe_before_any_work(tmp_path):
    from faceless.hooks import validate_parameters

    parameters = {"srgan": tiny_params(tmp_path),
                  "variants": {**base_params("variants"),
                               "srgan_l1": {"enabled": True, "input": "generator", "recipe": {"gan_step": 0}}}}
    with pytest.raises(ConfigError, match=r"^variants\.srgan_l1: recipe key 'gan_step' is not a key of srgan"):
        validate_parameters(parameters, {"srgan", "variants"})
    parameters["variants"]["srgan_l1"]["enabled"] = False  # off: not built, not checked beyond its block
    validate_parameters(parameters, {"srgan", "variants"})


def test_a_recipe_value_is_checked_as_srgans_own(tmp_path):
    with pytest.raises(ConfigError, match=r"srgan\.gan_losses\[0\]\.scale"):
        variant_config(tiny_params(tmp_path), generator(recipe={"gan_losses": [{"type": "mse", "weight": 1.0,
                                                                               "scale": 2}]}))


def test_identity_appends_srgans_identity_terms_to_both_loss_lists(tmp_path):
    params = tiny_params(tmp_path)
    base = load_config(params)
    assert base.identity.pretrain_terms or base.identity.gan_terms
    config = variant_config(params, generator("srgan_id", identity=True))
    assert config.pretrain_losses == [*base.pretrain_losses, *base.identity.pretrain_terms]
    assert config.gan_losses == [*base.gan_losses, *base.identity.gan_terms]
    # with a recipe: appended to the recipe's lists
    l1 = [{"type": "l1", "weight": 1.0}]
    config = variant_config(params, generator("srgan_id", identity=True, recipe={"pretrain_losses": l1}))
    assert config.pretrain_losses == [*l1, *base.identity.pretrain_terms]


def test_an_identity_variant_without_terms_is_refused(tmp_path):
    params = tiny_params(tmp_path)
    params["identity"] = {**params["identity"], "pretrain_terms": [], "gan_terms": []}
    with pytest.raises(ConfigError, match=r"^variants\.srgan_id\.identity: srgan\.identity lists no term$"):
        variant_config(params, generator("srgan_id", identity=True))


def test_each_variant_checkpoints_in_its_own_folder(tmp_path):
    params = tiny_params(tmp_path)
    dirs = {name: variant_config(params, generator(name)).checkpoint_dir for name in ("srgan", "srgan_self", "x1")}
    assert dirs == {name: f"{tmp_path}/{name}" for name in dirs}
    assert variant_config({**params, "checkpoint_dir": None}, generator("srgan")).checkpoint_dir is None


@pytest.mark.parametrize(("pairs", "config_pairs"), [("auto", "auto"), ("truth", "truth"), ("self", "self"),
                                                     ("other", "truth")])
def test_pairs_other_are_truth_pairs_of_other_peoples_frames(tmp_path, pairs, config_pairs):
    assert variant_config(tiny_params(tmp_path), generator(pairs=pairs)).pairs == config_pairs


def test_init_is_the_file_a_variant_starts_from(tmp_path):
    assert variant_config(tiny_params(tmp_path), generator(init="g.pth")).init_weights == "g.pth"


def test_srgans_init_weights_reach_a_variant_without_its_own_init(tmp_path):
    params = tiny_params(tmp_path, init_weights="g.pth")
    assert variant_config(params, generator("srgan")).init_weights == "g.pth"
    assert variant_config(params, generator("srgan", init="other.pth")).init_weights == "other.pth"


def test_srgans_pairs_reach_a_variant_that_leaves_them_auto(tmp_path):
    assert variant_config(tiny_params(tmp_path, pairs="self"), generator("srgan")).pairs == "self"
