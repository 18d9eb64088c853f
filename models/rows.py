"""Rows nobody reads in the transaction that adds them, written one statement per table.

Audit entries, button tokens and outbox messages are added by most chat updates and read by
none of them in the same transaction: a button cannot be pressed, nor a message sent, before
the commit. A vote's ballot and participation are read only when a batch's votes are counted,
and the count writes the rows held first (`write_rows`). Each write transaction
(`Store.write`) carries one `Rows`; `audit`, `button.issue`, `outgoing.enqueue` and the
ballot box add to it. Whoever owns the transaction writes them: the worker inside
its per-update failure handling, so that a row the database refuses fails its own update;
`Store.write` just before the commit for everyone else. Nothing writes them behind anyone's
back: there is no session hook.

A row may be added under a key: a newer row under the same key takes the older one's place
(the outbox keeps only the newest version of a message it keeps editing). A table may also
name, in `RETIRE`, what to do in the database with the rows its new rows replace; it runs in
the same transaction, just before the table's INSERT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import Base

_KEY = "linzhang.rows"

# A row, or a function that makes it when it is written (when the ids it names exist).
Row = dict[str, Any] | Callable[[], dict[str, Any]]
# Given a table's new rows, retire the stored rows they replace.
Retire = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]
# Set by a table's own module, for the tables whose rows can replace stored ones.
RETIRE: dict[type[Base], Retire] = {}


class Rows:
    """The rows a transaction will write, in the order they were added."""

    def __init__(self) -> None:
        self._rows: list[tuple[type[Base], Row]] = []
        # Where the row held under each key is.
        self._keyed: dict[tuple[type[Base], Hashable], int] = {}

    def add(self, model: type[Base], row: Row, key: Hashable | None = None) -> None:
        """Hold a row; under a key, in place of the row held under the same key, if any."""
        if key is not None:
            at = self._keyed.get((model, key))
            if at is not None:
                self._rows[at] = (model, row)
                return
            self._keyed[(model, key)] = len(self._rows)
        self._rows.append((model, row))

    def mark(self) -> int:
        """Where the rows added from now on begin."""
        return len(self._rows)

    def drop_since(self, mark: int) -> None:
        """Forget the rows added after a mark (their update failed)."""
        del self._rows[mark:]
        # Only the run update by update marks, and there each update writes its own rows: no
        # row it replaced was held before its mark.
        self._keyed = {k: at for k, at in self._keyed.items() if at < mark}

    async def write(self, session: AsyncSession) -> None:
        """Write every row held, table by table in the order added, and forget them."""
        if not self._rows:
            return
        await session.flush()  # the ids a row may name
        tables: dict[type[Base], list[dict[str, Any]]] = {}
        for model, row in self._rows:
            tables.setdefault(model, []).append(row() if callable(row) else row)
        self._rows.clear()
        self._keyed.clear()
        for model, values in tables.items():
            retire = RETIRE.get(model)
            if retire is not None:
                await retire(session, values)
            table = model.__table__
            assert isinstance(table, Table)
            # Core's executemany of the plain dicts: the ORM's bulk insert first sorts every
            # row into its mapper's columns, which cost more than the INSERT (the district's
            # Monday is 110,000 button tokens). Core takes the columns from a statement's first
            # row, so rows naming other columns go in a statement of their own, in order.
            for run in _runs(values):
                await session.execute(insert(table), run)


def _runs(values: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut rows into consecutive runs naming the same columns."""
    runs: list[list[dict[str, Any]]] = []
    keys: object = None
    for row in values:
        if row.keys() != keys:
            runs.append([])
            keys = row.keys()
        runs[-1].append(row)
    return runs


def open_rows(session: AsyncSession) -> Rows:
    """Give a write transaction its rows (Store.write does, for each it opens)."""
    rows = Rows()
    session.info[_KEY] = rows
    return rows


def rows_of(session: AsyncSession) -> Rows:
    """The rows of a session's write transaction."""
    rows = session.info.get(_KEY)
    if rows is None:
        raise RuntimeError("rows are written in a write transaction: open it with Store.write")
    return rows  # type: ignore[no-any-return]


async def write_rows(session: AsyncSession) -> None:
    """Write a write transaction's rows held so far, before a read that counts them; a read
    session has none."""
    rows = session.info.get(_KEY)
    if rows is not None:
        await rows.write(session)
