"""``/graphql``: GraphiQL for browsers, queries over GET and POST, read-only."""

from __future__ import annotations

from typing import Any

import falcon
from graphql import GraphQLSchema

from assets_registry.apps.graphql_api import GRAPHIQL_HTML, execute_query
from assets_registry.apps.http.bodies import read_json, send_json
from assets_registry.core.errors import InvalidInput
from assets_registry.core.history import HistoryStore
from assets_registry.core.json_values import parse_json
from assets_registry.core.registry import Registry
from assets_registry.core.sources import AssetStore


class GraphQLResource:
    read_methods = ("POST",)  # queries only: a read, for the access check

    def __init__(
        self,
        schema: GraphQLSchema,
        registry: Registry,
        max_body_bytes: int,
        asset_store: AssetStore | None = None,
        history: HistoryStore | None = None,
    ) -> None:
        self.schema = schema
        self.registry = registry
        self.asset_store = asset_store
        self.history = history
        self.max_body_bytes = max_body_bytes

    @staticmethod
    def is_page(req: falcon.Request) -> bool:
        """A browser asking for GraphiQL (no query): the page holds no data, so it needs no token."""
        return req.method == "GET" and req.get_param("query") is None and req.client_accepts("text/html")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.get_param("query")
        if query is None:
            if req.client_accepts("text/html"):
                resp.content_type = falcon.MEDIA_HTML
                resp.text = GRAPHIQL_HTML
                return
            raise InvalidInput("Send a GraphQL query as ?query=... or POST it as JSON to /graphql.")
        body: dict[str, Any] = {"query": query, "operationName": req.get_param("operationName")}
        variables = req.get_param("variables")
        if variables:
            body["variables"] = parse_json(variables.encode())
        self._run(req, resp, body)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._run(req, resp, read_json(req, self.max_body_bytes))

    def _run(self, req: falcon.Request, resp: falcon.Response, body: Any) -> None:
        status, result = execute_query(
            self.schema, self.registry, body, self.asset_store, self.history, req.context.present
        )
        send_json(resp, result, status)
