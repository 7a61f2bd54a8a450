"""The operator's settings: defaults, then a TOML file, then ``ASSETS_*`` variables, then flags.

With nothing configured the registry runs on its embedded default: SQLite + files + local
jobs, all under one data directory (``./var``). Each backend is chosen by one URL whose
scheme names the adapter; ``docs/backends.md`` has every setting and URL option.
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from assets_registry.adapters.webhooks import ServiceConfig
from assets_registry.core.errors import ConfigurationError

CONFIG_ENV = "ASSETS_CONFIG"
_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("config_file", default=None)

Routes = Literal["all", "read", "write"]


class Settings(BaseSettings):
    """Every setting, with its environment variable ``ASSETS_<NAME>`` and TOML key ``<name>``."""

    model_config = SettingsConfigDict(env_prefix="ASSETS_", extra="forbid", frozen=True)

    data_dir: Path = Field(Path("var"), description="where the embedded backends keep their files")
    metadata_url: str = Field("sqlite://", description="the metadata store; sqlite:// = <data_dir>/registry.db")
    blobs_url: str = Field("file://", description="the blob store; file:// = <data_dir>/blobs")
    jobs_url: str = Field("local://", description="the job tracker; local:// = <data_dir>/jobs.db")
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people; json: one object per line, with an access line per request"
    )
    access_log: bool = Field(True, description="one line per request (method, path, status, seconds, bytes, ...)")
    http_server: Literal["granian", "gunicorn"] = Field(
        "granian", description="serve's HTTP server: granian (fast, the default) or gunicorn (threaded workers)"
    )
    auth: Literal["off", "tokens"] = Field(
        "off", description="off: anyone who reaches the server may do anything; tokens: Bearer tokens with scopes"
    )
    auth_key: SecretStr = Field(
        SecretStr(""),
        description="the key tokens are hashed with (HMAC); empty: <data_dir>/auth.key, made on first use",
    )
    allow_anonymous: bool = Field(
        False, description="let serve bind a non-loopback address with auth=off (anyone there may change anything)"
    )
    keep_revisions: int = Field(0, ge=0, description="earlier revisions kept per asset (0: all)")
    keep_revision_days: float = Field(0.0, ge=0, description="days earlier revisions are kept (0: forever)")
    bucket_blobs_url: str = Field(
        "",
        description="a blob-store URL holding {bucket}: each registry bucket's files in a store of its own "
        "(its own S3 bucket or Swift container); empty: buckets are key prefixes of blobs_url",
    )
    catalog_url: str = Field(
        "", description="the buckets and sources of the Asset Store; empty: the metadata store's database"
    )
    bind: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1:8080", "127.0.0.1:8081"],
        description="HOST:PORT addresses to listen on (comma-separated in env)",
    )
    public_url: str = Field(
        "", description="the URL clients reach this API at (behind a proxy); file URLs in answers start with it"
    )
    routes: Routes = Field("all", description="serve all routes, only the read routes, or only the write routes")
    workers: int = Field(2, ge=1, le=64, description="server processes")
    threads: int = Field(8, ge=1, le=256, description="request threads per process")
    max_body_bytes: int = Field(4 << 20, ge=1024, description="largest JSON body accepted (413 beyond)")
    page_default: int = Field(100, ge=1, description="list answers' page size when no limit is given")
    page_max: int = Field(1000, ge=1, description="largest limit a client may ask for")
    max_upload_bytes: int = Field(64 << 30, ge=1, description="largest ZIP upload (413 beyond)")
    max_unpacked_bytes: int = Field(256 << 30, ge=1, description="largest total unpacked size of a bundle")
    max_members: int = Field(100_000, ge=1, description="most files in a bundle")
    max_ratio: float = Field(200.0, gt=1, description="largest expansion ratio of a member or a bundle (zip bombs)")
    max_asset_json_bytes: int = Field(4 << 20, ge=1024, description="largest asset.json in a bundle")
    early_unpack: bool = Field(
        True, description="store a bundle's members while its upload streams in (the job then checks them)"
    )
    job_threads: int = Field(2, ge=0, le=64, description="upload-job threads per server process (0: none)")
    source_threads: int = Field(1, ge=0, le=64, description="source-import threads per server or worker process")
    sources_allow_private_networks: bool = Field(
        False, description="let sources fetch from loopback, private and link-local addresses (internal mirrors)"
    )
    source_check_seconds: float = Field(
        300.0, ge=1, description="how often a Ready source is checked for files gone from the store (drift)"
    )
    bucket_check_seconds: float = Field(60.0, ge=1, description="how often the workers check every bucket")
    source_fetch_timeout: float = Field(
        600.0, gt=0, description="seconds one URL of a source may take to fetch, whole (each wait: at most 30)"
    )
    source_max_redirects: int = Field(5, ge=0, le=20, description="redirects a source's fetch follows")
    lease_seconds: float = Field(60.0, gt=0, description="a job's lease; a dead worker's job is retaken after it")
    max_attempts: int = Field(3, ge=1, description="claims of an upload job before it is failed")
    gc_grace_seconds: float = Field(
        24 * 3600.0, ge=0, description="the orphan sweep spares blobs written this recently (uploads in flight)"
    )
    upload_expiry_seconds: float = Field(
        24 * 3600.0, gt=0, description="a resumable upload (/uploads/) expires this long after its last append"
    )
    gc_interval_seconds: float = Field(
        3600.0, ge=0, description="workers sweep orphan blobs this often (0: never; `assets-registry gc` any time)"
    )
    disable_plugins: Annotated[list[str], NoDecode] = Field(
        [], description="plugin names not to load (comma-separated in env)"
    )
    validators: dict[str, Any] = Field({}, description="options handed to validator plugins")
    services: list[ServiceConfig] = Field(
        [], description="webhook services ([[services]] tables: name, kind, endpoint, filter, parameters, ...)"
    )

    @field_validator("bind", "disable_plugins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("bind")
    @classmethod
    def _check_binds(cls, value: list[str]) -> list[str]:
        for address in value:
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{address!r} is not HOST:PORT")
        if not value:
            raise ValueError("at least one HOST:PORT is needed")
        return value

    @field_validator("bucket_blobs_url")
    @classmethod
    def _check_bucket_template(cls, value: str) -> str:
        if value and "{bucket}" not in value:
            raise ValueError("must hold {bucket} where each bucket's name goes (e.g. s3://assets-{bucket}?…)")
        return value

    @field_validator("services")
    @classmethod
    def _check_service_names(cls, value: list[ServiceConfig]) -> list[ServiceConfig]:
        names = [service.name for service in value]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"two services are called {', '.join(map(repr, twice))}: names must be unique")
        return value

    @model_validator(mode="after")
    def _check_pages(self) -> Settings:
        if self.page_default > self.page_max:
            raise ValueError(f"page_default ({self.page_default}) is larger than page_max ({self.page_max})")
        for service in self.services:
            # A job renews its lease (every quarter of it) only between a service's reads and
            # writes; one wait, a retry's pause and the next connection each last up to a
            # timeout, half a timeout and a timeout: 2.5 timeouts must fit in 3/4 of a lease.
            if service.timeout > self.lease_seconds / 4:
                raise ValueError(
                    f"the timeout of the service {service.name!r} ({service.timeout:g} s) is longer than a quarter "
                    f"of lease_seconds ({self.lease_seconds:g} s): a job waiting on it could lose its lease; "
                    "raise lease_seconds or lower the timeout"
                )
        return self

    @property
    def catalog_store_url(self) -> str:
        """Where buckets and sources are kept: ``catalog_url``, or the metadata store's database."""
        return self.catalog_url or self.metadata_url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlFile(settings_cls, _config_file.get())


class _TomlFile(PydanticBaseSettingsSource):
    """The configuration file's values (flat keys named like the settings)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.values: dict[str, Any] = {}
        if path is not None:
            try:
                self.values = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigurationError(f"The configuration file {path} cannot be read: {exc}") from exc

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Settings from the file (``config_file``, else ``$ASSETS_CONFIG``), env and flags.

    Raises ``ConfigurationError`` with every problem named, never a validation traceback.
    """
    path = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    token = _config_file.set(path)
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except SettingsError as exc:
        raise ConfigurationError(f"The settings cannot be read: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        source = f" (file {path})" if path else ""
        raise ConfigurationError(f"The settings are invalid{source}: {problems}") from None
    finally:
        _config_file.reset(token)
