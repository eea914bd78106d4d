"""The web pages on the bot's one server: a candidate's report and progress behind a private link, the recordings
behind the same link, and the admin overview behind a sign-in. Server-rendered (Jinja2, autoescaped), no request
leaves the bot, and every page carries the same security headers."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import logging
import re
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from adapters.chat.text import ago
from adapters.web.config import WebConfig
from adapters.web.links import LinkTarget, ReportLinks, fingerprint
from adapters.web.model import progress_view, report_view
from engine import ACTIVE, InterviewEngine, SessionView, User, errors

logger = logging.getLogger(__name__)

REPORT_PREFIX = "/r/"
ADMIN_PATH = "/admin"
ASSETS_PREFIX = "/assets/"
ADMIN_COOKIE = "interview_admin"
ADMIN_SESSION_SECONDS = 12 * 3600
# Failed admin sign-ins allowed per LOGIN_WINDOW_SECONDS before the form answers 429: guessing stays slow.
MAX_LOGIN_FAILURES = 10
LOGIN_WINDOW_SECONDS = 60.0
RECENT_FINISHED = 30
NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII digits only, no absurd numbers
# Nothing but the bot itself: its own stylesheet, script and recordings; no frames, no plugins, no inline code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: it must never travel in a Referer
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "X-Robots-Tag": "noindex, nofollow",
}
# Recordings keep the extension the engine gave them from the upload's type.
AUDIO_TYPES = {
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
}
ASSETS = {"web.css": "text/css", "web.js": "text/javascript", "icon.svg": "image/svg+xml"}


def is_web_path(path: str) -> bool:
    """Whether a request path belongs to the pages (so it gets their headers and their 404 page)."""
    return (
        path.startswith((REPORT_PREFIX, ASSETS_PREFIX))
        or path in (ADMIN_PATH, REPORT_PREFIX[:-1])
        or (path.startswith(ADMIN_PATH + "/"))
    )


def loggable_path(path: str) -> str:
    """The path as the access log may show it: a report token is a key to someone's interview, so only its
    fingerprint is logged."""
    if not path.startswith(REPORT_PREFIX):
        return path
    token, slash, rest = path[len(REPORT_PREFIX) :].partition("/")
    return f"{REPORT_PREFIX}~{fingerprint(token)}{slash}{rest}" if token else path


class WebPages:
    """The pages' routes and the middleware that gives them headers and their own error pages."""

    def __init__(
        self,
        engine: InterviewEngine,
        links: ReportLinks,
        config: WebConfig,
        *,
        admin_token: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._links = links
        self._config = config
        self._admin_token = admin_token
        self._clock = clock
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("adapters.web", "templates"),
            autoescape=True,  # everything a candidate typed or said is text, never markup
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._assets = {name: (resources.files("adapters.web") / "static" / name).read_bytes() for name in ASSETS}
        self._asset_version = hashlib.sha256(b"".join(self._assets.values())).hexdigest()[:10]
        self._failures: collections.deque[float] = collections.deque()
        base = urllib.parse.urlsplit(config.public_url).path.rstrip("/")
        self._cookie_path = f"{base}{ADMIN_PATH}"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/r/{token}", self.report),
            web.get("/r/{token}/progress", self.progress),
            web.get("/r/{token}/audio/{index}/{attempt}", self.recording),
            web.get("/r/{token}/question/{index}", self.spoken_question),
            web.get("/r/{tail:.*}", self.not_found),
            web.get(ASSETS_PREFIX + "{name}", self.asset),
            web.get(ADMIN_PATH, self.admin),
            web.post(ADMIN_PATH + "/login", self.login),
            web.post(ADMIN_PATH + "/logout", self.logout),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Security headers on every page, recording and asset; any error there is a page (404 says nothing of why)."""
        if not is_web_path(request.path):
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status in (404, 405):
                response = await self._not_found_page(request)
            elif exc.status >= 400:
                response = await self._error_page(request, exc.status, exc.reason, exc.text or exc.reason)
            else:
                exc.headers.update(SECURITY_HEADERS)
                raise
        except Exception:
            logger.exception("web page failed %s %s", request.method, loggable_path(request.path))
            response = await self._error_page(
                request, 500, "Something went wrong", "Sorry, this page could not be shown. Please try again."
            )
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # ----- the candidate's pages -----------------------------------------------------------------------------

    async def report(self, request: web.Request) -> web.Response:
        """The whole interview: summary, charts, and every question with its recordings, transcripts and feedback."""
        target, session = await self._opened(request)
        user = User(target.platform, target.user_id)
        report = await self._engine.report(user, session_id=target.session_id)
        team = await self._engine.team_report(user, session_id=target.session_id) if session.team else None
        token = request.match_info["token"]
        speaks = self._engine.voice_for(session)

        def render() -> str:
            view = report_view(
                session,
                report,
                recording_url=lambda index, attempt: f"{token}/audio/{index}/{attempt}",
                spoken_url=lambda index: f"{token}/question/{index}",
                speaks=speaks,
                team=team,
            )
            return self._render("report.html", request, r=view, progress_url=f"{token}/progress")

        return _html(await asyncio.to_thread(render))

    async def progress(self, request: web.Request) -> web.Response:
        """The candidate's finished interviews over time, with the trends."""
        target, _ = await self._opened(request)
        entries = await self._engine.progress(User(target.platform, target.user_id))
        token = request.match_info["token"]

        def render() -> str:
            view = progress_view(entries, target.session_id)
            return self._render("progress.html", request, p=view, report_url=f"../{token}")

        return _html(await asyncio.to_thread(render))

    async def recording(self, request: web.Request) -> web.StreamResponse:
        """One attempt's recording, found from the stored answer (never from the request), with Range for seeking."""
        target, _ = await self._opened(request)
        index, attempt = request.match_info["index"], request.match_info["attempt"]
        if not (NUMBER.fullmatch(index) and NUMBER.fullmatch(attempt)):
            raise web.HTTPNotFound()
        user = User(target.platform, target.user_id)
        path = await self._engine.recording(user, target.session_id, int(index), int(attempt))
        if path is None:
            raise web.HTTPNotFound()
        headers = {"Content-Type": AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")}
        headers["Content-Disposition"] = f'inline; filename="answer-{int(index) + 1}-{int(attempt)}{path.suffix}"'
        return web.FileResponse(path, headers=headers)

    async def spoken_question(self, request: web.Request) -> web.Response:
        """The question as the bot spoke it (MP3, which every browser plays), where a voice is installed."""
        target, session = await self._opened(request)
        index = request.match_info["index"]
        if not NUMBER.fullmatch(index) or not self._engine.voice_for(session):
            raise web.HTTPNotFound()
        user = User(target.platform, target.user_id)
        try:
            spoken = await self._engine.question_audio(user, target.session_id, int(index), "mp3")
        except errors.EngineError:
            raise web.HTTPNotFound() from None
        if spoken is None:
            raise web.HTTPNotFound()
        return web.Response(body=spoken.data, content_type=spoken.mime_type)

    async def not_found(self, request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def asset(self, request: web.Request) -> web.Response:
        return await self._asset(request.match_info["name"])

    async def _asset(self, name: str) -> web.Response:
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(
            body=self._assets[name],
            content_type=ASSETS[name],
            charset="utf-8" if name != "icon.svg" else None,
            headers={"Cache-Control": "public, max-age=86400"},
        )

    async def _opened(self, request: web.Request) -> tuple[LinkTarget, SessionView]:
        """The session a valid link opens; any other link is the same 404, whatever was wrong with it."""
        token = request.match_info["token"]
        target = self._links.check(token)
        why = "" if target is not None else "invalid or expired"
        session = None
        if target is not None:
            try:
                session = await self._engine.get_session(User(target.platform, target.user_id), target.session_id)
            except errors.EngineError:
                why = "session gone"
            else:
                if not self._links.opens(target, session):
                    why, session = "session replaced", None
        if target is None or session is None:
            logger.info("report link refused link=%s why=%s", fingerprint(token), why)
            raise web.HTTPNotFound()
        return target, session

    # ----- admin ----------------------------------------------------------------------------------------------

    async def admin(self, request: web.Request) -> web.Response:
        """The sessions overview for a signed-in admin, else the sign-in form; off (404) without an admin token."""
        if not self._admin_token:
            raise web.HTTPNotFound()
        if not self._signed_in(request):
            return _html(self._render("login.html", request, failed=False))
        rows = await self._engine.list_sessions()
        active = [row for row in rows if row.status == ACTIVE]
        finished = [row for row in rows if row.status != ACTIVE][:RECENT_FINISHED]
        page = self._render(
            "admin.html",
            request,
            active=active,
            finished=finished,
            stale=sum(row.stale for row in active),
            failed=sum(row.failed_answers for row in active),
            queue=self._engine.queue_depth,
            stale_hours=f"{self._engine.stale_after_hours:g}",
            when=lambda ts: datetime.fromtimestamp(ts, UTC),
            ago=lambda ts: ago(self._clock() - ts),
        )
        return _html(page)

    async def login(self, request: web.Request) -> web.Response:
        """Check the admin token from the form; a match sets the session cookie (HttpOnly, SameSite=Strict)."""
        if not self._admin_token:
            raise web.HTTPNotFound()
        now = self._clock()
        while self._failures and self._failures[0] < now - LOGIN_WINDOW_SECONDS:
            self._failures.popleft()
        if len(self._failures) >= MAX_LOGIN_FAILURES:
            logger.warning("admin sign-in refused: too many failures in the last minute")
            return await self._error_page(request, 429, "Too many attempts", "Wait a minute, then try again.")
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), self._admin_token.encode()):
            self._failures.append(now)
            logger.info("admin sign-in failed")
            return _html(self._render("login.html", request, failed=True), status=401)
        logger.info("admin signed in")
        expiry = int(now + ADMIN_SESSION_SECONDS)
        response = web.HTTPSeeOther("../admin")
        response.set_cookie(
            ADMIN_COOKIE,
            f"{expiry}.{self._cookie_signature(expiry)}",
            max_age=ADMIN_SESSION_SECONDS,
            path=self._cookie_path,
            httponly=True,
            samesite="Strict",
            secure=self._config.secure_cookies,
        )
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("../admin")
        response.del_cookie(ADMIN_COOKIE, path=self._cookie_path)
        raise response

    def _signed_in(self, request: web.Request) -> bool:
        expiry, _, signature = request.cookies.get(ADMIN_COOKIE, "").partition(".")
        if not re.fullmatch(r"[0-9]{1,12}", expiry) or int(expiry) <= self._clock():
            return False
        return hmac.compare_digest(signature.encode(), self._cookie_signature(int(expiry)).encode())

    def _cookie_signature(self, expiry: int) -> str:
        # The admin token is part of what is signed: changing it signs everyone out.
        token = hashlib.sha256(self._admin_token.encode()).hexdigest()
        return self._links.sign("admin-session", f"{expiry}:{token}")

    # ----- rendering ------------------------------------------------------------------------------------------

    def _render(self, name: str, request: web.Request, **values: Any) -> str:
        # Links are relative, so the pages work behind a proxy that serves the bot under a path of its own.
        root = "../" * max(request.path.count("/") - 1, 0)
        return self._env.get_template(name).render(root=root, asset_version=self._asset_version, **values)

    async def _not_found_page(self, request: web.Request) -> web.Response:
        return _html(self._render("not_found.html", request), status=404)

    async def _error_page(self, request: web.Request, status: int, heading: str, message: str) -> web.Response:
        return _html(self._render("error.html", request, heading=heading, message=message), status=status)


def _html(text: str, *, status: int = 200) -> web.Response:
    """A page, compressed for clients that accept it (a long interview's page shrinks to a fifth)."""
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.enable_compression()
    return response
