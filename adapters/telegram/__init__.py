"""The Telegram adapter: config.py, parse.py (updates to events), ordering.py, render.py (replies), bot.py."""

from adapters.telegram.bot import WEBHOOK_PATH, TelegramAdapter
from adapters.telegram.config import TelegramConfig

__all__ = ["WEBHOOK_PATH", "TelegramAdapter", "TelegramConfig"]
