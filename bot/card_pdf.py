"""Draw contact cards (联系卡) into a PDF: one A6 page per household, with its QR code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from bot.fonts import FontChoice
from models.contact_card import CardInfo
from models.phone import readable
from texts import t

QR_SIDE = 62 * mm
MARGIN = 8 * mm


@dataclass(frozen=True)
class Card:
    info: CardInfo
    link: str


def render_cards(cards: Sequence[Card], out: Path, font: FontChoice, language: str) -> None:
    """Write one page per card to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(str(out), pagesize=A6, pageCompression=1)
    canvas.setTitle(t("cards.pdf_title", language))
    canvas.setCreator("Linzhang")
    for card in cards:
        _page(canvas, card, font.name, language)
        canvas.showPage()
    canvas.save()


def _page(canvas: Canvas, card: Card, font: str, language: str) -> None:
    width, height = A6
    info = card.info
    y = height - MARGIN - 6 * mm
    canvas.setFont(font, 16)
    canvas.drawCentredString(width / 2, y, t("cards.title", language))
    y -= 8 * mm
    canvas.setFont(font, 12)
    canvas.drawCentredString(width / 2, y, info.estate)
    y -= 7 * mm
    place = " ".join(part for part in (info.building, info.unit, info.room) if part)
    canvas.setFont(font, 14)
    canvas.drawCentredString(width / 2, y, place)

    y -= 8 * mm
    canvas.setFont(font, 9.5)
    if info.householder:
        canvas.drawString(MARGIN, y, t("cards.householder", language, name=info.householder))
        y -= 5.5 * mm
    head = head_line(info, language)
    canvas.drawString(MARGIN, y, head)

    qr_bottom = MARGIN + 9 * mm
    _qr(canvas, card.link, (width - QR_SIDE) / 2, qr_bottom)
    canvas.setFont(font, 8)
    canvas.drawCentredString(width / 2, MARGIN + 3 * mm, t("cards.scan", language))


def head_line(info: CardInfo, language: str) -> str:
    """The card's line about the neighbour head: name, and the phone they agreed to print."""
    if not info.has_head:
        return t("cards.no_head", language)
    name = info.head_name or t("cards.head_unnamed", language)
    if info.head_phone is None:
        return t("cards.head", language, name=name)
    return t("cards.head_with_phone", language, name=name, phone=readable(info.head_phone))


def _qr(canvas: Canvas, link: str, x: float, y: float) -> None:
    widget = QrCodeWidget(link, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(
        QR_SIDE,
        QR_SIDE,
        transform=[QR_SIDE / (right - left), 0, 0, QR_SIDE / (top - bottom), 0, 0],
    )
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)
