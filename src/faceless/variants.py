"""Variants are data: the ``variants`` mapping of ``conf/base/parameters_variants.yml`` as typed specs.

A variant is one block of conf that says how its classifier's input is made and whether it runs:

* ``input: frames``: the 64 px frames as they are (``lr``);
* ``input: interpolate``: the frames upscaled by ``upscaling.factor`` with an interpolation (``bicubic``);
* ``input: generator``: the frames upscaled by an SR generator, either trained here by ``srgan``'s
  recipe with the block's changes (``recipe``: keys of ``srgan`` replaced, ``pairs``: truth | self |
  other | auto, ``identity``: srgan.identity's terms appended, ``init``: a file to start from) or a
  file used as it is (``import``);
* ``input: truth``: the source's high-resolution truth (``hr``, the ceiling);
* ``input: truth_downscaled``: the truth area-downscaled by the factor, never JPEG-compressed (``clean64``).

The pipelines are built from this mapping (``faceless.pipeline_registry``): a variant that is off has
no node at all; one that is on but cannot run where it is (no truth, no file) says why in its row.
Nothing here imports kedro, torch or the engines; the SR stage turns a generator spec into its
:class:`~faceless.sr.config.SRConfig` (:func:`faceless.sr.config.variant_config`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from faceless.utils.errors import ConfigError, choice

INPUTS = ("frames", "interpolate", "generator", "truth", "truth_downscaled")
PAIRS = ("auto", "truth", "self", "other")
INTERPOLATIONS = ("bicubic",)
#: ``enabled``: on, off, or (import variants only) on exactly when ``import`` names a file.
ENABLED = (True, False, "auto")

#: The keys each kind of block may carry beyond ``enabled`` and ``input`` (any other is refused).
KEYS = {
    "frames": {"description"},
    "interpolate": {"description", "mode"},
    "truth": {"description"},
    "truth_downscaled": {"description"},
    "generator": {"description", "pairs", "recipe", "identity", "init", "import", "requires"},
}
REQUIRES = ("truth",)
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class VariantSpec:
    """One variant's block, checked. ``recipe`` holds the keys of ``srgan`` it replaces."""

    name: str
    enabled: bool
    input: str
    description: str = ""
    mode: str | None = None                 # interpolate: the interpolation
    pairs: str = "auto"                     # generator, trained: auto | truth | self | other
    recipe: Mapping[str, Any] = field(default_factory=dict)
    identity: bool = False                  # generator: srgan.identity's terms appended to its losses
    init: str | None = None                 # generator: a file the training starts from
    import_file: str | None = None          # generator: a file used as it is, never trained here
    requires: tuple[str, ...] = ()          # what the source must have for the variant to run (truth)

    @property
    def arrays(self) -> str:
        """The prefix of the arrays feeding its classifier (``<arrays>_train``, ``_val``, ``_test``)."""
        return {"frames": "lr", "truth": "hr"}.get(self.input, self.name)

    @property
    def makes_input(self) -> bool:
        """Whether the upscaling stage makes its arrays (an interpolation, a generator, the downscaled truth)."""
        return self.input in ("interpolate", "generator", "truth_downscaled")

    @property
    def has_generator(self) -> bool:
        return self.input == "generator"

    @property
    def imports(self) -> bool:
        return self.input == "generator" and self.import_file is not None

    @property
    def trains_generator(self) -> bool:
        return self.input == "generator" and self.import_file is None

    @property
    def needs_truth(self) -> bool:
        """Whether the variant runs only on a source with high-resolution truth."""
        return self.input in ("truth", "truth_downscaled") or "truth" in self.requires or self.pairs == "truth"

    @property
    def from_frames_alone(self) -> bool:
        """Whether its input can be made for frames without truth (what predict and serving get)."""
        return self.input in ("frames", "interpolate", "generator")


def variant_specs(params: Any) -> dict[str, VariantSpec]:
    """``params:variants`` -> every declared variant by name, in conf's order (the table's order)."""
    if not isinstance(params, Mapping) or not params:
        raise ConfigError("variants must be a mapping of variant names to blocks (conf/base/parameters_variants.yml), "
                          f"got {params!r}")
    return {str(name): _spec(str(name), block) for name, block in params.items()}


def enabled_specs(params: Any) -> dict[str, VariantSpec]:
    """The variants that are on, in conf's order."""
    return {name: spec for name, spec in variant_specs(params).items() if spec.enabled}


def _spec(name: str, block: Any) -> VariantSpec:
    where = f"variants.{name}"
    if not name or not set(name) <= NAME_CHARS or not name[0].isalpha():
        raise ConfigError(f"{where}: a variant's name is lower-case letters, digits and _, starting with a letter "
                          "(it names files, nodes and MLflow metrics)")
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where} must be a mapping with at least `enabled` and `input`, got {block!r}")
    for key in ("enabled", "input"):
        if key not in block:
            raise ConfigError(f"{where}.{key} is missing (every variant says whether it is on and how its input "
                              "is made)")
    kind = choice(block["input"], f"{where}.input", INPUTS)
    unknown = sorted(set(block) - {"enabled", "input"} - KEYS[kind])
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} for input: {kind} "
                          f"(allowed: enabled, input, {', '.join(sorted(KEYS[kind]))})")
    enabled = block["enabled"]
    if enabled not in ENABLED or isinstance(enabled, int) and not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled must be true | false | auto, got {enabled!r}")
    import_file = block.get("import")
    if import_file is not None and (not isinstance(import_file, str) or not import_file.strip()):
        raise ConfigError(f"{where}.import must be a file path or null, got {import_file!r}")
    if enabled == "auto":
        if kind != "generator" or "import" not in block:
            raise ConfigError(f"{where}.enabled: auto is for an import variant (on when `import` names a file); "
                              "say true or false")
        enabled = import_file is not None
    spec = VariantSpec(name=name, enabled=bool(enabled), input=kind, description=str(block.get("description", "")))
    if kind == "interpolate":
        return replace(spec, mode=choice(block.get("mode", "bicubic"), f"{where}.mode", INTERPOLATIONS))
    if kind != "generator":
        return spec
    recipe = block.get("recipe") or {}
    if not isinstance(recipe, Mapping):
        raise ConfigError(f"{where}.recipe must be a mapping of srgan's keys to replace, got {recipe!r}")
    requires = block.get("requires") or []
    requires = [requires] if isinstance(requires, str) else list(requires)
    for item in requires:
        choice(item, f"{where}.requires", REQUIRES)
    init = block.get("init")
    if init is not None and (not isinstance(init, str) or not init.strip()):
        raise ConfigError(f"{where}.init must be a file path or null, got {init!r}")
    identity = block.get("identity", False)
    if not isinstance(identity, bool):
        raise ConfigError(f"{where}.identity must be true or false, got {identity!r}")
    if import_file is not None:
        extra = sorted({"pairs", "recipe", "identity", "init"} & {k for k, v in block.items() if v not in (None, {}, False)})
        if extra:
            raise ConfigError(f"{where}: an imported generator is used as it is; {', '.join(extra)} would train it "
                              "(use init: <file> to fine-tune a file instead)")
    for key in ("pairs", "init_weights", "pretrained_weights"):
        if key in recipe:
            raise ConfigError(f"{where}.recipe.{key}: say it as the variant's own key "
                              f"({'pairs' if key == 'pairs' else 'init' if key == 'init_weights' else 'import'})")
    return replace(spec, pairs=choice(block.get("pairs", "auto"), f"{where}.pairs", PAIRS), recipe=dict(recipe),
                    identity=identity, init=init, import_file=import_file, requires=tuple(requires))


def no_truth_reason(spec: VariantSpec) -> str:
    """Why ``spec`` does not run on a source without high-resolution truth."""
    if spec.input == "truth":
        return f"{spec.name} is the high-resolution truth: the source has none"
    if spec.input == "truth_downscaled":
        return f"{spec.name} is the high-resolution truth downscaled: the source has none"
    if spec.pairs == "truth":
        return f"{spec.name} trains on truth pairs (pairs: truth): the source has no high-resolution truth"
    return f"{spec.name} runs where the source has high-resolution truth (requires: truth): this one has none"


def no_data_reason(spec: VariantSpec) -> str:
    """Why ``spec``'s arrays may be empty (said in its row when they are)."""
    if spec.input in ("truth", "truth_downscaled"):
        return no_truth_reason(spec)
    if spec.has_generator:
        return f"its generator was not {'imported' if spec.imports else 'trained'}: sr_report_{spec.name} says why"
    return "the sampled side has no frames"


def uses_other_people(specs: Mapping[str, VariantSpec]) -> bool:
    """Whether a variant that is on trains SR on other people's frames (the other-people data is then read)."""
    return any(s.enabled and s.trains_generator and s.pairs == "other" for s in specs.values())


#: Learned sequence poolings (``pooling.method``) that give each variant a second row in the comparison.
POOLINGS = ("attention",)
#: Joins a variant and its learned pooling in a row's name: ``lr:attention``. Not a character of a
#: variant's name (so no variant can be mistaken for a pooled row), and one MLflow takes in a metric
#: name (``+`` it refuses).
POOLED_SEPARATOR = ":"


def pooled_name(variant: str, pooling: str) -> str:
    """The comparison row of ``variant``'s classifier with its sequences pooled by ``pooling``."""
    return f"{variant}{POOLED_SEPARATOR}{pooling}"


def split_pooled(name: str) -> tuple[str, str | None]:
    """A row's name as (variant, learned pooling), the pooling None for a variant's own (mean) row."""
    variant, separator, pooling = name.partition(POOLED_SEPARATOR)
    return (variant, pooling) if separator else (name, None)


def pooled_name_reason(name: str, specs: Mapping[str, VariantSpec], param: str) -> str | None:
    """Why ``name`` (in ``param``) is not a declared variant nor ``<declared variant>:<pooling>``, or None."""
    variant, pooling = split_pooled(name)
    if pooling is not None and pooling not in POOLINGS:
        return (f"{param} names {name}: a pooled row is <variant>{POOLED_SEPARATOR}<pooling> with a pooling of "
                f"{', '.join(POOLINGS)}")
    if variant not in specs:
        return f"{param} names {name}, not a variant of conf's `variants` (declared: {', '.join(specs)})"
    return None


def answering_reason(specs: Mapping[str, VariantSpec], name: str, param: str = "predict.variant") -> str | None:
    """Why variant ``name`` cannot name the people of unlabeled frames (predict, the served model), or None."""
    usable = [n for n, s in specs.items() if s.enabled and s.from_frames_alone]
    if name not in specs:
        return f"{param}={name} is not a variant of conf's `variants` (declared: {', '.join(specs)})"
    if not specs[name].from_frames_alone:
        return (f"{param}={name}: its input is made from the high-resolution truth, which unlabeled frames do not "
                f"have; choose one of {', '.join(usable)}")
    if not specs[name].enabled:
        return (f"{param}={name}: that variant is off (variants.{name}.enabled), so no classifier is trained for it; "
                f"switch it on or choose one of {', '.join(usable)}")
    return None
