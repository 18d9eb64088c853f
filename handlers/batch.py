"""A batch of updates handled in one transaction: what it reads together, what it was told.

The worker builds one `Batch` per transaction and hands it to every update's handler through
its `Turn`. Reads that nearly every update makes (the sender's language, their conversation)
are made here once for the whole batch, and so are the names of the buildings its answers
mention; everything else is a plain query on the session, whose
autoflush is SQLAlchemy's own. The rows a batch writes (audit, buttons, outbox) are the
transaction's `Rows` (models/rows.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Incoming, Reply
from handlers.households import BuildingNames
from models.conversation import Conversations
from models.person import Person

# (chat, user) → whether that person administers that group; None when it could not be asked.
ChatAdmins = Mapping[tuple[int, int], bool | None]


# Work done once a batch's answers are committed; returns the replies that follow them.
Later = Callable[[], Awaitable[list[Reply]]]


def alone(events: Sequence[Incoming]) -> set[int]:
    """The people with one update in the batch: what is read for them ahead of their turn is
    still true at it (a person's earlier update, registering, changes what their next reads)."""
    return {user for user, n in Counter(event.user_id for event in events).items() if n == 1}


class Batch:
    def __init__(
        self,
        session: AsyncSession,
        chat_admins: ChatAdmins | None = None,
        today: date | None = None,
    ) -> None:
        self.session = session
        # The deployment's local date, for the terms of roles read for the batch.
        self.today = today or date.today()
        self.conversations = Conversations(session)
        self._chat_admins = dict(chat_admins or {})
        self.names = BuildingNames()
        # The people the batch has read or added; None: no such person (yet).
        self._people: dict[int, Person | None] = {}
        # What each flow read for the batch, by flow name (see Flow.prefetch).
        self.prefetched: dict[str, Any] = {}
        # What each flow's handlers left for the end of the batch (Flow.finish), by flow name.
        self.owed: dict[str, Any] = {}
        # Work for after the batch commits, whose replies follow its answers (Turn.after),
        # with the chat it answers.
        self.later: list[tuple[int, Later]] = []
        # Updates whose stored payload is blanked when marked handled (a ballot press: the
        # button it names would tell what was chosen). The worker reads this in one place.
        self.forgotten: set[int] = set()

    async def prefetch(self, events: Collection[Incoming]) -> None:
        """Read, for all the batch's events at once, what handling nearly every one asks first."""
        users = sorted({event.user_id for event in events} - set(self._people))
        if users:
            self._people.update({user: None for user in users})
            for person in await self.session.scalars(_PEOPLE, {"users": users}):
                self._people[person.user_id] = person
        await self.conversations.load(
            (event.chat_id, event.user_id) for event in events if not event.joined
        )

    def forget(self) -> None:
        """Drop what was read: a savepoint rolled back may have taken back rows it held."""
        self.conversations = Conversations(self.session)
        self._people.clear()
        self.prefetched.clear()
        self.owed.clear()

    async def person(self, user_id: int) -> Person | None:
        """A person the batch knows; read now if it did not read them."""
        if user_id not in self._people:
            self._people[user_id] = await self.session.get(Person, user_id)
        return self._people[user_id]

    async def person_or_new(self, user_id: int) -> Person:
        """A person, added (with nothing but their chat id) if the estate does not know them."""
        person = await self.person(user_id)
        if person is None:
            person = self._people[user_id] = Person(user_id=user_id)
            self.session.add(person)
        return person

    async def language(self, user_id: int) -> str | None:
        """The language a person chose, None for no choice."""
        person = await self.person(user_id)
        return person.language if person else None

    def chat_admin(self, chat_id: int, user_id: int) -> bool | None:
        """What the platform said about this person administering this group, asked before the
        transaction; None when it was not asked or could not answer."""
        return self._chat_admins.get((chat_id, user_id))


# Built once: every batch asks.
_PEOPLE = select(Person).where(Person.user_id.in_(bindparam("users", expanding=True)))
