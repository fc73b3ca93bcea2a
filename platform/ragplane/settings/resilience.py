"""How calls to dependencies are guarded: the circuit breakers, and the faults drills inject.

Each breaker's three settings are read twice over: `CIRCUIT_BREAKER_*` for what every breaker
uses, then `CIRCUIT_BREAKER_<NAME>_*` for what one breaker changes of it (e.g.
`CIRCUIT_BREAKER_LLM_CALL_TIMEOUT_S`). Adding a breaker is one name in `BREAKER_NAMES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, PlainSerializer, PositiveFloat, PositiveInt

from ragplane.settings._reading import Section
from ragplane.settings.types import Flag

BREAKER_NAMES = ("embedder", "qdrant", "llm", "cache")
PREFIX = "CIRCUIT_BREAKER_"


class BreakerSettings(Section):
    """One circuit breaker; its variables are named after a prefix (`PREFIX`, or one breaker's)."""

    failure_threshold: PositiveInt = Field(5, validation_alias="FAILURE_THRESHOLD")
    call_timeout_s: PositiveFloat = Field(30.0, validation_alias="CALL_TIMEOUT_S")
    recovery_s: PositiveFloat = Field(10.0, validation_alias="RECOVERY_S")


def prefix_of(name: str) -> str:
    """Where one breaker's own variables start: `CIRCUIT_BREAKER_LLM_`."""
    return f"{PREFIX}{name.upper()}_"


Breakers = Annotated[
    Mapping[str, BreakerSettings],
    AfterValidator(MappingProxyType),
    PlainSerializer(dict, return_type=dict[str, BreakerSettings]),
]


class ResilienceSettings(Section):
    circuit_breaker_enabled: Flag = Field(True, validation_alias="CIRCUIT_BREAKER_ENABLED")  # false: pass-through
    fault_injection: Flag = Field(True, validation_alias="FAULT_INJECTION")  # false: no /internal/faults
    circuit_breaker_defaults: BreakerSettings = Field(default_factory=BreakerSettings)
    circuit_breakers: Breakers = Field(
        default_factory=lambda: MappingProxyType({name: BreakerSettings() for name in BREAKER_NAMES})
    )

    @classmethod
    def read(cls, prefix: str = "", **given: Any) -> Self:
        defaults = BreakerSettings.read(PREFIX)
        breakers = {}
        for name in BREAKER_NAMES:
            own = BreakerSettings.read(prefix_of(name))
            breakers[name] = defaults.model_copy(update={field: getattr(own, field) for field in own.model_fields_set})
        return super().read(prefix, circuit_breaker_defaults=defaults, circuit_breakers=breakers, **given)
