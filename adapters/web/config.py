"""[web]: where candidates' private report links point, how long they last, and the secret that signs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WebConfig:
    """[web]: the report pages.

    `public_url` is the base of every link (https://coach.example.com, or with a path behind a proxy); empty, no link
    is offered anywhere. `secret` signs the links (INTERVIEW_BOT_WEB_SECRET); empty, one is generated on first start
    and kept in the data folder, so links survive restarts.
    """

    public_url: str = ""
    link_days: float = 7.0
    secret: str = ""

    @property
    def links_on(self) -> bool:
        return bool(self.public_url)

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when the public address is HTTPS (a plain-HTTP test setup still logs in)."""
        return self.public_url.lower().startswith("https://")
