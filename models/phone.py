"""Chinese phone numbers: read as people write them, stored in E.164, shown as people read them."""

from __future__ import annotations

import phonenumbers


def e164(text: str) -> str | None:
    """Return the number in E.164 (+8613907331234), or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def readable(stored: str) -> str:
    """Write a stored number the way it is dialled in China: 139 0733 1234, 0731 2288 1234."""
    try:
        number = phonenumbers.parse(stored, "CN")
    except phonenumbers.NumberParseException:
        return stored
    if number.country_code != 86:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
