"""Settings: defaults, then a TOML file, then ``ASSETS_*`` variables, then flags; readable errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assets_registry.apps.settings import CONFIG_ENV, Settings, load_settings
from assets_registry.core.errors import ConfigurationError

NO_DECODE_FIX = (
    "Fix in apps/settings.py: declare bind and disable_plugins as Annotated[list[str], NoDecode] "
    "(pydantic_settings.NoDecode) so the comma-splitting validator sees the raw string, and turn "
    "pydantic_settings.SettingsError into ConfigurationError in load_settings."
)


@pytest.fixture(autouse=True)
def _in_a_fresh_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A relative data dir or config file is the test's own."""
    monkeypatch.chdir(tmp_path)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def load_env_settings() -> Settings:
    """``load_settings()`` where an environment variable is the thing under test (see NO_DECODE_FIX)."""
    try:
        return load_settings()
    except ConfigurationError:
        raise
    except Exception as exc:
        pytest.fail(f"PRODUCT BUG: load_settings raised {type(exc).__name__}: {exc}. {NO_DECODE_FIX}")


# -- defaults ---------------------------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("var")
    assert settings.metadata_url == "sqlite://"
    assert settings.blobs_url == "file://"
    assert settings.jobs_url == "local://"
    assert settings.bind == ["127.0.0.1:8080", "127.0.0.1:8081"]
    assert settings.routes == "all"
    assert settings.workers == 2
    assert settings.threads == 8
    assert settings.disable_plugins == []
    assert settings.validators == {}


def test_flags_of_none_keep_the_defaults() -> None:
    settings = load_settings(metadata_url=None, bind=None, workers=None)
    assert settings.metadata_url == "sqlite://"
    assert settings.bind == ["127.0.0.1:8080", "127.0.0.1:8081"]
    assert settings.workers == 2


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.workers = 3  # type: ignore[misc]


# -- the TOML file ----------------------------------------------------------------------


CONFIG = """\
data_dir = "/srv/registry"
metadata_url = "sqlite:///srv/registry/file.db"
blobs_url = "file:///srv/blobs"
bind = ["0.0.0.0:9000"]
routes = "read"
workers = 4
disable_plugins = ["filesystem"]

[validators]
version_rule = { pattern = "^v[0-9]+$" }
"""


def test_toml_file_by_path(tmp_path: Path) -> None:
    settings = load_settings(write_toml(tmp_path / "registry.toml", CONFIG))
    assert settings.data_dir == Path("/srv/registry")
    assert settings.metadata_url == "sqlite:///srv/registry/file.db"
    assert settings.blobs_url == "file:///srv/blobs"
    assert settings.jobs_url == "local://"
    assert settings.bind == ["0.0.0.0:9000"]
    assert settings.routes == "read"
    assert settings.workers == 4
    assert settings.disable_plugins == ["filesystem"]
    assert settings.validators == {"version_rule": {"pattern": "^v[0-9]+$"}}


def test_toml_file_from_assets_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(write_toml(tmp_path / "registry.toml", CONFIG)))
    settings = load_settings()
    assert settings.metadata_url == "sqlite:///srv/registry/file.db"
    assert settings.workers == 4


def test_explicit_file_wins_over_assets_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(write_toml(tmp_path / "env.toml", "workers = 3\n")))
    settings = load_settings(write_toml(tmp_path / "flag.toml", "workers = 5\n"))
    assert settings.workers == 5


def test_file_is_read_for_one_call_only(tmp_path: Path) -> None:
    assert load_settings(write_toml(tmp_path / "registry.toml", "workers = 7\n")).workers == 7
    assert load_settings().workers == 2


# -- precedence -------------------------------------------------------------------------


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path / "registry.toml", CONFIG)
    monkeypatch.setenv("ASSETS_METADATA_URL", "sqlite:///env.db")
    monkeypatch.setenv("ASSETS_JOBS_URL", "local:///env-jobs.db")
    monkeypatch.setenv("ASSETS_WORKERS", "6")
    monkeypatch.setenv("ASSETS_DATA_DIR", "/env/data")
    settings = load_settings(config)
    assert settings.metadata_url == "sqlite:///env.db"
    assert settings.jobs_url == "local:///env-jobs.db"
    assert settings.workers == 6
    assert settings.data_dir == Path("/env/data")
    assert settings.blobs_url == "file:///srv/blobs"  # from the file, where no variable is set
    assert settings.routes == "read"


def test_flags_override_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path / "registry.toml", CONFIG)
    monkeypatch.setenv("ASSETS_METADATA_URL", "sqlite:///env.db")
    monkeypatch.setenv("ASSETS_BLOBS_URL", "file:///env-blobs")
    settings = load_settings(config, metadata_url="sqlite:///flag.db", workers=9)
    assert settings.metadata_url == "sqlite:///flag.db"
    assert settings.workers == 9
    assert settings.blobs_url == "file:///env-blobs"
    assert settings.routes == "read"


def test_assets_bind_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETS_BIND", "127.0.0.1:9000, 0.0.0.0:9001")
    assert load_env_settings().bind == ["127.0.0.1:9000", "0.0.0.0:9001"]


def test_assets_disable_plugins_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETS_DISABLE_PLUGINS", "sqlite,filesystem")
    assert load_env_settings().disable_plugins == ["sqlite", "filesystem"]


def test_comma_separated_bind_flag() -> None:
    assert load_settings(bind="10.0.0.1:80,[::1]:8080").bind == ["10.0.0.1:80", "[::1]:8080"]


# -- readable errors --------------------------------------------------------------------


@pytest.mark.parametrize("bind", ["localhost", ":8080", "host:http", "host:0", "host:65536"])
def test_invalid_bind(bind: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(bind=[bind])
    assert raised.value.message.startswith("The settings are invalid")
    assert "bind" in raised.value.message
    assert repr(bind) in raised.value.message
    assert "HOST:PORT" in raised.value.message


def test_empty_bind() -> None:
    with pytest.raises(ConfigurationError, match=r"bind: .*at least one HOST:PORT"):
        load_settings(bind=[])


def test_invalid_bind_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETS_BIND", "localhost")
    with pytest.raises(ConfigurationError, match="bind"):
        load_env_settings()


def test_unknown_toml_key_is_named(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "registry.toml", 'metadata_url = "sqlite://"\ncolour = "blue"\n')
    with pytest.raises(ConfigurationError) as raised:
        load_settings(config)
    assert "colour" in raised.value.message
    assert str(config) in raised.value.message
    assert "\n" not in raised.value.message


def test_bad_toml_syntax_names_the_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "registry.toml", "workers = \n")
    with pytest.raises(ConfigurationError) as raised:
        load_settings(config)
    assert str(config) in raised.value.message
    assert "line 1" in raised.value.message


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(tmp_path / "absent.toml")
    assert str(tmp_path / "absent.toml") in raised.value.message
    assert "cannot be read" in raised.value.message


def test_missing_file_from_assets_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigurationError, match=r"absent\.toml"):
        load_settings()


@pytest.mark.parametrize(
    ("flags", "setting"),
    [
        ({"workers": 0}, "workers"),
        ({"threads": 1000}, "threads"),
        ({"routes": "everything"}, "routes"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
    ],
)
def test_out_of_range_values_name_the_setting(flags: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(**flags)
    assert raised.value.message.startswith(f"The settings are invalid: {setting}: ")


def test_workers_zero_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETS_WORKERS", "0")
    with pytest.raises(ConfigurationError, match="workers: Input should be greater than or equal to 1"):
        load_settings()


def test_every_problem_is_named(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "registry.toml", "workers = 0\nthreads = 0\n")
    with pytest.raises(ConfigurationError) as raised:
        load_settings(config)
    assert "workers" in raised.value.message
    assert "threads" in raised.value.message
    assert f"(file {config})" in raised.value.message
