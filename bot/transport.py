"""What every runtime adapter offers the worker, the sender and the ingress."""

from __future__ import annotations

from typing import Any, Protocol

from handlers.events import Incoming

# Updates the bot asks for; chat_member must be named to be delivered at all.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "chat_member", "my_chat_member"]


class RetryAfter(Exception):
    """The server asked us to wait (429)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Transient(Exception):
    """A 5xx, a timeout or a dropped connection: try again later."""


class Permanent(Exception):
    """The request can never succeed (blocked by the user, chat not found, bad request)."""


class Transport(Protocol):
    bot_id: int
    username: str

    async def start(self) -> None:
        """Connect and learn who the bot is."""
        ...

    async def stop(self) -> None: ...

    def to_event(self, payload: dict[str, Any]) -> Incoming | None:
        """Translate a raw update into a neutral event, or None if it is not for us."""
        ...

    async def get_updates(self, offset: int, timeout: int, limit: int) -> list[dict[str, Any]]:
        """Fetch raw updates; the offset confirms every earlier one."""
        ...

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Call a Bot API method, raising RetryAfter, Transient or Permanent on failure."""
        ...

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool: ...
