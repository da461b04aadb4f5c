"""Many rows written by one statement: the set-based writes of the usage group commit.

On PostgreSQL an executemany of N rows is N executions; here the rows travel as one JSON array of arrays
and the statement reads them with `jsonb_array_elements` (INSERT … SELECT, UPDATE … FROM): one execution,
one parameter (PostgreSQL takes at most 32,767), one plan. (An array per column and `unnest` measured
slower: asyncpg checks every element of an array in Python.) The JSON is written by msgspec, in C.

On SQLite, where a statement costs no round trip, the same statement reads one row of parameters and
runs as an executemany (sqlite3 loops in C; a JSON array unpacked by `json_each` measured six times
slower, and so did a one-row subquery per row). SQLAlchemy's executemany processed every row in Python
(a dict per row, each value through its type), which cost more than SQLite's own work: here the statement
is compiled once to SQL with positional parameters, the values alike in every row (a timestamp, an enum)
are converted once per execution, and the rows go to the driver as tuples, on the connection of the
session's transaction. They go to aiosqlite itself (`_on_driver`): through SQLAlchemy a statement is four
trips to aiosqlite's thread (open a cursor, execute, fetch, close), each waiting for a turn of an event loop
busy with requests; a small usage group spent more time in those trips than in SQLite. The engine's events
still see the statement (tracing, tests that count statements) and its errors are SQLAlchemy's. sqlite3
returns no rows from an executemany, so a statement with RETURNING lists its rows in one multi-row VALUES
instead. Values are ints, strings or None. A query the group runs (`read`) goes the same way, a list of
ids bound as one JSON value. Values are converted by the types' dialect implementations, as SQLAlchemy
converts them (`_bind_processor`).

A RowSet and the statements built on it hold no values, so they are built once (`functools.cache`) and
compiled once; `execute` runs one with its rows.
"""

from __future__ import annotations

import sqlite3
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

import msgspec
from sqlalchemy import BigInteger, Select, String, Table, bindparam, cast, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import TypeEngine

INT: TypeEngine[Any] = BigInteger()
TEXT: TypeEngine[Any] = String()
SQLITE_MAX_VARIABLES = 32766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32
_encode = msgspec.json.Encoder().encode


def is_sqlite(session: AsyncSession) -> bool:
    assert session.bind is not None
    return session.bind.dialect.name != "postgresql"


def json_list(items: Sequence[Any]) -> str:
    """Values as one JSON array: a list of any length bound as one value (`json_each` reads it on SQLite)."""
    return _encode(items).decode()


def dialect_insert(sqlite_dialect: bool, table: Any) -> Any:
    """An INSERT into `table` in the database's own dialect, the one that takes ON CONFLICT (upserts)."""
    return sqlite.insert(table) if sqlite_dialect else postgresql.insert(table)


@dataclass(frozen=True, slots=True)
class _Positional:
    """A statement compiled for SQLite: its SQL, and how its parameters are made of a row and the constants."""

    sql: str
    constants: list[tuple[str, Any]]  # (name, bind processor or None): the values the caller gives
    fixed: tuple[Any, ...]  # values of the statement itself (a literal, a column default), converted
    row: Any  # (*row, *constants, *fixed) -> the row's parameters (an itemgetter)
    tail: Any  # with RETURNING: (*row, *constants, *fixed) -> the parameters after the VALUES (none of the row's)
    values: str | None  # with RETURNING: the row's "(?, …)", repeated to list many rows in one VALUES
    returned: Any  # with RETURNING: a returned row -> its values converted as SQLAlchemy would


class RowSet:
    """Rows of `columns` (each a (name, INT or TEXT)) for one statement, which reads them as `c.<column>`."""

    def __init__(self, is_sqlite: bool, name: str, columns: Sequence[tuple[str, TypeEngine[Any]]]) -> None:
        self._sqlite = is_sqlite
        self._name = name
        self.names = [column_name for column_name, _ in columns]
        self._constants: list[str] | None = None  # set by `insert`
        self._compiled: dict[int, tuple[Any, _Positional]] = {}  # SQLite: by id(statement)
        if is_sqlite:  # the row's values themselves: an UPDATE by them needs no FROM (executemany)
            self.c: Any = SimpleNamespace(
                **{column: bindparam(f"{name}_{column}", type_=type_) for column, type_ in columns}
            )
        else:
            document = cast(bindparam(f"{name}_json", type_=TEXT), JSONB)
            each = func.jsonb_array_elements(document).table_valued("value")
            fields = (
                cast(each.c.value.op("->>")(index), type_).label(column)
                for index, (column, type_) in enumerate(columns)
            )
            self.source = select(*fields).select_from(each).subquery(name)
            self.c = self.source.c

    def insert(self, table: Table, constants: Sequence[str] = (), *, order_by: Sequence[str] = ()) -> Any:
        """An INSERT of the rows into `table`, with the columns `constants` alike in every row.

        On PostgreSQL the rows are read in the order `order_by`: an upsert locks its rows in the order
        it reads them, and writers that agree on one order never deadlock. Give it an ON CONFLICT or
        RETURNING as any INSERT; run it with `execute(session, statement, rows, constants={...})`.
        """
        self._constants = list(constants)
        if self._sqlite:  # plain VALUES, run as an executemany (or one VALUES of many rows)
            return sqlite.insert(table)
        extra = [bindparam(self.constant_name(name), type_=table.c[name].type) for name in constants]
        source: Select[Any] = (
            select(*self.source.c, *extra).where(true()).order_by(*(self.source.c[name] for name in order_by))
        )
        return postgresql.insert(table).from_select([*self.names, *constants], source)

    def document(self, rows: Sequence[Sequence[Any]]) -> dict[str, str]:
        """PostgreSQL: the one bound value that carries `rows` (the JSON array of arrays)."""
        return {f"{self._name}_json": _encode(rows).decode()}

    def constant_name(self, column: str) -> str:
        """PostgreSQL: the name of the bound value of `column`, a constant of an `insert`."""
        return f"{self._name}_{column}"

    async def execute(
        self,
        session: AsyncSession,
        statement: Any,
        rows: Sequence[Sequence[Any]],
        constants: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Run `statement` over `rows` (in the order of the columns) and any other values; the rows it returns.

        Nothing runs for no rows.
        """
        if not rows:
            return []
        constants = constants or {}
        if not self._sqlite:
            named = {
                (self.constant_name(name) if name in (self._constants or ()) else name): v
                for name, v in constants.items()
            }
            result = await session.execute(statement, {**self.document(rows), **named})
            return list(result.all()) if typing.cast("CursorResult[Any]", result).returns_rows else []
        connection = await session.connection()
        compiled = self._positional(statement, connection.dialect)
        given = (
            constants[name] if process is None else process(constants[name])
            for name, process in compiled.constants
        )
        extra = (*given, *compiled.fixed)
        parameters_of = compiled.row
        if compiled.values is None:
            await _on_driver(
                connection, compiled.sql, [parameters_of((*row, *extra)) for row in rows], many=True
            )
            return []
        tail = compiled.tail((None,) * len(self.names) + extra)
        chunk = (SQLITE_MAX_VARIABLES - len(tail)) // compiled.values.count("?")
        returned: list[Any] = []
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            sql = compiled.sql.replace(compiled.values, ", ".join([compiled.values] * len(part)), 1)
            parameters = [v for row in part for v in parameters_of((*row, *extra))]
            result = await _on_driver(connection, sql, (*parameters, *tail), many=False)
            returned += [compiled.returned(row) for row in result]
        return returned

    def _positional(self, statement: Any, dialect: Dialect) -> _Positional:
        """`statement` compiled for SQLite with positional parameters (once)."""
        known = self._compiled.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1]
        inserting = self._constants is not None
        names = [*self.names, *(self._constants or ())]
        compiled = statement.compile(dialect=dialect, column_keys=names if inserting else None)
        prefix = "" if inserting else f"{self._name}_"
        in_row = {prefix + name: index for index, name in enumerate(self.names)}
        defaults = {column.key: column.default for column in compiled.insert_prefetch} if inserting else {}
        constants: dict[str, Any] = {}  # name -> bind processor
        fixed: dict[str, Any] = {}  # name -> converted value
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            process = _bind_processor(bind, dialect)
            if name in in_row:
                assert process is None, f"{name}: the values of a row are ints, strings or None"
            elif name in (self._constants or ()) or (
                not inserting and bind.value is None and bind.callable is None
            ):
                constants[name] = process  # given by the caller
            else:
                default = defaults.get(name)
                if default is not None:
                    assert default.is_scalar, f"{name}: a default computed per row is not supported"
                value = default.arg if default is not None else bind.effective_value
                fixed[name] = value if process is None else process(value)
        at = {name: len(self.names) + i for i, name in enumerate([*constants, *fixed])}
        indices = [in_row[name] if name in in_row else at[name] for name in compiled.positiontup]
        sql, values, tail, returned = compiled.string, None, None, None
        if compiled.effective_returning:  # sqlite3 returns no rows from an executemany: one VALUES of many
            opening = sql.index(" VALUES (") + len(" VALUES ")
            values = sql[opening : sql.index(")", opening) + 1]
            assert set(values) <= set("(?, )"), sql
            count = values.count("?")
            assert all(index >= len(self.names) for index in indices[count:]), sql
            tail = _getter(indices[count:])
            indices = indices[:count]
            returned = _converter(compiled.effective_returning, dialect)
        positional = _Positional(
            sql, list(constants.items()), tuple(fixed.values()), _getter(indices), tail, values, returned
        )
        self._compiled[id(statement)] = (statement, positional)
        return positional


@dataclass(frozen=True, slots=True)
class _Read:
    """A query compiled for SQLite: its SQL, its parameters (a name given by the caller, else a value of the
    query's own) with their bind processors, and its rows' converter."""

    sql: str
    parameters: list[tuple[str | None, Any, Any]]  # (name or None, bind processor, the query's own value)
    returned: Any


_reads: dict[int, tuple[Any, _Read]] = {}  # by id(query), as RowSet's statements


async def read(session: AsyncSession, query: Any, parameters: Mapping[str, Any]) -> list[Any]:
    """SQLite: the rows of a query built once, read on the driver in one trip (see `_on_driver`).

    The query's parameters without a value are given by name; none is an expanding IN: a list travels as one
    JSON value (`json_list`, read by `json_each`), so the SQL is the same whatever the number of items.
    """
    connection = await session.connection()
    known = _reads.get(id(query))
    if known is None or known[0] is not query:
        known = _reads[id(query)] = (query, _compile_read(query, connection.dialect))
    compiled = known[1]
    values = [
        value if name is None else parameters[name] if process is None else process(parameters[name])
        for name, process, value in compiled.parameters
    ]
    rows = await _on_driver(connection, compiled.sql, values, many=False)
    return [compiled.returned(row) for row in rows]


def _compile_read(query: Any, dialect: Dialect) -> _Read:
    compiled = query.compile(dialect=dialect)
    parameters = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        process = _bind_processor(bind, dialect)
        if bind.value is None and bind.callable is None:  # the caller's
            parameters.append((name, process, None))
        else:
            value = bind.effective_value
            parameters.append((None, None, value if process is None else process(value)))
    return _Read(compiled.string, parameters, _converter(query.selected_columns, dialect))


async def _on_driver(connection: AsyncConnection, sql: str, parameters: Any, *, many: bool) -> Any:
    """Run SQL on aiosqlite's connection in one trip to its thread; the rows it returns (none when `many`).

    The engine's cursor events are dispatched around it as for any statement, and a driver's error is
    raised as SQLAlchemy's (an IntegrityError is one), so callers and listeners cannot tell the difference.
    """
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    sync = connection.sync_connection
    assert sync is not None
    context = SimpleNamespace()  # what a listener keeps between the two events (a tracing span)
    events = sync.dispatch
    if events.before_cursor_execute:
        events.before_cursor_execute(sync, None, sql, parameters, context, many)
    try:
        rows = await (
            driver.executemany(sql, parameters) if many else driver.execute_fetchall(sql, parameters)
        )
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, parameters, exc, sqlite3.Error, ismulti=many) from exc
    finally:
        if events.after_cursor_execute:
            events.after_cursor_execute(sync, None, sql, parameters, context, many)
    return None if many else rows


def _getter(indices: list[int]) -> Any:
    """A function of a tuple that returns the tuple of its items at `indices`."""
    if len(indices) == 1:
        index = indices[0]
        return lambda values: (values[index],)
    return itemgetter(*indices) if indices else (lambda _values: ())


def _bind_processor(bind: Any, dialect: Dialect) -> Any:
    """How SQLAlchemy converts a value bound to `bind` for this dialect (None: as it is).

    The dialect's implementation of the type: a TypeDecorator's own processor alone would leave a
    datetime to sqlite3's adapter, which writes a whole second without its '.000000'.
    """
    return bind.type.dialect_impl(dialect).bind_processor(dialect)


def _converter(columns: Sequence[Any], dialect: Dialect) -> Any:
    """A function of a returned row that converts its values as SQLAlchemy would, by the columns' types."""
    processors = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
    if not any(processors):
        return tuple
    pairs = list(enumerate(processors))
    return lambda row: tuple(row[i] if p is None else p(row[i]) for i, p in pairs)
