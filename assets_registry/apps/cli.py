"""The ``assets-registry`` command: serve the registry, list plugins, show the settings, move ZIP
bundles, declare buckets and sources."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from assets_registry.apps import assets_cli, catalog_cli, tokens_cli
from assets_registry.apps.memory import limit_malloc_arenas
from assets_registry.apps.output import report as client_report
from assets_registry.apps.settings import Settings, load_settings
from assets_registry.core.errors import ConfigurationError, RegistryError
from assets_registry.plugins.types import BackendURL


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="on failure, print the traceback (and its cause)")
    parser.add_argument("--config", type=Path, help="TOML settings file (default: $ASSETS_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="where embedded backends keep data (default ./var)")
    parser.add_argument("--metadata-url", help="metadata store URL, e.g. sqlite:///abs/registry.db")
    parser.add_argument("--blobs-url", help="blob store URL, e.g. file:///abs/blobs")
    parser.add_argument("--jobs-url", help="job tracker URL, e.g. local://")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("assets-registry")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assets-registry", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (REST, query, GraphQL)")
    _common(serve)
    serve.add_argument(
        "--bind",
        action="append",
        metavar="HOST:PORT",
        help="address to listen on; repeat for several (default 127.0.0.1:8080 and :8081)",
    )
    serve.add_argument("--routes", choices=["all", "read", "write"], help="serve only read or write routes")
    serve.add_argument("--workers", type=int, help="server processes (default 2)")
    serve.add_argument("--threads", type=int, help="threads per process (default 8)")
    serve.add_argument("--log-format", choices=["text", "json"], help="json: one object per line (default text)")
    serve.add_argument("--http-server", choices=["granian", "gunicorn"], help="the HTTP server (default granian)")
    serve.add_argument(
        "--allow-anonymous", action="store_true", help="with auth=off, bind non-loopback addresses anyway"
    )

    worker = commands.add_parser("worker", help="run upload jobs taken from the job tracker (scale out)")
    _common(worker)
    worker.add_argument("--threads", type=int, help="job threads in this process (default: job_threads, 2)")

    plugins = commands.add_parser("plugins", help="list loaded plugins, their versions and what they provide")
    _common(plugins)
    plugins.add_argument("--json", action="store_true", help="print JSON")

    gc = commands.add_parser("gc", help="delete blobs no asset or upload job owns (what crashes left behind)")
    _common(gc)
    gc.add_argument("--dry-run", action="store_true", help="list the orphans, delete nothing")
    gc.add_argument(
        "--grace", type=float, metavar="S", help="spare blobs written in the last S seconds (default 86400)"
    )

    config = commands.add_parser("config", help="print the effective settings (passwords hidden)")
    _common(config)

    url_help = "registry URL (default: $ASSETS_URL, else http://127.0.0.1:8080)"
    quiet_help = "no progress bars"
    upload = commands.add_parser("upload", help="upload a bundle (asset.json plus files); print its upload id")
    upload.add_argument(
        "bundle", type=Path, metavar="BUNDLE", help="a ZIP, or a folder holding asset.json (zipped as it is sent)"
    )
    upload.add_argument("--wait", action="store_true", help="follow the upload job; exit 1 unless it succeeds")
    upload.add_argument(
        "--timeout", type=float, default=3600.0, metavar="S", help="with --wait, give up after S seconds (default 3600)"
    )
    upload.add_argument("--url", help=url_help)
    upload.add_argument("--quiet", "-q", action="store_true", help=quiet_help)
    upload.add_argument(
        "--services", default="", metavar="A,B", help="webhook services to run beside those run on every upload"
    )
    upload.add_argument("--bucket", default="", metavar="NAME", help="the bucket to store into (default: default)")
    upload.add_argument(
        "--resume",
        action="store_true",
        help="send a ZIP resumably (tus, /uploads/): run again after a cut to send only the rest",
    )

    download = commands.add_parser("download", help="download an asset as a ZIP bundle, or one of its files")
    download.add_argument("asset_id", metavar="ASSET_ID", help="the asset to fetch")
    download.add_argument("file_id", nargs="?", metavar="FILE_ID", help="only this file (resumed if partly there)")
    download.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="file or folder to save to (default ASSET_ID.zip, or the file's name; - is stdout)",
    )
    download.add_argument("--url", help=url_help)
    download.add_argument("--quiet", "-q", action="store_true", help=quiet_help)
    catalog_cli.add_commands(commands, url_help)
    assets_cli.add_commands(commands, url_help)
    tokens_cli.add_commands(commands, _common)
    for name in ("upload", "download"):
        commands.choices[name].add_argument("--token", help="access token (default: $ASSETS_TOKEN)")
    _json_everywhere(commands)
    return parser  # fmt: skip


def _json_everywhere(commands: Any) -> None:
    """``--json`` on every command that prints a result (where it is missing: JSON already, or one line)."""
    for name, parser in commands.choices.items():
        if name in ("serve", "worker"):
            continue  # they run; their logs take --log-format json
        subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        leaves = list(subcommands[0].choices.values()) if subcommands else [parser]
        for leaf in leaves:
            if "--json" not in leaf._option_string_actions:
                leaf.add_argument("--json", action="store_true", help="print JSON (one object per line)")


def _settings(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {
        "data_dir": args.data_dir,
        "metadata_url": args.metadata_url,
        "blobs_url": args.blobs_url,
        "jobs_url": args.jobs_url,
    }
    for name in ("bind", "routes", "workers", "threads", "log_format", "http_server"):
        flags[name] = getattr(args, name, None)
    if getattr(args, "allow_anonymous", False):
        flags["allow_anonymous"] = True
    if args.command == "worker":  # a worker's threads run jobs, not requests
        flags["job_threads"], flags["threads"] = flags["threads"], None
    return load_settings(args.config, **flags)


def _show_plugins(settings: Settings, as_json: bool) -> None:
    """Each plugin, its adapters (summary and URL options) and its validators' names."""
    from dataclasses import asdict

    from assets_registry.apps.container import load_plugins

    # Tolerant: one plugin that cannot load must not hide the others, nor itself.
    infos = load_plugins(settings, tolerant=True).describe(settings.validators)
    if as_json:
        print(json.dumps([asdict(info) for info in infos], indent=2))
        return
    for info in infos:
        print(f"{info.name} {info.version} ({info.module})")
        for adapter in info.adapters:
            print(f"    {adapter.port} adapter {adapter.scheme}://")
            print(f"        {adapter.summary}")
            for option, meaning in adapter.options.items():
                print(f"        ?{option}=  {meaning}")
        if info.validators:
            print(f"    validators: {', '.join(info.validators)}")
        elif "validators" in info.provides:
            print("    validators: (none with these settings)")
        if info.extractors:
            print(f"    metadata extractors: {', '.join(info.extractors)}")
        if info.mutators:
            print(f"    mutators: {', '.join(info.mutators)}")
        if info.error:
            print(f"    FAILED: {info.error}")
        elif not info.provides:
            print("    (no hooks)")


def _collect(settings: Settings, dry_run: bool, grace: float | None, as_json: bool = False) -> None:
    """``assets-registry gc``: one sweep, each orphan on a line, then the totals."""
    from assets_registry.apps.container import build_container

    services = build_container(settings).services()
    try:
        report = services.janitor.sweep(dry_run=dry_run, grace_seconds=grace)
    finally:
        services.close()
    if report.refused:
        raise ConfigurationError(report.refused)
    for orphan in report.orphans:
        line = f"{orphan.blob.key}\t{orphan.blob.size}\t{orphan.reason}"
        client_report(as_json, line, {"key": orphan.blob.key, "size": orphan.blob.size, "reason": orphan.reason})
    if as_json:
        totals = {"orphans": len(report.orphans), "orphan_bytes": report.orphan_bytes, "deleted": report.deleted}
        client_report(True, "", {**totals, "spared": report.spared, "dry_run": dry_run})
    verb = "would delete" if dry_run else f"deleted {report.deleted} of"
    print(
        f"{verb} {len(report.orphans)} orphan blobs ({report.orphan_bytes} bytes); "
        f"spared {report.spared} of uploads in flight or written within the grace period",
        file=sys.stderr,
    )


def _run_worker(settings: Settings) -> None:
    import logging

    from assets_registry.apps.container import build_container
    from assets_registry.apps.server import check_setup
    from assets_registry.apps.workers import SourceControllers, Sweeps, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_setup(settings)
    services = build_container(settings).services()
    try:
        run_worker(
            services.bundles,
            max(settings.job_threads, 1),
            sweeps=Sweeps(services.janitor, settings.gc_interval_seconds),
            controllers=SourceControllers(
                services.imports, max(settings.source_threads, 1), bucket_check_seconds=settings.bucket_check_seconds
            ),
        )
    finally:
        services.close()


def _show_config(settings: Settings) -> None:
    values = settings.model_dump(mode="json")
    for key in ("metadata_url", "blobs_url", "jobs_url", "catalog_url", "bucket_blobs_url"):
        if values[key]:
            values[key] = str(BackendURL(values[key]))
    print(json.dumps(values, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("buckets", "sources"):
        return catalog_cli.run(args)
    if args.command in ("assets", "status", "wait"):
        from assets_registry.apps import client

        return assets_cli.run(args, client.server_url(args.url))
    if args.command in ("upload", "download"):  # clients of a running server: no Settings
        from assets_registry.apps import client

        url = client.server_url(args.url)
        if args.command == "upload":
            return client.upload(
                url, args.bundle, args.wait, args.timeout, args.quiet, args.services, args.bucket, args.token,
                args.json, args.resume,
            )  # fmt: skip
        if args.json and args.output == "-":
            print("assets-registry: --json and -o - both want stdout; choose one", file=sys.stderr)
            return 2
        return client.download(url, args.asset_id, args.output, args.quiet, args.token, args.file_id, args.json)
    try:
        settings = _settings(args)
        if args.command in ("serve", "worker"):
            limit_malloc_arenas()
        if args.command == "serve":
            from assets_registry.apps.server import serve

            serve(settings)
        elif args.command == "worker":
            _run_worker(settings)
        elif args.command == "plugins":
            _show_plugins(settings, args.json)
        elif args.command == "gc":
            _collect(settings, args.dry_run, args.grace, args.json)
        elif args.command == "config":
            _show_config(settings)
        elif args.command == "tokens":
            tokens_cli.run(settings, args)
        elif args.command == "audit":
            tokens_cli.run_audit(settings, args)
    except RegistryError as exc:
        if getattr(args, "debug", False):
            traceback.print_exception(exc)  # with its cause: a plugin's import error, say
        print(f"assets-registry: {exc.message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `assets-registry plugins | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left unflushed goes nowhere
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
