"""No GraphQL request can stall the process: costly documents are refused before any expensive work."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
from graphql import GraphQLError
from hypothesis import given
from hypothesis import strategies as st

from app.graphql.limits import _TOKENS, PAGE_SIZE, _surely_over, measure_operations
from tests.fleet.conftest import Fleet, acme_key, fleet  # noqa: F401  (fixtures)
from tests.support import GraphQL, World


def fragment_chain(levels: int) -> str:
    """Each fragment spreads the previous one twice: 2^levels fields once expanded, in a few hundred bytes."""
    fragments = ["fragment L0 on Query { __typename }"]
    fragments += [f"fragment L{n} on Query {{ ...L{n - 1} ...L{n - 1} }}" for n in range(1, levels + 1)]
    return f"query {{ ...L{levels} }}\n" + "\n".join(fragments)


# each attack of the issue, and how it is refused (bench/graphql_attacks.py times them against a server)
ATTACKS = {
    "fragment chain of 21": (fragment_chain(21), "QUERY_TOO_COSTLY"),
    "fragment chain of 40": (fragment_chain(40), "QUERY_TOO_COSTLY"),
    "fragment chain of 100": (fragment_chain(100), "GRAPHQL_PARSE_FAILED"),  # over the token limit already
    "1,000 aliases": ("{ " + " ".join(f"a{n}: __typename" for n in range(1000)) + " }", "QUERY_TOO_LARGE"),
    "directive flood": ("{ __typename " + "@include(if: true) " * 2000 + "}", 413),
    "9 MB of white space": ("{ __typename " + " " * 9_000_000 + "}", 413),
    "a field repeated 700 times": ("{ " + "me { id } " * 700 + "}", "GRAPHQL_PARSE_FAILED"),
}


async def test_each_attack_is_refused_while_admissions_go_on(
    client: httpx.AsyncClient,
    fleet: Fleet,  # noqa: F811
    acme_key: str,  # noqa: F811
) -> None:
    """Both measured in one run: each attack's answer time, and the latency of admissions sent meanwhile.

    The bounds here catch a stall (a walk that blows up, a parse on the event loop), with room for a
    loaded CI machine; the targets themselves (attacks under 50 ms, admissions under 10 ms) are
    measured by bench/graphql_attacks.py against a served app.
    """
    admissions: list[tuple[int, float]] = []
    done = asyncio.Event()

    async def admit_meanwhile() -> None:
        while not done.is_set():
            started = time.perf_counter()
            status = (await fleet.admit(acme_key, input_tokens=1, max_output_tokens=1)).status_code
            admissions.append((status, time.perf_counter() - started))
            await asyncio.sleep(0)

    meanwhile = asyncio.create_task(admit_meanwhile())
    answered: dict[str, float] = {}
    try:
        for name, (query, refusal) in ATTACKS.items():
            body = json.dumps({"query": query}).encode()
            started = time.perf_counter()
            answer = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
            answered[name] = time.perf_counter() - started
            if isinstance(refusal, int):
                assert answer.status_code == refusal, name
            else:
                assert answer.status_code == 200, name
                assert answer.json()["data"] is None, name
                assert answer.json()["errors"][0]["extensions"]["code"] == refusal, name
    finally:
        done.set()
        await meanwhile
    assert admissions and {status for status, _ in admissions} == {200}
    # a stall takes many seconds; one answer of 1.09 s was seen at the end of the whole suite on a machine
    # a third as fast as the one these bounds were set on (the same attack alone: a few milliseconds)
    assert max(answered.values()) < 2.0, answered
    assert max(seconds for _, seconds in admissions) < 2.0, sorted(seconds for _, seconds in admissions)[-5:]


async def test_refusals_say_which_limit(gql: GraphQL) -> None:
    cases = {
        fragment_chain(21): "QUERY_TOO_COSTLY",
        "{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }": "TOO_MANY_ALIASES",
        "{ " + "me { id } " * 11 + "}": "FIELD_REPEATED",
        "{ __typename " + "#" * 20_000 + "\n}": "QUERY_TOO_LARGE",
        "{ " + "me { id } " * 300 + "}": "GRAPHQL_PARSE_FAILED",  # over the token limit
    }
    for query, code in cases.items():
        body = await gql.raw(query)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code, body


async def test_an_ordinary_console_query_passes(gql: GraphQL, world: World) -> None:
    query = """
    query($id: ID!) { node(id: $id) { ... on Organization { name
      projects(first: 100) { edges { node { name apiKeys(first: 100) { edges { node { name } } } } } } } } }
    """
    data = await gql(query, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin"))
    assert data["node"]["name"] == "Acme"


def test_measures_count_every_spread_but_walk_each_fragment_once() -> None:
    from graphql import parse

    [(_, measure)] = list(measure_operations(parse(fragment_chain(200))))  # 2^200 fields, not expanded
    assert measure.cost == measure.repeats == 2**200 and measure.depth == 0
    connection = parse(
        "{ me { organizations { organization { projects(first: 50) { edges { node { id name } } } } } } }"
    )
    [(_, measure)] = list(measure_operations(connection))
    # me, organizations, organization: 1 each; projects: 1 + 50 pages of (edges 1 + node 1 + 2 fields)
    assert (measure.cost, measure.depth, measure.aliases) == (3 + 1 + 50 * 4, 6, 0)
    unpaged = parse("{ me { organizations { organization { projects { edges { node { id } } } } } } }")
    [(_, measure)] = list(measure_operations(unpaged))
    assert measure.cost == 3 + 1 + PAGE_SIZE * 3  # an unpaged connection counts a full page


async def test_the_body_is_limited_before_it_is_read(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        answer = await client.post(
            "/graphql", content=b"{" + b" " * 100_000 + b"}", headers={"content-type": "application/json"}
        )
    assert answer.status_code == 413
    # the client's mistake is not logged as the server's error (anyone could fill the logs with tracebacks)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_malformed_bodies_are_400(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    variables_deep = b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * 5_000 + b"]" * 5_000 + b"}}"
    for body in (b"42", b'"text"', b"null", b"\xff\xfe{}", b"[" * 10_000, variables_deep):
        answer = await client.post("/graphql", content=body, headers=headers)
        assert answer.status_code == 400, (body[:20], answer.status_code, answer.text[:200])


TOKEN_PIECES = ["{", "}", "(", ")", "[", "]", ":", "=", "@", "$", "!", "&", "|", "...", " ", "\n", ",",
                "me", "_id", "x1", "on", "1", "-2", "3.5", "4e10", "-0.5E-3", "1-2"]  # fmt: skip


@given(st.lists(st.sampled_from(TOKEN_PIECES), max_size=200))
def test_the_quick_token_count_never_counts_more_than_the_parser(pieces: list[str]) -> None:
    """The regex refuses a document before parsing only when the parser would refuse it too."""
    from graphql.language import Lexer, Source, TokenKind

    document = " ".join(pieces)  # tokens apart, and also glued (`1-2`, `x1`) where the pieces are
    lexer, tokens = Lexer(Source(document)), 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            tokens += 1
    except GraphQLError:
        return  # not GraphQL: the parser refuses it whatever its size
    assert sum(1 for _ in _TOKENS.finditer(document)) <= tokens
    for limit in (tokens, tokens + 1, max(0, tokens - 1)):
        assert not _surely_over(document, limit) or tokens > limit


def test_an_oversized_document_is_refused_without_parsing() -> None:
    over = "{ " + "me { id } " * 700 + "}"
    assert _surely_over(over, 1_000)
    assert not _surely_over(over.replace("me", '"me"', 1), 1_000)  # strings: the parser counts
    assert not _surely_over("{ " + "me { id } " * 200 + "}", 1_000)
