"""Team interviews in a shared space (a Slack channel thread, a Telegram group), written once for both platforms.

The interview itself is the ordinary one (answers, feedback, questions, the report), held by the space's key rather
than by a person; this module adds the parts: the candidate's Start, who may answer, skip or end, teammates'
comments and ratings, the interviewer's own questions, and the team report (in the space, and privately to the
candidate). `Chat` runs the ordinary conversation; its replies are dressed here with the team's buttons and lines.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from adapters.chat import setup
from adapters.chat.parse import parse_one_line
from adapters.chat.practice import index_of
from adapters.chat.replies import (
    Choice,
    Command,
    Edit,
    Event,
    FormField,
    Kind,
    Option,
    PlaceUnavailable,
    Reply,
    SetupForm,
    Space,
    Text,
    Unsupported,
    Voice,
)
from adapters.chat.words import TeamWords
from engine import (
    ROUND_TYPES,
    SCALE,
    AnswerResult,
    InterviewSpec,
    Report,
    SessionView,
    Team,
    TeamReport,
    TeamScore,
    User,
    errors,
)

if TYPE_CHECKING:
    from adapters.chat.conversation import Chat

logger = logging.getLogger(__name__)

# Renders the invitation and returns the space it opened (Slack: the thread under it); PlaceUnavailable if it can't.
OpenSpace = Callable[[Reply], Awaitable[Space]]
ACTION = re.compile(r"^t:(accept|decline|skip|ask|end|rate|r)(?::([0-9a-f]{1,32}))?(?::(\d{1,3}))?(?::(\d))?$")
RATING_PARTS = ("content", "structure", "delivery")
NOT_IN_CHANNEL = "not_in_channel"  # PlaceUnavailable's reason when the bot is not a member of the channel
# `/start teamreport` (a Telegram deep link from the group when the private copy could not be sent): that report.
PRIVATE_REPORT_START = "teamreport"
START_FORM = "start"  # SetupForm.action of the team start form
# The set-up fields a team start takes: never a CV or job description, which would be shown to the whole space.
START_FIELDS = ("role", "company", "industry", "round")


class TeamChat:
    """The team interview conversation of one `Chat` (its engine and surface)."""

    def __init__(self, chat: Chat, mention: Callable[[str, str], str]) -> None:
        self._chat = chat
        self._engine = chat.engine
        surface = chat.surface
        self.platform = surface.platform
        self.words = TeamWords(surface.cmd, mention, voice=surface.voice, forms=surface.forms)

    # ----- starting -----------------------------------------------------------------------------------------

    async def start(
        self, person: User, candidate: User | None, args: str, space: OpenSpace, *, known: Space | None = None
    ) -> AsyncIterator[Reply]:
        """Start a team interview for `candidate` (None: `person` themself) from a one-line start in `args`.

        `space` opens its place by posting the invitation (Slack: a thread under it; Telegram: messages replying to
        it). `known` is that place where it is known before (a Telegram group): one interview at a time runs there.
        """
        replies = self._start(person, candidate, args, space, known)
        async for reply in self._chat.guarded(replies, person, "team start"):
            yield reply

    async def _start(
        self, person: User, candidate: User | None, args: str, space: OpenSpace, known: Space | None
    ) -> AsyncIterator[Reply]:
        parsed = parse_one_line(args) if args else None
        if parsed is None:
            yield Reply(Kind.NOTE, self.words.usage() if not args else self._chat.words.one_line_usage(ROUND_TYPES),
                        ephemeral=True)  # fmt: skip
            return
        spec = InterviewSpec(parsed.role, parsed.company, parsed.industry, round_type=parsed.round_type)
        async for reply in self._offer(person, candidate or person, spec, space, known):
            yield reply

    def start_form(self, person: User, place: str, *, member: bool = True) -> Reply:
        """The team start as one form (surfaces with forms): the candidate, `person` unless they pick someone, and the
        set-up's fields but the CV and job description; when the bot is not a `member` of the space, the line on
        adding it instead, before anyone fills in a form that could not be posted."""
        words = self.words
        if not member:
            return Reply(Kind.NOTE, words.not_member(""), ephemeral=True)
        own = {f.key: f for f in setup.setup_form().fields}
        fields = (
            FormField("candidate", words.candidate_label(), 32, initial=person.user_id, person=True),
            own["role"],
            own["company"],
            replace(own["industry"], label=words.industry_label(), initial="", optional=True),
            own["round"],
        )
        title, note = words.start_form_title(), words.start_form_note(place)
        form = SetupForm(title, fields, note=note, submit=words.start_submit(), action=START_FORM)
        return Reply(Kind.FORM, title, form=form)

    def start_problems(self, values: Mapping[str, str], *, not_a_person: bool = False) -> dict[str, str]:
        """Problems with a submitted team start form, per field key: the set-up's own, and a candidate missing or, as
        the surface found out, not a person (a bot, an app)."""
        problems = setup.spec_from_form({key: values.get(key, "") for key in START_FIELDS})[1]
        if not values.get("candidate"):
            problems["candidate"] = self.words.pick_candidate()
        elif not_a_person:
            problems["candidate"] = self.words.not_a_person()
        return problems

    async def start_from_form(self, person: User, values: Mapping[str, str], space: OpenSpace) -> AsyncIterator[Reply]:
        """A submitted team start form (start_problems already shown under its fields): started as `start` does."""
        spec, problems = setup.spec_from_form({key: values.get(key, "") for key in START_FIELDS})
        candidate = values.get("candidate", "")
        if problems or not candidate:  # a form that reached us past its checks
            yield Reply(Kind.NOTE, " ".join(problems.values()) or self.words.pick_candidate(), ephemeral=True)
            return
        offered = self._offer(person, User(self.platform, candidate), spec, space, None)
        async for reply in self._chat.guarded(offered, person, "team start"):
            yield reply

    async def _offer(
        self, person: User, candidate: User, spec: InterviewSpec, space: OpenSpace, known: Space | None
    ) -> AsyncIterator[Reply]:
        """Post the invitation the candidate accepts or declines, and store the interview in its space."""
        words = self.words
        interviewer = person if person.user_id != candidate.user_id else None
        team = Team(candidate.user_id, candidate.name, interviewer.user_id if interviewer else "",
                    interviewer.name if interviewer else "")  # fmt: skip
        options = (Option("▶️ Start", "t:accept", "primary"), Option("Not now", "t:decline"))
        if known is not None and await self.listening(known):
            yield Reply(Kind.NOTE, words.already_running(), ephemeral=True)
            return
        # The place's route (a Slack thread, the invitation Telegram replies under) exists once the invitation is
        # posted: the interview is stored then.
        text = f"{words.invite(spec, team)}\n\n{words.how_it_works(team)}"
        try:
            opened = await space(Reply(Kind.INTRO, text, options, opens_thread=True, spec=spec))
        except PlaceUnavailable as exc:
            if str(exc) != NOT_IN_CHANNEL:
                raise
            yield Reply(Kind.NOTE, words.not_member(""), ephemeral=True)
            return
        try:
            started = await self._engine.start_team(
                self._holder(opened), spec, candidate=candidate, interviewer=interviewer, place=opened.name,
                route=opened.route,
            )  # fmt: skip
        except errors.SessionInProgress:  # another process started one there a moment before
            yield Reply(Kind.NOTE, words.already_running(), ephemeral=True)
            return
        logger.info(
            "team interview offered platform=%s space=%s candidate=%s by=%s",
            self.platform, started.session.user_id, candidate.user_id, person.user_id,
        )  # fmt: skip

    async def listening(self, space: Space) -> bool:
        """Whether an interview (offered, or under way) runs in `space`: then people's messages there are for us, and
        no second one starts there. Chatter elsewhere is left alone before it costs a write to the inbox."""
        try:
            await self._engine.get_session(self._holder(space))
        except errors.SessionNotFound:
            return False
        return True

    async def moved(self, old: Space, new: Space) -> AsyncIterator[Reply]:
        """The space became another (a Telegram group upgraded to a supergroup gets a new chat id): its running
        interview goes on there, and the question waiting is asked again where people now are."""
        session = await self._engine.move_team(self._holder(old), self._holder(new), route=new.route)
        if session is None:
            return
        yield Reply(Kind.NOTE, self.words.moved(), to=session.route)
        team = session.team
        if team is not None and team.accepted:
            async for reply in self._dress(self._chat.ask_current(session), self._holder(new), session):
                yield reply

    # ----- events in the space ------------------------------------------------------------------------------

    async def handle(self, person: User, space: Space, event: Event, *, delivery_id: str = "") -> AsyncIterator[Reply]:
        """A message, command or button press in a space; silent where the space holds no team interview."""
        replies = self._dispatch(person, space, event, delivery_id)
        async for reply in self._chat.guarded(self._refusals(replies), person, f"team {type(event).__name__}"):
            yield reply

    async def submit(self, person: User, space: Space, action: str, values: Mapping[str, str]) -> AsyncIterator[Reply]:
        """A team form was submitted: a rating of an answer, or the interviewer's own question."""
        async for reply in self._chat.guarded(self._refusals(self._submit(person, space, action, values)), person,
                                              "team form"):  # fmt: skip
            yield reply

    async def _refusals(self, replies: AsyncIterator[Reply]) -> AsyncIterator[Reply]:
        """A part's refusal goes to the person who tried, only (the rest of the space never sees it)."""
        try:
            async for reply in replies:
                yield reply
        except errors.NotAllowed as exc:
            yield Reply(Kind.NOTE, self.words.refusal(exc.reason), ephemeral=True)
        except errors.SessionNotFound:
            yield Reply(Kind.NOTE, self.words.no_interview(), ephemeral=True)

    async def _dispatch(self, person: User, space: Space, event: Event, delivery_id: str) -> AsyncIterator[Reply]:
        holder = self._holder(space)
        try:
            session = await self._engine.get_session(holder)
        except errors.SessionNotFound:
            if isinstance(event, Command):
                yield Reply(Kind.NOTE, self.words.none_running_here(), ephemeral=True)
                return
            if isinstance(event, Choice):
                raise
            return  # chatter in a thread or group that holds no interview: not for us
        team = session.team
        if team is None:
            return
        if isinstance(event, Choice):
            async for reply in self._choice(person, holder, session, team, event.action):
                yield reply
        elif isinstance(event, Command):
            async for reply in self._command(person, holder, session, team, event):
                yield reply
        elif isinstance(event, Text) and person.user_id == team.interviewer and self.words.is_ask_prompt(event.quoting):
            async for reply in self._ask(person, holder, event.text):  # a reply to "reply with your question"
                yield reply
        elif person.user_id != team.candidate:
            await self._comment(person, holder, session, event, delivery_id)
        elif not team.accepted:
            raise errors.NotAllowed("not_accepted")
        elif isinstance(event, Text | Voice):
            # The candidate's own messages are answers, run as any answer; their replies get the team's parts.
            answers = (
                self._chat.text_answer(holder, event.text, delivery_id)
                if isinstance(event, Text)
                else self._chat.voice_answer(holder, event.file, delivery_id)
            )
            async for reply in self._dress(answers, holder, session):
                yield reply
        else:
            yield Reply(Kind.NOTE, self._chat.words.unsupported(
                event.what if isinstance(event, Unsupported) else "files", step=None, interviewing=True),
                ephemeral=True)  # fmt: skip

    async def _comment(self, person: User, holder: User, session: SessionView, event: Event, delivery_id: str) -> None:
        """Anyone else's message in the space is a comment: on the answer it replies to (Telegram), else on the latest
        one; a voice note is never an answer."""
        if not isinstance(event, Text | Voice):
            return
        label = self.words.answer_quoted(event.quoting)
        index = index_of(session, label) if label else None
        text, voice = (event.text, False) if isinstance(event, Text) else ("", True)
        await self._engine.comment(holder, person, text, voice=voice, index=index, delivery_id=delivery_id)
        logger.info(
            "team comment kept platform=%s space=%s author=%s kind=%s",
            self.platform, holder.user_id, person.user_id, type(event).__name__,
        )  # fmt: skip

    async def _choice(
        self, person: User, holder: User, session: SessionView, team: Team, action: str
    ) -> AsyncIterator[Reply]:
        match = ACTION.fullmatch(action)
        if match is None or (match.group(2) and match.group(2) != session.session_id):
            yield Reply(Kind.NOTE, self.words.bad_button(), ephemeral=True)
            return
        verb, index_text, score_text = match.group(1), match.group(3), match.group(4)
        if verb == "accept":
            started = await self._engine.accept_team(holder, person)
            yield Reply(Kind.NOTE, self.words.accepted(team), edit=Edit.CHOSEN)
            async for reply in self._dress(self._chat.ask_current(started.session), holder, started.session):
                yield reply
        elif verb == "decline":
            await self._engine.decline_team(holder, person)
            yield Reply(Kind.NOTE, self.words.called_off(team, person.user_id), edit=Edit.CHOSEN)
        elif verb in ("rate", "r"):
            async for reply in self._rate_choice(person, holder, session, verb, index_text, score_text):
                yield reply
        elif not team.runs_it(person.user_id):
            raise errors.NotAllowed("not_interviewer" if team.interviewer else "not_candidate")
        elif verb == "skip":
            async for reply in self._skip(holder, session):
                yield reply
        elif verb == "end":
            async for reply in self._end(person, holder, session):
                yield reply
        elif person.user_id != team.interviewer:
            raise errors.NotAllowed("not_interviewer")
        elif self._chat.surface.forms:
            yield Reply(Kind.FORM, self.words.ask_title(), form=self._ask_form(session))
        else:  # no forms (Telegram): the interviewer replies to this message with the question
            yield Reply(Kind.NOTE, self.words.ask_prompt(self.words.mention(person.user_id, person.name)),
                        to=session.route)  # fmt: skip

    async def _rate_choice(
        self, person: User, holder: User, session: SessionView, verb: str, index_text: str | None,
        score_text: str | None,
    ) -> AsyncIterator[Reply]:  # fmt: skip
        if index_text is None or (verb == "r") != (score_text is not None):
            yield Reply(Kind.NOTE, self.words.bad_button(), ephemeral=True)
            return
        index = int(index_text)
        team = session.team
        assert team is not None
        if person.user_id == team.candidate:
            raise errors.NotAllowed("own_answer")
        if not any(a.index == index and a.source != "skipped" for a in session.answers):
            raise errors.NotAllowed("no_answer")
        if verb == "rate":
            yield Reply(Kind.FORM, self.words.rate_title(session.label(index)), form=self._rate_form(session, index))
            return
        assert score_text is not None
        score = int(score_text)
        if not SCALE[0] <= score <= SCALE[1]:
            yield Reply(Kind.NOTE, self.words.bad_button(), ephemeral=True)
            return
        async for reply in self._rated(person, holder, index, overall=score):
            yield reply

    async def _rated(self, person: User, holder: User, index: int, **rating: int | str) -> AsyncIterator[Reply]:
        """Record a rating, then the answer's message shows the new count and average (edited, never a new one)."""
        before = await self._engine.get_session(holder)
        result = await self._engine.rate(holder, person, index, **rating)  # type: ignore[arg-type]
        team = result.session.team
        assert team is not None and before.team is not None
        mine = next(r for r in team.ratings if (r.index, r.rater) == (index, person.user_id))
        replaced = any((r.index, r.rater) == (index, person.user_id) for r in before.team.ratings)
        yield self._answer_reply(result, edit=Edit.ANSWER)
        yield Reply(Kind.NOTE, self.words.rated(mine.overall, replaced), ephemeral=True)

    async def _submit(self, person: User, space: Space, action: str, values: Mapping[str, str]) -> AsyncIterator[Reply]:
        holder = self._holder(space)
        session = await self._engine.get_session(holder)
        verb, _, rest = action.partition(":")
        session_id, _, index_text = rest.partition(":")
        if session_id != session.session_id or verb not in ("rate", "ask"):
            yield Reply(Kind.NOTE, self.words.bad_button(), ephemeral=True)
            return
        if verb == "ask":
            async for reply in self._ask(person, holder, values.get("question", "")):
                yield reply
            return
        parts = {name: values.get(name, "") for name in RATING_PARTS}
        if not index_text.isdigit() or not all(v.isdigit() for v in parts.values()):
            yield Reply(Kind.NOTE, self.words.bad_button(), ephemeral=True)
            return
        scores = {name: int(value) for name, value in parts.items()}
        async for reply in self._rated(person, holder, int(index_text), comment=values.get("comment", ""), **scores):
            yield reply

    async def _command(
        self, person: User, holder: User, session: SessionView, team: Team, event: Command
    ) -> AsyncIterator[Reply]:
        """Commands sent in a group (Telegram): the interview's own, by role; the rest are for private chats."""
        name, args = event.name.lower(), event.args.strip()
        if name == "ask":
            if person.user_id != team.interviewer:
                raise errors.NotAllowed("not_interviewer")
            if not args:
                yield Reply(Kind.NOTE, self.words.ask_how(), ephemeral=True)
                return
            async for reply in self._ask(person, holder, args):
                yield reply
        elif name in ("skip", "end") and not team.runs_it(person.user_id):
            raise errors.NotAllowed("not_interviewer" if team.interviewer else "not_candidate")
        elif name == "skip":
            async for reply in self._skip(holder, session):
                yield reply
        elif name == "end":
            async for reply in self._end(person, holder, session):
                yield reply
        elif name == "retry" and person.user_id == team.candidate:  # a voice answer whose transcription failed
            async for reply in self._dress(self._chat.retry_answer(holder), holder, session):
                yield reply
        elif name in ("repeat", "status") and team.accepted:
            async for reply in self._dress(self._chat.ask_current(session), holder, session):
                yield reply
        elif name == "interview":
            yield Reply(Kind.NOTE, self.words.already_running(), ephemeral=True)
        else:
            yield Reply(Kind.NOTE, self.words.how_it_works(team), ephemeral=True)

    async def _ask(self, person: User, holder: User, text: str) -> AsyncIterator[Reply]:
        started = await self._engine.ask_own_question(holder, person, text)
        session = started.session
        team = session.team
        assert team is not None
        yield Reply(Kind.NOTE, self.words.own_question_intro(team, self.words.mention(person.user_id, person.name)),
                    to=session.route)  # fmt: skip
        async for reply in self._dress(self._chat.ask_current(session), holder, session):
            yield reply

    async def _skip(self, holder: User, session: SessionView) -> AsyncIterator[Reply]:
        if session.team is not None and not session.team.accepted:
            raise errors.NotAllowed("not_accepted")
        result = await self._engine.skip(holder)
        async for reply in self._dress(self._chat.after_answer(result), holder, session):
            yield reply

    async def _end(self, person: User, holder: User, session: SessionView) -> AsyncIterator[Reply]:
        team = session.team
        if team is not None and not team.accepted:  # before anything was asked: no report, the invitation is off
            await self._engine.decline_team(holder, person)
            yield Reply(Kind.NOTE, self.words.called_off(team, person.user_id), to=session.route)
            return
        report = await self._engine.end(holder)
        lead = self.words.ended_by(self.words.mention(person.user_id, person.name))
        text = f"{lead}\n\n{self._chat.words.report(report)}"
        ended = Reply(Kind.REPORT, text, to=session.route, report=report, lead=lead)
        async for reply in self._team_report(ended, holder, report):
            yield reply
        async for reply in self._chat.practice.report(holder, report, session):  # its chart, as a finished one has
            yield reply

    async def end_privately(self, person: User) -> AsyncIterator[Reply]:
        """/end from a private chat by the candidate of a running team interview (the channel or group out of reach):
        it ends, its reports go to the space where they can and to the candidate here. SessionNotFound if none."""
        session = await self._engine.team_interview_of(person, active_only=True)
        if session is None:
            raise errors.SessionNotFound()
        async for reply in self._end(person, self._holder_of(session), session):
            yield reply

    async def report_privately(self, person: User) -> AsyncIterator[Reply]:
        """/report from a private chat by someone whose only interview was a team one: its report and the team's."""
        session = await self._engine.team_interview_of(person)
        if session is None:
            raise errors.SessionNotFound()
        holder = self._holder_of(session)
        report = await self._engine.report(holder, session_id=session.session_id)
        team_report = await self._engine.team_report(holder, session_id=session.session_id)
        yield self._private_copy(report, team_report, session)

    # ----- dressing the ordinary replies ----------------------------------------------------------------------

    def dressed(self, replies: AsyncIterator[Reply], session: SessionView) -> AsyncIterator[Reply]:
        """Replies owed outside any event in the space (a recovered voice answer, the model's feedback), dressed as
        the space's own."""
        return self._dress(replies, self._holder_of(session), session)

    async def _dress(self, replies: AsyncIterator[Reply], holder: User, session: SessionView) -> AsyncIterator[Reply]:
        """The ordinary interview's replies, with the team's parts: buttons for the interviewer under questions,
        Rate under answers, the team report after the bot's, and the candidate's private copy. Pointers to "our
        interview thread" are for private chats and go."""
        team = session.team
        assert team is not None
        async for reply in replies:
            if reply.pointer:
                continue
            if reply.kind is Kind.QUESTION and reply.question is not None:
                yield replace(reply, options=self._runner_options(session), hint=self.words.answer_hint(team))
            elif reply.kind is Kind.ANSWER and reply.result is not None:
                yield self._answer_reply(reply.result, edit=reply.edit, lead=reply.lead, base=reply)
            elif reply.kind is Kind.REPORT and reply.report is not None:
                async for out in self._team_report(replace(reply, link=None), holder, reply.report):
                    yield out
            else:
                yield reply

    async def _team_report(self, reply: Reply, holder: User, report: Report) -> AsyncIterator[Reply]:
        """The bot's report in the space, the team's beside it, and both privately to the candidate."""
        session = await self._engine.latest_session(holder)
        team_report = await self._engine.team_report(holder, session_id=session.session_id)
        team_text = self.words.report(team_report)
        yield reply
        yield Reply(Kind.NOTE, f"{team_text}\n\n{self.words.private_report_sent()}", to=session.route)
        undelivered = self.words.private_report_undelivered(team_report.candidate, team_report.candidate_name)
        yield replace(self._private_copy(report, team_report, session), to=session.route, dm_to=team_report.candidate,
                      undelivered=undelivered)  # fmt: skip
        logger.info(
            "team report delivered platform=%s space=%s session=%s raters=%d",
            self.platform, holder.user_id, session.session_id, team_report.raters,
        )  # fmt: skip

    def _private_copy(self, report: Report, team_report: TeamReport, session: SessionView) -> Reply:
        """The candidate's own report of a team interview: the bot's and the team's, with the private web link."""
        intro = self.words.private_report_intro(team_report.place)
        team_text = self.words.report(team_report)
        text = f"{intro}\n\n{self._chat.words.report(report)}\n\n{team_text}"
        return Reply(Kind.REPORT, text, report=report, lead=intro, link=self._chat.link_to(session), footer=team_text)

    def _answer_reply(
        self, result: AnswerResult, *, edit: Edit = Edit.NONE, lead: str = "", base: Reply | None = None
    ) -> Reply:
        """An answer's feedback with the team's count and average under it, and the buttons to rate it."""
        session = result.session
        team = session.team
        assert team is not None
        index = result.answer.index
        score = TeamScore.of(team.ratings_for(index))
        footer = self.words.team_line(session.label(index), score.count, score.overall)
        body = self._chat.words.answer(result)
        text = f"{lead}\n\n{body}" if lead else body
        options: tuple[Option, ...] = ()
        if result.answer.source != "skipped":
            options = self._rate_options(session.session_id, index)
        if base is None:
            base = Reply(Kind.ANSWER, text, to=session.route, result=result, label=session.label(index),
                         total=session.planned, lead=lead)  # fmt: skip
        return replace(base, text=f"{text}\n\n{footer}", options=options, footer=footer, edit=edit, to=session.route)

    def _rate_options(self, session_id: str, index: int) -> tuple[Option, ...]:
        if self._chat.surface.forms:
            return (Option("⭐ Rate this answer", f"t:rate:{session_id}:{index}", "primary"),)
        return tuple(Option(f"{n}⭐", f"t:r:{session_id}:{index}:{n}") for n in range(SCALE[0], SCALE[1] + 1))

    def _runner_options(self, session: SessionView) -> tuple[Option, ...]:
        sid = session.session_id
        team = session.team
        options = [Option("⏭ Skip", f"t:skip:{sid}")]
        if team is not None and team.interviewer:
            options.append(Option("🗣 Ask my own question", f"t:ask:{sid}"))
        options.append(Option("⏹ End", f"t:end:{sid}", "danger"))
        return tuple(options)

    def _rate_form(self, session: SessionView, index: int) -> SetupForm:
        scale = tuple(Option(str(n), str(n)) for n in range(SCALE[0], SCALE[1] + 1))
        fields = tuple(FormField(name, name.capitalize(), 1, choices=scale) for name in RATING_PARTS)
        comment = FormField("comment", "Comment (optional)", 1000, optional=True, multiline=True)
        question = session.questions[index].text
        return SetupForm(self.words.rate_title(session.label(index)), (*fields, comment), note=self.words.rate_note(
            question), submit="Rate", action=f"rate:{session.session_id}:{index}")  # fmt: skip

    def _ask_form(self, session: SessionView) -> SetupForm:
        field = FormField("question", "Your question", 1000, multiline=True)
        return SetupForm(self.words.ask_title(), (field,), note=self.words.ask_note(), submit="Ask",
                         action=f"ask:{session.session_id}")  # fmt: skip

    def _holder(self, space: Space) -> User:
        return User(self.platform, space.key, space.name)

    def _holder_of(self, session: SessionView) -> User:
        return User(self.platform, session.user_id, session.name)
