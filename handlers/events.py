"""The neutral shapes that cross between a transport and the handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


@dataclass(frozen=True)
class Member:
    user_id: int
    display_name: str
    language_code: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One thing a person did: a message, a command, a button press, or joining a group."""

    update_id: int
    chat_id: int
    chat_kind: ChatKind
    user_id: int
    display_name: str
    language_code: str | None = None
    chat_title: str | None = None
    command: str | None = None
    args: str = ""
    text: str | None = None
    button: str | None = None
    callback_id: str | None = None
    message_id: int | None = None
    photo_ids: tuple[str, ...] = ()
    forwarded: bool = False
    joined: tuple[Member, ...] = ()
    # The text of the message this one answers, when it is a reply.
    reply_text: str | None = None
    # A group upgraded to a supergroup: Telegram says so in the old group (the new id) and in
    # the new supergroup (the old id).
    migrated_to: int | None = None
    migrated_from: int | None = None

    @property
    def in_group(self) -> bool:
        return self.chat_kind in (ChatKind.GROUP, ChatKind.SUPERGROUP)

    @property
    def migration(self) -> tuple[int, int] | None:
        """The group's old and new chat ids, when this event reports an upgrade."""
        if self.migrated_to is not None:
            return self.chat_id, self.migrated_to
        if self.migrated_from is not None:
            return self.migrated_from, self.chat_id
        return None


@dataclass(frozen=True)
class Button:
    text: str
    token: str | None = None
    url: str | None = None


@dataclass
class Reply:
    """A message to send, or an edit of one, or the answer to a button press."""

    chat_id: int
    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    edit_message_id: int | None = None
    # Set to answer a button press (a toast), with `text` as its words.
    callback_id: str | None = None
    is_group: bool = False
    # A message the bot keeps editing (a live count): the first reply with a key is sent,
    # later ones edit that message, and of several waiting only the newest goes out.
    edit_key: str | None = None
    # A picture (PNG) sent with `text` as its caption.
    photo: bytes | None = None
    # Nobody's business once delivered (a ballot's receipt): a toast shown as an alert that
    # stays until dismissed, whose outbox row forgets its words when marked sent.
    secret: bool = False
    # Not to be sent before this moment (a push written in quiet hours waits for the morning).
    not_before: datetime | None = None


def answer(event: Incoming, text: str, buttons: list[list[Button]] | None = None) -> Reply:
    """Reply in the chat the event came from."""
    return Reply(chat_id=event.chat_id, text=text, buttons=buttons or [], is_group=event.in_group)


def toast(event: Incoming, text: str) -> Reply:
    """Answer a button press with a short notice over the chat (empty: just stop the spinner)."""
    return Reply(chat_id=event.chat_id, text=text, callback_id=event.callback_id)


def parse_command(text: str, bot_username: str) -> tuple[str, str] | None:
    """Split `/cmd@bot args` into ("cmd", "args"); None if not a command for this bot."""
    if not text.startswith("/"):
        return None
    head, _, args = text.partition(" ")
    name, _, addressee = head[1:].partition("@")
    if addressee and addressee.lower() != bot_username.lower():
        return None
    if not name or not all(c.isalnum() or c == "_" for c in name):
        return None
    return name.lower(), args.strip()
