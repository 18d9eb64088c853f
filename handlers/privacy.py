"""A person's own data, read back to them in chat (/me → export)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers.events import Reply
from handlers.flow import Flow
from handlers.turn import Turn
from models.address import address
from models.button import Pressed
from models.phone import readable
from models.privacy import export
from models.registry import Building, Estate, Household
from models.request import Request

NAME = "privacy"
# The chat export names requests by their first words; the full text is in the office's export.
EXCERPT = 40


async def export_mine(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Send the person what is stored about them, in their words."""
    session, say, zone = turn.session, turn.say, turn.ctx.zone
    data = await export(session, turn.event.user_id)
    if data is None:
        return [turn.answer("chat.me_nothing")]
    person, tables = data["person"], data["tables"]
    none = say("privacy.export_none")
    lines = [
        say("privacy.export_header"),
        say("privacy.export_name", name=person["display_name"] or none),
        say("privacy.export_phone", phone=readable(person["phone"]) if person["phone"] else none),
    ]
    for binding in tables.get("resident", []):
        estate, building, unit, room = (
            await session.execute(
                select(Estate.name, Building.name, Household.unit, Household.room)
                .join(Building, Building.estate_id == Estate.id)
                .join(Household, Household.building_id == Building.id)
                .where(Household.id == binding["household_id"])
            )
        ).one()
        until = binding["unbound_at"]
        lines.append(
            say(
                "privacy.export_household",
                household=address(estate, building, unit, room),
                since=_day(binding["consented_at"], zone),
                until=say("privacy.export_until", day=_day(until, zone)) if until else "",
            )
        )
    for role in tables.get("role_assignment", []):
        if role["revoked_at"] is None:
            lines.append(say("privacy.export_role", role=say("role." + role["role"])))
    filed = await session.scalars(
        select(Request).where(Request.filed_by == turn.event.user_id).order_by(Request.id)
    )
    for request in filed:
        text = request.description
        lines.append(
            say(
                "privacy.export_request",
                reference=request.reference,
                day=request.created_at.astimezone(zone).date().isoformat(),
                description=text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…",
            )
        )
    lines.append(say("privacy.export_messages", count=len(tables.get("messages_to_you", []))))
    lines.append(say("privacy.export_more"))
    return [turn.answer_text("\n".join(lines))]


def _day(stamp: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(stamp).astimezone(zone).date().isoformat()


FLOW = Flow(name=NAME, buttons={"privacy.export": export_mine})
