"""A webhook service as the operator configures it (``[[services]]`` in the configuration file).

Validated when the settings are read, so a bad filter, endpoint or name stops start-up with
a sentence, not a job later.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator

ServiceKind = Literal["validation", "mutation", "metadata"]


class ServiceConfig(BaseModel):
    """One webhook service, spoken to as Rafter's services are (``docs/plugins.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="what uploads and reasons call it")
    kind: ServiceKind = Field(description="validation, mutation or metadata")
    endpoint: str = Field(description="the http:// or https:// URL requests are POSTed to")
    filter: str = Field("", description="RE2 pattern a file's id must match to be sent (empty: every file)")
    parameters: dict[str, Any] | None = Field(
        None, description="sent as JSON text in the form field 'parameters' (validation and mutation)"
    )
    timeout: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="seconds a try may take, and the longest wait for the service (at most lease_seconds / 4)",
    )
    retries: int = Field(2, ge=0, le=10, description="new tries after a transport error or a 429/502/503/504")
    always: bool = Field(False, description="run on every ingest, not only where an upload names the service")

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        try:
            httpx.URL(value)  # what the client will parse: a host IDNA refuses fails here, not in a job
        except httpx.InvalidURL as exc:
            raise ValueError(f"{value!r} is not a URL a request can be sent to: {exc}") from None
        return value

    @field_validator("filter")
    @classmethod
    def _check_filter(cls, value: str) -> str:
        if value:
            try:
                re2.compile(value)
            except re2.error as exc:
                raise ValueError(f"{value!r} is not an RE2 pattern: {exc}") from None
        return value
