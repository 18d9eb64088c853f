"""A district the size of Hetang with a year of activity at the report's rates, for benchmarks,
the demo and anyone trying the figures. Written with one INSERT per table and batch.

The report: 7 streets, 62 communities, 244 estates, 86,908 households, 7,405 heads elected,
86,908 contact cards, 7,599 opinions collected, 852 disputes mediated, 3,066 service matters
resolved. The rates below (signed in time, levels, satisfaction) are the simulation's own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.contact_card import ContactCard, new_payload
from models.person import Person, Resident
from models.registry import Branch, Building, Community, Estate, Household, NeighbourGroup, Street
from models.request import Level, Rating, Request, RequestKind, State
from models.role import Role, RoleAssignment
from models.scope import ScopeKind

STREETS = ("月塘街道", "茨菇塘街道", "宋家桥街道", "桂花街道", "金山街道", "明照街道", "仙庾镇")
BATCH = 5_000
# Telegram user ids of simulated people start here, far from the demo's and the tests'.
FIRST_USER = 9_000_000_000


@dataclass(frozen=True)
class Size:
    communities: int = 62
    estates: int = 244
    households: int = 86_908
    groups: int = 7_405
    opinions: int = 7_599
    disputes: int = 852
    services: int = 3_066

    def scaled(self, scale: float) -> Size:
        def part(n: int) -> int:
            return max(1, round(n * scale))

        return Size(
            communities=max(len(STREETS), part(self.communities)),
            estates=max(len(STREETS), part(self.estates)),
            households=part(self.households),
            groups=part(self.groups),
            opinions=part(self.opinions),
            disputes=part(self.disputes),
            services=part(self.services),
        )


@dataclass(frozen=True)
class Built:
    estates: int
    households: int
    heads: int
    requests: int


async def simulate(session: AsyncSession, size: Size, year: int, seed: int = 1) -> Built:
    """Write the district and its year into an empty database."""
    if await session.scalar(select(func.count()).select_from(Estate)):
        raise ValueError("the database already holds a registry")
    rng = random.Random(seed)
    start = datetime(year, 1, 1, tzinfo=UTC)
    streets: list[dict[str, Any]] = [{"id": i + 1, "name": name} for i, name in enumerate(STREETS)]
    communities: list[dict[str, Any]] = [
        {"id": i + 1, "street_id": i % len(streets) + 1, "name": f"第{i // len(streets) + 1}社区"}
        for i in range(size.communities)
    ]
    estates: list[dict[str, Any]] = [
        {
            "id": i + 1,
            "community_id": i % size.communities + 1,
            "name": f"{communities[i % size.communities]['name']}{i + 1}号小区",
            "prefix": f"S{i + 1:03d}",
        }
        for i in range(size.estates)
    ]
    per_estate = _spread(size.groups, size.estates)
    buildings: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for estate, count in zip(estates, per_estate, strict=True):
        # About five neighbour groups (units) to a building.
        for b in range(max(1, (count + 4) // 5)):
            buildings.append(
                {"id": len(buildings) + 1, "estate_id": estate["id"], "name": f"{b + 1}栋"}
            )
        estate_buildings = buildings[-max(1, (count + 4) // 5) :]
        for g in range(count):
            building = estate_buildings[g // 5]
            groups.append(
                {"id": len(groups) + 1, "building_id": building["id"], "name": f"{g % 5 + 1}单元"}
            )
    building_of = {g["id"]: g["building_id"] for g in groups}
    estate_of_building = {b["id"]: b["estate_id"] for b in buildings}
    households: list[dict[str, Any]] = []
    for group, count in zip(groups, _spread(size.households, len(groups)), strict=True):
        for h in range(count):
            households.append(
                {
                    "id": len(households) + 1,
                    "building_id": building_of[group["id"]],
                    "neighbour_group_id": group["id"],
                    "unit": group["name"],
                    "room": f"{h // 4 + 1}0{h % 4 + 1}",
                    "created_at": start,
                }
            )
    await _insert(session, Street, streets)
    await _insert(session, Community, communities)
    await _insert(session, Estate, estates)
    await _insert(
        session, Branch, [{"estate_id": e["id"], "name": f"{e['name']}党支部"} for e in estates]
    )
    await _insert(session, Building, buildings)
    await _insert(session, NeighbourGroup, groups)
    await _insert(session, Household, households)
    await _insert(
        session,
        ContactCard,
        [
            {"household_id": h["id"], "payload": new_payload(), "issued_at": start}
            for h in households
        ],
    )
    # A head for every group, a secretary for every estate, staff for communities and streets.
    people: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []

    def appoint(role: Role, kind: ScopeKind, scope: int) -> None:
        user = FIRST_USER + len(people)
        people.append({"user_id": user, "created_at": start})
        roles.append(
            {
                "user_id": user,
                "role": role.value,
                "force": "",
                "scope_kind": kind.value,
                "scope_id": scope,
                "term_start": date(year, 1, 1),
                "term_end": date(year + 3, 1, 1),
                "granted_at": start,
                "granted_by": "simulation",
            }
        )

    for group in groups:
        appoint(Role.NEIGHBOUR_HEAD, ScopeKind.GROUP, group["id"])
    for estate in estates:
        appoint(Role.SECRETARY, ScopeKind.ESTATE, estate["id"])
    for community in communities:
        appoint(Role.COMMUNITY_STAFF, ScopeKind.COMMUNITY, community["id"])
    for street in streets:
        appoint(Role.STREET_STAFF, ScopeKind.STREET, street["id"])
    requests, residents = _year(rng, size, year, households, estate_of_building, people)
    await _insert(session, Person, people)
    await _insert(session, RoleAssignment, roles)
    await _insert(session, Resident, residents)
    await _insert(session, Request, requests)
    return Built(len(estates), len(households), len(groups), len(requests))


def _year(
    rng: random.Random,
    size: Size,
    year: int,
    households: list[dict[str, Any]],
    estate_of_building: dict[int, int],
    people: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A year's requests, each filed by a resident of its household."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year, 12, 31, tzinfo=UTC)
    requests: list[dict[str, Any]] = []
    residents: list[dict[str, Any]] = []
    filer_of: dict[int, int] = {}
    kinds = (
        [RequestKind.OPINION] * size.opinions
        + [RequestKind.DISPUTE] * size.disputes
        + [RequestKind.SERVICE] * size.services
    )
    levels = [Level.HEAD] * 80 + [Level.BRANCH] * 15 + [Level.COMMUNITY] * 4 + [Level.STREET]
    for n, kind in enumerate(kinds):
        household = rng.choice(households)
        if household["id"] not in filer_of:
            user = FIRST_USER + len(people)
            people.append({"user_id": user, "created_at": start})
            residents.append(
                {"household_id": household["id"], "user_id": user, "consented_at": start}
            )
            filer_of[household["id"]] = user
        # Filed before mid-December, so what the year filed it also settles.
        created = start + timedelta(minutes=rng.randrange(0, 345 * 24 * 60))
        signed = created + timedelta(hours=rng.expovariate(1 / 10))
        resolved = min(signed + timedelta(hours=rng.expovariate(1 / 60)), end)
        settled = kind is not RequestKind.OPINION or rng.random() < 0.6
        rating = rng.choices(list(Rating), weights=(80, 16, 4))[0] if settled else None
        requests.append(
            {
                "reference": f"SIM-{year}-{n + 1:06d}",
                "kind": kind.value,
                "state": State.CONFIRMED.value if settled else State.SIGNED.value,
                "level": rng.choice(levels).value,
                "household_id": household["id"],
                "building_id": household["building_id"],
                "estate_id": estate_of_building[household["building_id"]],
                "filed_by": filer_of[household["id"]],
                "description": "模拟诉求",
                "photos": [],
                "personal": True,
                "on_behalf": False,
                "force": "",
                "reopen_count": 0,
                "rating": rating.value if rating else None,
                "created_at": created,
                "signed_at": signed,
                "signed_in_time": signed - created <= timedelta(hours=24),
                "resolved_at": resolved if settled else None,
                "resolved_in_time": (resolved - created <= timedelta(days=5)) if settled else None,
                "closed_at": resolved + timedelta(hours=12) if settled else None,
                "deadline_step": "",
                "version": 1,
            }
        )
    return requests, residents


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for first in range(0, len(rows), BATCH):
        await session.execute(insert(model), rows[first : first + BATCH])


def _spread(total: int, parts: int) -> list[int]:
    """Split a total into near-equal parts, every part at least one."""
    base, extra = divmod(total, parts)
    return [max(1, base + (1 if i < extra else 0)) for i in range(parts)]
