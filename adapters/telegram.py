"""The Telegram adapter: python-telegram-bot handlers that turn chat updates into engine calls and render replies.

Interview state lives in the engine only, and so does the set-up wizard's draft (role, company, industry, round,
CV, JD typed before an interview exists; the CV/JD are far too large for callback_data): each update loads it from
the engine and every change is saved back at once, so a restart mid-set-up loses nothing and the next answer, or a
wizard button sent before the restart, carries on from the same step. A draft untouched for DRAFT_TTL_SECONDS is
ignored and dropped; then a wizard button says the set-up expired and typed text is taken as an interview answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import logging
import re
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    Audio,
    BotCommand,
    CallbackQuery,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    VideoNote,
    Voice,
)
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from adapters import render
from bot.config import TelegramConfig
from engine import errors
from engine.coaching.questions import ROUND_TYPES
from engine.service import FIELD_LIMITS, AnswerResult, InterviewEngine
from engine.session import Session
from engine.types import AudioInput, InterviewSpec, User

logger = logging.getLogger(__name__)

PLATFORM = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_MESSAGE = MessageLimit.MAX_TEXT_LENGTH  # 4096
# The Bot API serves bots no file larger than this; refusing up front beats a failed download.
# The cloud Bot API serves downloads up to 20 MB; a self-hosted Bot API server has no such limit.
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CLOUD_API_HOST = "api.telegram.org"
MAX_CONCURRENT_UPDATES = 64
PAGE_SIZE = 10
DRAFT_TTL_SECONDS = 24 * 3600
DEFAULT_INDUSTRY = "General"
ACTIVITY_REFRESH_SECONDS = 4.5  # Telegram shows a chat action for about 5 s
# Commands that only read: they may overtake a long voice answer of the same user (see _UserOrder).
READ_ONLY_COMMANDS = frozenset({"start", "help", "status", "repeat", "report", "sessions"})
ROUND_ALIASES = {"behavioural": "behavioral", "behaviour": "behavioral", "tech": "technical", "screen": "screening"}
ONE_LINE = re.compile(
    r"^(?P<role>.+?)\s+at\s+(?P<company>.+?)(?:\s*\((?P<industry>[^()]*)\))?(?:\s+(?P<round>[A-Za-z]+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
ONE_LINE_USAGE = (
    "Use it like this: /interview Senior Backend Engineer at TechCorp (Technology) technical\n"
    "The industry in brackets and the round type at the end are optional ("
    + ", ".join(ROUND_TYPES)
    + "). Or send just /interview for a guided set-up."
)
WIZARD_STEPS = ("role", "company", "industry", "round", "cv", "jd")
DRAFT_STEPS = (*WIZARD_STEPS, "confirm")
COMMANDS = (
    ("interview", "Start a mock interview"),
    ("status", "Where your interview stands"),
    ("repeat", "Show the current question again"),
    ("skip", "Skip the current question"),
    ("end", "End the interview and get the report"),
    ("report", "Report of your latest interview"),
    ("retry", "Transcribe a failed voice answer again"),
    ("language", "Language of your voice answers"),
    ("forget", "Delete all your data"),
    ("help", "How this works"),
)


@dataclass
class _Draft:
    """A half-finished /interview set-up, kept by the engine between updates (see the module docstring)."""

    step: str  # one of WIZARD_STEPS, or "confirm": `spec` waits for the "End it and start new" button
    touched: float  # time.time() of the last change, for DRAFT_TTL_SECONDS
    role: str = ""
    company: str = ""
    industry: str = ""
    round_type: str = "full"
    cv: str = ""
    spec: InterviewSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for the engine's draft store."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "spec"}
        data["spec"] = self.spec.to_dict() if self.spec is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Draft:
        """Back from the store; ValueError/TypeError for a draft this version cannot use."""
        fields = {name: data[name] for name in cls.__dataclass_fields__ if name in data and name != "spec"}
        spec = data.get("spec")
        draft = cls(**fields, spec=InterviewSpec.from_dict(spec) if spec is not None else None)
        if draft.step not in DRAFT_STEPS or not isinstance(draft.touched, int | float):
            raise ValueError(f"not a set-up draft: step={draft.step!r} touched={draft.touched!r}")
        return draft


class _Apologised(Exception):
    """A crash the handler already apologised for in the chat: the error handler only logs the cause."""


class _UserOrder(BaseUpdateProcessor):
    """Concurrent across users, in arrival order within one user.

    Updates start in the order they were fetched, and `do_process_update` takes the user's lock before its
    first real await, so one user's voice notes, texts and state-changing commands run one after another
    (answers are recorded and replied to in the order sent), while other users, read-only commands and admin
    paging never wait behind a long transcription.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _order_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up: locks are made on demand."""

    async def shutdown(self) -> None:
        """Nothing to free: locks go with their last waiter."""


def _order_key(update: object) -> int | None:
    if not isinstance(update, Update) or update.effective_user is None:
        return None
    query = update.callback_query
    if query is not None and (query.data or "").startswith("adm:"):
        return None
    message = update.message
    if (
        message is not None
        and (message.text or "").startswith("/")
        and _command_name(message.text) in READ_ONLY_COMMANDS
    ):
        return None
    return update.effective_user.id


def _command_name(text: str) -> str:
    return text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()


class TelegramAdapter:
    """Runs the bot on our event loop: long polling by default, or updates POSTed to our aiohttp server."""

    def __init__(self, engine: InterviewEngine, config: TelegramConfig) -> None:
        self._engine = engine
        self._config = config
        self._webhook = config.mode == "webhook"
        # Telegram echoes this secret in a header on every webhook POST; without a configured one we make our
        # own, since we register the webhook ourselves.
        self._secret = config.webhook_secret or secrets.token_urlsafe(32)
        self._max_download = engine.max_audio_bytes
        if urlsplit(config.api_base_url).hostname == CLOUD_API_HOST:
            self._max_download = min(self._max_download, CLOUD_DOWNLOAD_LIMIT)
        builder = (
            ApplicationBuilder()
            .token(config.token)
            .base_url(config.api_base_url)
            .base_file_url(config.file_base_url)
            .concurrent_updates(_UserOrder(MAX_CONCURRENT_UPDATES))
        )
        if self._webhook:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        self._add_handlers()

    # ----- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Initialise PTB, finish answers a restart interrupted, then poll or register the webhook."""
        app = self.application
        await app.initialize()
        try:
            await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        except TelegramError as exc:
            logger.warning("telegram: could not set the command menu: %s", exc)
        await app.start()
        try:
            await self._deliver_recovered()
        except Exception:  # recovery is best effort: the bot must come up for everyone else
            logger.exception("telegram: recovering interrupted answers failed")
        if self._webhook:
            url = _webhook_url(self._config.webhook_url)
            await app.bot.set_webhook(url=url, secret_token=self._secret, allowed_updates=Update.ALL_TYPES)
            logger.info("telegram: webhook set to %s", url)
        else:
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
            logger.info("telegram: polling for updates")

    async def stop(self) -> None:
        """Stop fetching, let running handlers finish, close connections."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    def routes(self) -> list[web.RouteDef]:
        """The webhook route in webhook mode; nothing in polling mode."""
        return [web.post(WEBHOOK_PATH, self._webhook_update)] if self._webhook else []

    async def _webhook_update(self, request: web.Request) -> web.Response:
        """Check Telegram's secret header, queue the update, answer 200 at once (processing happens after)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            logger.warning("telegram webhook: wrong or missing secret from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        if not self.application.running:
            return web.Response(status=503, text="not ready")
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except Exception:
            logger.warning("telegram webhook: body is not an update", exc_info=True)
            return web.Response(status=400, text="bad update")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    async def _deliver_recovered(self) -> None:
        """Reply to voice answers that a crash or restart interrupted; the engine finished them just now."""
        for item in await self._engine.recover_pending(PLATFORM):
            chat_id = item.session.route.get("chat_id") or int(item.session.user_id)  # private chat id = user id
            try:
                if item.result is not None:
                    text = "Here is the voice answer you sent before I restarted:\n\n" + render.answer_text(item.result)
                    await self.send_text(chat_id, text)
                    await self._after_answer(chat_id, item.result)
                elif item.error is not None:
                    text = "About the voice answer you sent before I restarted: " + render.error_message(item.error)
                    await self.send_text(chat_id, text)
            except TelegramError:
                logger.warning("could not deliver a recovered answer to chat %s", chat_id, exc_info=True)

    # ----- sending ------------------------------------------------------------------------------------------

    async def send_text(
        self, chat_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> list[Message]:
        """Send plain text (no parse mode, so nothing a user typed can turn into markup), split to fit."""
        pieces = render.split_message(text, MAX_MESSAGE) or ["…"]
        sent = []
        for number, piece in enumerate(pieces, start=1):
            markup = reply_markup if number == len(pieces) else None
            sent.append(await self.application.bot.send_message(chat_id, piece, reply_markup=markup))
        return sent

    async def _replace(self, message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        """Edit a message in place; what does not fit follows as new messages."""
        pieces = render.split_message(text, MAX_MESSAGE) or ["…"]
        try:
            await message.edit_text(pieces[0], reply_markup=reply_markup if len(pieces) == 1 else None)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
        for number, piece in enumerate(pieces[1:], start=2):
            markup = reply_markup if number == len(pieces) else None
            await self.application.bot.send_message(message.chat_id, piece, reply_markup=markup)

    @contextlib.asynccontextmanager
    async def _activity(self, chat_id: int, action: str = ChatAction.TYPING) -> AsyncIterator[None]:
        """Keep a chat action ("typing…") showing while slow work runs."""

        async def keep_showing() -> None:
            while True:
                with contextlib.suppress(TelegramError):
                    await self.application.bot.send_chat_action(chat_id, action)
                await asyncio.sleep(ACTIVITY_REFRESH_SECONDS)

        task = asyncio.create_task(keep_showing())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _after_answer(self, chat_id: int, result: AnswerResult) -> None:
        """The next question, or the report when that was the last one, as a new message."""
        if result.report is not None:
            await self.send_text(chat_id, render.report_text(result.report))
            await self.send_text(chat_id, "🎉 That's the end of the interview. Send /interview to practise again.")
        elif result.next_question is not None:
            session = result.session
            await self.send_text(
                chat_id, render.question_text(result.next_question, session.position + 1, session.total)
            )

    # ----- handlers -------------------------------------------------------------------------------------------

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self._dedupe), group=-1)
        private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
        commands = {
            "start": self._cmd_start,
            "help": self._cmd_help,
            "interview": self._cmd_interview,
            "cancel": self._cmd_cancel,
            "status": self._cmd_status,
            "repeat": self._cmd_repeat,
            "skip": self._cmd_skip,
            "end": self._cmd_end,
            "report": self._cmd_report,
            "retry": self._cmd_retry,
            "language": self._cmd_language,
            "forget": self._cmd_forget,
            "sessions": self._cmd_sessions,
        }
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, callback, filters=private))
        app.add_handler(CallbackQueryHandler(self._on_button))
        audio = filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | filters.Document.AUDIO
        app.add_handler(MessageHandler(private & audio, self._on_audio))
        app.add_handler(MessageHandler(private & filters.Document.ALL, self._on_document))
        app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, self._on_text))
        app.add_handler(MessageHandler(private & filters.COMMAND, self._on_unknown_command))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE, self._on_edit))
        app.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, self._on_other))
        app.add_handler(MessageHandler(~filters.ChatType.PRIVATE & filters.COMMAND, self._on_group_command))
        app.add_error_handler(self._on_error)

    async def _dedupe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Telegram may deliver an update again (retries, restarts): handle each update id once."""
        if not await self._engine.first_delivery(PLATFORM, str(update.update_id)):
            logger.info("telegram: update %s already handled; ignoring the redelivery", update.update_id)
            raise ApplicationHandlerStop

    async def _cmd_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(
            update,
            "👋 Hi! I'm a mock-interview coach.\n\n"
            "Send /interview and I'll ask a few questions about the role you want. Answer each one with a voice "
            "note (or type it); I'll transcribe it, tell you what went well and what to work on, and give you a "
            "report at the end. Send /help for all commands.",
        )

    async def _cmd_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, render.help_text("/"))

    async def _cmd_interview(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        user = _user(update)
        args = (message.text or "").split(maxsplit=1)
        if len(args) == 2:
            spec = _parse_one_line(args[1])
            if spec is None:
                await self._reply(update, "I couldn't read that. " + ONE_LINE_USAGE)
                return
            await self._start_interview(message.chat_id, user, spec)
            return
        active = await self._active_session(user)
        if active is not None:
            await self._offer_resume(message.chat_id, active)
            return
        await self._save_draft(user, _Draft(step="role", touched=time.time()))
        await self._reply(
            update,
            "Let's set up your mock interview (send /cancel to stop).\n\n" + _STEP_PROMPTS["role"],
        )

    async def _cmd_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = _user(update)
        if await self._draft(user, steps=DRAFT_STEPS) is not None:
            await self._engine.clear_draft(user)
            await self._reply(update, "Set-up cancelled. Send /interview whenever you want to start.")
        else:
            await self._reply(update, "There's no set-up to cancel. To stop a running interview, send /end.")

    async def _cmd_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = _user(update)
        active = await self._active_session(user)
        if active is not None:
            await self._reply(update, render.status_text(active))
            return
        try:
            latest = await self._engine.latest_session(user)
        except errors.SessionNotFound:
            await self._reply(update, "You have no interviews yet. Send /interview to start one.")
            return
        await self._reply(
            update,
            "No interview running. Your last one:\n\n"
            + render.status_text(latest)
            + "\n\nSend /report for its report or /interview to start a new one.",
        )

    async def _cmd_repeat(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        session = await self._engine.get_session(_user(update))
        await self._reply(update, render.current_question_text(session))

    async def _cmd_skip(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        result = await self._engine.skip(_user(update))
        await self.send_text(message.chat_id, render.answer_text(result))
        await self._after_answer(message.chat_id, result)

    async def _cmd_end(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        report = await self._engine.end(_user(update))
        await self._reply(update, "Interview ended.\n\n" + render.report_text(report))

    async def _cmd_report(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            report = await self._engine.report(_user(update))
        except errors.SessionNotFound:
            await self._reply(update, "You have no interviews yet, so there's no report. Send /interview to start.")
            return
        await self._reply(update, render.report_text(report))

    async def _cmd_retry(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        session = await self._engine.get_session(_user(update))
        if not any(entry.get("failed") for entry in session.pending):
            await self._reply(
                update, "There's no failed voice answer to retry. " + render.current_question_text(session)
            )
            return
        status = await message.reply_text(self._transcribing_text())
        await self._transcribe_into(status, self._engine.retry(_user(update)))

    async def _cmd_language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = _user(update)
        if not context.args:
            active = await self._active_session(user)
            if active is None:
                await self._reply(
                    update,
                    f"New interviews transcribe voice answers as '{self._engine.default_language}'. Start one with "
                    "/interview, then change its language with /language <code> (e.g. /language en-us).",
                )
                return
            await self._reply(
                update,
                f"Voice answers in this interview are transcribed as '{active.language}'"
                + ("" if self._engine.voice_available(active.language) else " (no speech model installed for it)")
                + ". Change it with /language <code>, e.g. /language en-us.",
            )
            return
        if len(context.args) > 1:
            await self._reply(update, "Send one language code, e.g. /language en-us or /language ko.")
            return
        session = await self._engine.set_language(user, context.args[0])
        text = f"Done: voice answers are now transcribed as '{session.language}'."
        if not self._engine.voice_available(session.language):
            text += " There's no speech model for it installed, so please type your answers (or pick another)."
        await self._reply(update, text)

    async def _cmd_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        buttons = InlineKeyboardMarkup(
            [[InlineKeyboardButton("🗑 Yes, delete everything", callback_data="f:yes"),
              InlineKeyboardButton("Cancel", callback_data="f:no")]]
        )  # fmt: skip
        await self._reply(
            update,
            "This deletes all your interviews, answers, reports and recordings. It can't be undone. Are you sure?",
            buttons,
        )

    async def _cmd_sessions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not self._is_admin(update.effective_user.id if update.effective_user else None):
            await self._reply(update, "Sorry, /sessions is only for the bot's admins.")
            return
        which = context.args[0].lower() if context.args else "active"
        if which not in _SESSION_VIEWS or len(context.args or []) > 1:
            await self._reply(update, "Use /sessions, /sessions all or /sessions stale.")
            return
        text, markup = await self._sessions_page(which, 0)
        await self._reply(update, text, markup)

    async def _on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        name = _command_name(_message(update).text or "/")
        await self._reply(update, f"I don't know /{name}. Send /help to see what I can do.")

    async def _on_group_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, "I run interviews in private chats only: open a chat with me and send /interview.")

    async def _on_edit(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, "I use messages as first sent, so that edit didn't change anything.")

    async def _on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        kind = _kind(message)
        draft = await self._draft(_user(update))
        if draft is not None:
            hint = "Let's finish setting up first. " + _STEP_PROMPTS[draft.step]
        elif await self._active_session(_user(update)) is not None:
            hint = "To answer, send a voice note, a round video message, or type your answer."
        else:
            hint = "Send /interview to start a mock interview, or /help to see what I can do."
        await self._reply(update, f"I can't use {kind}. {hint}")

    # ----- answers -------------------------------------------------------------------------------------------

    async def _on_audio(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A voice note, audio file, audio document or round video: download it and answer with it."""
        message = _message(update)
        user = _user(update)
        draft = await self._draft(user)
        if draft is not None:
            await self._reply(update, "Let's finish setting up first. " + _STEP_PROMPTS[draft.step])
            return
        await self._engine.get_session(user)  # no interview: SessionNotFound explains, before any download
        media, mime_type, filename = _audio_of(message)
        logger.info(
            "telegram: voice answer update=%s user=%s kind=%s bytes=%s mime=%s",
            update.update_id,
            user.user_id,
            _kind(message),
            media.file_size,
            mime_type,
        )
        if media.file_size and media.file_size > self._max_download:
            await self._reply(update, _too_big(media.file_size, self._max_download, "recording"))
            return
        status = await message.reply_text(self._transcribing_text())

        async def answer() -> AnswerResult:
            data = await self._download(media.file_id)
            return await self._engine.answer_audio(user, AudioInput(data, mime_type, filename))

        await self._transcribe_into(status, answer())

    async def _transcribe_into(self, status: Message, work: Awaitable[AnswerResult]) -> None:
        """Show activity while `work` runs, then turn the "Transcribing…" message into transcript + feedback."""
        chat_id = status.chat_id
        try:
            async with self._activity(chat_id):
                result = await work
        except errors.EngineError as exc:
            await self._replace(status, render.error_message(exc))
            return
        except _DownloadFailed as exc:
            await self._replace(status, str(exc))
            return
        except Exception as exc:
            with contextlib.suppress(TelegramError):
                await self._replace(status, render.DEFAULT_ERROR)
            raise _Apologised() from exc
        await self._replace(status, render.answer_text(result))
        await self._after_answer(chat_id, result)

    def _transcribing_text(self) -> str:
        ahead = self._engine.queue_depth
        if ahead > 0:
            return f"⏳ Transcribing… ({ahead} answer{'s' if ahead != 1 else ''} ahead of yours, hang on)"
        return "⏳ Transcribing…"

    async def _download(self, file_id: str) -> bytes:
        try:
            telegram_file = await self.application.bot.get_file(file_id)
            return bytes(await telegram_file.download_as_bytearray())
        except TelegramError as exc:
            logger.warning("telegram: download of %s failed: %s", file_id, exc)
            raise _DownloadFailed("I couldn't download that file from Telegram. Please send it again.") from exc

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Typed text: the next set-up answer while the wizard runs, otherwise a typed interview answer."""
        message = _message(update)
        user = _user(update)
        draft = await self._draft(user)
        if draft is not None:
            await self._wizard_text(update, user, draft, message.text or "")
            return
        async with self._activity(message.chat_id):
            result = await self._engine.answer_text(user, message.text or "")
        await self.send_text(message.chat_id, render.answer_text(result))
        await self._after_answer(message.chat_id, result)

    async def _on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A CV or job description as .txt or .pdf during set-up; anything else gets a pointer."""
        message = _message(update)
        user = _user(update)
        document = message.document
        assert document is not None
        draft = await self._draft(user)
        if draft is None or draft.step not in ("cv", "jd"):
            if draft is not None:
                hint = "Let's finish setting up first. " + _STEP_PROMPTS[draft.step]
            else:
                hint = (
                    "I read documents only while setting up an interview (your CV or the job description). "
                    "To answer a question, send a voice note or type your answer."
                )
            await self._reply(update, hint)
            return
        name = (document.file_name or "").lower()
        is_pdf = name.endswith(".pdf") or document.mime_type == "application/pdf"
        is_text = name.endswith(".txt") or (document.mime_type or "").startswith("text/")
        if not (is_pdf or is_text):
            await self._reply(
                update, "Please send a .txt or .pdf file, or paste the text. " + _STEP_PROMPTS[draft.step]
            )
            return
        if document.file_size and document.file_size > self._max_download:
            await self._reply(update, _too_big(document.file_size, self._max_download, "file"))
            return
        try:
            data = await self._download(document.file_id)
        except _DownloadFailed as exc:
            await self._reply(update, str(exc))
            return
        text = await asyncio.to_thread(_pdf_text if is_pdf else _plain_text, data)
        if not text.strip():
            await self._reply(
                update,
                "I couldn't find any text in that file (a scanned PDF has none). Please paste the text instead.",
            )
            return
        await self._wizard_text(update, user, draft, text)

    # ----- the set-up wizard --------------------------------------------------------------------------------

    async def _wizard_text(self, update: Update, user: User, draft: _Draft, text: str) -> None:
        text = text.strip()
        step = draft.step
        if step == "round":
            choice = ROUND_ALIASES.get(text.lower(), text.lower())
            if choice not in ROUND_TYPES:
                await self._reply(update, "Please pick the round type with one of the buttons.", _round_buttons())
                return
            draft.round_type = choice
            draft.step = "cv"
            await self._save_draft(user, draft)
            await self._reply(update, _STEP_PROMPTS["cv"], _skip_button("cv"))
            return
        field = {"role": "role_title", "company": "company_name", "industry": "industry", "cv": "cv", "jd": "jd"}[step]
        limit = FIELD_LIMITS[field]
        if step in ("cv", "jd") and len(text) > limit:
            text = text[:limit]  # the rest of a long CV adds little to question planning
        elif len(text) > limit:
            await self._reply(update, f"That's too long (at most {limit} characters). Please shorten it.")
            return
        if step == "role":
            draft.role, draft.step = text, "company"
            await self._save_draft(user, draft)
            await self._reply(update, _STEP_PROMPTS["company"])
        elif step == "company":
            draft.company, draft.step = text, "industry"
            await self._save_draft(user, draft)
            await self._reply(update, _STEP_PROMPTS["industry"], _industry_button())
        elif step == "industry":
            draft.industry, draft.step = text, "round"
            await self._save_draft(user, draft)
            await self._reply(update, _STEP_PROMPTS["round"], _round_buttons())
        elif step == "cv":
            draft.cv, draft.step = text, "jd"
            await self._save_draft(user, draft)
            await self._reply(
                update, f"Got your CV ({len(text)} characters).\n\n" + _STEP_PROMPTS["jd"], _skip_button("jd")
            )
        else:
            await self._finish_wizard(_message(update).chat_id, user, draft, jd=text)

    async def _finish_wizard(self, chat_id: int, user: User, draft: _Draft, *, jd: str) -> None:
        await self._engine.clear_draft(user)  # also when the engine refuses the spec: the set-up is over
        spec = InterviewSpec(
            role_title=draft.role,
            company_name=draft.company,
            industry=draft.industry or DEFAULT_INDUSTRY,
            cv=draft.cv,
            jd=jd,
            round_type=draft.round_type,
        )
        await self._start_interview(chat_id, user, spec)

    async def _start_interview(self, chat_id: int, user: User, spec: InterviewSpec) -> None:
        try:
            started = await self._engine.start(user, spec, route={"chat_id": chat_id})
        except errors.SessionInProgress as exc:
            await self._save_draft(user, _Draft(step="confirm", touched=time.time(), spec=spec))
            await self._offer_resume(chat_id, exc.session)
            return
        await self._engine.clear_draft(user)  # a set-up abandoned for the one-line form must not eat answers
        session = started.session
        spec = session.spec
        await self.send_text(
            chat_id,
            f"✅ Your interview is ready: {spec.role_title} at {spec.company_name} ({spec.industry})\n"
            f"Round: {render.round_label(spec.round_type)} · {session.total} questions\n\n"
            "Answer each question with a voice note (a round video message or audio file works too), or type "
            "your answer. Send /repeat to see the question again, /skip to skip it, /end to finish early.",
        )
        await self.send_text(chat_id, render.question_text(started.question, 1, session.total))

    async def _offer_resume(self, chat_id: int, session: Session) -> None:
        spec = session.spec
        buttons = InlineKeyboardMarkup(
            [[InlineKeyboardButton("▶️ Resume", callback_data="s:resume"),
              InlineKeyboardButton("🔁 End it and start new", callback_data="s:new")]]
        )  # fmt: skip
        await self.send_text(
            chat_id,
            f"You already have an interview in progress: {spec.role_title} at {spec.company_name}, question "
            f"{session.position + 1} of {session.total}. Resume it, or end it and start a new one?",
            buttons,
        )

    # ----- buttons --------------------------------------------------------------------------------------------

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        data = query.data or ""
        kind, _, value = data.partition(":")
        await query.answer()
        if query.message is None or not isinstance(query.message, Message):
            return  # the message is too old for Telegram to include: nothing to edit, nothing to say
        chat_id = query.message.chat_id
        user = _tg_user(query.from_user)
        if kind == "w":
            await self._wizard_button(query, chat_id, user, value)
        elif kind == "s":
            await self._resume_button(query, chat_id, user, value)
        elif kind == "f":
            await self._forget_button(query, user, value)
        elif kind == "adm":
            await self._sessions_button(query, value)
        else:
            await self.send_text(chat_id, "That button no longer works. Send /help to see what I can do.")

    async def _wizard_button(self, query: CallbackQuery, chat_id: int, user: User, value: str) -> None:
        action, _, choice = value.partition(":")
        draft = await self._draft(user)
        expected = {"industry": "industry", "round": "round", "skip": choice}.get(action)
        if draft is None or draft.step != expected:
            await self.send_text(chat_id, "That set-up has expired (or moved on). Send /interview to start again.")
            return
        message = query.message
        assert isinstance(message, Message)
        if action == "industry":
            await self._replace(message, _chosen(message, DEFAULT_INDUSTRY))
            draft.industry, draft.step = DEFAULT_INDUSTRY, "round"
            await self._save_draft(user, draft)
            await self.send_text(chat_id, _STEP_PROMPTS["round"], _round_buttons())
        elif action == "round":
            if choice not in ROUND_TYPES:
                await self.send_text(
                    chat_id, "That round type is not offered any more; please pick again.", _round_buttons()
                )
                return
            await self._replace(message, _chosen(message, render.round_label(choice)))
            draft.round_type, draft.step = choice, "cv"
            await self._save_draft(user, draft)
            await self.send_text(chat_id, _STEP_PROMPTS["cv"], _skip_button("cv"))
        elif choice == "cv":
            await self._replace(message, _chosen(message, "Skipped"))
            draft.step = "jd"
            await self._save_draft(user, draft)
            await self.send_text(chat_id, _STEP_PROMPTS["jd"], _skip_button("jd"))
        else:
            await self._replace(message, _chosen(message, "Skipped"))
            await self._finish_wizard(chat_id, user, draft, jd="")

    async def _resume_button(self, query: CallbackQuery, chat_id: int, user: User, value: str) -> None:
        message = query.message
        assert isinstance(message, Message)
        if value == "resume":
            await self._engine.clear_draft(user)
            session = await self._engine.get_session(user)
            await self._replace(message, "▶️ Resuming your interview.")
            await self.send_text(chat_id, render.current_question_text(session))
            return
        draft = await self._draft(user, steps=("confirm",))
        try:
            report = await self._engine.end(user)
        except errors.SessionNotFound:
            await self._replace(message, "That interview had already ended.")
        else:
            await self._replace(
                message,
                f"Ended your previous interview ({report.answered} of {report.total} answered, score "
                f"{report.overall_score}/100).",
            )
        if draft is not None and draft.spec is not None:
            await self._engine.clear_draft(user)
            await self._start_interview(chat_id, user, draft.spec)
        else:
            await self._save_draft(user, _Draft(step="role", touched=time.time()))
            intro = "Let's set up the new one (send /cancel to stop).\n\n" + _STEP_PROMPTS["role"]
            await self.send_text(chat_id, intro)

    async def _forget_button(self, query: CallbackQuery, user: User, value: str) -> None:
        message = query.message
        assert isinstance(message, Message)
        if value != "yes":
            await self._replace(message, "Nothing was deleted.")
            return
        count = await self._engine.forget(user)  # the set-up draft goes too
        await self._replace(
            message, f"Done: deleted {count} interview{'s' if count != 1 else ''} and all recordings of you."
        )

    # ----- admin ----------------------------------------------------------------------------------------------

    def _is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self._config.admins

    async def _sessions_page(self, which: str, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
        rows = await self._engine.list_sessions(
            status="active" if which == "active" else None, stale_only=which == "stale"
        )
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        shown = rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        title = _SESSION_VIEWS[which]
        if which == "stale":
            title += f" (no activity for {self._engine.stale_after_hours:g}h)"
        text = render.sessions_text(shown, title=title, offset=page * PAGE_SIZE, total=len(rows))
        buttons = []
        if page > 0:
            buttons.append(InlineKeyboardButton("◀️ Previous", callback_data=f"adm:{which}:{page - 1}"))
        if page < pages - 1:
            buttons.append(InlineKeyboardButton("Next ▶️", callback_data=f"adm:{which}:{page + 1}"))
        return text, InlineKeyboardMarkup([buttons]) if buttons else None

    async def _sessions_button(self, query: CallbackQuery, value: str) -> None:
        message = query.message
        assert isinstance(message, Message)
        if not self._is_admin(query.from_user.id):
            await self.send_text(message.chat_id, "Sorry, that is only for the bot's admins.")
            return
        which, _, page = value.partition(":")
        if which not in _SESSION_VIEWS or not page.isdigit():
            await self.send_text(message.chat_id, "That button no longer works; send /sessions again.")
            return
        text, markup = await self._sessions_page(which, int(page))
        await self._replace(message, text, markup)

    # ----- helpers ----------------------------------------------------------------------------------------

    async def _reply(self, update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        chat = update.effective_chat
        assert chat is not None
        await self.send_text(chat.id, text, reply_markup)

    async def _active_session(self, user: User) -> Session | None:
        try:
            return await self._engine.get_session(user)
        except errors.SessionNotFound:
            return None

    async def _draft(self, user: User, steps: tuple[str, ...] = WIZARD_STEPS) -> _Draft | None:
        """The user's set-up in progress (or, with steps=("confirm",), a spec waiting for a button).

        Loaded afresh from the engine for each update; _UserOrder runs one user's updates one at a time, so
        nothing else changes the draft between this load and the save that follows it.
        """
        data = await self._engine.get_draft(user)
        if data is None:
            return None
        try:
            draft: _Draft | None = _Draft.from_dict(data)
        except (TypeError, ValueError):
            logger.warning("telegram: dropping an unreadable set-up draft of user %s", user.user_id, exc_info=True)
            draft = None
        if draft is None or time.time() - draft.touched > DRAFT_TTL_SECONDS:
            await self._engine.clear_draft(user)
            return None
        return draft if draft.step in steps else None

    async def _save_draft(self, user: User, draft: _Draft) -> None:
        """Keep the set-up's latest state with the engine, so a restart carries on from this step."""
        draft.touched = time.time()
        await self._engine.save_draft(user, draft.to_dict())

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one catch-all: engine refusals in friendly words, anything else logged with its traceback."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        if isinstance(error, errors.EngineError):
            logger.info("telegram update %s refused by the engine: %s", update_id, error.code)
            text = render.error_message(error)
        elif isinstance(error, _Apologised):
            logger.error("telegram update %s failed", update_id, exc_info=error.__cause__)
            return
        else:
            logger.error("telegram update %s failed", update_id, exc_info=error)
            text = render.DEFAULT_ERROR
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None:
            try:
                await self.send_text(chat.id, text)
            except TelegramError:
                logger.warning("could not tell chat %s about the error", chat.id, exc_info=True)


class _DownloadFailed(Exception):
    """Telegram would not hand us the file; the message says so in user words."""


_STEP_PROMPTS = {
    "role": "Step 1 of 6: What role are you interviewing for? (e.g. Senior Backend Engineer)",
    "company": "Step 2 of 6: Which company? (e.g. TechCorp)",
    "industry": f"Step 3 of 6: Which industry is it in? Type it, or tap {DEFAULT_INDUSTRY}.",
    "round": "Step 4 of 6: Which kind of round do you want to practise?",
    "cv": "Step 5 of 6 (optional): your CV. Paste it, or send it as a .txt or .pdf file; it lets me ask about "
    "your experience. Or tap Skip.",
    "jd": "Step 6 of 6 (optional): the job description. Paste it, or send it as a .txt or .pdf file. Or tap Skip.",
}
_SESSION_VIEWS = {"active": "Active interviews", "all": "All interviews", "stale": "Stale interviews"}


def _user(update: Update) -> User:
    assert update.effective_user is not None
    return _tg_user(update.effective_user)


def _tg_user(account: Any) -> User:
    return User(PLATFORM, str(account.id), account.full_name or "")


def _message(update: Update) -> Message:
    assert update.effective_message is not None
    return update.effective_message


def _chosen(prompt: Message, choice: str) -> str:
    """A wizard prompt with its buttons gone and the choice shown, so the chat reads as a record."""
    return f"{prompt.text or ''}\n\n✓ {choice}".strip()


def _round_buttons() -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(render.round_label(r), callback_data=f"w:round:{r}") for r in ROUND_TYPES]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def _industry_button() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(DEFAULT_INDUSTRY, callback_data="w:industry:general")]])


def _skip_button(step: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Skip ⏭", callback_data=f"w:skip:{step}")]])


def _parse_one_line(text: str) -> InterviewSpec | None:
    """`Senior Backend Engineer at TechCorp (Technology) technical`: industry and round type optional."""
    match = ONE_LINE.match(" ".join(text.split()))
    if match is None:
        return None
    company = match["company"].strip()
    round_word = (match["round"] or "").lower()
    round_type = ROUND_ALIASES.get(round_word, round_word)
    if round_word and round_type not in ROUND_TYPES:
        if match["industry"] is not None:
            return None  # a word after the brackets that is not a round type: say how the form goes
        company, round_type = f"{company} {match['round']}", ""
    industry = (match["industry"] or "").strip() or DEFAULT_INDUSTRY
    return InterviewSpec(
        role_title=match["role"].strip(),
        company_name=company,
        industry=industry,
        round_type=round_type or "full",
    )


def _audio_of(message: Message) -> tuple[Voice | Audio | VideoNote | Document, str, str]:
    """The downloadable part of an audio-bearing message, with the mime type and a filename for the engine."""
    if message.voice is not None:
        return message.voice, message.voice.mime_type or "audio/ogg", "voice.ogg"
    if message.audio is not None:
        return message.audio, message.audio.mime_type or "audio/mpeg", message.audio.file_name or "audio"
    if message.video_note is not None:
        return message.video_note, "video/mp4", "video_note.mp4"  # the engine uses its sound track
    assert message.document is not None
    document = message.document
    return document, document.mime_type or "", document.file_name or "audio"


def _kind(message: Message) -> str:
    """What the user sent, in words, for "I can't use …"."""
    kinds = (
        ("sticker", "stickers"), ("photo", "photos"), ("animation", "GIFs"), ("video", "videos"),
        ("location", "locations"), ("contact", "contacts"), ("poll", "polls"), ("dice", "dice"),
    )  # fmt: skip
    for attribute, words in kinds:
        if getattr(message, attribute, None):
            return words
    return "that kind of message"


def _too_big(size: int, limit: int, what: str) -> str:
    return (
        f"That {what} is {size / 1024 / 1024:.1f} MB; I can only take files up to "
        f"{limit / 1024 / 1024:.0f} MB. Please send a shorter one."
    )


def _plain_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\x00", "")


def _pdf_text(data: bytes) -> str:
    """Text of a PDF (runs in a worker thread; pypdf is pure Python and slow on big files)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):  # damaged, encrypted or odd files
        logger.info("telegram: unreadable PDF (%d bytes)", len(data), exc_info=True)
        return ""


def _webhook_url(configured: str) -> str:
    """The configured URL, with our route's path added when it names only the host."""
    if urlsplit(configured).path in ("", "/"):
        return configured.rstrip("/") + WEBHOOK_PATH
    return configured
