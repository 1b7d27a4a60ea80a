"""The typed ``params:serving``: how each ``full`` run logs the model predict runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError, check_at_least


@dataclass(frozen=True)
class ServingConfig:
    """``params:serving``; checked with the other stages' configs before any work (hooks)."""

    name: str                          # the logged model's name in the run: runs:/<run id>/<name>
    registered_model_name: str | None  # a name: also register each logged model under it
    max_frames_per_request: int        # a request of more frames is refused (413) before any decoding
    max_pixels: int                    # an image whose header declares more pixels is refused before decoding
    request_sequences: int             # test sequences in the example request (data/08_reporting/serving_request.json)

    def __post_init__(self) -> None:
        check_at_least(self, ("max_frames_per_request", "max_pixels", "request_sequences"), 1, "serving")
        if not self.name or "/" in self.name:
            raise ConfigError(f"serving.name must be a non-empty name without '/', got {self.name!r}")
        if self.registered_model_name == "":
            raise ConfigError("serving.registered_model_name must be a name or null, got ''")


def serving_config(params: dict[str, Any] | None) -> ServingConfig:
    """``params:serving`` as a typed config; a wrong, unknown or missing key is one ConfigError line."""
    return from_params(ServingConfig, params, "serving")
