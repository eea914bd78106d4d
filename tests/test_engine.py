"""The engine's service API on a MemoryStore (TinyDB files where a restart is simulated) and a scripted speech service.

Real speech: test_speech.py; the stores themselves: test_store.py and test_store_contract.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from engine import errors
from engine.service import InterviewEngine
from engine.store import MemoryStore, SessionStore, TinyDBStore
from engine.types import AudioInput, InterviewSpec, Transcript, User, Word
from engine.views import SessionView
from tests.durability import record_syncs
from tests.engine_support import build_memory_engine

SPEC = InterviewSpec(
    role_title="Senior Backend Engineer",
    company_name="TechCorp Inc",
    industry="Technology",
    cv="Experienced Python developer with 5+ years of PostgreSQL and Docker.",
    jd="Senior backend role requiring Python, Node.js, Kubernetes and PostgreSQL.",
    round_type="full",
)
ALICE = User("telegram", "1001", "Alice")


class ScriptedSpeech:
    """Hears the text written in the audio bytes (b"say:..."); b"junk" is not audio; b"hang" never finishes."""

    def __init__(self, languages: tuple[str, ...] = ("en-us",), jitter: float = 0.0) -> None:
        self._languages = languages
        self._jitter = jitter
        self.calls: list[str] = []
        self.fail_next: Exception | None = None

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        with audio.open() as recording:  # the engine hands over the saved file, not bytes
            data = recording.read()
        self.calls.append(data.decode(errors="replace"))
        if self._jitter:
            await asyncio.sleep(random.random() * self._jitter)
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        if data == b"hang":
            await asyncio.Event().wait()
        if not data.startswith(b"say:"):
            raise errors.AudioInvalid()
        words = data[4:].decode().split()
        timed = tuple(Word(w, i * 0.4, i * 0.4 + 0.35, 0.95) for i, w in enumerate(words))
        return Transcript(
            " ".join(words), timed, duration=len(words) * 0.4 + 0.5, processing_seconds=0.1, language=language
        )

    @property
    def queue_depth(self) -> int:
        return 0

    def has_language(self, language: str) -> bool:
        return language in self._languages

    def health(self) -> dict[str, Any]:
        return {"languages": list(self._languages)}


def make_engine(
    tmp_path: Path, speech: ScriptedSpeech | None = None, store: SessionStore | None = None, clock=None, **options
) -> InterviewEngine:
    """On a MemoryStore unless a test passes the store it reopens to simulate a restart."""
    if clock:
        options["clock"] = clock
    speech = speech or ScriptedSpeech()
    if store is not None:
        return InterviewEngine(store, speech, audio_dir=tmp_path / "audio", **options)
    return build_memory_engine(speech, audio_dir=tmp_path / "audio", **options)[0]


def voice(text: str) -> AudioInput:
    return AudioInput(f"say:{text}".encode(), "audio/ogg", "voice.ogg")


GOOD_ANSWER = (
    "In my last role our checkout service was timing out under load. My task was to cut latency before Black "
    "Friday. I profiled the Python code, moved the hot queries to PostgreSQL indexes and added caching. As a "
    "result p95 latency dropped by 60 percent and we handled twice the traffic."
)


async def test_start_plans_tailored_questions_and_asks_the_first(tmp_path):
    engine = make_engine(tmp_path)
    result = await engine.start(ALICE, SPEC)
    session = result.session
    assert result.question == session.questions[0]
    assert session.status == "active" and session.position == 0
    assert 6 <= session.total <= 10
    motivation = [q for q in session.questions if q.category == "motivation"]
    assert motivation and "TechCorp Inc" in motivation[0].text
    # Tailored from the CV and JD: a skill in both, and one the CV lacks.
    assert {q.skill for q in session.questions if q.category == "experience"} <= {"Python", "PostgreSQL"}
    assert {q.skill for q in session.questions if q.category == "gap"} <= {"Node.js", "Kubernetes"}
    assert {"experience", "gap"} <= {q.category for q in session.questions}
    assert session.language == "en-us"


async def test_one_active_interview_per_chat_user_is_not_silently_replaced(tmp_path):
    engine = make_engine(tmp_path)
    first = await engine.start(ALICE, SPEC)
    with pytest.raises(errors.SessionInProgress) as info:
        await engine.start(ALICE, SPEC)
    assert info.value.session.session_id == first.session.session_id
    # The candidate can end it and start again; the old one stays as history.
    await engine.end(ALICE)
    second = await engine.start(ALICE, SPEC)
    assert second.session.session_id != first.session.session_id
    rows = await engine.list_sessions(user_id="1001")
    assert {r.status for r in rows} == {"active", "ended"}


async def test_http_sessions_are_idempotent_and_conflict_on_different_parameters(tmp_path):
    engine = make_engine(tmp_path)
    web_user = User("http", "test-user-001")
    first = await engine.start(web_user, SPEC, session_id="session-001")
    again = await engine.start(web_user, SPEC, session_id="session-001")
    assert again.resumed and again.session.session_id == "session-001"
    assert again.question == first.question
    other = InterviewSpec(**{**SPEC.to_dict(), "company_name": "OtherCorp"})
    with pytest.raises(errors.SessionConflict):
        await engine.start(web_user, other, session_id="session-001")
    # A user on the HTTP API may hold several sessions.
    await engine.start(web_user, other, session_id="session-002")
    assert len(await engine.list_sessions(platform="http")) == 2


async def test_missing_and_invalid_fields_are_named(tmp_path):
    engine = make_engine(tmp_path)
    with pytest.raises(errors.InvalidInput) as info:
        await engine.start(ALICE, InterviewSpec(role_title="", company_name=" ", industry="Tech"))
    assert set(info.value.fields) == {"role_title", "company_name"}
    with pytest.raises(errors.InvalidInput) as info:
        await engine.start(ALICE, InterviewSpec("Engineer", "Acme", "Tech", round_type="marathon"))
    assert "round_type" in info.value.fields
    assert "behavioral" in info.value.fields["round_type"]


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "a" * 129, "", "x y", "사용자", "id\n", "-lead"])
async def test_hostile_ids_are_refused(tmp_path, hostile):
    engine = make_engine(tmp_path)
    with pytest.raises(errors.InvalidInput):
        await engine.start(User("http", hostile), SPEC, session_id="s1")
    with pytest.raises(errors.InvalidInput):
        await engine.start(User("http", "ok"), SPEC, session_id=hostile)


async def test_a_whole_interview_by_voice_and_text_ends_with_a_report(tmp_path):
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech)
    started = await engine.start(ALICE, SPEC)
    total = started.session.total
    result = await engine.answer_audio(ALICE, voice(GOOD_ANSWER))
    assert result.answer.source == "voice"
    assert result.transcript is not None and "PostgreSQL" in result.transcript.text
    assert result.feedback is not None and result.feedback.wpm is not None
    assert result.next_question == started.session.questions[1]
    result = await engine.answer_text(ALICE, "Um, I think, like, I basically did some stuff with Python.")
    assert result.feedback.fillers and result.feedback.wpm is None
    result = await engine.skip(ALICE)
    assert result.answer.source == "skipped"
    for _ in range(total - 3):
        result = await engine.answer_text(ALICE, GOOD_ANSWER)
    assert result.finished and result.next_question is None
    report = result.report
    assert report.status == "completed"
    assert report.total == total and report.skipped == 1 and report.answered == total - 1
    assert [q.source for q in report.per_question][:3] == ["voice", "text", "skipped"]
    with pytest.raises(errors.SessionNotFound):
        await engine.answer_text(ALICE, "one more")
    # The report stays available after the end.
    assert (await engine.report(ALICE)).overall_score == report.overall_score


async def test_repeat_returns_the_current_question_without_advancing(tmp_path):
    engine = make_engine(tmp_path)
    started = await engine.start(ALICE, SPEC)
    assert await engine.current_question(ALICE) == started.question
    await engine.answer_text(ALICE, GOOD_ANSWER)
    assert await engine.current_question(ALICE) == started.session.questions[1]


async def test_operations_without_an_interview_raise_session_not_found(tmp_path):
    engine = make_engine(tmp_path)
    for call in (
        engine.get_session(ALICE),
        engine.current_question(ALICE),
        engine.answer_text(ALICE, "hello"),
        engine.answer_audio(ALICE, voice("hello")),
        engine.skip(ALICE),
        engine.end(ALICE),
        engine.report(ALICE),
    ):
        with pytest.raises(errors.SessionNotFound) as info:
            await call
        assert info.value.message == "No interview in progress."  # adapters choose their own words
    with pytest.raises(errors.SessionNotFound) as info:
        await engine.get_session(User("http", "u1"), "s1")
    assert "Session not found" in info.value.message


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"junk", errors.AudioInvalid), (b"", errors.AudioEmpty), (b"say:" + b"x" * 200, errors.AudioTooLarge)],
)
async def test_bad_audio_keeps_the_question_pending_and_loses_nothing(tmp_path, data, error):
    engine = make_engine(tmp_path, max_audio_bytes=100)
    started = await engine.start(ALICE, SPEC)
    await engine.answer_text(ALICE, GOOD_ANSWER)
    with pytest.raises(error):
        await engine.answer_audio(ALICE, AudioInput(data, "audio/ogg"))
    session = await engine.get_session(ALICE)
    assert session.position == 1 and len(session.answers) == 1 and session.pending_count == 0
    assert await engine.current_question(ALICE) == started.session.questions[1]
    assert not any((tmp_path / "audio").rglob("*.ogg")), "a rejected recording must not be kept"


async def test_audio_over_the_limit_carries_the_numbers_not_words(tmp_path):
    engine = make_engine(tmp_path, max_audio_bytes=20 * 1024 * 1024)
    await engine.start(ALICE, SPEC)
    with pytest.raises(errors.AudioTooLarge) as info:
        await engine.answer_audio(ALICE, AudioInput(b"x" * (20 * 1024 * 1024 + 1), "audio/ogg"))
    assert (info.value.size_bytes, info.value.limit_bytes) == (20 * 1024 * 1024 + 1, 20 * 1024 * 1024)
    assert "the limit is 20 MB" in info.value.message


async def test_voice_without_a_model_for_the_language_names_the_language(tmp_path):
    engine = make_engine(tmp_path, ScriptedSpeech(languages=("ko",)))
    await engine.start(ALICE, SPEC)
    with pytest.raises(errors.SpeechUnavailable) as info:
        await engine.answer_audio(ALICE, voice("hello"))
    assert info.value.language == "en-us" and "'en-us'" in info.value.message
    assert "interview-bot" not in info.value.message  # how to fix it is the adapter's to say
    # Typed answers still work, and switching to a language with a model makes voice work.
    await engine.answer_text(ALICE, GOOD_ANSWER)
    await engine.set_language(ALICE, "ko")
    result = await engine.answer_audio(ALICE, voice("annyeong"))
    assert result.answer.text == "annyeong"


async def test_a_crash_mid_transcription_is_finished_after_restart(tmp_path):
    store = TinyDBStore(tmp_path / "sessions.json")
    engine = make_engine(tmp_path, ScriptedSpeech(), store=store)
    await engine.start(ALICE, SPEC, route={"chat_id": 1001})
    task = asyncio.create_task(engine.answer_audio(ALICE, AudioInput(b"hang", "audio/ogg")))
    while not (await engine.get_session(ALICE)).pending_count:
        await asyncio.sleep(0.01)
    task.cancel()  # the process dies here: the answer was saved but never transcribed
    store.close()
    saved = next((tmp_path / "audio").rglob("*.ogg"))
    saved.write_bytes(b"say:" + GOOD_ANSWER.encode())  # what the candidate had said

    store = TinyDBStore(tmp_path / "sessions.json")
    engine = make_engine(tmp_path, ScriptedSpeech(), store=store)
    assert await engine.recover_pending("slack") == []
    [recovered] = await engine.recover_pending("telegram")
    assert recovered.error is None and recovered.session.route == {"chat_id": 1001}
    assert recovered.result.answer.source == "voice" and "PostgreSQL" in recovered.result.answer.text
    session = await engine.get_session(ALICE)
    assert session.position == 1 and session.pending_count == 0
    store.close()


async def test_an_answer_resent_after_the_process_that_took_it_died_is_recorded_once(tmp_path):
    """The client resends with the same Idempotency-Key (to another front-end, or after a restart): the saved copy is
    finished first and the resend is its replay, not the answer to the next question."""
    store = TinyDBStore(tmp_path / "sessions.json")
    engine = make_engine(tmp_path, ScriptedSpeech(), store=store)
    await engine.start(ALICE, SPEC)
    task = asyncio.create_task(engine.answer_audio(ALICE, AudioInput(b"hang", "audio/ogg"), delivery_id="key-1"))
    while not (await engine.get_session(ALICE)).pending_count:
        await asyncio.sleep(0.01)
    task.cancel()  # the process dies with the answer saved, not transcribed, and no reply sent
    store.close()
    next((tmp_path / "audio").rglob("*.ogg")).write_bytes(b"say:" + GOOD_ANSWER.encode())

    store = TinyDBStore(tmp_path / "sessions.json")
    engine = make_engine(tmp_path, ScriptedSpeech(), store=store)
    resent = await engine.answer_audio(ALICE, voice(GOOD_ANSWER), delivery_id="key-1")
    assert resent.replayed and resent.answer.index == 0 and "PostgreSQL" in resent.answer.text
    session = await engine.get_session(ALICE)
    assert [a.index for a in session.answers] == [0] and session.position == 1 and session.pending_count == 0
    store.close()


async def test_a_failed_transcription_can_be_retried_from_the_saved_audio(tmp_path):
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech)
    await engine.start(ALICE, SPEC)
    speech.fail_next = errors.TranscriptionFailed()
    with pytest.raises(errors.TranscriptionFailed):
        await engine.answer_audio(ALICE, voice("my answer"))
    session = await engine.get_session(ALICE)
    assert session.position == 0 and session.pending_count == 1 and session.failed_voice_answers == 1
    assert session.has_failed_voice_answer
    result = await engine.retry(ALICE)
    assert result.answer.text == "my answer"
    session = await engine.get_session(ALICE)
    assert session.pending_count == 0 and not session.has_failed_voice_answer
    with pytest.raises(errors.InvalidInput):
        await engine.retry(ALICE)


async def test_an_unexpected_crash_in_the_recogniser_is_kept_for_retry(tmp_path):
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech)
    await engine.start(ALICE, SPEC)
    speech.fail_next = RuntimeError("kaldi exploded")
    with pytest.raises(errors.TranscriptionFailed):
        await engine.answer_audio(ALICE, voice("kept"))
    assert (await engine.retry(ALICE)).answer.text == "kept"


async def test_many_users_at_once_and_one_user_answering_ten_times_in_a_row(tmp_path):
    speech = ScriptedSpeech(jitter=0.02)
    engine = make_engine(tmp_path, speech)
    users = [User("slack", f"U{i:03d}") for i in range(100)]
    long_spec = InterviewSpec(**{**SPEC.to_dict(), "round_type": "full"})
    await asyncio.gather(*(engine.start(u, long_spec) for u in users))
    await asyncio.gather(*(engine.answer_audio(u, voice(f"answer from {u.user_id}")) for u in users))
    for u in users:
        session = await engine.get_session(u)
        assert [a.text for a in session.answers] == [f"answer from {u.user_id}"]

    busy = User("telegram", "42")
    started = await engine.start(busy, long_spec)
    n = min(10, started.session.total)
    results = await asyncio.gather(
        *(
            engine.answer_audio(busy, voice(f"note {i}")) if i % 2 else engine.answer_text(busy, f"typed {i}")
            for i in range(n)
        ),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, Exception)]
    session = await engine.latest_session(busy)
    assert [a.text for a in session.answers] == [f"note {i}" if i % 2 else f"typed {i}" for i in range(n)]
    assert [a.index for a in session.answers] == list(range(n))


async def test_admin_list_filters_and_flags_stale_sessions(tmp_path):
    now = [1_000_000.0]
    engine = make_engine(tmp_path, clock=lambda: now[0])
    await engine.start(User("telegram", "1"), SPEC)
    now[0] += 30 * 3600
    await engine.start(User("slack", "U2"), SPEC)
    await engine.start(User("http", "web"), SPEC, session_id="s1")
    await engine.end(User("http", "web"), session_id="s1")
    rows = await engine.list_sessions()
    assert [r.user_id for r in rows][-1] == "1"
    stale = await engine.list_sessions(stale_only=True)
    assert [(r.platform, r.user_id) for r in stale] == [("telegram", "1")]
    assert [r.user_id for r in await engine.list_sessions(status="ended")] == ["web"]
    assert [r.user_id for r in await engine.list_sessions(platform="slack")] == ["U2"]
    with pytest.raises(errors.InvalidInput):
        await engine.list_sessions(status="paused")


async def test_forget_deletes_sessions_and_recordings(tmp_path):
    engine = make_engine(tmp_path)
    await engine.start(ALICE, SPEC)
    await engine.answer_audio(ALICE, voice("recorded answer"))
    [recording] = (tmp_path / "audio").rglob("*.ogg")
    # Nobody but the bot's own user may read candidates' voices.
    assert recording.stat().st_mode & 0o077 == 0 and recording.parent.stat().st_mode & 0o077 == 0
    assert await engine.forget(ALICE) == 1
    assert not any((tmp_path / "audio").rglob("*.ogg"))
    with pytest.raises(errors.SessionNotFound):
        await engine.report(ALICE)
    assert await engine.list_sessions() == []


async def test_old_recordings_are_purged_after_the_retention_period(tmp_path):
    now = [time.time()]
    engine = make_engine(tmp_path, audio_retention_seconds=3600, clock=lambda: now[0])
    await engine.start(ALICE, SPEC)
    await engine.answer_audio(ALICE, voice("keep me a while"))
    assert await engine.housekeeping() == (0, 0)
    now[0] += 7200
    assert await engine.housekeeping() == (1, 0)
    assert not any((tmp_path / "audio").rglob("*.ogg"))


async def test_deliveries_are_claimed_once(tmp_path):
    engine = make_engine(tmp_path)
    assert await engine.first_delivery("telegram", "555")
    assert not await engine.first_delivery("telegram", "555")
    assert await engine.first_delivery("slack", "555")


async def test_set_up_drafts_are_kept_and_abandoned_ones_swept(tmp_path):
    now = [time.time()]
    engine = make_engine(tmp_path, clock=lambda: now[0])
    bob = User("telegram", "2002")
    await engine.save_draft(ALICE, {"step": "company", "role": "Data Engineer"})
    assert await engine.get_draft(ALICE) == {"step": "company", "role": "Data Engineer"}
    now[0] += 6 * 86400
    await engine.save_draft(bob, {"step": "role"})
    now[0] += 2 * 86400  # Alice's draft is 8 days old, Bob's 2
    assert await engine.housekeeping() == (0, 1)
    assert await engine.get_draft(ALICE) is None
    assert await engine.get_draft(bob) == {"step": "role"}
    await engine.clear_draft(bob)
    assert await engine.get_draft(bob) is None


async def test_an_answer_caught_by_a_restart_stays_pending_and_is_finished_after_it(tmp_path):
    store = TinyDBStore(tmp_path / "sessions.json")
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech, store=store)
    await engine.start(ALICE, SPEC, route={"chat_id": 1001})
    speech.fail_next = errors.ShuttingDown()
    with pytest.raises(errors.ShuttingDown) as info:
        await engine.answer_audio(ALICE, voice("said just before the restart"))
    assert "saved" in info.value.message
    session = await engine.get_session(ALICE)
    assert session.position == 0 and session.pending_count == 1 and not session.has_failed_voice_answer
    store.close()

    store = TinyDBStore(tmp_path / "sessions.json")
    engine = make_engine(tmp_path, ScriptedSpeech(), store=store)
    [recovered] = await engine.recover_pending("telegram")
    assert recovered.result.answer.text == "said just before the restart"
    assert (await engine.get_session(ALICE)).position == 1
    store.close()


async def test_a_resent_answer_with_the_same_delivery_id_is_recorded_once(tmp_path):
    web_user = User("http", "mobile-1")
    engine = make_engine(tmp_path)
    started = await engine.start(web_user, SPEC, session_id="s1")
    first = await engine.answer_audio(web_user, voice("my first answer"), session_id="s1", delivery_id="key-1")
    again = await engine.answer_audio(web_user, voice("my first answer"), session_id="s1", delivery_id="key-1")
    assert again.replayed and not first.replayed
    assert again.answer == first.answer and again.next_question == started.session.questions[1]
    typed = await engine.answer_text(web_user, GOOD_ANSWER, session_id="s1", delivery_id="key-2")
    skipped = await engine.skip(web_user, session_id="s1", delivery_id="key-3")
    # The client's retries arrive late, after the interview moved on: each gets its own original outcome.
    typed_again = await engine.answer_text(web_user, GOOD_ANSWER, session_id="s1", delivery_id="key-2")
    skipped_again = await engine.skip(web_user, session_id="s1", delivery_id="key-3")
    assert typed_again.answer == typed.answer and skipped_again.next_question == skipped.next_question
    session = await engine.get_session(web_user, "s1")
    assert [a.source for a in session.answers] == ["voice", "text", "skipped"] and session.position == 3
    # Without a key, or with a new one, the same words are a new answer.
    await engine.answer_text(web_user, GOOD_ANSWER, session_id="s1")
    assert (await engine.get_session(web_user, "s1")).position == 4
    with pytest.raises(errors.InvalidInput):
        await engine.answer_text(web_user, GOOD_ANSWER, session_id="s1", delivery_id="../etc")


async def test_sessions_come_back_as_frozen_views_that_share_nothing_with_the_engine(tmp_path):
    engine = make_engine(tmp_path)
    started = await engine.start(ALICE, SPEC, route={"chat_id": 1001})
    view = started.session
    assert isinstance(view, SessionView) and isinstance(view.questions, tuple) and view.route == {"chat_id": 1001}
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.position = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        view.route["chat_id"] = 1  # type: ignore[index]
    result = await engine.answer_text(ALICE, GOOD_ANSWER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.answer.text = "rewritten"  # type: ignore[misc]
    skipped = await engine.skip(ALICE)
    # Each view keeps the moment it was taken.
    assert (view.position, result.session.position, skipped.session.position) == (0, 1, 2)
    assert (skipped.session.answered_count, skipped.session.skipped_count) == (1, 1)
    assert skipped.session.answers[0] == result.answer
    with pytest.raises(errors.SessionInProgress) as in_progress:
        await engine.start(ALICE, SPEC)
    assert isinstance(in_progress.value.session, SessionView) and in_progress.value.session.position == 2

    web_user = User("http", "web-1")
    await engine.start(web_user, SPEC, session_id="s1")
    await engine.end(web_user, session_id="s1")
    with pytest.raises(errors.SessionCompleted) as completed:
        await engine.answer_text(web_user, GOOD_ANSWER, session_id="s1")
    assert isinstance(completed.value.session, SessionView) and completed.value.session.status == "ended"
    latest = await engine.latest_session(web_user)
    assert isinstance(latest, SessionView) and latest.finished_at is not None and latest.current_question is None


async def test_set_route_replaces_where_the_active_interview_replies(tmp_path):
    now = [1_000_000.0]
    engine = make_engine(tmp_path, clock=lambda: now[0])
    user = User("slack", "U1")
    await engine.start(user, SPEC, route={"channel": "D1"})
    now[0] += 60
    # The Slack adapter posts the opening message, then points the interview at that message's thread.
    route = {"channel": "D1", "thread_ts": "1700000000.000100"}
    view = await engine.set_route(user, route)
    assert isinstance(view, SessionView) and view.route == route
    route["thread_ts"] = "changed by the caller"
    session = await engine.get_session(user)
    assert session.route == {"channel": "D1", "thread_ts": "1700000000.000100"}
    assert session.updated_at == 1_000_000.0  # a new reply address is not activity
    assert dict((await engine.set_route(user, {"channel": "C2"})).route) == {"channel": "C2"}  # replaced, not merged
    with pytest.raises(errors.InvalidInput):
        await engine.set_route(user, ["not", "a", "mapping"])  # type: ignore[arg-type]
    await engine.end(user)
    with pytest.raises(errors.SessionNotFound):
        await engine.set_route(user, {"channel": "C3"})
    web_user = User("http", "web-1")
    await engine.start(web_user, SPEC, session_id="s1")
    assert (await engine.set_route(web_user, {"hook": "h"}, session_id="s1")).route == {"hook": "h"}
    await engine.end(web_user, session_id="s1")
    with pytest.raises(errors.SessionCompleted):
        await engine.set_route(web_user, {"hook": "h2"}, session_id="s1")


# ----- answers a restart left pending, and recordings that must not be stranded or lost ----------------------


class FlakyStore(MemoryStore):
    """A MemoryStore whose saves fail while `full` is set, as a full disk makes them."""

    full = False

    def save(self, doc):
        if self.full:
            raise OSError(28, "No space left on device")
        super().save(doc)


async def interrupted(tmp_path, store, said: str, user: User = ALICE) -> InterviewEngine:
    """A voice answer caught by a restart, then a new engine on the same store: the process after the restart."""
    speech = ScriptedSpeech()
    before = make_engine(tmp_path, speech, store=store)
    if (await before.list_sessions(user_id=user.user_id, status="active")) == []:
        await before.start(user, SPEC, route={"chat_id": 1001})
    speech.fail_next = errors.ShuttingDown()
    with pytest.raises(errors.ShuttingDown):
        await before.answer_audio(user, voice(said) if said else AudioInput(b"junk", "audio/ogg"))
    return make_engine(tmp_path, ScriptedSpeech(), store=store)


@pytest.mark.parametrize("how", ["text", "voice", "skip"])
async def test_an_answer_sent_right_after_a_restart_lands_after_the_voice_answer_the_restart_interrupted(tmp_path, how):
    store = MemoryStore()
    engine = await interrupted(tmp_path, store, "my answer to the first question")
    if how == "text":
        result = await engine.answer_text(ALICE, GOOD_ANSWER)
    elif how == "voice":
        result = await engine.answer_audio(ALICE, voice("my answer to the second question"))
    else:
        result = await engine.skip(ALICE)
    session = await engine.get_session(ALICE)
    assert [(a.index, a.source) for a in session.answers] == [(0, "voice"), (1, {"skip": "skipped"}.get(how, how))]
    assert session.answers[0].text == "my answer to the first question"
    assert session.answers[0].question == session.questions[0] and session.pending_count == 0
    # The reply owed for the earlier answer comes with this one, first.
    [earlier] = result.earlier
    assert earlier.error is None and earlier.result.answer == session.answers[0]
    assert earlier.result.next_question == session.questions[1]
    assert result.answer.index == 1 and result.next_question == session.questions[2]
    # Recovery, reaching that answer later, finds it done and sends nothing twice.
    assert await engine.recover_pending("telegram") == []
    assert len((await engine.get_session(ALICE)).answers) == 2


async def test_recovery_and_a_new_answer_racing_keep_the_order_either_way(tmp_path):
    store = MemoryStore()
    engine = await interrupted(tmp_path, store, "first")
    recovering = asyncio.create_task(engine.recover_pending("telegram"))
    typed = await engine.answer_text(ALICE, GOOD_ANSWER)
    recovered = await recovering
    assert len(typed.earlier) + len(recovered) == 1  # one of the two recorded it, and said so once
    session = await engine.get_session(ALICE)
    assert [(a.index, a.source, a.text) for a in session.answers] == [(0, "voice", "first"), (1, "text", GOOD_ANSWER)]


async def test_an_earlier_answer_that_cannot_be_used_is_reported_and_the_new_one_takes_its_question(tmp_path):
    store = MemoryStore()
    engine = await interrupted(tmp_path, store, "")  # junk audio: the recogniser will refuse it
    result = await engine.answer_text(ALICE, GOOD_ANSWER)
    [earlier] = result.earlier
    assert earlier.result is None and isinstance(earlier.error, errors.AudioInvalid)
    assert result.answer.index == 0 and (await engine.get_session(ALICE)).pending_count == 0


async def test_earlier_answers_that_finish_the_interview_leave_no_question_for_the_new_one(tmp_path):
    store = MemoryStore()
    engine = make_engine(tmp_path, store=store)
    started = await engine.start(ALICE, SPEC)
    for _ in range(started.session.total - 1):
        await engine.skip(ALICE)
    engine = await interrupted(tmp_path, store, "my last answer")
    with pytest.raises(errors.SessionCompleted):  # the voice answer came first and took the last question
        await engine.answer_text(ALICE, GOOD_ANSWER)
    latest = await engine.latest_session(ALICE)
    assert latest.status == "completed" and latest.answers[-1].text == "my last answer"


async def test_a_missing_model_after_a_restart_keeps_the_recording_for_retry_until_retention_ends(tmp_path):
    now = [1_800_000_000.0]
    store = MemoryStore()
    speech = ScriptedSpeech()
    before = make_engine(tmp_path, speech, store=store, clock=lambda: now[0], audio_retention_seconds=3600)
    await before.start(ALICE, SPEC)
    speech.fail_next = errors.ShuttingDown()
    with pytest.raises(errors.ShuttingDown):
        await before.answer_audio(ALICE, voice("said before the restart"))
    [recording] = (tmp_path / "audio").rglob("*.ogg")

    # Restarted without the English model.
    no_model = make_engine(
        tmp_path, ScriptedSpeech(languages=("ko",)), store=store, clock=lambda: now[0], audio_retention_seconds=3600
    )
    [item] = await no_model.recover_pending("telegram")
    assert isinstance(item.error, errors.SpeechUnavailable) and item.session.failed_voice_answers == 1
    assert recording.exists()
    assert await no_model.housekeeping() == (0, 0)  # within the retention period: kept
    assert recording.exists() and (await no_model.get_session(ALICE)).failed_voice_answers == 1

    # The model is back: /retry transcribes the kept recording.
    back = make_engine(tmp_path, ScriptedSpeech(), store=store, clock=lambda: now[0], audio_retention_seconds=3600)
    assert (await back.retry(ALICE)).answer.text == "said before the restart"

    # Another one failed for want of the model, never retried: at the end of retention it is given up.
    speech = ScriptedSpeech()
    before = make_engine(tmp_path, speech, store=store, clock=lambda: now[0], audio_retention_seconds=3600)
    speech.fail_next = errors.SpeechUnavailable("en-us")
    with pytest.raises(errors.SpeechUnavailable):
        await before.answer_audio(ALICE, voice("never retried"))
    assert (await before.get_session(ALICE)).failed_voice_answers == 1
    now[0] += 7200
    os.utime(recording, (now[0] - 7200, now[0] - 7200))
    for path in (tmp_path / "audio").rglob("*.ogg"):
        os.utime(path, (now[0] - 7200, now[0] - 7200))
    assert await before.housekeeping() == (2, 0)
    assert (await before.get_session(ALICE)).pending_count == 0
    assert not any((tmp_path / "audio").rglob("*.ogg"))


@pytest.mark.parametrize("finish", ["last answer", "end"])
async def test_finishing_an_interview_settles_failed_answers_so_it_archives_and_retention_purges(tmp_path, finish):
    now = [time.time()]
    store = MemoryStore()
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech, store=store, clock=lambda: now[0], audio_retention_seconds=3600)
    started = await engine.start(ALICE, SPEC)
    speech.fail_next = errors.TranscriptionFailed()
    with pytest.raises(errors.TranscriptionFailed):
        await engine.answer_audio(ALICE, voice("lost to a crash"))
    [recording] = (tmp_path / "audio").rglob("*.ogg")
    if finish == "end":
        await engine.end(ALICE)
    else:
        for _ in range(started.session.total):
            result = await engine.answer_text(ALICE, GOOD_ANSWER)
        assert result.finished
    latest = await engine.latest_session(ALICE)
    assert latest.status in ("completed", "ended") and latest.pending_count == 0
    assert store.stats()["archived"] == 1 and store.pending_sessions() == []
    assert recording.exists() and await engine.housekeeping() == (0, 0)  # kept for the retention period
    now[0] += 7200
    assert await engine.housekeeping() == (1, 0) and not recording.exists()


async def test_end_saves_the_session_before_deleting_what_it_drops(tmp_path):
    store = FlakyStore()
    engine = await interrupted(tmp_path, store, "said before the restart")
    [recording] = (tmp_path / "audio").rglob("*.ogg")
    store.full = True
    with pytest.raises(OSError, match="No space"):
        await engine.end(ALICE)
    store.full = False
    # Nothing changed: the session still holds the answer and its recording is there to finish it.
    assert recording.exists()
    session = await engine.get_session(ALICE)
    assert session.status == "active" and session.pending_count == 1
    [recovered] = await engine.recover_pending("telegram")
    assert recovered.result.answer.text == "said before the restart"


async def test_a_recording_that_cannot_be_written_leaves_no_part_file(tmp_path, monkeypatch):
    engine = make_engine(tmp_path)
    await engine.start(ALICE, SPEC)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        await engine.answer_audio(ALICE, voice("too much for the disk"))
    monkeypatch.undo()
    assert [p for p in (tmp_path / "audio").rglob("*") if p.is_file()] == []
    assert (await engine.get_session(ALICE)).pending_count == 0
    assert (await engine.answer_audio(ALICE, voice("room again"))).answer.index == 0


async def test_a_recording_is_synced_before_its_rename_and_its_folder_after(tmp_path, monkeypatch):
    engine = make_engine(tmp_path)
    await engine.start(ALICE, SPEC)
    calls = record_syncs(monkeypatch)
    await engine.answer_audio(ALICE, voice("durable"))
    monkeypatch.undo()
    assert [(call, Path(name).suffix or name) for call, name in calls] == [
        ("fsync", "file"),
        ("replace", ".ogg"),
        ("fsync", "folder"),
    ]


async def test_purging_tolerates_a_recording_removed_while_it_runs(tmp_path, monkeypatch):
    now = [time.time()]
    engine = make_engine(tmp_path, audio_retention_seconds=3600, clock=lambda: now[0])
    bob = User("telegram", "2002")
    for user in (ALICE, bob):
        await engine.start(user, SPEC)
        await engine.answer_audio(user, voice("an old answer"))
    first, second = sorted((tmp_path / "audio").rglob("*.ogg"))
    real_stat = Path.stat

    def stat_after_removal(self, *args, **kwargs):
        if self == first:
            os.unlink(self)  # another request removed it between the listing and this look at it
        return real_stat(self, *args, **kwargs)

    now[0] += 7200
    monkeypatch.setattr(Path, "stat", stat_after_removal)
    assert await engine.housekeeping() == (1, 0)
    monkeypatch.undo()
    assert not first.exists() and not second.exists()


async def test_a_new_answer_never_overtakes_an_earlier_one_that_a_shutdown_holds_up(tmp_path):
    store = MemoryStore()
    engine = await interrupted(tmp_path, store, "waiting for the restart")
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech, store=store)
    speech.fail_next = errors.ShuttingDown()  # the process is stopping again
    with pytest.raises(errors.ShuttingDown) as info:
        await engine.answer_text(ALICE, GOOD_ANSWER)
    assert "send this answer again" in info.value.message and info.value.saved is False
    session = await engine.get_session(ALICE)
    assert session.position == 0 and session.answers == () and session.pending_count == 1


# ----- idle sessions, the daily limit, CV/JD size (issue 10, item 8) ------------------------------------------------


async def test_idle_sessions_are_archived_as_abandoned_after_the_configured_days(tmp_path):
    now = [1_700_000_000.0]
    store = TinyDBStore(tmp_path / "sessions.json")
    engine = make_engine(tmp_path, store=store, clock=lambda: now[0], abandon_after_days=30)
    bob, web = User("telegram", "2002"), User("http", "web-client")
    await engine.start(ALICE, SPEC)
    await engine.answer_text(ALICE, GOOD_ANSWER)
    await engine.start(bob, SPEC)
    await engine.start(web, SPEC, session_id="never-finished")
    now[0] += 20 * 86400
    await engine.answer_text(bob, GOOD_ANSWER)  # Bob carries on after 20 days; the others go quiet
    now[0] += 11 * 86400
    assert await engine.housekeeping() == (0, 0)

    alice_session = await engine.latest_session(ALICE)
    assert alice_session.status == "abandoned" and alice_session.finished_at == now[0]
    assert alice_session.answered_count == 1  # what was answered stays, and the report covers it
    assert (await engine.report(ALICE)).status == "abandoned"
    assert (await engine.get_session(web, "never-finished")).status == "abandoned"
    assert (await engine.get_session(bob)).status == "active"
    assert {r.user_id for r in await engine.list_sessions(status="abandoned")} == {"1001", "web-client"}
    assert [r.user_id for r in await engine.list_sessions(status="active")] == ["2002"]
    # In the archive folder, out of the one that holds the active sessions.
    assert len(list((tmp_path / "sessions-active").glob("*.json"))) == 1
    assert len(list((tmp_path / "sessions-archive").glob("*.json"))) == 2
    with pytest.raises(errors.SessionCompleted):
        await engine.answer_text(web, GOOD_ANSWER, session_id="never-finished")
    with pytest.raises(errors.SessionNotFound):
        await engine.answer_text(ALICE, GOOD_ANSWER)
    assert (await engine.start(ALICE, SPEC)).session.status == "active"  # free to start again
    store.close()


async def test_an_idle_session_owed_a_reply_waits_for_it_and_failed_answers_are_settled(tmp_path):
    now = [1_700_000_000.0]
    store = MemoryStore()
    engine = await interrupted(tmp_path, store, "waiting for the restart")  # Alice: an answer still owed a reply
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech, store=store, clock=lambda: now[0], abandon_after_days=30)
    bob = User("telegram", "2002")
    await engine.start(bob, SPEC)
    speech.fail_next = errors.TranscriptionFailed()
    with pytest.raises(errors.TranscriptionFailed):
        await engine.answer_audio(bob, voice("kept for retry"))
    now[0] += 31 * 86400
    await engine.housekeeping()
    assert (await engine.get_session(ALICE)).status == "active"  # recovery still owes this one its reply
    bob_session = await engine.latest_session(bob)
    assert bob_session.status == "abandoned" and bob_session.pending_count == 0
    assert store.stats()["archived"] == 1 and [d["user_id"] for d in store.pending_sessions()] == ["1001"]


async def test_a_recent_voice_answer_keeps_a_long_idle_session_alive(tmp_path):
    now = [1_700_000_000.0]
    store = MemoryStore()
    speech = ScriptedSpeech()
    engine = make_engine(tmp_path, speech, store=store, clock=lambda: now[0], abandon_after_days=30)
    await engine.start(ALICE, SPEC)
    now[0] += 40 * 86400
    speech.fail_next = errors.TranscriptionFailed()  # received now, kept for /retry: activity all the same
    with pytest.raises(errors.TranscriptionFailed):
        await engine.answer_audio(ALICE, voice("just sent"))
    await engine.housekeeping()
    assert (await engine.get_session(ALICE)).status == "active"


async def test_sessions_started_per_user_per_day_are_limited_with_a_clear_refusal(tmp_path):
    now = [1_700_000_000.0]
    engine = make_engine(tmp_path, clock=lambda: now[0], max_sessions_per_user_per_day=3)
    web = User("http", "web-client")
    for n in range(3):
        await engine.start(web, SPEC, session_id=f"s{n}")
        now[0] += 3600
    assert (await engine.start(web, SPEC, session_id="s1")).resumed  # the same session again is no new one
    with pytest.raises(errors.TooManySessions) as refused:
        await engine.start(web, SPEC, session_id="s3")
    assert refused.value.limit == 3
    assert refused.value.retry_after == 21 * 3600  # when s0 leaves the 24 hours
    assert "3 interviews in the last 24 hours" in refused.value.message and "about 21 hours" in refused.value.message
    with pytest.raises(errors.SessionNotFound):
        await engine.get_session(web, "s3")
    await engine.start(User("http", "someone-else"), SPEC, session_id="s3")  # per user

    # Chat users too, whatever became of their sessions (ended ones count).
    for _ in range(3):
        await engine.start(ALICE, SPEC)
        await engine.end(ALICE)
    with pytest.raises(errors.TooManySessions):
        await engine.start(ALICE, SPEC)
    now[0] += 21 * 3600
    await engine.start(web, SPEC, session_id="s3")  # s0 is older than a day now


async def test_an_over_long_cv_or_job_description_is_refused_naming_the_field_and_the_limit(tmp_path):
    engine = make_engine(tmp_path)
    too_long = dataclasses.replace(SPEC, cv="x" * 50_001, jd="y" * 60_000)
    with pytest.raises(errors.InvalidInput) as refused:
        await engine.start(ALICE, too_long)
    assert refused.value.fields == {
        "cv": "must be at most 50000 characters (got 50001)",
        "jd": "must be at most 50000 characters (got 60000)",
    }
    started = await engine.start(ALICE, dataclasses.replace(SPEC, cv="x" * 50_000))
    assert len(started.session.spec.cv) == 50_000  # at the limit: kept whole


async def test_housekeeping_forgets_delivery_ids_after_a_week(tmp_path):
    now = [1_700_000_000.0]
    engine = make_engine(tmp_path, clock=lambda: now[0])
    assert await engine.first_delivery("telegram", "555")
    now[0] += 6 * 86400
    assert await engine.first_delivery("telegram", "556")
    now[0] += 2 * 86400
    await engine.housekeeping()
    assert await engine.first_delivery("telegram", "555")  # a week old: forgotten
    assert not await engine.first_delivery("telegram", "556")
