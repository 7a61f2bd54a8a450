"""A plugin's faults are named: wrong answers of hooks, missing port methods, failing validators."""

from __future__ import annotations

import importlib.metadata
import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from assets_registry.apps.container import Services, build_container, make_adapter
from assets_registry.apps.settings import Settings, load_settings
from assets_registry.core.model import Asset
from assets_registry.plugins import AdapterSpec, hookimpl
from assets_registry.plugins.manager import PluginError, Plugins
from assets_registry.testing import asset_document, bundle_zip, embedded_registry, http_client, upload_bundle
from assets_registry.testing.memory import MemoryBlobStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var")


def adapters_answering(answer: Any) -> object:
    class _Plugin:
        @hookimpl
        def assets_registry_adapters(self) -> Any:
            return answer

    return _Plugin()


SPEC = AdapterSpec(port="blobs", scheme="odd", factory=lambda _c: MemoryBlobStore(), summary="odd")


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (SPEC, "one AdapterSpec, not a list of them: return [spec]"),
        ({"blobs": SPEC}, "dict {'blobs':"),
        ([SPEC, "file://"], "a list holding str 'file://', not only AdapterSpec"),
    ],
    ids=["one-spec", "a-dict", "a-string-in-the-list"],
)
def test_an_adapters_hook_answering_the_wrong_shape_is_named(answer: Any, said: str) -> None:
    with pytest.raises(PluginError) as raised:
        Plugins.isolated(("odd", adapters_answering(answer)))
    assert raised.value.message.startswith("The plugin 'odd' answered assets_registry_adapters with ")
    assert said in raised.value.message


def test_a_store_lacking_port_methods_is_refused_with_them_listed(settings: Settings) -> None:
    class HalfStore:
        def put(self, key: str, chunks: Any, transient: bool = False) -> Any: ...
        def read(self, key: str, start: int = 0, length: int | None = None) -> Any: ...

    spec = AdapterSpec(port="blobs", scheme="half", factory=lambda _c: HalfStore(), summary="half")
    plugins = Plugins.isolated(("half", adapters_answering([spec])))
    with pytest.raises(PluginError) as raised:
        make_adapter(plugins, "blobs", "half://", settings)
    message = raised.value.message
    assert "plugin 'half' returned HalfStore, which does not implement the blobs port: it lacks " in message
    for method in ("check", "close", "delete", "key_for_url", "listing", "missing", "read_many", "stat"):
        assert method in message
    assert "put," not in message and " read," not in message


def test_a_function_named_like_a_hook_but_unmarked_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    class _Forgetful:
        def assets_registry_validators(self, options: dict[str, object]) -> list[object]:
            return []

    with caplog.at_level(logging.WARNING, "assets_registry.plugins"):
        Plugins.isolated(("forgetful", _Forgetful()))
    assert any(
        "'forgetful'" in r.getMessage()
        and "assets_registry_validators" in r.getMessage()
        and "@hookimpl" in r.getMessage()
        for r in caplog.records
    )


class _Failing:
    name = "flaky_rule"

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer

    def validate(self, asset: Asset) -> Any:
        if self.answer is None:
            raise KeyError("licence")
        return self.answer


def validators_plugin(*validators: object) -> object:
    class _Plugin:
        @hookimpl
        def assets_registry_validators(self, options: dict[str, object]) -> list[object]:
            return list(validators)

    return _Plugin()


@pytest.mark.parametrize(
    ("validator", "said"),
    [(_Failing(), "its validator flaky_rule raised KeyError('licence')"), (_Failing(["bad"]), "returned a list")],
    ids=["raises", "returns-strings"],
)
def test_a_failing_validator_is_a_plugin_failed_problem_and_fails_the_job_naming_the_plugin(
    tmp_path: Path, validator: object, said: str
) -> None:
    container = build_container(load_settings(data_dir=tmp_path / "var"))
    container.plugins.override(providers.Object(Plugins.load(extra=[("acme-rules", validators_plugin(validator))])))
    services = container.services()
    try:
        client = http_client(services)
        answer = client.simulate_post("/assets", json=asset_document("asset-1"))
        assert answer.status_code == 500
        assert answer.json["code"] == "plugin_failed"
        assert "The plugin 'acme-rules' failed: " in answer.json["detail"] and said in answer.json["detail"]
        upload_id = upload_bundle(client, bundle_zip("zip-1", {"m.bin": b"m"})).json["upload_id"]
        services.bundles.run_next("w")
        status = services.bundles.status(upload_id).status
        assert status.startswith("failed: plugin_failed: acme-rules: ") and said in status, status
    finally:
        services.close()


def test_a_validators_hook_answering_the_wrong_shape_is_named() -> None:
    plugins = Plugins.isolated(("shapeless", validators_plugin("not a validator")))
    with pytest.raises(PluginError, match="'shapeless' answered assets_registry_validators with str 'not a validator'"):
        plugins.validators({})


class _Extractor:
    name = "odd_meta"

    def __init__(self, answer: Any = None, paths: str = r"\.bin$") -> None:
        self.answer = answer
        self.paths = paths

    def extract(self, file: Any) -> Any:
        if self.answer is None:
            raise ValueError(f"cannot read {file.path}")
        return self.answer


def extractors_plugin(*extractors: object) -> object:
    class _Plugin:
        @hookimpl
        def assets_registry_metadata_extractors(self, options: dict[str, object]) -> list[object]:
            return list(extractors)

    return _Plugin()


def embedded_with(tmp_path: Path, name: str, plugin: object) -> AbstractContextManager[Services]:
    """The embedded default with only its own two plugins and ``plugin`` loaded."""
    return embedded_registry(tmp_path / "var", (name, plugin))


def run_bundle_with(tmp_path: Path, extractor: object) -> tuple[str, dict[str, Any] | None]:
    with embedded_with(tmp_path, "meta", extractors_plugin(extractor)) as services:
        job = services.bundles.stage([bundle_zip("zip-1", {"m.bin": b"m", "notes.txt": b"n"})])
        services.bundles.run_next("w")
        status = services.bundles.status(job.upload_id).status
        stored = services.registry.store.get("zip-1").document if status == "success" else None
        return status, stored


def test_a_plugins_extractor_adds_to_the_metadata_of_the_files_its_paths_match(tmp_path: Path) -> None:
    status, stored = run_bundle_with(tmp_path, _Extractor({"kind": "weights", "size": -1}))
    assert status == "success"
    assert stored is not None
    metadata = {f["asset_file_id"]: f["asset_file_metadata"] for f in stored["files"]}
    assert metadata["m.bin"]["kind"] == "weights" and metadata["m.bin"]["size"] == 1, "the registry's size wins"
    assert "kind" not in metadata["notes.txt"], "paths (RE2) chose the files"


@pytest.mark.parametrize(
    ("extractor", "said"),
    [
        (_Extractor(), "its extractor odd_meta raised ValueError('cannot read m.bin') on m.bin"),
        (_Extractor(["not", "an", "object"]), "its extractor odd_meta returned a list, not a JSON object"),
    ],
    ids=["raises", "not-an-object"],
)
def test_a_failing_extractor_fails_the_job_naming_the_plugin(tmp_path: Path, extractor: object, said: str) -> None:
    status, _ = run_bundle_with(tmp_path, extractor)
    assert status.startswith("failed: plugin_failed: meta: ") and said in status, status


def test_an_extractor_with_a_bad_paths_pattern_stops_start_up_naming_it() -> None:
    plugins = Plugins.isolated(("meta", extractors_plugin(_Extractor({}, paths="(unclosed"))))
    with pytest.raises(PluginError, match="'meta' gave its extractor odd_meta a bad paths pattern"):
        plugins.extractors({})


class _Upper:
    """A mutator that upper-cases text files, streamed in small pieces."""

    name = "upper"
    paths = r"\.txt$"

    def mutate(self, file: Any) -> Any:
        def chunks() -> Any:
            for start in range(0, file.size, 3):
                yield file.read(start, 3).upper()

        return chunks()


class _Broken:
    name = "broken_mutator"
    paths = ""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def mutate(self, file: Any) -> Any:
        if self.answer == "raise-midway":

            def chunks() -> Any:
                yield b"partial"
                raise OSError("converter crashed")

            return chunks()
        return self.answer


def mutators_plugin(*mutators: object) -> object:
    class _Plugin:
        @hookimpl
        def assets_registry_mutators(self, options: dict[str, object]) -> list[object]:
            return list(mutators)

    return _Plugin()


def run_with_mutator(tmp_path: Path, mutator: object) -> tuple[str, Any]:
    with embedded_with(tmp_path, "shaper", mutators_plugin(mutator)) as services:
        job = services.bundles.stage([bundle_zip("zip-1", {"notes.txt": b"hello world", "m.bin": b"bin"})])
        services.bundles.run_next("w")
        status = services.bundles.status(job.upload_id).status
        if status != "success":
            stored_files = sorted(b.key for b in services.blobs.listing("assets/"))
            return status, stored_files
        client = http_client(services)
        download = client.simulate_get("/zip/download/zip-1")
        listed = sorted(b.key for b in services.blobs.listing("assets/"))
        return status, (services.registry.get("zip-1").document, download, listed)


def test_a_mutator_remakes_the_files_it_matches_and_the_asset_follows(tmp_path: Path) -> None:
    import hashlib
    import io
    import zipfile
    import zlib

    status, (document, download, listed) = run_with_mutator(tmp_path, _Upper())
    assert status == "success"
    files = {f["asset_file_id"]: f for f in document["files"]}
    meta = files["notes.txt"]["asset_file_metadata"]
    assert (meta["size"], meta["sha256"], meta["crc32"]) == (
        11,
        hashlib.sha256(b"HELLO WORLD").hexdigest(),
        zlib.crc32(b"HELLO WORLD"),
    )
    assert "~1/notes.txt" in files["notes.txt"]["asset_file_url"]
    assert files["m.bin"]["asset_file_metadata"]["size"] == 3, "paths chose the files"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert archive.read("notes.txt") == b"HELLO WORLD" and archive.read("m.bin") == b"bin"
    assert not any(key.endswith("/notes.txt") and "~" not in key for key in listed), "the original went"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"not chunks", "returned bytes b'not chunks', not chunks of bytes"),
        (["text"], "gave str 'text' for notes.txt, not bytes"),
        ("raise-midway", "raised OSError('converter crashed') on notes.txt"),
    ],
    ids=["bytes-not-chunks", "str-chunks", "raises-mid-stream"],
)
def test_a_failing_mutator_fails_the_job_naming_the_plugin_and_leaves_nothing(
    tmp_path: Path, answer: Any, said: str
) -> None:
    status, stored_files = run_with_mutator(tmp_path, _Broken(answer))
    assert status.startswith("failed: plugin_failed: shaper: ") and said in status, status
    assert stored_files == []


class _UpperThenBreak:
    name = "upper_then_break"
    paths = ""

    def mutate(self, file: Any) -> Any:
        if file.path == "m.bin":
            raise OSError("cannot convert m.bin")
        return iter([file.read(0, file.size).upper()])


def test_a_mutator_failing_on_a_later_file_leaves_none_of_the_earlier_replacements(tmp_path: Path) -> None:
    status, stored_files = run_with_mutator(tmp_path, _UpperThenBreak())
    assert status.startswith("failed: plugin_failed: shaper: "), status
    assert stored_files == []


def test_a_hook_taking_fewer_arguments_than_the_spec_is_called_as_pluggy_allows() -> None:
    class _NoOptions:
        @hookimpl
        def assets_registry_mutators(self) -> list[object]:
            return [_Upper()]

    assert [m.name for m in Plugins.isolated(("plain", _NoOptions())).mutators({})] == ["upper"]


def test_a_rerun_after_a_crash_keeps_an_asset_whose_files_were_mutated_in_a_wrapper_folder(tmp_path: Path) -> None:
    """The first attempt registers the asset, then its worker dies before recording the end."""
    from assets_registry.core.bundles import Bundles, JobSettings
    from assets_registry.plugins.guards import GuardedMutator
    from tests.unit.bundle_env import make_env

    env = make_env(tmp_path)
    try:
        bundles = Bundles(
            env.registry,
            env.blobs,
            env.jobs,
            job_settings=JobSettings(lease_seconds=0.2),
            reshapers=[GuardedMutator("p", _Upper())],
        )
        job = bundles.stage([bundle_zip("zip-1", {"notes.txt": b"hello", "m.bin": b"bin"}, folder="pkg/")])
        finish = env.jobs.finish
        env.jobs.finish = lambda *args, **kwargs: (_ for _ in ()).throw(SystemExit("worker killed"))  # type: ignore[method-assign]
        with pytest.raises(SystemExit):
            bundles.run_next("first")
        env.jobs.finish = finish  # type: ignore[method-assign]
        import time

        time.sleep(0.3)  # the lease runs out
        assert bundles.run_next("second") is not None
        assert bundles.status(job.upload_id).status == "success"
        document = env.registry.get("zip-1").document
        keys = [env.blobs.key_for_url(f["asset_file_url"]) for f in document["files"]]
        assert env.blobs.missing([k for k in keys if k]) == [], "every file of the registered asset is still there"
    finally:
        env.close()


def test_a_plugins_own_tests_never_load_its_installed_neighbours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``embedded_registry`` reads no entry points: a broken plugin installed beside cannot fail it."""

    neighbour = importlib.metadata.EntryPoint("neighbour", "assets_registry_no_such_plugin", "assets_registry")
    installed = importlib.metadata.entry_points

    def with_neighbour(**selection: Any) -> Any:
        return [*installed(**selection), neighbour]

    monkeypatch.setattr(importlib.metadata, "entry_points", with_neighbour)
    with pytest.raises(PluginError, match="'neighbour'"):
        Plugins.load()  # what loading every installed plugin does
    with embedded_with(tmp_path, "meta", extractors_plugin(_Extractor({"kind": "weights"}))) as services:
        job = services.bundles.stage([bundle_zip("zip-1", {"m.bin": b"m"})])
        services.bundles.run_next("w")
        assert services.bundles.status(job.upload_id).status == "success"
