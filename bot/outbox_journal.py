"""An append-only record of messages sent, so marking them in the database can wait for a batch.

The promise is "after a crash at most the one message in flight is sent twice". Marking each
message in its own transaction keeps it but costs a commit per message; instead each outcome is
written here (one `write` to a file the kernel keeps even when the process is killed) before the
next send, and the marks reach the database in one transaction when the journal fills or
nothing is due. Until then the sender counts the messages here as sent; a restarted sender does
the same with whatever the journal still holds.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    outbox_id: int
    at: datetime
    message_id: int | None = None


class OutboxJournal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self.pending: list[Outcome] = self._read()
        self.ids = {outcome.outbox_id for outcome in self.pending}

    def record(self, outcome: Outcome) -> None:
        """Write one outcome through to the kernel before anything else is sent."""
        os.write(self._fd, _line(outcome).encode())
        self.pending.append(outcome)
        self.ids.add(outcome.outbox_id)

    def forget(self, applied: list[Outcome]) -> None:
        """Forget the outcomes the database now holds, keeping any recorded since.

        Calls land while the marks are being written; clearing everything would lose theirs,
        and a message whose mark is lost is sent again.
        """
        done = {outcome.outbox_id for outcome in applied}
        kept = [outcome for outcome in self.pending if outcome.outbox_id not in done]
        if kept:
            # Written beside and renamed over: a kill leaves the old journal or the new one.
            fresh = self.path.with_name(self.path.name + ".new")
            fresh.write_text("".join(_line(outcome) for outcome in kept), encoding="utf-8")
            os.replace(fresh, self.path)
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        else:
            os.ftruncate(self._fd, 0)
        self.pending = kept
        self.ids = {outcome.outbox_id for outcome in kept}

    def close(self) -> None:
        os.close(self._fd)

    def _read(self) -> list[Outcome]:
        outcomes = []
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    outcomes.append(
                        Outcome(
                            int(entry["id"]),
                            datetime.fromisoformat(entry["at"]),
                            entry.get("message_id"),
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    # Only the last line can be torn, by a kill in the middle of its write;
                    # that send had not finished being recorded, so it counts as in flight.
                    log.warning("outbox journal %s: unreadable line skipped", self.path)
        return outcomes


def _line(outcome: Outcome) -> str:
    """One JSON object per line, written out by hand: every send writes one."""
    message_id = "null" if outcome.message_id is None else int(outcome.message_id)
    at = outcome.at.isoformat()
    return f'{{"id": {int(outcome.outbox_id)}, "at": "{at}", "message_id": {message_id}}}\n'
