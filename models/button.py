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
# Begins the token of a button read, never spent (no token_urlsafe character), so that it is
# told apart before any write: one anyone may press, or a person's whose action guards itself
# against a second press. Older tokens without it still work.
SHARED = "."
# Between a token and the place of the choice pressed, when it carries several (no
# token_urlsafe character either).
PLACE = "~"
# The action of a token carrying several choices; they are in its data.
CHOICES = "choices"
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
    *,
    spent: bool = True,
) -> list[str]:
    """Issue one button per (action, data) choice, all spent when any one is pressed.

    Not `spent`, a person's buttons may be pressed again, each of them: for a message of
    many rows whose actions refuse a second press themselves (a week's visit list, one token
    for all its households).

    A person's choices are one stored token, each button the token and the choice's place:
    a week's visit lists are 36,600 rows of three buttons, and a stored token each was most
    of the work of writing them. Buttons anyone may press are never spent, and are read by
    their token before the press is handled (a ballot's, by the batch): a token each.
    """
    now = utcnow()
    group = secrets.token_urlsafe(TOKEN_BYTES)

    def add(token: str, action: str, data: dict[str, Any]) -> str:
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
        return token

    if user_id == ANYONE:
        return [add(SHARED + secrets.token_urlsafe(TOKEN_BYTES), a, d) for a, d in choices]
    if not spent:
        group = SHARED + group
    if len(choices) == 1:
        [(action, data)] = choices
        return [add(group, action, data)]
    add(group, CHOICES, {"choices": [[a, d] for a, d in choices]})
    return [f"{group}{PLACE}{place}" for place in range(len(choices))]


def _parts(pressed: str) -> tuple[str, int | None]:
    """Split a pressed button into its token and its choice's place (None for a lone one)."""
    token, mark, place = pressed.partition(PLACE)
    if not mark:
        return token, None
    # One spelling per place: a button pressed is exactly one that was issued.
    if not place.isdecimal() or str(int(place)) != place:
        return "", None
    return token, int(place)


def token_of(pressed: str) -> str:
    """The token a pressed button names ("" for a malformed one)."""
    return _parts(pressed)[0]


def _chosen(action: str, data: dict[str, Any], place: int | None) -> tuple[str, dict[str, Any]]:
    """The choice a button stands for; ("", {}) when its place is not one of the token's."""
    if action != CHOICES:
        return (action, dict(data)) if place is None else ("", {})
    choices = data.get("choices", [])
    if place is None or place >= len(choices):
        return "", {}
    chosen, chosen_data = choices[place]
    return chosen, dict(chosen_data)


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


_UNSPEND = (
    update(ButtonToken)
    .where(ButtonToken.group == bindparam("spent"))
    .values(used_at=None)
    .execution_options(synchronize_session=False)
)


async def read_shared(session: AsyncSession, tokens: Collection[str]) -> list[ButtonToken]:
    """Read, in one statement, the buttons anyone may press among tokens pressed together:
    held by the caller, they are in the session when `redeem` asks for them."""
    shared = sorted({_parts(t)[0] for t in tokens if t.startswith(SHARED) and len(t) <= 32})
    if not shared:
        return []
    return list(await session.scalars(select(ButtonToken).where(ButtonToken.token.in_(shared))))


async def redeem(session: AsyncSession, pressed: str, user_id: int, chat_id: int) -> Pressed | None:
    """Spend a button pressed by a person in a chat; None if forged, foreign, spent or expired."""
    token, place = _parts(pressed)
    if not token or len(pressed) > 32:
        return None
    now = utcnow()
    if not token.startswith(SHARED):
        spent = await session.execute(
            _SPEND, {"pressed": token, "user": user_id, "chat": chat_id, "now": now}
        )
        for spent_token, action, data, group in spent:
            if spent_token != token:
                continue
            chosen, chosen_data = _chosen(action, data, place)
            if chosen:
                return Pressed(chosen, chosen_data, group)
            # A place the token never had: its own person altered the button. Refused, and
            # their real buttons are left as they were.
            await session.execute(_UNSPEND, {"spent": group})
            return None
    # Else it may be a button read, not spent: anyone's in the chat, or (marked so, never a
    # personal token that failed to be spent above) this person's.
    readers = (ANYONE, user_id) if token.startswith(SHARED) else (ANYONE,)
    shared = await session.get(ButtonToken, token)
    if (
        shared is None
        or shared.user_id not in readers
        or shared.chat_id != chat_id
        or shared.expires_at <= now
    ):
        return None
    chosen, chosen_data = _chosen(shared.action, shared.data, place)
    return Pressed(chosen, chosen_data, shared.group) if chosen else None
