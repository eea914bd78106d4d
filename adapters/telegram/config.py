"""[telegram]: the Telegram adapter's settings, read by bot/config.py from the TOML file and the environment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TelegramConfig:
    """[telegram]: off without a token."""

    token: str = ""
    mode: str = "polling"
    api_base_url: str = "https://api.telegram.org/bot"
    file_base_url: str = "https://api.telegram.org/file/bot"
    webhook_url: str = ""
    webhook_secret: str = ""
    admins: tuple[int, ...] = ()
