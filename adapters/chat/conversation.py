"""The conversation itself: one event from one user in, a stream of frozen replies out.

Every handler is an async generator, so a reply that must show before slow work ("transcribing…") reaches
the renderer before the work starts; tests collect the stream into a list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.chat import setup
from adapters.chat.parse import parse_one_line, split_command
from adapters.chat.practice import Practice
from adapters.chat.replies import (
    Attachment,
    Choice,
    Command,
    Document,
    DownloadFailed,
    Edit,
    Event,
    FileSource,
    Kind,
    Link,
    Option,
    PlaceUnavailable,
    Reply,
    SessionsPage,
    Sink,
    Text,
    Unsupported,
    Voice,
)
from adapters.chat.setup import CONFIRM, STEPS
from adapters.chat.team import PRIVATE_REPORT_START, TeamChat
from adapters.chat.wizard import Step, Wizard
from adapters.chat.words import SORRY, Words
from engine import (
    ROUND_TYPES,
    AnswerResult,
    InterviewEngine,
    InterviewSpec,
    Question,
    Recovered,
    Regraded,
    SessionView,
    User,
    errors,
)

logger = logging.getLogger(__name__)

# Commands that only read: a surface may run them ahead of a user's long voice answer.
READ_ONLY_COMMANDS = frozenset({"start", "help", "status", "repeat", "report", "sessions", "progress"})
COMMANDS = frozenset(
    {"start", "help", "interview", "cancel", "status", "repeat", "skip", "retry", "end", "report", "language"}
    | {"forget", "sessions", "voice", "retake", "fix", "progress"}
)
# Subcommands that take words after them on subcommand surfaces ("/interview language ko", "/interview retake 3").
COMMANDS_WITH_ARGS = frozenset({"language", "sessions", "voice", "retake", "fix"})
TEAM_REPORT = ("report", "team")  # `/report team`: the latest team interview's report, whatever came since
# Voice answers one user may have waiting or being transcribed at once; surfaces refuse more (too_many_waiting),
# so one user's backlog (or a stuck client resending) never grows without bound.
MAX_QUEUED_VOICE = 3
SESSION_VIEWS = {"active": "Active interviews", "all": "All interviews", "stale": "Stale interviews"}
PAGE_SIZE = 10

Place = Mapping[str, Any] | Callable[[], Awaitable[Mapping[str, Any]]]
# Makes the private link to a session's report page (adapters.web.ReportLinks.url_for); None while links are off.
ReportLink = Callable[[SessionView], str | None]


@dataclass(frozen=True)
class Surface:
    """What the chat layer needs to know about a platform to speak on it."""

    platform: str  # the engine's platform name: "telegram", "slack"
    cmd: Callable[[str], str]  # how users type a command there: "repeat" -> "/repeat" or "/interview repeat"
    voice: str  # what a recording is called there: "voice note", "audio clip"
    where: str  # where the interview happens, for "your interview has started in ..."
    forms: bool = False  # set-up is one form (Slack's modal) rather than steps in the chat
    threads: bool = False  # each interview gets a thread: its INTRO opens it (see Chat.thread_opened)
    subcommands: bool = False  # every command is a word after /interview ("/interview status")
    admins: frozenset[str] = frozenset()
    max_file_bytes: int | None = None  # the platform's own download cap, if lower than the engine's limit
    # The spoken questions' audio format, one the platform plays inline: "ogg" (Opus, Telegram's voice notes) or
    # "mp3" (Slack).
    audio_format: str = "ogg"
    no_place: str = "I couldn't open a conversation with you to run the interview in. Please try again."
    # How to name a person in a shared space (platform user id, name): a Slack mention, a Telegram name.
    mention: Callable[[str, str], str] = lambda user_id, name: name or user_id


class Chat:
    """The one conversation every chat surface runs: set-up, answers, commands, buttons, admin views."""

    def __init__(
        self,
        engine: InterviewEngine,
        surface: Surface,
        *,
        clock: Callable[[], float] = time.time,
        report_link: ReportLink | None = None,
    ) -> None:
        self.engine = engine
        self.surface = surface
        self._report_link = report_link
        self.words = Words(
            surface.cmd, voice=surface.voice, where=surface.where, shared="channel" if surface.threads else "group"
        )
        self.wizard = Wizard(engine, self.words, clock)
        limit = engine.max_audio_bytes
        self.max_file_bytes = min(limit, surface.max_file_bytes) if surface.max_file_bytes else limit
        # Updates whose voice answer the restart's recovery has finished and replied to: run again from the inbox,
        # they must not be answered a second time.
        self._recovered_ids: set[str] = set()
        self.practice = Practice(engine, self.words, self.ask_current)
        self.team = TeamChat(self, surface.mention)

    # ----- what surfaces ask --------------------------------------------------------------------------------

    def is_admin(self, user: User) -> bool:
        return user.user_id in self.surface.admins

    def reads_only(self, event: Event) -> bool:
        """True for events that change nothing: they need not wait behind the same user's voice answer."""
        if isinstance(event, Command):
            name, args = self._command_of(event)
            # A bare /interview on a surface with forms only opens the form (or offers to resume): opening it must
            # not wait behind a long transcription, since Slack allows 3 s to open a modal.
            return name in READ_ONLY_COMMANDS or (self.surface.forms and name == "interview" and not args)
        return isinstance(event, Choice) and event.action.startswith("adm:")

    async def first_delivery(self, delivery_id: str) -> bool:
        """True the first time the platform delivers this update/event id, False for redeliveries."""
        return await self.engine.first_delivery(self.surface.platform, delivery_id)

    async def received(self, delivery_id: str, payload: Mapping[str, Any]) -> bool:
        """Keep an update (its plain JSON) in the durable inbox until it is handled; False for a redelivery.

        Called before the platform is told the update arrived, so a crash after that loses nothing.
        """
        return await self.engine.inbox_put(self.surface.platform, delivery_id, payload)

    async def handled(self, delivery_id: str) -> None:
        """The update's replies were all shown (its answer is recorded, or a final reply went out): out of the inbox."""
        await self.engine.inbox_done(self.surface.platform, delivery_id)

    async def unhandled(self, *, orphans_only: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Updates received before the last stop but never handled, oldest first, to run again after recovery; with
        `orphans_only`, those of another process that died since (several processes on one Redis)."""
        if orphans_only:
            return await self.engine.inbox_orphans(self.surface.platform)
        return await self.engine.inbox_pending(self.surface.platform)

    async def thread_opened(self, user: User, route: Mapping[str, Any]) -> None:
        """The renderer posted an INTRO that opens a thread: the rest of the interview lives there."""
        await self.engine.set_route(user, dict(route))

    def link_to(self, session: SessionView) -> Link | None:
        """The button that opens this session's report as a private web page; None while links are off."""
        url = self._report_link(session) if self._report_link is not None else None
        return Link(self.words.report_link(), url) if url else None

    def form_problems(self, values: Mapping[str, str]) -> dict[str, str]:
        """Problems with a submitted set-up form, per field key, for the form to show under its inputs."""
        return setup.spec_from_form(values)[1]

    # ----- entry points -------------------------------------------------------------------------------------

    async def handle(self, user: User, event: Event, place: Place, *, delivery_id: str = "") -> AsyncIterator[Reply]:
        """Everything a user can do in a chat; `place` is where a new interview will live (or how to open it).

        `delivery_id` (the platform's update/event id) goes with an answer, so one run again from the inbox after a
        crash is recognised: its recorded result is shown rather than recorded a second time.
        """
        if delivery_id and delivery_id in self._recovered_ids:
            logger.info(
                "update already answered by recovery platform=%s user=%s delivery=%s",
                user.platform, user.user_id, delivery_id,
            )  # fmt: skip
            return
        dispatched = self._dispatch(user, event, place, delivery_id)
        async for reply in self._guarded(dispatched, user, type(event).__name__):
            yield reply

    async def submit_form(
        self, user: User, values: Mapping[str, str], place: Place, *, replace: bool = False
    ) -> AsyncIterator[Reply]:
        """A set-up form was submitted; with `replace`, it ends the interview in progress first."""
        spec, problems = setup.spec_from_form(values)
        if problems:
            yield Reply(Kind.ERROR, " ".join(problems.values()))
            return
        async for reply in self._guarded(self._start(user, spec, place, replace=replace), user, "form"):
            yield reply

    def regraded(self, item: Regraded) -> AsyncIterator[Reply]:
        """The model's feedback on an answer already replied to with the rules', in place of that reply; then the
        model's follow-up question when it added one (asked before the question the candidate already has). In a
        team interview, with the team's parts (its ratings line and buttons stay on the answer)."""
        replies = self._regraded(item)
        return self.team.dressed(replies, item.session) if item.session.team is not None else replies

    async def _regraded(self, item: Regraded) -> AsyncIterator[Reply]:
        session = item.session
        result = AnswerResult(session=session, answer=item.answer)
        label = session.label(item.answer.index)
        lead = self.words.regraded(label)
        yield Reply(
            Kind.ANSWER, f"{lead}\n\n{self.words.answer(result)}", to=session.route, edit=Edit.ANSWER, result=result,
            label=label, total=session.planned, lead=lead,
        )  # fmt: skip
        question = item.follow_up
        if question is not None and session.current_question == question:
            label = session.current_label
            before = session.label(session.position + 1)
            asked = Reply(
                Kind.QUESTION, self.words.follow_up(question, label, session.planned, before), to=session.route,
                question=question, label=label, total=session.planned,
            )  # fmt: skip
            yield asked
            async for reply in self._spoken(session, asked):
                yield reply

    def recovered(self, item: Recovered) -> AsyncIterator[Reply]:
        """The replies owed for a voice answer that a restart interrupted and the engine has now finished; in a team
        interview, with the team's parts."""
        replies = self._recovered(item)
        return self.team.dressed(replies, item.session) if item.session.team is not None else replies

    async def _recovered(self, item: Recovered, *, edit: Edit = Edit.NONE) -> AsyncIterator[Reply]:
        route = item.session.route
        if item.delivery_id:
            self._recovered_ids.add(item.delivery_id)
        if item.result is not None:
            async for reply in self._after_answer(item.result, edit=edit, lead=self.words.recovered_intro()):
                yield reply
        elif item.error is not None:
            yield Reply(Kind.ERROR, self.words.recovered_error(self.words.error(item.error)), to=route, edit=edit)

    # ----- the ordinary interview's steps, for team interviews (adapters.chat.team) ---------------------------------

    def guarded(self, replies: AsyncIterator[Reply], user: User, what: str) -> AsyncIterator[Reply]:
        """Engine refusals as words, anything else logged and apologised for (see _guarded)."""
        return self._guarded(replies, user, what)

    def text_answer(self, user: User, text: str, delivery_id: str) -> AsyncIterator[Reply]:
        return self._text(user, text, {}, delivery_id)

    def voice_answer(self, user: User, file: FileSource, delivery_id: str) -> AsyncIterator[Reply]:
        return self._voice(user, file, delivery_id)

    def after_answer(self, result: AnswerResult) -> AsyncIterator[Reply]:
        return self._after_answer(result)

    def retry_answer(self, user: User) -> AsyncIterator[Reply]:
        return self._retry(user)

    # ----- dispatch -------------------------------------------------------------------------------------------

    async def _guarded(self, replies: AsyncIterator[Reply], user: User, what: str) -> AsyncIterator[Reply]:
        """Engine refusals become words; anything else is logged with its traceback and apologised for.

        If a "transcribing…" placeholder is showing, the apology replaces it, so it never spins for ever.
        """
        progress = False
        try:
            async for reply in replies:
                if reply.kind is Kind.PROGRESS:
                    progress = True
                elif reply.edit is Edit.PROGRESS:
                    progress = False
                yield reply
        except errors.EngineError as exc:
            logger.info(
                "chat refused platform=%s user=%s event=%s code=%s", user.platform, user.user_id, what, exc.code
            )
            yield Reply(Kind.ERROR, self.words.error(exc), edit=Edit.PROGRESS if progress else Edit.NONE)
        except PlaceUnavailable:
            yield Reply(Kind.ERROR, self.surface.no_place)
        except Exception:
            logger.exception("chat failed platform=%s user=%s event=%s", user.platform, user.user_id, what)
            yield Reply(Kind.ERROR, SORRY, edit=Edit.PROGRESS if progress else Edit.NONE)

    def _dispatch(self, user: User, event: Event, place: Place, delivery_id: str = "") -> AsyncIterator[Reply]:
        if isinstance(event, Command):
            name, args = self._command_of(event)
            return self._command(user, name, args, place)
        if isinstance(event, Text):
            return self._text(user, event.text, place, delivery_id)
        if isinstance(event, Voice):
            return self._voice(user, event.file, delivery_id)
        if isinstance(event, Document):
            return self._document(user, event.file, place)
        if isinstance(event, Choice):
            return self._choice(user, event.action, place)
        return self._unsupported(user, event)

    def command_name(self, event: Command) -> str:
        """The command meant, without its arguments ("/interview status" is "status" on subcommand surfaces)."""
        return self._command_of(event)[0]

    def _command_of(self, event: Command) -> tuple[str, str]:
        """The command meant: on subcommand surfaces "/interview status" is the status command."""
        name, args = event.name.lower(), " ".join(event.args.split())
        if self.surface.subcommands and name == "interview" and args:
            verb, rest = split_command(args)
            if verb in COMMANDS - {"interview", "start"} and (
                not rest or verb in COMMANDS_WITH_ARGS or (verb, rest.lower()) == TEAM_REPORT
            ):
                return verb, rest
        return name, args

    async def _command(self, user: User, name: str, args: str, place: Place) -> AsyncIterator[Reply]:
        words = self.words
        if (name, args.lower()) in (("start", PRIVATE_REPORT_START), TEAM_REPORT):  # the latest team interview's
            try:
                async for reply in self.team.report_privately(user):
                    yield reply
            except errors.SessionNotFound:
                yield Reply(Kind.NOTE, words.no_report_yet())
        elif name == "start":
            yield Reply(Kind.HELP, words.welcome())
        elif name == "help":
            yield Reply(Kind.HELP, words.help())
        elif name == "interview":
            async for reply in self._interview(user, args, place):
                yield reply
        elif name == "cancel":
            if await self.wizard.load(user, steps=(*STEPS, CONFIRM)) is not None:
                await self.engine.clear_draft(user)
                yield Reply(Kind.NOTE, words.setup_cancelled())
            else:
                yield Reply(Kind.NOTE, words.nothing_to_cancel())
        elif name == "status":
            yield await self._status(user)
        elif name == "repeat":
            session = await self.engine.get_session(user)
            asked = self._question_reply(session)
            yield asked
            if session.current_question is not None:
                yield Reply(Kind.NOTE, words.question_elsewhere(session.current_label), pointer=True)
            async for reply in self._spoken(session, asked):
                yield reply
        elif name == "skip":
            result = await self.engine.skip(user)
            async for reply in self._after_answer(result):
                yield reply
            yield Reply(Kind.NOTE, words.next_step_elsewhere(), pointer=True)
        elif name == "retry":
            async for reply in self._retry(user):
                yield reply
        elif name == "end":
            try:
                session = await self.engine.get_session(user)
            except errors.SessionNotFound:
                # No interview of their own: perhaps the candidate of a team one whose channel or group they left.
                async for reply in self.team.end_privately(user):
                    yield reply
                return
            report = await self.engine.end(user)
            lead = words.ended()
            text = f"{lead}\n\n{words.report(report)}"
            yield Reply(Kind.REPORT, text, to=session.route, report=report, lead=lead, link=self.link_to(session))
            async for reply in self.practice.report(user, report, session):
                yield reply
            yield Reply(Kind.NOTE, words.report_elsewhere(), pointer=True)
        elif name == "report":
            try:
                session = await self.engine.latest_session(user)
            except errors.SessionNotFound:
                try:  # only team interviews so far: the latest one's report, and the team's
                    async for reply in self.team.report_privately(user):
                        yield reply
                except errors.SessionNotFound:
                    yield Reply(Kind.NOTE, words.no_report_yet())
                return
            report = await self.engine.report(user)
            yield Reply(Kind.REPORT, words.report(report), to=session.route, report=report, link=self.link_to(session))
            async for reply in self.practice.report(user, report, session):
                yield reply
            yield Reply(Kind.NOTE, words.report_elsewhere(), pointer=True)
        elif name == "retake":
            async for reply in self.practice.retake(user, args):
                yield reply
        elif name == "fix":
            async for reply in self.practice.fix(user, args):
                yield reply
        elif name == "progress":
            async for reply in self.practice.progress(user):
                yield reply
        elif name == "language":
            yield await self._language(user, args)
        elif name == "voice":
            yield await self._voice_setting(user, args)
        elif name == "forget":
            options = (Option("🗑 Yes, delete everything", "f:yes", "danger"), Option("Cancel", "f:no"))
            yield Reply(Kind.PROMPT, words.forget_confirm(), options)
        elif name == "sessions":
            yield await self._sessions_command(user, args)
        else:
            yield Reply(Kind.NOTE, words.unknown_command(name))

    # ----- starting -------------------------------------------------------------------------------------------

    async def _interview(self, user: User, args: str, place: Place) -> AsyncIterator[Reply]:
        if args:
            parsed = parse_one_line(args)
            if parsed is None:
                yield Reply(Kind.NOTE, self.words.one_line_usage(ROUND_TYPES))
                return
            spec = InterviewSpec(parsed.role, parsed.company, parsed.industry, round_type=parsed.round_type)
            async for reply in self._start(user, spec, place):
                yield reply
            return
        active = await self._active(user)
        if active is not None:
            yield self._offer_resume(active)
        elif self.surface.forms:
            yield Reply(Kind.FORM, "Set up your mock interview.", form=setup.setup_form())
        else:
            yield await self.wizard.begin(user)

    async def _start(
        self, user: User, spec: InterviewSpec, place: Place, *, replace: bool = False
    ) -> AsyncIterator[Reply]:
        """Start (ending the active interview first with `replace`), then the intro and the first question."""
        if replace:
            await self.engine.check_can_start(user)  # refused: the interview in progress must not end for nothing
            async for reply in self._end_for_restart(user):
                yield reply
        route = dict(await place()) if callable(place) else dict(place)
        try:
            started = await self.engine.start(user, spec, route=route)
        except errors.SessionInProgress as exc:
            await self.wizard.hold(user, spec)
            yield self._offer_resume(exc.session)
            return
        await self.engine.clear_draft(user)  # a set-up abandoned for the one-line form must not eat answers
        session = started.session
        text = f"{self.words.intro(session.spec, session.planned)}\n\n{self.words.intro_hint()}"
        yield Reply(
            Kind.INTRO, text, to=session.route, opens_thread=self.surface.threads, spec=session.spec,
            total=session.planned,
        )  # fmt: skip
        if self.surface.threads:  # the renderer has moved the interview into the INTRO's thread by now
            session = await self.engine.get_session(user)
        asked = Reply(
            Kind.QUESTION,
            self.words.question(started.question, "1", session.planned),
            to=session.route,
            question=started.question,
            label="1",
            total=session.planned,
        )
        yield asked
        yield Reply(Kind.NOTE, self.words.started_elsewhere(), pointer=True)
        async for reply in self._spoken(session, asked):
            yield reply

    async def _end_for_restart(self, user: User) -> AsyncIterator[Reply]:
        """End the active interview so a new one can start; its report goes where it lived."""
        try:
            session = await self.engine.get_session(user)
            report = await self.engine.end(user)
        except (errors.SessionNotFound, errors.SessionCompleted):
            return
        yield Reply(Kind.REPORT, self.words.report(report), to=session.route, report=report, link=self.link_to(session))

    def _offer_resume(self, session: SessionView | None) -> Reply:
        options = (Option("▶️ Resume", "s:resume", "primary"), Option("🔁 End it and start new", "s:new", "danger"))
        return Reply(Kind.PROMPT, self.words.in_progress(session), options)

    # ----- answers ----------------------------------------------------------------------------------------------

    async def _text(self, user: User, text: str, place: Place, delivery_id: str = "") -> AsyncIterator[Reply]:
        """The next set-up answer while setting up, otherwise a typed interview answer."""
        draft = await self.wizard.load(user)
        if draft is not None:
            async for reply in self._setup(user, await self.wizard.text(user, draft, text), place):
                yield reply
            return
        result = await self.engine.answer_text(user, text, delivery_id=delivery_id)
        async for reply in self._after_answer(result):
            yield reply

    async def _voice(self, user: User, file: FileSource, delivery_id: str = "") -> AsyncIterator[Reply]:
        """Check before downloading, show progress, download, transcribe, then feedback replaces the progress.

        The recording is downloaded into a file the engine takes over (never held whole in memory); the engine bounds
        how many are downloaded at once, so beyond that a download waits its turn.
        """
        draft = await self.wizard.load(user)
        if draft is not None:
            yield Reply(Kind.NOTE, self.words.finish_setup_first(draft.step))
            return
        session = await self.engine.get_session(user)  # no interview: say so before any download
        if file.size and file.size > self.max_file_bytes:
            yield Reply(Kind.ERROR, self.words.too_big(file.size, self.max_file_bytes))
            return
        yield Reply(Kind.PROGRESS, self.words.transcribing(self.engine.queue_depth), to=session.route)
        result: AnswerResult | None = None
        async with self.engine.receive_audio() as upload:
            if await self._download(file, into=upload) is not None:
                audio = await upload.finish(file.mime_type, file.filename)
                result = await self.engine.answer_audio(user, audio, delivery_id=delivery_id)
        if result is None:
            yield Reply(Kind.ERROR, self.words.download_failed(self.surface.platform.capitalize()), edit=Edit.PROGRESS)
            return
        async for reply in self._after_answer(result, edit=Edit.PROGRESS):
            yield reply

    async def _retry(self, user: User) -> AsyncIterator[Reply]:
        session = await self.engine.get_session(user)
        if not session.has_failed_voice_answer:
            yield Reply(Kind.NOTE, self.words.nothing_to_retry(session))
            return
        yield Reply(Kind.PROGRESS, self.words.transcribing(self.engine.queue_depth), to=session.route)
        result = await self.engine.retry(user)
        async for reply in self._after_answer(result, edit=Edit.PROGRESS):
            yield reply

    async def _after_answer(
        self, result: AnswerResult, *, edit: Edit = Edit.NONE, lead: str = ""
    ) -> AsyncIterator[Reply]:
        """Feedback on the answer, then the next question, or the report when that was the last one.

        Voice answers a restart left pending, which the engine recorded first, come before it, in order; the first
        reply of all takes the place of the progress message (`edit`), so the chat reads in the order answered.
        """
        for item in result.earlier:
            async for reply in self._recovered(item, edit=edit):
                yield reply
                edit = Edit.NONE
        session = result.session
        route = session.route
        text = f"{lead}\n\n{self.words.answer(result)}" if lead else self.words.answer(result)
        yield Reply(
            Kind.ANSWER, text, to=route, edit=edit, result=result, label=session.label(result.answer.index),
            total=session.planned, lead=lead,
        )  # fmt: skip
        if result.report is not None:
            report = result.report
            yield Reply(Kind.REPORT, self.words.report(report), to=route, report=report, link=self.link_to(session))
            user = User(session.platform, session.user_id, session.name)
            async for reply in self.practice.report(user, result.report, session):
                yield reply
            yield Reply(Kind.NOTE, self.words.finished(), to=route)
        elif result.next_question is not None:
            label = session.current_label
            asked = Reply(
                Kind.QUESTION,
                self.words.question(result.next_question, label, session.planned),
                to=route,
                question=result.next_question,
                label=label,
                total=session.planned,
            )
            yield asked
            async for reply in self._spoken(session, asked):
                yield reply

    async def _download(self, file: FileSource, *, into: Sink | None = None) -> bytes | None:
        """The file's bytes, or with `into` the file saved there (and b""); None when the platform would not give it."""
        try:
            if into is not None:
                await file.save(into)
                return b""
            return await file.read()
        except DownloadFailed as exc:
            logger.warning("download failed platform=%s file=%s: %s", self.surface.platform, file.filename, exc)
            return None

    async def _document(self, user: User, file: FileSource, place: Place) -> AsyncIterator[Reply]:
        """A CV or job description as a file while setting up; anything else gets a pointer."""
        draft = await self.wizard.load(user)
        if draft is None or draft.step not in ("cv", "jd"):
            if draft is not None:
                yield Reply(Kind.NOTE, self.words.finish_setup_first(draft.step))
            else:
                yield Reply(Kind.NOTE, self.words.documents_only_in_setup())
            return
        kind = setup.document_kind(file.filename, file.mime_type)
        if kind is None:
            yield Reply(Kind.NOTE, f"{self.words.document_types()} {self.words.setup_step(draft.step)}")
            return
        if file.size and file.size > self.max_file_bytes:
            yield Reply(Kind.ERROR, self.words.too_big(file.size, self.max_file_bytes))
            return
        data = await self._download(file)
        if data is None:
            yield Reply(Kind.ERROR, self.words.download_failed(self.surface.platform.capitalize()))
            return
        text = await setup.read_document(data, kind)
        if not text.strip():
            yield Reply(Kind.NOTE, self.words.document_empty())
            return
        async for reply in self._setup(user, await self.wizard.text(user, draft, text), place):
            yield reply

    # ----- buttons --------------------------------------------------------------------------------------------

    async def _choice(self, user: User, action: str, place: Place) -> AsyncIterator[Reply]:
        kind, _, value = action.partition(":")
        if kind == "w":
            async for reply in self._setup(user, await self.wizard.choose(user, value), place):
                yield reply
        elif kind == "s":
            async for reply in self._resume_choice(user, value, place):
                yield reply
        elif kind == "f":
            if value == "yes":
                count = await self.engine.forget(user)  # the set-up draft goes too
                yield Reply(Kind.NOTE, self.words.forgotten(count), edit=Edit.PRESSED)
            else:
                yield Reply(Kind.NOTE, self.words.nothing_deleted(), edit=Edit.PRESSED)
        elif kind == "adm":
            yield await self._sessions_choice(user, value)
        else:
            yield Reply(Kind.NOTE, self.words.stale_button())

    async def _resume_choice(self, user: User, value: str, place: Place) -> AsyncIterator[Reply]:
        if value == "resume":
            await self.engine.clear_draft(user)
            session = await self.engine.get_session(user)
            yield Reply(Kind.NOTE, self.words.resuming(), edit=Edit.PRESSED)
            asked = self._question_reply(session)
            yield asked
            yield Reply(Kind.NOTE, self.words.question_elsewhere(session.current_label), pointer=True)
            async for reply in self._spoken(session, asked):
                yield reply
            return
        draft = await self.wizard.load(user, steps=(CONFIRM,))
        if draft is None and self.surface.forms:
            # The old interview ends when the form is submitted, so cancelling the form changes nothing.
            yield Reply(Kind.FORM, "Set up your new interview.", form=setup.setup_form(replace=True))
            return
        if draft is not None and draft.spec is not None:
            await self.engine.check_can_start(user)  # refused: the interview in progress must not end for nothing
        active = await self._active(user)
        try:
            report = await self.engine.end(user)
        except errors.SessionNotFound:
            yield Reply(Kind.NOTE, self.words.already_ended(), edit=Edit.PRESSED)
        else:
            yield Reply(Kind.NOTE, self.words.ended_previous(report), edit=Edit.PRESSED)
            if active is not None:
                link = self.link_to(active)
                yield Reply(Kind.REPORT, self.words.report(report), to=active.route, report=report, link=link)
        if draft is not None and draft.spec is not None:
            await self.engine.clear_draft(user)
            async for reply in self._start(user, draft.spec, place):
                yield reply
        else:
            yield await self.wizard.begin(user, replacing=True)

    # ----- reading ------------------------------------------------------------------------------------------

    async def _status(self, user: User) -> Reply:
        active = await self._active(user)
        if active is not None:
            return Reply(Kind.STATUS, self.words.status(active))
        try:
            latest = await self.engine.latest_session(user)
        except errors.SessionNotFound:
            return Reply(Kind.NOTE, self.words.no_interviews_yet())
        return Reply(Kind.STATUS, self.words.status_of_last(latest))

    async def ask_current(self, session: SessionView) -> AsyncIterator[Reply]:
        """The question the session waits for (or that it is finished), then, where questions are spoken, its voice
        note."""
        asked = self._question_reply(session)
        yield asked
        async for reply in self._spoken(session, asked):
            yield reply

    async def _spoken(self, session: SessionView, asked: Reply) -> AsyncIterator[Reply]:
        """The question that `asked` showed, as a voice note after it, when this session's questions are spoken.

        The text has been shown by the time this runs (a renderer shows each reply before asking for the next), so the
        audio never holds the question back. No voice, or a synthesis that failed (logged where it failed): nothing
        more is sent, and nothing is said about it; the interview goes on in text.
        """
        question = asked.question
        if asked.kind is not Kind.QUESTION or question is None or not self.engine.voice_for(session):
            return
        index = _index_of(session, question)
        if index is None:
            return
        user = User(session.platform, session.user_id, session.name)
        fmt = self.surface.audio_format
        try:
            spoken = await self.engine.question_audio(user, session.session_id, index, fmt)
        except errors.EngineError as exc:  # e.g. the candidate forgot their sessions meanwhile
            logger.info(
                "question not spoken platform=%s user=%s session=%s code=%s",
                user.platform, user.user_id, session.session_id, exc.code,
            )  # fmt: skip
            return
        except Exception:  # the audio is an extra: it must never cost the candidate the interview
            logger.warning(
                "question not spoken platform=%s user=%s session=%s",
                user.platform, user.user_id, session.session_id, exc_info=True,
            )  # fmt: skip
            return
        if spoken is None:
            return
        attachment = Attachment(
            kind="voice",
            data=spoken.data,
            mime_type=spoken.mime_type,
            filename=f"question-{asked.label or index + 1}.{fmt}",
            duration_seconds=spoken.duration_seconds,
            title=self.words.spoken_title(question, asked.label),
        )
        yield Reply(
            Kind.FILE, "", to=asked.to, question=question, label=asked.label, total=asked.total, attachment=attachment
        )

    def _question_reply(self, session: SessionView) -> Reply:
        question = session.current_question
        return Reply(
            Kind.QUESTION if question else Kind.NOTE,
            self.words.current_question(session),
            to=session.route if question else None,
            question=question,
            label=session.current_label,
            total=session.planned,
        )

    async def _language(self, user: User, args: str) -> Reply:
        words = self.words
        if not args:
            active = await self._active(user)
            if active is None:
                return Reply(Kind.NOTE, words.language_default(self.engine.default_language))
            available = self.engine.voice_available(active.language)
            return Reply(Kind.NOTE, words.language_current(active.language, available=available))
        if len(args.split()) > 1:
            return Reply(Kind.NOTE, words.language_usage())
        session = await self.engine.set_language(user, args)
        available = self.engine.voice_available(session.language)
        return Reply(Kind.NOTE, words.language_set(session.language, available=available))

    async def _voice_setting(self, user: User, args: str) -> Reply:
        """/voice [on|off]: whether this interview's questions also come spoken, kept in the session."""
        words = self.words
        wanted = args.lower()
        if wanted not in ("", "on", "off"):
            return Reply(Kind.NOTE, words.voice_usage())
        installed = self.engine.can_speak_questions
        if not wanted:
            active = await self._active(user)
            if active is None:
                return Reply(Kind.NOTE, words.voice_no_interview(installed=installed))
            return Reply(Kind.NOTE, words.voice_current(active.speak_questions, installed=installed))
        try:
            session = await self.engine.set_speak_questions(user, wanted == "on")
        except errors.SessionNotFound:
            return Reply(Kind.NOTE, words.voice_no_interview(installed=installed))
        return Reply(Kind.NOTE, words.voice_set(session.speak_questions, installed=installed))

    async def _unsupported(self, user: User, event: Unsupported) -> AsyncIterator[Reply]:
        draft = await self.wizard.load(user)
        interviewing = draft is None and await self._active(user) is not None
        step = draft.step if draft is not None else None
        yield Reply(Kind.NOTE, self.words.unsupported(event.what, step=step, interviewing=interviewing))

    # ----- admins ---------------------------------------------------------------------------------------------

    async def _sessions_command(self, user: User, args: str) -> Reply:
        if not self.is_admin(user):
            return Reply(Kind.NOTE, self.words.admins_only())
        view = args.lower() or "active"
        if view not in SESSION_VIEWS or len(args.split()) > 1:
            return Reply(Kind.NOTE, self.words.sessions_usage())
        return await self._sessions_page(view, 0)

    async def _sessions_choice(self, user: User, value: str) -> Reply:
        if not self.is_admin(user):
            return Reply(Kind.NOTE, self.words.admins_only())
        view, _, page = value.partition(":")
        if view not in SESSION_VIEWS or not page.isdigit():
            return Reply(Kind.NOTE, self.words.sessions_usage())
        page_reply = await self._sessions_page(view, int(page))
        return Reply(
            page_reply.kind, page_reply.text, page_reply.options, edit=Edit.PRESSED, sessions=page_reply.sessions
        )

    async def _sessions_page(self, view: str, page: int) -> Reply:
        rows = await self.engine.list_sessions(
            status="active" if view == "active" else None, stale_only=view == "stale"
        )
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        shown = tuple(rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
        title = SESSION_VIEWS[view]
        if view == "stale":
            title += f" (no activity for {self.engine.stale_after_hours:g}h)"
        text = self.words.sessions(shown, title=title, offset=page * PAGE_SIZE, total=len(rows))
        options = []
        if page > 0:
            options.append(Option("◀️ Previous", f"adm:{view}:{page - 1}"))
        if page < pages - 1:
            options.append(Option("Next ▶️", f"adm:{view}:{page + 1}"))
        sessions = SessionsPage(title, shown, page * PAGE_SIZE, len(rows))
        return Reply(Kind.SESSIONS, text, tuple(options), sessions=sessions)

    # ----- state ------------------------------------------------------------------------------------------------

    async def _active(self, user: User) -> SessionView | None:
        try:
            return await self.engine.get_session(user)
        except errors.SessionNotFound:
            return None

    async def _setup(self, user: User, step: Step, place: Place) -> AsyncIterator[Reply]:
        """Show what a set-up step said, and start the interview once its last field is in."""
        for reply in step.replies:
            yield reply
        if step.spec is not None:
            async for reply in self._start(user, step.spec, place):
                yield reply


def _index_of(session: SessionView, question: Question) -> int | None:
    """Where a question stands in the session: the current one's index, else its first place (None if gone)."""
    if session.current_index is not None and session.current_question == question:
        return session.current_index
    return next((n for n, asked in enumerate(session.questions) if asked == question), None)
