"""What a transaction has already looked up, so a batch of updates asks the database once.

The worker handles a batch of updates in one transaction and nearly every update looks up its
sender (for their language) and their conversation. `load` fetches those rows for the whole
batch in one statement; `find` then answers from what was loaded, including "there is no such
row", which the session's identity map cannot remember. An object added to the session is
found by its key at once, a row removed with `delete` is gone at once, and an INSERT or UPSERT,
a bulk DELETE or a rollback to a savepoint makes the rows of that table be asked for again.

`remember` keeps the answer of a query (a building's name, a group's head, someone's roles) for
the rest of the transaction, and forgets it as soon as a row of a table it was read from
changes; `seed` gives the answers for a whole batch read in one statement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import bindparam, event, inspect, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import Select

from models.base import Base
from models.pending import altered_tables, new_row_tables

T = TypeVar("T", bound=Base)
V = TypeVar("V")

_KEY = "linzhang.known"
_ANSWERS = "linzhang.answers"
# What was found is held here too: the session forgets an object nothing refers to.
Known = dict[tuple[type[Base], Any], Base | None]


async def find(session: AsyncSession, model: type[T], key: Any) -> T | None:
    """Return the row with this primary key, asking the database only if nobody has yet."""
    known: Known = session.info.setdefault(_KEY, {})
    entry = (model, key)
    if entry in known:
        found = known[entry]
        if found is None:
            return None
        state = inspect(found)
        # Added, or loaded and still live here. (Deleted through `delete` it is None above.)
        if (state.pending or state.persistent) and state.session is session.sync_session:
            return found  # type: ignore[return-value]
    found = await session.get(model, key)
    known[entry] = found
    return found


async def delete(session: AsyncSession, row: Base) -> None:
    """Delete a row; `find` knows at once that it is gone.

    Until the deletion is flushed the session would still hand the row out by its key, and
    an object added with the same key is written as an update of it (SQLAlchemy's row switch).
    """
    await session.delete(row)
    session.info.setdefault(_KEY, {})[(type(row), _key_of(row))] = None


def _key_of(row: Any) -> Any:
    """The row's primary key, None while the database has yet to give it one."""
    identity = inspect(type(row)).primary_key_from_instance(row)
    if None in identity:
        return None
    return identity[0] if len(identity) == 1 else tuple(identity)


async def load(session: AsyncSession, model: type[Base], keys: Iterable[Any]) -> None:
    """Look up many rows by primary key in one statement; remember which do not exist."""
    known: Known = session.info.setdefault(_KEY, {})
    wanted = {key for key in keys if (model, key) not in known}
    if not wanted:
        return
    for row in await session.scalars(_by_keys(model), {"keys": list(wanted)}):
        key = _key_of(row)
        known[(model, key)] = row
        wanted.discard(key)
    known.update({(model, key): None for key in wanted})


async def remember(
    session: AsyncSession,
    key: tuple[Any, ...],
    tables: tuple[type[Base], ...],
    ask: Callable[[], Awaitable[V]],
    *,
    grows: tuple[type[Base], ...] = (),
) -> V:
    """Return the answer already given to this question in this transaction, else ask.

    The answer is forgotten when a row of `tables` changes, is deleted or is added; for
    `grows`, only changes and deletions count, because a new row cannot change the answer.
    """
    answers: dict[tuple[Any, ...], _Answer] = session.info.setdefault(_ANSWERS, {})
    found = answers.get(key)
    if found is not None and not found.stale(new_row_tables(session), altered_tables(session)):
        return found.value  # type: ignore[no-any-return]
    value = await ask()
    seed(session, tables, {key: value}, grows=grows)
    return value


async def rows_of(
    session: AsyncSession, model: type[T], query: Select[Any], user_id: int
) -> list[T]:
    """The rows of `model` that `query` finds for one person (its `users` parameter), asked
    once per transaction, or read for a whole batch by `prefetch_rows_of`."""

    async def ask() -> list[T]:
        return list((await session.scalars(query, {"users": [user_id]})).all())

    return await remember(session, (query, user_id), (model,), ask)


async def prefetch_rows_of(
    session: AsyncSession, model: type[Base], query: Select[Any], user_ids: Collection[int]
) -> None:
    """Read what `rows_of` would find for many people, in one statement."""
    found: dict[tuple[Any, ...], list[Any]] = {(query, user): [] for user in user_ids}
    if not found:
        return
    for row in await session.scalars(query, {"users": sorted(user_ids)}):
        found[(query, row.user_id)].append(row)
    seed(session, (model,), found)


def seed(
    session: AsyncSession,
    tables: tuple[type[Base], ...],
    answers: dict[tuple[Any, ...], Any],
    *,
    grows: tuple[type[Base], ...] = (),
) -> None:
    """Give the answers to many questions at once (a batch's, read in one statement)."""
    new_rows_change = frozenset(model.__table__ for model in tables if model not in grows)
    changes_change = frozenset(model.__table__ for model in tables)
    kept: dict[tuple[Any, ...], _Answer] = session.info.setdefault(_ANSWERS, {})
    for key, value in answers.items():
        kept[key] = _Answer(new_rows_change, changes_change, value)


@dataclass(frozen=True)
class _Answer:
    new_rows_change: frozenset[Any]
    changes_change: frozenset[Any]
    value: Any

    def stale(self, new: set[Any], altered: set[Any]) -> bool:
        return not (
            self.new_rows_change.isdisjoint(new) and self.changes_change.isdisjoint(altered)
        )


def _forget(session: Session, new: set[Any], altered: set[Any]) -> None:
    answers: dict[tuple[Any, ...], _Answer] | None = session.info.get(_ANSWERS)
    if answers:
        for key in [k for k, answer in answers.items() if answer.stale(new, altered)]:
            del answers[key]


_STATEMENTS: dict[type[Base], Select[Any]] = {}


def _by_keys(model: type[Base]) -> Select[Any]:
    # Built once per model: building a statement costs about as much as running it.
    if model not in _STATEMENTS:
        columns = inspect(model).primary_key
        key = columns[0] if len(columns) == 1 else tuple_(*columns)
        _STATEMENTS[model] = select(model).where(key.in_(bindparam("keys", expanding=True)))
    return _STATEMENTS[model]


@event.listens_for(Session, "transient_to_pending")
def _added(session: Session, instance: Any) -> None:
    known: Known | None = session.info.get(_KEY)
    key = _key_of(instance)
    if known is not None and key is not None:
        # Found by its key from now on, though not yet written.
        known[(type(instance), key)] = instance


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_select or state.bind_mapper is None:
        return
    model = state.bind_mapper.class_
    tables = set(state.bind_mapper.tables)
    _forget(
        state.session, tables if state.is_insert else set(), set() if state.is_insert else tables
    )
    known: Known | None = state.session.info.get(_KEY)
    if known and (state.is_insert or state.is_delete):
        # New rows may now exist, or loaded ones be gone: ask for this table's rows again.
        for entry in [entry for entry in known if entry[0] is model]:
            del known[entry]


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    if session.info.get(_ANSWERS):
        new = {table for o in session.new for table in inspect(o).mapper.tables}
        altered = {
            table
            for o in chain(session.dirty, session.deleted)
            for table in inspect(o).mapper.tables
        }
        _forget(session, new, altered)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_ANSWERS, None)
