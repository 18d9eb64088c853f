"""The demo's election: a nomination and the branch's recommendation, the group ballot with its
live turnout, a household voting twice, a paper ballot from the mobile box issued and entered in
chat by two tellers, the result and the new head."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.sandbox.server import Sent
from handlers.election_words import Speaker
from models.election import Election, Phase
from models.paper_ballot import PaperCode
from models.person import Person, Resident
from models.registry import Building, Household
from models.role import Grant, Role, grant_role
from models.scope import resolve_scope
from scheduler.elections import run_elections
from texts import t

if TYPE_CHECKING:
    from bot.demo import Transcript

# Neighbours of 1栋1单元 who registered earlier, by room; 101 is 王秀英's home.
TWIN, MA, GUO, LI, WU = 700103, 700104, 700105, 700106, 700107
TELLER_A, TELLER_B = 700008, 700009
ROOMS = {TWIN: "101", MA: "201", GUO: "202", LI: "301", WU: "302"}
NAMES = {
    TWIN: "徐桂兰",
    MA: "马建国",
    GUO: "郭秀英",
    LI: "李静",
    WU: "吴志强",
    TELLER_A: "监票员小刘",
    TELLER_B: "监票员小陈",
}


async def seed_voters(show: Transcript, estate: str, today: date) -> None:
    """Bind the unit's neighbours to their homes and appoint two tellers."""
    async with show.store.write() as session:
        homes = {
            h.room: h.id
            for h in await session.scalars(
                select(Household)
                .join(Building)
                .where(Building.name == "1栋", Household.unit == "1单元")
            )
        }
        for user, room in ROOMS.items():
            session.add(Person(user_id=user, display_name=NAMES[user]))
            await session.flush()
            session.add(Resident(household_id=homes[room], user_id=user))
        where = await resolve_scope(session, f"estate:{estate}")
        for teller in (TELLER_A, TELLER_B):
            grant = Grant(teller, Role.TELLER, where, display_name=NAMES[teller])
            await grant_role(session, grant, "demo", today)
    for user, name in NAMES.items():
        show.server.add_user(user, name, "zh-hans")
        show.names[user] = name


async def _toast(show: Transcript, user: int, message: Sent, index: int) -> None:
    """Press a ballot button and print the notice only the presser sees."""
    # bot.demo imports this module: its helper is taken when the demo runs.
    from bot.demo import settled

    button = message.buttons()[index]["text"]
    show.out(t("demo.press", show.language, name=show.names[user], button=button))
    before = len(show.server.callback_answers)
    await show.server.press(user, message, index)
    await show.server.wait_callback_answers(before + 1)
    async with asyncio.timeout(20):
        while not await settled(show.server, show.store):  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.05)
    await show.bot_says(len(show.server.sent) - show.shown)
    text = str(show.server.callback_answers[before].get("text") or "")
    shown = " / ".join(line for line in text.splitlines() if line.strip())
    show.out(t("demo.toast", show.language, name=show.names[user], text=shown))


def _ballot(show: Transcript, group: int) -> Sent:
    return [m for m in show.server.sent_to(group) if m.buttons() and "一户一票" in m.text][-1]


async def election_walk_through(
    show: Transcript, secretary: int, resident: int, group: int, estate: str, zone: ZoneInfo
) -> None:
    """Play the election of 1栋1单元's neighbour head, from opening to the new head's welcome."""
    speaker = Speaker(zone, show.language)
    await seed_voters(show, estate, date.today())
    await show.say(secretary, "/election", group)
    await show.say(MA, "/nominate 党员 退休前在社区工作，愿意为大家跑腿")
    # The branch recommends 李静; her name shows only once she accepts.
    await show.say(secretary, f"/recommend 1栋1单元{ROOMS[LI]}室 志愿者 平时组织楼道清扫")
    invited = show.server.sent_to(LI)[-1]
    await show.press(LI, invited, 0)
    [status] = await show.say(secretary, "/election", group)
    await show.press(secretary, status, 0)
    ballot = _ballot(show, group)
    await _toast(show, resident, ballot, 0)
    await _toast(show, TWIN, ballot, 1)  # the same household again: refused
    await _toast(show, MA, ballot, 0)
    await _toast(show, LI, ballot, 1)
    [private] = await show.say(WU, "/vote")
    await _toast(show, WU, private, 0)
    # 郭秀英 lives alone and votes at home: the mobile box, issued and entered in chat by two
    # tellers (马建国 is first on the ballot).
    [tasks] = await show.say(TELLER_A, "/ballots")
    await show.press(TELLER_A, tasks, 1)
    await show.say(TELLER_A, ROOMS[GUO])
    async with show.store.read() as session:
        # The code as written on the paper ballot handed to her.
        code = await session.scalar(select(PaperCode.code).where(PaperCode.entered.is_(False)))
    for teller in (TELLER_A, TELLER_B):
        [tasks] = await show.say(teller, "/ballots")
        await show.press(teller, tasks, 2)
        await show.say(teller, f"{code} 1")
    async with show.store.read() as session:
        ends = await session.scalar(
            select(Election.voting_ends).where(Election.phase == Phase.VOTING.value)
        )
        assert ends is not None
    show.out(t("demo.deadline", show.language))
    await run_elections(show.store, speaker, ends + timedelta(seconds=1))
    await show.bot_answers()
    [prompt] = show.server.sent_to(secretary)[-1:]
    await show.press(secretary, prompt, 0)
    async with show.store.read() as session:
        publication_ends = await session.scalar(
            select(Election.publication_ends).where(Election.phase == Phase.PUBLICATION.value)
        )
    assert publication_ends is not None
    show.out(t("demo.publication_over", show.language))
    await run_elections(show.store, speaker, publication_ends + timedelta(seconds=1))
    await show.bot_answers()
