"""What a person can ask about themselves: /me, /help, /lang, /cancel."""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Button, Incoming, Reply, answer
from handlers.speech import Voice
from models import button, conversation
from models.address import address, place
from models.audit import audit
from models.known import find
from models.person import Person, Resident
from models.phone import readable
from models.registry import Building, Estate, Household
from models.role import Role, live_assignments
from models.scope import ScopeKind, describe_scope

# Commands everyone has, then the extra ones a role brings, in menu order.
EVERYONE = ("start", "request", "my", "me", "lang", "help", "cancel")
BY_ROLE: dict[Role, tuple[str, ...]] = {
    Role.ESTATE_ADMIN: ("bind",),
    Role.NEIGHBOUR_HEAD: ("tasks",),
    Role.FORCE_MEMBER: ("tasks",),
    Role.SECRETARY: ("queue", "tasks"),
    Role.FIRST_SECRETARY: ("queue", "tasks"),
    Role.COMMUNITY_STAFF: ("queue", "tasks"),
    Role.STREET_STAFF: ("queue", "tasks"),
}
LANGUAGES = (("zh_CN", "中文"), ("en", "English"))
# Commands that only work in a building group; they stay off private menus.
GROUP_ONLY = frozenset({"bind"})


async def me(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """Show everything stored about the person, with what they can change."""
    if event.in_group:
        return [answer(event, say("chat.private_pointer", link=ctx.link()))]
    person = await find(session, Person, event.user_id)
    if person is None:
        return [answer(event, say("chat.me_nothing"))]
    lines = [say("chat.me_header", name=person.display_name or say("chat.me_no_name"))]
    if person.phone:
        shown = say("chat.me_phone_on_card" if person.phone_on_card else "chat.me_phone_private")
        lines.append(say("chat.me_phone", phone=readable(person.phone), shown=shown))
    if person.language:
        lines.append(say("chat.me_language", language=dict(LANGUAGES)[person.language]))
    homes = list(await session.execute(_HOMES, {"user": person.user_id}))
    for _, estate, building, unit, room in homes:
        lines.append(say("chat.me_household", household=address(estate, building, unit, room)))
    held = await live_assignments(session, user_id=person.user_id, on=ctx.today())
    for assignment in held:
        scope = await describe_scope(session, ScopeKind(assignment.scope_kind), assignment.scope_id)
        lines.append(say("chat.me_role", role=say("role." + assignment.role), scope=scope.spoken))
    choices: list[tuple[str, dict[str, object]]] = [("profile.type_name", {})]
    labels = [say("chat.me_button_name")]
    if any(a.role == Role.NEIGHBOUR_HEAD.value for a in held):
        choices.append(("profile.phone", {}))
        labels.append(say("chat.me_button_phone"))
    for resident_id, _, building, unit, room in homes:
        choices.append(("profile.leave", {"resident": resident_id}))
        leave = say("chat.me_button_leave_of", place=place(building, unit, room))
        labels.append(leave if len(homes) > 1 else say("chat.me_button_leave"))
    tokens = button.issue(session, event.user_id, event.chat_id, choices)
    rows = [[Button(label, token)] for label, token in zip(labels, tokens, strict=True)]
    return [answer(event, "\n".join(lines), rows)]


# Built once: /me is asked often, and building a statement costs about what running it does.
_HOMES = (
    select(Resident.id, Estate.name, Building.name, Household.unit, Household.room)
    .join(Building, Building.estate_id == Estate.id)
    .join(Household, Household.building_id == Building.id)
    .join(Resident, Resident.household_id == Household.id)
    .where(Resident.user_id == bindparam("user"), Resident.unbound_at.is_(None))
    .order_by(Resident.id)
)


async def help_(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """List what this person can do with the roles they hold (in a group, what the group can)."""
    if event.in_group:
        return [answer(event, say("chat.help_group", link=ctx.link()))]
    roles = {
        Role(a.role) for a in await live_assignments(session, user_id=event.user_id, on=ctx.today())
    }
    commands = commands_for(roles)
    lines = [say("chat.help_header")]
    lines += [f"/{command} — {say('command.' + command)}" for command in commands]
    return [answer(event, "\n".join(lines))]


async def lang(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """Offer the languages as buttons, in private."""
    if event.in_group:
        return [answer(event, say("chat.private_pointer", link=ctx.link()))]
    tokens = button.issue(
        session,
        event.user_id,
        event.chat_id,
        [("lang.set", {"language": code}) for code, _ in LANGUAGES],
    )
    row = [Button(name, token) for (_, name), token in zip(LANGUAGES, tokens, strict=True)]
    return [answer(event, say("chat.lang_ask"), [row])]


async def set_lang(
    session: AsyncSession, event: Incoming, data: dict[str, str]
) -> tuple[Voice, list[Reply]]:
    """Store the chosen language; answer in it."""
    language = data.get("language", "")
    if language not in dict(LANGUAGES):
        return Voice("zh_CN"), []
    person = await find(session, Person, event.user_id)
    if person is None:
        person = Person(user_id=event.user_id)
        session.add(person)
    before = person.language
    person.language = language
    audit(
        session,
        f"user:{event.user_id}",
        "person.language",
        "person",
        event.user_id,
        before={"language": before},
        after={"language": language},
    )
    say = Voice(language)
    return say, [answer(event, say("chat.lang_set"))]


async def cancel(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    ended = await conversation.end(session, event.chat_id, event.user_id)
    return [answer(event, say("chat.cancel_done" if ended else "chat.cancel_none"))]


def commands_for(roles: set[Role]) -> list[str]:
    """Everyone's commands, then those the roles bring, in menu order."""
    commands = list(EVERYONE)
    for role in sorted(roles):
        commands += [c for c in BY_ROLE.get(role, ()) if c not in commands]
    return commands


async def personal_menus(session: AsyncSession, today: date) -> dict[int, list[str]]:
    """The private menu of everyone whose roles add commands to it."""
    roles: dict[int, set[Role]] = {}
    for assignment in await live_assignments(session, on=today):
        roles.setdefault(assignment.user_id, set()).add(Role(assignment.role))
    menus = {}
    for user, held in roles.items():
        private = [c for c in commands_for(held) if c not in GROUP_ONLY]
        if private != list(EVERYONE):
            menus[user] = private
    return menus
