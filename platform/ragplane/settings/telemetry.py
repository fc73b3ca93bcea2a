"""Traces and logs: OpenTelemetry's standard variables (read here too, so a `.env` file counts)
and the log level and format."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from ragplane.settings._reading import Section
from ragplane.settings.types import Flag, Fraction, Lower, Upper, Url

# OpenTelemetry's standard OTEL_TRACES_SAMPLER values (ragplane.kit.tracing builds each).
TraceSampler = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]
TRACE_SAMPLERS: tuple[str, ...] = get_args(TraceSampler)
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class TelemetrySettings(Section):
    otel_exporter_otlp_endpoint: Url | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_sdk_disabled: Flag = Field(False, validation_alias="OTEL_SDK_DISABLED")
    otel_traces_sampler: Annotated[TraceSampler, Lower] = Field(
        "parentbased_always_on", validation_alias="OTEL_TRACES_SAMPLER"
    )
    otel_traces_sampler_arg: Fraction = Field(1.0, validation_alias="OTEL_TRACES_SAMPLER_ARG")
    log_level: Annotated[LogLevel, Upper] = Field("INFO", validation_alias="LOG_LEVEL")
    # None: console on a terminal, JSON otherwise.
    log_format: Annotated[Literal["json", "console"], Lower] | None = Field(None, validation_alias="LOG_FORMAT")
