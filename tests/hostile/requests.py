"""Generated hostile requests: malformed bodies, headers, encodings, paths, filters, GraphQL, forms.

Not a test module: ``test_hostile`` sends what ``hostile_requests`` makes. Each request is
bytes on the wire, so framing faults (chunked encodings, short bodies) are in reach too.
Everything is drawn from one seeded ``random.Random``: a failure names its seed and index.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from assets_registry.testing import asset_json, bundle_zip

PROTECTED = ("seed-0", "seed-1", "seed-2")
"""Assets the suite stores first; no hostile request may change them."""


@dataclass(frozen=True)
class Raw:
    """One request as sent: its method and path (for messages) and its bytes."""

    method: str
    path: str
    data: bytes
    kind: str


def _request(method: str, path: str, headers: dict[str, str], body: bytes, kind: str, chunked: bool = False) -> Raw:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif "Content-Length" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode("latin-1", "replace")
    return Raw(method, path, head + body, kind)


JSON = {"Content-Type": "application/json"}
JSON_ROUTES = [("POST", "/assets"), ("PUT", "/assets/seed-0"), ("POST", "/query/search"), ("POST", "/graphql")]
ID_ROUTES = ["/assets/{}", "/query/by-id/{}", "/zip/download/{}", "/zip/status/{}"]
LOOKUPS = ["/query/by-type/{}", "/query/by-sub-type/{}", "/query/by-tag/{}", "/query/by-api-route/{}"]


CONTENT_TYPES = [
    "application/json; charset=latin-1", "application/x-json", "application/json\u00e9", "",
    "multipart/form-data", "application/problem+json;;;",
]  # fmt: skip
IF_MATCH = ['"²"', '"٣"', "W/", '"1", "2"', '"' + "9" * 40 + '"', '"-1"', "*, *"]
LENGTHS = ["-1", "abc", "1e3", " 5"]
FORM = "multipart/form-data; boundary=b"


def _junk(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _json_values(rng: random.Random) -> bytes:
    choices: list[Callable[[], bytes]] = [
        lambda: b"",
        lambda: b"{",
        lambda: b'{"asset_id": ',
        lambda: b"[" * rng.randint(50, 5000),
        lambda: b'{"a":' * 200 + b"1" + b"}" * 200,
        lambda: b"NaN",
        lambda: b'{"asset_id": 1e999}',
        lambda: b'{"asset_id": 123456789012345678901234567890}',
        lambda: b"\xef\xbb\xbf{}",
        lambda: '{"asset_id": "\ud800"}'.encode("utf-8", "surrogatepass"),
        lambda: b'{"asset_id": "seed-0", "asset_id": "seed-1"}',
        lambda: json.dumps(
            {"asset_id": rng.choice(PROTECTED), "asset_version": rng.choice([1, None, [], {}])}
        ).encode(),
        lambda: json.dumps({"files": [{"asset_file_url": "file:///etc/passwd"}]}).encode(),
        lambda: json.dumps({"asset_id": "x" * rng.randint(200, 5000)}).encode(),
        lambda: json.dumps([rng.random() for _ in range(rng.randint(0, 50))]).encode(),
        lambda: _junk(rng, rng.randint(1, 300)),
    ]
    return rng.choice(choices)()


def _filters(rng: random.Random) -> bytes:
    filters: list[object] = [
        {"$where": "sleep(1000)"},
        {"asset_id": {"$regex": "(a+)+$"}},
        {"asset_id": {"$regex": "["}},
        {"$and": [{"$or": [{"a": 1}] * 50}] * 50},
        {"asset_id": {"$in": list(range(rng.randint(1000, 20000)))}},
        {"asset_id": {"$nope": 1}},
        {"$and": {}},
        {"profiles": {"$elemMatch": {"$elemMatch": {"$elemMatch": {}}}}},
        {"a." * 200 + "b": 1},
        {"asset_id": {"$exists": "yes"}},
        {"": 1},
        {"asset_id": {"$gt": {"$lt": []}}},
    ]
    return json.dumps(rng.choice(filters)).encode()


def _graphql(rng: random.Random) -> bytes:
    queries = [
        "{",
        "mutation { deleteAsset(id: 1) }",
        "subscription { x }",
        "{ getAssetById(assetId: 7) { assetId } }",
        "{ " + " ".join(f'a{i}: getAssetById(assetId: "seed-0") {{ assetId profiles }}' for i in range(160)) + " }",
        '{ getAssetsByType(assetType: "model", limit: 1000) { '
        + " ".join(f"f{i}: assetId" for i in range(80))
        + " } }",
        "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType "
        "{ ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name "
        "} } } } } } } } } } } } } } } } } } } } }",
        'fragment f on Asset { ...f } { getAssetById(assetId: "seed-0") { ...f } }',
        '{ searchAssets(filters: "{not json") { assetId } }',
        '{ searchAssets(filters: {asset_id: {_regex: "("}}) { assetId } }',
        "query($f: GenericScalar) { searchAssets(filters: $f) { assetId } }",
        '{ getAssetsByType(assetType: "model", cursor: "!!") { assetId } }',
        '{ getAssetsByType(assetType: "model", limit: -5) { assetId } }',
    ]
    body: dict[str, object] = {"query": rng.choice(queries)}
    if rng.random() < 0.3:
        body["variables"] = rng.choice([[], "x", {"f": {"$where": 1}}, {"f": "{"}])
    if rng.random() < 0.2:
        body["operationName"] = rng.choice([1, "nope", None])
    if rng.random() < 0.1:
        return json.dumps(rng.choice([[], "query", 5, {"query": 5}])).encode()
    return json.dumps(body).encode()


def _bad_paths(rng: random.Random) -> str:
    ids = [
        "seed-0%2F", "seed-0/", "seed-0%2f", "%2Fseed-0", "..", "%2e%2e", "seed-0%00", "%zz", "%",
        "x" * rng.randint(300, 9000), "%C0%AF", "%ED%A0%80", "seed-0;x=1", "seed-0%0d%0aX-Injected:%201",
        "ü" * 100, "seed-0%20", "fuzz-p?limit=-1", "?", "#",
    ]  # fmt: skip
    return rng.choice(ID_ROUTES + LOOKUPS).format(rng.choice(ids))


def _forms(rng: random.Random) -> tuple[dict[str, str], bytes]:
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n'
    bodies = [
        part + b"PK\x03\x04",  # no closing boundary
        part + bundle_zip("fuzz-f") + b"\r\n--b--\r\n" + b"trailing",
        b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n',
        b"--b\r\n" + b"X" * 20000 + b"\r\n\r\n",
        b"--c\r\n\r\n--c--\r\n",
        _junk(rng, 500),
    ]
    types = ["multipart/form-data; boundary=b", "multipart/form-data", "multipart/form-data; boundary=",
             "multipart/form-data; boundary=" + "b" * 300, "application/zip", "text/plain"]  # fmt: skip
    body = rng.choice(bodies)
    return {"Content-Type": rng.choice(types)}, body


def _archives(rng: random.Random) -> bytes:
    """A damaged or hostile archive in a well-formed form: accepted (202), its job must fail as the client's."""
    good = bytearray(bundle_zip(f"fuzz-z{rng.randrange(10**6)}", {"m.bin": rng.randbytes(3000)}))
    choice = rng.randrange(6)
    if choice == 0:
        for _ in range(rng.randint(1, 8)):
            good[rng.randrange(len(good))] = rng.randrange(256)
        archive = bytes(good)
    elif choice == 1:
        archive = bytes(good[: rng.randrange(1, len(good))])
    elif choice == 2:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("asset.json", asset_json("seed-0"))  # someone else's id
        archive = buffer.getvalue()
    elif choice == 3:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("asset.json", rng.choice([b"{", b"[]", b"\xff", asset_json("a/b")]))
            z.writestr(rng.choice(["a//b", "../x", "/abs", "n" * 300, "x\\y", "c:/w"]), b"1")
        archive = buffer.getvalue()
    elif choice == 4:
        archive = _junk(rng, rng.randint(0, 100))
    else:
        archive = b"PK\x05\x06" + b"\x00" * 18
    return b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n' + archive + b"\r\n--b--\r\n"


def hostile_requests(seed: int, count: int) -> Iterator[Raw]:
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.choice(["body", "header", "chunked", "short", "path", "method", "filter", "graphql", "form", "zip"])
        method, path = rng.choice(JSON_ROUTES)
        if kind == "body":
            yield _request(method, path, JSON, _json_values(rng), kind)
        elif kind == "header":
            headers = {"Content-Type": rng.choice(CONTENT_TYPES)}
            headers |= rng.choice([{}, {"If-Match": rng.choice(IF_MATCH)}, {"Content-Length": rng.choice(LENGTHS)}])
            yield _request("PUT" if "If-Match" in headers else method, path, headers, b"{}", kind)
        elif kind == "chunked":
            frame = rng.choice([b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}", b"20\r\n{}", b"2;x=\x00\r\n{}\r\n0\r\n\r\n",
                                b"-1\r\n{}\r\n0\r\n\r\n", b"ffffffffffffffffff\r\n{}"])  # fmt: skip
            yield _request(method, path, JSON, frame, kind, chunked=True)
        elif kind == "short":
            body = _json_values(rng) or b"{}"
            yield _request(method, path, JSON | {"Content-Length": str(len(body) + rng.randint(1, 500))}, body, kind)
        elif kind == "path":
            yield _request(rng.choice(["GET", "DELETE", "PUT", "HEAD"]), _bad_paths(rng), JSON, b"{}", kind)
        elif kind == "method":
            # Every method on every route, but the one that would really delete a protected asset.
            route = rng.choice(["/assets", "/assets/fuzz-m", "/query/search", "/graphql", "/zip/upload", "/healthz",
                                "/query/by-id/seed-0", "/zip/download/seed-0"])  # fmt: skip
            yield _request(rng.choice(["PATCH", "TRACE", "OPTIONS", "FOO", "DELETE", "PUT"]), route, JSON, b"{}", kind)
        elif kind == "filter":
            query = rng.choice(["", "?limit=-1", "?limit=abc", "?limit=99999999999999999999", "?cursor=!!", "?cursor="])
            yield _request("POST", "/query/search" + query, JSON, _filters(rng), kind)
        elif kind == "graphql":
            yield _request("POST", "/graphql", JSON, _graphql(rng), kind)
        elif kind == "form":
            headers, body = _forms(rng)
            yield _request("POST", "/zip/upload", headers, body, kind)
        else:
            yield _request(
                "POST", "/zip/upload", {"Content-Type": "multipart/form-data; boundary=b"}, _archives(rng), kind
            )
