"""Private report links: a token that signs (platform, user, session, its creation, expiry) with the server's secret.

Nothing is stored per link: a link is valid while its signature holds, it has not expired, and the session it names
still exists with the same creation time. So /forget (or the HTTP delete) ends every link of that candidate at once,
and a session started again under an old id (HTTP clients choose ids) is not reached by the old links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine import PLATFORMS, SessionView

logger = logging.getLogger(__name__)

SECRET_FILE = "web-secret"
_CONTEXT = b"interview-report-link:v1:"  # the key signs nothing else with the same bytes (admin cookies differ)
MAX_TOKEN = 800  # a longer path segment is not one of ours: refused before any decoding


@dataclass(frozen=True)
class LinkTarget:
    """What a valid token opens: one session of one candidate, until `expires_at`."""

    platform: str
    user_id: str
    session_id: str
    created_at: float
    expires_at: float


class ReportLinks:
    """Makes and checks report tokens; `url_for` builds the link the chat and the HTTP API hand out."""

    def __init__(
        self, secret: bytes, *, public_url: str = "", link_days: float = 7.0, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes")
        self._key = secret
        self.public_url = public_url.rstrip("/")
        self.link_seconds = link_days * 86400
        self._clock = clock

    def token(self, session: SessionView, *, expires_at: float | None = None) -> str:
        """A token for this session, valid for link_days from now (or until `expires_at`)."""
        expiry = expires_at if expires_at is not None else self._clock() + self.link_seconds
        fields = [session.platform, session.user_id, session.session_id, _ms(session.created_at), int(expiry)]
        payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def url_for(self, session: SessionView) -> str | None:
        """The private link to this session's report, or None when links are off ([web] public_url empty)."""
        if not self.public_url:
            return None
        return f"{self.public_url}/r/{self.token(session)}"

    def check(self, token: str) -> LinkTarget | None:
        """What the token opens, or None for anything tampered, malformed or expired (callers say 404 alike)."""
        if len(token) > MAX_TOKEN or token.count(".") != 1:
            return None
        payload, signature = token.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            platform, user_id, session_id, created_ms, expiry = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None  # a token we signed always decodes; this guards a changed format
        if platform not in PLATFORMS or not isinstance(expiry, int) or expiry <= self._clock():
            return None
        return LinkTarget(platform, str(user_id), str(session_id), created_ms / 1000, float(expiry))

    def opens(self, target: LinkTarget, session: SessionView) -> bool:
        """Whether the session found is the one the token was made for (not a new one under the same id)."""
        return _ms(session.created_at) == round(target.created_at * 1000)

    def sign(self, purpose: str, value: str) -> str:
        """A signature of `value` for another purpose (the admin cookie), never valid as a link's."""
        mac = hmac.new(self._key, f"{purpose}:".encode() + value.encode(), hashlib.sha256)
        return _b64(mac.digest())

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, _CONTEXT + payload.encode(), hashlib.sha256).digest())


def load_secret(configured: str, data_dir: Path) -> bytes:
    """[web] secret (INTERVIEW_BOT_WEB_SECRET) if set; else the one kept in the data folder, made on first start.

    The file is created with mode 0600 and O_EXCL, so two starts at once cannot write different secrets.
    """
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if path.stat().st_mode & 0o077:
            logger.warning("web: %s is readable by other users; it signs candidates' report links (chmod 600)", path)
        if len(secret) < 32:
            raise ValueError(f"{path} holds no usable secret: delete it to have a new one made") from None
        return secret.encode()
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    logger.info("web: made a new secret for report links in %s", path)
    return secret.encode()


def fingerprint(token: str) -> str:
    """A short, one-way name for a token, for logs: lines about one link can be matched, the link not rebuilt."""
    return hashlib.sha256(token.encode()).hexdigest()[:10]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
