"""Flush a session's changes only before a statement that touches a table they change.

SQLAlchemy's autoflush writes every pending change before every query. The worker handles a
batch of updates in one transaction, and most of what one update writes (a new resident, a
finished conversation) is not read by the updates after it: flushed before their first query,
it costs a flush per update. In a session given `flush_when_touched`, changes wait until a
statement reads or writes one of their tables (or a statement whose tables are not known runs,
or the session commits), so a batch's rows for one table go in one statement. Statements run
on the session's connection itself bypass this and see no unflushed change; the handlers never
do that.
"""

from __future__ import annotations

import weakref
from typing import Any, cast

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import ClauseElement, Executable, FromClause
from sqlalchemy.sql.util import find_tables

_LAZY = "linzhang.pending.lazy"
_NEW = "linzhang.pending.new"


def flush_when_touched(session: AsyncSession) -> None:
    """Flush this session's changes only when a statement touches what they change."""
    session.sync_session.autoflush = False
    session.info[_LAZY] = True


def changed_tables(session: Session | AsyncSession) -> set[FromClause]:
    """The tables this session has changes for that are not yet flushed."""
    return new_row_tables(session) | altered_tables(session)


def new_row_tables(session: Session | AsyncSession) -> set[FromClause]:
    """The tables this session has new rows for, not yet flushed."""
    # Counted as objects are added: a batch can hold hundreds of them.
    return set(session.info.get(_NEW, ()))


def altered_tables(session: Session | AsyncSession) -> set[FromClause]:
    """The tables of rows this session has changed or deleted, not yet flushed."""
    tables: set[FromClause] = set()
    for instance in (*session.dirty, *session.deleted):
        tables.update(inspect(instance).mapper.tables)
    return tables


_TOUCHED: weakref.WeakKeyDictionary[ClauseElement, frozenset[FromClause]] = (
    weakref.WeakKeyDictionary()
)


def _touched(statement: Executable) -> frozenset[FromClause]:
    # Statements built once are searched once; an empty answer means "not known".
    clause = cast(ClauseElement, statement)
    if (tables := _TOUCHED.get(clause)) is None:
        found = find_tables(clause, check_columns=True, include_crud=True)
        tables = _TOUCHED[clause] = frozenset(found)
    return tables


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    session = state.session
    if not session.info.get(_LAZY):
        return
    changed = changed_tables(session)
    if not changed:
        return
    touched = _touched(state.statement)
    if not touched or not touched.isdisjoint(changed):
        session.flush()


@event.listens_for(Session, "transient_to_pending")
def _added(session: Session, instance: Any) -> None:
    session.info.setdefault(_NEW, set()).update(inspect(instance).mapper.tables)


@event.listens_for(Session, "after_flush_postexec")
def _flushed(session: Session, _context: Any) -> None:
    session.info.pop(_NEW, None)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_NEW, None)
