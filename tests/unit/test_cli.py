"""The ``assets-registry`` command, run in-process (and once as ``python -m assets_registry``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn, cast
from unittest.mock import ANY

import pytest

from assets_registry.apps import cli, server
from assets_registry.plugins import hookimpl
from assets_registry.plugins.manager import Plugins


@pytest.fixture(autouse=True)
def _in_a_fresh_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The default ``./var`` of each command lands in the test's own folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any attempt to start gunicorn."""
    started: list[str] = []

    def run(self: Any) -> NoReturn:
        started.append("run")
        raise AssertionError("the server was started")

    monkeypatch.setattr(server.RegistryServer, "run", run)
    return started


def assert_one_line_error(err: str, *needles: str) -> None:
    assert err.startswith("assets-registry: "), err
    assert err.count("\n") == 1, f"expected one line on stderr, got {err!r}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


# -- plugins ----------------------------------------------------------------------------


def test_plugins_lists_the_builtin_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert "filesystem 0.1.0 (assets_registry.adapters.filesystem)" in lines
    assert "sqlite 0.1.0 (assets_registry.adapters.sqlite)" in lines
    assert "    blobs adapter file://" in lines
    assert "    metadata adapter sqlite://" in lines
    assert "    jobs adapter local://" in lines
    # What a plugin provides is listed under it: each adapter, its summary, its URL options.
    sqlite_at = lines.index("sqlite 0.1.0 (assets_registry.adapters.sqlite)")
    assert lines[sqlite_at + 1] == "    catalog adapter sqlite://"
    assert lines[sqlite_at + 2].startswith("        Buckets and sources in a SQLite file")
    assert lines[sqlite_at + 3].startswith("        ?busy_timeout=  seconds a writer waits")
    assert lines[sqlite_at + 4] == "    history adapter sqlite://"
    assert lines[sqlite_at + 5].startswith("        The audit trail and revision history")
    assert lines[sqlite_at + 7] == "    jobs adapter local://"
    assert lines[sqlite_at + 8].startswith("        Upload jobs in a SQLite file")
    s3_at = lines.index("s3 0.1.0 (assets_registry.adapters.s3)")
    assert any(line.startswith("        ?endpoint_url=") for line in lines[s3_at:]), "the S3 options are listed"


class _NamedRule:
    def __init__(self, name: str) -> None:
        self.name = name

    def validate(self, asset: object) -> list[object]:
        return []


class _RulesPlugin:
    @hookimpl
    def assets_registry_validators(self, options: dict[str, object]) -> list[_NamedRule]:
        return [_NamedRule(str(name)) for name in cast(list[str], options.get("rules", []))]


def test_plugins_shows_each_plugins_validators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A validator plugin is listed with its validators' names, asked for with the settings' options."""
    from assets_registry.apps import container

    monkeypatch.setattr(
        container, "load_plugins", lambda _settings, **_: Plugins.load(extra=[("rules", _RulesPlugin())])
    )
    config = tmp_path / "registry.toml"
    config.write_text('[validators]\nrules = ["licence_named", "owner_known"]\n', encoding="utf-8")
    assert cli.main(["plugins", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rules_at = lines.index("rules - (_RulesPlugin)")
    assert lines[rules_at + 1] == "    validators: licence_named, owner_known"

    assert cli.main(["plugins", "--json", "--config", str(config)]) == 0
    by_name = {info["name"]: info for info in json.loads(capsys.readouterr().out)}
    assert by_name["rules"]["validators"] == ["licence_named", "owner_known"]
    assert by_name["rules"]["provides"] == ["validators"]


def test_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plugins", "--json"]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert isinstance(infos, list)
    by_name = {info["name"]: info for info in infos}
    assert {"filesystem", "sqlite", "mongodb", "s3", "ceph", "redis", "extractors"} == set(by_name)
    assert by_name["sqlite"] == {
        "name": "sqlite",
        "version": "0.1.0",
        "module": "assets_registry.adapters.sqlite",
        "provides": [
            "catalog adapter sqlite://",
            "history adapter sqlite://",
            "jobs adapter local://",
            "metadata adapter sqlite://",
        ],
        "adapters": [
            {"port": "catalog", "scheme": "sqlite", "summary": ANY, "options": {"busy_timeout": ANY}},
            {"port": "history", "scheme": "sqlite", "summary": ANY, "options": {"busy_timeout": ANY}},
            {"port": "jobs", "scheme": "local", "summary": ANY, "options": {"busy_timeout": ANY}},
            {"port": "metadata", "scheme": "sqlite", "summary": ANY, "options": {"busy_timeout": ANY}},
        ],
        "validators": [],
        "extractors": [],
        "mutators": [],
        "error": None,
    }
    assert by_name["filesystem"]["provides"] == ["blobs adapter file://"]
    assert by_name["filesystem"]["adapters"][0]["summary"].startswith("Blobs as files under one folder")


def test_plugins_disabled_in_the_config_file_are_not_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "registry.toml"
    config.write_text('disable_plugins = ["sqlite"]\n', encoding="utf-8")
    assert cli.main(["plugins", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "filesystem 0.1.0" in out
    assert "sqlite" not in out, (
        f"PRODUCT BUG: a disabled plugin is still listed: {out!r}. Plugins.describe() reports pluggy's blocked "
        "names (plugin None) as loaded plugins; skip them in plugins/manager.py Plugins.describe."
    )


def test_plugins_disabled_by_env_var(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASSETS_DISABLE_PLUGINS", "filesystem")
    try:
        code = cli.main(["plugins", "--json"])
    except Exception as exc:
        pytest.fail(
            f"PRODUCT BUG: ASSETS_DISABLE_PLUGINS=filesystem crashes `assets-registry plugins` with "
            f"{type(exc).__name__}: {exc}. pydantic-settings JSON-decodes the list field disable_plugins; "
            "declare it (and bind) Annotated[list[str], NoDecode] in apps/settings.py."
        )
    assert code == 0
    names = [info["name"] for info in json.loads(capsys.readouterr().out)]
    assert "sqlite" in names
    assert "filesystem" not in names


# -- config -----------------------------------------------------------------------------


def test_config_hides_passwords(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "--metadata-url", "mongodb://u:secret@h/db"]) == 0
    out, err = capsys.readouterr()
    assert "secret" not in out
    assert "secret" not in err
    values = json.loads(out)
    assert values["metadata_url"] == "mongodb://u:***@h/db"
    assert values["blobs_url"] == "file://"
    assert values["jobs_url"] == "local://"
    assert values["bind"] == ["127.0.0.1:8080", "127.0.0.1:8081"]


def test_config_hides_passwords_of_every_url(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["config", "--blobs-url", "s3://key:hunter2@bucket/p", "--jobs-url", "redis://:hunter2@cache:6379/0"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    values = json.loads(out)
    assert values["blobs_url"] == "s3://key:***@bucket/p"
    assert values["jobs_url"] == "redis://:***@cache:6379/0"


def test_config_shows_flags_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "registry.toml"
    config.write_text('workers = 5\nmetadata_url = "sqlite:///from-file.db"\n', encoding="utf-8")
    argv = ["config", "--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert cli.main(argv) == 0
    values = json.loads(capsys.readouterr().out)
    assert values["workers"] == 5
    assert values["metadata_url"] == "sqlite:///from-file.db"
    assert values["data_dir"] == str(tmp_path / "data")


# -- readable failures ------------------------------------------------------------------


def test_missing_config_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "--config", "/nonexistent.toml"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_error(err, "/nonexistent.toml")


def test_invalid_env_setting_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASSETS_WORKERS", "0")
    assert cli.main(["plugins"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_error(err, "workers")


def test_invalid_bind_env_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASSETS_BIND", "localhost")
    try:
        code = cli.main(["config"])
    except Exception as exc:
        pytest.fail(
            f"PRODUCT BUG: ASSETS_BIND=localhost crashes `assets-registry config` with {type(exc).__name__}: "
            f"{exc}, a traceback instead of exit 2. Declare bind Annotated[list[str], NoDecode] in "
            "apps/settings.py (and map pydantic_settings.SettingsError to ConfigurationError in load_settings)."
        )
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "bind", "localhost")


def test_invalid_flag_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_server: list[str]) -> None:
    assert cli.main(["serve", "--data-dir", str(tmp_path), "--workers", "0"]) == 2
    assert_one_line_error(capsys.readouterr().err, "workers")
    assert no_server == []


def test_serve_with_unknown_scheme_stops_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_server: list[str]
) -> None:
    code = cli.main(["serve", "--data-dir", str(tmp_path / "var"), "--metadata-url", "nosuch://x"])
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_error(err, "'nosuch'", "sqlite://")
    assert no_server == []


def test_serve_with_unknown_blobs_scheme_lists_the_blob_schemes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_server: list[str]
) -> None:
    code = cli.main(["serve", "--data-dir", str(tmp_path / "var"), "--blobs-url", "nosuch://bucket"])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "'nosuch'", "file://", "s3://", "ceph://")
    assert no_server == []


def test_unknown_command_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["frobnicate"])
    assert raised.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- as a program -----------------------------------------------------------------------


def test_python_m_assets_registry_plugins(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "assets_registry", "plugins"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sqlite 0.1.0" in result.stdout
    assert "filesystem 0.1.0" in result.stdout
    assert result.stderr == ""


# -- gc ---------------------------------------------------------------------------------


def test_gc_lists_orphans_on_a_dry_run_and_deletes_them_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assets_registry.adapters.filesystem import FilesystemBlobStore

    blobs = FilesystemBlobStore(tmp_path / "var" / "blobs")
    blobs.put("assets/9d1c/weights.bin", [b"abc"])  # no asset points at it: a crash left it
    data_dir = ["--data-dir", str(tmp_path / "var")]
    assert cli.main(["gc", "--dry-run", "--grace", "0", *data_dir]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["assets/9d1c/weights.bin\t3\tno asset points at it"]
    assert "would delete 1 orphan blobs (3 bytes)" in err
    assert blobs.missing(["assets/9d1c/weights.bin"]) == []
    assert cli.main(["gc", *data_dir]) == 0  # the default grace spares what was just written
    assert "would" not in capsys.readouterr().err and blobs.missing(["assets/9d1c/weights.bin"]) == []
    assert cli.main(["gc", "--grace", "0", *data_dir]) == 0
    assert "deleted 1 of 1 orphan blobs" in capsys.readouterr().err
    assert blobs.missing(["assets/9d1c/weights.bin"]) == ["assets/9d1c/weights.bin"]


def test_version_and_bare_server_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from assets_registry.apps.client import server_url

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"assets-registry {version('assets-registry')}"
    assert server_url("127.0.0.1:9000") == "http://127.0.0.1:9000"
    assert server_url("registry.internal") == "http://registry.internal"
    assert server_url("https://registry.example.com/") == "https://registry.example.com"
