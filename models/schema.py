"""Every entity, imported once so the metadata is whole for migrations and tests."""

from models import audit, contact_card, person, registry, role
from models.base import Base

metadata = Base.metadata

__all__ = ["audit", "contact_card", "metadata", "person", "registry", "role"]
