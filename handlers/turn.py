"""One event being handled: its transaction, what happened, and the words to answer in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.batch import Batch, Later
from handlers.context import Context
from handlers.events import Button, Incoming, Reply, answer, toast
from handlers.speech import Voice
from models import button
from models.conversation import Conversation
from models.role import Role


@dataclass
class Turn:
    session: AsyncSession
    event: Incoming
    ctx: Context
    say: Voice
    batch: Batch
    # The commands a person with these roles has, in menu order (for /help).
    commands: Callable[[set[Role]], list[str]] = field(default=lambda roles: [])

    def answer(self, key: str, buttons: list[list[Button]] | None = None, **params: Any) -> Reply:
        """Reply in the chat the event came from, in the person's words."""
        return answer(self.event, self.say(key, **params), buttons)

    def answer_text(self, text: str, buttons: list[list[Button]] | None = None) -> Reply:
        """Reply in the chat the event came from with text already in the person's words."""
        return answer(self.event, text, buttons)

    def toast(self, key: str, **params: Any) -> Reply:
        """Answer a button press with a short notice over the chat."""
        return toast(self.event, self.say(key, **params))

    def buttons(self, choices: list[tuple[str, str, dict[str, Any]]]) -> list[Button]:
        """Buttons only this person may press in this chat: (label key, action, data) each."""
        tokens = button.issue(
            self.session,
            self.event.user_id,
            self.event.chat_id,
            [(action, data) for _, action, data in choices],
        )
        labels = [self.say(label) for label, _, _ in choices]
        return [Button(label, token) for label, token in zip(labels, tokens, strict=True)]

    def after(self, work: Later) -> None:
        """Do slow work (drawing a chart) once this update's answers are committed, outside
        the batch's transaction; its replies follow the answers."""
        self.batch.later.append((self.event.chat_id, work))

    def forget_update(self) -> None:
        """Have the stored update blanked once handled: what was pressed is nobody's business."""
        self.batch.forgotten.add(self.event.update_id)

    async def conversation(self) -> Conversation | None:
        return await self.batch.conversations.current(self.event.chat_id, self.event.user_id)

    async def begin(self, flow: str, step: StrEnum, data: dict[str, Any]) -> Conversation:
        """Go on to a step of a flow; the person's next text answers it."""
        return await self.batch.conversations.begin(
            self.event.chat_id, self.event.user_id, flow, step, data
        )

    async def end(self) -> bool:
        """Leave the conversation under way, if any."""
        return await self.batch.conversations.end(self.event.chat_id, self.event.user_id)
