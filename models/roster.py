"""Import a roster: compare checked rows with the registry, then add, change and remove."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models.audit import AuditEntry, audit
from models.base import utcnow
from models.registry import (
    Branch,
    Building,
    Community,
    Estate,
    Household,
    HouseholdCare,
    NeighbourGroup,
    Street,
)
from models.roster_file import Key, RosterError, RosterRow, household_label

# SQLite allows 32,766 bound parameters; stay well below for IN lists.
CHUNK = 900

EstateKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Stored:
    """A household as the registry holds it, flattened for comparison."""

    id: int
    estate_id: int
    label: str
    group: str
    householder: str | None
    phone: str | None
    care: frozenset[str]
    removed: bool

    def snapshot(self) -> dict[str, Any]:
        return {
            "neighbour_group": self.group,
            "householder": self.householder,
            "phone": self.phone,
            "care": sorted(self.care),
            "removed": self.removed,
        }


@dataclass(frozen=True, slots=True)
class Change:
    stored: Stored
    row: RosterRow
    fields: dict[str, tuple[Any, Any]]


@dataclass
class ImportPlan:
    errors: list[RosterError] = field(default_factory=list)
    new_estates: list[EstateKey] = field(default_factory=list)
    added: list[RosterRow] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    removed: list[Stored] = field(default_factory=list)
    unchanged: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
            "new_estates": len(self.new_estates),
        }


async def plan_import(
    session: AsyncSession, rows: Sequence[RosterRow], allow_new_estates: bool
) -> ImportPlan:
    """Work out what importing the rows would add, change and remove; write nothing."""
    plan = ImportPlan()
    known = await _estate_ids(session)
    by_name: dict[str, list[EstateKey]] = defaultdict(list)
    for key in known:
        by_name[key[2]].append(key)
    first: dict[EstateKey, list[int]] = defaultdict(list)
    for row in rows:
        first[row.estate_key].append(row.line)
    for key, lines in first.items():
        if key in known:
            continue
        if allow_new_estates:
            plan.new_estates.append(key)
            continue
        elsewhere = "、".join("/".join(other[:2]) for other in by_name.get(key[2], []))
        plan.errors.append(
            RosterError(
                lines[0],
                "roster.unknown_estate_elsewhere" if elsewhere else "roster.unknown_estate",
                {"estate": "/".join(key), "rows": len(lines), "elsewhere": elsewhere},
            )
        )
    if plan.errors:
        return plan

    estate_ids = {known[key] for key in first if key in known}
    stored = await load_households(session, estate_ids)
    seen: set[int] = set()
    for row in rows:
        found = stored.get((known.get(row.estate_key, 0), row.building, row.unit, row.room))
        if found is None:
            plan.added.append(row)
            continue
        seen.add(found.id)
        fields = _differences(found, row)
        if fields:
            plan.changed.append(Change(found, row, fields))
        else:
            plan.unchanged += 1
    plan.removed = [h for h in stored.values() if h.id not in seen and not h.removed]
    return plan


async def apply_import(
    session: AsyncSession, plan: ImportPlan, actor: str, source: dict[str, Any]
) -> dict[str, int]:
    """Carry out a plan in the caller's transaction and audit it; return the counts."""
    if plan.errors:
        raise ValueError("a plan with errors cannot be applied")
    if not (plan.added or plan.changed or plan.removed):
        return plan.counts
    now = utcnow()
    estates = await _create_estates(session, plan.new_estates, actor)
    rows = plan.added + [change.row for change in plan.changed]
    buildings = await _ensure_buildings(session, estates, rows)
    groups = await _ensure_groups(session, buildings, estates, rows)
    await _insert_households(session, estates, buildings, groups, plan.added, now)
    await _update_households(session, estates, buildings, groups, plan.changed)
    await _remove_households(session, plan.removed, now)
    entries: list[dict[str, Any]] = [
        _audit_row(now, actor, "household.update", c.stored.id, c.stored.snapshot(), _after(c))
        for c in plan.changed
    ]
    entries += [
        _audit_row(
            now, actor, "household.remove", h.id, h.snapshot(), {**h.snapshot(), "removed": True}
        )
        for h in plan.removed
    ]
    for start in range(0, len(entries), CHUNK):
        await session.execute(insert(AuditEntry), entries[start : start + CHUNK])
    audit(
        session,
        actor,
        "roster.import",
        "roster",
        source.get("file"),
        after={**source, **plan.counts},
    )
    return plan.counts


async def load_households(
    session: AsyncSession, estate_ids: Iterable[int]
) -> dict[tuple[int, str, str, str], Stored]:
    """Load the households of some estates keyed by estate, building, unit and room."""
    ids = sorted(estate_ids)
    care: dict[int, set[str]] = defaultdict(set)
    result: dict[tuple[int, str, str, str], Stored] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        care_rows = await session.execute(
            select(HouseholdCare.household_id, HouseholdCare.kind)
            .join(Household)
            .join(Building)
            .where(Building.estate_id.in_(chunk))
        )
        for household_id, kind in care_rows:
            care[household_id].add(kind)
        households = await session.execute(
            select(
                Household.id,
                Building.estate_id,
                Estate.name,
                Building.name,
                Household.unit,
                Household.room,
                NeighbourGroup.name,
                Household.householder,
                Household.phone,
                Household.removed_at,
            )
            .join(Building, Household.building_id == Building.id)
            .join(Estate, Building.estate_id == Estate.id)
            .join(NeighbourGroup, Household.neighbour_group_id == NeighbourGroup.id)
            .where(Building.estate_id.in_(chunk))
        )
        for hid, eid, estate, building, unit, room, group, holder, phone, removed in households:
            result[(eid, building, unit, room)] = Stored(
                id=hid,
                estate_id=eid,
                label=household_label(estate, building, unit, room),
                group=group,
                householder=holder,
                phone=phone,
                care=frozenset(care.get(hid, ())),
                removed=removed is not None,
            )
    return result


def _differences(stored: Stored, row: RosterRow) -> dict[str, tuple[Any, Any]]:
    fields: dict[str, tuple[Any, Any]] = {}
    if stored.group != row.group_name:
        fields["neighbour_group"] = (stored.group, row.group_name)
    if stored.householder != row.householder:
        fields["householder"] = (stored.householder, row.householder)
    if stored.phone != row.phone:
        fields["phone"] = (stored.phone, row.phone)
    if stored.care != row.care:
        fields["care"] = (sorted(stored.care), sorted(row.care))
    if stored.removed:
        fields["removed"] = (True, False)
    return fields


def _after(change: Change) -> dict[str, Any]:
    after = change.stored.snapshot()
    for name, (_, new) in change.fields.items():
        after[name] = new
    return after


def _audit_row(
    at: datetime,
    actor: str,
    action: str,
    household_id: int,
    before: dict[str, Any],
    after: dict[str, Any],
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "entity": "household",
        "entity_id": str(household_id),
        "before": before,
        "after": after,
    }


async def _estate_ids(session: AsyncSession) -> dict[EstateKey, int]:
    rows = await session.execute(
        select(Street.name, Community.name, Estate.name, Estate.id)
        .join(Community, Estate.community_id == Community.id)
        .join(Street, Community.street_id == Street.id)
    )
    return {(street, community, estate): eid for street, community, estate, eid in rows}


async def _create_estates(
    session: AsyncSession, new: list[EstateKey], actor: str
) -> dict[EstateKey, int]:
    """Create the streets, communities and estates (each with its branch) the file names."""
    for street_name, community_name, estate_name in new:
        street = await session.scalar(select(Street).where(Street.name == street_name))
        if street is None:
            street = Street(name=street_name)
            session.add(street)
            await session.flush()
            audit(session, actor, "street.create", "street", street.id, after={"name": street_name})
        community = await session.scalar(
            select(Community).where(
                Community.street_id == street.id, Community.name == community_name
            )
        )
        if community is None:
            community = Community(street_id=street.id, name=community_name)
            session.add(community)
            await session.flush()
            audit(
                session,
                actor,
                "community.create",
                "community",
                community.id,
                after={"street": street_name, "name": community_name},
            )
        estate = Estate(community_id=community.id, name=estate_name)
        session.add(estate)
        await session.flush()
        session.add(Branch(estate_id=estate.id, name=f"{estate_name}党支部"))
        audit(
            session,
            actor,
            "estate.create",
            "estate",
            estate.id,
            after={"street": street_name, "community": community_name, "name": estate_name},
        )
    await session.flush()
    return await _estate_ids(session)


async def _ensure_buildings(
    session: AsyncSession, estates: dict[EstateKey, int], rows: list[RosterRow]
) -> dict[tuple[int, str], int]:
    wanted = {(estates[row.estate_key], row.building) for row in rows}
    return await _ensure_named(session, Building, Building.estate_id, wanted)


async def _ensure_groups(
    session: AsyncSession,
    buildings: dict[tuple[int, str], int],
    estates: dict[EstateKey, int],
    rows: list[RosterRow],
) -> dict[tuple[int, str], int]:
    wanted = {(buildings[(estates[row.estate_key], row.building)], row.group_name) for row in rows}
    return await _ensure_named(session, NeighbourGroup, NeighbourGroup.building_id, wanted)


async def _ensure_named(
    session: AsyncSession,
    model: type[Building] | type[NeighbourGroup],
    parent: InstrumentedAttribute[int],
    wanted: set[tuple[int, str]],
) -> dict[tuple[int, str], int]:
    """Create the (parent, name) children that are missing; map every wanted one to its id."""
    parents = sorted({parent_id for parent_id, _ in wanted})
    existing = await _named_ids(session, model, parent, parents)
    missing = sorted(wanted - existing.keys())
    if not missing:
        return existing
    await session.execute(
        insert(model), [{parent.key: parent_id, "name": name} for parent_id, name in missing]
    )
    return await _named_ids(session, model, parent, parents)


async def _named_ids(
    session: AsyncSession,
    model: type[Building] | type[NeighbourGroup],
    parent: InstrumentedAttribute[int],
    parents: list[int],
) -> dict[tuple[int, str], int]:
    found: dict[tuple[int, str], int] = {}
    for start in range(0, len(parents), CHUNK):
        rows = await session.execute(
            select(parent, model.name, model.id).where(parent.in_(parents[start : start + CHUNK]))
        )
        found.update({(parent_id, name): child for parent_id, name, child in rows})
    return found


def _placement(
    row: RosterRow,
    estates: dict[EstateKey, int],
    buildings: dict[tuple[int, str], int],
    groups: dict[tuple[int, str], int],
) -> tuple[int, int]:
    building_id = buildings[(estates[row.estate_key], row.building)]
    return building_id, groups[(building_id, row.group_name)]


async def _insert_households(
    session: AsyncSession,
    estates: dict[EstateKey, int],
    buildings: dict[tuple[int, str], int],
    groups: dict[tuple[int, str], int],
    added: list[RosterRow],
    now: datetime,
) -> None:
    if not added:
        return
    values: list[dict[str, Any]] = []
    for row in added:
        building_id, group_id = _placement(row, estates, buildings, groups)
        values.append(
            {
                "building_id": building_id,
                "neighbour_group_id": group_id,
                "unit": row.unit,
                "room": row.room,
                "householder": row.householder,
                "phone": row.phone,
                "created_at": now,
            }
        )
    for start in range(0, len(values), 5000):
        await session.execute(insert(Household), values[start : start + 5000])
    cared = [row for row in added if row.care]
    if not cared:
        return
    ids = await _household_ids(session, {v["building_id"] for v in values})
    care_rows = [
        {
            "household_id": ids[
                (_placement(row, estates, buildings, groups)[0], row.unit, row.room)
            ],
            "kind": kind,
        }
        for row in cared
        for kind in sorted(row.care)
    ]
    await session.execute(insert(HouseholdCare), care_rows)


async def _household_ids(
    session: AsyncSession, building_ids: set[int]
) -> dict[tuple[int, str, str], int]:
    ids = sorted(building_ids)
    found: dict[tuple[int, str, str], int] = {}
    for start in range(0, len(ids), CHUNK):
        rows = await session.execute(
            select(Household.building_id, Household.unit, Household.room, Household.id).where(
                Household.building_id.in_(ids[start : start + CHUNK])
            )
        )
        found.update({(b, unit, room): hid for b, unit, room, hid in rows})
    return found


async def _update_households(
    session: AsyncSession,
    estates: dict[EstateKey, int],
    buildings: dict[tuple[int, str], int],
    groups: dict[tuple[int, str], int],
    changed: list[Change],
) -> None:
    if not changed:
        return
    values = [
        {
            "hid": change.stored.id,
            "group_id": _placement(change.row, estates, buildings, groups)[1],
            "householder": change.row.householder,
            "phone": change.row.phone,
        }
        for change in changed
    ]
    statement = (
        update(Household)
        .where(Household.id == bindparam("hid"))
        .values(
            neighbour_group_id=bindparam("group_id"),
            householder=bindparam("householder"),
            phone=bindparam("phone"),
            removed_at=None,
        )
    )
    connection = await session.connection()
    await connection.execute(statement, values)
    recared = [c for c in changed if "care" in c.fields]
    for start in range(0, len(recared), CHUNK):
        chunk = recared[start : start + CHUNK]
        await session.execute(
            delete(HouseholdCare).where(
                HouseholdCare.household_id.in_([c.stored.id for c in chunk])
            )
        )
    care_rows = [
        {"household_id": c.stored.id, "kind": kind} for c in recared for kind in sorted(c.row.care)
    ]
    if care_rows:
        await session.execute(insert(HouseholdCare), care_rows)


async def _remove_households(session: AsyncSession, removed: list[Stored], now: datetime) -> None:
    ids = [household.id for household in removed]
    for start in range(0, len(ids), CHUNK):
        await session.execute(
            update(Household)
            .where(Household.id.in_(ids[start : start + CHUNK]))
            .values(removed_at=now)
        )


__all__ = [
    "Change",
    "ImportPlan",
    "Key",
    "Stored",
    "apply_import",
    "load_households",
    "plan_import",
]
