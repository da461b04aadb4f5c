"""Many rows written by one statement: the set-based writes of the usage group commit.

On PostgreSQL an executemany of N rows is N executions; here the rows travel as one JSON array of arrays
and the statement reads them with `jsonb_array_elements` (INSERT … SELECT, UPDATE … FROM): one execution,
one parameter (PostgreSQL takes at most 32,767), one plan. (An array per column and `unnest` measured
slower: asyncpg checks every element of an array in Python.) On SQLite, where a statement costs no round
trip, the same statement reads one row of parameters and runs as an executemany (sqlite3 loops in C; a
JSON array unpacked by `json_each` measured six times slower, and so did a one-row subquery per row). Values are ints, strings or None.

A RowSet and the statements built on it hold no values, so they are built once (`functools.cache`) and
compiled once; `parameters` gives each execution its rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, Select, String, Table, bindparam, cast, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

INT: TypeEngine[Any] = BigInteger()
TEXT: TypeEngine[Any] = String()


def is_sqlite(session: AsyncSession) -> bool:
    assert session.bind is not None
    return session.bind.dialect.name != "postgresql"


def dialect_insert(sqlite_dialect: bool, table: Any) -> Any:
    """An INSERT into `table` in the database's own dialect, the one that takes ON CONFLICT (upserts)."""
    return sqlite.insert(table) if sqlite_dialect else postgresql.insert(table)


class RowSet:
    """Rows of `columns` (each a (name, INT or TEXT)) for one statement, which reads them as `c.<column>`."""

    def __init__(self, is_sqlite: bool, name: str, columns: Sequence[tuple[str, TypeEngine[Any]]]) -> None:
        self._sqlite = is_sqlite
        self._name = name
        self.names = [column_name for column_name, _ in columns]
        self._constants: list[str] | None = None  # set by `insert`
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
        RETURNING as any INSERT; run it with `parameters(rows, constants={...})`.
        """
        self._constants = list(constants)
        if self._sqlite:  # plain VALUES: SQLAlchemy batches it (with RETURNING too)
            return sqlite.insert(table)
        extra = [bindparam(f"{self._name}_{name}", type_=table.c[name].type) for name in constants]
        source: Select[Any] = (
            select(*self.source.c, *extra).where(true()).order_by(*(self.source.c[name] for name in order_by))
        )
        return postgresql.insert(table).from_select([*self.names, *constants], source)

    def parameters(
        self, rows: Sequence[Sequence[Any]], constants: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """What the statement runs with: `rows` (tuples in the order of the columns) and any other values."""
        constants = constants or {}
        if not self._sqlite:
            prefix = f"{self._name}_" if self._constants is not None else ""
            named = {
                (prefix + name if name in (self._constants or ()) else name): v
                for name, v in constants.items()
            }
            return {f"{self._name}_json": json.dumps(rows), **named}
        if self._constants is not None:
            return [{**dict(zip(self.names, row, strict=True)), **constants} for row in rows]
        prefix = f"{self._name}_"
        return [
            {**{prefix + name: value for name, value in zip(self.names, row, strict=True)}, **constants}
            for row in rows
        ]
