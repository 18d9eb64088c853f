"""What every runtime adapter offers the worker, the sender and the ingress."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Protocol

from handlers.events import Incoming

# Updates the bot asks for; chat_member must be named to be delivered at all.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "chat_member", "my_chat_member"]
# A failure is logged in one line: a proxy's page or a long error text is cut to this.
LONGEST_KIND = 120


class RetryAfter(Exception):
    """The server asked us to wait (429)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Transient(Exception):
    """A 5xx, a timeout, a dropped connection or an answer not from the Bot API: try later.

    `kind` says what went wrong in a few words and `status` is the HTTP status when there was
    an answer, so that one log line tells them apart.
    """

    def __init__(self, kind: str, status: int | None = None) -> None:
        kind = kind if len(kind) <= LONGEST_KIND else kind[: LONGEST_KIND - 1] + "…"
        super().__init__(kind if status is None else f"{kind} (HTTP {status})")
        self.kind = kind
        self.status = status


class Permanent(Exception):
    """The request can never succeed (blocked by the user, chat not found, bad request)."""


class Migrated(Exception):
    """The group was upgraded to a supergroup: it lives on under a new chat id."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"group chat moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


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
        """Fetch raw updates; the offset confirms every earlier one.

        Any failure but RetryAfter is Transient: polling tries again whatever the answer.
        """
        ...

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Call a Bot API method, raising RetryAfter, Transient, Permanent or Migrated."""
        ...

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool: ...


def with_uploads(params: dict[str, Any], upload: Callable[[bytes, str], Any]) -> dict[str, Any]:
    """Turn the files a message carries (stored as base64 in the outbox) into the adapter's
    upload objects."""
    found = {
        key: upload(base64.b64decode(value["upload"]), str(value.get("filename", "file")))
        for key, value in params.items()
        if isinstance(value, dict) and "upload" in value
    }
    return {**params, **found} if found else params
