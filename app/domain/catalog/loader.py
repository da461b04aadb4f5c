"""Reads catalog.toml into a Catalog, refusing bad data with the file and line at fault.

tomllib keeps no positions, so `_Locator` maps parsed entries back to the raw text: the n-th `[[models]]`
header is the n-th model, the n-th `[[models.tiers]]` header inside it is its n-th tier, and a key is on
the line assigning it in that entry (an inline table's keys share its line) or on its `[...key]` header.
Entries written as inline tables instead are found by the line holding their `id = "..."`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from app.domain.catalog.errors import CatalogError
from app.domain.catalog.models import Catalog, CatalogModel, RateLimits, SubscriptionTier
from app.domain.money import NANOS_PER_CENT, NANOS_PER_UNIT

DEFAULT_PATH = Path(__file__).with_name("catalog.toml")

TOKENS_PER_LISTED_PRICE = 1_000_000
LIMIT_KEYS = {
    "rpm": "requests_per_minute",
    "tpm": "tokens_per_minute",
    "rph": "requests_per_hour",
    "tph": "tokens_per_hour",
    "rpd": "requests_per_day",
    "tpd": "tokens_per_day",
}
_KEY_OF_FIELD = {field: key for key, field in LIMIT_KEYS.items()}
_MINUTE_KEYS = ("rpm", "tpm")
_MODEL_REQUIRED = ("id", "display_name", "input_price_per_million", "output_price_per_million", "limits")
_MODEL_OPTIONAL = ("deprecation_date", "free_tier", "tiers", "context_tokens")
_TIER_REQUIRED = ("id", "display_name", "monthly_price", "limits", "capacity")

_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
_DOLLARS = re.compile(r"-?\d+(?:\.\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HEADER = re.compile(r"\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?")
_DECODE_LINE = re.compile(r"at line (\d+)")

_Entry = TypeVar("_Entry", CatalogModel, SubscriptionTier)


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and check the catalog file: the catalog.toml beside this module unless a path is given."""
    source = path if path is not None else DEFAULT_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read the catalog: {exc}", path=source) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already says "(at line N, column M)": keep it whole, and lift the line out.
        found = _DECODE_LINE.search(str(exc))
        line = int(found[1]) if found else None
        raise CatalogError(f"malformed TOML: {exc}", path=source, line=line) from None
    return _Reader(source, _Locator(text)).catalog(data)


@dataclass(frozen=True, slots=True)
class _Span:
    """The lines [start, end) (0-based) holding one entry, whose TOML table is named `table`."""

    start: int
    end: int
    table: str


class _Locator:
    """Finds the lines of parsed entries and keys in the raw TOML text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.root = _Span(0, len(self.lines), "")
        self.headers: dict[int, tuple[bool, str]] = {}
        for index, line in enumerate(self.lines):
            match = _HEADER.fullmatch(line)
            if match:
                name = ".".join(part.strip().strip("\"'") for part in match[2].split("."))
                self.headers[index] = (match[1] == "[[", name)

    def entries(self, within: _Span, key: str, ids: list[object]) -> list[_Span]:
        """One span per entry of the array of tables `key` inside `within`, in file order."""
        table = f"{within.table}.{key}" if within.table else key
        starts = [i for i, (array, name) in self._headers_in(within) if array and name == table]
        if len(starts) == len(ids):
            return [_Span(start, self._end_of(start, within, table), table) for start in starts]
        return [self._inline_entry(within, key, ids, n) for n in range(len(ids))]

    def line(self, span: _Span, *keys: str) -> int | None:
        """1-based line of the nested key `keys` in `span`, else of the deepest part of it found."""
        found: int | None = None
        for key in keys:
            hit = self._find(span, key)
            if hit is None:
                break
            found = hit
            array_or_table = self.headers.get(hit)
            if array_or_table is None:
                # Inline tables are single-line in TOML 1.0: their keys are on this very line.
                span = _Span(hit, hit + 1, "")
            else:
                span = _Span(hit, self._end_of(hit, span, array_or_table[1]), array_or_table[1])
        if found is None:
            # The root has no line of its own: a missing top-level table names only the file.
            return None if span == self.root else span.start + 1
        return found + 1

    def _find(self, span: _Span, key: str) -> int | None:
        # An entry's own keys come before its first sub-table header (TOML grammar), sub-tables after.
        first_header = next((i for i, _ in self._headers_in(span) if i > span.start), span.end)
        own_from = span.start + 1 if span.start in self.headers else span.start
        assigns = re.compile(rf"(?:^|[{{,])\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
        for index in range(own_from, first_header):
            if not self.lines[index].lstrip().startswith("#") and assigns.search(self.lines[index]):
                return index
        table = f"{span.table}.{key}" if span.table else key
        return next((i for i, (_, name) in self._headers_in(span) if name == table), None)

    def _headers_in(self, span: _Span) -> Iterable[tuple[int, tuple[bool, str]]]:
        return ((i, header) for i, header in self.headers.items() if span.start <= i < span.end)

    def _end_of(self, start: int, within: _Span, table: str) -> int:
        # A table runs until the next header that is not one of its own sub-tables.
        return next(
            (
                i
                for i, (_, name) in self._headers_in(within)
                if i > start and not name.startswith(table + ".")
            ),
            within.end,
        )

    def _inline_entry(self, within: _Span, key: str, ids: list[object], n: int) -> _Span:
        # The n-th entry with a given id is on the line of that id's n-th occurrence (for duplicates).
        entry_id = ids[n]
        if isinstance(entry_id, str):
            pattern = re.compile(rf"\bid\s*=\s*([\"']){re.escape(entry_id)}\1")
            hits = [i for i in range(within.start, within.end) if pattern.search(self.lines[i])]
            occurrence = ids[:n].count(entry_id)
            if occurrence < len(hits):
                return _Span(hits[occurrence], hits[occurrence] + 1, "")
        line = self.line(within, key)
        return _Span(line - 1, line, "") if line is not None else within


class _Reader:
    """Turns parsed TOML into catalog values, raising CatalogError at the first bad entry."""

    def __init__(self, path: Path, where: _Locator) -> None:
        self.path = path
        self.where = where

    def fail(self, span: _Span, keys: tuple[str, ...], message: str) -> NoReturn:
        raise CatalogError(message, path=self.path, line=self.where.line(span, *keys))

    def catalog(self, data: dict[str, Any]) -> Catalog:
        root = self.where.root
        self.table(data, root, (), ("free_tier", "models"), (), "the catalog")
        free_tier = self.limits(data["free_tier"], root, ("free_tier",), "[free_tier]", _MINUTE_KEYS)
        if not data["models"]:
            self.fail(root, ("models",), "the catalog must hold at least one [[models]] entry")
        models = self.entries(
            data["models"], root, "models", "model id", lambda entry, span: self.model(entry, span, free_tier)
        )
        return Catalog(models=models, source=self.path)

    def entries(
        self, value: object, span: _Span, key: str, kind: str, read: Callable[[object, _Span], _Entry]
    ) -> tuple[_Entry, ...]:
        """Read each entry of the array of tables `key`, refusing an id seen before in the same array."""
        if not isinstance(value, list):
            self.fail(span, (key,), f"{key} must be an array of tables such as [[{key}]]")
        ids = [entry.get("id") if isinstance(entry, dict) else None for entry in value]
        read_so_far: list[_Entry] = []
        first_line: dict[str, int | None] = {}
        for entry, entry_span in zip(value, self.where.entries(span, key, ids), strict=True):
            item = read(entry, entry_span)
            if item.id in first_line:
                message = f"duplicate {kind}: '{item.id}' (first on line {first_line[item.id]})"
                self.fail(entry_span, ("id",), message)
            first_line[item.id] = self.where.line(entry_span, "id")
            read_so_far.append(item)
        return tuple(read_so_far)

    def model(self, entry: object, span: _Span, default_free_tier: RateLimits) -> CatalogModel:
        table = self.table(entry, span, (), _MODEL_REQUIRED, _MODEL_OPTIONAL, _label(entry, "model"))
        model_id = self.identifier(table, span, "model")
        what = f"model '{model_id}'"
        display_name = self.text(table, span, "display_name", what)
        input_price = self.token_price(table, span, "input_price_per_million", what)
        output_price = self.token_price(table, span, "output_price_per_million", what)
        paygo = self.limits(table["limits"], span, ("limits",), f"the PayGo limits of {what}", _MINUTE_KEYS)
        free_tier, at = default_free_tier, ("limits",)
        if "free_tier" in table:
            # A model overrides the default free tier window by window; the others keep the defaults.
            override = self.limits(table["free_tier"], span, ("free_tier",), f"the free tier of {what}", ())
            changed = {
                name: value for name in _KEY_OF_FIELD if (value := getattr(override, name)) is not None
            }
            free_tier, at = replace(default_free_tier, **changed), ("free_tier",)
        self.within(free_tier, paygo, span, at, f"the free tier of {what}")
        return CatalogModel(
            id=model_id,
            display_name=display_name,
            input_price_per_token=input_price,
            output_price_per_token=output_price,
            paygo_limits=paygo,
            free_tier_limits=free_tier,
            deprecation_date=self.deprecation_date(table, span, what),
            context_tokens=(
                self.positive_int(
                    table["context_tokens"], span, ("context_tokens",), f"context_tokens of {what}"
                )
                if "context_tokens" in table
                else None
            ),
            tiers=self.entries(
                table.get("tiers", []),
                span,
                "tiers",
                f"tier id in {what}",
                lambda entry, tier_span: self.tier(entry, tier_span, what, paygo),
            ),
        )

    def tier(self, entry: object, span: _Span, model: str, paygo: RateLimits) -> SubscriptionTier:
        table = self.table(entry, span, (), _TIER_REQUIRED, (), f"{_label(entry, 'tier')} of {model}")
        tier_id = self.identifier(table, span, "tier")
        what = f"tier '{tier_id}' of {model}"
        display_name = self.text(table, span, "display_name", what)
        price = self.dollars(table, span, "monthly_price", what, per=1, quantum=NANOS_PER_CENT)
        if price is None:
            self.fail(span, ("monthly_price",), f"monthly_price of {what} must be whole cents")
        limits = self.limits(table["limits"], span, ("limits",), f"the limits of {what}", _MINUTE_KEYS)
        self.within(limits, paygo, span, ("limits",), what)
        capacity = self.positive_int(table["capacity"], span, ("capacity",), f"capacity of {what}")
        return SubscriptionTier(
            id=tier_id, display_name=display_name, monthly_price=price, limits=limits, capacity=capacity
        )

    def table(
        self,
        table: object,
        span: _Span,
        keys: tuple[str, ...],
        required: Iterable[str],
        optional: Iterable[str],
        what: str,
    ) -> dict[str, Any]:
        """The table itself; refuses a non-table, an unknown key (a typo must not pass) or a missing one."""
        if not isinstance(table, dict):
            self.fail(span, keys, f"{what} must be a table, not {table!r}")
        known = [*required, *optional]
        for key in table:
            if key not in known:
                guess = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean '{guess[0]}'?" if guess else f"expected one of: {', '.join(known)}"
                self.fail(span, (*keys, key), f"unknown key '{key}' in {what}; {hint}")
        for key in required:
            if key not in table:
                self.fail(span, keys, f"{what} is missing the required key '{key}'")
        return table

    def identifier(self, entry: dict[str, Any], span: _Span, kind: str) -> str:
        value = entry["id"]
        if not isinstance(value, str) or not _ID.fullmatch(value):
            message = f"{kind} id {value!r} must be lowercase letters, digits, '.', '-' or '_'"
            self.fail(span, ("id",), message)
        return value

    def text(self, entry: dict[str, Any], span: _Span, key: str, what: str) -> str:
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(span, (key,), f"{key} of {what} must be a non-empty string")
        return value.strip()

    def limits(
        self, table: object, span: _Span, keys: tuple[str, ...], what: str, required: tuple[str, ...]
    ) -> RateLimits:
        optional = [key for key in LIMIT_KEYS if key not in required]
        checked = self.table(table, span, keys, required, optional, what)
        return RateLimits(
            **{
                LIMIT_KEYS[key]: self.positive_int(value, span, (*keys, key), f"{key} in {what}")
                for key, value in checked.items()
            }
        )

    def within(
        self, limits: RateLimits, paygo: RateLimits, span: _Span, keys: tuple[str, ...], what: str
    ) -> None:
        over = limits.exceeding(paygo)
        if over:
            figures = ", ".join(
                f"{_KEY_OF_FIELD[name]} {_figure(getattr(limits, name))} > {_figure(getattr(paygo, name))}"
                for name in over
            )
            self.fail(
                span, (*keys, _KEY_OF_FIELD[over[0]]), f"{what} must not exceed the PayGo limits: {figures}"
            )

    def positive_int(self, value: object, span: _Span, keys: tuple[str, ...], what: str) -> int:
        # bool is an int in Python: `rpm = true` must not read as 1.
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.fail(span, keys, f"{what} must be a positive whole number, not {value!r}")
        return value

    def token_price(self, entry: dict[str, Any], span: _Span, key: str, what: str) -> int:
        price = self.dollars(entry, span, key, what, per=TOKENS_PER_LISTED_PRICE, quantum=1)
        if price is None:
            message = f"{key} of {what} has more than 3 decimals: prices must be whole nano-dollars per token"
            self.fail(span, (key,), message)
        return price

    def dollars(
        self, entry: dict[str, Any], span: _Span, key: str, what: str, *, per: int, quantum: int
    ) -> int | None:
        """Nano-dollars per unit of a dollar price for `per` units; None unless a multiple of `quantum`."""
        value = entry[key]
        # A TOML float has already lost exactness (0.35 is not 0.35): prices must be strings.
        if not isinstance(value, str) or not _DOLLARS.fullmatch(value):
            self.fail(
                span,
                (key,),
                f'{key} of {what} must be a decimal string of dollars like "0.35", not {value!r}',
            )
        if value.startswith("-"):
            self.fail(span, (key,), f"{key} of {what} must not be negative, not {value!r}")
        numerator, denominator = Decimal(value).as_integer_ratio()
        nanos = numerator * NANOS_PER_UNIT
        if nanos % (denominator * per * quantum):
            return None
        return nanos // (denominator * per)

    def deprecation_date(self, entry: dict[str, Any], span: _Span, what: str) -> date | None:
        value = entry.get("deprecation_date")
        if value is None:
            return None
        # A TOML date-time parses as datetime, a subclass of date: the catalog speaks in whole days.
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(
            span,
            ("deprecation_date",),
            f"deprecation_date of {what} must be a date like 2026-05-27, not {value!r}",
        )


def _figure(limit: int | None) -> str:
    return "unlimited" if limit is None else f"{limit:,}"


def _label(entry: object, kind: str) -> str:
    # Name the entry by its id when it has one, so "missing key" errors say which entry.
    entry_id = entry.get("id") if isinstance(entry, dict) else None
    return f"{kind} {entry_id!r}" if isinstance(entry_id, str) else f"a {kind} without an id"
