"""What a person can ask about themselves: /me, /help, /lang, /cancel."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select

from handlers.batch import Batch, alone
from handlers.events import Button, Incoming, Reply, answer
from handlers.flow import Command, Flow, Where
from handlers.speech import Voice
from handlers.turn import Turn
from models import button
from models.address import address, place
from models.audit import audit
from models.button import Pressed
from models.person import Resident
from models.phone import readable
from models.registry import Building, Estate, Household
from models.role import Role, RoleAssignment, held_by, live_assignments
from models.scope import ScopeKind, describe_scope

NAME = "account"
LANGUAGES = (("zh_CN", "中文"), ("en", "English"))


async def me(turn: Turn) -> list[Reply]:
    """Show everything stored about the person, with what they can change."""
    session, event, say = turn.session, turn.event, turn.say
    person = await turn.batch.person(event.user_id)
    if person is None:
        return [turn.answer("chat.me_nothing")]
    lines = [say("chat.me_header", name=person.display_name or say("chat.me_no_name"))]
    if person.phone:
        shown = say("chat.me_phone_on_card" if person.phone_on_card else "chat.me_phone_private")
        lines.append(say("chat.me_phone", phone=readable(person.phone), shown=shown))
    if person.language:
        lines.append(say("chat.me_language", language=dict(LANGUAGES)[person.language]))
    homes = await _homes(turn)
    for _, estate, building, unit, room, fees in homes:
        household = address(estate, building, unit, room)
        key = "chat.me_household_fees" if fees else "chat.me_household"
        lines.append(say(key, household=household))
    held = await _roles(turn)
    for assignment in held:
        scope = await describe_scope(session, ScopeKind(assignment.scope_kind), assignment.scope_id)
        lines.append(say("chat.me_role", role=say("role." + assignment.role), scope=scope.spoken))
    choices: list[tuple[str, dict[str, object]]] = [("profile.type_name", {})]
    labels = [say("chat.me_button_name")]
    if any(a.role == Role.NEIGHBOUR_HEAD.value for a in held):
        choices.append(("profile.phone", {}))
        labels.append(say("chat.me_button_phone"))
    for resident_id, _, building, unit, room, fees in homes:
        where = place(building, unit, room)
        choices.append(("profile.fees", {"resident": resident_id, "on": not fees}))
        fee_key = "chat.me_button_fees_off" if fees else "chat.me_button_fees_on"
        labels.append(say(f"{fee_key}_of", place=where) if len(homes) > 1 else say(fee_key))
        choices.append(("profile.leave", {"resident": resident_id}))
        leave = say("chat.me_button_leave_of", place=where)
        labels.append(leave if len(homes) > 1 else say("chat.me_button_leave"))
    choices.append(("privacy.export", {}))
    labels.append(say("privacy.export_button"))
    tokens = button.issue(session, event.user_id, event.chat_id, choices)
    rows = [[Button(label, token)] for label, token in zip(labels, tokens, strict=True)]
    return [turn.answer_text("\n".join(lines), rows)]


# A person's households as /me shows them: (resident, estate, building, unit, room, fees).
Home = tuple[int, str, str, str, str, bool]

# Built once: /me is asked often, and building a statement costs about what running it does.
_HOMES = (
    select(
        Resident.user_id,
        Resident.id,
        Estate.name,
        Building.name,
        Household.unit,
        Household.room,
        Resident.fee_reminders,
    )
    .join(Building, Building.estate_id == Estate.id)
    .join(Household, Household.building_id == Building.id)
    .join(Resident, Resident.household_id == Household.id)
    .where(Resident.user_id.in_(bindparam("users", expanding=True)), Resident.unbound_at.is_(None))
    .order_by(Resident.id)
)


async def homes_of(batch: Batch, users: Collection[int]) -> dict[int, list[Home]]:
    """The households of many people, each a key, in one statement."""
    found: dict[int, list[Home]] = {user: [] for user in users}
    if users:
        rows = await batch.session.execute(_HOMES, {"users": sorted(users)})
        for user, resident, estate, building, unit, room, fees in rows:
            found[user].append((resident, estate, building, unit, room, fees))
    return found


async def help_(turn: Turn) -> list[Reply]:
    """List what this person can do with the roles they hold (in a group, what the group can)."""
    if turn.event.in_group:
        return [turn.answer("chat.help_group", link=turn.ctx.link())]
    held = await _roles(turn)
    lines = [turn.say("chat.help_header")]
    for name in turn.commands({Role(a.role) for a in held}):
        lines.append(f"/{name} — {turn.say('command.' + name)}")
    return [turn.answer_text("\n".join(lines))]


async def lang(turn: Turn) -> list[Reply]:
    """Offer the languages as buttons."""
    tokens = button.issue(
        turn.session,
        turn.event.user_id,
        turn.event.chat_id,
        [("lang.set", {"language": code}) for code, _ in LANGUAGES],
    )
    row = [Button(name, token) for (_, name), token in zip(LANGUAGES, tokens, strict=True)]
    return [turn.answer("chat.lang_ask", [row])]


async def set_lang(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Store the chosen language; answer in it."""
    language = pressed.data.get("language", "")
    if language not in dict(LANGUAGES):
        return [turn.answer("chat.button_invalid")]
    user = turn.event.user_id
    person = await turn.batch.person_or_new(user)
    before = person.language
    person.language = language
    audit(
        turn.session,
        f"user:{user}",
        "person.language",
        "person",
        user,
        before={"language": before},
        after={"language": language},
    )
    return [answer(turn.event, Voice(language)("chat.lang_set"))]


async def cancel(turn: Turn) -> list[Reply]:
    ended = await turn.end()
    return [turn.answer("chat.cancel_done" if ended else "chat.cancel_none")]


ROLES_ASKED = ("me", "help")


@dataclass
class Asked:
    """What the batch's /me and /help will read, read for all of them at once."""

    roles: dict[int, list[RoleAssignment]] = field(default_factory=dict)
    homes: dict[int, list[Home]] = field(default_factory=dict)


async def prefetch(batch: Batch, events: Sequence[Incoming]) -> None:
    """The roles of everyone in the batch asking /me or /help, and the households of those
    asking /me, one statement each."""
    asking = [e for e in events if e.command in ROLES_ASKED and not e.in_group]
    if not asking:
        return
    # Households only of people with nothing else in the batch; theirs are read as they come.
    once = alone(events)
    me = {e.user_id for e in asking if e.command == "me" and e.user_id in once}
    batch.prefetched[NAME] = Asked(
        await held_by(batch.session, {e.user_id for e in asking}, batch.today),
        await homes_of(batch, me),
    )


async def _roles(turn: Turn) -> list[RoleAssignment]:
    read: Asked = turn.batch.prefetched.get(NAME) or Asked()
    if turn.event.user_id in read.roles:
        return read.roles[turn.event.user_id]
    return await live_assignments(turn.session, user_id=turn.event.user_id, on=turn.ctx.today())


async def _homes(turn: Turn) -> list[Home]:
    read: Asked = turn.batch.prefetched.get(NAME) or Asked()
    user = turn.event.user_id
    return read.homes[user] if user in read.homes else (await homes_of(turn.batch, [user]))[user]


FLOW = Flow(
    name=NAME,
    commands=(
        Command("me", me, where=Where.PRIVATE, rank=30),
        Command("lang", lang, where=Where.PRIVATE, rank=40),
        Command("help", help_, rank=50),
        Command("cancel", cancel, where=Where.PRIVATE, rank=60),
    ),
    buttons={"lang.set": set_lang},
    prefetch=prefetch,
)
