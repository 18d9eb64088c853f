"""Care flags a household can carry, and the words rosters use for them."""

from __future__ import annotations

from enum import StrEnum


class CareKind(StrEnum):
    ELDERLY_ALONE = "elderly_alone"
    EMPTY_NEST = "empty_nest"
    DISABLED = "disabled"
    LEFT_BEHIND_CHILD = "left_behind_child"
    HARDSHIP = "hardship"
    SERIOUS_ILLNESS = "serious_illness"
    VETERAN = "veteran"


# Community offices write these in their spreadsheets; the code names are accepted too.
CARE_WORDS: dict[str, CareKind] = {
    "独居老人": CareKind.ELDERLY_ALONE,
    "独居": CareKind.ELDERLY_ALONE,
    "空巢老人": CareKind.EMPTY_NEST,
    "空巢": CareKind.EMPTY_NEST,
    "残疾人": CareKind.DISABLED,
    "残疾": CareKind.DISABLED,
    "留守儿童": CareKind.LEFT_BEHIND_CHILD,
    "困难户": CareKind.HARDSHIP,
    "低保": CareKind.HARDSHIP,
    "低保户": CareKind.HARDSHIP,
    "特困": CareKind.HARDSHIP,
    "重病": CareKind.SERIOUS_ILLNESS,
    "大病": CareKind.SERIOUS_ILLNESS,
    "退役军人": CareKind.VETERAN,
    "优抚对象": CareKind.VETERAN,
    **{kind.value: kind for kind in CareKind},
}

CARE_SEPARATORS = ",，、;；/ "


def parse_care(text: str) -> tuple[set[CareKind], list[str]]:
    """Split a roster cell into care kinds; return the kinds and the words not understood."""
    kinds: set[CareKind] = set()
    unknown: list[str] = []
    word = ""
    for char in text + CARE_SEPARATORS[0]:
        if char in CARE_SEPARATORS:
            if word:
                kind = CARE_WORDS.get(word.lower() if word.isascii() else word)
                if kind is None:
                    unknown.append(word)
                else:
                    kinds.add(kind)
            word = ""
        else:
            word += char
    return kinds, unknown
