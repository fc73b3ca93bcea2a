"""Where each service listens, how the services find and trust each other, and where they keep files."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, PositiveFloat, model_validator

from ragplane.settings._reading import Section
from ragplane.settings.types import Credential, Port, Secret, Url


class ServerSettings(Section):
    host: str = Field("127.0.0.1", validation_alias="RAGPLANE_HOST")
    gateway_port: Port = Field(8000, validation_alias="GATEWAY_PORT")
    query_port: Port = Field(8001, validation_alias="QUERY_PORT")
    collections_port: Port = Field(8002, validation_alias="COLLECTIONS_PORT")
    # Where a separately run gateway finds its upstreams (else host and port, see `Settings.upstream_url`).
    query_url: Url | None = Field(None, validation_alias="QUERY_URL")
    collections_url: Url | None = Field(None, validation_alias="COLLECTIONS_URL")
    upstream_timeout_s: PositiveFloat = Field(60.0, validation_alias="GATEWAY_UPSTREAM_TIMEOUT_S")
    data_dir: Path = Field(Path("data"), validation_alias="RAGPLANE_DATA_DIR")
    # The services' X-Service-Token, and the one accepted while it is rotated out.
    inter_service_secret: Secret | None = Field(None, validation_alias="INTER_SERVICE_SECRET")
    inter_service_secret_previous: Secret | None = Field(None, validation_alias="INTER_SERVICE_SECRET_PREVIOUS")
    # The CLI's bearer token for the gateway.
    token: Credential | None = Field(None, validation_alias="RAGPLANE_TOKEN")

    @model_validator(mode="after")
    def _a_port_each(self) -> Self:
        taken: dict[int, str] = {}
        for name, port in (
            ("GATEWAY_PORT", self.gateway_port),
            ("QUERY_PORT", self.query_port),
            ("COLLECTIONS_PORT", self.collections_port),
        ):
            if port and port in taken:
                raise ValueError(f"{name}={port} is also {taken[port]}: each service needs its own port")
            taken[port] = name
        return self
