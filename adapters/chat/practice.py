"""Practising again in the chat: retake a question, correct a transcript, progress over time, and the charts
that go with the report. Written once for Telegram and Slack; `Chat` dispatches the commands here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from adapters.chat.replies import Attachment, Kind, Reply
from adapters.chat.words import Words
from engine import InterviewEngine, Report, SessionView, User, errors

logger = logging.getLogger(__name__)


class Practice:
    """The practice commands of one `Chat`: its engine, its words, and how it asks the current question."""

    def __init__(
        self,
        engine: InterviewEngine,
        words: Words,
        ask_current: Callable[[SessionView], AsyncIterator[Reply]],
    ) -> None:
        self._engine = engine
        self._words = words
        self._ask_current = ask_current

    async def retake(self, user: User, args: str) -> AsyncIterator[Reply]:
        """/retake [N]: the question N (as numbered for people, "3" or "3a"; default the last answered) again; with
        no interview running, of the latest finished one, reopened for that answer."""
        words = self._words
        try:
            session = await self._engine.get_session(user)
        except errors.SessionNotFound:
            session = await self._engine.latest_session(user)
        index: int | None = None
        if args.strip():
            index = index_of(session, args.strip())
            if index is None:
                yield Reply(Kind.NOTE, words.retake_unknown(args.strip()))
                return
        try:
            session = await self._engine.retake(user, question_index=index)
        except errors.NoAnswerYet:
            yield Reply(Kind.NOTE, words.retake_nothing_yet())
            return
        except errors.InvalidInput as exc:
            yield Reply(Kind.NOTE, words.retake_refused(args.strip(), exc.fields.get("question_index", "")))
            return
        retaken = session.current_index
        assert retaken is not None  # the engine just set it
        previous = session.attempts(retaken)[-1]
        score = previous.feedback.score if previous.feedback and previous.source != "skipped" else None
        started = words.retake_started(session.label(retaken), score, finished=bool(session.reopened))
        yield Reply(Kind.NOTE, started, to=session.route)
        async for reply in self._ask_current(session):
            yield reply
        yield Reply(Kind.NOTE, words.question_elsewhere(session.label(retaken)), pointer=True)

    async def fix(self, user: User, args: str) -> AsyncIterator[Reply]:
        """/fix <text>: the last answer's transcript replaced with what the candidate said, judged again."""
        words = self._words
        if not args.strip():
            yield Reply(Kind.NOTE, words.fix_usage())
            return
        try:
            result = await self._engine.correct(user, args)
        except errors.NoAnswerYet:
            yield Reply(Kind.NOTE, words.fix_nothing_yet())
            return
        session = result.session
        label = session.label(result.answer.index)
        lead = words.fixed(label, result.answer.original_text, result.answer.source)
        yield Reply(
            Kind.ANSWER, f"{lead}\n\n{words.answer(result)}", to=session.route, result=result, label=label,
            total=session.planned, lead=lead,
        )  # fmt: skip
        if result.report is not None:
            async for reply in self.report(user, result.report, session):
                yield reply

    async def progress(self, user: User) -> AsyncIterator[Reply]:
        """/progress: the finished interviews over time, in words and as a chart."""
        entries = await self._engine.progress(user)
        if not entries:
            yield Reply(Kind.NOTE, self._words.no_progress_yet())
            return
        yield Reply(Kind.STATUS, self._words.progress(entries))
        try:
            png = await self._engine.progress_chart(user)
        except Exception:  # the words above already say it all: a chart that fails is logged, not shown
            logger.exception("progress chart failed platform=%s user=%s", user.platform, user.user_id)
            return
        yield _image(png, "progress.png", self._words.progress_chart_title())

    async def report(self, user: User, report: Report, session: SessionView) -> AsyncIterator[Reply]:
        """The report's chart, after its text (which the caller has sent)."""
        if not any(item.score is not None or item.source == "skipped" for item in report.per_question):
            return
        try:
            png = await self._engine.report_chart(user, session_id=session.session_id)
        except errors.NoAnswerYet:
            return
        except Exception:
            logger.exception("report chart failed platform=%s user=%s", user.platform, user.user_id)
            return
        reply = _image(png, "report.png", self._words.report_chart_title())
        yield Reply(reply.kind, reply.text, to=session.route, attachment=reply.attachment)


def index_of(session: SessionView, label: str) -> int | None:
    """The question numbered `label` for people ("3", "3a", "#3", "Q3"), or None."""
    wanted = label.lower().lstrip("#q").strip()
    return next((n for n in range(session.total) if session.label(n) == wanted), None)


def _image(png: bytes, filename: str, title: str) -> Reply:
    attachment = Attachment(kind="image", data=png, mime_type="image/png", filename=filename, title=title)
    return Reply(Kind.FILE, title, attachment=attachment)
