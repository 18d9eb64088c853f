"""The outbox: every message the bot sends, written with the change that caused it."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    cast,
    exists,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.rows import RETIRE

PENDING = "sent_at IS NULL AND failed_at IS NULL AND superseded_at IS NULL"
# The answer to a button press: a notice over the chat, not a message in it.
CALLBACK_ANSWER = "answerCallbackQuery"
# Written out, not a parameter: SQLite uses a partial index only for a query it can prove
# stays inside the index's condition.
WAITING_ANSWERS = f"{PENDING} AND method = '{CALLBACK_ANSWER}'"


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index(
            "ix_outbox_message_pending",
            "chat_id",
            "id",
            sqlite_where=text(PENDING),
            postgresql_where=text(PENDING),
        ),
        # Answers wait apart: on election day thousands may wait while the sender reads
        # the first few hundred every round.
        Index(
            "ix_outbox_message_answers",
            "id",
            sqlite_where=text(WAITING_ANSWERS),
            postgresql_where=text(WAITING_ANSWERS),
        ),
        Index(
            "ix_outbox_message_edit_key",
            "chat_id",
            "edit_key",
            "id",
            sqlite_where=text("edit_key IS NOT NULL"),
            postgresql_where=text("edit_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # A group chat has its own, stricter rate limit.
    is_group: Mapped[bool] = mapped_column(default=False)
    # Bot API method and its parameters, as neutral data: sendMessage, editMessageText, ...
    method: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The user whose action caused it, for immediate answers; None for notices.
    cause_user_id: Mapped[int | None] = mapped_column(BigInteger)
    # The answer to a person's own action, in the chat they acted in: sent before any push.
    urgent: Mapped[bool] = mapped_column(default=False)
    # A message the bot keeps editing (a turnout counter, a sign-up list): the first with a
    # key is sent, later ones edit it, and of several waiting only the newest goes out.
    edit_key: Mapped[str | None] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Sends whose answer never came within the deadline: they may have been delivered.
    unknown_outcomes: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A newer edit of the same message went out instead.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(200))
    # Its words are nobody's business once delivered (a ballot's receipt): the params are
    # blanked when it is marked sent. Until then the row exists, as any message waiting.
    secret: Mapped[bool] = mapped_column(default=False)


@dataclass(frozen=True)
class Due:
    """What the sender needs of a pending message: plain values, not a loaded row."""

    id: int
    chat_id: int
    is_group: bool
    method: str
    # The parameters as stored, decoded only for the call that goes out: the sender reads up
    # to two hundred waiting messages a round and starts a few (a visit list's are 1 KB).
    stored_params: str
    cause_user_id: int | None
    attempts: int
    urgent: bool = False
    edit_key: str | None = None
    unknown_outcomes: int = 0
    secret: bool = False

    @cached_property
    def params(self) -> dict[str, Any]:
        """The call's parameters."""
        found: dict[str, Any] = json.loads(self.stored_params)
        return found


async def next_per_chat(
    session: AsyncSession,
    limit: int,
    now: datetime,
    sent: Collection[int] = (),
    flying: Collection[int] = (),
    *,
    pushes: bool = True,
) -> list[Due]:
    """Return the waiting answers to presses, then (unless `pushes` is False) the oldest
    pending message of each chat that is due (a person's own answers first), up to `limit` of
    each.

    Only a chat's oldest pending message is eligible, so order within a chat is kept even
    while an earlier message waits out a retry. The answer to a button press is not a message
    in the chat: it never waits behind one (a group's messages wait a minute for twenty).
    `sent` names messages sent whose marks have not reached the database: they count as gone.
    `flying` names messages being sent: their chats have nothing eligible until they land.
    """
    # Never empty: SQLite plans an empty NOT IN (a subquery SQLAlchemy writes) far worse.
    params = {
        "now": now,
        "limit": limit,
        "sent": sorted(sent) or [0],
        "skip": sorted({*sent, *flying}) or [0],
    }
    answers = [Due(*row) for row in await session.execute(_NEXT_ANSWERS, params)]
    if not pushes:
        return answers
    firsts = [
        Due(*row) for row in await session.execute(_NEXT_PER_CHAT, {**params, "urgent": True})
    ]
    if len(firsts) < limit:
        rest = {**params, "urgent": False, "limit": limit - len(firsts)}
        firsts += [Due(*row) for row in await session.execute(_NEXT_PER_CHAT, rest)]
    # Answers first, each list up to the limit: a group's result, urgent to the voter who
    # closed it, waits out the group's limit; sorted with the answers, a few hundred such
    # pushes filled the list and the answers behind them were not read at all.
    return answers + firsts


_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.chat_id,
    OutboxMessage.is_group,
    OutboxMessage.method,
    # As the database holds it: decoded by `Due.params` for the few that are sent.
    cast(OutboxMessage.params, Text),
    OutboxMessage.cause_user_id,
    OutboxMessage.attempts,
    OutboxMessage.urgent,
    OutboxMessage.edit_key,
    OutboxMessage.unknown_outcomes,
    OutboxMessage.secret,
)


def _pending(model: Any) -> Any:
    return model.sent_at.is_(None) & model.failed_at.is_(None) & model.superseded_at.is_(None)


# Built once: the sender asks every round. Answers, through their own index, and each chat's
# first message: read apart, neither has to sort the other's backlog.
_NEXT_ANSWERS = (
    select(*_COLUMNS)
    .where(
        text(WAITING_ANSWERS),
        OutboxMessage.id.not_in(bindparam("skip", expanding=True)),
        (OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= bindparam("now")),
    )
    .order_by(OutboxMessage.id)
    .limit(bindparam("limit"))
)
_older = aliased(OutboxMessage)
_lowest = aliased(OutboxMessage)
# Each chat's first message, urgent ones or the others, read in the order they were written
# from the oldest waiting one on: the read stops at the limit. Grouping every waiting message
# by chat to find each chat's first cost a few milliseconds for every thousand waiting, and
# the sender reads several times a second.
_NEXT_PER_CHAT = (
    select(*_COLUMNS)
    .where(
        # `id + 0`: SQLite then finds the oldest in the waiting messages' index instead of
        # walking every message ever sent up to it.
        OutboxMessage.id
        >= select(func.min(_lowest.id + 0)).where(_pending(_lowest)).scalar_subquery(),
        _pending(OutboxMessage),
        OutboxMessage.method != CALLBACK_ANSWER,
        OutboxMessage.urgent == bindparam("urgent"),
        OutboxMessage.id.not_in(bindparam("skip", expanding=True)),
        (OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= bindparam("now")),
        ~exists().where(
            _older.chat_id == OutboxMessage.chat_id,
            _pending(_older),
            _older.id < OutboxMessage.id,
            _older.method != CALLBACK_ANSWER,
            _older.id.not_in(bindparam("sent", expanding=True)),
        ),
    )
    .order_by(OutboxMessage.id)
    .limit(bindparam("limit"))
)


async def supersede_waiting(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Mark as superseded the waiting versions of the messages that new rows edit anew.

    Of a message the bot keeps editing at most one version waits, the newest: a group's
    turnout edits wait under its limit (twenty a minute), and piled up they would be read by
    every round of the sender. A version already in the sender's hands is still sent and
    recorded (its message id is what later versions edit); the new one waits for it.
    """
    keys = sorted({(r["chat_id"], r["edit_key"]) for r in rows if r.get("edit_key") is not None})
    if not keys:
        return
    params = {
        "now": utcnow(),
        "keys": keys,
        "chats": sorted({chat for chat, _ in keys}),
        "edit_keys": sorted({key for _, key in keys}),
    }
    await session.execute(_SUPERSEDE_WAITING, params, execution_options=_NO_SYNC)


_NO_SYNC = {"synchronize_session": False}
_SUPERSEDE_WAITING = (
    update(OutboxMessage)
    .where(
        _pending(OutboxMessage),
        OutboxMessage.edit_key.is_not(None),
        OutboxMessage.method != CALLBACK_ANSWER,
        # The two lists let SQLite search the edit keys' index; alone, the pairs make it scan
        # every waiting message.
        OutboxMessage.chat_id.in_(bindparam("chats", expanding=True)),
        OutboxMessage.edit_key.in_(bindparam("edit_keys", expanding=True)),
        tuple_(OutboxMessage.chat_id, OutboxMessage.edit_key).in_(
            bindparam("keys", expanding=True)
        ),
    )
    .values(superseded_at=bindparam("now"))
)
RETIRE[OutboxMessage] = supersede_waiting


async def forget_secrets(session: AsyncSession, ids: Collection[int]) -> None:
    """Blank the words of secret messages just marked sent."""
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sorted(ids)), OutboxMessage.secret.is_(True))
            .values(params={})
        )


async def newest_edit(session: AsyncSession, message: Due) -> Due:
    """The newest waiting version of a message the bot keeps editing (itself if none newer)."""
    found = (
        await session.execute(
            select(*_COLUMNS)
            .where(
                _pending(OutboxMessage),
                OutboxMessage.chat_id == message.chat_id,
                OutboxMessage.edit_key == message.edit_key,
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    ).first()
    return Due(*found) if found is not None else message


async def supersede(session: AsyncSession, newest: Due, now: datetime) -> int:
    """Mark the older waiting versions of an edited message as gone out in the newest."""
    done = await session.execute(
        update(OutboxMessage)
        .where(
            _pending(OutboxMessage),
            OutboxMessage.chat_id == newest.chat_id,
            OutboxMessage.edit_key == newest.edit_key,
            OutboxMessage.id < newest.id,
        )
        .values(superseded_at=now)
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def sent_message_id(session: AsyncSession, chat_id: int, edit_key: str) -> int | None:
    """The message an edit key names in a chat: the one its first send created."""
    return await session.scalar(
        select(OutboxMessage.message_id)
        .where(
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.edit_key == edit_key,
            OutboxMessage.message_id.is_not(None),
        )
        .order_by(OutboxMessage.id)
        .limit(1)
    )


async def fail_chat(
    session: AsyncSession, chat_id: int, error: str, now: datetime
) -> list[int | None]:
    """Mark every waiting message to a chat as failed for good; return who caused each."""
    done = await session.execute(
        update(OutboxMessage)
        .where(_pending(OutboxMessage), OutboxMessage.chat_id == chat_id)
        .values(failed_at=now, error=error[:200])
        .returning(OutboxMessage.cause_user_id)
    )
    return [cause for (cause,) in done]


async def undelivered(session: AsyncSession) -> int:
    """How many messages wait to be sent (sends still in the journal count)."""
    query = select(func.count()).select_from(OutboxMessage).where(_pending(OutboxMessage))
    return int(await session.scalar(query) or 0)


async def backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many messages wait to be sent, and when the oldest of them was written."""
    query = select(func.count(), func.min(OutboxMessage.created_at)).where(_pending(OutboxMessage))
    count, oldest = (await session.execute(query)).one()
    return int(count), oldest
