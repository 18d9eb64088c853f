"""Button tokens: spent once, by their own person in their own chat, even under a race."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from models import button
from models.button import ButtonToken
from models.store import Store

USER, OTHER, CHAT = 701, 702, 701


async def _issue(
    store: Store, user: int = USER, lifetime: timedelta = button.LIFETIME
) -> list[str]:
    async with store.write() as session:
        return button.issue(
            session,
            user,
            CHAT,
            [("consent.agree", {"household_id": 1}), ("consent.decline", {})],
            lifetime,
        )


async def test_a_token_is_spent_once_with_its_group(store: Store) -> None:
    agree, decline = await _issue(store)
    async with store.write() as session:
        assert await button.redeem(session, agree, OTHER, CHAT) is None  # someone else
        assert await button.redeem(session, agree, USER, CHAT + 1) is None  # another chat
        assert await button.redeem(session, agree + "x", USER, CHAT) is None  # altered
        pressed = await button.redeem(session, agree, USER, CHAT)
    assert pressed is not None and (pressed.action, pressed.data) == (
        "consent.agree",
        {"household_id": 1},
    )
    async with store.write() as session:
        assert await button.redeem(session, agree, USER, CHAT) is None  # replayed
        assert await button.redeem(session, decline, USER, CHAT) is None  # its sibling
    expired, _ = await _issue(store, lifetime=timedelta(seconds=-1))
    async with store.write() as session:
        assert await button.redeem(session, expired, USER, CHAT) is None


async def test_two_presses_racing_on_one_message_one_wins(store: Store) -> None:
    agree, decline = await _issue(store)
    first_pressed = asyncio.Event()
    release = asyncio.Event()

    async def press_and_hold() -> button.Pressed | None:
        async with store.write() as session:
            pressed = await button.redeem(session, agree, USER, CHAT)
            first_pressed.set()
            await release.wait()  # still uncommitted while the other press arrives
            return pressed

    async def press_second() -> button.Pressed | None:
        await first_pressed.wait()
        async with store.write() as session:
            return await button.redeem(session, decline, USER, CHAT)

    first = asyncio.create_task(press_and_hold())
    second = asyncio.create_task(press_second())
    await first_pressed.wait()
    # The second press now waits: on PostgreSQL on the first one's rows, on SQLite on the lock.
    await asyncio.sleep(0.2)
    release.set()
    results = await asyncio.gather(first, second)
    assert [r.action if r else None for r in results] == ["consent.agree", None]
    async with store.read() as session:
        used = list(await session.scalars(select(ButtonToken.used_at.is_not(None))))
    assert used == [True]  # the message's buttons are one token, spent once


async def test_a_button_altered_to_another_place_is_refused_and_spends_nothing(
    store: Store,
) -> None:
    agree, decline = await _issue(store)
    token = agree.partition(button.PLACE)[0]
    async with store.write() as session:
        for forged in (f"{token}{button.PLACE}2", f"{token}{button.PLACE}x", token):
            assert await button.redeem(session, forged, USER, CHAT) is None
    async with store.write() as session:
        pressed = await button.redeem(session, decline, USER, CHAT)
    assert pressed is not None and pressed.action == "consent.decline"
    async with store.read() as session:
        stored = list(await session.scalars(select(ButtonToken.token)))
    assert stored == [token]


async def test_a_shared_button_may_be_pressed_by_anyone_in_its_chat_again(store: Store) -> None:
    (token,) = await _shared(store)
    async with store.write() as session:
        for person in (USER, OTHER, OTHER):
            pressed = await button.redeem(session, token, person, CHAT)
            assert pressed is not None and pressed.action == "req.follow"
        assert await button.redeem(session, token, USER, CHAT + 1) is None


async def test_shared_choices_are_read_by_their_own_tokens_and_spend_nothing(
    store: Store,
) -> None:
    async with store.write() as session:
        follow, mute = button.issue(
            session, button.ANYONE, CHAT, [("req.follow", {"request_id": 9}), ("req.mute", {})]
        )
    async with store.write() as session:
        read = await button.read_shared(session, [follow, mute, "not shared"])
        assert sorted(r.token for r in read) == sorted([follow, mute])
        for _ in range(2):
            pressed = await button.redeem(session, mute, OTHER, CHAT)
            assert pressed is not None and (pressed.action, pressed.data) == ("req.mute", {})
        assert await button.redeem(session, f"{follow}{button.PLACE}0", OTHER, CHAT) is None


async def _shared(store: Store) -> list[str]:
    async with store.write() as session:
        return button.issue(session, button.ANYONE, CHAT, [("req.follow", {"request_id": 9})])


async def test_a_persons_buttons_not_spent_are_theirs_to_press_again(store: Store) -> None:
    async with store.write() as session:
        first, second = button.issue(
            session,
            USER,
            CHAT,
            [("visit.visited", {"id": 1}), ("visit.visited", {"id": 2})],
            spent=False,
        )
    async with store.write() as session:
        for _ in range(2):
            pressed = await button.redeem(session, second, USER, CHAT)
            assert pressed is not None and pressed.data == {"id": 2}
        assert await button.redeem(session, first, OTHER, CHAT) is None  # someone else
        assert await button.redeem(session, first, USER, CHAT + 1) is None  # another chat
    spent, _ = await _issue(store)
    async with store.write() as session:
        assert await button.redeem(session, spent, USER, CHAT) is not None
    async with store.write() as session:
        # A spent personal button is not read as one not spent.
        assert await button.redeem(session, spent, USER, CHAT) is None
