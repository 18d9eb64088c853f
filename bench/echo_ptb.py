"""A bare python-telegram-bot echo bot: the baseline the full stack is measured against."""

import os

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo the text back."""
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, update.effective_message.text or "·")  # type: ignore[union-attr]


def main() -> None:
    """Poll the server named in TELEGRAM_API_URL and echo every message."""
    api = os.environ["TELEGRAM_API_URL"]
    application = (
        Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(f"{api}/bot").build()
    )
    application.add_handler(MessageHandler(filters.ALL, echo))
    application.run_polling(poll_interval=0, timeout=25)


if __name__ == "__main__":
    main()
