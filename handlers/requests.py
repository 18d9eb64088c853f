"""Filing a request: in private step by step, or on the spot in the building's group."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Button, Incoming, Reply, answer, toast
from handlers.households import household_label
from handlers.request_cards import Desk, notices
from handlers.speech import Voice
from models import button, conversation
from models.address import natural_key, place
from models.building_chat import building_of_chat
from models.person import Resident
from models.registry import Building, Household
from models.request import CLOSED, Level, Request, RequestFollower, RequestKind
from models.request_flow import Clock, file_request
from models.role import Role, live_assignments
from models.workdays import WorkCalendar

FLOW = "request"
MAX_PHOTOS = 5
LONGEST = 1000
# Share of character pairs two descriptions must have in common to count as the same matter.
SIMILAR = 0.35
# The deep-link payload that opens the filing flow in private.
START_PAYLOAD = "request"
KINDS = (RequestKind.SERVICE, RequestKind.OPINION, RequestKind.DISPUTE)
# Households offered at once to a head filing for one: a group has about a dozen.
PAGE = 20


async def clock_for(session: AsyncSession, ctx: Context) -> Clock:
    return Clock(await WorkCalendar.load(session), ctx.zone)


def desk_for(ctx: Context) -> Desk:
    return Desk(ctx.zone, ctx.default_language)


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


async def command(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """Answer /request: on the spot in a group, step by step in private."""
    if event.in_group:
        return await _in_group(session, event, ctx, say)
    return await begin(session, event, ctx, say)


async def begin(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """Ask what kind of request; a head is first asked whether it is for a household they serve."""
    home = await home_of(session, event.user_id)
    groups = await groups_served(session, event.user_id, ctx)
    if groups and home is None:
        return await choose_household(session, event, ctx, say, {"page": 0})
    if groups:
        choices: list[tuple[str, dict[str, object]]] = [
            ("req.for_self", {}),
            ("req.for_household", {"page": 0}),
        ]
        mine, theirs = button.issue(session, event.user_id, event.chat_id, choices)
        buttons = [[Button(say("req.for_self"), mine), Button(say("req.for_household"), theirs)]]
        return [answer(event, say("req.ask_for_whom"), buttons)]
    if home is None:
        return [answer(event, say("req.not_registered"))]
    return await ask_kind(session, event, say, {})


async def ask_kind(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    await conversation.begin(session, event.chat_id, event.user_id, FLOW, "kind", data)
    choices = [("req.kind", {"kind": kind.value}) for kind in KINDS] + [("req.cancel", {})]
    tokens = button.issue(session, event.user_id, event.chat_id, choices)
    labels = [say(f"req.kind.{kind.value}") for kind in KINDS] + [say("req.button_cancel")]
    buttons = [Button(label, token) for label, token in zip(labels, tokens, strict=True)]
    return [answer(event, say("req.ask_kind"), [buttons[:3], buttons[3:]])]


async def for_self(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    if await home_of(session, event.user_id) is None:
        return [answer(event, say("req.not_registered"))]
    return await ask_kind(session, event, say, {})


async def groups_served(session: AsyncSession, user_id: int, ctx: Context) -> set[int]:
    """The neighbour groups a person serves as head today."""
    held = await live_assignments(session, user_id=user_id, on=ctx.today())
    return {a.scope_id for a in held if a.role == Role.NEIGHBOUR_HEAD.value}


async def choose_household(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """A head picks the household they file for, a page of their households at a time."""
    groups = await groups_served(session, event.user_id, ctx)
    rows = (
        await session.execute(
            select(Household, Building.name)
            .join(Building, Building.id == Household.building_id)
            .where(Household.neighbour_group_id.in_(groups), Household.removed_at.is_(None))
        )
    ).all()
    if not rows:
        return [answer(event, say("req.no_households"))]
    ordered = sorted(rows, key=lambda row: natural_key(row[1], row[0].unit, row[0].room))
    pages = (len(ordered) + PAGE - 1) // PAGE
    page = min(max(int(data.get("page", 0)), 0), pages - 1)
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
        labels.append(say("req.next_page"))
    choices.append(("req.cancel", {}))
    labels.append(say("req.button_cancel"))
    tokens = button.issue(session, event.user_id, event.chat_id, choices)
    buttons = [Button(label, token) for label, token in zip(labels, tokens, strict=True)]
    grid = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if pages == 1:
        text = say("req.choose_household_one")
    else:
        text = say("req.choose_household", page=page + 1, pages=pages)
    return [answer(event, text, grid)]


async def chose_household(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    household = await _served(session, event.user_id, ctx, data.get("household_id"))
    if household is None:
        return [answer(event, say("req.not_your_household"))]
    return await ask_kind(session, event, say, {"household_id": household.id, "on_behalf": True})


async def _served(
    session: AsyncSession, user_id: int, ctx: Context, household_id: object
) -> Household | None:
    """The household, if it is on the roster and in a group this person serves as head today."""
    household = (
        await session.get(Household, household_id) if isinstance(household_id, int) else None
    )
    if household is None or household.removed_at is not None:
        return None
    if household.neighbour_group_id not in await groups_served(session, user_id, ctx):
        return None
    return household


async def _filing_for(
    session: AsyncSession, event: Incoming, ctx: Context, data: dict[str, Any]
) -> Household | None:
    """The household a request in the making is for: the person's own, or one they serve."""
    if data.get("on_behalf"):
        return await _served(session, event.user_id, ctx, data.get("household_id"))
    return await home_of(session, event.user_id)


async def chose_kind(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, str]
) -> list[Reply]:
    state = await conversation.current(session, event.chat_id, event.user_id)
    if state is None or state.flow != FLOW or data.get("kind") not in {k.value for k in KINDS}:
        return [answer(event, say("chat.button_invalid"))]
    await conversation.begin(
        session,
        event.chat_id,
        event.user_id,
        FLOW,
        "describe",
        {**_behalf_of(state.data), "kind": data["kind"]},
    )
    key = "req.ask_dispute" if data["kind"] == RequestKind.DISPUTE.value else "req.ask_describe"
    return [answer(event, say(key, photos=MAX_PHOTOS))]


async def step(
    session: AsyncSession,
    event: Incoming,
    ctx: Context,
    say: Voice,
    state: conversation.Conversation,
) -> list[Reply]:
    """The answer to the current question of the filing flow."""
    data = dict(state.data)
    if state.step != "kind" and data.get("kind") not in {k.value for k in KINDS}:
        # State that no step of ours writes: start again rather than guess.
        await conversation.end(session, event.chat_id, event.user_id)
        return [answer(event, say("req.start_again"))]
    if state.step in ("other", "confirm") and not isinstance(data.get("description"), str):
        await conversation.end(session, event.chat_id, event.user_id)
        return [answer(event, say("req.start_again"))]
    if state.step == "other" and event.text:
        return await _other_party(session, event, ctx, say, data)
    if state.step != "describe":
        return [answer(event, say("req.use_buttons"))]
    photos = [*data.get("photos", []), *event.photo_ids]
    if len(photos) > MAX_PHOTOS:
        return [answer(event, say("req.too_many_photos", photos=MAX_PHOTOS))]
    data["photos"] = photos
    text = (event.text or "").strip()
    if not text:
        await conversation.begin(session, event.chat_id, event.user_id, FLOW, "describe", data)
        return [answer(event, say("req.photo_kept", count=len(photos), photos=MAX_PHOTOS))]
    if len(text) > LONGEST:
        return [answer(event, say("req.too_long", limit=LONGEST))]
    data["description"] = text
    if data["kind"] == RequestKind.DISPUTE.value:
        await conversation.begin(session, event.chat_id, event.user_id, FLOW, "other", data)
        [skip] = button.issue(session, event.user_id, event.chat_id, [("req.skip_other", {})])
        return [answer(event, say("req.ask_other"), [[Button(say("req.button_skip"), skip)]])]
    return await _confirm(session, event, ctx, say, data)


async def skip_other(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice
) -> list[Reply]:
    """The resident does not name the other party of a dispute."""
    state = await conversation.current(session, event.chat_id, event.user_id)
    if state is None or state.flow != FLOW or state.step != "other":
        return [answer(event, say("chat.button_invalid"))]
    return await _confirm(session, event, ctx, say, dict(state.data))


async def _other_party(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """Find the household the resident names as the other party, in their own estate."""
    household = await _filing_for(session, event, ctx, data)
    other = await household_named(session, household, event.text or "") if household else None
    if other is None or household is None or other.id == household.id:
        return [answer(event, say("req.other_not_found"))]
    data["other_household_id"] = other.id
    return await _confirm(session, event, ctx, say, data)


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
        if (
            "".join(c for c in f"{building}{household.unit}{household.room}" if c.isalnum())
            == wanted
        ):
            return household
    return None


def _behalf_of(data: dict[str, Any]) -> dict[str, Any]:
    """The part of a flow's data that says whom it is for, carried from step to step."""
    return {k: data[k] for k in ("household_id", "on_behalf") if k in data}


def _room_of(text: str) -> str:
    """The trailing digits of what was written: the room number."""
    digits = len(text) - len(text.rstrip("0123456789"))
    return text[-digits:] if digits else text


async def _confirm(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """Offer a similar open matter to follow, and the summary to submit."""
    text = data["description"]
    photos = data.get("photos", [])
    await conversation.begin(session, event.chat_id, event.user_id, FLOW, "confirm", data)
    household = await _filing_for(session, event, ctx, data)
    twin = await similar_open(session, household.building_id, text) if household else None
    choices: list[tuple[str, dict[str, object]]] = []
    if twin is not None:
        choices.append(("req.follow", {"id": twin.id}))
    choices += [("req.submit", {}), ("req.cancel", {})]
    tokens = button.issue(session, event.user_id, event.chat_id, choices)
    labels = [say("req.button_follow")] if twin is not None else []
    labels += [say("req.button_submit"), say("req.button_cancel")]
    row = [Button(label, token) for label, token in zip(labels, tokens, strict=True)]
    kind = say(f"req.kind.{data['kind']}")
    summary = say("req.confirm", kind=kind, description=text, count=len(photos))
    if data.get("on_behalf") and household is not None:
        label = await household_label(session, household)
        summary += "\n" + say("req.confirm_for", household=label)
    if twin is not None:
        summary = say("req.similar", reference=twin.reference, description=twin.description)
        summary += "\n\n" + say("req.confirm", kind=kind, description=text, count=len(photos))
    return [answer(event, summary, [row])]


async def submit(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    state = await conversation.current(session, event.chat_id, event.user_id)
    if state is None or state.flow != FLOW or state.step != "confirm":
        return [answer(event, say("chat.button_invalid"))]
    on_behalf = bool(state.data.get("on_behalf"))
    household = await _filing_for(session, event, ctx, state.data)
    if household is None:
        # Between the question and the press the head may have left office, or the resident
        # the household.
        await conversation.end(session, event.chat_id, event.user_id)
        key = "req.not_your_household" if on_behalf else "req.not_registered"
        return [answer(event, say(key))]
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
    await conversation.end(session, event.chat_id, event.user_id)
    [withdraw] = button.issue(
        session, event.user_id, event.chat_id, [("req.withdraw", {"id": change.request.id})]
    )
    reference = change.request.reference
    if on_behalf:
        label = await household_label(session, household)
        words = say("req.filed_for", household=label, reference=reference)
    elif Level(change.request.level) is Level.HEAD:
        words = say("req.filed_to_head", reference=reference)
    else:
        words = say("req.filed_to_branch", reference=reference)
    filed = answer(event, words, [[Button(say("req.button_withdraw"), withdraw)]])
    return [filed, *await notices(session, change, desk_for(ctx), clock.today)]


async def cancel(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    await conversation.end(session, event.chat_id, event.user_id)
    return [answer(event, say("req.cancelled"))]


async def follow(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, int]
) -> list[Reply]:
    """ "Me too" (跟进): a resident of the same building follows the matter instead of refiling."""
    request = await session.get(Request, data.get("id", 0))
    if request is None or request.personal or request.state in CLOSED:
        return [toast(event, say("chat.button_invalid"))]
    if await home_of(session, event.user_id, request.building_id) is None:
        return [toast(event, say("req.follow_not_resident"))]
    if event.user_id != request.filed_by and not await session.get(
        RequestFollower, (request.id, event.user_id)
    ):
        session.add(RequestFollower(request_id=request.id, user_id=event.user_id))
    if not event.in_group:
        await conversation.end(session, event.chat_id, event.user_id)
        return [answer(event, say("req.following", reference=request.reference))]
    return [toast(event, say("req.following", reference=request.reference))]


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


async def _in_group(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice
) -> list[Reply]:
    """A building matter on the spot; anything personal moves to a private chat."""
    building_id = await building_of_chat(session, event.chat_id)
    if building_id is None:
        return [answer(event, say("req.group_not_bound"))]
    household = await home_of(session, event.user_id, building_id)
    if household is None:
        # Pointed to registration in private: the group need not know who is not registered.
        return [Reply(event.user_id, say("req.not_registered_here", link=ctx.link()))]
    # `/request` in reply to a neighbour's message files what that message says.
    text = event.args.strip() or (event.reply_text or "").strip()
    if not text:
        link = Button(say("req.button_private"), url=ctx.link(START_PAYLOAD))
        return [answer(event, say("req.continue_private"), [[link]])]
    if len(text) > LONGEST:
        return [answer(event, say("req.too_long", limit=LONGEST))]
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
    token = button.issue(
        session, button.ANYONE, event.chat_id, [("req.follow", {"id": change.request.id})]
    )[0]
    filed = answer(
        event,
        say("req.filed_in_group", reference=change.request.reference),
        [[Button(say("req.button_me_too"), token)]],
    )
    return [filed, *await notices(session, change, desk_for(ctx), clock.today)]


def _pairs(text: str) -> set[str]:
    """Character pairs: for Chinese, a fair stand-in for words without a segmenter."""
    letters = "".join(c for c in text if c.isalnum())
    return {letters[i : i + 2] for i in range(len(letters) - 1)} or {letters}
