"""Rows nobody reads in the transaction that adds them, written together just before it commits.

Audit entries and new button tokens are written often (most presses and questions add some)
and never read back by the transaction that adds them: a button cannot be pressed before the
message carrying it is sent, which is after the commit. Written one flush at a time they cost a
flush each; here the worker's whole batch of them becomes one statement per table. A row is
made when it is written, so it can name rows of the same transaction that only get their id
when flushed. Rows added inside a savepoint that is rolled back are dropped with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from models.base import Base

_ROWS = "linzhang.later"
_MARKS = "linzhang.later.marks"

Row = Callable[[], dict[str, Any]]


def add_later(session: AsyncSession | Session, model: type[Base], row: Row) -> None:
    """Write a row of `model` when the transaction under way commits; `row` makes it then."""
    session.info.setdefault(_ROWS, []).append((model, row))


@event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its rows stay for the transaction's own commit
    rows: list[tuple[type[Base], Row]] = session.info.pop(_ROWS, [])
    if not rows:
        return
    session.flush()  # the ids the rows may name
    tables: dict[type[Base], list[dict[str, Any]]] = {}
    for model, row in rows:
        tables.setdefault(model, []).append(row())
    for model, values in tables.items():
        session.execute(insert(model), values)


@event.listens_for(Session, "after_transaction_create")
def _began(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_MARKS, {})
        marks[id(transaction)] = len(session.info.get(_ROWS, ()))


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:
        session.info.pop(_ROWS, None)
        session.info.pop(_MARKS, None)
        return
    mark = session.info.get(_MARKS, {}).pop(id(previous), None)
    if mark is not None and _ROWS in session.info:
        del session.info[_ROWS][mark:]
