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
    IntValueNode,
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
MAX_ROOT_FIELDS = 10
"""Top-level selections of one query, aliases included: each is a store query of its own."""
MAX_COST = 50_000
"""Fields answered, each counted once per item of every page above it (a ``limit`` argument,
``DEFAULT_PAGE`` when left out, ``MAX_PAGE`` when a variable). A page of 1,000 assets with
thirty fields costs 30,000."""
DEFAULT_PAGE = 100
MAX_PAGE = 1000


class QueryRefused(Exception):
    """A bound of ``QueryCostRule`` was passed; the message says which."""


class QueryCostRule(ValidationRule):
    """Refuses non-query operations and queries too deep, too wide, or too aliased.

    Fragments are expanded where spread, so they cannot hide cost; a spread already being
    expanded is skipped (``NoFragmentCyclesRule`` reports the cycle), so the walk ends.
    """

    selections = 0
    list_aliases = 0
    root_fields = 0
    cost = 0

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if node.operation != OperationType.QUERY:
            self.report_error(GraphQLError("This endpoint is read-only: only queries are accepted.", node))
            return
        self.selections = self.list_aliases = self.root_fields = self.cost = 0
        try:
            self._walk(node.selection_set, self.context.schema.query_type, 1, MAX_DEPTH, (), 1)
        except QueryRefused as exc:
            self.report_error(GraphQLError(str(exc), node))

    def _walk(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        level: int,
        limit: int,
        fragments: tuple[str, ...],
        weight: int,
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
                if level == 1 and name != "__typename":
                    self.root_fields += 1
                    if self.root_fields > MAX_ROOT_FIELDS:
                        raise QueryRefused(
                            f"The query asks for more than {MAX_ROOT_FIELDS} top-level fields (aliases included); "
                            "each is a store query: send several queries."
                        )
                self.cost += weight
                if self.cost > MAX_COST:
                    raise QueryRefused(
                        f"The query could answer more than {MAX_COST} fields (each field counted once per item of "
                        "the pages above it): ask for fewer fields or smaller pages (limit)."
                    )
                if selection.alias and field is not None and _returns_list(field.type):
                    self.list_aliases += 1
                    if self.list_aliases > MAX_LIST_ALIASES:
                        raise QueryRefused(f"The query aliases list fields more than {MAX_LIST_ALIASES} times.")
                if selection.selection_set:
                    inner = MAX_INTROSPECTION_DEPTH if name in ("__schema", "__type") else limit
                    if level + 1 > inner:
                        raise QueryRefused(f"The query nests deeper than {inner} levels of selections.")
                    named = get_named_type(field.type) if field is not None else None
                    inner_weight = weight * _page_size(selection, field)
                    self._walk(selection.selection_set, named, level + 1, inner, fragments, inner_weight)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                named = schema.get_type(condition.name.value) if condition else parent
                self._walk(selection.selection_set, named, level, limit, (*fragments, ""), weight)
            elif isinstance(selection, FragmentSpreadNode):
                spread = selection.name.value
                fragment = self.context.get_fragment(spread)
                if fragment is None or spread in fragments:
                    continue
                named = schema.get_type(fragment.type_condition.name.value)
                self._walk(fragment.selection_set, named, level, limit, (*fragments, spread), weight)


def _page_size(selection: FieldNode, field: GraphQLField | None) -> int:
    """How many items a paged field may answer: its ``limit``, as the registry will cap it."""
    if field is None or "limit" not in field.args:
        return 1
    given = next((a.value for a in selection.arguments or () if a.name.value == "limit"), None)
    if given is None:
        return DEFAULT_PAGE
    if isinstance(given, IntValueNode):
        return max(1, min(int(given.value), MAX_PAGE))
    return MAX_PAGE  # a variable: its value is not known while validating


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
