"""Route one incoming event to the flow that declared it, checking every time who may do what."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

import handlers
from handlers.batch import Batch
from handlers.context import Context
from handlers.events import Incoming, Reply, answer, toast
from handlers.flow import Command, Flow, Handler, OnButton, OnText, Where
from handlers.speech import voice_for
from handlers.turn import Turn
from models import button
from models.role import Role, live_assignments

T = TypeVar("T")

# Telegram caps a message at 4096 characters; anything longer is not a command we know.
LONGEST_INPUT = 4096


def default_flows() -> list[Flow]:
    """Every flow declared by a module of handlers/, in module order."""
    flows = []
    for module in pkgutil.iter_modules(handlers.__path__):
        found = getattr(importlib.import_module(f"handlers.{module.name}"), "FLOW", None)
        if isinstance(found, Flow):
            flows.append(found)
    return flows


class Router:
    """What each command, button action, conversation and deep link leads to, from the flows."""

    def __init__(self, flows: Iterable[Flow] | None = None) -> None:
        self.flows = list(default_flows() if flows is None else flows)
        self.commands: dict[str, Command] = {}
        self.buttons: dict[str, OnButton] = {}
        self.texts: dict[str, OnText] = {}
        self.deep_links: dict[str, Handler] = {}
        self.on_join: list[Handler] = []
        self.on_migration: list[Handler] = []
        for flow in self.flows:
            _add(self.commands, {c.name: c for c in flow.commands}, flow)
            _add(self.buttons, flow.buttons, flow)
            _add(self.deep_links, flow.deep_links, flow)
            if flow.on_text is not None:
                _add(self.texts, {flow.name: flow.on_text}, flow)
            self.on_join += [flow.on_join] if flow.on_join else []
            self.on_migration += [flow.on_migration] if flow.on_migration else []

    async def handle(
        self, session: AsyncSession, event: Incoming, ctx: Context, batch: Batch
    ) -> list[Reply]:
        """Handle one event inside the caller's transaction; return what to send."""
        say = await voice_for(batch, event, ctx)
        turn = Turn(session, event, ctx, say, batch, self._names)
        if event.migration is not None:
            return [reply for run in self.on_migration for reply in await run(turn)]
        if event.joined:
            return [reply for run in self.on_join for reply in await run(turn)]
        if event.button is not None:
            return await self._pressed(turn)
        if event.command is not None:
            if event.forwarded:
                return [] if event.in_group else [turn.answer("chat.forwarded")]
            return await self._command(turn)
        if event.text is not None or event.photo_ids:
            return await self._text(turn)
        return []

    async def prefetch(self, batch: Batch, events: list[Incoming]) -> None:
        """Let every flow read, once for the batch, what its handlers will ask."""
        for flow in self.flows:
            if flow.prefetch is not None:
                await flow.prefetch(batch, events)

    async def finish(self, batch: Batch, ctx: Context) -> list[Reply]:
        """Let every flow do, once for the batch, what its handlers left for the end of it."""
        replies: list[Reply] = []
        for flow in self.flows:
            if flow.finish is not None:
                replies += await flow.finish(batch, ctx)
        return replies

    def commands_for(self, roles: set[Role], where: Where) -> list[Command]:
        """The commands a person with these roles has in a kind of chat, in menu order."""
        fits = {
            Where.PRIVATE: (Where.ANYWHERE, Where.PRIVATE),
            Where.GROUP: (Where.ANYWHERE, Where.GROUP),
        }
        chosen = [
            command
            for command in self.commands.values()
            if command.where in fits.get(where, tuple(Where))
            and (not command.roles or command.roles & roles)
        ]
        return sorted(chosen, key=lambda command: command.rank)

    def _names(self, roles: set[Role]) -> list[str]:
        """What /help lists: the private chat's commands, then those only a group has."""
        private = self.commands_for(roles, Where.PRIVATE)
        groups = [c for c in self.commands_for(roles, Where.GROUP) if c.where is Where.GROUP]
        return [command.name for command in [*private, *groups]]

    async def personal_menus(self, session: AsyncSession, today: date) -> dict[int, list[str]]:
        """The private menu of everyone whose roles add commands to it."""
        held: dict[int, set[Role]] = {}
        for assignment in await live_assignments(session, on=today):
            held.setdefault(assignment.user_id, set()).add(Role(assignment.role))
        everyone = [c.name for c in self.commands_for(set(), Where.PRIVATE)]
        menus = {}
        for user, roles in held.items():
            theirs = [c.name for c in self.commands_for(roles, Where.PRIVATE)]
            if theirs != everyone:
                menus[user] = theirs
        return menus

    async def _command(self, turn: Turn) -> list[Reply]:
        event = turn.event
        name = event.command or ""
        if name == "start" and not event.in_group and event.args.strip() in self.deep_links:
            return await self.deep_links[event.args.strip()](turn)
        command = self.commands.get(name)
        if command is None:
            # Other bots' commands in a group are not ours to answer.
            return [] if event.in_group else [turn.answer("chat.unknown_command")]
        if command.where is Where.PRIVATE and event.in_group:
            # Anything personal is said in private; the group gets a pointer.
            return [turn.answer("chat.private_pointer", link=turn.ctx.link())]
        if command.where is Where.GROUP and not event.in_group:
            return [turn.answer("chat.group_only", command=name)]
        if command.roles and not await _holds(turn, command.roles):
            roles = "、".join(turn.say(f"role.{role.value}") for role in sorted(command.roles))
            return [turn.answer("chat.command_not_yours", command=name, roles=roles)]
        return await command.run(turn)

    async def _pressed(self, turn: Turn) -> list[Reply]:
        """Resolve a button's token for this person in this chat; refuse anything else."""
        event = turn.event
        token = (event.button or "").removeprefix("t:")
        pressed = await button.redeem(turn.session, token, event.user_id, event.chat_id)
        run = self.buttons.get(pressed.action) if pressed is not None else None
        if pressed is None or run is None:
            return [toast(event, turn.say("chat.button_invalid"))]
        replies = await run(turn, pressed)
        if any(reply.callback_id is not None for reply in replies):
            return replies
        return [toast(event, ""), *replies]

    async def _text(self, turn: Turn) -> list[Reply]:
        """Text outside a command: the answer to the current question, or a pointer to /help."""
        event = turn.event
        state = await turn.conversation()
        if state is not None and state.flow in self.texts:
            return await self.texts[state.flow](turn, state)
        if event.in_group:
            return []  # neighbours talk among themselves; the bot stays out of it
        if event.text is not None and len(event.text) > LONGEST_INPUT:
            return [answer(event, turn.say("chat.too_long"))]
        return [answer(event, turn.say("chat.unexpected_text"))]


async def _holds(turn: Turn, roles: frozenset[Role]) -> bool:
    held = await live_assignments(turn.session, user_id=turn.event.user_id, on=turn.ctx.today())
    return any(Role(a.role) in roles for a in held)


def _add(into: dict[str, T], given: Mapping[str, T], flow: Flow) -> None:
    """Add a flow's declarations; two flows may not claim the same name."""
    for key, value in given.items():
        if key in into:
            raise ValueError(f"flow {flow.name!r} declares {key!r}, already declared")
        into[key] = value
