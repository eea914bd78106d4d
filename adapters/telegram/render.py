"""Showing the chat layer's replies in Telegram: plain text split to fit, inline keyboards, edits, "typing…", and
files (a spoken question as a voice note, a chart as a photo)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, Forbidden, TelegramError

from adapters.chat import PRIVATE_REPORT_START, Attachment, Edit, Kind, Link, Option, Reply, ShownAnswers, split_message
from adapters.telegram.parse import PLATFORM, Pressed

logger = logging.getLogger(__name__)

MAX_MESSAGE = MessageLimit.MAX_TEXT_LENGTH  # 4096
MAX_CAPTION = MessageLimit.CAPTION_LENGTH  # 1024
BUTTONS_PER_ROW = 2
TYPING_AFTER = 0.5  # seconds of work before "typing…" shows; a "transcribing…" placeholder shows it at once
TYPING_REFRESH = 4.5  # Telegram shows a chat action for about 5 s
OPEN_PRIVATE_CHAT = "📬 Open a chat with me"


def keyboard(options: Sequence[Option], link: Link | None = None) -> InlineKeyboardMarkup | None:
    """The options as inline buttons, two to a row; each button sends its action back as callback data. A link (the
    report's web page) is a URL button on a row of its own: Telegram opens it without a round trip to the bot."""
    if not options and link is None:
        return None
    buttons = [InlineKeyboardButton(option.label, callback_data=option.action) for option in options]
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    if link is not None:
        rows.append([InlineKeyboardButton(link.label, url=link.url)])
    return InlineKeyboardMarkup(rows)


def chat_of(route: Mapping[str, Any] | None, default: int) -> int:
    """The chat a route names ({"chat_id": ...}), else `default` (a private chat's id is its user's id)."""
    chat_id = (route or {}).get("chat_id")
    return int(chat_id) if chat_id is not None else default


def _optional_int(route: Mapping[str, Any] | None, key: str) -> int | None:
    value = (route or {}).get(key)
    return int(value) if value is not None else None


def deep_link(bot: Bot, start: str) -> str | None:
    """A t.me link that opens a private chat with the bot and sends /start `start` on the person's tap."""
    try:
        return f"{bot.link}?start={start}"
    except RuntimeError:  # not initialised (no getMe yet): no username to link to
        return None


class Renderer:
    """Shows one event's replies in its chat; make one per event, as it keeps that event's placeholder.

    A private interview happens in one chat, so a reply's `to` and "where the user spoke" are the same chat, and
    pointer replies ("it's in our interview thread") are never shown. A team interview's route also names the
    forum topic it runs in and its invitation, which its messages reply under.
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        message_id: int | None = None,
        pressed: Pressed | None = None,
        answers: ShownAnswers[tuple[int, int]] | None = None,
        topic: int | None = None,
    ) -> None:
        self._bot = bot
        self.chat_id = chat_id
        self.topic = topic  # the forum topic the event came from: replies to the person stay in it
        self._answers = answers  # the bot's record of which message showed which answer (chat id, message id)
        self._message_id = message_id  # the user's message, which the placeholder replies to
        self._pressed = pressed
        self._placeholder: Message | None = None
        self._busy = asyncio.Event()
        self.query: CallbackQuery | None = None  # a group's button press: an ephemeral reply is an alert on it
        self.answered = False  # the press has had its answer (an alert)

    async def show(self, reply: Reply) -> None:
        if reply.pointer:
            return
        if reply.ephemeral and self.query is not None and not self.answered:
            await self._alert(self.query, reply.text)
            return
        markup = keyboard(reply.options, reply.link)
        if reply.dm_to:  # one person's private copy (a team interview's full report): their private chat with us
            await self._send_privately(reply, markup)
            return
        chat_id = chat_of(reply.to, self.chat_id)
        under = _optional_int(reply.to, "reply_to")  # a team interview's invitation
        topic = _optional_int(reply.to, "topic")  # and the forum topic it runs in
        if reply.ephemeral:  # in a group without a button to alert on: a reply to the person's own message
            await self.send(reply.text, chat_id=self.chat_id, reply_to=self._message_id)
            return
        if reply.kind is Kind.FILE and reply.attachment is not None:
            await self._send_file(chat_id, reply.attachment, reply.text, reply_to=under, topic=topic)
        elif reply.kind is Kind.PROGRESS:
            sent = await self.send(reply.text, markup, chat_id=chat_id, reply_to=self._message_id)
            self._placeholder = sent[0]
            self._busy.set()  # slow work follows: "typing…" from now on
        elif reply.edit is Edit.PROGRESS and self._placeholder is not None:
            placeholder, self._placeholder = self._placeholder, None
            self._remember(reply, placeholder.chat_id, placeholder.message_id)
            await self._replace(placeholder.chat_id, placeholder.message_id, reply.text, markup)
        elif reply.edit is Edit.ANSWER and (shown := self._shown(reply) or self._pressed_answer()) is not None:
            await self._replace(shown[0], shown[1], reply.text, markup)
        elif reply.edit is Edit.PRESSED and self._pressed is not None:
            await self._replace(self.chat_id, self._pressed.message_id, reply.text, markup)
        elif reply.edit is Edit.CHOSEN and self._pressed is not None:
            # The prompt keeps its words and loses its buttons, so the chat reads as a record of the choice.
            text = f"{self._pressed.text}\n\n{reply.text}".strip()
            await self._replace(self.chat_id, self._pressed.message_id, text, None)
        else:
            sent = await self.send(reply.text, markup, chat_id=chat_id, reply_to=under, topic=topic)
            self._remember(reply, sent[0].chat_id, sent[0].message_id)

    async def _send_privately(self, reply: Reply, markup: InlineKeyboardMarkup | None) -> None:
        """A private copy; where Telegram refuses it (the person never opened a chat with the bot), the space is told,
        with a button that opens that chat and sends /start with the reply's `undelivered` start word."""
        try:
            await self.send(reply.text, markup, chat_id=int(reply.dm_to))
            return
        except TelegramError as exc:
            logger.warning("could not send a private reply platform=%s user=%s: %s", PLATFORM, reply.dm_to, exc)
            if not isinstance(exc, Forbidden) or not reply.undelivered:
                return
        url = deep_link(self._bot, PRIVATE_REPORT_START)
        opener = InlineKeyboardMarkup([[InlineKeyboardButton(OPEN_PRIVATE_CHAT, url=url)]]) if url else None
        chat_id = chat_of(reply.to, self.chat_id)
        under, topic = _optional_int(reply.to, "reply_to"), _optional_int(reply.to, "topic")
        await self.send(reply.undelivered, opener, chat_id=chat_id, reply_to=under, topic=topic)

    async def _send_file(
        self, chat_id: int, attachment: Attachment, text: str, *, reply_to: int | None, topic: int | None
    ) -> None:
        """A voice note (OGG/Opus, with its length) or a photo, with the text as its caption; a caption past Telegram's
        limit follows as messages of its own, never cut. A file Telegram refuses is logged and left out (with its
        caption, which only names it): the interview goes on in text."""
        caption = text if len(text) <= MAX_CAPTION else ""
        placed: dict[str, Any] = {
            "message_thread_id": topic if topic is not None else self._topic_in(chat_id),
            "reply_parameters": _replying(reply_to),
        }
        try:
            if attachment.kind == "voice":
                duration = max(1, round(attachment.duration_seconds))
                await self._bot.send_voice(
                    chat_id, voice=attachment.data, duration=duration, caption=caption or None,
                    filename=attachment.filename, **placed,
                )  # fmt: skip
            elif attachment.kind == "image":
                await self._bot.send_photo(
                    chat_id, photo=attachment.data, caption=caption or None, filename=attachment.filename, **placed
                )
            else:
                logger.warning("file of kind %r not sent platform=%s chat=%s", attachment.kind, PLATFORM, chat_id)
                return
        except TelegramError as exc:
            logger.warning("could not send a %s file platform=%s chat=%s: %s", attachment.kind, PLATFORM, chat_id, exc)
            return
        if text and not caption:
            await self.send(text, chat_id=chat_id, reply_to=reply_to, topic=topic)

    async def _alert(self, query: CallbackQuery, text: str) -> None:
        self.answered = True
        try:
            await query.answer(text[:200], show_alert=True)  # Telegram shows at most 200 characters
        except TelegramError as exc:
            logger.info("could not answer a button press platform=%s: %s", PLATFORM, exc)

    def _pressed_answer(self) -> tuple[int, int] | None:
        """A rating pressed under an answer: that message shows the answer, even after a restart."""
        return (self.chat_id, self._pressed.message_id) if self._pressed is not None and self.query else None

    def _shown(self, reply: Reply) -> tuple[int, int] | None:
        return self._answers.find(reply) if self._answers is not None else None

    def _remember(self, reply: Reply, chat_id: int, message_id: int) -> None:
        if self._answers is not None:
            self._answers.remember(reply, (chat_id, message_id))

    async def send(
        self,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        chat_id: int | None = None,
        reply_to: int | None = None,
        topic: int | None = None,
    ) -> list[Message]:
        """Plain text (no parse mode: nothing a user typed becomes markup), split to fit, buttons on the last piece;
        in the event's forum topic unless `topic` names another."""
        chat_id = chat_id or self.chat_id
        return await self._send_pieces(chat_id, _pieces(text), markup, reply_to=reply_to, topic=topic)

    def _topic_in(self, chat_id: int) -> int | None:
        return self.topic if chat_id == self.chat_id else None

    @contextlib.asynccontextmanager
    async def working(self) -> AsyncIterator[None]:
        """Show "typing…" while this event's work runs: once it takes a moment, or at once from a placeholder."""
        task = asyncio.create_task(self._keep_typing())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_typing(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._busy.wait(), TYPING_AFTER)
        while True:
            with contextlib.suppress(TelegramError):
                await self._bot.send_chat_action(self.chat_id, ChatAction.TYPING, message_thread_id=self.topic)
            await asyncio.sleep(TYPING_REFRESH)

    async def _replace(self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
        """Edit a message in place; what does not fit follows as new messages, the buttons under the last."""
        pieces = _pieces(text)
        try:
            await self._bot.edit_message_text(
                pieces[0], chat_id=chat_id, message_id=message_id, reply_markup=markup if len(pieces) == 1 else None
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                # Deleted, or too old to edit: the reply still has to reach the user.
                logger.warning(
                    "could not edit a message, sending it anew platform=%s chat=%s message=%s: %s",
                    PLATFORM, chat_id, message_id, exc,
                )  # fmt: skip
                await self._send_pieces(chat_id, pieces, markup)
                return
        await self._send_pieces(chat_id, pieces[1:], markup)

    async def _send_pieces(
        self,
        chat_id: int,
        pieces: list[str],
        markup: InlineKeyboardMarkup | None,
        *,
        reply_to: int | None = None,
        topic: int | None = None,
    ) -> list[Message]:
        sent = []
        thread = topic if topic is not None else self._topic_in(chat_id)
        for number, piece in enumerate(pieces, start=1):
            last = number == len(pieces)
            message = await self._bot.send_message(
                chat_id, piece, reply_markup=markup if last else None, message_thread_id=thread,
                reply_parameters=_replying(reply_to) if number == 1 else None,
            )  # fmt: skip
            sent.append(message)
        return sent


def _replying(message_id: int | None) -> ReplyParameters | None:
    """A reply to `message_id`, sent all the same if that message was deleted meanwhile."""
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None


def _pieces(text: str) -> list[str]:
    return split_message(text, MAX_MESSAGE) or ["…"]
