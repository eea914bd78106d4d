"""[slack]: the Slack adapter's settings, read by bot/config.py from the TOML file and the environment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlackConfig:
    """[slack]: off without a bot token."""

    bot_token: str = ""
    app_token: str = ""
    signing_secret: str = ""
    mode: str = "http"
    api_base_url: str = "https://slack.com/api/"
    admins: tuple[str, ...] = ()
