"""What one GraphQL document may cost, measured before any expensive work and in time linear in its size.

Strawberry's `QueryDepthLimiter` and `MaxAliasesLimiter` walk a fragment again at every spread,
so a chain of fragments each spreading the previous one twice costs 2^n before anything is
refused. Here each fragment is measured once (memoized) and a spread reuses its figures; the
figures themselves still count every spread, so the chain's cost is seen as the 2^n it would
cost to execute, and refused. The measure runs before graphql-core's own validation rules
(which are not all linear either: overlapping fields compare pairs) and refuses without them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    VariableNode,
    Visitor,
    parse,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from app.graphql.edge import literal_errors, variable_errors
from app.settings import Settings

# Parsed documents kept with their token stream and locations: about 100 bytes per character of
# the query (measured with tracemalloc); the caches charge that, so their memory is bounded in bytes.
AST_BYTES_PER_CHAR = 100
PAGE_SIZE = 100  # the most a connection gives at once (Strawberry's relay_max_results)


@dataclass(frozen=True, slots=True)
class Limits:
    """The most a document may hold; each is a setting (GRAPHQL_MAX_*)."""

    document_chars: int = 8_000
    tokens: int = 1_000
    depth: int = 12
    aliases: int = 30
    cost: int = 200_000
    repeats: int = 10

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            document_chars=settings.graphql_max_document_chars,
            tokens=settings.graphql_max_tokens,
            depth=settings.graphql_max_depth,
            aliases=settings.graphql_max_aliases,
            cost=settings.graphql_max_cost,
            repeats=settings.graphql_max_repeats,
        )


@dataclass(slots=True)
class Measure:
    """A selection's figures: depth of nested fields, aliased fields, cost (fields times list sizes), and
    repeats: the most times one name is asked for in one selection (graphql-core compares those pairwise)."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0
    repeats: int = 0


def _page_size(field: FieldNode) -> int | None:
    """What `first` / `last` ask for: the literal, or the most a page gives when a variable."""
    sizes = []
    for argument in field.arguments or ():
        if argument.name.value in ("first", "last"):
            value = argument.value
            if isinstance(value, IntValueNode):
                sizes.append(max(int(value.value), 0))
            elif isinstance(value, VariableNode):
                sizes.append(PAGE_SIZE)
    return max(sizes) if sizes else None


class _Measurer:
    """Measures selections, each fragment once; a fragment within its own spread (a cycle) counts nothing."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._measured: dict[str, Measure] = {}
        self._names: dict[str, Counter[tuple[str, str]]] = {}
        self._open: set[str] = set()

    def selection_set(self, selections: SelectionSetNode | None) -> Measure:
        total = Measure(repeats=max(self.names(selections, "").values(), default=0))
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                part = self.field(selection)
            elif isinstance(selection, InlineFragmentNode):
                part = self.selection_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                part = self.fragment(selection.name.value)
            else:  # pragma: no cover  (the grammar has no other selection)
                continue
            total.depth = max(total.depth, part.depth)
            total.aliases += part.aliases
            total.cost += part.cost
            total.repeats = max(total.repeats, part.repeats)
        return total

    def names(self, selections: SelectionSetNode | None, condition: str) -> Counter[tuple[str, str]]:
        """How often each (type condition, response name) is selected here, fragments merged in."""
        counts: Counter[tuple[str, str]] = Counter()
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                counts[condition, (selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                inner = selection.type_condition.name.value if selection.type_condition else condition
                counts.update(self.names(selection.selection_set, inner))
            elif isinstance(selection, FragmentSpreadNode):
                counts.update(self.fragment_names(selection.name.value))
        return counts

    def fragment_names(self, name: str) -> Counter[tuple[str, str]]:
        if name not in self._names:
            definition = self._fragments.get(name)
            self._names[name] = Counter()  # a cycle meets an empty count (graphql-core refuses cycles)
            if definition is not None:
                condition = definition.type_condition.name.value
                self._names[name] = self.names(definition.selection_set, condition)
        return self._names[name]

    def field(self, field: FieldNode) -> Measure:
        inner = self.selection_set(field.selection_set)
        # a connection's page multiplies what is asked of each item; an unpaged one gives a full page
        size = _page_size(field)
        if size is None:
            size = PAGE_SIZE if field.selection_set and _is_connection(field) else 1
        introspection = field.name.value.startswith("__")
        return Measure(
            depth=0 if introspection or field.selection_set is None else inner.depth + 1,
            aliases=inner.aliases + (field.alias is not None),
            cost=1 + size * inner.cost,
            repeats=inner.repeats,
        )

    def fragment(self, name: str) -> Measure:
        if name in self._measured:
            return self._measured[name]
        definition = self._fragments.get(name)
        if definition is None or name in self._open:  # unknown or cyclic: graphql-core's rules say so
            return Measure()
        self._open.add(name)
        self._measured[name] = measure = self.selection_set(definition.selection_set)
        self._open.discard(name)
        return measure


def _is_connection(field: FieldNode) -> bool:
    """A Relay connection is asked for through its `edges` (no schema lookup needed)."""
    return any(
        isinstance(s, FieldNode) and s.name.value == "edges"
        for s in (field.selection_set.selections if field.selection_set else ())
    )


def measure_operations(document: DocumentNode) -> Iterator[tuple[OperationDefinitionNode, Measure]]:
    """Each operation of the document with its figures; time linear in the document."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measurer = _Measurer(fragments)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            yield definition, measurer.selection_set(definition.selection_set)


def page_errors(
    document: DocumentNode, variables: dict[str, Any] | None, most: int = PAGE_SIZE
) -> list[GraphQLError]:
    """An error for each `first` / `last` (literal or variable) outside 0 to `most`, naming it."""
    found: list[tuple[FieldNode, str, Any]] = []

    class Pages(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            for argument in node.arguments or ():
                if argument.name.value in ("first", "last"):
                    value = argument.value
                    if isinstance(value, IntValueNode):
                        found.append((node, argument.name.value, int(value.value)))
                    elif isinstance(value, VariableNode):
                        found.append((node, argument.name.value, (variables or {}).get(value.name.value)))

    visit(document, Pages())
    return [
        _refusal(
            f"Argument '{name}' of '{field.name.value}' must be from 0 to {most}, not {value}.",
            "BAD_USER_INPUT",
            [field],
        )
        for field, name, value in found
        if isinstance(value, int) and not 0 <= value <= most
    ]


def _refusal(message: str, code: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": code})


def over_limits(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Why the document asks too much (an error per exceeded limit and operation); empty when it does not."""
    errors = []
    try:
        measured = list(measure_operations(document))
    except RecursionError:  # thousands of nested selections or fragments: far past any depth limit
        return [_refusal("The document nests selections or fragments too deeply.", "QUERY_TOO_DEEP")]
    for operation, measure in measured:
        name = f"'{operation.name.value}'" if operation.name else "The operation"
        for figure, most, what, code in (
            (measure.depth, limits.depth, "nesting depth", "QUERY_TOO_DEEP"),
            (measure.aliases, limits.aliases, "aliases", "TOO_MANY_ALIASES"),
            (measure.cost, limits.cost, "cost (fields times the list sizes asked for)", "QUERY_TOO_COSTLY"),
            (measure.repeats, limits.repeats, "repeats of one field in a selection", "FIELD_REPEATED"),
        ):
            if figure > most:
                errors.append(
                    _refusal(f"{name} exceeds the maximum {what} of {most}: {figure}.", code, [operation])
                )
    return errors


def _document_size(document: DocumentNode) -> int:
    return AST_BYTES_PER_CHAR * (document.loc.end if document.loc else 1)


# the tokens of a document without strings or comments, each matched once (a token the lexer would
# split further, such as `1-2`, counts as one: the count is never above the parser's)
_TOKENS = re.compile(r"\.\.\.|[!$&():=@\[\]{|}]|-?\d[\w.+-]*|[_A-Za-z]\w*")


def _surely_over(query: str, max_tokens: int) -> bool:
    """Whether the document is over the token limit, told at the regex engine's speed before parsing.

    graphql-core's parser takes about 5 µs a token on this kind of machine, so a document of a few
    thousand tokens would hold the event loop for milliseconds only to be refused at the limit.
    Documents with strings or comments are left to the parser's own count.
    """
    if len(query) <= max_tokens or '"' in query or "#" in query:
        return False
    return sum(1 for _ in _TOKENS.finditer(query)) > max_tokens


class DocumentCache:
    """Parsed documents and validation outcomes, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.documents: LRUCache[str, DocumentNode] = LRUCache(max_bytes, getsizeof=_document_size)
        # the outcome is small; the key holds the query text (and the rule set: introspection on or off)
        self.outcomes: LRUCache[tuple[str, tuple[Any, ...]], list[GraphQLError]] = LRUCache(
            max_bytes // 4, getsizeof=lambda errors: 1_000 + 1_000 * len(errors)
        )

    def parse(self, query: str, max_tokens: int) -> DocumentNode:
        document = self.documents.get(query)
        if document is None:
            if _surely_over(query, max_tokens):
                raise GraphQLSyntaxError(
                    Source(query), 0, f"Document contains more than {max_tokens} tokens. Parsing aborted."
                )
            document = parse(query, max_tokens=max_tokens)
            if _document_size(document) <= self.documents.maxsize:
                self.documents[query] = document
        return document

    def validate(
        self, query: str, document: DocumentNode, schema: Any, rules: Iterable[Any], limits: Limits
    ) -> list[GraphQLError]:
        rules = tuple(rules)
        key = (query, (schema, *rules))
        outcome = self.outcomes.get(key)
        if outcome is None:
            outcome = (
                over_limits(document, limits)
                or literal_errors(document)
                or validate_document(schema, document, rules)
            )
            self.outcomes[key] = outcome
        return outcome


class QueryLimits(SchemaExtension):
    """Parses and validates through the bounded cache, refusing oversized, too costly or unstorable input first."""

    def __init__(self, limits: Limits, cache: DocumentCache) -> None:
        super().__init__()
        self.limits, self.cache = limits, cache

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None and context.graphql_document is None:
            if len(query) > self.limits.document_chars:
                raise _refusal(
                    f"The query is {len(query):,} characters; at most {self.limits.document_chars:,} are accepted.",
                    "QUERY_TOO_LARGE",
                )
            try:
                context.graphql_document = self.cache.parse(query, self.limits.tokens)
            except GraphQLSyntaxError as error:  # over the token limit, too deeply nested, or not GraphQL
                error.extensions = {"code": "GRAPHQL_PARSE_FAILED"}
                raise
        yield

    def _pages(self, query: str, document: DocumentNode) -> list[GraphQLError]:
        if "first" not in query and "last" not in query:  # most documents page nothing: no walk
            return []
        return page_errors(document, self.execution_context.variables)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is not None:
            context.pre_execution_errors = (
                variable_errors(context.variables) or self._pages(context.query, context.graphql_document)
            ) or self.cache.validate(
                context.query,
                context.graphql_document,
                context.schema._schema,
                context.validation_rules,
                self.limits,
            )
        yield


def query_limits(settings: Settings) -> Any:
    """The extension factory for a schema: one bounded cache shared by its requests, an extension per request."""
    limits, cache = Limits.of(settings), DocumentCache(settings.graphql_cache_bytes)
    return lambda: QueryLimits(limits, cache)
