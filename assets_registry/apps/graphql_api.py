"""The read-only GraphQL API of the seed's "GraphQL Query Endpoint" (graphql-core >= 3.2.3).

The HTTP layer calls ``build_schema()`` once, ``execute_query(schema, registry, body,
asset_store)`` per request, and serves ``GRAPHIQL_HTML`` to browsers. Answers come from the ``Registry`` use cases
REST uses, so filters, page limits and error codes mean the same on both.

- ``Query`` has the seed's six fields. Lists take ``limit`` and ``cursor`` (the opaque cursor of
  ``core.pagination``) and stay plain lists, as in the seed; clients that need the next cursor
  use ``assetsPage(lookup:, value:, ...)`` or ``searchAssetsPage(filters:, ...)``, which answer
  ``{ items nextCursor }``.
- ``Asset`` has a camelCase field for every field of ``core.model.Asset``. The seed selects
  ``profiles`` with no sub-selection, so ``profiles``, ``policies``, ``files``, ``apis`` and
  ``indexMappings`` are ``JSON`` (the stored snake_case sub-documents); typed objects are under
  ``profileList``, ``policyList``, ``fileList``, ``apiList`` and ``indexMappingList``.
- ``bucket``, ``buckets``, ``source`` and ``sources`` read the Asset Store (``graphql_catalog``).
- There is no mutation type; mutations and subscriptions are refused by validation.

The seed's third example, ``searchAssets(filters: { "profiles.asset_sub_type": "llm" })``, is
not valid GraphQL: object keys are names, which cannot be quoted or hold a dot. Write it with a
variable (``query($f: GenericScalar) { searchAssets(filters: $f) { assetId } }`` with variables
``{"f": {"profiles.asset_sub_type": "llm"}}``) or as a JSON string
(``filters: "{\\"profiles.asset_sub_type\\": \\"llm\\"}"``). Keys that are names also work
as an object literal: ``filters: {asset_version: "v1"}``.

Untrusted queries are bounded before they run: length (before parsing), tokens, nesting,
selections (fragments expanded) and aliased list fields (each alias is one more store query): see
``graphql_limits``.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args, get_origin, get_type_hints

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    execute_sync,
    parse,
    specified_rules,
    validate,
)

from assets_registry.apps.graphql_catalog import catalog_fields
from assets_registry.apps.graphql_limits import MAX_QUERY_CHARS, MAX_TOKENS, QueryCostRule
from assets_registry.core.errors import AssetNotFound, InvalidInput, MalformedJSON, RegistryError
from assets_registry.core.history import HistoryStore
from assets_registry.core.json_values import check_storable, parse_json
from assets_registry.core.lookups import Lookup
from assets_registry.core.model import Asset, AssetAPI, AssetFile, AssetPolicy, AssetProfile, IndexMapping
from assets_registry.core.pagination import decode_cursor, encode_cursor
from assets_registry.core.ports import Page
from assets_registry.core.registry import Registry
from assets_registry.core.sources import AssetStore

if TYPE_CHECKING:
    from graphql import GraphQLResolveInfo

    Info: TypeAlias = GraphQLResolveInfo[Any]  # generic only since graphql-core 3.3

__all__ = ["GRAPHIQL_HTML", "build_schema", "execute_query"]

log = logging.getLogger(__name__)

JSON = GraphQLScalarType("JSON", description="Any JSON value, as stored.")
GenericScalar = GraphQLScalarType(
    "GenericScalar",
    description="Any JSON value (the seed's type of `filters`); a string is parsed as JSON text.",
)

_NESTED: dict[str, tuple[str, type]] = {
    "profiles": ("profileList", AssetProfile),
    "policies": ("policyList", AssetPolicy),
    "files": ("fileList", AssetFile),
    "apis": ("apiList", AssetAPI),
    "index_mappings": ("indexMappingList", IndexMapping),
}


def camel(name: str) -> str:
    """``asset_api_ids`` -> ``assetApiIds``: the GraphQL name of a document field."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _key(name: str, default: Any = None) -> Callable[..., Any]:
    """A resolver reading one snake_case key of a stored (sub-)document."""

    def resolve(source: Any, _info: Info) -> Any:
        value = source.get(name) if isinstance(source, dict) else None
        return default if value is None else value

    return resolve


def _output_type(hint: Any, objects: dict[type, GraphQLObjectType]) -> GraphQLOutputType:
    """The GraphQL type of a dataclass field's annotation (Optional makes it nullable)."""
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    if optional:
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    base: GraphQLOutputType
    if hint is str:
        base = GraphQLString
    elif hint is int:
        base = GraphQLInt
    elif get_origin(hint) is dict:
        base = JSON
    elif get_origin(hint) is list:
        base = GraphQLList(_output_type(get_args(hint)[0], objects))
    else:
        base = objects[hint]  # KeyError if the model gains a kind of field not mapped here
    return base if optional else GraphQLNonNull(base)


def _object_type(kind: type, objects: dict[type, GraphQLObjectType]) -> GraphQLObjectType:
    """An object type with a camelCase field for every field of a model dataclass."""
    fields: dict[str, GraphQLField] = {}
    for name, hint in get_type_hints(kind).items():
        if kind is Asset and name in _NESTED:
            typed_name, item = _NESTED[name]
            doc = f"The stored `{name}` as JSON; `{typed_name}` has them typed."
            fields[camel(name)] = GraphQLField(GraphQLNonNull(JSON), resolve=_key(name, []), description=doc)
            typed = GraphQLNonNull(GraphQLList(GraphQLNonNull(objects[item])))
            fields[typed_name] = GraphQLField(typed, resolve=_key(name, []))
        else:
            fields[camel(name)] = GraphQLField(_output_type(hint, objects), resolve=_key(name))
    doc = f"`core.model.{kind.__name__}`, with camelCase field names."
    return GraphQLObjectType(kind.__name__, fields, description=doc)


def _filter_value(filters: Any) -> Any:
    """The filter document of a ``filters`` argument; a string holds it as JSON text."""
    if filters is None:
        return {}
    if isinstance(filters, str):
        try:
            return parse_json(filters.encode("utf-8"))
        except UnicodeEncodeError:
            raise MalformedJSON("The filter string is not valid UTF-8 text.") from None
    check_storable(filters)  # literals may hold integers beyond 64 bits
    return filters


Read = Callable[[Registry, dict[str, Any]], Page]


def _resolver(read: Read, paged: bool) -> Callable[..., Any]:
    """A root list resolver: the page's documents, or (``paged``) the page and its next cursor."""

    def resolve(_root: Any, info: Info, **args: Any) -> Any:
        page = read(info.context["registry"], args)
        documents = [info.context["present"](document) for document in page.documents]
        if not paged:
            return documents
        cursor = encode_cursor(page.next_after) if page.next_after else None
        return {"items": documents, "nextCursor": cursor}

    return resolve


def _lookup(lookup: Lookup | None, argument: str) -> Read:
    """Read a lookup (``None``: the one the ``lookup`` argument names) of ``args[argument]``."""

    def read(registry: Registry, args: dict[str, Any]) -> Page:
        after = decode_cursor(args.get("cursor"))
        return registry.lookup(lookup or args["lookup"], args[argument], args.get("limit"), after)

    return read


def _search(registry: Registry, args: dict[str, Any]) -> Page:
    after = decode_cursor(args.get("cursor"))
    return registry.search(_filter_value(args.get("filters")), args.get("limit"), after)


def _get_asset(_root: Any, info: Info, assetId: str) -> dict[str, Any] | None:
    """The asset's document; an unknown id is an answer (null), not an error."""
    registry: Registry = info.context["registry"]
    try:
        shown: dict[str, Any] = info.context["present"](registry.get(assetId).document)
        return shown
    except AssetNotFound:
        return None


def build_schema() -> GraphQLSchema:
    """The schema; build it once per process (it holds no state)."""
    objects: dict[type, GraphQLObjectType] = {}
    for kind in (AssetProfile, AssetPolicy, AssetFile, AssetAPI, IndexMapping, Asset):
        objects[kind] = _object_type(kind, objects)
    assets = GraphQLNonNull(GraphQLList(GraphQLNonNull(objects[Asset])))
    page_fields = {"items": GraphQLField(assets), "nextCursor": GraphQLField(GraphQLString)}
    page_doc = "One page of assets; pass `nextCursor` as `cursor` for the next (null: last page)."
    page = GraphQLNonNull(GraphQLObjectType("AssetPage", page_fields, description=page_doc))
    text = GraphQLArgument(GraphQLNonNull(GraphQLString))
    paging = {
        "limit": GraphQLArgument(GraphQLInt, description="Page size (server default and maximum apply)."),
        "cursor": GraphQLArgument(GraphQLString, description="`nextCursor` of the previous page."),
    }

    def listing(type_: GraphQLOutputType, args: dict[str, GraphQLArgument], read: Read, doc: str) -> GraphQLField:
        return GraphQLField(type_, {**args, **paging}, resolve=_resolver(read, type_ is page), description=doc)

    by_id = "The asset with this id, or null if there is none."
    fields = {"getAssetById": GraphQLField(objects[Asset], {"assetId": text}, resolve=_get_asset, description=by_id)}
    for name, lookup, argument in (
        ("getAssetsByType", Lookup.TYPE, "assetType"),
        ("getAssetsByTag", Lookup.TAG, "tag"),
        ("getAssetsBySubType", Lookup.SUB_TYPE, "subType"),
        ("getAssetsByApiRoute", Lookup.API_ROUTE, "route"),
    ):
        doc = f"Assets matching `{lookup.path}`, in asset_id order."
        fields[name] = listing(assets, {argument: text}, _lookup(lookup, argument), doc)
    filters = {"filters": GraphQLArgument(GenericScalar, description="A search filter, as for REST search.")}
    fields["searchAssets"] = listing(assets, filters, _search, "Assets matching the filter.")
    fields["searchAssetsPage"] = listing(page, filters, _search, "`searchAssets`, with the next cursor.")
    lookups = {member.name: GraphQLEnumValue(member, description=member.path) for member in Lookup}
    lookup_args = {
        "lookup": GraphQLArgument(GraphQLNonNull(GraphQLEnumType("AssetLookup", lookups))),
        "value": text,
    }
    fields["assetsPage"] = listing(page, lookup_args, _lookup(None, "value"), "A getAssetsBy* lookup, paged.")
    fields.update(catalog_fields(JSON))
    return GraphQLSchema(query=GraphQLObjectType("Query", fields), types=[JSON, GenericScalar])


_RULES = (*specified_rules, QueryCostRule)
_TOKEN_OPTION = next(k for k in ("max_lexical_tokens", "max_tokens") if k in inspect.signature(parse).parameters)
_TOKEN_LIMIT: dict[str, Any] = {_TOKEN_OPTION: MAX_TOKENS}
"""graphql-core 3.3 deprecates ``max_tokens`` for ``max_lexical_tokens``: use what this version has."""
_INTERNAL = "Internal error; the server log has the details."


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _refused(errors: list[GraphQLError], code: str) -> tuple[int, dict[str, Any]]:
    """A request that cannot run: 400 and its errors, without ``data``."""
    return 400, {"errors": [{**e.formatted, "extensions": {"code": code}} for e in errors]}


def _format(error: GraphQLError) -> dict[str, Any]:
    """A field error; domain errors keep message and code, others say nothing internal.

    ``extensions.code`` is the registry's own (REST's problem ``code``); ``classification`` says
    whose fault it is in the words GraphQL servers use: Apollo's ``BAD_USER_INPUT`` for a bad
    argument, ``INTERNAL_SERVER_ERROR`` for the server's.
    """
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, RegistryError):
        extensions = {"code": original.code}
        if isinstance(original, InvalidInput):
            extensions["classification"] = "BAD_USER_INPUT"
        formatted.update(message=original.message, extensions=extensions)
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("GraphQL resolver failed at %s", error.path, exc_info=original)
        internal = {"code": "internal_error", "classification": "INTERNAL_SERVER_ERROR"}
        formatted.update(message=_INTERNAL, extensions=internal)
    return formatted


def _body_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return 'The body must be a JSON object such as {"query": "{ ... }"}.'
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        return '"query" must be a non-empty string holding the GraphQL document.'
    if len(query) > MAX_QUERY_CHARS:
        return f"The query is longer than {MAX_QUERY_CHARS} characters."
    if not isinstance(body.get("variables"), dict | None):
        return '"variables" must be a JSON object or null.'
    if not isinstance(body.get("operationName"), str | None):
        return '"operationName" must be a string or null.'
    return None


def execute_query(
    schema: GraphQLSchema,
    registry: Registry,
    body: Any,
    asset_store: AssetStore | None = None,
    history: HistoryStore | None = None,
    present: Callable[[dict[str, Any]], dict[str, Any]] = lambda document: document,
) -> tuple[int, dict[str, Any]]:
    """Run one GraphQL-over-HTTP request body (already parsed JSON); return status and response.

    400 without ``data`` when the request cannot run (body shape, syntax, validation, variables,
    unknown operation); otherwise 200 with ``data`` and the field ``errors``, if any.
    """
    problem = _body_problem(body)
    if problem:
        return 400, {"errors": [_error(problem, "invalid_request")]}
    try:
        document = parse(body["query"], **_TOKEN_LIMIT)
    except GraphQLError as exc:
        return _refused([exc], "graphql_parse_failed")
    except RecursionError:  # graphql-core 3.2 lets it through
        return 400, {"errors": [_error("The query nests too deeply to be parsed.", "graphql_parse_failed")]}
    try:
        errors = validate(schema, document, _RULES)
    except RecursionError:
        errors = [GraphQLError("The query nests too deeply to be validated.")]
    if errors:
        return _refused(errors, "graphql_validation_failed")
    try:
        result = execute_sync(
            schema,
            document,
            context_value={"registry": registry, "asset_store": asset_store, "history": history, "present": present},
            variable_values=body.get("variables"),
            operation_name=body.get("operationName"),
        )
    except Exception:
        log.exception("GraphQL execution failed")
        return 500, {"errors": [_error(_INTERNAL, "internal_error")]}
    if result.data is None and result.errors and all(e.path is None for e in result.errors):
        return _refused(list(result.errors), "invalid_request")  # bad variables, unknown operation
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [_format(e) for e in result.errors]
    return 200, response


GRAPHIQL_HTML = resources.files("assets_registry.apps").joinpath("static/graphiql.html").read_text("utf-8")
"""The page ``/graphql`` serves to browsers (shipped as package data in ``apps/static``)."""
