"""Where each chat Reply goes on Slack (response_url, a DM thread, a modal, a file in the thread) and the Web API
calls that put it there."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat import (
    SORRY,
    START_FORM,
    Attachment,
    Chat,
    Edit,
    Kind,
    PlaceUnavailable,
    Reply,
    SetupForm,
    ShownAnswers,
)
from adapters.slack import blocks
from adapters.slack.blocks import Block
from engine import User

logger = logging.getLogger(__name__)

# What a Web API call or a response_url POST can fail with; each is logged and the reply dropped.
SEND_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)


def slack_error(exc: BaseException) -> str:
    """Slack's own error code for a refused call (never the request, which carries the token)."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data
        # A body that is not Slack's JSON (a proxy's error page) has no code: its HTTP status stands in.
        return str(data.get("error")) if isinstance(data, dict) else f"http_{exc.response.status_code}"
    return type(exc).__name__


class DirectMessage:
    """The user's DM with the bot: the place a new interview lives, opened (conversations.open) when first needed."""

    def __init__(self, client: AsyncWebClient, user: User) -> None:
        self._client = client
        self._user = user
        self._channel = ""

    async def __call__(self) -> dict[str, str]:
        if not self._channel:
            try:
                response = await self._client.conversations_open(users=self._user.user_id)
            except SEND_ERRORS as exc:
                logger.warning(
                    "slack conversations.open failed platform=slack user=%s error=%s",
                    self._user.user_id,
                    slack_error(exc),
                )
                raise PlaceUnavailable(slack_error(exc)) from exc
            self._channel = str(response["channel"]["id"])
        return {"channel": self._channel}


@dataclass(frozen=True)
class Origin:
    """Where the user spoke, which decides where a reply without a destination (`Reply.to is None`) goes."""

    respond: AsyncRespond | None = None  # a slash command or button press: its response_url (ephemeral)
    trigger_id: str = ""  # a command or button may open a modal with it (for 3 seconds)
    pressed: str | None = None  # a button press: the pressed message's text ("" if Slack left it out)
    channel: str = ""  # a DM message: its conversation (a team start: the channel it starts in)...
    thread_ts: str | None = None  # ...and thread (None: the top level)
    dm: DirectMessage | None = None  # a modal submission: the user's DM
    place: str = ""  # `/interview` alone in a channel: the channel's name ("#backend") for the team interview modal
    # A team interview: the message (channel, ts) whose button was pressed or whose Rate button opened the modal;
    # edits of it (Edit.CHOSEN, an answer's new rating count) go there with chat.update, for everyone to see.
    message: tuple[str, str] | None = None


class Sender:
    """Renders the replies to one event, in order; it remembers that event's "transcribing…" placeholder."""

    def __init__(
        self,
        client: AsyncWebClient,
        chat: Chat,
        user: User,
        origin: Origin,
        answers: ShownAnswers[tuple[str, str]] | None = None,
    ) -> None:
        self._client = client
        self._chat = chat
        self._user = user
        self._origin = origin
        self._answers = answers  # the app's record of which message showed which answer (channel, ts)
        self._placeholder: tuple[str, str] | None = None  # (channel, ts) of this event's PROGRESS message

    async def send(self, reply: Reply) -> None:
        origin = self._origin
        if reply.ephemeral:
            await self._ephemeral(reply)
            return
        if reply.dm_to:
            await self._to_person(reply)
            return
        if reply.edit is Edit.CHOSEN and origin.message is not None:
            text, shown = blocks.chosen(origin.pressed or "", reply)
            await self._update(*origin.message, text, shown)
            return
        if reply.pointer:  # "it's in our interview thread": only where the user is not looking at it
            if origin.respond is not None:
                await self._respond(origin.respond, reply)
            return
        if reply.kind is Kind.FORM and reply.form is not None:
            await self._open_form(reply.form)
            return
        if reply.kind is Kind.FILE and reply.attachment is not None:
            await self._upload(reply.to or {}, reply.attachment, reply.text)
            return
        text, shown = blocks.message(reply, self._chat.words)
        if reply.edit is Edit.PROGRESS and self._placeholder is not None:
            channel, ts = self._placeholder
            self._placeholder = None
            if await self._update(channel, ts, text, shown):
                self._remember(reply, channel, ts)
                return
        where_shown = (self._shown(reply) or origin.message) if reply.edit is Edit.ANSWER else None
        if where_shown is not None and await self._update(*where_shown, text, shown):
            return
        route: Mapping[str, Any] = reply.to or {}
        if not route.get("channel") and origin.respond is not None:
            await self._respond(origin.respond, reply)
            return
        where = await self._where(route)
        if where is None:
            return
        channel, thread_ts = where
        if reply.opens_thread:
            await self._open_thread(channel, text, shown)
            return
        posted = await self._post(channel, text, shown, thread_ts)
        if reply.kind is Kind.PROGRESS and posted is not None:
            self._placeholder = (channel, posted)
        if posted is not None:
            self._remember(reply, channel, posted)

    async def _ephemeral(self, reply: Reply) -> None:
        """Only the person who acted sees it: under their command or button (response_url), else chat.postEphemeral
        where they spoke."""
        if self._origin.respond is not None:
            text, shown = blocks.message(reply, self._chat.words)
            try:
                await self._origin.respond(text=text, blocks=shown, response_type="ephemeral", replace_original=False)
            except SEND_ERRORS as exc:
                logger.warning("slack ephemeral reply failed platform=slack user=%s error=%s", self._user.user_id,
                               slack_error(exc))  # fmt: skip
            return
        channel = self._origin.channel or (self._origin.message[0] if self._origin.message else "")
        text, shown = blocks.message(reply, self._chat.words)
        if not channel and self._origin.dm is not None:  # a modal's submission: the person's DM is theirs alone
            where = await self._where({})
            if where is not None:
                await self._post(where[0], text, shown, None)
            return
        if not channel:
            logger.warning("slack ephemeral reply dropped: nowhere to send it platform=slack user=%s",
                           self._user.user_id)  # fmt: skip
            return
        try:
            await self._client.chat_postEphemeral(
                channel=channel, user=self._user.user_id, text=text, blocks=shown, thread_ts=self._origin.thread_ts
            )
        except SEND_ERRORS as exc:
            logger.warning("slack chat.postEphemeral failed platform=slack user=%s error=%s", self._user.user_id,
                           slack_error(exc))  # fmt: skip

    async def _to_person(self, reply: Reply) -> None:
        """A reply for one person privately (a team interview's full report for its candidate): in their DM."""
        person = User(self._user.platform, reply.dm_to)
        try:
            channel = (await DirectMessage(self._client, person)())["channel"]
        except PlaceUnavailable:
            return  # logged where the DM failed to open
        text, shown = blocks.message(replace(reply, dm_to=""), self._chat.words)
        await self._post(channel, text, shown, None)

    def _shown(self, reply: Reply) -> tuple[str, str] | None:
        return self._answers.find(reply) if self._answers is not None else None

    def _remember(self, reply: Reply, channel: str, ts: str) -> None:
        if self._answers is not None:
            self._answers.remember(reply, (channel, ts))

    async def _where(self, route: Mapping[str, Any], origin: Origin | None = None) -> tuple[str, str | None] | None:
        """(channel, thread_ts) for a message: the reply's route, else where the user spoke (`origin`, by default this
        event's); None: nowhere."""
        origin = origin or self._origin
        if route.get("channel"):
            return str(route["channel"]), route.get("thread_ts")
        if origin.channel:
            return origin.channel, origin.thread_ts
        if origin.dm is not None:
            try:
                return (await origin.dm())["channel"], None
            except PlaceUnavailable:
                return None  # logged where the DM failed to open
        logger.warning("slack reply dropped: nowhere to send it platform=slack user=%s", self._user.user_id)
        return None

    async def _upload(self, route: Mapping[str, Any], attachment: Attachment, text: str) -> None:
        """A spoken question or a chart as a file (files_upload_v2) in the interview's thread, or where the user spoke;
        a slash command's ephemeral reply cannot carry files, so then in the user's DM. The text goes with it as its
        comment. A failed upload is one WARNING: the text it goes with has been sent, and the interview goes on."""
        origin = self._origin
        if not route.get("channel") and not origin.channel and origin.dm is None:
            origin = Origin(dm=DirectMessage(self._client, self._user))
        where = await self._where(route, origin)
        if where is None:
            return
        channel, thread_ts = where
        try:
            await self._client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                file=attachment.data,
                filename=attachment.filename,
                title=attachment.title or attachment.filename,
                initial_comment=text or None,
            )
        except SEND_ERRORS as exc:
            logger.warning(
                "slack file upload failed platform=slack user=%s channel=%s kind=%s error=%s",
                self._user.user_id, channel, attachment.kind, slack_error(exc),
            )  # fmt: skip

    async def _open_thread(self, channel: str, text: str, shown: list[Block]) -> None:
        """Post the interview's parent message; the rest of the interview goes in its thread."""
        ts = await self._post(channel, text, shown, None)
        if ts is None:
            logger.warning("slack interview thread not opened platform=slack user=%s", self._user.user_id)
            return
        await self._chat.thread_opened(self._user, {"channel": channel, "thread_ts": ts})

    async def _open_form(self, form: SetupForm) -> None:
        if not self._origin.trigger_id:
            logger.warning("slack form dropped: no trigger_id platform=slack user=%s", self._user.user_id)
            return
        view = blocks.setup_view(form)
        if form.action == START_FORM:
            view = blocks.start_view(form, channel=self._origin.channel, name=self._origin.place)
        elif form.action:
            if self._origin.message is None or not self._origin.thread_ts:
                logger.warning("slack team form dropped: no message platform=slack user=%s", self._user.user_id)
                return
            channel, ts = self._origin.message
            view = blocks.team_view(form, channel=channel, thread_ts=self._origin.thread_ts, message_ts=ts)
        try:
            await self._client.views_open(trigger_id=self._origin.trigger_id, view=view)
        except SEND_ERRORS as exc:  # e.g. expired_trigger_id: the modal must open within 3 s of the click
            logger.warning(
                "slack views.open failed platform=slack user=%s error=%s", self._user.user_id, slack_error(exc)
            )
            await self.send(Reply(Kind.ERROR, SORRY))

    async def _post(self, channel: str, text: str, shown: list[Block], thread_ts: str | None) -> str | None:
        """chat.postMessage; the message's ts, or None when Slack refused it (logged)."""
        try:
            response = await self._client.chat_postMessage(
                channel=channel, text=text, blocks=shown, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False
            )
        except SEND_ERRORS as exc:
            logger.warning(
                "slack chat.postMessage failed platform=slack user=%s channel=%s error=%s",
                self._user.user_id,
                channel,
                slack_error(exc),
            )
            return None
        ts = response.get("ts")
        return str(ts) if ts else None

    async def _update(self, channel: str, ts: str, text: str, shown: list[Block]) -> bool:
        try:
            await self._client.chat_update(channel=channel, ts=ts, text=text, blocks=shown)
        except SEND_ERRORS as exc:
            logger.warning(
                "slack chat.update failed platform=slack user=%s channel=%s error=%s",
                self._user.user_id,
                channel,
                slack_error(exc),
            )
            return False
        return True

    async def _respond(self, respond: AsyncRespond, reply: Reply) -> None:
        """An ephemeral reply through the command's or button's response_url; after a button press it replaces
        the pressed message (Edit.PRESSED, Edit.CHOSEN) or comes under it."""
        pressed = self._origin.pressed
        replace_original = None if pressed is None else reply.edit in (Edit.PRESSED, Edit.CHOSEN)
        if reply.edit is Edit.CHOSEN and pressed is not None:
            text, shown = blocks.chosen(pressed, reply)
        else:
            text, shown = blocks.message(reply, self._chat.words)
        try:
            response = await respond(
                text=text, blocks=shown, response_type="ephemeral", replace_original=replace_original
            )
        except SEND_ERRORS as exc:
            logger.warning(
                "slack response_url reply failed platform=slack user=%s error=%s", self._user.user_id, slack_error(exc)
            )
            return
        if response.status_code != 200:
            logger.warning(
                "slack response_url refused platform=slack user=%s status=%d body=%s",
                self._user.user_id,
                response.status_code,
                response.body[:200],
            )
