"""Adding a member to a project in a big organization: the console lists the first candidates and finds the rest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select

from app.domain.accounts.models import User
from app.domain.orgs.models import Membership, Organization, OrganizationRole
from tests.console.browser import Server, Visitor, open_visitor, run_server
from tests.console.test_story import create_team, expect, sign_up

MEMBERS = 60  # more than the 50 the Projects page lists


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("candidates")


@pytest.fixture(scope="module")
def server(browser: Any, workdir: Path) -> Iterator[Server]:
    yield from run_server(workdir)


@pytest.fixture
def visitor(browser: Any, server: Server) -> Iterator[Visitor]:
    visitor = open_visitor(browser, server, "big-team-admin")
    yield visitor
    assert visitor.outside == [] and visitor.errors == [], (visitor.outside, visitor.errors)
    visitor.page.context.close()


def add_members(workdir: Path, team: str) -> None:
    """MEMBERS more members of the Team, `m<n>@big.example`, written to the server's database."""
    # a synchronous engine: Playwright's sync API keeps an event loop running in this thread
    engine = create_engine(f"sqlite:///{workdir / 'console.sqlite3'}")
    now = datetime.now(UTC)
    users = [
        {"id": f"user_big{n:03}", "email": f"m{n:03}@big.example", "email_normalized": f"m{n:03}@big.example",
         "name": f"Member {n}", "password_hash": "x", "is_staff": False, "created_at": now}
        for n in range(MEMBERS)
    ]  # fmt: skip
    try:
        with engine.begin() as connection:
            org_id = connection.execute(select(Organization.id).where(Organization.name == team)).scalar_one()  # type: ignore[arg-type]
            connection.execute(insert(User), users)
            connection.execute(
                insert(Membership),
                [{"organization_id": org_id, "user_id": u["id"], "role": OrganizationRole.MEMBER,
                  "created_at": now} for u in users],
            )  # fmt: skip
    finally:
        engine.dispose()


def test_a_project_admin_finds_a_member_beyond_the_first_page(
    visitor: Visitor, server: Server, workdir: Path
) -> None:
    page = visitor.page
    sign_up(visitor, "Big Admin", "admin@big.example")
    create_team(visitor, "Big")
    add_members(workdir, "Big")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Projects", exact=True).click()
    default = page.get_by_role("region", name="Default")
    expect(default.get_by_text("The first 50 are listed; search by name or email.")).to_be_visible()
    expect(default.get_by_label("Add to Default").locator("option")).to_have_count(50)
    visitor.screen("candidates-first-page")
    # m055 is beyond the first 50 by email: a search finds it
    default.get_by_label("Find a member for Default").fill("MEMBER 55")
    default.get_by_role("button", name="Find", exact=True).click()
    expect(default.get_by_text("1 found.")).to_be_visible()
    expect(default.get_by_label("Add to Default").locator("option")).to_have_count(1)
    visitor.screen("candidates-found")
    default.get_by_label("Add to Default").select_option(label="Member 55 (m055@big.example)")
    default.get_by_role("button", name="Add member").click()
    expect(default.get_by_label("Project role of m055@big.example")).to_have_value("PROJECT_MEMBER")
    # a search that finds nobody says so
    default.get_by_label("Find a member for Default").fill("nobody-here")
    default.get_by_role("button", name="Find", exact=True).click()
    expect(default.get_by_text("Nobody matches; try another search.")).to_be_visible()
