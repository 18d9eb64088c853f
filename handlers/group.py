"""Building group chats: binding a chat to its building, and welcoming those who join."""

from __future__ import annotations

from handlers.events import Button, Incoming, Reply, answer
from handlers.flow import Ask, Command, Flow, Where
from handlers.households import building_label
from handlers.speech import voice_for
from handlers.turn import Turn
from models.audit import audit
from models.base import utcnow
from models.building_chat import BuildingChat, building_of_chat, usable_code
from models.registry import Building, Estate
from models.role import Role, live_assignments
from models.scope import Scope, ScopeKind
from models.welcome import first_welcome


async def bind(turn: Turn) -> list[Reply]:
    """Bind this group to a building, for an estate admin who also administers the chat."""
    session, event, ctx, say = turn.session, turn.event, turn.ctx, turn.say
    code = await usable_code(session, event.args.strip())
    if code is None:
        return [answer(event, say("chat.bind_bad_code"))]
    building = await session.get_one(Building, code.building_id)
    estate = await session.get_one(Estate, building.estate_id)
    admins = await live_assignments(
        session,
        scope=Scope(ScopeKind.ESTATE, estate.id, estate.name),
        role=Role.ESTATE_ADMIN,
        user_id=event.user_id,
        on=ctx.today(),
    )
    if not admins:
        return [answer(event, say("chat.bind_not_estate_admin", estate=estate.name))]
    # Asked of Telegram before the transaction began: no network call while it is open.
    administers = turn.batch.chat_admin(event.chat_id, event.user_id)
    if administers is None:
        return [answer(event, say("chat.bind_try_again"))]
    if not administers:
        return [answer(event, say("chat.bind_not_chat_admin"))]
    chat = await session.get(BuildingChat, event.chat_id)
    before = {"building_id": chat.building_id} if chat else None
    if chat is None:
        chat = BuildingChat(chat_id=event.chat_id, building_id=building.id, bound_by=event.user_id)
        session.add(chat)
    chat.building_id, chat.bound_by, chat.title = building.id, event.user_id, event.chat_title
    code.used_at = utcnow()
    audit(
        session,
        f"user:{event.user_id}",
        "chat.bind",
        "building_chat",
        event.chat_id,
        before=before,
        after={"building_id": building.id},
    )
    return [answer(event, say("chat.bind_done", building=f"{estate.name}{building.name}"))]


async def welcome(turn: Turn) -> list[Reply]:
    """Greet each person who joins a bound building group, once, with the way to register."""
    session, event, ctx = turn.session, turn.event, turn.ctx
    building_id = await building_of_chat(session, event.chat_id)
    if building_id is None:
        return []
    building = await building_label(session, building_id, turn.batch.names)
    replies = []
    for member in event.joined:
        # Telegram may report one join twice (a member update and a service message).
        if not await first_welcome(session, event.chat_id, member.user_id):
            continue
        say = await voice_for(
            turn.batch,
            Incoming(
                update_id=event.update_id,
                chat_id=event.chat_id,
                chat_kind=event.chat_kind,
                user_id=member.user_id,
                display_name=member.display_name,
                language_code=member.language_code,
            ),
            ctx,
        )
        replies.append(
            answer(
                event,
                say("chat.welcome", building=building),
                [[Button(say("chat.welcome_button"), url=ctx.link())]],
            )
        )
    return replies


FLOW = Flow(
    name="group",
    commands=(
        Command(
            "bind",
            bind,
            roles=frozenset({Role.ESTATE_ADMIN}),
            where=Where.GROUP,
            rank=90,
            asks=frozenset({Ask.CHAT_ADMIN}),
        ),
    ),
    on_join=welcome,
)
