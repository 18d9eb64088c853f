"""Notices (政策宣传): a head or the branch to households or a building group, with read counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.problem import Problem

LONGEST_NOTICE = 1000


class Notice(Base):
    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_user_id: Mapped[int] = mapped_column(BigInteger)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estate.id", ondelete="CASCADE"))
    # "groups": the building groups; "private": each registered resident, privately.
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NoticeRead(Base):
    __tablename__ = "notice_read"

    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def checked_text(text: str) -> str:
    text = text.strip()
    if not 0 < len(text) <= LONGEST_NOTICE:
        raise Problem("notice.bad_length", limit=LONGEST_NOTICE)
    return text


async def mark_read(session: AsyncSession, notice: Notice, user_id: int) -> int:
    """Count a person's read once; return how many have read the notice."""
    if await session.get(NoticeRead, (notice.id, user_id)) is None:
        session.add(NoticeRead(notice_id=notice.id, user_id=user_id))
        await session.flush()
        audit(session, f"user:{user_id}", "notice.read", "notice", notice.id)
    count = await session.scalar(
        select(func.count()).select_from(NoticeRead).where(NoticeRead.notice_id == notice.id)
    )
    return int(count or 0)
