"""Abuse limits checked before a query runs: depth, aliases, page size and cost.

Cost is an estimate of the rows a query can touch: each field that returns an object costs
1, times the page sizes (``first``) of the connections above it, so ``products(first: 100)
{ edges { node { reviews(first: 100) ... } } }`` costs about 100 x 100 x its fields and is
refused, while the storefront's 20 x 5 page is cheap. Lists without ``first`` count as
LIST_ESTIMATES. The limits need the variables (``first: $n``), so they run after parsing
and validation, on the operation that will execute.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from . import errors
from .schema import DEFAULT_PAGE_SIZE
from .types import DEFAULT_REVIEWS

DEFAULT_FIRST = {"products": DEFAULT_PAGE_SIZE, "reviews": DEFAULT_REVIEWS}
LIST_ESTIMATES = {"categories": 20, "flashSales": 100}  # flashSales returns at most 100


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_cost: int
    max_page_size: int
    max_aliases: int


class _Walk:
    def __init__(self, fragments, variables, variable_defaults, limits):
        self.fragments = fragments
        self.variables = variables
        self.variable_defaults = variable_defaults
        self.limits = limits
        self.depth = 0
        self.aliases = 0
        self.cost = 0

    def _first(self, field: FieldNode) -> int | None:
        """The page size the field will run with (its default when not given or null)."""
        default = DEFAULT_FIRST.get(field.name.value)
        for arg in field.arguments or ():
            if arg.name.value != "first":
                continue
            value = arg.value
            if isinstance(value, VariableNode):
                name = value.name.value
                raw = self.variables.get(name, self.variable_defaults.get(name))
                if isinstance(raw, int) and not isinstance(raw, bool):
                    return raw
                return default  # absent or null: the field default; a bad type fails later
            if isinstance(value, IntValueNode):
                return int(value.value)
            return default
        return default

    # One walk over the four GraphQL node kinds, depth, cost and fragment cycles together.
    def visit(  # noqa: C901
        self, selection_set: SelectionSetNode, depth: int, multiplier: int, seen: tuple
    ):
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue  # __typename is free; introspection has its own switch
                if selection.alias is not None:
                    self.aliases += 1
                self.depth = max(self.depth, depth + 1)
                if self.depth > self.limits.max_depth:
                    # stop here: a hostile query can be nested far deeper than the limit
                    raise errors.graphql_error(
                        f"the query is more than {self.limits.max_depth} levels deep; at "
                        f"most {self.limits.max_depth} allowed",
                        errors.QUERY_TOO_DEEP,
                        limit=self.limits.max_depth,
                    )
                if selection.selection_set is None:
                    continue
                first = self._first(selection)
                if first is not None:
                    if first < 0:
                        raise errors.graphql_error(
                            "`first` cannot be negative", errors.BAD_USER_INPUT
                        )
                    if first > self.limits.max_page_size:
                        raise errors.graphql_error(
                            f"`first` is {first} on `{selection.name.value}`; at most "
                            f"{self.limits.max_page_size} per page",
                            errors.PAGE_SIZE_EXCEEDED,
                            limit=self.limits.max_page_size,
                        )
                self.cost += multiplier
                size = first if first is not None else LIST_ESTIMATES.get(selection.name.value, 1)
                self.visit(selection.selection_set, depth + 1, multiplier * max(size, 1), seen)
            elif isinstance(selection, InlineFragmentNode):
                self.visit(selection.selection_set, depth, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    self.visit(fragment.selection_set, depth, multiplier, (*seen, name))


def check_limits(
    *,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict | None,
    limits: Limits,
) -> GraphQLError | None:
    """The first limit the operation breaks, as a GraphQL error; None when within all."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults = {}
    for definition in operation.variable_definitions or ():
        if isinstance(definition.default_value, IntValueNode):
            defaults[definition.variable.name.value] = int(definition.default_value.value)
    walk = _Walk(fragments, variables or {}, defaults, limits)
    try:
        walk.visit(operation.selection_set, 0, 1, ())
    except GraphQLError as exc:
        return exc
    if walk.aliases > limits.max_aliases:
        return errors.graphql_error(
            f"the query uses {walk.aliases} aliases; at most {limits.max_aliases} allowed",
            errors.TOO_MANY_ALIASES,
            limit=limits.max_aliases,
            actual=walk.aliases,
        )
    if walk.cost > limits.max_cost:
        return errors.graphql_error(
            f"the query costs {walk.cost}; at most {limits.max_cost} allowed (ask for "
            "fewer items with `first`, or fewer nested lists)",
            errors.QUERY_TOO_COSTLY,
            limit=limits.max_cost,
            actual=walk.cost,
        )
    return None
