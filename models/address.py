"""How a household's address is written for people: 芙蓉花园1栋1单元101室."""

from __future__ import annotations

import re


def address(estate: str, building: str, unit: str, room: str) -> str:
    """Write an address as residents do: estate, building, unit, then the room with 室."""
    return _joined(estate, building, unit, room_of(room))


def place(building: str, unit: str, room: str) -> str:
    """The address within its estate: 1栋1单元101室."""
    return _joined(building, unit, room_of(room))


def _joined(*parts: str) -> str:
    """Join parts without a separator, but keep bare numbers apart (building 1, unit 2)."""
    text = ""
    for part in filter(None, parts):
        gap = " " if text[-1:].isdigit() and part[:1].isdigit() else ""
        text += gap + part
    return text


def room_of(room: str) -> str:
    """A room number with 室, unless the roster already wrote one (101室, 商铺3号)."""
    if not room or not room[-1].isdigit():
        return room
    return f"{room}室"


def natural_key(*texts: str) -> tuple[tuple[object, ...], ...]:
    """Sort 2栋 before 10栋 and room 201 after 102."""
    return tuple(
        tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))
        for text in texts
    )
