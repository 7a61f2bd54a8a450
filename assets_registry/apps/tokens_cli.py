"""``assets-registry tokens create|list|revoke`` and ``audit``: admin commands, where the backends are.

Like ``gc``, these run against the configured backends (``--data-dir``, ``--config``, the
``ASSETS_*`` settings), not through a server: they are how the first admin token comes to be.
``create`` prints the token's record on stderr and the token itself as the last line of
stdout, with nothing else on it (``TOKEN=$(assets-registry tokens create ci --scope write)``);
it is shown this once and stored only as a keyed hash. ``audit`` prints the audit trail,
oldest first, filtered as ``GET /audit`` is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from assets_registry.apps.catalog_cli import print_table
from assets_registry.apps.output import report
from assets_registry.apps.settings import Settings
from assets_registry.core.access import SCOPES, parse_duration
from assets_registry.core.errors import ConfigurationError
from assets_registry.core.history import HistoryStore, parse_moment


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    tokens = commands.add_parser("tokens", help="make, list and revoke access tokens (auth=tokens)")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new token; printed once, as the last line of stdout")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--scope", choices=SCOPES, required=True, help="read, write (includes read) or admin")
    create.add_argument(
        "--bucket", action="append", default=[], metavar="B", help="limit it to this bucket (repeat for several)"
    )
    create.add_argument("--expires", metavar="DURATION", help="e.g. 30d, 12h, 45m (default: never)")
    listed = actions.add_parser("list", help="names, scopes, buckets, created, last used, expiry (never secrets)")
    listed.add_argument("--json", action="store_true", help="print JSON")
    revoke = actions.add_parser("revoke", help="revoke a token: refused by every server from its next request")
    revoke.add_argument("name", metavar="NAME")
    for parser in (create, listed, revoke):
        common(parser)
    audit = commands.add_parser("audit", help="the audit trail: every change, who made it, when")
    audit.add_argument("--asset-id", help="only the changes of this asset")
    audit.add_argument("--actor", help="only the changes made with this token name (or anonymous, system)")
    audit.add_argument("--since", metavar="TIME", help="from this time on: epoch seconds, ISO 8601, or 2h/7d ago")
    audit.add_argument("--until", metavar="TIME", help="before this time (same forms)")
    audit.add_argument("--json", action="store_true", help="print JSON lines")
    common(audit)


def _time(text: str | None) -> float | None:
    """Epoch seconds, ISO 8601, or a duration meaning that long ago (``2h``, ``7d``)."""
    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError:
        return time.time() - parse_duration(text)


def run_audit(settings: Settings, args: argparse.Namespace) -> None:
    from assets_registry.apps.container import build_container

    container = build_container(settings)
    store = container.history()
    if store is None:
        raise ConfigurationError("This metadata store keeps no history: there is no audit trail to show.")
    assert isinstance(store, HistoryStore)
    try:
        after: str | None = None
        while True:
            page, after = store.changes(500, after, args.asset_id, args.actor, _time(args.since), _time(args.until))
            for change in page:
                if args.json:
                    print(json.dumps(change))
                    continue
                revisions = f"{change.get('revision_before') or '-'}->{change.get('revision_after') or '-'}"
                print("\t".join([_when(change["at"]), change["action"], change["actor"], change.get("asset_id") or "-",
                                 change.get("bucket") or "-", revisions, change.get("request_id") or "-"]))  # fmt: skip
            if after is None:
                return
    finally:
        store.close()


def run(settings: Settings, args: argparse.Namespace) -> None:
    from assets_registry.apps.container import build_container

    container = build_container(settings)
    tokens = container.tokens()
    try:
        if args.action == "create":
            expires = parse_duration(args.expires) if args.expires else None
            secret, record = tokens.create(args.name, args.scope, tuple(args.bucket), expires)
            if args.json:  # the secret inside the one JSON line
                report(True, "", {**record, "token": secret})
            else:
                print(json.dumps(record), file=sys.stderr)
                print(secret, flush=True)
        elif args.action == "list":
            _show(tokens.listing(), args.json)
        else:
            record = tokens.revoke(args.name)
            report(args.json, f"token/{record['name']} revoked", record)
    finally:
        container.catalog().close()


def _when(value: float | None) -> str:
    return "-" if value is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


def _show(records: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(records, indent=2))
        return
    header = ["NAME", "SCOPE", "BUCKETS", "CREATED", "LAST_USED", "EXPIRES", "REVOKED"]
    rows = [
        [r["name"], r["scope"], ",".join(r["buckets"]) or "*", _when(r["created_at"]), _when(r["last_used_at"]),
         _when(r["expires_at"]), _when(r["revoked_at"])]
        for r in records
    ]  # fmt: skip
    print_table(rows, header)
