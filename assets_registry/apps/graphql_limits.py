"""Bounds on untrusted GraphQL queries, checked before they run: the validation rule and its limits.

Length is checked before parsing and tokens by the parser (``graphql_api``); this rule bounds
nesting, selections (fragments expanded, so they cannot hide cost) and aliased list fields
(each alias is one more store query). Non-query operations are refused: the API is read-only.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    get_named_type,
    is_list_type,
    is_non_null_type,
)
from graphql.validation import ValidationRule

MAX_QUERY_CHARS = 100_000
"""Longer documents are refused before parsing; real queries are a few hundred characters."""
MAX_TOKENS = 10_000
MAX_DEPTH = 8
"""Levels of selection sets; the deepest useful query (assetsPage/items/profileList) has 4."""
MAX_INTROSPECTION_DEPTH = 20
"""Under ``__schema``/``__type``, where GraphiQL's introspection nests ``ofType`` ~15 levels."""
MAX_SELECTIONS = 500
"""Fields, fragment spreads and inline fragments of one operation, fragments expanded."""
MAX_LIST_ALIASES = 10
"""Aliased selections of list fields: each alias repeats a list's cost (a store query)."""
MAX_FRAGMENT_NESTING = 16


class QueryRefused(Exception):
    """A bound of ``QueryCostRule`` was passed; the message says which."""


class QueryCostRule(ValidationRule):
    """Refuses non-query operations and queries too deep, too wide, or too aliased.

    Fragments are expanded where spread, so they cannot hide cost; a spread already being
    expanded is skipped (``NoFragmentCyclesRule`` reports the cycle), so the walk ends.
    """

    selections = 0
    list_aliases = 0

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if node.operation != OperationType.QUERY:
            self.report_error(GraphQLError("This endpoint is read-only: only queries are accepted.", node))
            return
        self.selections = self.list_aliases = 0
        try:
            self._walk(node.selection_set, self.context.schema.query_type, 1, MAX_DEPTH, ())
        except QueryRefused as exc:
            self.report_error(GraphQLError(str(exc), node))

    def _walk(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        level: int,
        limit: int,
        fragments: tuple[str, ...],
    ) -> None:
        if len(fragments) > MAX_FRAGMENT_NESTING:
            raise QueryRefused(f"Fragments nest deeper than {MAX_FRAGMENT_NESTING} levels.")
        schema = self.context.schema
        for selection in selection_set.selections:
            self.selections += 1
            if self.selections > MAX_SELECTIONS:
                raise QueryRefused(f"The query has more than {MAX_SELECTIONS} selections (fragments expanded).")
            if isinstance(selection, FieldNode):
                name = selection.name.value
                field = _field_def(parent, name)
                if selection.alias and field is not None and _returns_list(field.type):
                    self.list_aliases += 1
                    if self.list_aliases > MAX_LIST_ALIASES:
                        raise QueryRefused(f"The query aliases list fields more than {MAX_LIST_ALIASES} times.")
                if selection.selection_set:
                    inner = MAX_INTROSPECTION_DEPTH if name in ("__schema", "__type") else limit
                    if level + 1 > inner:
                        raise QueryRefused(f"The query nests deeper than {inner} levels of selections.")
                    named = get_named_type(field.type) if field is not None else None
                    self._walk(selection.selection_set, named, level + 1, inner, fragments)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                named = schema.get_type(condition.name.value) if condition else parent
                self._walk(selection.selection_set, named, level, limit, (*fragments, ""))
            elif isinstance(selection, FragmentSpreadNode):
                spread = selection.name.value
                fragment = self.context.get_fragment(spread)
                if fragment is None or spread in fragments:
                    continue
                named = schema.get_type(fragment.type_condition.name.value)
                self._walk(fragment.selection_set, named, level, limit, (*fragments, spread))


def _field_def(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    meta = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef, "__typename": TypeNameMetaFieldDef}
    if name in meta:
        return meta[name]
    fields = getattr(parent, "fields", None)
    return fields.get(name) if isinstance(fields, dict) else None


def _returns_list(kind: Any) -> bool:
    while is_non_null_type(kind):
        kind = kind.of_type
    return is_list_type(kind)
