"""faceless.utils.config.from_params: typed configs from parameter dicts, one-line errors naming the key."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from faceless.utils.config import from_params, to_params
from faceless.utils.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    blocks: int
    rate: float


@dataclass(frozen=True)
class Outer:
    name: str
    mode: Literal["fast", "slow"]
    limit: int | None
    batch: int | Literal["auto"]
    flag: bool
    sizes: list[int]
    extra: dict[str, Any]
    anything: Any
    inner: Inner
    optional_inner: Inner | None


@dataclass(frozen=True)
class WithDefault:
    # Not how project configs are written (conf/ holds every default); from_params respects it anyway.
    required: int
    optional: int = 3
    listed: list[int] = field(default_factory=list)


def good() -> dict:
    return {
        "name": "x", "mode": "fast", "limit": None, "batch": "auto", "flag": True, "sizes": [1, 2],
        "extra": {"a": 1}, "anything": object, "inner": {"blocks": 2, "rate": 1}, "optional_inner": None,
    }


def raises_one_line(params: dict, pattern: str, cls: type = Outer) -> str:
    with pytest.raises(ConfigError, match=pattern) as err:
        from_params(cls, params, "stage")
    message = str(err.value)
    assert len(message.splitlines()) == 1
    return message


def test_builds_nested_dataclasses_with_every_supported_type():
    config = from_params(Outer, good(), "stage")
    assert config == Outer(name="x", mode="fast", limit=None, batch="auto", flag=True, sizes=[1, 2],
                           extra={"a": 1}, anything=object, inner=Inner(blocks=2, rate=1.0), optional_inner=None)
    assert type(config.inner.rate) is float  # int -> float
    assert to_params(config)["inner"] == {"blocks": 2, "rate": 1.0}


def test_optional_nested_dataclass_and_union_members():
    config = from_params(Outer, {**good(), "limit": 5, "batch": 64, "optional_inner": {"blocks": 1, "rate": 0.5}},
                         "stage")
    assert config.limit == 5 and config.batch == 64 and config.optional_inner == Inner(1, 0.5)


def test_unknown_key_is_named_with_its_dotted_path():
    message = raises_one_line({**good(), "inner": {"blocks": 2, "rate": 1.0, "blockz": 3}},
                              r"^unknown parameter stage\.inner\.blockz\b")
    assert "blocks" in message  # says what the block takes


def test_unknown_key_inside_an_optional_block_keeps_its_own_message():
    raises_one_line({**good(), "optional_inner": {"blocks": 2, "rate": 1.0, "blockz": 3}},
                    r"^unknown parameter stage\.optional_inner\.blockz\b")


def test_missing_key_is_named_with_its_dotted_path():
    raises_one_line({**good(), "inner": {"blocks": 2}}, r"^missing parameter stage\.inner\.rate\b")
    top = {k: v for k, v in good().items() if k != "flag"}
    raises_one_line(top, r"^missing parameter stage\.flag\b")


def test_fields_with_defaults_may_be_left_out():
    assert from_params(WithDefault, {"required": 1}, "stage") == WithDefault(1, 3, [])
    raises_one_line({}, r"^missing parameter stage\.required\b", WithDefault)


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("name", 3, "stage.name"),
        ("mode", "medium", "stage.mode"),
        ("limit", "5", "stage.limit"),
        ("limit", 2.5, "stage.limit"),
        ("batch", "big", "stage.batch"),
        ("batch", True, "stage.batch"),
        ("flag", 1, "stage.flag"),
        ("flag", "yes", "stage.flag"),
        ("sizes", 3, "stage.sizes"),
        ("sizes", "12", "stage.sizes"),
        ("sizes", [1, "2"], "stage.sizes[1]"),
        ("sizes", [1, True], "stage.sizes[1]"),
        ("extra", [1], "stage.extra"),
        ("inner", 3, "stage.inner"),
        ("inner", {"blocks": "2", "rate": 1.0}, "stage.inner.blocks"),
        ("inner", {"blocks": 2, "rate": "fast"}, "stage.inner.rate"),
        ("inner", {"blocks": 2, "rate": False}, "stage.inner.rate"),
        ("optional_inner", {"blocks": 2.0, "rate": 1.0}, "stage.optional_inner.blocks"),
        ("name", None, "stage.name"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_dotted_path(key, value, path):
    message = raises_one_line({**good(), key: value}, rf"^{re.escape(path)} ")
    assert " got " in message  # says what it found


def test_bool_is_not_an_int_and_int_is_not_a_bool():
    raises_one_line({**good(), "inner": {"blocks": True, "rate": 1.0}}, r"^stage\.inner\.blocks must be an integer")
    raises_one_line({**good(), "flag": 0}, r"^stage\.flag must be true or false")


def test_a_literal_bool_matches_only_a_bool():
    @dataclass(frozen=True)
    class Switch:
        on: Literal[True, "auto"]

    assert from_params(Switch, {"on": True}, "s").on is True
    with pytest.raises(ConfigError, match=r"^s\.on must be one of"):
        from_params(Switch, {"on": 1}, "s")


def test_params_that_are_not_a_mapping_are_named():
    raises_one_line(None, r"^stage must be a mapping")  # type: ignore[arg-type]


def test_an_unsupported_field_type_is_a_bug_not_a_config_error():
    @dataclass(frozen=True)
    class Odd:
        value: set

    with pytest.raises(TypeError, match="unsupported field type"):
        from_params(Odd, {"value": {1}}, "s")
