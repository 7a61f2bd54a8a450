"""Backend URLs: parsed for adapters, printable without leaking secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets_registry.plugins import AdapterSpec, hookimpl
from assets_registry.plugins.manager import PluginError, Plugins
from assets_registry.plugins.types import BackendURL


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("local://", "local://"),
        ("sqlite:///abs/registry.db", "sqlite:///abs/registry.db"),
        ("mongodb://user:pw@db1,db2/assets?replicaSet=rs0", "mongodb://user:***@db1,db2/assets?replicaSet=rs0"),
        ("s3://bucket?region=eu&aws_secret_access_key=SK", "s3://bucket?region=eu&aws_secret_access_key=***"),
        (
            "ceph://c?auth_url=http%3A%2F%2Fh&password=P&token=T",
            "ceph://c?auth_url=http%3A%2F%2Fh&password=***&token=***",
        ),
    ],
)
def test_printing_a_url_hides_its_secrets(raw: str, shown: str) -> None:
    assert str(BackendURL(raw)) == shown


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("sqlite://", Path("default.db")),
        ("sqlite:///abs/x.db", Path("/abs/x.db")),
        ("sqlite:rel/x.db", Path("rel/x.db")),
    ],
)
def test_local_paths(raw: str, path: Path) -> None:
    assert BackendURL(raw).local_path(Path("default.db")) == path


def test_options_come_from_the_query_string() -> None:
    url = BackendURL("s3://bucket/prefix?endpoint_url=http%3A%2F%2F127.0.0.1%3A9000&addressing_style=path")
    assert (url.scheme, url.host, url.path) == ("s3", "bucket", "/prefix")
    assert url.option("endpoint_url") == "http://127.0.0.1:9000"
    assert url.option("missing", "default") == "default"


class _Exploding:
    @hookimpl
    def assets_registry_adapters(self) -> list[AdapterSpec]:
        raise RuntimeError("boom")


def test_a_plugin_whose_hook_raises_is_named() -> None:
    with pytest.raises(PluginError, match=r"'exploding' failed to list its adapters: RuntimeError\('boom'\)"):
        Plugins.load(entry_points=False, extra=[("exploding", _Exploding())])
