"""What handlers know of the deployment, and the live questions a transport answers for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo


class ChatApi(Protocol):
    """The few live questions the worker asks the chat platform for handlers, before it opens
    a write transaction (no network call is made while one is open)."""

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        """Tell whether a person is an administrator of a group chat."""
        ...


@dataclass(frozen=True)
class Context:
    bot_username: str
    default_language: str
    zone: ZoneInfo

    def today(self) -> date:
        return datetime.now(self.zone).date()

    def link(self, payload: str | None = None) -> str:
        """Return a link that opens a private chat with the bot."""
        base = f"https://t.me/{self.bot_username}"
        return f"{base}?start={payload}" if payload else base
