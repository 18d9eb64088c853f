"""Filing a request: in private step by step, or on the spot in the building's group."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Button, Reply, answer
from handlers.flow import Command, Flow
from handlers.households import household_label
from handlers.request_cards import Desk, notices
from handlers.turn import Turn
from models import button
from models.address import natural_key, place
from models.building_chat import building_of_chat
from models.button import Pressed
from models.conversation import Conversation
from models.person import Resident
from models.registry import Building, Household
from models.request import CLOSED, Level, Request, RequestFollower, RequestKind
from models.request_flow import Clock, file_request
from models.role import Role, live_assignments
from models.workdays import WorkCalendar

NAME = "request"
MAX_PHOTOS = 5
LONGEST = 1000
# Share of character pairs two descriptions must have in common to count as the same matter.
SIMILAR = 0.35
# The deep-link payload that opens the filing flow in private.
START_PAYLOAD = "request"
KINDS = (RequestKind.SERVICE, RequestKind.OPINION, RequestKind.DISPUTE)
# Households offered at once to a head filing for one: a group has about a dozen.
PAGE = 20


class Step(StrEnum):
    KIND = "kind"
    DESCRIBE = "describe"
    OTHER = "other"  # a dispute's other party
    CONFIRM = "confirm"


async def clock_for(session: AsyncSession, ctx: Context) -> Clock:
    return Clock(await WorkCalendar.load(session), ctx.zone)


def desk_for(turn: Turn) -> Desk:
    return Desk(turn.ctx.zone, turn.ctx.default_language, turn.batch.names)


async def home_of(
    session: AsyncSession, user_id: int, building_id: int | None = None
) -> Household | None:
    """The household a person is bound to (in a building, when given)."""
    query = (
        select(Household)
        .join(Resident, Resident.household_id == Household.id)
        .where(Resident.user_id == user_id, Resident.unbound_at.is_(None))
        .where(Household.removed_at.is_(None))
        .order_by(Resident.id)
    )
    if building_id is not None:
        query = query.where(Household.building_id == building_id)
    return (await session.scalars(query.limit(1))).first()


async def command(turn: Turn) -> list[Reply]:
    """Answer /request: on the spot in a group, step by step in private."""
    if turn.event.in_group:
        return await _in_group(turn)
    return await begin(turn)


async def begin(turn: Turn) -> list[Reply]:
    """Ask what kind of request; a head is first asked whether it is for a household they serve."""
    home = await home_of(turn.session, turn.event.user_id)
    groups = await groups_served(turn.session, turn.event.user_id, turn.ctx)
    if groups and home is None:
        return await _households_page(turn, 0)
    if groups:
        buttons = turn.buttons(
            [
                ("req.for_self", "req.for_self", {}),
                ("req.for_household", "req.for_household", {"page": 0}),
            ]
        )
        return [turn.answer("req.ask_for_whom", [buttons])]
    if home is None:
        return [turn.answer("req.not_registered")]
    return await ask_kind(turn, {})


async def ask_kind(turn: Turn, data: dict[str, Any]) -> list[Reply]:
    await turn.begin(NAME, Step.KIND, data)
    buttons = turn.buttons(
        [(f"req.kind.{kind.value}", "req.kind", {"kind": kind.value}) for kind in KINDS]
        + [("req.button_cancel", "req.cancel", {})]
    )
    return [turn.answer("req.ask_kind", [buttons[:3], buttons[3:]])]


async def for_self(turn: Turn, pressed: Pressed) -> list[Reply]:
    if await home_of(turn.session, turn.event.user_id) is None:
        return [turn.answer("req.not_registered")]
    return await ask_kind(turn, {})


async def groups_served(session: AsyncSession, user_id: int, ctx: Context) -> set[int]:
    """The neighbour groups a person serves as head today."""
    held = await live_assignments(session, user_id=user_id, on=ctx.today())
    return {a.scope_id for a in held if a.role == Role.NEIGHBOUR_HEAD.value}


async def choose_household(turn: Turn, pressed: Pressed) -> list[Reply]:
    return await _households_page(turn, int(pressed.data.get("page", 0)))


async def _households_page(turn: Turn, page: int) -> list[Reply]:
    """A head picks the household they file for, a page of their households at a time."""
    groups = await groups_served(turn.session, turn.event.user_id, turn.ctx)
    rows = (
        await turn.session.execute(
            select(Household, Building.name)
            .join(Building, Building.id == Household.building_id)
            .where(Household.neighbour_group_id.in_(groups), Household.removed_at.is_(None))
        )
    ).all()
    if not rows:
        return [turn.answer("req.no_households")]
    ordered = sorted(rows, key=lambda row: natural_key(row[1], row[0].unit, row[0].room))
    pages = (len(ordered) + PAGE - 1) // PAGE
    page = min(max(page, 0), pages - 1)
    shown = ordered[page * PAGE : (page + 1) * PAGE]
    choices: list[tuple[str, dict[str, object]]] = [
        ("req.household", {"household_id": household.id}) for household, _ in shown
    ]
    labels = [
        " ".join(filter(None, (place(building, h.unit, h.room), h.householder)))
        for h, building in shown
    ]
    if pages > 1:
        choices.append(("req.for_household", {"page": (page + 1) % pages}))
        labels.append(turn.say("req.next_page"))
    choices.append(("req.cancel", {}))
    labels.append(turn.say("req.button_cancel"))
    tokens = button.issue(turn.session, turn.event.user_id, turn.event.chat_id, choices)
    buttons = [Button(label, token) for label, token in zip(labels, tokens, strict=True)]
    grid = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if pages == 1:
        return [turn.answer("req.choose_household_one", grid)]
    return [turn.answer("req.choose_household", grid, page=page + 1, pages=pages)]


async def chose_household(turn: Turn, pressed: Pressed) -> list[Reply]:
    household = await _served(turn, pressed.data.get("household_id"))
    if household is None:
        return [turn.answer("req.not_your_household")]
    return await ask_kind(turn, {"household_id": household.id, "on_behalf": True})


async def _served(turn: Turn, household_id: object) -> Household | None:
    """The household, if it is on the roster and in a group this person serves as head today."""
    if not isinstance(household_id, int):
        return None
    household = await turn.session.get(Household, household_id)
    if household is None or household.removed_at is not None:
        return None
    if household.neighbour_group_id not in await groups_served(
        turn.session, turn.event.user_id, turn.ctx
    ):
        return None
    return household


async def _filing_for(turn: Turn, data: dict[str, Any]) -> Household | None:
    """The household a request in the making is for: the person's own, or one they serve."""
    if data.get("on_behalf"):
        return await _served(turn, data.get("household_id"))
    return await home_of(turn.session, turn.event.user_id)


async def chose_kind(turn: Turn, pressed: Pressed) -> list[Reply]:
    state = await turn.conversation()
    kind = pressed.data.get("kind")
    if state is None or state.flow != NAME or kind not in {k.value for k in KINDS}:
        return [turn.answer("chat.button_invalid")]
    await turn.begin(NAME, Step.DESCRIBE, {**_behalf_of(state.data), "kind": kind})
    key = "req.ask_dispute" if kind == RequestKind.DISPUTE.value else "req.ask_describe"
    return [turn.answer(key, photos=MAX_PHOTOS)]


async def step(turn: Turn, state: Conversation) -> list[Reply]:
    """The answer to the current question of the filing flow."""
    event = turn.event
    data = dict(state.data)
    if state.step != Step.KIND and data.get("kind") not in {k.value for k in KINDS}:
        # State that no step of ours writes: start again rather than guess.
        await turn.end()
        return [turn.answer("req.start_again")]
    if state.step in (Step.OTHER, Step.CONFIRM) and not isinstance(data.get("description"), str):
        await turn.end()
        return [turn.answer("req.start_again")]
    if state.step == Step.OTHER and event.text:
        return await _other_party(turn, data)
    if state.step != Step.DESCRIBE:
        return [turn.answer("req.use_buttons")]
    photos = [*data.get("photos", []), *event.photo_ids]
    if len(photos) > MAX_PHOTOS:
        return [turn.answer("req.too_many_photos", photos=MAX_PHOTOS)]
    data["photos"] = photos
    text = (event.text or "").strip()
    if not text:
        await turn.begin(NAME, Step.DESCRIBE, data)
        return [turn.answer("req.photo_kept", count=len(photos), photos=MAX_PHOTOS)]
    if len(text) > LONGEST:
        return [turn.answer("req.too_long", limit=LONGEST)]
    data["description"] = text
    if data["kind"] == RequestKind.DISPUTE.value:
        await turn.begin(NAME, Step.OTHER, data)
        [skip] = turn.buttons([("req.button_skip", "req.skip_other", {})])
        return [turn.answer("req.ask_other", [[skip]])]
    return await _confirm(turn, data)


async def skip_other(turn: Turn, pressed: Pressed) -> list[Reply]:
    """The resident does not name the other party of a dispute."""
    state = await turn.conversation()
    if state is None or state.flow != NAME or state.step != Step.OTHER:
        return [turn.answer("chat.button_invalid")]
    return await _confirm(turn, dict(state.data))


async def _other_party(turn: Turn, data: dict[str, Any]) -> list[Reply]:
    """Find the household the resident names as the other party, in their own estate."""
    household = await _filing_for(turn, data)
    text = turn.event.text or ""
    other = await household_named(turn.session, household, text) if household else None
    if other is None or household is None or other.id == household.id:
        return [turn.answer("req.other_not_found")]
    data["other_household_id"] = other.id
    return await _confirm(turn, data)


async def household_named(session: AsyncSession, home: Household, text: str) -> Household | None:
    """A household of the same estate written as 1栋1单元102室 (separators and 室 optional)."""
    wanted = "".join(c for c in text if c.isalnum()).removesuffix("室").removesuffix("号")
    if not wanted:
        return None
    rows = await session.execute(
        select(Household, Building.name)
        .join(Building, Building.id == Household.building_id)
        .where(
            Building.estate_id
            == select(Building.estate_id).where(Building.id == home.building_id).scalar_subquery(),
            Household.removed_at.is_(None),
            Household.room == _room_of(wanted),
        )
    )
    for household, building in rows:
        written = f"{building}{household.unit}{household.room}"
        if "".join(c for c in written if c.isalnum()) == wanted:
            return household
    return None


def _behalf_of(data: dict[str, Any]) -> dict[str, Any]:
    """The part of a flow's data that says whom it is for, carried from step to step."""
    return {k: data[k] for k in ("household_id", "on_behalf") if k in data}


def _room_of(text: str) -> str:
    """The trailing digits of what was written: the room number."""
    digits = len(text) - len(text.rstrip("0123456789"))
    return text[-digits:] if digits else text


async def _confirm(turn: Turn, data: dict[str, Any]) -> list[Reply]:
    """Offer a similar open matter to follow, and the summary to submit."""
    say = turn.say
    text = data["description"]
    photos = data.get("photos", [])
    await turn.begin(NAME, Step.CONFIRM, data)
    household = await _filing_for(turn, data)
    twin = await similar_open(turn.session, household.building_id, text) if household else None
    choices: list[tuple[str, str, dict[str, Any]]] = []
    if twin is not None:
        choices.append(("req.button_follow", "req.follow", {"id": twin.id}))
    choices += [("req.button_submit", "req.submit", {}), ("req.button_cancel", "req.cancel", {})]
    row = turn.buttons(choices)
    kind = say(f"req.kind.{data['kind']}")
    summary = say("req.confirm", kind=kind, description=text, count=len(photos))
    if data.get("on_behalf") and household is not None:
        label = await household_label(turn.session, household, turn.batch.names)
        summary += "\n" + say("req.confirm_for", household=label)
    if twin is not None:
        summary = say("req.similar", reference=twin.reference, description=twin.description)
        summary += "\n\n" + say("req.confirm", kind=kind, description=text, count=len(photos))
    return [turn.answer_text(summary, [row])]


async def submit(turn: Turn, pressed: Pressed) -> list[Reply]:
    session, event, ctx = turn.session, turn.event, turn.ctx
    state = await turn.conversation()
    if state is None or state.flow != NAME or state.step != Step.CONFIRM:
        return [turn.answer("chat.button_invalid")]
    on_behalf = bool(state.data.get("on_behalf"))
    household = await _filing_for(turn, state.data)
    if household is None:
        # Between the question and the press the head may have left office, or the resident
        # the household.
        await turn.end()
        return [turn.answer("req.not_your_household" if on_behalf else "req.not_registered")]
    clock = await clock_for(session, ctx)
    change = await file_request(
        session,
        household,
        event.user_id,
        RequestKind(state.data["kind"]),
        state.data["description"],
        clock,
        photos=list(state.data.get("photos", [])),
        other_household_id=state.data.get("other_household_id"),
        on_behalf=on_behalf,
    )
    await turn.end()
    reference = change.request.reference
    withdraw = turn.buttons([("req.button_withdraw", "req.withdraw", {"id": change.request.id})])
    if on_behalf:
        label = await household_label(session, household, turn.batch.names)
        filed = turn.answer("req.filed_for", [withdraw], household=label, reference=reference)
    elif Level(change.request.level) is Level.HEAD:
        filed = turn.answer("req.filed_to_head", [withdraw], reference=reference)
    else:
        filed = turn.answer("req.filed_to_branch", [withdraw], reference=reference)
    return [filed, *await notices(session, change, desk_for(turn), clock.today)]


async def cancel(turn: Turn, pressed: Pressed) -> list[Reply]:
    await turn.end()
    return [turn.answer("req.cancelled")]


async def follow(turn: Turn, pressed: Pressed) -> list[Reply]:
    """ "Me too" (我也遇到了): a resident of the same building follows instead of refiling."""
    session, event = turn.session, turn.event
    request = await session.get(Request, pressed.data.get("id", 0))
    if request is None or request.personal or request.state in CLOSED:
        return [turn.toast("chat.button_invalid")]
    if await home_of(session, event.user_id, request.building_id) is None:
        return [turn.toast("req.follow_not_resident")]
    if event.user_id != request.filed_by and not await session.get(
        RequestFollower, (request.id, event.user_id)
    ):
        session.add(RequestFollower(request_id=request.id, user_id=event.user_id))
    if not event.in_group:
        await turn.end()
        return [turn.answer("req.following", reference=request.reference)]
    return [turn.toast("req.following", reference=request.reference)]


async def similar_open(session: AsyncSession, building_id: int, text: str) -> Request | None:
    """An open building matter (never a personal one) that says much the same."""
    rows = await session.scalars(
        select(Request).where(
            Request.building_id == building_id,
            Request.personal.is_(False),
            Request.state.not_in([s.value for s in CLOSED]),
        )
    )
    mine = _pairs(text)
    best, score = None, 0.0
    for request in rows:
        theirs = _pairs(request.description)
        overlap = len(mine & theirs) / max(1, len(mine | theirs))
        if overlap > score:
            best, score = request, overlap
    return best if score >= SIMILAR else None


async def _in_group(turn: Turn) -> list[Reply]:
    """A building matter on the spot; anything personal moves to a private chat."""
    session, event, ctx, say = turn.session, turn.event, turn.ctx, turn.say
    building_id = await building_of_chat(session, event.chat_id)
    if building_id is None:
        return [turn.answer("req.group_not_bound")]
    household = await home_of(session, event.user_id, building_id)
    if household is None:
        # Pointed to registration in private: the group need not know who is not registered.
        return [Reply(event.user_id, say("req.not_registered_here", link=ctx.link()))]
    # `/request` in reply to a neighbour's message files what that message says.
    text = event.args.strip() or (event.reply_text or "").strip()
    if not text:
        link = Button(say("req.button_private"), url=ctx.link(START_PAYLOAD))
        return [turn.answer("req.continue_private", [[link]])]
    if len(text) > LONGEST:
        return [turn.answer("req.too_long", limit=LONGEST)]
    clock = await clock_for(session, ctx)
    change = await file_request(
        session,
        household,
        event.user_id,
        RequestKind.SERVICE,
        text,
        clock,
        personal=False,
        group_chat_id=event.chat_id,
    )
    # Anyone in the group may press "me too", again and again.
    token = button.issue(
        session, button.ANYONE, event.chat_id, [("req.follow", {"id": change.request.id})]
    )[0]
    filed = answer(
        event,
        say("req.filed_in_group", reference=change.request.reference),
        [[Button(say("req.button_me_too"), token)]],
    )
    return [filed, *await notices(session, change, desk_for(turn), clock.today)]


def _pairs(text: str) -> set[str]:
    """Character pairs: for Chinese, a fair stand-in for words without a segmenter."""
    letters = "".join(c for c in text if c.isalnum())
    return {letters[i : i + 2] for i in range(len(letters) - 1)} or {letters}


FLOW = Flow(
    name=NAME,
    commands=(Command("request", command, rank=10),),
    buttons={
        "req.for_self": for_self,
        "req.for_household": choose_household,
        "req.household": chose_household,
        "req.kind": chose_kind,
        "req.skip_other": skip_other,
        "req.submit": submit,
        "req.cancel": cancel,
        "req.follow": follow,
    },
    steps=Step,
    on_text=step,
    deep_links={START_PAYLOAD: begin},
)
