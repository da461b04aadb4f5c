"""Many rows written by one statement: the set-based writes of the usage group commit.

On PostgreSQL an executemany of N rows is N executions; here the rows travel as one JSON array of arrays
and the statement reads them with `jsonb_array_elements` (INSERT … SELECT, UPDATE … FROM): one execution,
one parameter (PostgreSQL takes at most 32,767), one plan. (An array per column and `unnest` measured
slower: asyncpg checks every element of an array in Python.) On SQLite, where a statement costs no round trip,
the same statement reads one row of parameters and runs as an executemany (sqlite3 loops in C; a JSON
array unpacked by `json_each` measured six times slower). Values are ints, strings or None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    FromClause,
    Select,
    String,
    Table,
    bindparam,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

INT: TypeEngine[Any] = BigInteger()
TEXT: TypeEngine[Any] = String()


def is_sqlite(session: AsyncSession) -> bool:
    assert session.bind is not None
    return session.bind.dialect.name != "postgresql"


class RowSet:
    """`rows` (tuples in the order of `columns`, each a (name, INT or TEXT)) as the FROM clause `source`."""

    def __init__(
        self,
        session: AsyncSession,
        name: str,
        columns: Sequence[tuple[str, TypeEngine[Any]]],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        self._session = session
        self._sqlite = is_sqlite(session)
        self.names = [column_name for column_name, _ in columns]
        self._rows = rows
        if self._sqlite:
            binds = (bindparam(f"{name}_{column_name}", type_=type_) for column_name, type_ in columns)
            self.source: FromClause = select(
                *(bind.label(column_name) for bind, column_name in zip(binds, self.names, strict=True))
            ).subquery(name)
        else:
            document = cast(bindparam(f"{name}_json", json.dumps(rows), type_=TEXT), JSONB)
            each = func.jsonb_array_elements(document).table_valued("value")
            fields = (
                cast(each.c.value.op("->>")(index), type_).label(column_name)
                for index, (column_name, type_) in enumerate(columns)
            )
            self.source = select(*fields).select_from(each).subquery(name)
        self._name = name
        self._constants: dict[str, Any] | None = None  # set by `insert`

    @property
    def c(self) -> Any:
        return self.source.c

    def insert(self, table: Table, constants: Mapping[str, Any], *, order_by: Sequence[str] = ()) -> Any:
        """An INSERT of the rows into `table`, each with `constants` too, in the order `order_by` (PostgreSQL).

        Give it an ON CONFLICT or RETURNING as any INSERT, and run it with `execute`. An upsert locks
        its rows in the order it reads them: writers that agree on one order never deadlock.
        """
        insert = sqlite.insert if self._sqlite else postgresql.insert
        if self._sqlite:  # plain VALUES: SQLAlchemy batches it (with RETURNING too)
            self._constants = dict(constants)
            return insert(table)
        extra = [
            bindparam(f"{self._name}_{name}", value, type_=table.c[name].type)
            for name, value in constants.items()
        ]
        source: Select[Any] = (
            select(*self.source.c, *extra).where(true()).order_by(*(self.source.c[name] for name in order_by))
        )
        return insert(table).from_select([*self.names, *constants], source)

    def parameters(self) -> list[dict[str, Any]] | None:
        """What `statement` runs with: one parameter set per row on SQLite, none on PostgreSQL."""
        if not self._sqlite:
            return None
        if self._constants is not None:
            return [{**dict(zip(self.names, row, strict=True)), **self._constants} for row in self._rows]
        prefix = f"{self._name}_"
        return [
            {prefix + name: value for name, value in zip(self.names, row, strict=True)} for row in self._rows
        ]

    async def execute(self, statement: Any, **options: Any) -> Any:
        """Run `statement` (built on `source`, or from `insert`) over the rows."""
        if options:
            return await self._session.execute(statement, self.parameters(), execution_options=options)
        return await self._session.execute(statement, self.parameters())
