"""How a feature declares itself: its commands, buttons, conversation steps and needs.

Each feature module under handlers/ ends with one `FLOW = Flow(...)`. The router, the /help
text and the command menus are derived from these declarations; adding a feature is adding a
module (and its catalogue entries), nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from handlers.batch import Batch
from handlers.context import Context
from handlers.events import Incoming, Reply
from handlers.turn import Turn
from models.button import Pressed
from models.conversation import Conversation
from models.role import Role

Handler = Callable[[Turn], Awaitable[list[Reply]]]
OnButton = Callable[[Turn, Pressed], Awaitable[list[Reply]]]
OnText = Callable[[Turn, Conversation], Awaitable[list[Reply]]]
# Reads, for a whole batch of events at once, what the flow's handlers will ask of many of them.
Prefetch = Callable[[Batch, Sequence[Incoming]], Awaitable[None]]
# Does, once for a whole batch, in its transaction, what the flow's handlers left for the end
# of it (`batch.owed[name]`); returns what that says.
Finish = Callable[[Batch, Context], Awaitable[list[Reply]]]


class Where(StrEnum):
    """The chats a command belongs in."""

    ANYWHERE = "anywhere"
    # Personal: in a group the person is pointed to the private chat, nothing else is said.
    PRIVATE = "private"
    GROUP = "group"


class Ask(StrEnum):
    """A live question for the chat platform, asked before the write transaction opens."""

    CHAT_ADMIN = "chat_admin"


@dataclass(frozen=True)
class Command:
    name: str
    run: Handler
    # Who has it in their menu and /help; empty means everyone. Anyone else who types it is
    # told whose command it is.
    roles: frozenset[Role] = frozenset()
    where: Where = Where.ANYWHERE
    # Place in the menu: lower first.
    rank: int = 100
    asks: frozenset[Ask] = frozenset()


@dataclass(frozen=True)
class Flow:
    """One feature: the commands it answers, the button actions it owns, the conversation it
    leads (its steps, and what to do with the text that answers one), and deep links."""

    name: str
    commands: tuple[Command, ...] = ()
    buttons: Mapping[str, OnButton] = field(default_factory=dict)
    steps: type[StrEnum] | None = None
    on_text: OnText | None = None
    # `/start <payload>` links that open this flow instead of registration.
    deep_links: Mapping[str, Handler] = field(default_factory=dict)
    on_join: Handler | None = None
    on_migration: Handler | None = None
    # What this flow's handlers will read for many of a batch's events, read once for all of
    # them into `batch.prefetched[name]`; each handler falls back to reading for itself.
    prefetch: Prefetch | None = None
    # What this flow's handlers left for the end of the batch, done once for all of them.
    finish: Finish | None = None
