"""The operator's subcommands of `python -m app.cli`: read and resend mail, check the ledger, find stuck money,
replay a stored webhook event."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from app.db import Database
from app.domain.errors import DomainError
from app.settings import get_settings


def _run(work: Callable[[Database], Awaitable[int]]) -> None:
    """Run `work` on the configured database; its result is the exit status, a domain error a message."""

    async def main() -> int:
        db = Database(get_settings().database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        status = asyncio.run(main())
    except DomainError as exc:
        sys.exit(f"error: {exc.message}")
    if status:
        sys.exit(status)


def _outbox_list(args: argparse.Namespace) -> None:
    from app.domain.notifications.models import OutboxState
    from app.domain.notifications.service import list_outbox, outbox_line

    async def work(db: Database) -> int:
        state = OutboxState(args.state.upper()) if args.state else None
        messages = await list_outbox(db, state=state, limit=args.limit)
        for message in messages:
            print(outbox_line(message))
        print(f"{len(messages)} message(s)", file=sys.stderr)
        return 0

    _run(work)


def _outbox_show(args: argparse.Namespace) -> None:
    from app.domain.notifications.outbox import get_message, show

    async def work(db: Database) -> int:
        print(show(await get_message(db, args.id)))
        return 0

    _run(work)


def _outbox_resend(args: argparse.Namespace) -> None:
    from app.domain.notifications.outbox import resend

    async def work(db: Database) -> int:
        message = await resend(db, args.id)
        print(f"Message {message.id} to {message.to_address} is queued again; the mail worker sends it next.")
        return 0

    _run(work)


def _check_ledger(_: argparse.Namespace) -> None:
    from app.domain.credits.audit import audit_ledger

    async def work(db: Database) -> int:
        problems = await audit_ledger(db)
        for problem in problems:
            print(problem)
        if problems:
            print(f"The ledger is inconsistent: {len(problems)} problem(s).", file=sys.stderr)
            return 1
        print("The ledger is consistent: balances, grants and charges agree with their entries.")
        return 0

    _run(work)


def _pending_charges(args: argparse.Namespace) -> None:
    from app.operator.stuck import charge_line, pending_charges

    async def work(db: Database) -> int:
        charges = await pending_charges(db, args.older_than)
        for charge in charges:
            print(charge_line(charge))
        print(f"{len(charges)} charge(s) pending for longer than {args.older_than}", file=sys.stderr)
        return 0

    _run(work)


def _pending_usage(args: argparse.Namespace) -> None:
    from app import clock
    from app.domain.usage.pending import fold_all, pending_rows
    from app.operator.stuck import pending_usage_line

    async def work(db: Database) -> int:
        unfoldable: set[int] = set()
        if args.fold:  # what a fold sets aside is logged with its reason, on stderr
            folded = await fold_all(db, unfoldable=unfoldable)
            print(f"Folded {folded} group(s) into the roll-ups.", file=sys.stderr)
        rows = await pending_rows(db, clock.now() - args.older_than, args.limit)
        for row in rows:
            print(pending_usage_line(row, set_aside=row.id in unfoldable))
        counted = f"the oldest {len(rows)}" if len(rows) == args.limit else f"{len(rows)}"
        print(f"{counted} usage group(s) pending for longer than {args.older_than}", file=sys.stderr)
        return 1 if any(row.problem or row.id in unfoldable for row in rows) else 0

    _run(work)


def _recharges_in_flight(args: argparse.Namespace) -> None:
    from app.operator.stuck import recharge_line, recharges_in_flight

    async def work(db: Database) -> int:
        found = await recharges_in_flight(db, args.older_than)
        for item in found:
            print(recharge_line(item))
        print(f"{len(found)} account(s) with an auto-recharge in flight", file=sys.stderr)
        return 0

    _run(work)


def _replay_webhook(args: argparse.Namespace) -> None:
    from app.domain.billing.charges import MissingChargeHandler
    from app.domain.charge_handlers import install_charge_handlers
    from app.domain.provider_events.service import Replayed, replay_event

    try:
        install_charge_handlers()  # a replayed payment settles its charge
    except MissingChargeHandler as exc:
        sys.exit(f"error: {exc}")

    async def work(db: Database) -> int:
        replay = await replay_event(db, args.event_id, force=args.force)
        said = {
            Replayed.RECOVERED: "had failed; its handler ran again and it is handled now",
            Replayed.SKIPPED: "was handled already; nothing done (--force runs its handler again)",
            Replayed.RERUN: "was handled already; its handler ran again (--force)",
        }[replay.result]
        print(f"Event {args.event_id} ({replay.event_type}) {said}: {replay.outcome}")
        return 0

    _run(work)


def _duration(text: str) -> Any:
    from app.operator.stuck import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    """A --limit: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (a whole number, 1 or more)")
    return int(text)


def register(commands: Any) -> None:
    """Add the operator's commands to the CLI's subcommands."""
    outbox = commands.add_parser("outbox", help="read the mail outbox, show one email with its links, resend")
    actions = outbox.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the newest messages, one line each")
    listing.add_argument("--state", choices=["queued", "sent", "failed", "cancelled"])
    listing.add_argument("--limit", type=_count, default=50)
    listing.set_defaults(run=_outbox_list)
    shown = actions.add_parser(
        "show", help="one message as its recipient reads it (links in clear, not stored so)"
    )
    shown.add_argument("id")
    shown.set_defaults(run=_outbox_show)
    again = actions.add_parser("resend", help="queue a sent or failed message again")
    again.add_argument("id")
    again.set_defaults(run=_outbox_resend)

    commands.add_parser(
        "check-ledger",
        help="check every balance, grant and charge against the ledger (exit 1 naming what is wrong)",
    ).set_defaults(run=_check_ledger)
    pending = commands.add_parser("pending-charges", help="charges whose outcome is unknown for too long")
    pending.add_argument(
        "--older-than", type=_duration, default="15m", help="e.g. 90s, 15m, 2h, 1d (default 15m)"
    )
    pending.set_defaults(run=_pending_charges)
    usage = commands.add_parser(
        "pending-usage", help="usage groups not yet folded into the graphs' roll-ups (they take seconds)"
    )
    usage.add_argument("--older-than", type=_duration, default="5m", help="e.g. 90s, 15m (default 5m)")
    usage.add_argument("--limit", type=_count, default=100, help="list at most this many (default 100)")
    usage.add_argument(
        "--fold", action="store_true", help="fold what is pending first, saying what cannot be folded"
    )
    usage.set_defaults(run=_pending_usage)
    flight = commands.add_parser("recharges-in-flight", help="accounts holding an auto-recharge claim")
    flight.add_argument("--older-than", type=_duration, default="0s", help="e.g. 15m (default: all)")
    flight.set_defaults(run=_recharges_in_flight)
    replay = commands.add_parser(
        "replay-webhook",
        help="run a stored webhook event's handler again: one whose handling failed, or with --force any",
    )
    replay.add_argument("event_id", metavar="EVENT_ID", help="the provider's event id, e.g. evt_…")
    replay.add_argument(
        "--force",
        action="store_true",
        help="run the handler of an event handled already (handlers are idempotent: nothing changes twice)",
    )
    replay.set_defaults(run=_replay_webhook)
