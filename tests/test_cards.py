"""Contact cards: one per household, QR codes that decode to the links, rotation revokes."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader
from sqlalchemy import select

from bot.fonts import cjk_font
from models.contact_card import ContactCard, household_for_payload
from models.registry import Household
from models.role import Grant, Role, grant_role
from models.scope import resolve_scope
from models.store import Store
from tests.conftest import Cli
from tests.registry_factory import make_estate

BOT = "LinzhangTestBot"
LINK = re.compile(rf"https://t\.me/{BOT}\?start=([A-Za-z0-9_-]{{22,64}})")


async def _registry(store: Store) -> None:
    async with store.write() as session:
        await make_estate(session, units=("1单元", "2单元"), rooms=("101", "102"))
        await make_estate(session, estate="桂花苑", rooms=("101",))
        # A household that left the roster gets no card.
        gone = await session.scalar(select(Household).where(Household.room == "102"))
        assert gone is not None
        gone.removed_at = gone.created_at
        head_scope = await resolve_scope(session, "group:芙蓉花园/1栋/2单元")
        await grant_role(
            session,
            Grant(user_id=42, role=Role.NEIGHBOUR_HEAD, scope=head_scope, display_name="李阿姨"),
            "test",
            date(2026, 11, 24),
        )


@pytest.fixture
def cards_cli(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("LINZHANG_BOT_USERNAME", BOT)
    assert cli("db", "upgrade").exit_code == 0
    return cli


def _links(cli: Cli, *extra: str) -> dict[str, str]:
    result = cli("cards", "--estate", "芙蓉花园", "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return {row["household"]: row["deep_link"] for row in json.loads(result.output)}


def _decode(pdf: Path) -> list[str]:
    """Render each page and read its QR code with a real decoder."""
    found = []
    document = pypdfium2.PdfDocument(str(pdf))
    for page in document:
        image = page.render(scale=200 / 72).to_pil()
        codes = zxingcpp.read_barcodes(image)
        assert len(codes) == 1, f"expected one QR code on a page, found {len(codes)}"
        found.append(codes[0].text)
    document.close()
    return found


async def test_one_card_per_household_and_codes_decode(
    store: Store, cards_cli: Cli, tmp_path: Path
) -> None:
    await _registry(store)
    links = _links(cards_cli)
    # 1单元/102 and 2单元/102 of 芙蓉花园: the first 102 was removed from the roster.
    assert set(links) == {
        "芙蓉花园1栋1单元101室",
        "芙蓉花园1栋2单元101室",
        "芙蓉花园1栋2单元102室",
    }
    payloads = [LINK.fullmatch(link) for link in links.values()]
    assert all(payloads) and len({m.group(1) for m in payloads if m}) == 3

    out = tmp_path / "cards.pdf"
    result = cards_cli("cards", "--estate", "芙蓉花园", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "已生成 3 张联系卡" in result.output
    assert len(PdfReader(out).pages) == 3
    # Cards come in building, unit and room order, each with its own household's link.
    assert _decode(out) == list(links.values())
    assert _links(cards_cli) == links  # no rotation, the same links every time


async def test_cards_show_chinese_and_the_head(
    store: Store, cards_cli: Cli, tmp_path: Path
) -> None:
    await _registry(store)
    if not cjk_font().embedded:
        pytest.skip("no TrueType CJK font installed (apt-get install fonts-wqy-zenhei)")
    out = tmp_path / "cards.pdf"
    assert cards_cli("cards", "--estate", "芙蓉花园", "--out", str(out)).exit_code == 0
    pages = [page.extract_text() for page in PdfReader(out).pages]
    assert all("芙蓉花园" in page and "联系卡" in page for page in pages)
    assert "101" in pages[0] and "待选举" in pages[0]
    assert "李阿姨" in pages[1] and "李阿姨" in pages[2]


async def test_rotation_revokes_the_old_payload(store: Store, cards_cli: Cli) -> None:
    await _registry(store)
    before = _links(cards_cli)
    after = _links(cards_cli, "--rotate")
    assert set(before) == set(after)
    assert not set(before.values()) & set(after.values())
    async with store.read() as session:
        for label, old_link in before.items():
            old = LINK.fullmatch(old_link)
            new = LINK.fullmatch(after[label])
            assert old and new
            assert await household_for_payload(session, old.group(1)) is None
            household = await household_for_payload(session, new.group(1))
            assert household is not None and label.endswith(f"{household.unit}{household.room}室")
        cards = list(await session.scalars(select(ContactCard)))
    assert sum(card.revoked_at is not None for card in cards) == 3
    assert _links(cards_cli) == after


async def test_removed_household_and_forged_payload_do_not_resolve(
    store: Store, cards_cli: Cli
) -> None:
    await _registry(store)
    links = _links(cards_cli)
    payload = LINK.fullmatch(next(iter(links.values())))
    assert payload
    async with store.write() as session:
        household = await household_for_payload(session, payload.group(1))
        assert household is not None
        household.removed_at = household.created_at
    async with store.read() as session:
        assert await household_for_payload(session, payload.group(1)) is None
        assert await household_for_payload(session, "not a payload!") is None
        assert await household_for_payload(session, "A" * 22) is None


async def test_user_mistakes(store: Store, cli: Cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade").exit_code == 0
    await _registry(store)
    pdf = str(tmp_path / "c.pdf")
    for args, words in (
        (("--estate", "芙蓉花园", "--out", pdf), "LINZHANG_BOT_USERNAME"),
        (("--estate", "芙蓉花园", "--out", pdf, "--bot-username", "x"), "不合规"),
        (("--estate", "没有的小区", "--out", pdf, "--bot-username", BOT), "找不到范围"),
        (("--estate", "芙蓉花园", "--bot-username", BOT), "--out"),
        (("--estate", "芙蓉花园", "--format", "png", "--bot-username", BOT), "png"),
    ):
        result = cli("cards", *args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and "Traceback" not in result.output
        assert result.output.count("\n") == 1
    assert not Path(pdf).exists()
    async with store.read() as session:
        assert list(await session.scalars(select(ContactCard))) == []
