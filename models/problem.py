"""Domain errors that carry a message key and its parameters, never ready-made text."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """A user mistake the edges render from the message catalogue."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"Problem({self.key!r}, {self.params!r})"
