"""``assets-registry buckets …`` and ``assets-registry sources …``: the Asset Store from a shell.

Clients of a running registry, like ``upload``: they talk HTTP to ``--url`` / ``$ASSETS_URL``.

- ``buckets list|get|put|delete`` map to ``/buckets``; ``list`` pages through every bucket.
- ``sources apply FILE`` declares what a JSON or YAML file holds, as ``kubectl apply`` does: one
  source, a list of them, or several YAML documents, each a source spec with its ``asset_id``
  (what ``sources get ID`` prints can be applied again: ``generation`` and ``status`` are
  ignored). Each prints ``source/<id> created|configured|unchanged``.
- ``sources get [ID]`` lists (a table, or ``--json``) or prints one; ``sources delete ID…``.
- ``sources wait ID…`` until each is Ready at its current generation: exit 0; a final failure
  (a refusal that is not retried until the spec changes) or the timeout: exit 1 naming the
  reason. Failures that the workers retry (``pulling_failed``) are waited through.

Every failure is one line on stderr and exit status 1, as for ``upload``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from assets_registry.apps.client import CommandError, check_answer, json_object, run_client, server_url
from assets_registry.apps.output import report
from assets_registry.core.sources.reasons import FINAL

_IGNORED_ON_APPLY = ("asset_id", "generation", "status")
POLL_SECONDS = 0.5


def add_commands(commands: Any, url_help: str) -> None:
    """The ``buckets`` and ``sources`` sub-commands, on the main parser's sub-parsers."""
    buckets = commands.add_parser("buckets", help="list, show, create or change, and delete buckets")
    actions = buckets.add_subparsers(dest="action", required=True)
    listed = actions.add_parser("list", help="every bucket with its phase and policy")
    listed.add_argument("--json", action="store_true", help="print a JSON array")
    shown = actions.add_parser("get", help="one bucket, as JSON")
    shown.add_argument("name", metavar="NAME")
    put = actions.add_parser("put", help="create a bucket, or change its policy or region")
    put.add_argument("name", metavar="NAME")
    put.add_argument(
        "--policy", choices=["none", "readonly", "writeonly", "readwrite"], help="default: kept (new: none)"
    )
    put.add_argument("--region", help="default: kept (new: empty)")
    deleted = actions.add_parser("delete", help="delete a bucket (--force: with its sources and assets)")
    deleted.add_argument("name", metavar="NAME")
    deleted.add_argument("--force", action="store_true", help="delete the sources and assets it holds too")

    sources = commands.add_parser("sources", help="declare assets by their source URL, follow their phases")
    actions = sources.add_subparsers(dest="action", required=True)
    apply = actions.add_parser("apply", help="declare the sources of a JSON or YAML file (- for stdin)")
    apply.add_argument("file", metavar="FILE")
    got = actions.add_parser("get", help="list sources (a table), or print one as JSON")
    got.add_argument("asset_id", metavar="ASSET_ID", nargs="?")
    got.add_argument("--bucket", help="only the sources storing into this bucket")
    got.add_argument("--json", action="store_true", help="print JSON")
    dropped = actions.add_parser("delete", help="delete sources with their assets and files")
    dropped.add_argument("asset_ids", metavar="ASSET_ID", nargs="+")
    wait = actions.add_parser("wait", help="until the sources are Ready at their current generation")
    wait.add_argument("asset_ids", metavar="ASSET_ID", nargs="+")
    wait.add_argument("--timeout", type=float, default=600.0, metavar="S", help="give up after S seconds (600)")
    for parser in (listed, shown, put, deleted, apply, got, dropped, wait):
        parser.add_argument("--url", help=url_help)
        parser.add_argument("--token", help="access token (default: $ASSETS_TOKEN)")


def run(args: argparse.Namespace) -> int:
    """Run a ``buckets`` or ``sources`` command against the server."""
    handler = {
        ("buckets", "list"): _buckets_list,
        ("buckets", "get"): lambda c, a: _print_json(json_of(c.get(f"/buckets/{_seg(a.name)}"))),
        ("buckets", "put"): _buckets_put,
        ("buckets", "delete"): _buckets_delete,
        ("sources", "apply"): _sources_apply,
        ("sources", "get"): _sources_get,
        ("sources", "delete"): _sources_delete,
        ("sources", "wait"): _sources_wait,
    }[(args.command, args.action)]
    return run_client(server_url(args.url), lambda client: handler(client, args) or 0, args.token)


def _seg(value: str) -> str:
    return quote(value, safe="")


def json_of(response: httpx.Response) -> dict[str, Any]:
    check_answer(response)
    return json_object(response)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _pages(client: httpx.Client, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every item of a listing, page after page (``X-Next-Cursor``)."""
    cursor: str | None = None
    while True:
        response = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        check_answer(response)
        items = response.json()
        if not isinstance(items, list):
            raise CommandError(f"{response.request.url} answered without a JSON array")
        yield from items
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return


def print_table(rows: list[list[str]], header: list[str]) -> None:
    """Rows under a header, in columns as wide as their widest cell."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# -- buckets ------------------------------------------------------------------------------


def _buckets_list(client: httpx.Client, args: argparse.Namespace) -> None:
    buckets = list(_pages(client, "/buckets", {}))
    if args.json:
        _print_json(buckets)
        return
    rows = [[b["name"], b["status"].get("phase", ""), b["status"].get("reason", ""), b["policy"], b["region"]]
            for b in buckets]  # fmt: skip
    print_table(rows, ["NAME", "PHASE", "REASON", "POLICY", "REGION"])


def _buckets_put(client: httpx.Client, args: argparse.Namespace) -> None:
    """Create, or change what is given (a policy or region not given is kept)."""
    path = f"/buckets/{_seg(args.name)}"
    before = client.get(path)
    current = json_object(before) if before.status_code == 200 else {}
    body = {field: getattr(args, field) or current.get(field, default)
            for field, default in (("policy", "none"), ("region", ""))}  # fmt: skip
    response = client.put(path, json=body)
    answer = json_of(response)
    if response.status_code == 201:
        verb = "created"
    else:
        verb = "unchanged" if all(current.get(k) == answer.get(k) for k in body) else "configured"
    print(f"bucket/{args.name} {verb}", file=sys.stderr)
    _print_json(answer)


def _buckets_delete(client: httpx.Client, args: argparse.Namespace) -> None:
    params = {"force": "true"} if args.force else {}
    check_answer(client.delete(f"/buckets/{_seg(args.name)}", params=params))
    report(args.json, f"bucket/{args.name} deleted", {"bucket": args.name, "deleted": True})


# -- sources ------------------------------------------------------------------------------


def read_specs(file: str) -> list[dict[str, Any]]:
    """The source specs of a JSON or YAML file (``-``: stdin): a mapping, a list, or YAML documents."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise CommandError(f"{file} is neither JSON nor YAML: {' '.join(str(exc).split())}") from None
    specs: list[Any] = []
    for document in documents:
        specs += document if isinstance(document, list) else [document]
    if not specs:
        raise CommandError(f"{file} declares no source")
    for n, spec in enumerate(specs, 1):
        if not isinstance(spec, dict) or not isinstance(spec.get("asset_id"), str) or not spec["asset_id"]:
            raise CommandError(f"source {n} of {file} is not a mapping with an asset_id (a string)")
    return specs


def _sources_apply(client: httpx.Client, args: argparse.Namespace) -> int:
    failed = 0
    for spec in read_specs(args.file):
        asset_id = spec["asset_id"]
        path = f"/sources/{_seg(asset_id)}"
        before = client.get(path)
        generation = before.json().get("generation") if before.status_code == 200 else None
        body = {k: v for k, v in spec.items() if k not in _IGNORED_ON_APPLY}
        response = client.put(path, json=body)
        try:
            answer = json_of(response)
        except CommandError as exc:  # the others are still applied, as kubectl does
            print(f"assets-registry: source/{asset_id}: {exc}", file=sys.stderr)
            failed += 1
            continue
        verb = "created" if response.status_code == 201 else "unchanged"
        if generation is not None and answer.get("generation") != generation:
            verb = "configured"
        report(args.json, f"source/{asset_id} {verb}", {"asset_id": asset_id, "result": verb, "source": answer})
    return 1 if failed else 0


def _sources_get(client: httpx.Client, args: argparse.Namespace) -> None:
    if args.asset_id:
        _print_json(json_of(client.get(f"/sources/{_seg(args.asset_id)}")))
        return
    sources = list(_pages(client, "/sources", {"bucket": args.bucket} if args.bucket else {}))
    if args.json:
        _print_json(sources)
        return
    rows = [[s["asset_id"], s["bucket"], s["mode"], s["status"].get("phase", ""), s["status"].get("reason", ""),
             str(s["generation"])] for s in sources]  # fmt: skip
    print_table(rows, ["ASSET_ID", "BUCKET", "MODE", "PHASE", "REASON", "GENERATION"])


def _sources_delete(client: httpx.Client, args: argparse.Namespace) -> int:
    failed = 0
    for asset_id in args.asset_ids:
        try:
            check_answer(client.delete(f"/sources/{_seg(asset_id)}"))
        except CommandError as exc:  # the others are still deleted, as apply goes on
            print(f"assets-registry: source/{asset_id}: {exc}", file=sys.stderr)
            failed += 1
            continue
        report(args.json, f"source/{asset_id} deleted", {"asset_id": asset_id, "deleted": True})
    return 1 if failed else 0


def _sources_wait(client: httpx.Client, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    waiting = list(dict.fromkeys(args.asset_ids))
    while True:
        for asset_id in list(waiting):
            source = json_of(client.get(f"/sources/{_seg(asset_id)}"))
            status = source.get("status") or {}
            current = status.get("observed_generation") == source.get("generation")
            if current and status.get("phase") == "Ready":
                report(args.json, f"source/{asset_id} Ready", {"asset_id": asset_id, "status": status})
                waiting.remove(asset_id)
            elif current and status.get("phase") == "Failed" and status.get("reason") in FINAL:
                raise CommandError(f"source/{asset_id} Failed: {status.get('reason')}: {status.get('message')}")
        if not waiting:
            return 0
        if time.monotonic() > deadline:
            last = json_of(client.get(f"/sources/{_seg(waiting[0])}")).get("status") or {}
            raise CommandError(
                f"source/{waiting[0]} not Ready after {args.timeout:g} s; "
                f"it is {last.get('phase')} ({last.get('reason')}: {last.get('message')})"
            )
        time.sleep(POLL_SECONDS)
