"""A batch of updates handled in one transaction: what it reads together, what it was told.

The worker builds one `Batch` per transaction and hands it to every update's handler through
its `Turn`. Reads that nearly every update makes (the sender's language, their conversation)
are made here once for the whole batch; everything else is a plain query on the session, whose
autoflush is SQLAlchemy's own. The rows a batch writes (audit, buttons, outbox) are the
transaction's `Rows` (models/rows.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Incoming
from models.conversation import Conversations
from models.person import Person

# (chat, user) → whether that person administers that group; None when it could not be asked.
ChatAdmins = Mapping[tuple[int, int], bool | None]


class Batch:
    def __init__(self, session: AsyncSession, chat_admins: ChatAdmins | None = None) -> None:
        self.session = session
        self.conversations = Conversations(session)
        self._chat_admins = dict(chat_admins or {})
        # A person's own choice of language, None for no choice or no such person (yet).
        self._languages: dict[int, str | None] = {}

    async def prefetch(self, events: Collection[Incoming]) -> None:
        """Read, for all the batch's events at once, what handling nearly every one asks first."""
        users = sorted({event.user_id for event in events} - set(self._languages))
        if users:
            self._languages.update({user: None for user in users})
            for user, language in await self.session.execute(_LANGUAGES, {"users": users}):
                self._languages[user] = language
        await self.conversations.load(
            (event.chat_id, event.user_id) for event in events if not event.joined
        )

    def forget(self) -> None:
        """Drop what was read: a savepoint rolled back may have taken back rows it held."""
        self.conversations = Conversations(self.session)
        self._languages.clear()

    async def language(self, user_id: int) -> str | None:
        """The language a person chose; read now if the batch did not read it."""
        if user_id not in self._languages:
            person = await self.session.get(Person, user_id)
            self._languages[user_id] = person.language if person else None
        return self._languages[user_id]

    def chose_language(self, user_id: int, language: str) -> None:
        """Note a change of language made by this batch, for the person's next update in it."""
        self._languages[user_id] = language

    def chat_admin(self, chat_id: int, user_id: int) -> bool | None:
        """What the platform said about this person administering this group, asked before the
        transaction; None when it was not asked or could not answer."""
        return self._chat_admins.get((chat_id, user_id))


# Built once: every batch asks.
_LANGUAGES = select(Person.user_id, Person.language).where(
    Person.user_id.in_(bindparam("users", expanding=True))
)
