"""What people read: every message renders, and no path slips an internal code into one."""

from __future__ import annotations

import string
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from handlers.delivery import undelivered
from handlers.events import Reply
from handlers.request_cards import Desk, notices
from models.person import Person
from models.request import Rating, Request, RequestKind
from models.request_flow import (
    Change,
    assign,
    breach,
    file_request,
    not_ours,
    rate,
    resolve,
    send_down,
    send_up,
    sign,
)
from models.role import Force
from models.store import Store
from tests.request_world import (
    COMMUNITY_STAFF,
    HEAD1,
    HEAD2,
    R1,
    R3,
    SECRETARY,
    build_world,
)
from tests.test_requests import at
from tests.wording import leaks
from texts import catalogue, t

ZONE = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 9, 14)
# Messages people read in chat or on a card; the command line's own texts name flags and codes.
SHOWN = (
    "chat.",
    "req.",
    "request.",
    "delib.",
    "deliberation.",
    "membership.",
    "profile.",
    "command.",
    "role.",
    "force.",
    "care.",
    "estate.",
    "cards.title",
    "cards.head",
    "cards.no_head",
    "cards.householder",
    "cards.scan",
)
# Asked before anyone has chosen a language, so it speaks both.
BILINGUAL = {"chat.lang_ask"}


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_message_renders_without_internal_codes(language: str) -> None:
    shown = {key: text for key, text in catalogue(language).items() if key.startswith(SHOWN)}
    assert len(shown) > 200
    for key, text in shown.items():
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        rendered = t(key, language, **{name: "样例" for name in fields})
        if key not in BILINGUAL:
            assert not leaks(rendered, language), (key, rendered)


def test_leaks_are_caught() -> None:
    """The check itself: the very texts the issue found, and raw errors."""
    assert leaks("您的诉求 FRHY-2026-000002 已上报至小区党支部：dissatisfied", "zh_CN")
    assert leaks("说明：escalated", "zh_CN")
    assert leaks("本户邻长：李阿姨 ", "zh_CN")
    assert leaks("消息没有送达（Forbidden: bot was blocked by the user）", "zh_CN")
    assert leaks("Your request went up: dissatisfied", "en")
    assert leaks("Assigned to owners_committee", "en")
    assert not leaks("诉求 FRHY-2026-000002 已上报，发送 /my 查看：https://t.me/Bot", "zh_CN")
    assert not leaks("Your request FRHY-2026-000002 was resolved.", "en")


async def _everyone_speaks(store: Store, language: str) -> None:
    async with store.write() as session:
        await session.execute(update(Person).values(language=language))


@pytest.mark.parametrize("language", ["zh_CN", "en"])
async def test_every_path_that_inserts_a_state_rating_reason_or_error(
    store: Store, language: str
) -> None:
    """Walk the transitions whose words come from the program, not a person, and read all
    that everyone is told: the resident, the group, the cards of whoever acts next."""
    async with store.write() as session:
        world = await build_world(session, MONDAY)
    await _everyone_speaks(store, language)
    desk = Desk(ZONE, language)
    clock = at(MONDAY)
    told: list[Reply] = []

    async def step(request_id: int, action, *args, **kwargs) -> Change:  # type: ignore[no-untyped-def]
        async with store.write() as session:
            request = await session.get_one(Request, request_id)
            change: Change = await action(session, request, *args, **kwargs)
            told.extend(await notices(session, change, desk, clock.today))
            return change

    async def filed(user: int, kind: RequestKind) -> int:
        async with store.write() as session:
            household = await session.merge(world.households[user])
            change = await file_request(session, household, user, kind, "楼道灯坏了", clock)
            told.extend(await notices(session, change, desk, clock.today))
            return change.request.id

    # Not satisfied twice: reopened, then it climbs with the rating as its reason.
    first = await filed(R1, RequestKind.SERVICE)
    await step(first, sign, HEAD1, clock)
    for _ in range(2):
        await step(first, resolve, HEAD1, "换了灯泡", clock)
        await step(first, rate, R1, Rating.DISSATISFIED, clock)
    # The branch assigns it to each kind of handler in turn, and sends it up and back down.
    await step(first, assign, SECRETARY, clock, force=Force.OWNERS_COMMITTEE)
    # A missed deadline at each step: signing, resolving, deciding.
    second = await filed(R3, RequestKind.DISPUTE)
    await step(second, breach, clock)  # not signed in time
    await step(second, assign, SECRETARY, clock, head=HEAD2)
    await step(second, sign, HEAD2, clock)
    await step(second, breach, clock)  # not resolved in time
    await step(second, breach, clock)  # no decision in time
    await step(second, send_down, COMMUNITY_STAFF, "请支部协调", clock)
    await step(second, assign, SECRETARY, clock)
    third = await filed(R3, RequestKind.OPINION)
    await step(third, not_ours, HEAD2, "属于物业合同范围", clock)
    await step(third, send_up, SECRETARY, "需社区协调", clock)
    async with store.write() as session:
        for error in (
            "Forbidden: bot was blocked by the user",
            "Bad Request: chat not found",
            "Bad Request: message is too long",
            "Internal Server Error",
        ):
            told.append(await undelivered(session, SECRETARY, R1, error, language))
    assert len(told) > 25
    for reply in told:
        assert not leaks(reply.text, language), reply.text
        for row in reply.buttons:
            for button in row:
                assert not leaks(button.text, language), button.text
