"""SlackAdapter: lifecycle, bolt listeners that ack first, and each event through the chat layer in a tracked task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat import (
    MAX_QUEUED_VOICE,
    NOT_IN_CHANNEL,
    Chat,
    Command,
    Event,
    Kind,
    OpenSpace,
    PlaceUnavailable,
    Reply,
    ReportLink,
    ShownAnswers,
    Space,
    Surface,
    Voice,
)
from adapters.slack import blocks, parse
from adapters.slack.blocks import LINK_ACTION, SETUP_CALLBACK
from adapters.slack.config import SlackConfig
from adapters.slack.files import Files
from adapters.slack.parse import PLATFORM, START_CALLBACK, TEAM_CALLBACK
from adapters.slack.send import SEND_ERRORS, DirectMessage, Origin, Sender, slack_error
from engine import InterviewEngine, Recovered, Regraded, User

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
STOP_GRACE_SECONDS = 30.0
NO_DM = "I couldn't open a direct message with you. Please open the app's Messages tab and try again."


def slack_command(name: str) -> str:
    """How Slack users type a chat command: everything but /interview and /sessions is a word after /interview."""
    return "/interview" if name == "interview" else "/sessions" if name == "sessions" else f"/interview {name}"


def surface(config: SlackConfig) -> Surface:
    """Slack as the chat layer sees it: /interview subcommands, audio clips, the set-up modal, a DM thread each."""
    return Surface(
        platform=PLATFORM,
        cmd=slack_command,
        voice="audio clip",
        where="our direct messages",
        forms=True,
        threads=True,
        subcommands=True,
        admins=frozenset(config.admins),
        no_place=NO_DM,
        audio_format="mp3",  # Slack plays an uploaded MP3 inline
        mention=lambda user_id, name: f"<@{user_id}>",
    )


class SlackAdapter:
    """Slash commands, buttons, the set-up modal and DM messages, run through the one chat conversation.

    Every request is acknowledged first; the work (downloads, transcription, replies) runs in tasks this adapter
    tracks, so Slack never waits more than a moment and `stop()` can let them finish. One user's events run one
    at a time, in arrival order, except those that only read.
    """

    def __init__(self, engine: InterviewEngine, config: SlackConfig, *, report_link: ReportLink | None = None) -> None:
        self._config = config
        self._client = AsyncWebClient(token=config.bot_token, base_url=config.api_base_url)
        self.chat = Chat(engine, surface(config), report_link=report_link)
        self._answers: ShownAnswers[tuple[str, str]] = ShownAnswers()  # where each answer's feedback was shown
        engine.add_graded_listener(self.deliver_regraded)
        self._files = Files(config.bot_token, self.chat.max_file_bytes, api_base_url=config.api_base_url)
        self._app = AsyncApp(
            name="voice-interview-bot",
            client=self._client,
            signing_secret=config.signing_secret,
            # Listeners only ack and schedule a task, so answering after they return costs nothing and
            # keeps view_submission validation errors in the HTTP response where Slack expects them.
            process_before_response=True,
            request_verification_enabled=config.mode == "http",
        )
        self._app.command("/interview")(self._on_command)
        self._app.command("/sessions")(self._on_command)
        # Every button: ours carry a chat action as their value, and one left from before an upgrade gets the chat
        # layer's "that button no longer works" rather than Slack's warning sign.
        self._app.block_action(LINK_ACTION)(self._on_link)  # before the catch-all: a link is not a chat choice
        self._app.block_action(re.compile(".*"))(self._on_choice)
        self._app.view(SETUP_CALLBACK)(self._on_form)
        self._app.view(TEAM_CALLBACK)(self._on_team_form)
        self._app.view(START_CALLBACK)(self._on_team_start)
        self._app.event("message")(self._on_message)
        self._app.event("member_joined_channel")(self._on_joined)
        self._tasks: set[asyncio.Task[None]] = set()
        self._user_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._voice_in_flight: Counter[str] = Counter()  # voice answers waiting or being worked on, per user
        self._socket: AsyncSocketModeHandler | None = None
        self._bot_user_id = ""
        # Over HTTP, Slack can reach us before start(): requests are acked, and their work waits for this.
        self._started = asyncio.Event()
        self._stopped = False

    # ----- lifecycle ------------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """POST /slack/events (events, commands and interactivity share one URL); none in Socket Mode."""
        if self._config.mode != "http":
            return []
        return [web.post(EVENTS_PATH, self._handle_http)]

    async def open(self) -> None:
        """Check the token and learn our bot user id; nothing is taken in until start()."""
        try:
            auth = await self._client.auth_test()
        except SlackApiError as exc:
            raise RuntimeError(f"Slack rejected the bot token ({slack_error(exc)}); check SLACK_BOT_TOKEN") from exc
        except SEND_ERRORS as exc:
            logger.warning("slack: could not reach the Web API at start (%s); carrying on", slack_error(exc))
        else:
            self._bot_user_id = str(auth.get("user_id") or "")
            logger.info("slack: connected as %s (%s) in %s", auth.get("user"), self._bot_user_id, auth.get("team"))

    async def resume_inbox(self, *, orphans_only: bool = False) -> None:
        """Run again the message events acked before the last stop but never handled (after recovery, before start()),
        or with `orphans_only` those a front-end that died had acked (run periodically on a shared Redis).

        Each takes its user's turn now, ahead of any event acked since open(), which waits for start().
        """
        for event_id, body in await self.chat.unhandled(orphans_only=orphans_only):
            logger.info("slack: resuming event %s from the inbox platform=slack", event_id)
            if not self._message(body, event_id, resumed=True):
                await self.chat.handled(event_id)  # nothing to do for it (any more)

    async def start(self) -> None:
        """Take in events: connect Socket Mode if configured; over HTTP, run the work acked since open()."""
        if self._config.mode == "socket":
            self._socket = AsyncSocketModeHandler(self._app, self._config.app_token)
            await self._socket.connect_async()
            logger.info("slack: socket mode connected")
        self._started.set()

    async def stop(self) -> None:
        """Stop taking in, then give running work a grace period (unfinished voice answers are recovered later)."""
        self._stopped = True
        self._started.set()  # work acked before a start() that never came runs in the grace period too
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
        await self._files.close()

    async def deliver_regraded(self, item: Regraded) -> None:
        """The model's feedback on an answer of a Slack user, updated into the message that showed the answer."""
        if item.session.platform != PLATFORM:
            return
        user = User(PLATFORM, item.session.user_id, item.session.name)
        try:
            await self._render(self.chat.regraded(item), Sender(self._client, self.chat, user, Origin(), self._answers))
        except Exception:  # the rule feedback already reached the user: log, never raise
            logger.warning("could not send the model's feedback platform=%s user=%s", PLATFORM, user.user_id)

    async def deliver_recovered(self, item: Recovered) -> None:
        """The replies owed for a voice answer a restart interrupted, in the interview's thread."""
        user = User(PLATFORM, item.session.user_id, item.session.name)
        await self._render(self.chat.recovered(item), Sender(self._client, self.chat, user, Origin(), self._answers))

    async def _handle_http(self, request: web.Request) -> web.Response:
        """slack_bolt's aiohttp adapter: signature check, dispatch and the ack response, all inside bolt."""
        if self._stopped:  # nothing would run its work now; Slack retries events
            return web.Response(status=503, text="stopping")
        bolt_response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    # ----- bolt listeners: each acks at once and schedules the work ---------------------------------------

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        user, event = parse.command_event(command)
        if event.name == "sessions" and not self.chat.is_admin(user):
            # In the ack itself, so a non-admin sees this refusal and nothing else.
            await ack(text=self.chat.words.admins_only())
            return
        await ack()
        logger.info("slack command platform=slack user=%s command=/%s", user.user_id, event.name)
        origin = Origin(respond=_usable(respond), trigger_id=str(command.get("trigger_id") or ""))
        if self._team_start(event, command):
            candidate, args = parse.candidate_of(event.args)
            replies = self.chat.team.start(user, candidate, args, self._opener(*parse.channel_of(command)))
            named = candidate.user_id if candidate is not None else ""
            self._spawn(self._start_team(user, replies, origin, candidate=named), "team start", user)
            return
        if event.name == "interview" and not event.args and parse.in_channel(command):
            channel, name = parse.channel_of(command)
            origin = replace(origin, channel=channel, place=name)
            self._spawn(self._team_form(user, origin), "team start form", user)
            return
        self._spawn(self._converse(user, event, origin, DirectMessage(self._client, user)), "command", user)

    def _team_start(self, event: Command, command: Mapping[str, Any]) -> bool:
        """`/interview [@candidate] Role at Company` in a channel starts a team interview there (`/interview` alone
        opens its modal); a subcommand is the person's own, wherever it is typed."""
        if event.name != "interview" or not event.args or not parse.in_channel(command):
            return False
        return self.chat.command_name(event) == "interview"

    def _opener(self, channel: str, name: str) -> OpenSpace:
        """How a team start in `channel` opens its place: the invitation posted there, its thread the interview's."""

        async def open_space(invite: Reply) -> Space:
            text, shown = blocks.message(invite, self.chat.words)
            try:
                response = await self._client.chat_postMessage(
                    channel=channel, text=text, blocks=shown, unfurl_links=False, unfurl_media=False
                )
            except SEND_ERRORS as exc:
                code = slack_error(exc)
                logger.warning("slack team invitation not posted platform=slack channel=%s error=%s", channel, code)
                reason = NOT_IN_CHANNEL if code in ("not_in_channel", "channel_not_found") else code
                raise PlaceUnavailable(reason) from exc
            return parse.space_of(channel, str(response["ts"]), name)

        return open_space

    async def _start_team(
        self, user: User, replies: AsyncIterator[Reply], origin: Origin, *, candidate: str = ""
    ) -> None:
        """Post the invitation in the channel (its thread becomes the interview's place) and store the interview; a
        typed start naming a bot or an app as its `candidate` gets one line instead."""
        await self._started.wait()
        sender = Sender(self._client, self.chat, user, origin, self._answers)
        if await self._not_a_person(candidate, user, self._bot_user_id):
            await sender.send(Reply(Kind.NOTE, self.chat.team.words.not_a_person(), ephemeral=True))
            return
        await self._render(replies, sender)

    async def _team_form(self, user: User, origin: Origin) -> None:
        """`/interview` alone in a channel: the team interview modal, or the one line on adding the bot to the channel
        when it is not in it."""
        await self._started.wait()
        member = await self._member_of(origin.channel, user)
        reply = self.chat.team.start_form(user, origin.place, member=member)
        await Sender(self._client, self.chat, user, origin, self._answers).send(reply)

    async def _member_of(self, channel: str, user: User) -> bool:
        """Whether the bot is in `channel` (conversations.info); when Slack won't say (a scope the app was installed
        without), True: the invitation's post finds out."""
        try:
            response = await self._client.conversations_info(channel=channel)
        except SEND_ERRORS as exc:
            code = slack_error(exc)
            if code == "channel_not_found":  # a private channel the bot is not in
                return False
            logger.warning("slack conversations.info failed platform=slack user=%s channel=%s error=%s",
                           user.user_id, channel, code)  # fmt: skip
            return True
        return bool((response.get("channel") or {}).get("is_member", True))

    async def _not_a_person(self, candidate: str, by: User, bot_user_id: str) -> bool:
        """Whether a picked candidate is a bot, an app or a deactivated account (Slack's user picker offers them all);
        when Slack won't say, only the bot itself is refused."""
        if not candidate or candidate == by.user_id:  # none picked (a problem of its own), or themself
            return False
        if candidate in (bot_user_id, "USLACKBOT"):
            return True
        try:
            response = await self._client.users_info(user=candidate)
        except SEND_ERRORS as exc:
            code = slack_error(exc)
            logger.warning("slack users.info failed platform=slack user=%s candidate=%s error=%s",
                           by.user_id, candidate, code)  # fmt: skip
            return code == "user_not_found"
        info = response.get("user") or {}
        return bool(info.get("is_bot") or info.get("is_app_user") or info.get("deleted"))

    async def _on_choice(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user, event = parse.choice_event(body, action)
        logger.info("slack button platform=slack user=%s action=%s", user.user_id, event.action)
        space = parse.pressed_space(body) if event.action.startswith("t:") else None
        message = body.get("message") or {}
        origin = Origin(
            respond=_usable(respond),
            trigger_id=str(body.get("trigger_id") or ""),
            pressed=parse.pressed_text(body),
            channel=str(space.route["channel"]) if space else "",
            thread_ts=str(space.route["thread_ts"]) if space else None,
            message=(str(space.route["channel"]), str(message.get("ts"))) if space else None,
        )
        if space is not None:
            self._spawn(self._in_space(user, space, event, origin), "team button", user)
            return
        self._spawn(self._converse(user, event, origin, DirectMessage(self._client, user)), "button", user)

    async def _on_link(self, ack: AsyncAck) -> None:
        """A link button was clicked: the browser opens the page; there is nothing for the bot to do but acknowledge."""
        await ack()

    async def _on_form(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = parse.form_values(view)
        problems = self.chat.form_problems(values)
        if problems:  # shown under the modal's inputs (their block ids are the field keys)
            await ack(response_action="errors", errors=problems)
            return
        await ack()
        user = parse.payload_user(body)
        logger.info("slack set-up form submitted platform=slack user=%s", user.user_id)
        self._spawn(self._submit(user, values, replace=parse.replacing(view)), "form", user)

    async def _on_message(
        self, ack: AsyncAck, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        if parse.ignored(event, context.bot_user_id or self._bot_user_id):
            return
        if parse.message_event(event, self._files.fetch) is None:
            return
        space = parse.thread_space(event)
        if space is not None and not await self.chat.team.listening(space):
            return  # a thread with no interview in it: people talking to each other
        event_id = str(body.get("event_id") or "")
        # Into the durable inbox before this listener returns, which is when Slack gets its ack over HTTP: a crash
        # from here on loses nothing, and a retry of the same event_id is a duplicate. A failure to keep it fails
        # the request, so Slack sends it again.
        if event_id and not await self.chat.received(event_id, body):
            logger.info("slack duplicate delivery ignored platform=slack event=%s", event_id)
            return
        self._message(body, event_id)

    async def _on_joined(
        self, ack: AsyncAck, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """The bot was added to a channel: a hello there with how team interviews run (once, whatever Slack retries)."""
        await ack()
        if event.get("user") != (context.bot_user_id or self._bot_user_id):
            return  # someone else joined
        event_id = str(body.get("event_id") or "")
        if event_id and not await self.chat.first_delivery(event_id):
            return
        channel = str(event.get("channel") or "")
        inviter = User(PLATFORM, str(event.get("inviter") or ""))
        logger.info("slack: added to channel platform=slack channel=%s by=%s", channel, inviter.user_id)
        hello = Reply(Kind.NOTE, self.chat.team.words.hello_group(), to={"channel": channel})
        self._spawn(Sender(self._client, self.chat, inviter, Origin(), self._answers).send(hello), "hello", inviter)

    async def _on_team_form(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """A rating or the interviewer's own question: acked at once (the modal closes), worked in the space's turn."""
        await ack()
        user = parse.payload_user(body)
        submitted = parse.team_form(view)
        if submitted is None:
            logger.warning("slack team form without its metadata platform=slack user=%s", user.user_id)
            return
        action, space, message = submitted
        logger.info("slack team form submitted platform=slack user=%s action=%s", user.user_id, action)
        origin = Origin(channel=message[0], thread_ts=str(space.route["thread_ts"]), message=message)
        self._spawn(
            self._in_space(user, space, None, origin, form=(action, parse.form_values(view))), "team form", user
        )

    async def _on_team_start(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """The team interview modal submitted: its problems shown under its fields, else the start in its channel."""
        user = parse.payload_user(body)
        place = parse.start_place(view)
        if place is None:
            logger.warning("slack team start form without a channel in its metadata platform=slack user=%s",
                           user.user_id)  # fmt: skip
            await ack()
            return
        values = parse.form_values(view)
        bot_user_id = context.bot_user_id or self._bot_user_id
        not_a_person = await self._not_a_person(values.get("candidate", ""), user, bot_user_id)
        problems = self.chat.team.start_problems(values, not_a_person=not_a_person)
        if problems:
            await ack(response_action="errors", errors=problems)
            return
        await ack()
        channel, name = place
        logger.info("slack team start form submitted platform=slack user=%s channel=%s candidate=%s",
                    user.user_id, channel, values.get("candidate"))  # fmt: skip
        replies = self.chat.team.start_from_form(user, values, self._opener(channel, name))
        # No response_url comes with a modal: what is for this person only (the bot is no longer in the channel, an
        # error) goes to their DM.
        origin = Origin(dm=DirectMessage(self._client, user))
        self._spawn(self._start_team(user, replies, origin), "team start", user)

    async def _in_space(
        self,
        user: User,
        space: Space,
        event: Event | None,
        origin: Origin,
        *,
        form: tuple[str, Mapping[str, str]] | None = None,
        delivery_id: str = "",
        resumed: bool = False,
    ) -> None:
        """One event in a team interview's thread, in that thread's turn (its events run one at a time, in order)."""
        if not resumed:
            await self._started.wait()
        try:
            async with self._lock(space.key):
                sender = Sender(self._client, self.chat, user, origin, self._answers)
                if form is not None:
                    replies = self.chat.team.submit(user, space, *form)
                else:
                    assert event is not None
                    replies = self.chat.team.handle(user, space, event, delivery_id=delivery_id)
                await self._render(replies, sender)
        finally:
            await self._handled(delivery_id)

    def _message(self, body: Mapping[str, Any], event_id: str, *, resumed: bool = False) -> bool:
        """Schedule a message event's work (from bolt, or from the inbox): a DM's, or a team interview thread's;
        False if it asks for none."""
        event = body.get("event")
        translated = parse.message_event(event, self._files.fetch) if isinstance(event, dict) else None
        if event is None or translated is None:
            return False
        user, chat_event = translated
        logger.info(
            "slack message platform=slack user=%s event=%s kind=%s", user.user_id, event_id, type(chat_event).__name__
        )
        channel = str(event["channel"])
        origin = Origin(channel=channel, thread_ts=event.get("thread_ts"))
        space = parse.thread_space(event)
        if space is not None:
            work = self._in_space(user, space, chat_event, origin, delivery_id=event_id, resumed=resumed)
            self._spawn(work, "team message", user)
            return True
        work = self._converse(user, chat_event, origin, {"channel": channel}, delivery_id=event_id, resumed=resumed)
        self._spawn(work, "message", user)
        return True

    # ----- the work ---------------------------------------------------------------------------------------------

    async def _converse(
        self,
        user: User,
        event: Event,
        origin: Origin,
        place: DirectMessage | Mapping[str, Any],
        *,
        delivery_id: str = "",
        resumed: bool = False,
    ) -> None:
        """One event's work in its user's turn; an event from the inbox leaves it once its replies were sent.

        `resumed` (run again from the inbox) does not wait for start(): it goes ahead of what was acked since.
        """
        if not resumed:
            await self._started.wait()  # the replies a restart owes go out before anything new is handled
        voice = isinstance(event, Voice)
        if voice and self._voice_in_flight[user.user_id] >= MAX_QUEUED_VOICE:
            # Counted in arrival order (tasks start in the order they were made), before waiting for the turn.
            logger.info("voice answer refused: too many waiting platform=slack user=%s", user.user_id)
            too_many = Reply(Kind.NOTE, self.chat.words.too_many_waiting(MAX_QUEUED_VOICE))
            try:
                await Sender(self._client, self.chat, user, origin, self._answers).send(too_many)
            finally:
                await self._handled(delivery_id)
            return
        if voice:
            self._voice_in_flight[user.user_id] += 1
        try:
            async with self._turn(user, event):
                try:
                    sender = Sender(self._client, self.chat, user, origin, self._answers)
                    await self._render(self.chat.handle(user, event, place, delivery_id=delivery_id), sender)
                finally:
                    # Not when cancelled (a stop): the event stays in the inbox and runs again after the restart.
                    await self._handled(delivery_id)
        finally:
            if voice:
                self._voice_in_flight[user.user_id] -= 1
                if not self._voice_in_flight[user.user_id]:
                    del self._voice_in_flight[user.user_id]

    async def _handled(self, delivery_id: str) -> None:
        """The event's work is over (replies sent, or it failed and was logged): it leaves the inbox."""
        if not delivery_id or _cancelling():
            return
        try:
            await self.chat.handled(delivery_id)
        except Exception:
            logger.exception("could not mark event %s handled platform=slack", delivery_id)

    async def _submit(self, user: User, values: Mapping[str, str], *, replace: bool) -> None:
        dm = DirectMessage(self._client, user)
        await self._started.wait()
        async with self._user_lock(user):
            sender = Sender(self._client, self.chat, user, Origin(dm=dm), self._answers)
            await self._render(self.chat.submit_form(user, values, dm, replace=replace), sender)

    @staticmethod
    async def _render(replies: AsyncIterator[Reply], sender: Sender) -> None:
        async for reply in replies:
            await sender.send(reply)

    def _turn(self, user: User, event: Event) -> AbstractAsyncContextManager[Any]:
        """The user's place in line: events that only read (status, repeat...) need not wait behind an answer."""
        return contextlib.nullcontext() if self.chat.reads_only(event) else self._user_lock(user)

    def _user_lock(self, user: User) -> asyncio.Lock:
        return self._lock(user.user_id)

    def _lock(self, key: str) -> asyncio.Lock:
        """One line per person (their private interview) or per team interview's thread (its space key)."""
        lock = self._user_locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._user_locks[key] = lock
        return lock

    def _spawn(self, work: Coroutine[Any, Any, None], what: str, user: User) -> None:
        task = asyncio.create_task(self._guard(work, what, user), name=f"slack-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(work: Coroutine[Any, Any, None], what: str, user: User) -> None:
        """Last line of defence for background work: the chat layer answers its own errors, this only logs."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("slack %s failed platform=slack user=%s", what, user.user_id)


def _cancelling() -> bool:
    """Whether the running task is being cancelled (a stop cut its work short)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _usable(respond: AsyncRespond | None) -> AsyncRespond | None:
    """The response_url responder, when the request came with a response_url."""
    return respond if respond is not None and respond.response_url else None
