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
    figures_push,
    inbox,
    mediation,
    outbox,
    person,
    registry,
    request,
    role,
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
    "figures_push",
    "inbox",
    "mediation",
    "metadata",
    "outbox",
    "person",
    "registry",
    "request",
    "role",
    "welcome",
    "workdays",
]
