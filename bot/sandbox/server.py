"""A local Bot API server: enough of Telegram for tests and the demo, on loopback.

It answers the methods the frameworks call, validates them the way Telegram does, can enforce
the rate limits with 429 + retry_after and inject faults, and lets a test act as users.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

MAX_TEXT = 4096
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
UPGRADED = "Bad Request: group chat was upgraded to a supergroup chat"
MAX_CALLBACK_DATA = 64
PARSE_MODES = {"HTML", "Markdown", "MarkdownV2"}
# Parameters that arrive JSON-encoded inside form fields.
JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "entities",
    "link_preview_options",
    "reply_parameters",
}


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id


@dataclass
class User:
    id: int
    first_name: str
    language_code: str | None = None
    username: str | None = None
    is_bot: bool = False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class Chat:
    id: int
    type: str
    title: str | None = None
    # user id → status (creator, administrator, member, left)
    members: dict[int, str] = field(default_factory=dict)
    blocked: bool = False
    # Set when the group was upgraded to a supergroup: the id it lives on now.
    migrated_to: int | None = None

    def as_json(self, users: dict[int, User]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title:
            data["title"] = self.title
        elif self.type == "private" and self.id in users:
            data["first_name"] = users[self.id].first_name
        return data


@dataclass
class Sent:
    """A message the bot sent (or edited), as the server stored it."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    method: str
    at: float
    # A photo's or document's bytes, as uploaded.
    file: bytes | None = None

    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]


@dataclass(frozen=True)
class Answered:
    """A request and how the server answered it, for checking a client's behaviour."""

    at: float
    method: str
    chat_id: Any
    status: int
    retry_after: int | None


@dataclass
class Limits:
    """Telegram's push limits; off unless a test asks for them."""

    enforce: bool = False
    overall_per_second: int = 30
    group_per_minute: int = 20
    chat_per_second: int = 1


@dataclass
class Latency:
    """A network between the bot and the server: each call travels half the round trip each
    way, each half varying by up to `jitter` seconds either side."""

    rtt: float = 0.0
    jitter: float = 0.0

    def one_way(self) -> float:
        return max(0.0, self.rtt / 2 + random.uniform(-self.jitter, self.jitter))


@dataclass
class Fault:
    # "5xx", "drop", "slow", "429"; "409" (another poller); "html200" and "html502" (a proxy's
    # page instead of the Bot API's answer). None of them carries the request out. "hang": the
    # call arrives and is never answered, like a half-open connection.
    kind: str
    method: str | None = None
    seconds: float = 0.0


# What a proxy in the way answers instead of Telegram.
PROXY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"


class BotApiServer:
    """Hold the world (users, chats, updates, sent messages) and serve the Bot API over HTTP."""

    def __init__(self, token: str, bot_username: str = "LinzhangDemoBot") -> None:
        self.token = token
        self.bot = User(int(token.split(":")[0]), "Linzhang", username=bot_username, is_bot=True)
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.sent: list[Sent] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[float, str, dict[str, Any]]] = []
        self.responses: list[Answered] = []
        self.limits = Limits()
        self.latency = Latency()
        self.faults: deque[Fault] = deque()
        self.rejected_429 = 0
        self.hung: list[tuple[str, dict[str, Any]]] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._new_update = asyncio.Condition()
        self._new_sent = asyncio.Condition()
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._webhook_task: asyncio.Task[None] | None = None
        self._closing = False

    # ---- serving ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on loopback; return the server root to give as TELEGRAM_API_URL."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.url = f"http://{host}:{sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        # Release long polls at once, or shutting down waits out their timeout.
        self._closing = True
        async with self._new_update:
            self._new_update.notify_all()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await _params(request)
        if self.latency.rtt:
            await asyncio.sleep(self.latency.one_way())  # the request on its way here
        arrived = time.monotonic()
        self.requests.append((arrived, method, params))
        response = await self._answer(request, method, params)
        if self.latency.rtt:
            await asyncio.sleep(self.latency.one_way())  # the answer on its way back
        self.responses.append(
            Answered(
                arrived, method, params.get("chat_id"), response.status, _retry_after(response)
            )
        )
        return response

    async def _answer(
        self, request: web.Request, method: str, params: dict[str, Any]
    ) -> web.Response:
        fault = self._fault_for(method)
        if fault is not None:
            if fault.kind == "hang":
                self.hung.append((method, params))
                async with self._new_update:
                    await self._new_update.wait_for(lambda: self._closing)
                return web.Response(status=504)
            if fault.kind == "slow":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "drop":
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            elif fault.kind == "5xx":
                return web.json_response(
                    {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502
                )
            elif fault.kind == "429":
                return _error(ApiError(429, "Too Many Requests: retry after 1", 1))
            elif fault.kind == "409":
                return _error(ApiError(409, CONFLICT))
            elif fault.kind in ("html200", "html502"):
                status = int(fault.kind.removeprefix("html"))
                return web.Response(status=status, text=PROXY_PAGE, content_type="text/html")
        handler = getattr(self, "api_" + method.lower(), None)
        if handler is None:
            return _error(ApiError(404, "Not Found: method not found"))
        try:
            result = await handler(params)
        except ApiError as error:
            return _error(error)
        return web.json_response({"ok": True, "result": result})

    def _fault_for(self, method: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.method in (None, method):
                self.faults.remove(fault)
                return fault
        return None

    # ---- acting as users -------------------------------------------------------------------

    def add_user(self, user_id: int, name: str, language: str | None = "zh-hans") -> User:
        user = User(user_id, name, language)
        self.users[user_id] = user
        self.chats.setdefault(user_id, Chat(user_id, "private", members={user_id: "member"}))
        return user

    def add_group(self, chat_id: int, title: str, admins: tuple[int, ...] = ()) -> Chat:
        chat = Chat(chat_id, "supergroup", title, members={a: "administrator" for a in admins})
        chat.members[self.bot.id] = "administrator"
        self.chats[chat_id] = chat
        return chat

    async def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        *,
        forwarded: bool = False,
        reply_to: tuple[int, str] | None = None,
    ) -> int:
        """Let a user send a message (forwarded, or in reply to (author, text)); return its id."""
        return await self.push_update(
            self.text_message(user_id, text, chat_id, forwarded, reply_to)
        )

    def text_message(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        forwarded: bool = False,
        reply_to: tuple[int, str] | None = None,
    ) -> dict[str, Any]:
        """The body of an update in which a user sends a message, as Telegram would write it."""
        chat = self.chats[chat_id if chat_id is not None else user_id]
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat.id]),
            "date": int(time.time()),
            "chat": chat.as_json(self.users),
            "from": self.users[user_id].as_json(),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if forwarded:
            message["forward_origin"] = {
                "type": "user",
                "date": int(time.time()) - 60,
                "sender_user": {"id": 999, "is_bot": False, "first_name": "Someone"},
            }
        if reply_to is not None:
            author, quoted = reply_to
            message["reply_to_message"] = {
                "message_id": next(self._message_ids[chat.id]),
                "date": int(time.time()) - 30,
                "chat": chat.as_json(self.users),
                "from": self.users[author].as_json(),
                "text": quoted,
            }
        return {"message": message}

    async def press(self, user_id: int, sent: Sent, index: int = 0, data: str | None = None) -> int:
        """Let a user press a button under a message the bot sent (or forge its data)."""
        return await self.push_update(self.button_press(user_id, sent, index, data))

    def button_press(
        self, user_id: int, sent: Sent, index: int = 0, data: str | None = None
    ) -> dict[str, Any]:
        """The body of an update in which a user presses a button, as Telegram would write it."""
        callback = data if data is not None else sent.buttons()[index]["callback_data"]
        chat = self.chats[sent.chat_id]
        return {
            "callback_query": {
                "id": str(next(self._update_ids) + 10_000_000),
                "from": self.users[user_id].as_json(),
                "chat_instance": str(chat.id),
                "data": callback,
                "message": {
                    "message_id": sent.message_id,
                    "date": int(sent.at),
                    "chat": chat.as_json(self.users),
                    "from": self.bot.as_json(),
                    "text": sent.text,
                },
            }
        }

    async def join(self, user_id: int, chat_id: int) -> int:
        """Let a user join a group; the bot gets a chat_member update, as it asked for."""
        chat = self.chats[chat_id]
        chat.members[user_id] = "member"
        user = self.users[user_id].as_json()
        now = int(time.time())
        return await self.push_update(
            {
                "chat_member": {
                    "chat": chat.as_json(self.users),
                    "from": user,
                    "date": now,
                    "old_chat_member": {"status": "left", "user": user},
                    "new_chat_member": {"status": "member", "user": user},
                }
            }
        )

    async def migrate(
        self, chat_id: int, new_chat_id: int, by: int, *, announce: bool = True
    ) -> Chat:
        """Upgrade a group to a supergroup as Telegram does: a new id, the old one refused.

        Calls naming the old id are answered 400 with `migrate_to_chat_id`; with `announce`,
        the bot also gets the two service messages, one in each chat.
        """
        old = self.chats[chat_id]
        new = Chat(new_chat_id, "supergroup", old.title, members=dict(old.members))
        self.chats[new_chat_id] = new
        old.migrated_to = new_chat_id
        if announce:
            await self.push_update(self._service(old, by, {"migrate_to_chat_id": new_chat_id}))
            await self.push_update(self._service(new, by, {"migrate_from_chat_id": chat_id}))
        return new

    def _service(self, chat: Chat, user_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """The body of an update carrying a service message in a chat."""
        message = {
            "message_id": next(self._message_ids[chat.id]),
            "date": int(time.time()),
            "chat": chat.as_json(self.users),
            "from": self.users[user_id].as_json(),
            **fields,
        }
        return {"message": message}

    async def push_update(self, body: dict[str, Any], update_id: int | None = None) -> int:
        """Queue an update for getUpdates (or the webhook); replaying an id replays it."""
        update = self.numbered(body) if update_id is None else {"update_id": update_id, **body}
        async with self._new_update:
            self._updates.append(update)
            self._new_update.notify_all()
        return int(update["update_id"])

    @property
    def unconfirmed(self) -> int:
        """How many updates wait to be fetched or for the offset that confirms them."""
        return len(self._updates)

    def numbered(self, body: dict[str, Any]) -> dict[str, Any]:
        """Give an update body the next update id, without queueing it."""
        return {"update_id": next(self._update_ids), **body}

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    async def wait_sent(self, chat_id: int, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait until the bot has sent at least `count` messages into a chat."""
        async with asyncio.timeout(timeout), self._new_sent:
            await self._new_sent.wait_for(lambda: len(self.sent_to(chat_id)) >= count)
        return self.sent_to(chat_id)

    async def wait_total(self, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait until the bot has sent at least `count` messages in all."""
        async with asyncio.timeout(timeout), self._new_sent:
            await self._new_sent.wait_for(lambda: len(self.sent) >= count)
        return self.sent

    async def wait_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until something about what the bot sent holds, looked at as each message comes."""
        async with asyncio.timeout(timeout), self._new_sent:
            await self._new_sent.wait_for(done)

    async def wait_callback_answers(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._new_sent:
            await self._new_sent.wait_for(lambda: len(self.callback_answers) >= count)

    # ---- the Bot API -----------------------------------------------------------------------

    async def api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot.as_json(), "can_join_groups": True, "supports_inline_queries": False}

    async def api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", 0) or 0)
        limit = min(max(int(params.get("limit", 100) or 100), 1), 100)
        timeout = float(params.get("timeout", 0) or 0)
        async with self._new_update:
            # An offset confirms every update before it: they are gone for good.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and timeout > 0:
                try:
                    async with asyncio.timeout(timeout):
                        await self._new_update.wait_for(
                            lambda: bool(self._updates) or self._closing
                        )
                except TimeoutError:
                    pass
            return self._updates[:limit]

    async def api_setwebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if not url:
            return await self.api_deletewebhook(params)
        self.webhook_url = url
        self.webhook_secret = params.get("secret_token") or None
        if self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._deliver_webhook())
        return True

    async def api_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    async def api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text = _text(params)
        markup = _markup(params)
        self._limit(chat)
        return await self._store(chat, text, markup, "sendMessage")

    async def api_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        photo = params.get("photo")
        if not isinstance(photo, bytes | bytearray) or not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        self._limit(chat)
        caption = str(params.get("caption", ""))
        return await self._store(chat, caption, _markup(params), "sendPhoto", file=bytes(photo))

    async def api_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        self._limit(chat)
        caption = str(params.get("caption", ""))
        return await self._store(chat, caption, _markup(params), "sendDocument")

    async def api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text = _text(params)
        target = self._message(chat, params)
        target.text, target.reply_markup = text, _markup(params)
        return await self._store(chat, text, target.reply_markup, "editMessageText", target)

    async def api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        target = self._message(chat, params)
        target.reply_markup = _markup(params)
        return await self._store(
            chat, target.text, target.reply_markup, "editMessageReplyMarkup", target
        )

    async def api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        async with self._new_sent:
            self.callback_answers.append(params)
            self._new_sent.notify_all()
        return True

    async def api_getchatmember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        user_id = int(params.get("user_id", 0))
        user = self.bot if user_id == self.bot.id else self.users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        status = chat.members.get(user_id, "left")
        member: dict[str, Any] = {"status": status, "user": user.as_json()}
        if status == "administrator":
            member.update(_admin_rights())
        return member

    async def api_getchatadministrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat(params)
        return [
            {"status": status, "user": self.users[uid].as_json(), **_admin_rights()}
            for uid, status in chat.members.items()
            if status in ("administrator", "creator") and uid in self.users
        ]

    async def api_getchat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        return {**chat.as_json(self.users), "accent_color_id": 0, "max_reaction_count": 11}

    async def api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        if not isinstance(commands, list) or not commands:
            raise ApiError(400, "Bad Request: commands must be a non-empty list")
        key = json.dumps(
            [params.get("scope") or {"type": "default"}, params.get("language_code") or ""],
            sort_keys=True,
        )
        self.commands[key] = commands
        return True

    async def api_deletemycommands(self, params: dict[str, Any]) -> bool:
        key = json.dumps(
            [params.get("scope") or {"type": "default"}, params.get("language_code") or ""],
            sort_keys=True,
        )
        self.commands.pop(key, None)
        return True

    async def api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    async def api_close(self, params: dict[str, Any]) -> bool:
        return True

    # ---- helpers ---------------------------------------------------------------------------

    def _chat(self, params: dict[str, Any]) -> Chat:
        try:
            chat = self.chats.get(int(params.get("chat_id", "")))
        except (TypeError, ValueError):
            chat = None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            raise ApiError(400, UPGRADED, migrate_to_chat_id=chat.migrated_to)
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _message(self, chat: Chat, params: dict[str, Any]) -> Sent:
        message_id = int(params.get("message_id", 0) or 0)
        for sent in reversed(self.sent):
            if sent.chat_id == chat.id and sent.message_id == message_id:
                return sent
        raise ApiError(400, "Bad Request: message to edit not found")

    def _limit(self, chat: Chat) -> None:
        """Refuse a push over Telegram's limits, as Telegram does, with retry_after."""
        if not self.limits.enforce:
            return
        now = time.monotonic()
        windows = [("overall", 1.0, self.limits.overall_per_second)]
        if chat.type in ("group", "supergroup"):
            windows.append((f"group:{chat.id}", 60.0, self.limits.group_per_minute))
        windows.append((f"chat:{chat.id}", 1.0, self.limits.chat_per_second))
        for key, span, cap in windows:
            recent = self._recent[key]
            while recent and recent[0] <= now - span:
                recent.popleft()
            if len(recent) >= cap:
                self.rejected_429 += 1
                wait = max(1, int(recent[0] + span - now + 0.999))
                raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
        for key, _, _ in windows:
            self._recent[key].append(now)

    async def _store(
        self,
        chat: Chat,
        text: str,
        markup: dict[str, Any] | None,
        method: str,
        edited: Sent | None = None,
        file: bytes | None = None,
    ) -> dict[str, Any]:
        message_id = edited.message_id if edited else next(self._message_ids[chat.id])
        sent = Sent(chat.id, message_id, text, markup, method, time.time(), file)
        async with self._new_sent:
            self.sent.append(sent)
            self._new_sent.notify_all()
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(sent.at),
            "chat": chat.as_json(self.users),
            "from": self.bot.as_json(),
            "text": text,
        }
        if edited:
            result["edit_date"] = int(sent.at)
        if markup:
            result["reply_markup"] = markup
        return result

    async def _deliver_webhook(self) -> None:
        """Post queued updates to the webhook, one at a time, until each is answered 200."""
        async with ClientSession(timeout=ClientTimeout(total=30)) as session:
            while True:
                async with self._new_update:
                    await self._new_update.wait_for(
                        lambda: bool(self._updates and self.webhook_url)
                    )
                    update = self._updates[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret or ""}
                try:
                    async with session.post(
                        str(self.webhook_url), json=update, headers=headers
                    ) as r:
                        delivered = r.status == 200
                except Exception:
                    delivered = False
                if delivered:
                    async with self._new_update:
                        if self._updates and self._updates[0] is update:
                            self._updates.pop(0)
                else:
                    await asyncio.sleep(0.2)


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            form = await request.post()
            for key, value in form.items():
                params[key] = (
                    value if isinstance(value, str | bytes | bytearray) else value.file.read()
                )
    # A file may come under a name of its own, the field naming it as attach://<name>
    # (aiogram sends every file so; the Bot API takes both).
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.pop(value.removeprefix("attach://"), value)
    for key in JSON_FIELDS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except json.JSONDecodeError:
                params[key] = {"__invalid__": params[key]}
    return params


def _text(params: dict[str, Any]) -> str:
    text = str(params.get("text", ""))
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    mode = params.get("parse_mode")
    if mode and mode not in PARSE_MODES:
        raise ApiError(400, f"Bad Request: unsupported parse_mode {mode}")
    return text


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict) or "__invalid__" in markup:
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
    return markup


def _admin_rights() -> dict[str, Any]:
    rights = (
        "can_be_edited",
        "can_manage_chat",
        "can_change_info",
        "can_delete_messages",
        "can_invite_users",
        "can_restrict_members",
        "can_pin_messages",
        "can_promote_members",
        "can_manage_video_chats",
        "is_anonymous",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
        "can_send_welcome_messages",
    )
    return {right: right != "is_anonymous" and right != "can_be_edited" for right in rights}


def _retry_after(response: web.Response) -> int | None:
    if response.status != 429 or response.body is None:
        return None
    body = json.loads(bytes(response.body))  # type: ignore[arg-type]
    return int(body.get("parameters", {}).get("retry_after", 0))


def _error(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    if error.migrate_to_chat_id is not None:
        body["parameters"] = {"migrate_to_chat_id": error.migrate_to_chat_id}
    return web.json_response(body, status=error.code)
