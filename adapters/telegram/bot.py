"""The Telegram adapter: lifecycle, the webhook route, PTB handlers, the durable inbox and the error catch-all."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urlsplit

from aiohttp import web
from telegram import BotCommand, BotCommandScopeAllGroupChats, CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationBuilder, ContextTypes, TypeHandler

from adapters.chat import (
    MAX_QUEUED_VOICE,
    SORRY,
    Chat,
    Choice,
    Command,
    Document,
    DownloadFailed,
    Reply,
    ReportLink,
    ShownAnswers,
    Space,
    Surface,
    Voice,
)
from adapters.chat.replies import saving_to
from adapters.telegram.config import TelegramConfig
from adapters.telegram.ordering import Turn, UserOrder
from adapters.telegram.parse import PLATFORM, Incoming, Refusal, translate
from adapters.telegram.render import Renderer, keyboard
from engine import InterviewEngine, Lease, Recovered, Regraded, SessionView

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The cloud Bot API serves bots no file larger than this; a self-hosted Bot API server has no such limit.
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CLOUD_API_HOST = "api.telegram.org"
MAX_CONCURRENT_UPDATES = 64  # updates being worked on at once; those waiting for their user's turn don't count
INBOX_RETRY_SECONDS = 1.0  # how soon polling tries again to keep an update the store refused (a full disk)
# The command menu Telegram shows beside the text box.
COMMANDS = (
    ("interview", "Start a mock interview"),
    ("status", "Where your interview stands"),
    ("repeat", "Show the current question again"),
    ("skip", "Skip the current question"),
    ("retake", "Answer a question again and compare"),
    ("fix", "Correct what I heard in your last answer"),
    ("end", "End the interview and get the report"),
    ("report", "Report of your latest interview"),
    ("progress", "Your interviews over time"),
    ("retry", "Transcribe a failed voice answer again"),
    ("language", "Language of your voice answers"),
    ("voice", "Questions as voice notes: on or off"),
    ("forget", "Delete all your data"),
    ("help", "How this works"),
)
# The menu in groups, where team interviews run: only what works there.
GROUP_COMMANDS = (
    ("interview", "Start a team interview (as a reply: for that member)"),
    ("ask", "Interviewer: ask your own question"),
    ("skip", "Skip the current question"),
    ("repeat", "Show the current question again"),
    ("retry", "Candidate: transcribe a failed voice answer again"),
    ("end", "End the interview and get the report"),
    ("help", "How team interviews work"),
)


def surface(config: TelegramConfig) -> Surface:
    """Telegram as the chat layer sees it: /commands, voice notes, one private chat, no forms or threads."""
    cloud = urlsplit(config.api_base_url).hostname == CLOUD_API_HOST
    return Surface(
        platform=PLATFORM,
        cmd=lambda name: f"/{name}",
        voice="voice note",
        where="this chat",
        admins=frozenset(str(admin) for admin in config.admins),
        max_file_bytes=CLOUD_DOWNLOAD_LIMIT if cloud else None,
        audio_format="ogg",  # sendVoice plays OGG/Opus as a voice note
    )


class InboxQueue(asyncio.Queue[object]):
    """PTB's update queue: an update goes in only once the durable inbox has it, and a redelivery not at all.

    PTB's poller puts each fetched update here and confirms it to Telegram on its next getUpdates, so keeping it
    in `put` means no update is confirmed before it is saved. While the store refuses (a full disk), polling waits
    here: nothing is confirmed, and Telegram keeps the updates.
    """

    def __init__(self, keep: Callable[[Update], Awaitable[bool]]) -> None:
        super().__init__()
        self._keep = keep

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            while True:
                try:
                    if not await self._keep(item):
                        return  # a redelivery: handled, or in the inbox and being (or about to be) handled
                    break
                except Exception:
                    logger.exception(
                        "could not keep update %s; trying again platform=%s", item.update_id, PLATFORM
                    )  # fmt: skip
                    await asyncio.sleep(INBOX_RETRY_SECONDS)
        await super().put(item)

    async def put_kept(self, update: Update) -> None:
        """An update the inbox holds already (the webhook kept it, or it is run again after a restart)."""
        await super().put(update)


def webhook_url(configured: str) -> str:
    """The configured URL, with our route's path added when it names only the host."""
    if urlsplit(configured).path in ("", "/"):
        return configured.rstrip("/") + WEBHOOK_PATH
    return configured


class TelegramAdapter:
    """Runs the bot on our event loop: long polling by default, or updates POSTed to our aiohttp server.

    Every update goes the same way: parse.py turns it into a user and an event, the chat layer (`self.chat`)
    runs the conversation, and render.py shows each reply. Nothing about the interview lives here.
    """

    def __init__(
        self,
        engine: InterviewEngine,
        config: TelegramConfig,
        *,
        clock: Callable[[], float] = time.time,
        report_link: ReportLink | None = None,
        poll_lease: Lease | None = None,
    ) -> None:
        self._config = config
        # Several processes on one Redis: only the holder of this lease polls (Telegram allows one getUpdates
        # client per bot); the others stand by and take over when it dies.
        self._poll_lease = None if config.mode == "webhook" else poll_lease
        self._leading = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._webhook = config.mode == "webhook"
        # Telegram echoes this secret in a header on every webhook POST; without a configured one we make our
        # own, since we register the webhook ourselves.
        self._secret = config.webhook_secret or secrets.token_urlsafe(32)
        self._taking_updates = False
        self.chat = Chat(engine, surface(config), clock=clock, report_link=report_link)
        engine.add_graded_listener(self.deliver_regraded)
        self._order = UserOrder(MAX_CONCURRENT_UPDATES, self._turn, max_voice=MAX_QUEUED_VOICE, finished=self._handled)
        self._answers: ShownAnswers[tuple[int, int]] = ShownAnswers()  # where each answer's feedback was shown
        self._queue = InboxQueue(self._keep)
        builder = (
            ApplicationBuilder()
            .token(config.token)
            .base_url(config.api_base_url)
            .base_file_url(config.file_base_url)
            .update_queue(self._queue)
            .concurrent_updates(self._order)
        )
        if self._webhook:
            builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)

    # ----- lifecycle ----------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The webhook route in webhook mode; nothing in polling mode."""
        return [web.post(WEBHOOK_PATH, self._webhook_update)] if self._webhook else []

    async def open(self) -> None:
        """Initialise PTB and set the command menu: able to send, taking in no updates yet."""
        app = self.application
        await app.initialize()
        try:
            groups = BotCommandScopeAllGroupChats()
            await app.bot.set_my_commands([BotCommand(name, text) for name, text in GROUP_COMMANDS], scope=groups)
            await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        except TelegramError as exc:
            logger.warning("could not set the command menu platform=%s: %s", PLATFORM, exc)
        await app.start()

    async def resume_inbox(self, *, orphans_only: bool = False) -> None:
        """Run again the updates received before the last stop but never handled (after recovery, before start()).

        They go through the same per-user order as new ones, ahead of anything fetched after start(). Under a
        polling lease only the poller does this, once it holds the lease: only it takes Telegram updates in.
        """
        if self._poll_lease is not None and not self._leading.is_set():
            return
        pending = await self.chat.unhandled(orphans_only=orphans_only)
        for delivery_id, payload in pending:
            try:
                update = Update.de_json(payload, self.application.bot)
            except Exception:
                logger.exception("inbox update %s is unreadable; dropping it platform=%s", delivery_id, PLATFORM)
                await self.chat.handled(delivery_id)
                continue
            logger.info("resuming update %s from the inbox platform=%s", delivery_id, PLATFORM)
            await self._queue.put_kept(update)

    async def start(self) -> None:
        """Begin taking in updates: poll for them, or register the webhook and accept its POSTs."""
        app = self.application
        self._taking_updates = True
        if self._webhook:
            url = webhook_url(self._config.webhook_url)
            await app.bot.set_webhook(url=url, secret_token=self._secret, allowed_updates=Update.ALL_TYPES)
            logger.info("webhook set platform=%s url=%s", PLATFORM, url)
        elif self._poll_lease is not None:
            self._poller = asyncio.create_task(self._poll_while_leading(self._poll_lease), name="telegram poller")
        else:
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
            logger.info("polling for updates platform=%s", PLATFORM)

    async def _poll_while_leading(self, lease: Lease) -> None:
        """Stand by until the polling lease is free, then resume the inbox a dead poller left and poll while the lease
        is renewed; give polling up at once if the lease is lost."""
        updater = self.application.updater
        assert updater is not None
        every = lease.seconds / 3
        while self._taking_updates:
            try:
                if not await lease.acquire():
                    await asyncio.sleep(every)
                    continue
                logger.info("polling lease taken: this process polls platform=%s", PLATFORM)
                self._leading.set()
                await self.resume_inbox()
                await updater.start_polling(allowed_updates=Update.ALL_TYPES)
                while self._taking_updates and await lease.renew():
                    await asyncio.sleep(every)
                if self._taking_updates:
                    logger.error("polling lease lost: another process polls now platform=%s", PLATFORM)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away for a moment: stand by and try again
                logger.warning("polling lease check failed platform=%s", PLATFORM, exc_info=True)
                await asyncio.sleep(every)
            if updater.running:
                await updater.stop()
            self._leading.clear()

    async def stop(self) -> None:
        """Stop fetching, let running handlers finish, close connections."""
        self._taking_updates = False
        app = self.application
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if self._poll_lease is not None:
            if self._leading.is_set():
                await self._poll_lease.release()
                self._leading.clear()
            await self._poll_lease.close()
        if app.running:
            await app.stop()
        await app.shutdown()

    async def deliver_regraded(self, item: Regraded) -> None:
        """The model's feedback on an answer of a Telegram user, edited into the message that showed the answer."""
        session = item.session
        if session.platform != PLATFORM:
            return
        try:
            renderer = self._renderer_for(session)
            async for reply in self.chat.regraded(item):
                await renderer.show(reply)
        except Exception:  # the rule feedback already reached the user: log, never raise
            logger.warning("could not send the model's feedback platform=%s user=%s", PLATFORM, session.user_id)

    async def deliver_recovered(self, item: Recovered) -> None:
        """The replies owed for a voice answer a restart interrupted, which the engine has now finished."""
        session = item.session
        renderer = self._renderer_for(session)
        async for reply in self.chat.recovered(item):
            await renderer.show(reply)
        logger.info(
            "recovered answer delivered platform=%s user=%s session=%s", PLATFORM, session.user_id, session.session_id
        )

    def _renderer_for(self, session: SessionView) -> Renderer:
        """A renderer for replies owed outside any update: in the session's chat (a group's, from its route; a private
        chat's id is its user's) and forum topic."""
        route = session.route
        chat_id = int(route["chat_id"]) if route.get("chat_id") is not None else int(session.user_id)
        return Renderer(self.application.bot, chat_id, answers=self._answers, topic=route.get("topic"))

    async def _webhook_update(self, request: web.Request) -> web.Response:
        """Check Telegram's secret header, queue the update, answer 200 at once (processing happens after)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            logger.warning("webhook refused: wrong or missing secret platform=%s remote=%s", PLATFORM, request.remote)
            return web.Response(status=403, text="forbidden")
        if not (self._taking_updates and self.application.running):
            return web.Response(status=503, text="not ready")  # Telegram delivers it again later
        try:
            update = Update.de_json(await request.json(), self.application.bot)
        except Exception:
            logger.warning("webhook body is not an update platform=%s", PLATFORM, exc_info=True)
            return web.Response(status=400, text="bad update")
        try:
            kept = await self._keep(update)
        except Exception:
            logger.exception("could not keep update %s platform=%s", update.update_id, PLATFORM)
            return web.Response(status=503, text="not saved")  # Telegram delivers it again later
        if kept:
            await self._queue.put_kept(update)
        return web.Response(text="ok")  # only once the inbox holds it

    # ----- updates ----------------------------------------------------------------------------------------------

    def _turn(self, update: object) -> Turn:
        """One user's updates wait for each other; read-only ones and everything not a user's don't wait."""
        if not isinstance(update, Update):
            return Turn(None)
        incoming = translate(update, self._download)
        if incoming is None or isinstance(incoming.event, Refusal):
            return Turn(None)
        if incoming.space is not None:  # a group's team interview: its events one at a time, in order
            return Turn(incoming.space.key, voice=isinstance(incoming.event, Voice))
        if self.chat.reads_only(incoming.event):
            return Turn(None)
        return Turn(incoming.user.user_id, voice=isinstance(incoming.event, Voice))

    async def _keep(self, update: Update) -> bool:
        """Into the durable inbox before Telegram learns it arrived; False for a redelivery (retries, restarts), and for
        a group's chatter while no interview runs there (privacy mode off: every message), which is not for us."""
        if await self._chatter(update):
            return False
        if await self.chat.received(str(update.update_id), update.to_dict()):
            return True
        user = update.effective_user.id if update.effective_user else None
        logger.info(
            "update %s already handled; ignoring the redelivery platform=%s user=%s",
            update.update_id, PLATFORM, user,
        )  # fmt: skip
        return False

    async def _chatter(self, update: Update) -> bool:
        incoming = translate(update, self._download)
        if incoming is None or incoming.space is None or isinstance(incoming.event, Command | Choice | Refusal):
            return False
        return not await self.chat.team.listening(incoming.space)

    async def _handled(self, update: object) -> None:
        """PTB is done with the update (replies shown, or the error handler apologised): it leaves the inbox."""
        if not isinstance(update, Update):
            return
        try:
            await self.chat.handled(str(update.update_id))
        except Exception:
            # It stays in the inbox and runs again after a restart, where the engine knows its answer if recorded.
            logger.exception("could not mark update %s handled platform=%s", update.update_id, PLATFORM)

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Translate, run it through the chat layer, show each reply as it comes."""
        incoming = translate(update, self._download)
        if incoming is None:
            return
        user, event = incoming.user, incoming.event
        renderer = Renderer(
            self.application.bot,
            incoming.chat_id,
            message_id=incoming.message_id,
            pressed=incoming.pressed,
            answers=self._answers,
            topic=incoming.space.route.get("topic") if incoming.space is not None else None,
        )
        if event is Refusal.MOVED:
            assert incoming.space is not None and incoming.moved_to is not None
            async for reply in self.chat.team.moved(incoming.space, incoming.moved_to):
                await renderer.show(reply)
            return
        if isinstance(event, Refusal):
            await renderer.send(self._refusal(event))
            return
        if self._order.overflowed(update):
            logger.info(
                "voice answer refused: too many waiting platform=%s user=%s update=%s",
                PLATFORM, user.user_id, update.update_id,
            )  # fmt: skip
            await renderer.send(self.chat.words.too_many_waiting(MAX_QUEUED_VOICE))
            return
        details = ""
        if isinstance(event, Voice | Document):
            details = f" bytes={event.file.size} mime={event.file.mime_type}"
        logger.info(
            "update platform=%s user=%s update=%s event=%s%s",
            PLATFORM, user.user_id, update.update_id, type(event).__name__, details,
        )  # fmt: skip
        if incoming.space is not None:
            await self._in_group(update, incoming, renderer)
            return
        if update.callback_query is not None:
            await self._acknowledge(update.callback_query, user.user_id)
        async with renderer.working():
            replies = self.chat.handle(user, event, {"chat_id": incoming.chat_id}, delivery_id=str(update.update_id))
            async for reply in replies:
                await renderer.show(reply)

    def _refusal(self, refusal: Refusal) -> str:
        words = self.chat.words
        if refusal is Refusal.ADDED:
            return self.chat.team.words.hello_group()
        return words.private_only() if refusal is Refusal.GROUP_CHAT else words.edits_ignored()

    async def _in_group(self, update: Update, incoming: Incoming, renderer: Renderer) -> None:
        """A team interview's event in a group: /interview starts one (for the member whose message it replies to,
        else for the sender); anything else goes to the group's interview. A button's refusal is an alert on it."""
        assert incoming.space is not None and not isinstance(incoming.event, Refusal)
        user, event, space = incoming.user, incoming.event, incoming.space
        query = update.callback_query
        renderer.query = query
        if isinstance(event, Command) and self.chat.command_name(event) == "interview":

            async def open_space(invite: Reply) -> Space:
                """Post the invitation; the interview's messages reply under it."""
                sent = await renderer.send(invite.text, keyboard(invite.options))
                return replace(space, route={**space.route, "reply_to": sent[0].message_id})

            replies = self.chat.team.start(user, incoming.candidate, event.args, open_space, known=space)
        else:
            replies = self.chat.team.handle(user, space, event, delivery_id=str(update.update_id))
        async with renderer.working():
            async for reply in replies:
                await renderer.show(reply)
        if query is not None and not renderer.answered:
            await self._acknowledge(query, user.user_id)

    async def _acknowledge(self, query: CallbackQuery, user_id: str) -> None:
        """Stop the button's spinner; a press from before a restart may be too old to answer, and still counts."""
        try:
            await query.answer()
        except TelegramError as exc:
            logger.info("could not answer a button press platform=%s user=%s: %s", PLATFORM, user_id, exc)

    async def _download(self, file_id: str) -> bytes:
        """The file's bytes; or, while a voice answer is being saved (saving_to()), the file written there and b""."""
        try:
            telegram_file = await self.application.bot.get_file(file_id)
            into = saving_to()
            if into is None:
                return bytes(await telegram_file.download_as_bytearray())
            # PTB reads a download whole (at most 20 MB from the cloud Bot API, and the engine bounds how many run
            # at once); it is written to the recording's file at once, off the event loop, and not kept.
            received = io.BytesIO()
            await telegram_file.download_to_memory(received)
            with received, received.getbuffer() as view:
                await into.write(view)
            return b""
        except TelegramError as exc:
            raise DownloadFailed(f"file_id {file_id}: {exc}") from exc

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one catch-all (the chat layer words its own failures): log the traceback, apologise if we can."""
        if not isinstance(update, Update):
            logger.error("telegram error platform=%s", PLATFORM, exc_info=context.error)
            return
        user = update.effective_user.id if update.effective_user else None
        logger.error(
            "update failed platform=%s user=%s update=%s", PLATFORM, user, update.update_id, exc_info=context.error
        )
        chat = update.effective_chat
        if chat is None:
            return
        try:
            await self.application.bot.send_message(chat.id, SORRY)
        except TelegramError:
            logger.warning("could not apologise platform=%s user=%s update=%s", PLATFORM, user, update.update_id)
