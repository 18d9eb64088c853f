"""The person's language, and text in it from the catalogues."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import pick_language, t
from handlers.context import Context
from handlers.events import Incoming
from models.person import Person


@dataclass(frozen=True)
class Voice:
    """Speak to one person in their language."""

    language: str

    def __call__(self, key: str, **params: Any) -> str:
        return t(key, self.language, **params)


async def voice_for(session: AsyncSession, event: Incoming, ctx: Context) -> Voice:
    """Choose the person's own choice, else their client's language, else the default."""
    person = await session.get(Person, event.user_id)
    choice = person.language if person is not None else None
    return Voice(pick_language(choice, event.language_code, ctx.default_language))
