#!/usr/bin/env python3
"""Benchmark of big organizations' pages: Members at 10 and 10,000 members, the ledger after 500,000 entries,
the subscriptions after 10,000 and a project's addable members among 10,000.

    .venv/bin/python bench/pages.py [--runs 30] [--engines sqlite,postgresql] [--baseline REV] [--rebuild]

The first run builds the organizations and keeps them (SQLite: var/bench/pages.sqlite3; PostgreSQL: the
database bench_pages on $BENCH_POSTGRES_URL): one of 10 members and one of 10,000 (each member on one of
three projects, and a fourth project with none), one whose ledger holds 500,000 entries and one with
10,000 ended subscriptions. Then each page is asked for through the GraphQL API (the app in a process of
its own, over ASGI), as the console asks for it, by this code and by the code of REV (default: where this
branch left main, `git merge-base HEAD main`), against the same database; it prints the median of `runs`
requests of each, side by side. (Where REV's API took another query for the same page, REV is sent that.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from baseline import baseline_code, measured

ROOT = Path(__file__).resolve().parent.parent
MEMBERS_PAGE = """query($id: ID!) { node(id: $id) { ... on Organization { members { ... on MemberList {
  members(first: 20) { pageInfo { hasNextPage endCursor } edges { node { role joinedAt user { email name }
  projectRoles { role project { name } } } } } } } } } }"""
LEDGER_PAGE = """query($id: ID!, $after: String) { node(id: $id) { ... on Organization { credits { ... on Credits {
  ledger(first: 20, after: $after) { pageInfo { hasNextPage endCursor }
  edges { node { kind amount { amount } balanceAfter { amount } reference createdAt } } } } } } } }"""
LEDGER_ENTRIES = 500_000
SUBSCRIPTIONS_PAGE = """query($id: ID!) { node(id: $id) { ... on Organization { subscriptions(includeEnded: true) {
  ... on SubscriptionList { subscriptions(first: 20) { pageInfo { hasNextPage endCursor }
  edges { node { id modelId state tier { displayName } createdAt endedAt endReason } } } } } } } }"""
SUBSCRIPTIONS = 10_000
CANDIDATES_PAGE = """query($id: ID!) { node(id: $id) { ... on Project { addableMembers { __typename
  ... on ProjectCandidates { candidates(first: 20) { pageInfo { hasNextPage endCursor }
  edges { node { userId name email } } } } } } } }"""
# before the candidates were paged: every one of them in one list
CANDIDATES_LIST = """query($id: ID!) { node(id: $id) { ... on Project { addableMembers { __typename
  ... on ProjectCandidates { candidates { userId name email } } } } } }"""


async def build(db: Any, settings: Any) -> dict[str, str]:
    """The organizations, their admins' tokens, and the cursor of the ledger's 1,000th page."""
    from sqlalchemy import insert, select
    from support import organization_admin

    from app.domain.accounts.models import User
    from app.domain.credits.models import CreditLedgerEntry, EntryKind
    from app.domain.orgs.models import Membership, OrganizationRole
    from app.domain.projects.models import Project, ProjectMembership, ProjectRole
    from app.domain.subscriptions.models import EndReason, Subscription, SubscriptionState

    orgs: dict[str, str] = {}
    for size in (10, 10_000):
        org_id, orgs[f"token{size}"] = await organization_admin(db, settings, f"Bench members {size}")
        orgs[f"members{size}"] = org_id
        orgs[f"new{size}"] = f"prj_{org_id}_new"  # a project nobody is in yet: every member may be added
        async with db.transaction() as session:
            if not await session.scalar(select(Project.id).where(Project.id == orgs[f"new{size}"])):
                session.add(Project(id=orgs[f"new{size}"], organization_id=org_id, name="New"))
            if await session.scalar(select(Project.id).where(Project.id == f"prj_{org_id}_0")):
                continue
            projects = [
                Project(id=f"prj_{org_id}_{p}", organization_id=org_id, name=f"P{p}") for p in range(3)
            ]
            session.add_all(projects)
            users = [User(email=f"m{i}@{size}.example.com", email_normalized=f"m{i}@{size}.example.com",
                          password_hash="x") for i in range(size - 1)]  # fmt: skip
            session.add_all(users)
            await session.flush()
            session.add_all(
                Membership(organization_id=org_id, user_id=u.id, role=OrganizationRole.MEMBER) for u in users
            )
            session.add_all(
                ProjectMembership(
                    project_id=projects[i % 3].id, user_id=u.id, role=ProjectRole.PROJECT_MEMBER
                )
                for i, u in enumerate(users)
            )
    org_id, orgs["tokenLedger"] = await organization_admin(db, settings, "Bench ledger")
    orgs["ledger"] = org_id
    async with db.transaction() as session:
        if not await session.scalar(
            select(CreditLedgerEntry.id).where(CreditLedgerEntry.organization_id == org_id)
        ):  # type: ignore[arg-type]
            start = time.time() - LEDGER_ENTRIES
            for chunk in range(0, LEDGER_ENTRIES, 50_000):
                await session.execute(insert(CreditLedgerEntry), [
                    {"id": f"cle_bench_{n:08d}", "organization_id": org_id, "kind": EntryKind.USAGE, "amount_nanos": -1,
                     "balance_after_nanos": -n, "reference": f"usage:{n}", "created_at": _at(start + n)}
                    for n in range(chunk, chunk + 50_000)
                ])  # fmt: skip
    org_id, orgs["tokenSubscriptions"] = await organization_admin(db, settings, "Bench subscriptions")
    orgs["subscriptions"] = org_id
    async with db.transaction() as session:
        if not await session.scalar(select(Subscription.id).where(Subscription.organization_id == org_id)):  # type: ignore[arg-type]
            start = time.time() - SUBSCRIPTIONS * 3600
            await session.execute(insert(Subscription), [
                {"id": f"sub_bench_{n:05d}", "organization_id": org_id, "model_id": "gpt-oss-120b",
                 "tier_id": "starter", "state": SubscriptionState.CANCELED, "cancel_at_period_end": False,
                 "billing_anchor": _at(start + n * 3600), "period_number": 1, "failed_renewals": 0,
                 "current_period_start": _at(start + n * 3600), "current_period_end": _at(start + n * 3600 + 60),
                 "upgrades": 0, "created_at": _at(start + n * 3600), "ended_at": _at(start + n * 3600 + 60),
                 "end_reason": EndReason.CANCELED}
                for n in range(SUBSCRIPTIONS)
            ])  # fmt: skip
    return orgs


def _at(seconds: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC)


async def prepare(engine: str, rebuild: bool) -> tuple[str, list[dict[str, Any]]]:
    from sqlalchemy import text
    from strawberry.relay import to_base64
    from support import bench_database, bench_settings, mark_built

    from app.db import Database
    from app.domain.credits import queries
    from app.graphql.paging import QueryPage

    url, built = await bench_database(engine, "pages", rebuild=rebuild)
    db = Database(url)
    if not built:
        print(f"  building the organizations on {engine} (once; kept for later runs)", flush=True)
    orgs = await build(db, bench_settings(url))
    mark_built(engine, "pages")
    if not db.is_sqlite:  # the planner's statistics, as autovacuum would gather them soon after such a load
        async with db.transaction() as session:
            await session.execute(text("ANALYZE"))
    async with db.reader() as session:  # the cursor after the 999th page: the 1,000th page's start
        rows = (await session.scalars(queries.ledger(orgs["ledger"]).offset(999 * 20 - 1).limit(1))).all()
    await db.dispose()
    page = QueryPage(None, queries.ledger(orgs["ledger"]), lambda row: row)  # type: ignore[arg-type]
    deep = page.cursor(rows[0])

    def case(
        name: str, query: str, org: str, token: str, node: str = "Organization", **more: Any
    ) -> dict[str, Any]:
        variables = {"id": to_base64(node, orgs[org]), **more}
        return {"name": name, "query": query, "variables": variables, "token": orgs[token]}

    return url, [
        case("members page, 10 members", MEMBERS_PAGE, "members10", "token10"),
        case("members page, 10,000 members", MEMBERS_PAGE, "members10000", "token10000"),
        case("ledger page 1 of 500,000", LEDGER_PAGE, "ledger", "tokenLedger"),
        case("ledger page 1,000 of 500,000", LEDGER_PAGE, "ledger", "tokenLedger", after=deep),
        case("subscriptions, 10,000 ended", SUBSCRIPTIONS_PAGE, "subscriptions", "tokenSubscriptions"),
        {
            **case("addable members, 10 members", CANDIDATES_PAGE, "new10", "token10", node="Project"),
            "before": CANDIDATES_LIST,
        },
        {
            **case("addable members, 10,000", CANDIDATES_PAGE, "new10000", "token10000", node="Project"),
            "before": CANDIDATES_LIST,
        },
    ]


def main(runs: int, engines: list[str], baseline: str | None, rebuild: bool) -> None:
    sys.path.insert(0, str(ROOT))
    rev, before = baseline_code(baseline)
    # a baseline from before the candidates were paged is asked for them as its schema has them
    paged = "ProjectCandidateConnection" in (before / "schema.graphql").read_text()
    rows = []
    for engine in engines:
        url, cases = asyncio.run(prepare(engine, rebuild))
        now = measured(ROOT, url, cases, runs)
        then_cases = [c if paged else {**c, "query": c.get("before", c["query"])} for c in cases]
        then = measured(before, url, then_cases, max(3, runs // 5))
        rows += [(engine, name, now[name], then[name]) for name in now]
    print(f"\nmedian ms per request through GraphQL, wall and this process's CPU; before = {rev[:10]}:")
    print(f"  {'engine':<11}{'case':<31}{'now':>9}{'before':>10}{'CPU now':>10}{'before':>10}")
    for engine, name, (now_ms, now_cpu), (then_ms, then_cpu) in rows:
        print(f"  {engine:<11}{name:<31}{now_ms:>9.1f}{then_ms:>10.1f}{now_cpu:>10.1f}{then_cpu:>10.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--baseline", help="the revision to compare with (default: git merge-base HEAD main)")
    parser.add_argument("--rebuild", action="store_true", help="build the data again")
    args = parser.parse_args()
    main(args.runs, args.engines.split(","), args.baseline, args.rebuild)
