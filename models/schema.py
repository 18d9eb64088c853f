"""Every entity, imported once so the metadata is whole for migrations and tests."""

from models import (
    audit,
    building_chat,
    button,
    command_menu,
    contact_card,
    conversation,
    deadline_rule,
    deliberation,
    estate_settings,
    inbox,
    mediation,
    occurrence,
    outbox,
    person,
    registry,
    request,
    role,
    schedule_rule,
    visit,
    welcome,
    workdays,
)
from models.base import Base

metadata = Base.metadata

__all__ = [
    "audit",
    "building_chat",
    "button",
    "command_menu",
    "contact_card",
    "conversation",
    "deadline_rule",
    "deliberation",
    "estate_settings",
    "inbox",
    "mediation",
    "metadata",
    "occurrence",
    "outbox",
    "person",
    "registry",
    "request",
    "role",
    "schedule_rule",
    "visit",
    "welcome",
    "workdays",
]
