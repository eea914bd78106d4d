"""The interview engine: the one platform-free service every adapter calls."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from engine import errors
from engine.coaching.feedback import analyze_answer, build_report, job_terms
from engine.coaching.questions import plan_questions
from engine.durable import fsync_dir
from engine.locks import LocalLocks, UserLocks
from engine.practice import ProgressEntry, chart_points, compare, corrected_feedback
from engine.practice import progress as progress_entries
from engine.reports import render_progress_chart, render_report_chart
from engine.session import ABANDONED, ACTIVE, COMPLETED, ENDED, STATUSES, Answer, Session, best_attempt
from engine.speech.voices import MIME_TYPES, AudioFormat, SpokenQuestion
from engine.store.base import SessionStore
from engine.team import (
    MAX_COMMENT,
    OWN_QUESTION,
    SCALE,
    Comment,
    Rating,
    Team,
    TeamReport,
    build_team_report,
)
from engine.types import (
    FOLLOW_UP,
    PLATFORMS,
    AudioInput,
    Feedback,
    InterviewSpec,
    Question,
    Report,
    SessionSummary,
    Transcript,
    User,
)
from engine.views import SessionView

logger = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
FIELD_LIMITS = {"role_title": 200, "company_name": 200, "industry": 100, "cv": 50_000, "jd": 50_000}
MAX_TEXT_ANSWER = 20_000
# A set-up form (Telegram's /interview wizard) untouched this long is abandoned: adapters expire theirs sooner.
DRAFT_RETENTION_SECONDS = 7 * 86400
# Telegram and Slack redeliver within hours: a delivery id claimed longer ago than this is forgotten.
DELIVERY_RETENTION_SECONDS = 7 * 86400
# The window of the limit on how many sessions one user may start ([store] max_sessions_per_user_per_day).
SESSION_LIMIT_WINDOW_SECONDS = 86400
# Recordings being received (uploads, chat downloads) are written here, inside the audio folder so that keeping one is
# a rename; one left by a crash is removed by housekeeping once nothing has written to it for INCOMING_STALE_SECONDS.
INCOMING_DIR = "incoming"
INCOMING_STALE_SECONDS = 3600
# Recordings received at once (InterviewEngine.receive_audio); more wait their turn. This bounds what uploads and
# downloads hold in memory together (a Telegram download is buffered whole by python-telegram-bot).
MAX_RECEIVING = 8
# A received recording goes to disk in writes of about this size, off the event loop; copies go in 1 MiB pieces.
UPLOAD_FLUSH_BYTES = 256 * 1024
COPY_CHUNK = 1024 * 1024
# Mime types we know, so saved audio keeps a meaningful extension; anything else is saved as .bin.
AUDIO_EXTENSIONS = {
    "audio/ogg": ".ogg",
    "audio/oga": ".ogg",
    "audio/opus": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/aac": ".aac",
    "video/mp4": ".mp4",
    "audio/webm": ".webm",
    "video/webm": ".webm",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
}


class SpeechService(Protocol):
    """What the engine needs from the speech pipeline (engine.speech.SpeechPipeline)."""

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript: ...

    @property
    def queue_depth(self) -> int: ...

    def has_language(self, language: str) -> bool: ...

    def health(self) -> dict[str, Any]: ...


class AnswerGrader(Protocol):
    """What the engine needs from an optional second grader (engine.coaching.llm.LlmGrader): it never raises, and
    None means "keep the rule feedback"."""

    async def grade(
        self, question: Question, answer: str, spec: InterviewSpec, rule: Feedback, *, voice: bool
    ) -> Feedback | None: ...

    async def summarize(self, answers: list[tuple[Question, str, str, int]]) -> str | None: ...

    def status(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...

    @property
    def max_followups(self) -> int:
        """How many follow-up questions the grader may add to one interview."""
        ...


class QuestionVoice(Protocol):
    """What the engine needs from the question synthesiser (engine.speech.voices.VoiceSynthesizer): `speak` never
    raises, and None means "text only" (no voice, or a failure it has logged)."""

    default_language: str  # the language of the voice that speaks the questions

    def has_voice(self, language: str) -> bool: ...

    async def speak(self, text: str, language: str, fmt: AudioFormat = "ogg") -> SpokenQuestion | None: ...

    def health(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Regraded:
    """An answer whose rule feedback was replaced by the second grader's, after its reply had gone out."""

    session: SessionView
    answer: Answer  # with the new feedback
    previous: Feedback  # the rule feedback the candidate was sent
    # The model's follow-up, now the current question (asked before the one the candidate was sent next).
    follow_up: Question | None = None


@dataclass(frozen=True)
class StartResult:
    """A started (or, for HTTP, resumed) interview and the question to ask."""

    session: SessionView
    question: Question
    resumed: bool = False  # the same HTTP session was started again with the same parameters


@dataclass(frozen=True)
class AnswerResult:
    """What happened to one answer: the record, and either the next question or the final report."""

    session: SessionView
    answer: Answer
    transcript: Transcript | None = None
    next_question: Question | None = None
    report: Report | None = None
    replayed: bool = False  # the client resent an answer already recorded under the same delivery id
    # A retake: how this attempt compares with the one before (engine.practice.compare); None otherwise.
    comparison: dict[str, Any] | None = None
    # Voice answers a restart left pending, recorded just now ahead of this one (oldest first): their replies are
    # still owed to the candidate, before this answer's own.
    earlier: tuple[Recovered, ...] = ()

    @property
    def feedback(self) -> Feedback | None:
        return self.answer.feedback

    @property
    def finished(self) -> bool:
        return self.report is not None


@dataclass(frozen=True)
class Recovered:
    """An answer that was interrupted by a restart, finished now; its reply still owes the candidate."""

    session: SessionView
    result: AnswerResult | None
    error: errors.EngineError | None
    delivery_id: str = ""  # the platform update/event (or Idempotency-Key) that brought the voice answer


class InterviewEngine:
    """Sessions, answers and reports; serialises each user's operations so answers land in order."""

    def __init__(
        self,
        store: SessionStore,
        speech: SpeechService | None,
        *,
        default_language: str = "en-us",
        audio_dir: Path | None = None,
        audio_retention_seconds: float = 7 * 86400,
        max_audio_bytes: int = 20 * 1024 * 1024,
        max_receiving: int = MAX_RECEIVING,
        stale_after_hours: float = 24.0,
        abandon_after_days: float = 30.0,
        max_sessions_per_user_per_day: int | None = 20,
        clock: Callable[[], float] = time.time,
        grader: AnswerGrader | None = None,
        voice: QuestionVoice | None = None,
        locks: UserLocks | None = None,
    ) -> None:
        self._store = store
        self._speech = speech
        self.default_language = default_language
        self._audio_dir = audio_dir
        self._retention = audio_retention_seconds
        self.max_audio_bytes = max_audio_bytes  # adapters refuse larger files before downloading them
        self._receiving = asyncio.Semaphore(max_receiving)
        self.stale_after_hours = stale_after_hours
        self._abandon_after = abandon_after_days * 86400
        self.max_sessions_per_day = max_sessions_per_user_per_day  # None: no limit
        self._clock = clock
        # One change at a time per user, in order: in this process, or across processes with RedisLocks.
        self._locks: UserLocks = locks or LocalLocks()
        # The optional model grader runs after an answer is recorded and replied to, never before.
        self._grader = grader
        self._grading: set[asyncio.Task[Any]] = set()
        self._grading_stopped = False
        self._graded_listeners: list[Callable[[Regraded], Awaitable[None]]] = []
        # The optional question voice: questions also go out spoken where it has a voice; never required.
        self._voice = voice

    # ----- starting and reading -------------------------------------------------------------------------

    async def start(
        self,
        user: User,
        spec: InterviewSpec,
        *,
        session_id: str | None = None,
        route: Mapping[str, Any] | None = None,
        speak_questions: bool = True,
    ) -> StartResult:
        """Plan and store a new interview. Chat users hold one active interview; HTTP names its sessions.

        `speak_questions` is not part of the interview's parameters: an HTTP session started again keeps its own.
        """
        _check_user(user)
        spec = self._validated_spec(spec)
        if session_id is not None:
            _check_id("session_id", session_id)
        async with self._lock(user):
            if session_id is not None:
                existing = await self._load(user, session_id)
                if existing is not None:
                    if existing.spec != spec:
                        raise errors.SessionConflict(
                            f"Session '{session_id}' already exists for this user with different parameters."
                        )
                    question = existing.current_question or existing.questions[-1]
                    return StartResult(SessionView.of(existing), question, resumed=True)
            else:
                active = await asyncio.to_thread(self._store.active_for, user.platform, user.user_id)
                if active is not None:
                    raise errors.SessionInProgress(SessionView.of(Session.from_dict(active)))
                session_id = uuid.uuid4().hex[:12]
            await self._check_session_limit(user)
            seed = secrets.randbits(32)
            questions = plan_questions(spec, seed)
            now = self._clock()
            session = Session(
                platform=user.platform,
                user_id=user.user_id,
                session_id=session_id,
                name=user.name,
                spec=spec,
                seed=seed,
                questions=questions,
                created_at=now,
                updated_at=now,
                route=dict(route or {}),
                speak_questions=bool(speak_questions),
            )
            await self._save(session)
            logger.info(
                "session started platform=%s user=%s session=%s round=%s questions=%d lang=%s",
                user.platform,
                user.user_id,
                session_id,
                spec.round_type,
                len(questions),
                spec.language,
            )
            return StartResult(SessionView.of(session), questions[0])

    async def get_session(self, user: User, session_id: str | None = None) -> SessionView:
        """The named session (any status), or without an id the user's active one."""
        return SessionView.of(await self._find(user, session_id, active_only=session_id is None))

    async def latest_session(self, user: User) -> SessionView:
        """The user's most recent session, finished or not (for reports after the end)."""
        return SessionView.of(await self._latest(user))

    async def current_question(self, user: User, session_id: str | None = None) -> Question:
        session = await self._find(user, session_id, active_only=session_id is None)
        question = session.current_question
        if question is None:
            raise errors.SessionCompleted(SessionView.of(session))
        return question

    # ----- answering --------------------------------------------------------------------------------------

    async def answer_text(
        self, user: User, text: str, *, session_id: str | None = None, delivery_id: str = ""
    ) -> AnswerResult:
        """Record a typed answer to the current question, with the same analysis minus the speech parts.

        With a `delivery_id` (an HTTP client's Idempotency-Key), sending the same answer again returns the
        recorded one instead of answering the next question with it.
        """
        text = (text or "").strip()
        if not text:
            raise errors.InvalidInput({"text": "the answer is empty"})
        if len(text) > MAX_TEXT_ANSWER:
            raise errors.InvalidInput({"text": f"the answer is longer than {MAX_TEXT_ANSWER} characters"})
        _check_delivery_id(delivery_id)
        async with self._lock(user):
            session, replay = await self._answerable(user, session_id, delivery_id)
            if replay is not None:
                return replay
            session, earlier = await self._finish_earlier(user, session)
            result = await self._record(session, source="text", text=text, delivery_id=delivery_id)
            return replace(result, earlier=earlier)

    @contextlib.asynccontextmanager
    async def receive_audio(self) -> AsyncIterator[AudioUpload]:
        """A private file in the audio folder to receive one voice answer into, chunk by chunk, for answer_audio.

        Waits while MAX_RECEIVING others are being received: a recording beyond that waits its turn, it is never
        refused. `AudioUpload.finish` frees the turn (so it is not held while the answer waits for its user's earlier
        ones); leaving frees it too, and deletes the file unless answer_audio has taken it.
        """
        await self._receiving.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._receiving.release()

        try:
            path, handle = await asyncio.to_thread(self._open_incoming)
            try:
                yield AudioUpload(path, handle, self.max_audio_bytes, release)
            finally:
                handle.close()
                path.unlink(missing_ok=True)  # already gone when answer_audio kept it
        finally:
            release()

    async def answer_audio(
        self, user: User, audio: AudioInput, *, session_id: str | None = None, delivery_id: str = ""
    ) -> AnswerResult:
        """Save the voice answer durably, then transcribe and record it.

        A recording given as a file (`audio.path`, from receive_audio) is moved into the user's audio folder, never
        read here; from then on the engine owns it. The user's lock is the first thing awaited, so one user's answers
        are recorded in the order they arrived.
        """
        _check_user(user)
        _check_delivery_id(delivery_id)
        async with self._lock(user):
            session, replay = await self._answerable(user, session_id, delivery_id)
            if replay is not None:
                return replay
            size = audio.size
            if not size:
                raise errors.AudioEmpty()
            if size > self.max_audio_bytes:
                raise errors.AudioTooLarge(size, self.max_audio_bytes)
            if not self.voice_available(session.language):
                raise errors.SpeechUnavailable(session.language)
            session, earlier = await self._finish_earlier(user, session)
            # The same answer resent (its Idempotency-Key) after the process that first took it died: the earlier
            # copy was just recorded, so this one is a replay, not the answer to the next question.
            replay = self._replay(session, delivery_id)
            if replay is not None:
                return replace(replay, earlier=tuple(e for e in earlier if e.delivery_id != delivery_id))
            pending_id = uuid.uuid4().hex[:16]
            audio_file = await asyncio.to_thread(self._write_audio, session, pending_id, audio)
            session.pending.append(
                {
                    "id": pending_id,
                    "audio_file": audio_file,
                    "mime_type": audio.mime_type,
                    "filename": audio.filename,
                    "received_at": self._clock(),
                    "attempts": 0,
                    "failed": False,
                    "delivery_id": delivery_id,
                }
            )
            await self._save(session)
            logger.info(
                "voice answer saved platform=%s user=%s session=%s answer=%s bytes=%d mime=%s queue=%d",
                session.platform,
                session.user_id,
                session.session_id,
                pending_id,
                size,
                audio.mime_type,
                self.queue_depth,
            )
            result = await self._process_pending(user, session.session_id, pending_id)
            return replace(result, earlier=earlier)

    async def retry(self, user: User, *, session_id: str | None = None) -> AnswerResult:
        """Transcribe again the oldest voice answer whose transcription failed, from its saved audio."""
        async with self._lock(user):
            session = await self._find(user, session_id, active_only=session_id is None)
            earlier: tuple[Recovered, ...] = ()
            if session.is_active:
                session, earlier = await self._finish_earlier(user, session)
            failed = [p for p in session.pending if p.get("failed")]
            if not failed:
                raise errors.InvalidInput({"retry": "there is no failed voice answer to retry"})
            result = await self._process_pending(user, session.session_id, failed[0]["id"])
            return replace(result, earlier=earlier)

    async def recover_pending(self, platform: str) -> list[Recovered]:
        """Finish voice answers a crash or restart interrupted; the adapter delivers the replies.

        Requests may be served meanwhile: a new answer from the same user finishes that user's interrupted ones
        first (and carries their replies), so an entry may be gone by the time its turn comes here.
        """
        docs = await asyncio.to_thread(self._store.pending_sessions)
        recovered: list[Recovered] = []
        for doc in docs:
            if doc["platform"] != platform:
                continue
            user = User(doc["platform"], doc["user_id"], doc.get("name", ""))
            for entry in doc["pending"]:
                if entry.get("failed"):
                    continue
                try:
                    async with self._lock(user):
                        current = await self._load(user, doc["session_id"])
                        waiting = current is not None and any(
                            p["id"] == entry["id"] and not p.get("failed") for p in current.pending
                        )
                        if not waiting:
                            logger.info(
                                "interrupted answer already finished platform=%s user=%s session=%s answer=%s",
                                platform,
                                user.user_id,
                                doc["session_id"],
                                entry["id"],
                            )
                            continue
                        logger.info(
                            "recovering interrupted answer platform=%s user=%s session=%s answer=%s",
                            platform,
                            user.user_id,
                            doc["session_id"],
                            entry["id"],
                        )
                        result = await self._process_pending(user, doc["session_id"], entry["id"])
                except errors.EngineError as exc:
                    current = await self._load(user, doc["session_id"])
                    if current is not None:  # None: the user was forgotten meanwhile, nobody to tell
                        recovered.append(Recovered(SessionView.of(current), None, exc, entry.get("delivery_id", "")))
                else:
                    recovered.append(Recovered(result.session, result, None, entry.get("delivery_id", "")))
        return recovered

    async def skip(self, user: User, *, session_id: str | None = None, delivery_id: str = "") -> AnswerResult:
        """Move on without an answer; with a `delivery_id`, a resent skip does not skip a second question."""
        _check_delivery_id(delivery_id)
        async with self._lock(user):
            session, replay = await self._answerable(user, session_id, delivery_id)
            if replay is not None:
                return replay
            session, earlier = await self._finish_earlier(user, session)
            result = await self._record(session, source="skipped", text="", delivery_id=delivery_id)
            return replace(result, earlier=earlier)

    async def end(self, user: User, *, session_id: str | None = None) -> Report:
        """Stop early; what was answered so far stays, and the report covers it."""
        async with self._lock(user):
            session = await self._find(user, session_id, active_only=session_id is None)
            self._require_active(session)
            now = self._clock()
            session.finish(ENDED, now)
            session.updated_at = now
            unfinished = self._settle_pending(session, "the interview was ended")
            await self._save(session)
            self._start_summary(session)
            # Only once the session no longer points at them: a failed save leaves both as they were.
            for relative in unfinished:
                await asyncio.to_thread(self._delete_audio, relative)
            logger.info(
                "session ended early platform=%s user=%s session=%s answered=%d/%d",
                session.platform,
                session.user_id,
                session.session_id,
                session.answered_count,
                session.total,
            )
            return build_report(session)

    async def report(self, user: User, *, session_id: str | None = None) -> Report:
        """The report of the named session, or of the user's latest one (so far, if still running)."""
        session = (
            await self._find(user, session_id, active_only=False)
            if session_id is not None
            else await self._latest(user)
        )
        return build_report(session)

    # ----- team interviews -----------------------------------------------------------------------------------------

    async def start_team(
        self,
        space: User,
        spec: InterviewSpec,
        *,
        candidate: User,
        interviewer: User | None = None,
        place: str = "",
        route: Mapping[str, Any] | None = None,
    ) -> StartResult:
        """Plan an interview held in a shared space (`space`: its key as the user, see engine.team.space_id) for
        `candidate`, started by `interviewer` (None: by the candidate). Nothing is asked until the candidate accepts.

        The CV and job description never reach a shared space, so a team interview is planned without them (and so
        without CV-based gap questions).
        """
        _check_user(space)
        _check_user(candidate)
        spec = replace(self._validated_spec(spec), cv="", jd="")
        async with self._lock(space):
            active = await asyncio.to_thread(self._store.active_for, space.platform, space.user_id)
            if active is not None:
                raise errors.SessionInProgress(SessionView.of(Session.from_dict(active)))
            await self._check_session_limit(space)
            now = self._clock()
            seed = secrets.randbits(32)
            questions = plan_questions(spec, seed)
            runner = interviewer if interviewer is not None and interviewer.user_id != candidate.user_id else None
            session = Session(
                platform=space.platform,
                user_id=space.user_id,
                session_id=uuid.uuid4().hex[:12],
                name=space.name,
                spec=spec,
                seed=seed,
                questions=questions,
                created_at=now,
                updated_at=now,
                route=dict(route or {}),
                team=Team(
                    candidate=candidate.user_id,
                    candidate_name=candidate.name,
                    interviewer=runner.user_id if runner else "",
                    interviewer_name=runner.name if runner else "",
                    place=place,
                ),
            )
            await self._save(session)
            logger.info(
                "team interview started platform=%s space=%s session=%s candidate=%s interviewer=%s questions=%d",
                space.platform, space.user_id, session.session_id, candidate.user_id,
                runner.user_id if runner else "-", len(questions),
            )  # fmt: skip
            return StartResult(SessionView.of(session), questions[0])

    async def accept_team(self, space: User, person: User) -> StartResult:
        """The candidate accepts: the first question may be asked. Accepting twice changes nothing."""
        async with self._lock(space):
            session = await self._team_session(space)
            if person.user_id != _team(session).candidate:
                raise errors.NotAllowed("not_candidate")
            self._require_active(session)
            if not _team(session).accepted:
                session.team = replace(_team(session), accepted=True)
                session.updated_at = self._clock()
                await self._save(session)
                logger.info("team interview accepted platform=%s space=%s", space.platform, space.user_id)
            question = session.current_question
            assert question is not None  # active and accepted just now: nothing answered yet
            return StartResult(SessionView.of(session), question)

    async def decline_team(self, space: User, person: User) -> SessionView:
        """The candidate says "not now", or the interviewer withdraws the invitation: the interview ends before any
        question, and nothing more is asked. Once the candidate has accepted, it is ended as any interview is."""
        async with self._lock(space):
            session = await self._team_session(space)
            team = _team(session)
            if not team.runs_it(person.user_id):
                raise errors.NotAllowed("not_runner" if team.interviewer else "not_candidate")
            self._require_active(session)
            if team.accepted:
                raise errors.NotAllowed("accepted")
            session.status = ENDED
            session.finished_at = session.updated_at = self._clock()
            await self._save(session)
            logger.info(
                "team interview declined platform=%s space=%s by=%s", space.platform, space.user_id, person.user_id
            )
            return SessionView.of(session)

    async def rate(
        self,
        space: User,
        rater: User,
        index: int,
        *,
        overall: float | None = None,
        content: int | None = None,
        structure: int | None = None,
        delivery: int | None = None,
        comment: str = "",
        session_id: str | None = None,
        delivery_id: str = "",
    ) -> AnswerResult:
        """A teammate's 1-5 rating of the answer to question `index`: the three parts (overall is then their mean),
        or the overall alone. Anyone but the candidate may rate, once per answer: a second rating replaces the
        first. A redelivery (the same `delivery_id`) records nothing new. Returns the rated answer, as it counts."""
        _check_user(rater)
        _check_delivery_id(delivery_id)
        comment = " ".join((comment or "").split())[:MAX_COMMENT]
        parts = {"content": content, "structure": structure, "delivery": delivery}
        for name, value in (*parts.items(), ("overall", overall)):
            if value is not None and (isinstance(value, bool) or not SCALE[0] <= value <= SCALE[1]):
                raise errors.InvalidInput({name: f"must be a rating from {SCALE[0]} to {SCALE[1]}"})
        given = [v for v in parts.values() if v is not None]
        if overall is None:
            if len(given) != len(parts):
                raise errors.InvalidInput({"rating": "give content, structure and delivery, or an overall rating"})
            overall = round(sum(given) / len(given), 1)
        async with self._lock(space):
            session = await self._team_session(space, session_id)
            team = _team(session)
            if rater.user_id == team.candidate:
                raise errors.NotAllowed("own_answer")
            rated = [a for a in session.answers if a.index == index and a.source != "skipped"]
            if isinstance(index, bool) or not isinstance(index, int) or not rated:
                raise errors.NotAllowed("no_answer")
            if not team.seen(delivery_id):
                rating = Rating(
                    index=index, rater=rater.user_id, rater_name=rater.name, overall=float(overall), comment=comment,
                    at=self._clock(), delivery_id=delivery_id, **parts,
                )  # fmt: skip
                kept = tuple(r for r in team.ratings if (r.index, r.rater) != (index, rater.user_id))
                session.team = replace(team, ratings=(*kept, rating))
                session.updated_at = self._clock()
                await self._save(session)
                logger.info(
                    "answer rated platform=%s space=%s session=%s question=%d rater=%s overall=%.1f replaced=%s",
                    space.platform, space.user_id, session.session_id, index + 1, rater.user_id, overall,
                    len(kept) < len(team.ratings),
                )  # fmt: skip
            answer = best_attempt(session.attempts(index))
            return AnswerResult(session=SessionView.of(session), answer=answer)

    async def comment(
        self,
        space: User,
        author: User,
        text: str,
        *,
        voice: bool = False,
        index: int | None = None,
        delivery_id: str = "",
    ) -> SessionView:
        """Keep what a teammate said in the space, on answer `index` (the question's, where they replied to it) or the
        latest answer: the report shows it beside that answer. A voice note from anyone but the candidate is a
        comment too, never transcribed."""
        _check_user(author)
        _check_delivery_id(delivery_id)
        text = (text or "").strip()[:MAX_COMMENT]
        if not text and not voice:
            raise errors.InvalidInput({"text": "the comment is empty"})
        async with self._lock(space):
            session = await self._team_session(space)
            team = _team(session)
            if team.seen(delivery_id):
                return SessionView.of(session)
            latest = max(session.answers, key=lambda a: a.answered_at, default=None)
            if index is None or not any(a.index == index for a in session.answers):
                index = latest.index if latest is not None else -1
            note = Comment(
                index=index, author=author.user_id, author_name=author.name,
                text=text, at=self._clock(), delivery_id=delivery_id, voice=voice,
            )  # fmt: skip
            session.team = replace(team, comments=(*team.comments, note))
            session.updated_at = self._clock()
            await self._save(session)
            return SessionView.of(session)

    async def ask_own_question(self, space: User, person: User, text: str) -> StartResult:
        """The interviewer's own question, asked next in place of the one waiting (which comes after it), and judged
        with the generic rubric (or by the model grader where one is configured)."""
        text = " ".join((text or "").split())
        if not text:
            raise errors.InvalidInput({"question": "is empty"})
        if len(text) > FIELD_LIMITS["role_title"] * 5:
            raise errors.InvalidInput({"question": f"must be at most {FIELD_LIMITS['role_title'] * 5} characters"})
        async with self._lock(space):
            session = await self._team_session(space)
            team = _team(session)
            if person.user_id != team.interviewer:
                raise errors.NotAllowed("not_interviewer")
            self._require_active(session)
            if not team.accepted:
                raise errors.NotAllowed("not_accepted")
            if session.pending or session.retake is not None:
                raise errors.InvalidInput({"question": "an answer is still being processed; ask it after"})
            own = sum(1 for q in session.questions if q.category == OWN_QUESTION)
            question = Question(id=f"own-{own + 1}", category=OWN_QUESTION, text=text)
            session.questions.insert(session.position, question)
            session.updated_at = self._clock()
            await self._save(session)
            logger.info(
                "interviewer's question added platform=%s space=%s session=%s at=%d",
                space.platform, space.user_id, session.session_id, session.position + 1,
            )  # fmt: skip
            return StartResult(SessionView.of(session), question)

    async def move_team(self, old: User, new: User, *, route: Mapping[str, Any]) -> SessionView | None:
        """The running team interview of space `old` goes to space `new` (a Telegram group upgraded to a supergroup has
        a new id), with its new `route`; None when `old` runs none or `new` runs one already. Moved once: a second
        notice of the same move finds nothing left to move."""
        async with self._lock(old), self._lock(new):
            try:
                session = await self._find(old, None, active_only=True)
            except errors.SessionNotFound:
                return None
            running = await asyncio.to_thread(self._store.active_for, new.platform, new.user_id)
            if session.team is None or running is not None:
                return None
            moved = Session.from_dict({**session.to_dict(), "user_id": new.user_id, "route": dict(route), "rev": 0})
            moved.name = new.name or session.name
            moved.updated_at = self._clock()
            await self._save(moved)  # first the new copy: a crash before the removal leaves a copy, never none
            await asyncio.to_thread(self._store.delete_session, old.platform, old.user_id, session.session_id)
            logger.info(
                "team interview moved platform=%s from=%s to=%s session=%s",
                old.platform, old.user_id, new.user_id, session.session_id,
            )  # fmt: skip
            return SessionView.of(moved)

    async def team_interview_of(self, candidate: User, *, active_only: bool = False) -> SessionView | None:
        """The latest team interview (on the candidate's platform) in which this person is the candidate: for /end and
        /report from a private chat when the channel or group is out of reach (they left it, the thread is gone).

        A look through the platform's team interviews, for a rare command, never on an answer's path.
        """
        docs = await asyncio.to_thread(self._store.space_sessions, candidate.platform)
        for doc in docs:  # most recently updated first
            team = doc.get("team") or {}
            if team.get("candidate") == candidate.user_id and (doc.get("status") == ACTIVE or not active_only):
                return SessionView.of(Session.from_dict(doc))
        return None

    async def team_report(self, space: User, *, session_id: str | None = None) -> TeamReport:
        """The team's side of the report: per answer the bot's score beside the team's average and comments."""
        session = (
            await self._find(space, session_id, active_only=False)
            if session_id is not None
            else await self._latest(space)
        )
        if session.team is None:
            raise errors.SessionNotFound()
        return build_team_report(session, session.team, build_report(session).overall_score)

    async def _team_session(self, space: User, session_id: str | None = None) -> Session:
        """The space's interview (its active one, or the named one); SessionNotFound when there is no team interview."""
        session = (
            await self._find(space, session_id, active_only=False)
            if session_id is not None
            else await self._find(space, None, active_only=True)
        )
        if session.team is None:
            raise errors.SessionNotFound()
        return session

    # ----- practising again ---------------------------------------------------------------------------------------

    async def retake(
        self, user: User, *, session_id: str | None = None, question_index: int | None = None
    ) -> SessionView:
        """Ask question `question_index` (0-based; default the last one answered) again: the next answer is a new
        attempt at it, compared with the one before, and the interview then carries on where it was. Every attempt
        is kept; the report counts the best.

        Without a running interview (or with the id of a finished one) it is the latest finished interview that is
        reopened for this one retake: after the answer it is finished again, with its report brought up to date.
        """
        if question_index is not None and (isinstance(question_index, bool) or not isinstance(question_index, int)):
            raise errors.InvalidInput({"question_index": "must be a whole number"})
        async with self._lock(user):
            session = await self._retakeable(user, session_id)
            reached = sorted({a.index for a in session.answers})
            if not reached:
                raise errors.NoAnswerYet()
            index = max(reached, key=lambda n: max(a.answered_at for a in session.attempts(n)))
            if question_index is not None:
                if question_index not in reached:
                    raise errors.InvalidInput(
                        {"question_index": f"question {question_index + 1} has not been answered or skipped yet"}
                    )
                index = question_index
            if session.pending:
                raise errors.InvalidInput({"question_index": "a voice answer is still being processed; retry after"})
            if not session.is_active:
                session.reopened, session.status = session.status, ACTIVE
            session.retake = index
            session.updated_at = self._clock()
            await self._save(session)
            logger.info(
                "retake asked platform=%s user=%s session=%s question=%d attempt=%d reopened=%s",
                session.platform, session.user_id, session.session_id, index + 1, len(session.attempts(index)) + 1,
                session.reopened or "-",
            )  # fmt: skip
            return SessionView.of(session)

    async def _retakeable(self, user: User, session_id: str | None) -> Session:
        """The interview a retake goes to: the running one, else the latest finished (completed or ended early) one
        while no other runs. An abandoned interview or a team one (held by its space) is not reopened."""
        if session_id is None:
            try:
                return await self._find(user, None, active_only=True)
            except errors.SessionNotFound:
                session = await self._latest(user)
        else:
            session = await self._find(user, session_id, active_only=False)
        if session.is_active:
            return session
        if session.status not in (COMPLETED, ENDED) or session.team is not None:
            raise errors.SessionCompleted(SessionView.of(session))
        active = await asyncio.to_thread(self._store.active_for, user.platform, user.user_id)
        if active is not None:
            raise errors.SessionInProgress(SessionView.of(Session.from_dict(active)))
        return session

    async def correct(
        self, user: User, text: str, *, session_id: str | None = None, answer_index: int | None = None
    ) -> AnswerResult:
        """Replace what the recogniser heard in answer `answer_index` (0-based question index; default the last
        answer) with the candidate's words: the content is judged again on them, the delivery stays as the audio
        showed it, and the original transcript is kept. Works on a finished interview too (its report changes)."""
        text = (text or "").strip()
        if not text:
            raise errors.InvalidInput({"text": "the corrected text is empty"})
        if len(text) > MAX_TEXT_ANSWER:
            raise errors.InvalidInput({"text": f"the corrected text is longer than {MAX_TEXT_ANSWER} characters"})
        async with self._lock(user):
            session = (
                await self._find(user, session_id, active_only=False)
                if session_id is not None
                else await self._latest(user)
            )
            answered = [a for a in session.answers if a.source != "skipped"]
            if not answered:
                raise errors.NoAnswerYet()
            if answer_index is None:
                target = max(answered, key=lambda a: a.answered_at)
            else:
                if isinstance(answer_index, bool) or not isinstance(answer_index, int):
                    raise errors.InvalidInput({"answer_index": "must be a whole number"})
                tries = [a for a in answered if a.index == answer_index]
                if not tries:
                    raise errors.InvalidInput({"answer_index": f"question {answer_index + 1} has no answer to correct"})
                target = max(tries, key=lambda a: a.attempt)
            assert target.feedback is not None  # recorded answers always carry feedback
            reread = analyze_answer(target.question, text, job_terms=job_terms(session.spec))
            feedback = corrected_feedback(target.feedback, reread) if target.source == "voice" else reread
            updated = replace(target, text=text, original_text=target.original_text or target.text, feedback=feedback)
            position = session.answers.index(target)
            session.answers[position] = updated
            session.updated_at = self._clock()
            await self._save(session)
            logger.info(
                "transcript corrected platform=%s user=%s session=%s question=%d attempt=%d score=%d->%d",
                session.platform, session.user_id, session.session_id, target.index + 1, target.attempt,
                target.feedback.score, feedback.score,
            )  # fmt: skip
            self._start_regrade(session, updated)
            return AnswerResult(
                session=SessionView.of(session),
                answer=updated,
                next_question=session.current_question,
                report=build_report(session) if not session.is_active else None,
            )

    async def recording(self, user: User, session_id: str, index: int, attempt: int = 1) -> Path | None:
        """The kept recording of one attempt at question `index` (0-based) of this user's session, or None (a typed
        answer or a skip, no such attempt, or a recording past its retention period). The path comes from the stored
        answer and must lie inside the audio folder: nothing a caller sends becomes a path.
        errors.SessionNotFound for a session that is not this user's."""
        session = await self._find(user, session_id, active_only=False)
        answer = next((a for a in session.answers if a.index == index and a.attempt == attempt), None)
        if answer is None or answer.source != "voice" or not answer.audio_file or self._audio_dir is None:
            return None
        root = self._audio_dir.resolve()
        path = (root / answer.audio_file).resolve()
        if not path.is_relative_to(root):
            logger.warning("recording outside the audio folder refused session=%s answer=%d", session_id, index)
            return None
        return path if await asyncio.to_thread(path.is_file) else None

    async def progress(self, user: User) -> list[ProgressEntry]:
        """The candidate's finished interviews over time, oldest first, with the figures that show progress."""
        _check_user(user)
        docs = await asyncio.to_thread(self._store.sessions_for, user.platform, user.user_id)
        sessions = [Session.from_dict(doc) for doc in docs]
        scores = {s.session_id: build_report(s).overall_score for s in sessions if s.finished}
        return progress_entries(sessions, scores)

    async def report_chart(self, user: User, *, session_id: str | None = None) -> bytes:
        """The report as a picture (PNG): score per question with its parts, pace against the band, fillers and
        pauses. Drawn in a worker thread. errors.NoAnswerYet when no question has been reached."""
        session = (
            await self._find(user, session_id, active_only=False)
            if session_id is not None
            else await self._latest(user)
        )
        points = chart_points(session)
        if not points:
            raise errors.NoAnswerYet()
        title = f"{session.spec.role_title} at {session.spec.company_name}"
        return await asyncio.to_thread(render_report_chart, points, title)

    async def progress_chart(self, user: User) -> bytes:
        """The candidate's progress as a picture (PNG); errors.NoAnswerYet before a first finished interview."""
        entries = await self.progress(user)
        if not entries:
            raise errors.NoAnswerYet("There is no finished interview yet: finish one to see your progress.")
        points = [entry.point() for entry in entries]
        return await asyncio.to_thread(render_progress_chart, points, "Your interviews over time")

    async def set_language(self, user: User, language: str, *, session_id: str | None = None) -> SessionView:
        """Switch the language that the active interview's voice answers are transcribed in."""
        language = language.strip().lower()
        if not LANGUAGE_PATTERN.fullmatch(language):
            raise errors.InvalidInput({"language": f"'{language}' is not a language code such as en-us or ko"})
        async with self._lock(user):
            session = await self._find(user, session_id, active_only=session_id is None)
            self._require_active(session)
            session.spec = InterviewSpec.from_dict({**session.spec.to_dict(), "language": language})
            session.updated_at = self._clock()
            await self._save(session)
            return SessionView.of(session)

    async def set_route(self, user: User, route: Mapping[str, Any], *, session_id: str | None = None) -> SessionView:
        """Replace where the adapter sends this interview's replies (e.g. the Slack thread it opened).

        The route is the adapter's own; it is not activity, so the session's `updated_at` stays as it was.
        """
        if not isinstance(route, Mapping):
            raise errors.InvalidInput({"route": "must be a mapping"})
        async with self._lock(user):
            session = await self._find(user, session_id, active_only=session_id is None)
            self._require_active(session)
            session.route = dict(route)
            await self._save(session)
            return SessionView.of(session)

    # ----- spoken questions ---------------------------------------------------------------------------------------

    @property
    def can_speak_questions(self) -> bool:
        """Whether any question can be spoken: a voice configured, turned on, and found for the questions' language."""
        return self._voice is not None and self._voice.has_voice(self._voice.default_language)

    def voice_for(self, session: SessionView) -> bool:
        """Whether this session's questions go out spoken too: a voice for them, and the candidate did not turn it off.

        Questions are written in English (the question bank), so the English voice (the synthesiser's default
        language) speaks them whatever `session.language` is: that is the language the candidate answers in, for the
        recogniser.
        """
        return session.speak_questions and self.can_speak_questions

    async def set_speak_questions(self, user: User, on: bool, *, session_id: str | None = None) -> SessionView:
        """Turn spoken questions on or off for the active interview (the candidate's /voice on|off); kept in it."""
        async with self._lock(user):
            session = await self._find(user, session_id, active_only=session_id is None)
            self._require_active(session)
            session.speak_questions = bool(on)
            session.updated_at = self._clock()
            await self._save(session)
            logger.info(
                "spoken questions %s platform=%s user=%s session=%s",
                "on" if on else "off", session.platform, session.user_id, session.session_id,
            )  # fmt: skip
            return SessionView.of(session)

    async def question_audio(self, user: User, session_id: str, index: int, fmt: str = "ogg") -> SpokenQuestion | None:
        """The question at `index` (0-based) of this user's session, spoken for the ear in `fmt` ("ogg" or "mp3").

        errors.SessionNotFound for a session that is not this user's; errors.QuestionNotFound for an index out of
        range or a question not asked yet (past the current one). None when there is no voice to speak it (none
        installed, voice off, or a synthesis that failed and was logged). The candidate's speak_questions does not
        matter here: it decides whether audio is offered, not whether a client that asks may have it.
        """
        if isinstance(index, bool) or not isinstance(index, int):
            raise errors.InvalidInput({"question_index": "must be a whole number"})
        if fmt not in MIME_TYPES:
            raise errors.InvalidInput({"format": f"must be one of {', '.join(MIME_TYPES)}"})
        session = await self._find(user, session_id, active_only=False)
        # The current question has been asked (shown) already; a finished interview asked every question it reached.
        asked = min(session.position, len(session.questions) - 1)
        if not 0 <= index <= asked:
            raise errors.QuestionNotFound(
                f"Question index {index} has not been asked in this session (asked so far: 0-{asked})."
            )
        if self._voice is None:
            return None
        fmt_checked: AudioFormat = "mp3" if fmt == "mp3" else "ogg"
        # English questions, English voice (see voice_for).
        return await self._voice.speak(session.questions[index].text, self._voice.default_language, fmt_checked)

    # ----- admin and housekeeping -------------------------------------------------------------------------

    async def list_sessions(
        self,
        *,
        status: str | None = None,
        platform: str | None = None,
        user_id: str | None = None,
        stale_only: bool = False,
        stale_after_hours: float | None = None,
    ) -> list[SessionSummary]:
        """Who is interviewing, newest activity first; stale = active but silent for too long."""
        if status is not None and status not in STATUSES:
            raise errors.InvalidInput({"status": f"must be one of {', '.join(STATUSES)}"})
        if platform is not None and platform not in PLATFORMS:
            raise errors.InvalidInput({"platform": f"must be one of {', '.join(PLATFORMS)}"})
        hours = self.stale_after_hours if stale_after_hours is None else stale_after_hours
        cutoff = self._clock() - hours * 3600
        docs = await asyncio.to_thread(self._store.list_sessions, include_finished=status != ACTIVE)
        rows = []
        for doc in docs:
            stale = doc["status"] == ACTIVE and doc["updated_at"] < cutoff
            if (
                (status and doc["status"] != status)
                or (platform and doc["platform"] != platform)
                or (user_id and doc["user_id"] != user_id)
                or (stale_only and not stale)
            ):
                continue
            spec = doc["spec"]
            rows.append(
                SessionSummary(
                    platform=doc["platform"],
                    user_id=doc["user_id"],
                    name=doc.get("name", ""),
                    session_id=doc["session_id"],
                    role_title=spec["role_title"],
                    company_name=spec["company_name"],
                    round_type=spec["round_type"],
                    status=doc["status"],
                    answered=sum(1 for a in doc["answers"] if a["source"] != "skipped"),
                    total=len(doc["questions"]),
                    failed_answers=sum(1 for p in doc.get("pending", ()) if p.get("failed")),
                    created_at=doc["created_at"],
                    updated_at=doc["updated_at"],
                    stale=stale,
                    **_team_columns(doc),
                )
            )
        rows.sort(key=lambda r: r.updated_at, reverse=True)
        return rows

    async def forget(self, user: User) -> int:
        """Delete every session and every saved recording of this user, and what team interviews keep of them: those
        they were the candidate of go whole, and elsewhere their ratings, comments and name as the interviewer.
        Returns how many sessions went."""
        _check_user(user)
        async with self._lock(user):
            docs = await asyncio.to_thread(self._store.delete_user, user.platform, user.user_id)
            if self._audio_dir is not None:
                await asyncio.to_thread(self._delete_user_audio, user)
        deleted, redacted = await self._forget_in_teams(user)
        logger.info(
            "user forgotten platform=%s user=%s sessions=%d team_interviews_deleted=%d team_interviews_redacted=%d",
            user.platform, user.user_id, len(docs), deleted, redacted,
        )  # fmt: skip
        return len(docs) + deleted

    async def _forget_in_teams(self, user: User) -> tuple[int, int]:
        """The team interviews (held by their spaces) that keep something of `user`: deleted with their recordings
        where they were the candidate, else rid of them. A look through the platform's team interviews."""
        docs = await asyncio.to_thread(self._store.space_sessions, user.platform)
        deleted = redacted = 0
        for doc in docs:
            team = doc.get("team")
            if not team or not Team.from_dict(team).involves(user.user_id):
                continue
            space = User(user.platform, doc["user_id"], doc.get("name", ""))
            async with self._lock(space):
                session = await self._load(space, doc["session_id"])
                if session is None or session.team is None:  # gone meanwhile (moved, or its candidate forgotten)
                    continue
                if session.team.candidate == user.user_id:
                    sid = session.session_id
                    await asyncio.to_thread(self._store.delete_session, space.platform, space.user_id, sid)
                    recordings = [a.audio_file for a in session.answers] + [p["audio_file"] for p in session.pending]
                    for recording in recordings:
                        await asyncio.to_thread(self._delete_audio, recording)
                    deleted += 1
                else:
                    session.team = session.team.without(user.user_id)
                    session.updated_at = self._clock()
                    await self._save(session)
                    redacted += 1
        return deleted, redacted

    async def get_draft(self, user: User) -> dict[str, Any] | None:
        """A set-up form the user is part-way through (e.g. Telegram's /interview wizard), if any."""
        _check_user(user)
        return await asyncio.to_thread(self._store.get_draft, user.platform, user.user_id)

    async def save_draft(self, user: User, draft: dict[str, Any]) -> None:
        """Keep a set-up form's answers so far, so a restart in the middle of setting up loses nothing."""
        _check_user(user)
        await asyncio.to_thread(self._store.put_draft, user.platform, user.user_id, draft, saved_at=self._clock())

    async def clear_draft(self, user: User) -> None:
        _check_user(user)
        await asyncio.to_thread(self._store.delete_draft, user.platform, user.user_id)

    async def first_delivery(self, platform: str, delivery_id: str) -> bool:
        """True the first time a platform delivers this update/event id, False for redeliveries."""
        return await asyncio.to_thread(self._store.claim_delivery, platform, str(delivery_id), claimed_at=self._clock())

    async def inbox_put(self, platform: str, delivery_id: str, payload: Mapping[str, Any]) -> bool:
        """Keep a platform update (plain JSON) received but not yet handled, durably; False for a redelivery.

        The adapter calls this before it acknowledges the update, and inbox_done once the update is handled, so an
        update a crash interrupts is neither lost nor, when the platform sends it again, handled twice.
        """
        return await asyncio.to_thread(
            self._store.inbox_put, platform, str(delivery_id), dict(payload), received_at=self._clock()
        )

    async def inbox_done(self, platform: str, delivery_id: str) -> None:
        """The update was handled (its answer recorded or its final reply sent): out of the inbox, seen for good."""
        await asyncio.to_thread(self._store.inbox_done, platform, str(delivery_id), done_at=self._clock())

    async def inbox_pending(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        """Updates received but not handled when the process stopped, oldest first: (delivery id, payload)."""
        return await asyncio.to_thread(self._store.inbox_pending, platform)

    async def inbox_orphans(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        """Updates another process received and died before handling (several processes on one store)."""
        return await asyncio.to_thread(self._store.inbox_orphans, platform)

    async def housekeeping(self) -> tuple[int, int]:
        """Remove recordings past the retention period and set-up drafts left for days: (files, drafts).

        A failed voice answer keeps its recording for /retry until the retention period ends; then the answer
        is given up (dropped from its session) and its recording goes with the others.
        """
        now = self._clock()
        drafts = await asyncio.to_thread(self._store.purge_drafts, now - DRAFT_RETENTION_SECONDS)
        await self._tidy_store(now)
        if self._audio_dir is None:
            return 0, drafts
        cutoff = now - self._retention
        await self._expire_failed(cutoff)
        return await asyncio.to_thread(self._purge_audio, cutoff), drafts

    async def _tidy_store(self, now: float) -> None:
        """Forget old delivery ids and close sessions idle for too long; a failure is logged, not fatal to the rest."""
        try:
            await asyncio.to_thread(self._store.purge_deliveries, now - DELIVERY_RETENTION_SECONDS)
        except Exception:
            logger.exception("old delivery ids could not be purged; trying again next time")
        abandoned = await self._abandon_idle(now - self._abandon_after)
        if abandoned:
            logger.info("housekeeping abandoned %d idle sessions", abandoned)

    async def _abandon_idle(self, idle_before: float) -> int:
        """Close active sessions untouched since the cutoff: they go to the archive with status "abandoned".

        A session still holding a voice answer owed a reply is left for recovery; failed answers are settled as when
        an interview ends (their recordings go with the retention period).
        """
        docs = await asyncio.to_thread(self._store.idle_sessions, idle_before)
        abandoned = 0
        for doc in docs:
            user = User(doc["platform"], doc["user_id"], doc.get("name", ""))
            try:
                async with self._lock(user):
                    session = await self._load(user, doc["session_id"])
                    if session is None or not session.is_active or _last_activity(session) >= idle_before:
                        continue  # answered, ended or forgotten meanwhile
                    if any(not entry.get("failed") for entry in session.pending):
                        continue
                    self._settle_pending(session, "the interview was abandoned")
                    if session.reopened:  # a retake of a finished interview left unanswered: back to how it was
                        session.status, session.reopened, session.retake = session.reopened, "", None
                        session.updated_at = self._clock()
                        await self._save(session)
                        logger.info(
                            "retake left unanswered; interview finished as before platform=%s user=%s session=%s",
                            user.platform, user.user_id, session.session_id,
                        )  # fmt: skip
                        continue
                    session.status = ABANDONED
                    session.finished_at = self._clock()
                    await self._save(session)
            except Exception:
                logger.exception(
                    "idle session could not be abandoned platform=%s user=%s session=%s",
                    doc["platform"],
                    doc["user_id"],
                    doc["session_id"],
                )
                continue
            abandoned += 1
            logger.info(
                "session abandoned after %.0f days without activity platform=%s user=%s session=%s answered=%d/%d",
                self._abandon_after / 86400,
                session.platform,
                session.user_id,
                session.session_id,
                session.answered_count,
                session.total,
            )
        return abandoned

    async def check_can_start(self, user: User) -> None:
        """Raise TooManySessions if a new session would be refused now (before ending one to make room for it)."""
        _check_user(user)
        async with self._lock(user):
            await self._check_session_limit(user)

    async def _check_session_limit(self, user: User) -> None:
        """Refuse a new session past the user's limit for the last 24 hours; the caller holds the user's lock."""
        limit = self.max_sessions_per_day
        if limit is None:
            return
        now = self._clock()
        cutoff = now - SESSION_LIMIT_WINDOW_SECONDS
        started = await asyncio.to_thread(self._store.created_since, user.platform, user.user_id, cutoff)
        started = [created for created in started if created > cutoff]  # exactly a day old has left the window
        if len(started) < limit:
            return
        # The next start is allowed once enough of these have left the window.
        retry_after = started[len(started) - limit] + SESSION_LIMIT_WINDOW_SECONDS - now
        logger.info(
            "session refused, daily limit platform=%s user=%s started=%d limit=%d",
            user.platform,
            user.user_id,
            len(started),
            limit,
        )
        raise errors.TooManySessions(limit, retry_after)

    @property
    def queue_depth(self) -> int:
        return self._speech.queue_depth if self._speech is not None else 0

    def voice_available(self, language: str) -> bool:
        return self._speech is not None and self._speech.has_language(language)

    async def health(self) -> dict[str, Any]:
        store_ok = await asyncio.to_thread(self._store.ping)
        stats = await asyncio.to_thread(self._store.stats) if store_ok else {}
        speech = self._speech.health() if self._speech is not None else {"available": False}
        llm = self._grader.status() if self._grader is not None else {"configured": False}
        voice = (
            {**self._voice.health(), "speaks_questions": self.can_speak_questions}
            if self._voice is not None
            else {"enabled": False, "speaks_questions": False}
        )
        return {
            "store": {"ok": store_ok, **stats},
            "speech": speech,
            "queue_depth": self.queue_depth,
            "llm": llm,
            "voice": voice,
        }

    # ----- the optional model grader ------------------------------------------------------------------------------

    def add_graded_listener(self, listener: Callable[[Regraded], Awaitable[None]]) -> None:
        """Call `listener` each time the model's feedback replaces an answer's rule feedback (adapters show it)."""
        self._graded_listeners.append(listener)

    async def wait_graded(self) -> None:
        """Wait for every background grading started so far (tests; a clean shutdown)."""
        while self._grading:
            await asyncio.gather(*list(self._grading), return_exceptions=True)

    async def stop_grading(self, grace: float) -> None:
        """At shutdown: let gradings under way finish for up to `grace` seconds (their edits still reach the
        candidates), start no more, cancel the rest (their rule feedback stays), and close the model's client."""
        if self._grader is None:
            return
        self._grading_stopped = True
        pending = list(self._grading)
        if pending:
            logger.info("waiting up to %.0fs for %d model grading(s)", grace, len(pending))
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
                logger.warning(
                    "%d model grading(s) cut short by the shutdown; their answers keep the rules' feedback", len(late)
                )
        await self._grader.close()

    def _start_regrade(self, session: Session, answer: Answer) -> None:
        if self._grader is None or self._grading_stopped or answer.feedback is None or answer.source == "skipped":
            return
        user = User(session.platform, session.user_id, session.name)
        task = asyncio.get_running_loop().create_task(
            self.regrade(user, session.session_id, answer.index, attempt=answer.attempt)
        )
        self._grading.add(task)
        task.add_done_callback(self._grading.discard)

    def _start_summary(self, session: Session) -> None:
        if self._grader is None or self._grading_stopped or not session.answered_count:
            return
        user = User(session.platform, session.user_id, session.name)
        # After the gradings already under way, so the summary reads the model's feedback where there is one.
        earlier = list(self._grading)
        task = asyncio.get_running_loop().create_task(self._summary_after(earlier, user, session.session_id))
        self._grading.add(task)
        task.add_done_callback(self._grading.discard)

    async def _summary_after(self, earlier: list[asyncio.Task[Any]], user: User, session_id: str) -> None:
        await asyncio.gather(*earlier, return_exceptions=True)
        await self.summarize(user, session_id)

    async def summarize(self, user: User, session_id: str) -> str | None:
        """Ask the model for a short written summary of a finished interview and keep it in the session, where the
        report shows it; None when there is no grader or the model failed (the report is then as without one)."""
        if self._grader is None:
            return None
        try:
            session = await self._find(user, session_id, active_only=False)
            answers = [
                (a.question, a.source, a.text, a.feedback.score)
                for a in sorted(session.answers, key=lambda a: a.index)
                if a.source != "skipped" and a.feedback is not None
            ]
            summary = await self._grader.summarize(answers)
            if not summary:
                return None
            async with self._lock(user):
                session = await self._find(user, session_id, active_only=False)
                session.summary = summary
                await self._save(session)
            logger.info("interview summarised platform=%s user=%s session=%s", user.platform, user.user_id, session_id)
            return summary
        except errors.EngineError as exc:
            logger.info("summary skipped user=%s session=%s: %s", user.user_id, session_id, type(exc).__name__)
        except Exception:
            logger.exception("summary failed platform=%s user=%s session=%s", user.platform, user.user_id, session_id)
        return None

    async def regrade(self, user: User, session_id: str, index: int, *, attempt: int = 1) -> Regraded | None:
        """Grade answer `index` with the model and store its feedback in place of the rules'; None when there is no
        grader, the answer is gone or changed, or the model failed (the rule feedback then stays). Never raises."""
        if self._grader is None:
            return None
        try:
            session = await self._find(user, session_id, active_only=False)
            answer = next((a for a in session.answers if (a.index, a.attempt) == (index, attempt)), None)
            if answer is None or answer.feedback is None or answer.source == "skipped":
                return None
            feedback = await self._grader.grade(
                answer.question, answer.text, session.spec, answer.feedback, voice=answer.source == "voice"
            )
            if feedback is None:
                return None
            async with self._lock(user):
                session = await self._find(user, session_id, active_only=False)
                position = next(
                    (n for n, a in enumerate(session.answers) if (a.index, a.attempt) == (index, attempt)), -1
                )
                current = session.answers[position] if position >= 0 else None
                # The answer may have been forgotten or replaced meanwhile: only the one graded is updated.
                if current is None or current.answered_at != answer.answered_at or current.feedback is None:
                    return None
                updated = replace(current, feedback=feedback)
                session.answers[position] = updated
                follow_up = self._add_follow_up(session, updated)
                await self._save(session)
            logger.info(
                "answer regraded platform=%s user=%s session=%s question=%d grader=%s score=%d->%d",
                user.platform,
                user.user_id,
                session_id,
                index + 1,
                feedback.grader,
                current.feedback.score,
                feedback.score,
            )
            if follow_up is not None:
                logger.info(
                    "follow-up added platform=%s user=%s session=%s after=%d as=%s",
                    user.platform, user.user_id, session_id, index + 1, session.label(session.position),
                )  # fmt: skip
            regraded = Regraded(SessionView.of(session), updated, current.feedback, follow_up)
        except errors.EngineError as exc:  # e.g. the candidate forgot their sessions meanwhile
            logger.info("regrading skipped user=%s session=%s: %s", user.user_id, session_id, type(exc).__name__)
            return None
        except Exception:
            logger.exception("regrading failed platform=%s user=%s session=%s", user.platform, user.user_id, session_id)
            return None
        for listener in list(self._graded_listeners):
            try:
                await listener(regraded)
            except Exception:
                logger.exception("a regraded-answer listener failed")
        return regraded

    def _add_follow_up(self, session: Session, answer: Answer) -> Question | None:
        """Put the model's follow-up on `answer` before the question the candidate was sent next, when that one is
        still unanswered (nothing pending either), the answer was not itself to a follow-up, and the interview has
        room for one more ([llm] max_followups). The candidate answers it next; the planned question comes after."""
        proposed = answer.feedback.follow_up if answer.feedback is not None else ""
        if (
            not proposed
            or self._grader is None
            or not session.is_active
            or session.pending
            or session.position != answer.index + 1
            or session.retake is not None
            or answer.attempt > 1
            or answer.question.category == FOLLOW_UP
            or session.follow_ups >= self._grader.max_followups
        ):
            return None
        parent = answer.question
        question = Question(id=f"{parent.id}+follow-up", category=FOLLOW_UP, text=proposed, skill=parent.skill)
        session.questions.insert(session.position, question)
        return question

    # ----- internals ------------------------------------------------------------------------------------------

    def _lock(self, user: User) -> AbstractAsyncContextManager[None]:
        return self._locks(user)

    def _validated_spec(self, spec: InterviewSpec) -> InterviewSpec:
        problems: dict[str, str] = {}
        values = {}
        for name, limit in FIELD_LIMITS.items():
            value = getattr(spec, name)
            if not isinstance(value, str):
                problems[name] = "must be text"
                continue
            value = value.strip()
            if name in ("role_title", "company_name", "industry") and not value:
                problems[name] = "is required"
            elif len(value) > limit:
                problems[name] = f"must be at most {limit} characters (got {len(value)})"
            values[name] = value
        language = (spec.language or self.default_language).strip().lower()
        if not LANGUAGE_PATTERN.fullmatch(language):
            problems["language"] = f"'{language}' is not a language code such as en-us or ko"
        if problems:
            raise errors.InvalidInput(problems)
        round_type = (spec.round_type or "full").strip().lower()
        return InterviewSpec(**values, round_type=round_type, language=language)

    async def _latest(self, user: User) -> Session:
        _check_user(user)
        doc = await asyncio.to_thread(self._store.latest_for, user.platform, user.user_id)
        if doc is None:
            raise errors.SessionNotFound()
        return Session.from_dict(doc)

    async def _load(self, user: User, session_id: str) -> Session | None:
        doc = await asyncio.to_thread(self._store.get, user.platform, user.user_id, session_id)
        return Session.from_dict(doc) if doc is not None else None

    async def _find(self, user: User, session_id: str | None, *, active_only: bool) -> Session:
        _check_user(user)
        if session_id is None:
            doc = await asyncio.to_thread(self._store.active_for, user.platform, user.user_id)
            if doc is None:
                raise errors.SessionNotFound()
            return Session.from_dict(doc)
        _check_id("session_id", session_id)
        session = await self._load(user, session_id)
        if session is None or (active_only and not session.is_active):
            raise errors.SessionNotFound(f"Session not found for user_id: {user.user_id}, session_id: {session_id}")
        return session

    async def _answerable(
        self, user: User, session_id: str | None, delivery_id: str
    ) -> tuple[Session, AnswerResult | None]:
        """The session to answer in, or (as the second item) the result already recorded under this delivery id."""
        session = await self._find(user, session_id, active_only=session_id is None)
        replay = self._replay(session, delivery_id)
        if replay is None:
            self._require_active(session)
            if session.team is not None and not session.team.accepted:
                raise errors.NotAllowed("not_accepted")
        return session, replay

    @staticmethod
    def _replay(session: Session, delivery_id: str) -> AnswerResult | None:
        """The answer already recorded under this delivery id, as it was answered then; None if there is none."""
        if not delivery_id:
            return None
        answer = next((a for a in session.answers if a.delivery_id == delivery_id), None)
        if answer is None:
            return None
        following = answer.index + 1
        last = following >= session.total
        logger.info(
            "resent answer replayed platform=%s user=%s session=%s question=%d",
            session.platform,
            session.user_id,
            session.session_id,
            following,
        )
        return AnswerResult(
            session=SessionView.of(session),
            answer=answer,
            next_question=None if last else session.questions[following],
            report=build_report(session) if last else None,
            replayed=True,
        )

    @staticmethod
    def _require_active(session: Session) -> None:
        if not session.is_active:
            raise errors.SessionCompleted(SessionView.of(session))

    async def _save(self, session: Session) -> None:
        """Store the session; errors.SessionChanged if another process saved it since it was read."""
        session.rev = await asyncio.to_thread(self._store.save, session.to_dict())

    async def _record(
        self,
        session: Session,
        *,
        source: str,
        text: str,
        transcript: Transcript | None = None,
        audio_file: str = "",
        delivery_id: str = "",
    ) -> AnswerResult:
        """Attach an answer to the current question, advance, and finish the interview after the last one.

        A retake's answer goes to the question being retaken, as its next attempt, compared with the one before;
        the interview then carries on from where it was.
        """
        index = session.current_index
        assert index is not None  # callers check the session is active
        question = session.questions[index]
        feedback = None
        if source != "skipped":
            feedback = analyze_answer(question, text, job_terms=job_terms(session.spec), transcript=transcript)
        now = self._clock()
        earlier = session.attempts(index)
        answer = Answer(
            index=index,
            question=question,
            source=source,
            text=text,
            answered_at=now,
            feedback=feedback,
            duration=transcript.duration if transcript else None,
            audio_file=audio_file,
            delivery_id=delivery_id,
            attempt=len(earlier) + 1,
        )
        session.answers.append(answer)
        comparison = None
        retook = session.retake is not None
        if retook:
            session.retake = None
            comparison = compare(earlier[-1], answer) if earlier else None
        else:
            session.position += 1
        session.updated_at = now
        report = None
        # The last question answered, or a finished interview's one retake (it finishes again, as it was).
        if (session.position >= session.total and not retook) or (session.reopened and retook):
            session.finish(COMPLETED, now)
            # Nothing can be recorded any more: failed answers leave (their recordings stay until the retention
            # period ends), so the session archives instead of holding them for ever.
            self._settle_pending(session, "the interview finished")
            report = build_report(session)
        await self._save(session)
        self._start_regrade(session, answer)
        if report is not None:
            self._start_summary(session)
        logger.info(
            "answer recorded platform=%s user=%s session=%s question=%d/%d attempt=%d source=%s score=%s",
            session.platform,
            session.user_id,
            session.session_id,
            answer.index + 1,
            session.total,
            answer.attempt,
            source,
            feedback.score if feedback else "-",
        )
        return AnswerResult(
            session=SessionView.of(session),
            answer=answer,
            transcript=transcript,
            next_question=session.current_question,
            report=report,
            comparison=comparison,
        )

    async def _process_pending(self, user: User, session_id: str, pending_id: str) -> AnswerResult:
        """Transcribe one saved voice answer and record it; the caller holds the user's lock."""
        session = await self._find(user, session_id, active_only=False)
        entry = next((p for p in session.pending if p["id"] == pending_id), None)
        if entry is None:
            raise errors.SessionNotFound()
        if not session.is_active:
            await self._remove_pending(session, pending_id, delete_audio=True)
            raise errors.SessionCompleted(SessionView.of(session))
        try:
            if self._speech is None or not self._speech.has_language(session.language):
                raise errors.SpeechUnavailable(session.language)
            # The job holds the recording's path, not its bytes: ffmpeg reads the file itself.
            recording = await asyncio.to_thread(self._saved_audio, entry["audio_file"])
            transcript = await self._speech.transcribe(
                AudioInput(mime_type=entry.get("mime_type", ""), filename=entry.get("filename", ""), path=recording),
                session.language,
            )
        except errors.ShuttingDown:
            logger.info(
                "voice answer left pending for after the restart platform=%s user=%s session=%s answer=%s",
                user.platform,
                user.user_id,
                session_id,
                pending_id,
            )
            raise
        except errors.SpeechUnavailable as exc:
            # The candidate was told this recording is saved: keep it for /retry once the model is back.
            logger.warning(
                "no speech model for a saved voice answer; kept for retry platform=%s user=%s session=%s "
                "answer=%s lang=%s",
                user.platform,
                user.user_id,
                session_id,
                pending_id,
                session.language,
            )
            await self._mark_failed(session, pending_id, exc.code)
            raise
        except errors.AudioError as exc:
            logger.info(
                "voice answer rejected platform=%s user=%s session=%s answer=%s reason=%s",
                user.platform,
                user.user_id,
                session_id,
                pending_id,
                exc.code,
            )
            await self._remove_pending(session, pending_id, delete_audio=True)
            raise
        except errors.TranscriptionFailed as exc:
            await self._mark_failed(session, pending_id, exc.code)
            raise
        except FileNotFoundError:
            logger.error("saved audio missing answer=%s file=%s", pending_id, entry["audio_file"])
            await self._remove_pending(session, pending_id, delete_audio=False)
            raise errors.TranscriptionFailed("The recording was lost before it could be transcribed.") from None
        except Exception:
            logger.exception("transcription crashed answer=%s; kept for retry", pending_id)
            await self._mark_failed(session, pending_id, errors.TranscriptionFailed.code)
            raise errors.TranscriptionFailed() from None
        logger.info(
            "voice answer transcribed platform=%s user=%s session=%s answer=%s seconds=%.1f rtf=%.2f words=%d",
            user.platform,
            user.user_id,
            session_id,
            pending_id,
            transcript.duration,
            transcript.real_time_factor,
            len(transcript.words),
        )
        session.pending = [p for p in session.pending if p["id"] != pending_id]
        return await self._record(
            session,
            source="voice",
            text=transcript.text,
            transcript=transcript,
            audio_file=entry["audio_file"],
            delivery_id=entry.get("delivery_id", ""),
        )

    async def _remove_pending(self, session: Session, pending_id: str, *, delete_audio: bool) -> None:
        entry = next((p for p in session.pending if p["id"] == pending_id), None)
        session.pending = [p for p in session.pending if p["id"] != pending_id]
        await self._save(session)
        if delete_audio and entry is not None:
            await asyncio.to_thread(self._delete_audio, entry["audio_file"])

    async def _mark_failed(self, session: Session, pending_id: str, reason: str) -> None:
        for entry in session.pending:
            if entry["id"] == pending_id:
                entry["attempts"] = entry.get("attempts", 0) + 1
                entry["failed"] = True
                entry["error"] = reason
        await self._save(session)

    async def _finish_earlier(self, user: User, session: Session) -> tuple[Session, tuple[Recovered, ...]]:
        """Record the voice answers a restart left pending, oldest first, so that a new answer lands after them.

        The caller holds the user's lock, and every transcription runs under that lock: a pending entry not marked
        failed is one that no live job is working on (a restart, or a cancelled request, left it). Failed ones stay
        for /retry. ShuttingDown propagates: a new answer must not overtake one that is still waiting. Returns the
        session as it is now and what became of each earlier answer, whose reply the candidate is still owed.
        """
        earlier: list[Recovered] = []
        tried: set[str] = set()
        while session.is_active:
            entry = next((p for p in session.pending if not p.get("failed") and p["id"] not in tried), None)
            if entry is None:
                break
            tried.add(entry["id"])
            logger.info(
                "finishing an earlier voice answer first platform=%s user=%s session=%s answer=%s",
                user.platform,
                user.user_id,
                session.session_id,
                entry["id"],
            )
            try:
                result = await self._process_pending(user, session.session_id, entry["id"])
            except errors.ShuttingDown:
                # The new answer was not saved: only the earlier one will be answered after the restart.
                raise errors.ShuttingDown(
                    "I'm restarting. Your earlier voice answer is saved and I'll reply to it once I'm back; "
                    "please send this answer again then.",
                    saved=False,
                ) from None
            except errors.EngineError as exc:
                session = await self._find(user, session.session_id, active_only=False)
                earlier.append(Recovered(SessionView.of(session), None, exc, entry.get("delivery_id", "")))
            else:
                session = await self._find(user, session.session_id, active_only=False)
                earlier.append(Recovered(result.session, result, None, entry.get("delivery_id", "")))
        # The earlier answers may have finished the interview: the new one has no question left.
        self._require_active(session)
        return session, tuple(earlier)

    def _settle_pending(self, session: Session, why: str) -> list[str]:
        """Empty the pending list of a session that is finishing; returns the recordings of unfinished answers.

        Failed answers can no longer be retried: their recordings stay, and go with the rest at the end of the
        retention period. Whether to delete the unfinished answers' recordings is the caller's choice.
        """
        unfinished = []
        for entry in session.pending:
            logger.info(
                "voice answer dropped, %s platform=%s user=%s session=%s answer=%s failed=%s",
                why,
                session.platform,
                session.user_id,
                session.session_id,
                entry["id"],
                bool(entry.get("failed")),
            )
            if not entry.get("failed"):
                unfinished.append(entry["audio_file"])
        session.pending = []
        return unfinished

    async def _expire_failed(self, cutoff: float) -> None:
        """Give up failed voice answers received before the cutoff, so their recordings can be purged."""
        docs = await asyncio.to_thread(self._store.pending_sessions)
        for doc in docs:
            if not any(p.get("failed") and p.get("received_at", 0.0) < cutoff for p in doc["pending"]):
                continue
            user = User(doc["platform"], doc["user_id"], doc.get("name", ""))
            async with self._lock(user):
                session = await self._load(user, doc["session_id"])
                if session is None:
                    continue
                expired = [p for p in session.pending if p.get("failed") and p.get("received_at", 0.0) < cutoff]
                if not expired:
                    continue
                for entry in expired:
                    logger.info(
                        "failed voice answer given up after the retention period platform=%s user=%s session=%s "
                        "answer=%s",
                        session.platform,
                        session.user_id,
                        session.session_id,
                        entry["id"],
                    )
                session.pending = [p for p in session.pending if p not in expired]
                await self._save(session)

    # Audio files are named from hashes and generated ids only: nothing a client sends becomes a path.
    def _user_audio_dir(self, platform: str, user_id: str) -> Path:
        assert self._audio_dir is not None
        digest = hashlib.sha256(f"{platform}:{user_id}".encode()).hexdigest()[:24]
        return self._audio_dir / digest

    def _open_incoming(self) -> tuple[Path, BinaryIO]:
        """A new private file for a recording being received: in the audio folder's incoming folder, so keeping it is a
        rename. Without an audio folder, in the temp folder (answer_audio then refuses it, as it refuses bytes)."""
        folder: Path | None = None
        if self._audio_dir is not None:
            self._audio_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder = self._audio_dir / INCOMING_DIR
            folder.mkdir(exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(suffix=".part", prefix="upload-", dir=folder)  # O_EXCL, mode 0600
        return Path(name), open(fd, "wb")

    def _write_audio(self, session: Session, pending_id: str, audio: AudioInput) -> str:
        """Keep the recording under a generated name in the user's folder, durably (synced before its rename, the
        folder after): a received file is moved there, never read; bytes are written."""
        if self._audio_dir is None:
            raise errors.TranscriptionFailed("Voice answers need an audio folder configured.")
        # Candidates' voices: readable by the bot's own user only, like the session files.
        self._audio_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = self._user_audio_dir(session.platform, session.user_id)
        folder.mkdir(exist_ok=True, mode=0o700)
        ext = AUDIO_EXTENSIONS.get(audio.mime_type.split(";")[0].strip().lower(), ".bin")
        path = folder / f"{pending_id}{ext}"
        if audio.path is None or not _move_into(audio.path, path):
            tmp = path.with_suffix(path.suffix + ".part")
            try:
                with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh, audio.open() as src:
                    shutil.copyfileobj(src, fh, COPY_CHUNK)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)  # e.g. a disk that filled up: no half recording left behind
                raise
            if audio.path is not None:
                audio.path.unlink(missing_ok=True)  # a file from another filesystem, copied: the engine took it
        try:
            fsync_dir(folder)  # the new name is durable before the session says the recording exists
        except OSError as exc:
            logger.error("audio folder not synced after saving %s: %s", path.name, exc)
        return str(path.relative_to(self._audio_dir))

    def _saved_audio(self, relative: str) -> Path:
        """Where a kept recording is; FileNotFoundError if it is gone."""
        assert self._audio_dir is not None
        path = self._audio_dir / relative
        if not path.is_file():
            raise FileNotFoundError(path)
        return path

    def _delete_audio(self, relative: str) -> None:
        if self._audio_dir is not None and relative:
            (self._audio_dir / relative).unlink(missing_ok=True)

    def _delete_user_audio(self, user: User) -> None:
        folder = self._user_audio_dir(user.platform, user.user_id)
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            folder.rmdir()

    def _purge_audio(self, cutoff: float) -> int:
        assert self._audio_dir is not None
        if not self._audio_dir.is_dir():
            return 0
        pending = {p["audio_file"] for doc in self._store.pending_sessions() for p in doc.get("pending", [])}
        removed = 0
        # A recording still being received is written to all the time; one untouched this long was left by a crash.
        abandoned = max(cutoff, self._clock() - INCOMING_STALE_SECONDS)
        # Other requests delete recordings meanwhile (a rejected answer, a forgotten user's whole folder): whatever
        # vanishes between the listing and the look at it is simply no longer there to purge.
        for folder in _listing(self._audio_dir):
            before = abandoned if folder.name == INCOMING_DIR else cutoff
            for path in _listing(folder):
                relative = str(path.relative_to(self._audio_dir))
                if relative in pending:
                    continue
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if modified < before:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


class AudioUpload:
    """A voice answer being received (InterviewEngine.receive_audio): written to its file as it arrives, so it is
    never held whole in memory, and refused as soon as it passes the engine's size limit."""

    def __init__(self, path: Path, handle: BinaryIO, limit: int, release: Callable[[], None]) -> None:
        self.path = path
        self.size = 0
        self._handle = handle
        self._limit = limit
        self._gathered = bytearray()
        self._release = release

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append a chunk (AudioTooLarge past the limit). Small chunks are gathered, and written off the event loop."""
        self.size += len(chunk)
        if self.size > self._limit:
            raise errors.AudioTooLarge(limit_bytes=self._limit)
        if not self._gathered and len(chunk) >= UPLOAD_FLUSH_BYTES:
            await asyncio.to_thread(self._handle.write, chunk)  # a big piece (a whole download) goes as it is
            return
        self._gathered += chunk
        if len(self._gathered) >= UPLOAD_FLUSH_BYTES:
            await self._flush()

    async def finish(self, mime_type: str = "", filename: str = "") -> AudioInput:
        """Everything is received: the recording, for answer_audio. Frees the turn for the next recording."""
        try:
            await self._flush()
            await asyncio.to_thread(self._handle.close)
        finally:
            self._release()
        return AudioInput(mime_type=mime_type, filename=filename, path=self.path)

    async def _flush(self) -> None:
        if self._gathered:
            gathered, self._gathered = self._gathered, bytearray()
            await asyncio.to_thread(self._handle.write, gathered)


def _move_into(source: Path, target: Path) -> bool:
    """Move a received recording into place: private, synced, then renamed. False when it is on another filesystem
    (the caller copies it instead)."""
    fd = os.open(source, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o600)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False
        raise
    return True


def _team(session: Session) -> Team:
    assert session.team is not None  # _team_session found a team interview
    return session.team


def _last_activity(session: Session) -> float:
    """When the candidate last did something: the session's update, or a voice answer received since."""
    return max([session.updated_at, *(entry.get("received_at", 0.0) for entry in session.pending)])


def _team_columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The admin table's team columns: where it runs, who the candidate is, how many teammates rated."""
    team = doc.get("team")
    if not team:
        return {}
    raters = {r["rater"] for r in team.get("ratings", ())}
    return {
        "place": team.get("place", ""),
        "candidate": team["candidate"],
        "candidate_name": team.get("candidate_name", ""),
        "raters": len(raters),
    }


def _listing(folder: Path) -> list[Path]:
    """What is in a folder, or nothing if it is gone (or is not a folder)."""
    try:
        return list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _check_user(user: User) -> None:
    problems = {}
    if user.platform not in PLATFORMS:
        problems["platform"] = f"must be one of {', '.join(PLATFORMS)}"
    if not isinstance(user.user_id, str) or not ID_PATTERN.fullmatch(user.user_id):
        problems["user_id"] = "must be 1-128 letters, digits or . _ : @ - (starting with a letter or digit)"
    if problems:
        raise errors.InvalidInput(problems)


def _check_delivery_id(value: str) -> None:
    if value and not ID_PATTERN.fullmatch(value):
        raise errors.InvalidInput(
            {"delivery_id": "must be 1-128 letters, digits or . _ : @ - (starting with a letter or digit)"}
        )


def _check_id(name: str, value: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise errors.InvalidInput(
            {name: "must be 1-128 letters, digits or . _ : @ - (starting with a letter or digit)"}
        )
