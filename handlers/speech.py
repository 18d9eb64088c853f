"""The person's language, and text in it from the catalogues."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Incoming
from models.person import Person
from texts import pick_language, t

if TYPE_CHECKING:
    from handlers.batch import Batch


@dataclass(frozen=True)
class Voice:
    """Speak to one person in their language."""

    language: str

    def __call__(self, key: str, /, **params: Any) -> str:
        return t(key, self.language, **params)

    def when(self, moment: datetime, zone: ZoneInfo) -> str:
        """A local date and time in the person's way of writing it (9月20日 18:00)."""
        local = moment.astimezone(zone)
        return f"{format_skeleton('MMMd', local, locale=self.language)} {local:%H:%M}"


async def voice_of(session: AsyncSession, user_id: int, default: str) -> Voice:
    """Speak to someone who did not just write: their own choice, else the default."""
    person = await session.get(Person, user_id)
    return Voice(pick_language(person.language if person else None, None, default))


async def voices_of(
    session: AsyncSession, user_ids: Iterable[int], default: str
) -> dict[int, Voice]:
    """Speak to several people who did not just write, their languages read at once."""
    users = sorted(set(user_ids))
    chosen: dict[int, str | None] = dict.fromkeys(users)
    if users:
        rows = await session.execute(
            select(Person.user_id, Person.language).where(Person.user_id.in_(users))
        )
        chosen.update({user: language for user, language in rows})
    # One voice per language, not per person: a Monday speaks to 7,405 heads in two or three.
    spoken = {
        language: Voice(pick_language(language, None, default)) for language in {*chosen.values()}
    }
    return {user: spoken[chosen[user]] for user in users}


async def voice_for(batch: Batch, event: Incoming, ctx: Context) -> Voice:
    """Choose the person's own choice, else their client's language, else the default."""
    choice = await batch.language(event.user_id)
    return Voice(pick_language(choice, event.language_code, ctx.default_language))
