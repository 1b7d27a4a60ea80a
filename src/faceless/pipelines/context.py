"""The project's Kedro context: it makes the run's parameters known to the pipeline registry.

The pipelines are built from conf's ``variants`` mapping (:mod:`faceless.variants`), so the registry
needs the parameters of *this* run: its environment (``--env controls``) and runtime parameters
(``--params variants.<variant>.enabled=true``). Kedro creates the context before it first reads the
pipelines (kedro-org/kedro#3093 describes the order), so the context records its parameters here and
drops the registry's cached pipelines when they were built from another mapping (a second session
in the same process, e.g. in a notebook or the tests).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attrs import define
from kedro.config import OmegaConfigLoader
from kedro.framework.context import KedroContext
from kedro.framework.project import pipelines

_ACTIVE: dict[str, Any] = {}

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (conf/seed, conf/local) overrides only the parameters (and globals: the
    # `distributed` block) it names, key by key, instead of replacing a whole top-level section.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}


@define(slots=False)
class FacelessContext(KedroContext):
    def __attrs_post_init__(self) -> None:
        try:
            parameters = dict(self.config_loader["parameters"])
        except Exception:  # a broken conf speaks when the run reads it, with Kedro's own message
            parameters = {}
        remember(parameters)


def remember(parameters: dict[str, Any]) -> None:
    """Make ``parameters`` the ones the registry builds from; forget pipelines built from other variants
    (or for another predict.variant)."""
    key = _variants_key(parameters)
    if _ACTIVE.get("key") != key:
        module = getattr(pipelines, "_pipelines_module", None)
        if module is not None:
            pipelines.configure(module)
    _ACTIVE.update(key=key, parameters=parameters)


def _variants_key(parameters: dict[str, Any]) -> str:
    """What the pipelines' shape depends on: the variants, and the one predict and serving answer with."""
    answering = (parameters.get("predict") or {}).get("variant")
    return json.dumps([parameters.get("variants"), answering], sort_keys=True, default=str)


def active_parameters() -> dict[str, Any]:
    """The parameters of the context Kedro created last; without one (a bare ``register_pipelines()``),
    those of ``conf/base`` with the default environment, from the working folder's project."""
    if "parameters" in _ACTIVE:
        return _ACTIVE["parameters"]
    conf = Path.cwd() / "conf"
    if not conf.is_dir():
        conf = Path(__file__).resolve().parents[3] / "conf"
    return dict(OmegaConfigLoader(conf_source=str(conf), **CONFIG_LOADER_ARGS)["parameters"])
