"""Plugins: discovery by entry points, adapters by URL scheme, validators, and loud failures."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import falcon.testing
import pytest
from dependency_injector import providers

from assets_registry.apps.container import build_container, load_plugins, make_adapter
from assets_registry.apps.http import create_app
from assets_registry.apps.settings import Settings, load_settings
from assets_registry.core.errors import ConfigurationError, FieldError
from assets_registry.core.model import Asset
from assets_registry.core.ports import BlobStore, Validator
from assets_registry.plugins import AdapterContext, AdapterSpec, BackendURL, PortName, hookimpl, hookspecs
from assets_registry.plugins.manager import BLOCK_ENV, PluginError, Plugins
from assets_registry.testing.documents import asset_document
from assets_registry.testing.memory import MemoryBlobStore

PROJECT_VERSION = "0.1.0"

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var")


# -- helpers: plugins made per test -----------------------------------------------------


def blobs_plugin(scheme: str, factory: Any = None) -> object:
    """An object plugin offering a blobs adapter for ``scheme`` (an in-memory store by default)."""

    def make(context: AdapterContext) -> Any:
        return factory(context) if factory is not None else MemoryBlobStore()

    class _Plugin:
        @hookimpl
        def assets_registry_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec(port="blobs", scheme=scheme, factory=make, summary=f"{scheme} blobs in memory")]

    return _Plugin()


def write_distribution(root: Path, *, dist: str, version: str, module: str, source: str, entry: str) -> None:
    """A throw-away installed distribution under ``root``: a package and its dist-info."""
    package = root / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[assets_registry]\n{entry} = {module}\n", encoding="utf-8")


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` for throw-away distributions; their modules are forgotten after."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        if name.split(".")[0] in {p.name for p in root.iterdir() if p.is_dir()}:
            del sys.modules[name]
    importlib.invalidate_caches()


# -- the built-in plugins ---------------------------------------------------------------


BUILT_IN = {"sqlite", "filesystem", "mongodb", "s3", "ceph", "redis", "extractors"}
"""The plugins this project ships, registered through its own entry points."""


_SHIPPED = {port: Plugins.load().schemes(port) for port in ("metadata", "blobs", "jobs")}


def shipped_schemes(port: PortName) -> list[str]:
    """The schemes the shipped plugins serve (read at import, before any test adds plugins)."""
    return list(_SHIPPED[port])


def test_entry_points_find_the_builtin_plugins() -> None:
    plugins = Plugins.load()
    assert plugins.has("sqlite")
    assert plugins.has("filesystem")
    assert "sqlite" in plugins.schemes("metadata")
    assert "file" in plugins.schemes("blobs")
    assert "local" in plugins.schemes("jobs")


def test_describe_lists_names_versions_and_what_each_provides() -> None:
    infos = {info.name: info for info in Plugins.load().describe()}
    assert set(infos) == BUILT_IN
    assert infos["sqlite"].version == PROJECT_VERSION
    assert infos["filesystem"].version == PROJECT_VERSION
    assert infos["sqlite"].module == "assets_registry.adapters.sqlite"
    assert infos["filesystem"].module == "assets_registry.adapters.filesystem"
    assert sorted(infos["sqlite"].provides) == [
        "catalog adapter sqlite://",
        "history adapter sqlite://",
        "jobs adapter local://",
        "metadata adapter sqlite://",
    ]
    assert infos["filesystem"].provides == ["blobs adapter file://"]


def test_describe_is_sorted_by_name() -> None:
    names = [info.name for info in Plugins.load().describe()]
    assert names == sorted(names)


def test_builtin_adapters_implement_their_ports(settings: Settings) -> None:
    plugins = Plugins.load()
    blobs = make_adapter(plugins, "blobs", settings.blobs_url, settings)
    metadata = make_adapter(plugins, "metadata", settings.metadata_url, settings)
    jobs = make_adapter(plugins, "jobs", settings.jobs_url, settings)
    try:
        assert type(blobs).__name__ == "FilesystemBlobStore"
        assert type(metadata).__name__ == "SqliteMetadataStore"
        assert type(jobs).__name__ == "SqliteJobTracker"
        assert (settings.data_dir / "blobs").is_dir()
    finally:
        for adapter in (blobs, metadata, jobs):
            adapter.close()


def test_blocked_plugin_is_not_loaded() -> None:
    plugins = Plugins.load(blocked=["sqlite"])
    assert not plugins.has("sqlite")
    assert "sqlite" not in plugins.schemes("metadata")
    assert "local" not in plugins.schemes("jobs")
    assert "file" in plugins.schemes("blobs")
    listed = {info.name for info in plugins.describe()}
    assert listed == BUILT_IN - {"sqlite"}, "a blocked plugin must not be listed as loaded"


def test_blocked_scheme_is_reported_as_unknown() -> None:
    plugins = Plugins.load(blocked=["sqlite"])
    context = AdapterContext(url=BackendURL("sqlite://"), data_dir=Path("var"))
    with pytest.raises(ConfigurationError, match="No plugin serves 'sqlite' URLs") as raised:
        plugins.make_adapter("metadata", context)
    assert "sqlite://" not in raised.value.message


def test_load_plugins_honours_the_disable_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BLOCK_ENV, " sqlite , ")
    plugins = load_plugins(load_settings(data_dir=tmp_path))
    assert not plugins.has("sqlite")
    assert plugins.has("filesystem")


def test_load_plugins_honours_settings_disable_plugins(tmp_path: Path) -> None:
    plugins = load_plugins(load_settings(data_dir=tmp_path, disable_plugins=["filesystem"]))
    assert not plugins.has("filesystem")
    assert "file" not in plugins.schemes("blobs")
    assert "sqlite" in plugins.schemes("metadata")


def test_the_block_list_comes_only_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The variable is read once, by the settings; an explicit setting wins over it, as every setting does."""
    settings = load_settings(data_dir=tmp_path, disable_plugins=["filesystem"])
    monkeypatch.setenv(BLOCK_ENV, "sqlite")  # set after the settings were read: not looked at again
    plugins = load_plugins(settings)
    assert plugins.has("sqlite")
    assert not plugins.has("filesystem")
    assert "sqlite" in plugins.schemes("metadata")
    assert "file" not in plugins.schemes("blobs")


def test_disable_env_var_set_before_the_settings_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's real order: the variable is in the environment when the settings load."""
    monkeypatch.setenv(BLOCK_ENV, "sqlite,filesystem")
    try:
        settings = load_settings(data_dir=tmp_path)
    except Exception as exc:
        pytest.fail(
            f"PRODUCT BUG: {BLOCK_ENV}=sqlite,filesystem makes load_settings fail ({exc!r}): pydantic-settings "
            "JSON-decodes the list field disable_plugins before the comma-splitting validator runs. "
            "Fix: annotate disable_plugins (and bind) as Annotated[list[str], NoDecode] in apps/settings.py."
        )
    assert settings.disable_plugins == ["sqlite", "filesystem"]
    plugins = load_plugins(settings)
    assert not plugins.has("sqlite")
    assert not plugins.has("filesystem")


# -- adapters offered by a plugin -------------------------------------------------------


def test_plugin_adapter_for_a_new_scheme_is_used(settings: Settings) -> None:
    contexts: list[AdapterContext] = []
    store = MemoryBlobStore()

    def factory(context: AdapterContext) -> MemoryBlobStore:
        contexts.append(context)
        return store

    plugins = Plugins.load(extra=[("memory-blobs", blobs_plugin("mem", factory))])
    assert plugins.schemes("blobs") == sorted([*shipped_schemes("blobs"), "mem"])
    adapter = make_adapter(plugins, "blobs", "MEM://bucket/prefix?x=1", settings)
    assert adapter is store
    assert isinstance(adapter, BlobStore)
    [context] = contexts
    assert context.url.raw == "MEM://bucket/prefix?x=1"
    assert context.url.scheme == "mem"
    assert context.url.option("x") == "1"
    assert context.data_dir == settings.data_dir


def test_module_like_plugin_is_accepted(settings: Settings) -> None:
    @hookimpl
    def assets_registry_adapters() -> list[AdapterSpec]:
        return [AdapterSpec(port="blobs", scheme="ns", factory=lambda _c: MemoryBlobStore(), summary="namespace")]

    plugins = Plugins.load(
        entry_points=False, extra=[("ns-plugin", SimpleNamespace(assets_registry_adapters=assets_registry_adapters))]
    )
    assert plugins.schemes("blobs") == ["ns"]
    assert isinstance(make_adapter(plugins, "blobs", "ns://", settings), MemoryBlobStore)
    [info] = plugins.describe()
    assert info.name == "ns-plugin"
    assert info.version == "-"
    assert info.provides == ["blobs adapter ns://"]


def test_unknown_scheme_lists_the_known_ones(settings: Settings) -> None:
    plugins = Plugins.load()
    with pytest.raises(ConfigurationError) as raised:
        make_adapter(plugins, "metadata", "nosuch://host/db", settings)
    assert "'nosuch'" in raised.value.message
    assert "sqlite://" in raised.value.message
    with pytest.raises(ConfigurationError, match=re.escape("file://")):
        make_adapter(plugins, "blobs", "nosuch://bucket", settings)


def test_same_scheme_from_two_plugins_names_both() -> None:
    with pytest.raises(PluginError) as raised:
        Plugins.load(entry_points=False, extra=[("alpha", blobs_plugin("mem")), ("beta", blobs_plugin("mem"))])
    assert "'alpha'" in raised.value.message
    assert "'beta'" in raised.value.message
    assert BLOCK_ENV in raised.value.message


def test_plugin_claiming_a_builtin_scheme_is_refused() -> None:
    with pytest.raises(PluginError) as raised:
        Plugins.load(extra=[("impostor", blobs_plugin("FILE"))])
    assert "'filesystem'" in raised.value.message
    assert "'impostor'" in raised.value.message


def test_same_scheme_on_different_ports_is_allowed() -> None:
    class _Plugin:
        @hookimpl
        def assets_registry_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec(port="jobs", scheme="file", factory=lambda _c: object(), summary="jobs in files")]

    plugins = Plugins.load(extra=[("file-jobs", _Plugin())])
    assert plugins.schemes("jobs") == sorted([*shipped_schemes("jobs"), "file"])
    assert plugins.schemes("blobs") == shipped_schemes("blobs")


def test_misspelled_hook_fails_at_load_naming_the_plugin() -> None:
    class _Typo:
        @hookimpl
        def assets_registry_adaptors(self) -> list[AdapterSpec]:
            return []

    with pytest.raises(PluginError) as raised:
        Plugins.load(entry_points=False, extra=[("typo-plugin", _Typo())])
    assert "assets_registry_adaptors" in raised.value.message
    assert "typo-plugin" in raised.value.message, (
        "PRODUCT BUG: the check_pending error names the plugin object's repr, not the name it was registered "
        f"under: {raised.value.message!r}. Fix in plugins/manager.py Plugins.load: use "
        "`pm.get_name(exc.plugin) or repr(exc.plugin)` in the PluginError message."
    )


def test_hook_with_a_wrong_argument_is_a_plugin_error() -> None:
    class _WrongArgument:
        @hookimpl
        def assets_registry_validators(self, opts: dict[str, object]) -> list[Validator]:
            return []

    with pytest.raises(Exception) as raised:  # noqa: PT011 - the bug is which class is raised
        Plugins.load(entry_points=False, extra=[("argument-plugin", _WrongArgument())])
    assert isinstance(raised.value, PluginError), (
        f"PRODUCT BUG: a hookimpl with an unknown argument raises {type(raised.value).__name__}, not PluginError, "
        "so `assets-registry serve/plugins` ends in a traceback. Fix in plugins/manager.py Plugins.load: wrap "
        "each pm.register(...) (entry points and extra) in `except pluggy.PluginValidationError as exc: "
        "raise PluginError(f'The plugin {name!r} is not valid: {exc}') from exc`."
    )
    assert "argument-plugin" in raised.value.message
    assert "opts" in raised.value.message


def test_adapter_for_an_unknown_port_is_refused() -> None:
    class _Plugin:
        @hookimpl
        def assets_registry_adapters(self) -> list[AdapterSpec]:
            port = cast(PortName, "queues")
            return [AdapterSpec(port=port, scheme="amqp", factory=lambda _c: object(), summary="a queue")]

    with pytest.raises(PluginError) as raised:
        Plugins.load(entry_points=False, extra=[("queue-plugin", _Plugin())])
    assert "'queue-plugin'" in raised.value.message
    assert "'queues'" in raised.value.message


def test_factory_returning_a_non_adapter_is_refused(settings: Settings) -> None:
    plugins = Plugins.load(extra=[("bogus", blobs_plugin("bogus", lambda _c: object()))])
    with pytest.raises(ConfigurationError) as raised:
        make_adapter(plugins, "blobs", "bogus://", settings)
    assert "bogus://" in raised.value.message
    assert "object" in raised.value.message
    assert "blobs port" in raised.value.message


def test_a_factory_that_crashes_is_the_plugins_fault(settings: Settings) -> None:
    def crash(_context: AdapterContext) -> Any:
        raise KeyError("endpoint")

    plugins = Plugins.isolated(("crashy", blobs_plugin("crashy", crash)))
    with pytest.raises(PluginError) as raised:
        make_adapter(plugins, "blobs", "crashy://", settings)
    assert "The plugin 'crashy' failed to build its crashy:// blobs adapter" in raised.value.message
    assert "KeyError" in raised.value.message


def test_a_factorys_own_configuration_error_is_passed_on(settings: Settings) -> None:
    def refuse(_context: AdapterContext) -> Any:
        raise ConfigurationError("The crashy:// URL needs ?region=.")

    plugins = Plugins.isolated(("crashy", blobs_plugin("crashy", refuse)))
    with pytest.raises(ConfigurationError) as raised:
        make_adapter(plugins, "blobs", "crashy://", settings)
    assert not isinstance(raised.value, PluginError)
    assert raised.value.message == "The crashy:// URL needs ?region=."


def test_isolated_plugins_load_no_entry_points() -> None:
    plugins = Plugins.isolated(("only", blobs_plugin("only")))
    assert plugins.names() == ["only"]
    assert plugins.schemes("blobs") == ["only"]
    assert plugins.schemes("metadata") == []


# -- third-party distributions found by entry points ------------------------------------


def test_plugin_failing_to_import_is_named(site_dir: Path) -> None:
    write_distribution(
        site_dir,
        dist="broken_plugin",
        version="0.0.1",
        module="broken_plugin",
        entry="broken",
        source='raise ImportError("broken_plugin needs a library that is not installed")\n',
    )
    importlib.invalidate_caches()
    with pytest.raises(PluginError) as raised:
        Plugins.load()
    assert "'broken'" in raised.value.message
    assert "broken_plugin" in raised.value.message
    assert "not installed" in raised.value.message


def test_the_plugins_command_lists_the_others_and_names_the_broken_one(
    site_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assets_registry.apps import cli

    write_distribution(
        site_dir,
        dist="broken_plugin",
        version="0.0.1",
        module="broken_plugin",
        entry="broken",
        source='raise ImportError("broken_plugin needs a library that is not installed")\n',
    )
    importlib.invalidate_caches()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "sqlite 0.1.0 (assets_registry.adapters.sqlite)" in out
    broken = out[out.index("broken 0.0.1") :].splitlines()
    assert broken[1].startswith("    FAILED: The plugin 'broken' (broken_plugin) failed to load: ImportError(")
    assert cli.main(["serve", "--debug"]) == 2  # the server itself still refuses to start
    err = capsys.readouterr().err
    assert "Traceback" in err and "not installed" in err, "--debug shows the import error's traceback"
    assert err.splitlines()[-1].startswith("assets-registry: The plugin 'broken' (broken_plugin) failed to load")


def test_broken_plugin_can_be_blocked(site_dir: Path) -> None:
    write_distribution(
        site_dir,
        dist="broken_plugin",
        version="0.0.1",
        module="broken_plugin",
        entry="broken",
        source='raise ImportError("never imported when blocked")\n',
    )
    importlib.invalidate_caches()
    plugins = Plugins.load(blocked=["broken"])
    assert not plugins.has("broken")
    assert "broken_plugin" not in sys.modules
    assert plugins.schemes("metadata") == shipped_schemes("metadata")


def test_third_party_distribution_is_found_listed_and_used(site_dir: Path, tmp_path: Path) -> None:
    write_distribution(
        site_dir,
        dist="memblobs_plugin",
        version="9.9.9",
        module="memblobs_plugin",
        entry="memblobs",
        source="""\
            from assets_registry.plugins import AdapterSpec, hookimpl
            from assets_registry.testing.memory import MemoryBlobStore


            def make_store(context):
                return MemoryBlobStore()


            @hookimpl
            def assets_registry_adapters():
                return [AdapterSpec(port="blobs", scheme="memblobs", factory=make_store, summary="Blobs in memory.")]
            """,
    )
    importlib.invalidate_caches()
    plugins = Plugins.load()
    assert plugins.schemes("blobs") == sorted([*shipped_schemes("blobs"), "memblobs"])
    infos = {info.name: info for info in plugins.describe()}
    assert set(infos) == BUILT_IN | {"memblobs"}
    assert infos["memblobs"].version == "9.9.9"
    assert infos["memblobs"].module == "memblobs_plugin"
    assert infos["memblobs"].provides == ["blobs adapter memblobs://"]
    assert infos["sqlite"].version == PROJECT_VERSION

    settings = load_settings(data_dir=tmp_path / "var", blobs_url="memblobs://")
    adapter = make_adapter(plugins, "blobs", settings.blobs_url, settings)
    assert isinstance(adapter, MemoryBlobStore)
    assert adapter.put("a/b", [b"hello"]).size == 5

    container = build_container(settings)
    assert isinstance(container.blobs(), MemoryBlobStore)


# -- validators -------------------------------------------------------------------------


@dataclass
class VersionRule:
    """Refuses assets whose ``asset_version`` does not match a pattern."""

    pattern: str
    name: str = "version_rule"

    def validate(self, asset: Asset) -> list[FieldError]:
        if re.fullmatch(self.pattern, asset.asset_version):
            return []
        return [FieldError("asset_version", f"must match {self.pattern!r}, got {asset.asset_version!r}")]


class VersionRulePlugin:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    @hookimpl
    def assets_registry_validators(self, options: dict[str, object]) -> Sequence[Validator]:
        self.calls.append(options)
        rule = cast(dict[str, str], options.get("version_rule", {}))
        return [VersionRule(rule.get("pattern", "^v[0-9]+$"))]


def test_validators_hook_receives_the_options() -> None:
    plugin = VersionRulePlugin()
    plugins = Plugins.load(extra=[("versions", plugin)])
    options: dict[str, object] = {"version_rule": {"pattern": "^r[0-9]+$"}}
    [validator] = plugins.validators(options)
    assert plugin.calls == [options]
    assert isinstance(validator, Validator)
    assert validator.name == "version_rule"
    infos = {info.name: info for info in plugins.describe()}
    assert infos["versions"].provides == ["validators"]
    assert Plugins.load().validators({}) == []


def test_validator_plugin_guards_create_and_update_over_http(tmp_path: Path) -> None:
    validator_options: dict[str, Any] = {"version_rule": {"pattern": "^v[0-9]+$"}}
    settings = load_settings(data_dir=tmp_path / "var", validators=validator_options)
    plugin = VersionRulePlugin()
    container = build_container(settings)
    container.plugins.override(providers.Object(Plugins.load(extra=[("versions", plugin)])))
    services = container.services()
    try:
        client = falcon.testing.TestClient(create_app(services))
        assert plugin.calls == [settings.validators]
        assert plugin.calls == [validator_options]

        refused = client.simulate_post("/assets", json=asset_document("asset-1", version="latest"))
        assert refused.status_code == 400
        assert refused.json["code"] == "invalid_asset"
        first = refused.json["errors"][0]
        assert first["path"] == "asset_version"
        assert "version_rule" in first["message"]
        assert client.simulate_get("/query/by-id/asset-1").status_code == 404

        created = client.simulate_post("/assets", json=asset_document("asset-1", version="v12"))
        assert created.status_code == 201
        assert created.json["asset_version"] == "v12"

        broken = client.simulate_put("/assets/asset-1", json={"asset_version": "latest"})
        assert broken.status_code == 400
        assert broken.json["code"] == "invalid_asset"
        assert broken.json["errors"][0]["path"] == "asset_version"
        assert "version_rule" in broken.json["errors"][0]["message"]
        assert client.simulate_get("/query/by-id/asset-1").json["asset_version"] == "v12"

        updated = client.simulate_put("/assets/asset-1", json={"asset_version": "v13"})
        assert updated.status_code == 200
        assert updated.json["asset_version"] == "v13"
    finally:
        services.close()


# -- the hooks themselves ---------------------------------------------------------------


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Name) and target.id == "hookimpl"


def _hooks_implemented_by_tests() -> dict[str, list[str]]:
    """Each hook that a test module implements (``@hookimpl def <hook>``), with the modules doing it.

    Only modules that also hold tests count: a plugin in a test module is there to be exercised.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = list(ast.walk(tree))
        if not any(isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in nodes):
            continue
        for node in nodes:
            if isinstance(node, ast.FunctionDef) and any(_is_hookimpl(d) for d in node.decorator_list):
                found.setdefault(node.name, []).append(str(path.relative_to(TESTS)))
    return found


def test_every_hook_is_documented_and_exercised() -> None:
    hooks = {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("assets_registry_")
    }
    assert hooks, "no hook found in assets_registry.plugins.hookspecs"
    for name, function in hooks.items():
        doc = inspect.getdoc(function) or ""
        assert ":return:" in doc, f"the hook {name} needs a docstring with ':return:'"
    implemented = _hooks_implemented_by_tests()
    untested = sorted(set(hooks) - set(implemented))
    assert not untested, f"no test module implements the hooks {untested}: add a test plugin for each"
