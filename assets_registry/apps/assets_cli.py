"""``assets-registry assets create|get|list|search|update|delete``, ``status`` and ``wait``.

Clients of a running registry (``--url`` / ``$ASSETS_URL``, ``--token`` / ``$ASSETS_TOKEN``) on
``assets_registry.client.RegistryClient``. Documents print as JSON; lists as a table
(``ASSET_ID VERSION TYPE SUB_TYPE``) or, with ``--json``, one JSON document per line. A
document or filter argument is JSON text, ``@file`` or ``-`` (stdin). Exit status: 0 done,
1 the server refused (4xx; its ``detail`` on stderr), 3 the server could not be reached,
4 the server failed (5xx), 2 a usage or settings mistake.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from assets_registry.apps.output import REFUSED, SERVER_FAILED, UNREACHABLE, USAGE, report
from assets_registry.client import ApiError, RegistryClient
from assets_registry.core.model import Asset, asset_to_document

FAILED = SERVER_FAILED
LOOKUPS = ("type", "sub-type", "tag", "api-route")


def add_commands(commands: Any, url_help: str) -> None:
    assets = commands.add_parser("assets", help="create, read, list, search, update and delete assets")
    actions = assets.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an asset from a JSON document")
    create.add_argument("document", metavar="JSON|@FILE|-")
    got = actions.add_parser("get", help="one asset, as JSON")
    got.add_argument("asset_id", metavar="ASSET_ID")
    listed = actions.add_parser("list", help="every asset, or those of a type, sub-type, tag or API route")
    choice = listed.add_mutually_exclusive_group()
    for lookup in LOOKUPS:
        choice.add_argument(f"--{lookup}", dest=lookup.replace("-", "_"), metavar="VALUE")
    search = actions.add_parser("search", help="the assets matching a filter (docs/search.md)")
    search.add_argument("filter", metavar="JSON|@FILE|-")
    update = actions.add_parser("update", help="change the given top-level fields of an asset")
    update.add_argument("asset_id", metavar="ASSET_ID")
    update.add_argument("changes", metavar="JSON|@FILE|-")
    update.add_argument("--if-match", metavar="ETAG", help="only if the asset is still this version")
    deleted = actions.add_parser("delete", help="delete an asset (its files go too)")
    deleted.add_argument("asset_id", metavar="ASSET_ID")
    for parser in (listed, search):
        parser.add_argument("--json", action="store_true", help="one JSON document per line")
        parser.add_argument("--limit", type=int, metavar="N", help="page size asked of the server")
    status = commands.add_parser("status", help="an upload job's status, as JSON")
    status.add_argument("upload_id", metavar="UPLOAD_ID")
    wait = commands.add_parser("wait", help="until an upload job ends: 0 on success, 1 on failure")
    wait.add_argument("upload_id", metavar="UPLOAD_ID")
    wait.add_argument("--timeout", type=float, default=3600.0, metavar="S")
    for parser in (create, got, listed, search, update, deleted, status, wait):
        parser.add_argument("--url", help=url_help)
        parser.add_argument("--token", help="access token (default: $ASSETS_TOKEN)")


def _json_argument(text: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        text = Path(text[1:]).read_text("utf-8")
    return json.loads(text)


def _rows(assets: Iterator[Asset], as_json: bool) -> None:
    if as_json:
        for asset in assets:
            print(json.dumps(asset_to_document(asset), ensure_ascii=False))
        return
    print("ASSET_ID\tVERSION\tTYPE\tSUB_TYPE")
    for asset in assets:
        profile = asset.profiles[0] if asset.profiles else None
        kind = (profile.asset_type, profile.asset_sub_type) if profile else ("-", "-")
        print(f"{asset.asset_id}\t{asset.asset_version}\t{kind[0]}\t{kind[1]}")


def run(args: argparse.Namespace, url: str) -> int:
    """Run one command; its exit status."""
    try:
        with RegistryClient(url, token=args.token) as client:
            return _run(client, args)
    except ApiError as error:
        print(f"assets-registry: {error.detail}", file=sys.stderr)
        return FAILED if error.status >= 500 else REFUSED
    except (httpx.TransportError, httpx.InvalidURL) as error:
        print(f"assets-registry: cannot reach {url} ({' '.join(str(error).split()) or type(error).__name__})",
              file=sys.stderr)  # fmt: skip
        return UNREACHABLE
    except (ValueError, OSError) as error:  # a JSON argument that is not JSON, a file that cannot be read
        print(f"assets-registry: {error}", file=sys.stderr)
        return USAGE


def _run(client: RegistryClient, args: argparse.Namespace) -> int:
    command = args.command if args.command != "assets" else args.action
    if command == "create":
        created = client.create_asset(_json_argument(args.document))
        report(args.json, created.asset_id, asset_to_document(created))
    elif command == "get":
        print(json.dumps(asset_to_document(client.get_asset(args.asset_id)), indent=2, ensure_ascii=False))
    elif command == "list":
        lookup = next((name for name in LOOKUPS if getattr(args, name.replace("-", "_"))), None)
        if lookup is None:  # every asset: a search without a condition, page after page
            _rows(client.search({}, args.limit), args.json)
        else:
            _rows(client.assets_by(lookup, getattr(args, lookup.replace("-", "_")), args.limit), args.json)
    elif command == "search":
        _rows(client.search(_json_argument(args.filter), args.limit), args.json)
    elif command == "update":
        updated = client.update_asset(args.asset_id, _json_argument(args.changes), args.if_match)
        print(json.dumps(asset_to_document(updated), indent=2, ensure_ascii=False))
    elif command == "delete":
        client.delete_asset(args.asset_id)
        report(args.json, f"asset/{args.asset_id} deleted", {"success": True, "asset_id": args.asset_id})
    elif command == "status":
        print(json.dumps(client.status(args.upload_id).__dict__))
    elif command == "wait":
        ended = client.wait(args.upload_id, args.timeout)
        report(args.json, ended.asset_id or ended.status, ended.__dict__)
        return 0 if ended.status == "success" else REFUSED
    return 0
