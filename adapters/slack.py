"""The Slack adapter: /interview and /sessions, a setup modal and DM threads, on slack-bolt's AsyncApp."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import render
from bot.config import SlackConfig
from engine import errors
from engine.coaching.questions import ROUND_TYPES
from engine.service import AnswerResult, InterviewEngine
from engine.session import Session
from engine.types import AudioInput, InterviewSpec, Question, Report, SessionSummary, User

logger = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
DEFAULT_INDUSTRY = "General"
DEFAULT_ROUND = "full"
SETUP_CALLBACK = "interview_setup"
RESTART_METADATA = "restart"  # the modal's private_metadata when it replaces an active interview
SUBCOMMANDS = ("status", "repeat", "skip", "retry", "end", "report", "language", "forget", "help")
# Slack clips arrive as webm/mp4 (audio or video); uploads may be any of these.
AUDIO_FILETYPES = {"webm", "mp4", "m4a", "ogg", "oga", "opus", "mp3", "wav", "flac", "aac"}
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=15)
STOP_GRACE_SECONDS = 30.0
SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section's text
FIELD_LIMIT = 1900  # and 2000 in a field
MAX_BLOCKS = 50
MAX_ADMIN_ROWS = 40  # one ephemeral message; the newest activity comes first
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
NO_DM = "I couldn't open a direct message with you. Please open the app's Messages tab and try again."
NOT_ADMIN = "Sorry, /sessions is only available to this bot's admins."
_TRAILING_INDUSTRY = re.compile(r"\s*\(([^()]+)\)\s*$")
ANSWER_HINT = "Reply in this thread with an audio clip or file, or type your answer. `/interview skip` skips it."


class DownloadFailed(Exception):
    """Slack would not hand over a file (expired link, missing files:read scope, network trouble)."""


class SlackAdapter:
    """Translates Slack commands, modal submissions, buttons and DM messages into engine calls.

    Every request is acknowledged first; the work (downloads, transcription, replies) runs in tasks this
    adapter tracks, so Slack never waits more than a moment and `stop()` can let them finish.
    """

    def __init__(self, engine: InterviewEngine, config: SlackConfig) -> None:
        self._engine = engine
        self._config = config
        self._admins = frozenset(config.admins)
        self._client = AsyncWebClient(token=config.bot_token, base_url=config.api_base_url)
        self._app = AsyncApp(
            name="voice-interview-bot",
            client=self._client,
            signing_secret=config.signing_secret,
            # Listeners only ack and schedule a task, so answering after they return costs nothing and
            # keeps view_submission validation errors in the HTTP response where Slack expects them.
            process_before_response=True,
            request_verification_enabled=config.mode == "http",
        )
        self._register(self._app)
        self._tasks: set[asyncio.Task[None]] = set()
        self._user_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._http: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._bot_user_id = ""

    # ----- lifecycle ------------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """POST /slack/events (events, commands and interactivity share one URL); none in Socket Mode."""
        if self._config.mode != "http":
            return []
        return [web.post(EVENTS_PATH, self._handle_http)]

    async def start(self) -> None:
        """Check the token, connect Socket Mode if configured, and finish answers a restart interrupted."""
        try:
            auth = await self._client.auth_test()
        except SlackApiError as exc:
            raise RuntimeError(
                f"Slack rejected the bot token ({exc.response.get('error')}); check SLACK_BOT_TOKEN"
            ) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack: could not reach the Web API at start (%s); carrying on", exc)
        else:
            self._bot_user_id = auth.get("user_id", "")
            logger.info("slack: connected as %s (%s) in %s", auth.get("user"), self._bot_user_id, auth.get("team"))
        if self._config.mode == "socket":
            self._socket = AsyncSocketModeHandler(self._app, self._config.app_token)
            await self._socket.connect_async()
            logger.info("slack: socket mode connected")
        # Transcribing interrupted answers can take a while; the bot serves meanwhile.
        self._spawn(self._recover(), "recover")

    async def stop(self) -> None:
        """Disconnect, then give running work a grace period (unfinished voice answers are recovered later)."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning("slack: cancelled %d unfinished tasks at stop", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _handle_http(self, request: web.Request) -> web.Response:
        """slack_bolt's aiohttp adapter: signature check, dispatch and the ack response, all inside bolt."""
        bolt_response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(self._guard(work, what), name=f"slack-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(work: Coroutine[Any, Any, None], what: str) -> None:
        """Last line of defence for background work: handlers answer their own errors, this only logs."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("slack: %s failed", what)

    def _user_lock(self, user_id: str) -> asyncio.Lock:
        lock = self._user_locks.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._user_locks[user_id] = lock
        return lock

    def _session_http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT)
        return self._http

    # ----- bolt listeners: each acks at once and schedules the work ---------------------------------------

    def _register(self, app: AsyncApp) -> None:
        app.command("/interview")(self._on_interview_command)
        app.command("/sessions")(self._on_sessions_command)
        app.view(SETUP_CALLBACK)(self._on_setup_submitted)
        app.action("resume")(self._on_resume)
        app.action("restart")(self._on_restart)
        app.action("forget_confirm")(self._on_forget_confirm)
        app.action("forget_cancel")(self._on_forget_cancel)
        app.event("message")(self._on_message)

    async def _on_interview_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        user = User(PLATFORM, command["user_id"], command.get("user_name", ""))
        text = " ".join((command.get("text") or "").split())
        self._spawn(self._interview_command(user, text, command.get("trigger_id", ""), respond), "command")

    async def _on_sessions_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        if command["user_id"] not in self._admins:
            await ack(text=NOT_ADMIN)
            return
        await ack()
        self._spawn(self._sessions_command((command.get("text") or "").strip().lower(), respond), "sessions")

    async def _on_setup_submitted(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        spec, problems = _spec_from_view(view)
        if problems:
            await ack(response_action="errors", errors=problems)
            return
        await ack()
        user = _user_from_payload(body)
        replace = view.get("private_metadata") == RESTART_METADATA
        self._spawn(self._start(user, spec, respond=None, replace_active=replace), "setup")

    async def _on_resume(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        self._spawn(self._resume(_user_from_payload(body), respond), "resume")

    async def _on_restart(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        user = _user_from_payload(body)
        spec = _spec_from_button(action.get("value") or "")
        if spec is not None:
            self._spawn(self._start(user, spec, respond=respond, replace_active=True), "restart")
        else:
            # The modal needs the trigger id within 3 s, so it opens first; the old interview ends on submit.
            self._spawn(self._open_setup(body.get("trigger_id", ""), respond, replace=True), "restart")

    async def _on_forget_confirm(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        self._spawn(self._forget(_user_from_payload(body), respond), "forget")

    async def _on_forget_cancel(self, ack: Any, respond: Any) -> None:
        await ack()
        self._spawn(_respond(respond, "Nothing was deleted.", replace_original=True), "forget-cancel")

    async def _on_message(self, ack: Any, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        await ack()
        bot_user_id = context.get("bot_user_id") or self._bot_user_id
        if _ignored(event, bot_user_id):
            return
        self._spawn(self._message(body.get("event_id", ""), event), "message")

    # ----- /interview -----------------------------------------------------------------------------------------

    async def _interview_command(self, user: User, text: str, trigger_id: str, respond: Any) -> None:
        verb, _, arg = text.partition(" ")
        verb = verb.lower()
        try:
            if not text:
                await self._open_setup(trigger_id, respond, user=user)
            elif verb not in SUBCOMMANDS or (arg and verb != "language"):
                parsed = _parse_one_line(text)
                if parsed is None:
                    await _respond(respond, "I didn't get that.\n\n" + help_text())
                else:
                    await self._start(user, parsed, respond=respond, replace_active=False)
            elif verb == "help":
                await _respond(respond, help_text())
            elif verb == "status":
                await _respond(respond, status_text(await self._engine.get_session(user)))
            elif verb == "repeat":
                await self._repeat(user, respond)
            elif verb in ("skip", "retry"):
                result = await (self._engine.skip(user) if verb == "skip" else self._engine.retry(user))
                await self._deliver(result.session.route, result)
                await _respond(respond, "Done. The next step is in our interview thread.")
            elif verb == "end":
                session = await self._engine.get_session(user)
                report = await self._engine.end(user)
                await self._report_to(session.route, report, respond)
            elif verb == "report":
                session = await self._engine.latest_session(user)
                await self._report_to(session.route, await self._engine.report(user), respond)
            elif verb == "language":
                if not arg:
                    session = await self._engine.get_session(user)
                    await _respond(
                        respond,
                        f"Voice answers are transcribed in `{session.language}`. "
                        "Change it with `/interview language <code>`, e.g. `en-us`.",
                    )
                    return
                session = await self._engine.set_language(user, arg)
                note = (
                    ""
                    if self._engine.voice_available(session.language)
                    else (" There is no speech model for it yet, so please type your answers (or ask an admin).")
                )
                await _respond(respond, f"Voice answers are now transcribed in `{session.language}`.{note}")
            elif verb == "forget":
                await _respond(respond, *forget_prompt())
        except errors.EngineError as exc:
            await _respond(respond, error_text(exc))
        except Exception:
            logger.exception("slack: /interview %s failed user=%s", verb, user.user_id)
            await _respond(respond, SORRY)

    async def _report_to(self, route: dict[str, Any], report: Report, respond: Any) -> None:
        """The report goes to the interview's thread; the command only gets a pointer to it."""
        if await self._post_report(route, report):
            await _respond(respond, "Your report is in our interview thread.")
        else:
            await _respond(respond, *report_message(report))

    async def _open_setup(
        self, trigger_id: str, respond: Any, *, user: User | None = None, replace: bool = False
    ) -> None:
        """The setup modal; with a user, first make sure they have no interview running."""
        if user is not None:
            try:
                active = await self._engine.get_session(user)
            except errors.SessionNotFound:
                pass
            else:
                await _respond(respond, *in_progress_prompt(active))
                return
        await self._client.views_open(trigger_id=trigger_id, view=setup_view(replace=replace))

    async def _start(self, user: User, spec: InterviewSpec, *, respond: Any, replace_active: bool) -> None:
        """Open the DM, post the interview's parent message and ask the first question in its thread."""
        try:
            channel = (await self._client.conversations_open(users=user.user_id))["channel"]["id"]
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack: conversations.open failed user=%s error=%s", user.user_id, _slack_error(exc))
            await _respond(respond, NO_DM)
            return
        try:
            if replace_active:
                await self._end_quietly(user)
            else:
                try:
                    active = await self._engine.get_session(user)
                except errors.SessionNotFound:
                    pass
                else:
                    await self._prompt(channel, respond, *in_progress_prompt(active, spec))
                    return
            parent = await self._post(channel, *intro_message(spec))
            if parent is None:
                await _respond(respond, NO_DM)
                return
            try:
                started = await self._engine.start(user, spec, route={"channel": channel, "thread_ts": parent})
            except errors.SessionInProgress as exc:  # a second start raced this one
                await self._update(channel, parent, "This interview did not start: another one is already running.")
                await self._prompt(channel, respond, *in_progress_prompt(exc.session, spec))
                return
            except errors.EngineError as exc:
                await self._update(channel, parent, "This interview did not start. " + error_text(exc))
                await _respond(respond, error_text(exc))
                return
            session = started.session
            await self._post(channel, *question_message(started.question, 1, session.total), thread_ts=parent)
            await _respond(respond, "Your interview has started in our direct messages. Good luck!")
        except errors.EngineError as exc:
            await self._prompt(channel, respond, error_text(exc))
        except Exception:
            logger.exception("slack: starting an interview failed user=%s", user.user_id)
            await self._prompt(channel, respond, SORRY)

    async def _end_quietly(self, user: User) -> None:
        """End the active interview (if any) for a restart, posting its report where it lived."""
        try:
            session = await self._engine.get_session(user)
            report = await self._engine.end(user)
        except (errors.SessionNotFound, errors.SessionCompleted):
            return
        await self._post_report(session.route, report)

    async def _resume(self, user: User, respond: Any) -> None:
        try:
            await self._repeat(user, respond, replace_original=True)
        except errors.EngineError as exc:
            await _respond(respond, error_text(exc), replace_original=True)

    async def _repeat(self, user: User, respond: Any, *, replace_original: bool = False) -> None:
        session = await self._engine.get_session(user)
        question = await self._engine.current_question(user)
        route = session.route
        text, blocks = question_message(question, session.position + 1, session.total)
        if await self._post_route(route, text, blocks):
            await _respond(
                respond,
                f"Question {session.position + 1} is waiting in our interview thread.",
                replace_original=replace_original,
            )
        else:
            await _respond(respond, text, blocks=blocks, replace_original=replace_original)

    async def _forget(self, user: User, respond: Any) -> None:
        try:
            removed = await self._engine.forget(user)
        except errors.EngineError as exc:
            await _respond(respond, error_text(exc), replace_original=True)
            return
        await _respond(
            respond,
            f"Done: I deleted {removed} interview{'s' if removed != 1 else ''} and every recording of yours.",
            replace_original=True,
        )

    # ----- /sessions (admins) ------------------------------------------------------------------------------

    async def _sessions_command(self, arg: str, respond: Any) -> None:
        filters = {"": {"status": "active"}, "active": {"status": "active"}, "all": {}, "stale": {"stale_only": True}}
        if arg not in filters:
            await _respond(respond, "Usage: `/sessions [active | all | stale]`")
            return
        try:
            rows = await self._engine.list_sessions(**filters[arg])
        except errors.EngineError as exc:
            await _respond(respond, error_text(exc))
            return
        await _respond(respond, *sessions_message(rows, arg or "active"))

    # ----- DM messages: answers -------------------------------------------------------------------------------

    async def _message(self, event_id: str, event: dict[str, Any]) -> None:
        user = User(PLATFORM, event["user"])
        channel = event["channel"]
        # One user's messages are handled in arrival order, so answers land on the right questions.
        async with self._user_lock(user.user_id):
            if event_id and not await self._engine.first_delivery(PLATFORM, event_id):
                logger.info("slack: duplicate delivery ignored event=%s", event_id)
                return
            thread = event.get("thread_ts") or None
            try:
                session = await self._engine.get_session(user)
                if session.route.get("channel") == channel and session.route.get("thread_ts"):
                    thread = session.route["thread_ts"]
                files = event.get("files") or []
                audio = next((f for f in files if _is_audio(f)), None)
                text = (event.get("text") or "").strip()
                if audio is not None:
                    await self._answer_file(user, channel, thread, audio)
                elif text:
                    await self._deliver(
                        {"channel": channel, "thread_ts": thread}, await self._engine.answer_text(user, text)
                    )
                elif files:
                    await self._post(channel, "That file isn't audio. " + ANSWER_HINT, thread_ts=thread)
            except errors.EngineError as exc:
                await self._post(channel, error_text(exc), thread_ts=thread)
            except Exception:
                logger.exception("slack: handling a message failed user=%s event=%s", user.user_id, event_id)
                await self._post(channel, SORRY, thread_ts=thread)

    async def _answer_file(self, user: User, channel: str, thread: str | None, file: dict[str, Any]) -> None:
        """Refuse oversized files unseen, download with the bot token, transcribe, reply in place."""
        size = int(file.get("size") or 0)
        logger.info(
            "slack: voice answer user=%s file=%s bytes=%d mime=%s",
            user.user_id,
            file.get("id"),
            size,
            file.get("mimetype"),
        )
        if size > self._engine.max_audio_bytes:
            await self._post(channel, too_large_text(size, self._engine.max_audio_bytes), thread_ts=thread)
            return
        waiting = self._engine.queue_depth
        placeholder = await self._post(channel, progress_text(waiting), thread_ts=thread)
        route = {"channel": channel, "thread_ts": thread}
        try:
            data = await self._download(file)
            result = await self._engine.answer_audio(
                user, AudioInput(data, file.get("mimetype", ""), file.get("name", ""))
            )
        except (errors.EngineError, DownloadFailed) as exc:
            text = error_text(exc)
            if placeholder is None or not await self._update(channel, placeholder, text):
                await self._post(channel, text, thread_ts=thread)
            return
        except Exception:
            logger.exception("slack: voice answer failed user=%s file=%s", user.user_id, file.get("id"))
            if placeholder is None or not await self._update(channel, placeholder, SORRY):
                await self._post(channel, SORRY, thread_ts=thread)
            return
        await self._deliver(route, result, replace_ts=placeholder)

    async def _download(self, file: dict[str, Any]) -> bytes:
        """Fetch a private file with the bot token; stop reading once it passes the size limit."""
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise DownloadFailed("the file has no download link")
        headers = {"Authorization": f"Bearer {self._config.bot_token}"}
        try:
            async with self._session_http().get(url, headers=headers) as response:
                # Without access Slack answers with its sign-in page, not an error status.
                if response.status != 200 or response.content_type == "text/html":
                    logger.warning(
                        "slack: file download refused file=%s status=%d type=%s",
                        file.get("id"),
                        response.status,
                        response.content_type,
                    )
                    raise DownloadFailed(f"status {response.status}")
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data.extend(chunk)
                    if len(data) > self._engine.max_audio_bytes:
                        raise errors.AudioTooLarge(too_large_text(len(data), self._engine.max_audio_bytes))
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack: file download failed file=%s error=%r", file.get("id"), exc)
            raise DownloadFailed(str(exc)) from exc

    # ----- replies ----------------------------------------------------------------------------------------

    async def _deliver(self, route: dict[str, Any], result: AnswerResult, *, replace_ts: str | None = None) -> None:
        """Feedback on the answer, then the next question or the report, in the interview's thread."""
        channel, thread = route.get("channel"), route.get("thread_ts")
        if not channel:
            logger.warning("slack: no route for session=%s; reply dropped", result.session.session_id)
            return
        text, blocks = answer_message(result)
        if replace_ts is None or not await self._update(channel, replace_ts, text, blocks=blocks):
            await self._post(channel, text, blocks=blocks, thread_ts=thread)
        if result.report is not None:
            await self._post_report(route, result.report)
        elif result.next_question is not None:
            number = result.session.position + 1
            await self._post(
                channel, *question_message(result.next_question, number, result.session.total), thread_ts=thread
            )

    async def _post_report(self, route: dict[str, Any], report: Report) -> bool:
        text, blocks = report_message(report)
        return await self._post_route(route, text, blocks)

    async def _post_route(self, route: dict[str, Any], text: str, blocks: list[dict[str, Any]] | None) -> bool:
        if not route.get("channel"):
            return False
        return await self._post(route["channel"], text, blocks=blocks, thread_ts=route.get("thread_ts")) is not None

    async def _recover(self) -> None:
        """Deliver the replies owed for voice answers that a restart interrupted."""
        for item in await self._engine.recover_pending(PLATFORM):
            route = item.session.route
            if item.result is not None:
                await self._deliver(route, item.result)
            elif item.error is not None:
                await self._post_route(route, error_text(item.error), None)
            logger.info("slack: recovered answer session=%s ok=%s", item.session.session_id, item.error is None)

    async def _prompt(self, channel: str, respond: Any, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Answer the person who asked: ephemerally for a command, in the DM for a modal."""
        if respond is not None and getattr(respond, "response_url", None):
            await _respond(respond, text, blocks=blocks)
        else:
            await self._post(channel, text, blocks=blocks)

    async def _post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, *, thread_ts: str | None = None
    ) -> str | None:
        """chat.postMessage; returns the message ts, or None when Slack refused it (already logged)."""
        try:
            response = await self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False
            )
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack: chat.postMessage failed channel=%s error=%s", channel, _slack_error(exc))
            return None
        return response.get("ts")

    async def _update(self, channel: str, ts: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> bool:
        try:
            await self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack: chat.update failed channel=%s error=%s", channel, _slack_error(exc))
            return False
        return True


# ----- request parsing ----------------------------------------------------------------------------------------


def _ignored(event: dict[str, Any], bot_user_id: str) -> bool:
    """Only people's new messages in a DM are answers: not bots (us included), edits, deletions or joins."""
    if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
        return True
    user = event.get("user")
    if not user or user == bot_user_id:
        return True
    return event.get("channel_type") not in (None, "im")


def _is_audio(file: dict[str, Any]) -> bool:
    mimetype = (file.get("mimetype") or "").lower()
    if mimetype.startswith("audio/") or mimetype in ("video/webm", "video/mp4", "video/quicktime"):
        return True
    return (file.get("filetype") or "").lower() in AUDIO_FILETYPES


def _user_from_payload(body: dict[str, Any]) -> User:
    user = body.get("user") or {}
    return User(PLATFORM, user["id"], user.get("username") or user.get("name") or "")


def _parse_one_line(text: str) -> InterviewSpec | None:
    """ "Senior Backend Engineer at TechCorp (Fintech)": the last " at " splits role and company."""
    industry = DEFAULT_INDUSTRY
    match = _TRAILING_INDUSTRY.search(text)
    if match:
        industry, text = match.group(1).strip(), text[: match.start()]
    cut = text.lower().rfind(" at ")
    if cut <= 0:
        return None
    role, company = text[:cut].strip(), text[cut + 4 :].strip()
    if not role or not company:
        return None
    return InterviewSpec(role, company, industry, round_type=DEFAULT_ROUND)


def _spec_from_button(value: str) -> InterviewSpec | None:
    """The spec a Restart button carries (see in_progress_prompt); None: ask with the modal instead."""
    try:
        data = json.loads(value) if value else None
        return InterviewSpec.from_dict(data) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


def _spec_from_view(view: dict[str, Any]) -> tuple[InterviewSpec, dict[str, str]]:
    """The modal's values as a spec, plus per-block errors Slack shows under the inputs."""
    values = view.get("state", {}).get("values", {})

    def text(block: str) -> str:
        return ((values.get(block, {}).get("value") or {}).get("value") or "").strip()

    selected = (values.get("round", {}).get("value") or {}).get("selected_option") or {}
    spec = InterviewSpec(
        role_title=text("role"),
        company_name=text("company"),
        industry=text("industry") or DEFAULT_INDUSTRY,
        cv=text("cv"),
        jd=text("jd"),
        round_type=selected.get("value") or DEFAULT_ROUND,
    )
    problems = {}
    if not spec.role_title:
        problems["role"] = "Please enter the role you are interviewing for."
    if not spec.company_name:
        problems["company"] = "Please enter the company."
    return spec, problems


def _slack_error(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return repr(exc)


async def _respond(respond: Any, text: str, blocks: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
    """Reply through a command's or button's response_url (ephemeral); a no-op without one."""
    if respond is None or not getattr(respond, "response_url", None):
        return
    try:
        await respond(text=text, blocks=blocks, response_type="ephemeral", **kwargs)
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("slack: response_url reply failed error=%s", _slack_error(exc))


# ----- words and Block Kit ------------------------------------------------------------------------------------


def error_text(exc: BaseException) -> str:
    """The one place errors become Slack words."""
    if isinstance(exc, DownloadFailed):
        return "I couldn't fetch that file from Slack. Please send it again."
    if isinstance(exc, errors.EngineError):
        return slack_words(render.error_message(exc))
    return SORRY


# Commands that other platforms spell on their own (/repeat) are subcommands here (/interview repeat).
_OTHER_COMMANDS = re.compile(r"(?<![\w/])/(repeat|report|retry|skip|status|end|language|forget|help)\b")


def slack_words(text: str) -> str:
    """Shared plain text, with commands as Slack users type them and mrkdwn's special characters escaped."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _OTHER_COMMANDS.sub(r"/interview \1", escaped)


def help_text() -> str:
    """Slack's own command list: everything is a subcommand of /interview there."""
    return "\n".join(
        [
            "🎤 *Mock interview coach*: I ask interview questions, you answer with an audio clip (or by typing) "
            "in our direct messages, and I give feedback on each answer and a report at the end.",
            "",
            "`/interview`: set up and start an interview",
            "`/interview Senior Backend Engineer at TechCorp`: start one at once (add `(Industry)` at the end if "
            "you like)",
            "`/interview status`: where your interview stands",
            "`/interview repeat`: show the current question again",
            "`/interview skip`: skip the current question",
            "`/interview retry`: transcribe your last voice answer again after a failure",
            "`/interview end`: end the interview now and get the report",
            "`/interview report`: the report of your latest interview",
            "`/interview language en-us`: the language your voice answers are transcribed in",
            "`/interview forget`: delete all your interviews and recordings",
            "`/interview help`: this list",
        ]
    )


def _text(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _sections(text: str) -> list[dict[str, Any]]:
    """mrkdwn sections, split where Slack's per-section limit requires."""
    return [{"type": "section", "text": _text(piece)} for piece in render.split_message(text, SECTION_LIMIT)]


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_text(text)]}


def _button(text: str, action_id: str, value: str = "", style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id}
    if value:
        button["value"] = value
    if style:
        button["style"] = style
    return button


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _quote(text: str) -> str:
    return "\n".join(">" + line for line in text.splitlines() or [""])


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…", "emoji": True}


def question_message(question: Question, number: int, total: int) -> tuple[str, list[dict[str, Any]]]:
    """A question as fallback text plus Block Kit blocks."""
    category = render.CATEGORY_LABELS.get(question.category, question.category)
    blocks = [
        *_sections(f"❓ *Question {number} of {total}* ({category})\n{_quote(slack_words(question.text))}"),
        _context(ANSWER_HINT),
    ]
    return slack_words(render.question_text(question, number, total)), blocks


def answer_message(result: AnswerResult) -> tuple[str, list[dict[str, Any]]]:
    """The transcript (voice answers) and the feedback, as the reply to one answer."""
    answer = result.answer
    number, total = answer.index + 1, result.session.total
    fallback = slack_words(render.answer_text(result))
    if answer.source == "skipped":
        return fallback, _sections(f"⏭ Skipped question {number} of {total}.")
    if answer.source == "voice":
        length = f" ({render.duration(answer.duration)})" if answer.duration else ""
        head = f"🎙 *Answer {number} of {total}*: I heard{length}\n{_quote(slack_words(answer.text))}"
    else:
        head = f"✍️ *Answer {number} of {total}* (typed)"
    blocks = _sections(head)
    if result.feedback is not None:
        blocks += _sections(slack_words(render.feedback_text(result.feedback)))
    return fallback, blocks


def report_message(report: Report) -> tuple[str, list[dict[str, Any]]]:
    """The final report: header, score fields, one field per question, strengths/improvements, context."""
    state = {"completed": "completed", "ended": "ended early", "active": "in progress"}.get(
        report.status, report.status
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain("📋 Interview report", 150)},
        *_sections(f"*{slack_words(report.role_title)}* at *{slack_words(report.company_name)}* · {state}"),
        {
            "type": "section",
            "fields": [
                _text(f"*Overall score*\n{report.overall_score}/100"),
                _text(f"*Answered*\n{report.answered} of {report.total}"),
                _text(f"*Skipped*\n{report.skipped}"),
                _text(
                    "*Average pace*\n"
                    + (f"{report.average_wpm:.0f} words/min" if report.average_wpm is not None else "no voice answers")
                ),
            ],
        },
    ]
    if report.per_question:
        blocks += [{"type": "divider"}, *_sections("*Per question*")]
        fields = []
        for item in report.per_question:
            category = render.CATEGORY_LABELS.get(item.category, item.category)
            score = "skipped" if item.source == "skipped" or item.score is None else f"{item.score}/100"
            via = {"voice": " 🎙", "text": " ✍️"}.get(item.source, "")
            question = slack_words(_shorten(item.question, 150))
            fields.append(_text(f"*{item.index + 1}. {category}*: {score}{via}\n{question}"[:FIELD_LIMIT]))
        # Slack takes at most 10 fields per section.
        blocks += [{"type": "section", "fields": fields[i : i + 10]} for i in range(0, len(fields), 10)]
    if report.strengths or report.improvements:
        blocks.append({"type": "divider"})
    if report.strengths:
        blocks += _sections("*💪 Strengths*\n" + "\n".join(f"• {slack_words(s)}" for s in report.strengths))
    if report.improvements:
        blocks += _sections("*🎯 To improve*\n" + "\n".join(f"• {slack_words(s)}" for s in report.improvements))
    context = [f"Session `{report.session_id}`"]
    if report.total_fillers:
        fillers = ", ".join(f"{w} ×{n}" for w, n in sorted(report.filler_breakdown.items(), key=lambda i: -i[1]))
        context.append(f"filler words: {report.total_fillers} ({slack_words(fillers)})")
    elif report.answered:
        context.append("filler words: none 👍")
    if report.top_words:
        context.append("most used: " + slack_words(", ".join(f"{w} ({n})" for w, n in report.top_words)))
    blocks.append(_context(" · ".join(context)))
    return slack_words(render.report_text(report)), blocks[:MAX_BLOCKS]


def status_text(session: Session) -> str:
    """The shared status text in Slack's command words."""
    return slack_words(render.status_text(session))


def sessions_message(rows: list[SessionSummary], view: str) -> tuple[str, list[dict[str, Any]]]:
    """The admin table, one line per session, newest activity first (the first MAX_ADMIN_ROWS of them)."""
    title = {"active": "Active interviews", "all": "All interviews", "stale": "Stale interviews"}[view]
    text = slack_words(render.sessions_text(rows[:MAX_ADMIN_ROWS], title=title, total=len(rows)))
    blocks = [{"type": "header", "text": _plain(f"🗂 {title}", 150)}]
    head, _, body = text.partition("\n")
    blocks += _sections(f"*{head}*")
    if body:
        blocks += _sections(body)
    blocks.append(_context("`/sessions active` · `/sessions all` · `/sessions stale`"))
    return text, blocks[:MAX_BLOCKS]


def forget_prompt() -> tuple[str, list[dict[str, Any]]]:
    """The confirmation asked before deleting everything, with its buttons."""
    text = "Delete all your interviews, reports and recordings? This cannot be undone."
    return text, [
        *_sections(f"🗑 {text}"),
        {
            "type": "actions",
            "elements": [
                _button("Yes, delete everything", "forget_confirm", "yes", style="danger"),
                _button("Cancel", "forget_cancel", "no"),
            ],
        },
    ]


def in_progress_prompt(session: Session, spec: InterviewSpec | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Starting while an interview runs: offer to resume it, or end it and start the new one."""
    current = session.spec
    text = (
        f"You already have an interview in progress ({current.role_title} at {current.company_name}, "
        f"question {session.position + 1} of {session.total}). Resume it, or end it and start again?"
    )
    text = slack_words(text)
    # A button value holds 2000 characters: enough for a one-line start; with a CV or JD the modal reopens.
    value = json.dumps(spec.to_dict(), ensure_ascii=False) if spec is not None else ""
    if len(value) > 2000:
        value = ""
    return text, [
        *_sections(text),
        {
            "type": "actions",
            "elements": [
                _button("Resume", "resume", "resume", style="primary"),
                _button("End it and restart", "restart", value, style="danger"),
            ],
        },
    ]


def intro_message(spec: InterviewSpec) -> tuple[str, list[dict[str, Any]]]:
    """The DM message that opens an interview's thread."""
    text = f"Mock interview: {spec.role_title} at {spec.company_name} ({render.round_label(spec.round_type)})"
    return slack_words(text), [
        *_sections(
            f"🎤 *Mock interview: {slack_words(spec.role_title)}* at *{slack_words(spec.company_name)}*\n"
            f"{slack_words(spec.industry)} · {render.round_label(spec.round_type)}"
        ),
        _context("The questions come in this thread. Answer each one here with an audio clip or by typing."),
    ]


def setup_view(*, replace: bool = False) -> dict[str, Any]:
    """The /interview modal: role, company, industry, round type, optional CV and job description."""

    def text_input(
        block_id: str,
        label: str,
        *,
        max_length: int,
        placeholder: str = "",
        multiline: bool = False,
        initial: str = "",
        optional: bool = False,
    ) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "max_length": max_length,
            "multiline": multiline,
        }
        if placeholder:
            element["placeholder"] = _plain(placeholder, 150)
        if initial:
            element["initial_value"] = initial
        return {
            "type": "input",
            "block_id": block_id,
            "optional": optional,
            "label": _plain(label, 2000),
            "element": element,
        }

    options = [{"text": _plain(render.round_label(r), 75), "value": r} for r in ROUND_TYPES]
    default = next(o for o in options if o["value"] == DEFAULT_ROUND)
    blocks = [
        text_input("role", "Role", max_length=200, placeholder="Senior Backend Engineer"),
        text_input("company", "Company", max_length=200, placeholder="TechCorp"),
        text_input("industry", "Industry", max_length=100, initial=DEFAULT_INDUSTRY),
        {
            "type": "input",
            "block_id": "round",
            "label": _plain("Round", 2000),
            "element": {"type": "static_select", "action_id": "value", "options": options, "initial_option": default},
        },
        # Slack caps a text input at 3000 characters; the start of a CV or JD is what tailors the questions.
        text_input(
            "cv",
            "Your CV (optional)",
            max_length=3000,
            multiline=True,
            optional=True,
            placeholder="Paste your CV or a summary of your experience",
        ),
        text_input(
            "jd",
            "Job description (optional)",
            max_length=3000,
            multiline=True,
            optional=True,
            placeholder="Paste the job description",
        ),
    ]
    if replace:
        blocks.insert(0, _context("⚠️ Starting this ends your current interview (its report stays available)."))
    return {
        "type": "modal",
        "callback_id": SETUP_CALLBACK,
        "private_metadata": RESTART_METADATA if replace else "",
        "title": _plain("Mock interview", 24),
        "submit": _plain("Start", 24),
        "close": _plain("Cancel", 24),
        "blocks": blocks,
    }


def progress_text(waiting: int) -> str:
    """The placeholder shown while an answer is transcribed, with the queue position when there is one."""
    line = "🎧 Got your answer, transcribing…"
    if waiting > 0:
        line += f" {waiting} answer{'s' if waiting != 1 else ''} ahead of yours."
    return line


def too_large_text(size: int, limit: int) -> str:
    """Why a file was refused before downloading it."""
    return (
        f"That file is too large ({size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB). "
        "Please keep your answer shorter; the question is still open."
    )
