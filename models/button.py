"""Buttons carry a short opaque token; what it means, and for whom, stays on the server."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, String, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.rows import rows_of

# Issued to this "user", a button may be pressed by anyone in its chat, again and again
# (a group's "me too"); what it does must then be safe for anyone there to do.
ANYONE = 0
# Begins the token of a button anyone may press (no token_urlsafe character): such a press is
# read, never spent, so it is told apart before any write. Older tokens without it still work.
SHARED = "."
TOKEN_BYTES = 12  # 16 url-safe characters, 96 bits: not guessable, well under Telegram's 64 bytes
LIFETIME = timedelta(days=7)


class ButtonToken(Base):
    __tablename__ = "button_token"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Only this person may press it, and only in this chat.
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Tokens issued together (one message's buttons) are spent together.
    group: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Pressed:
    action: str
    data: dict[str, Any]
    group: str


def issue(
    session: AsyncSession,
    user_id: int,
    chat_id: int,
    choices: list[tuple[str, dict[str, Any]]],
    lifetime: timedelta = LIFETIME,
) -> list[str]:
    """Issue one token per (action, data) choice, all spent when any one is pressed."""
    group = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    tokens = []
    for action, data in choices:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if user_id == ANYONE:
            token = SHARED + token
        row = {
            "token": token,
            "user_id": user_id,
            "chat_id": chat_id,
            "action": action,
            "data": data,
            "group": group,
            "created_at": now,
            "expires_at": now + lifetime,
            "used_at": None,
        }
        # Nobody can press it before the message carrying it is sent, after the commit.
        rows_of(session).add(ButtonToken, row)
        tokens.append(token)
    return tokens


# A personal button (the usual kind) is checked and spent in one guarded statement: of two
# presses racing on the same group, one wins. Built once: every press runs it.
_SPEND = (
    update(ButtonToken)
    .where(
        ButtonToken.group
        == select(ButtonToken.group)
        .where(
            ButtonToken.token == bindparam("pressed"),
            ButtonToken.user_id == bindparam("user"),
            ButtonToken.chat_id == bindparam("chat"),
            ButtonToken.used_at.is_(None),
            ButtonToken.expires_at > bindparam("now"),
        )
        .scalar_subquery(),
        ButtonToken.used_at.is_(None),
    )
    .values(used_at=bindparam("now"))
    .returning(ButtonToken.token, ButtonToken.action, ButtonToken.data, ButtonToken.group)
    # Not searching the session's loaded tokens: the guard above is what counts.
    .execution_options(synchronize_session=False)
)


async def read_shared(session: AsyncSession, tokens: Collection[str]) -> list[ButtonToken]:
    """Read, in one statement, the buttons anyone may press among tokens pressed together:
    held by the caller, they are in the session when `redeem` asks for them."""
    shared = sorted({t for t in tokens if t.startswith(SHARED) and len(t) <= 32})
    if not shared:
        return []
    return list(await session.scalars(select(ButtonToken).where(ButtonToken.token.in_(shared))))


async def redeem(session: AsyncSession, token: str, user_id: int, chat_id: int) -> Pressed | None:
    """Spend a token pressed by a person in a chat; None if forged, foreign, spent or expired."""
    if not token or len(token) > 32:
        return None
    now = utcnow()
    if not token.startswith(SHARED):
        spent = await session.execute(
            _SPEND, {"pressed": token, "user": user_id, "chat": chat_id, "now": now}
        )
        for spent_token, action, data, group in spent:
            if spent_token == token:
                return Pressed(action, dict(data), group)
    # Else it may be a button anyone in the chat may press, and press again.
    shared = await session.get(ButtonToken, token)
    if (
        shared is None
        or shared.user_id != ANYONE
        or shared.chat_id != chat_id
        or shared.expires_at <= now
    ):
        return None
    return Pressed(shared.action, dict(shared.data), shared.group)
