"""[http]: the one server's address and body limit, and the interview API's switch and secrets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpConfig:
    """[http]: the server (which also carries the Telegram webhook and Slack events) and the interview API on it.

    host, port and max_body_mb are the server's and hold whether or not the API is enabled. bot/config.py refuses
    a host other than loopback for the API without api_key unless open_api says that is meant.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str = ""
    api_key: str = ""
    # Serving the API without api_key on a public address exposes every HTTP session; only on purpose.
    open_api: bool = False
    max_body_mb: float = 20.0

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)
