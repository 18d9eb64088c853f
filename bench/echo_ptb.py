"""A bare python-telegram-bot echo bot: the baseline the full stack is measured against."""

import os
import sys
from pathlib import Path

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo the text back."""
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, update.effective_message.text or "·")  # type: ignore[union-attr]


def main() -> None:
    """Poll the server named in TELEGRAM_API_URL and echo every message."""
    api = os.environ["TELEGRAM_API_URL"]
    builder = Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(f"{api}/bot")
    if os.environ.get("ECHO_REQUEST") == "aiohttp":
        # The networking Linzhang's runtime uses, to compare like with like (--echo-on-aiohttp).
        from bot.ptb_request import AiohttpRequest

        builder = builder.request(AiohttpRequest()).get_updates_request(
            AiohttpRequest(read_timeout=60)
        )
    application = builder.build()
    application.add_handler(MessageHandler(filters.ALL, echo))
    application.run_polling(poll_interval=0, timeout=25)


if __name__ == "__main__":
    main()
