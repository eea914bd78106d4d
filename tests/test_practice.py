"""Practising again, in the engine: retakes with a comparison, corrected transcripts, progress and the charts."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import HttpConfig
from bot.server import create_app
from engine import AudioInput, InterviewSpec, Transcript, User, errors
from engine.coaching.feedback import analyze_answer, job_terms
from engine.service import InterviewEngine
from engine.store import MemoryStore
from tests.test_engine import ScriptedSpeech, voice

SPEC = InterviewSpec(role_title="Senior Backend Engineer", company_name="PayCo", industry="FinTech")
ADA = User("telegram", "2001", "Ada")
STRONG = (
    "In my last role our checkout service was timing out under load before Black Friday. My task was to cut "
    "latency. I profiled the Python code, moved the hot queries to PostgreSQL indexes and added caching. As a "
    "result p95 latency dropped by 60 percent and we handled twice the traffic."
)
DELIVERY = {"pauses": {"count": 2, "longest_seconds": 3.1, "longest_at_seconds": 4.0}, "fillers_per_100": 4.0}


class SpeechWithDelivery(ScriptedSpeech):
    """Scripted speech whose transcripts carry a delivery analysis, as the real pipeline's do."""

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        transcript = await super().transcribe(audio, language)
        return dataclasses.replace(transcript, delivery=DELIVERY)


def make(tmp_path: Path) -> InterviewEngine:
    return InterviewEngine(MemoryStore(), SpeechWithDelivery(), audio_dir=tmp_path / "audio")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_a_retake_answers_the_question_again_compares_and_carries_on(tmp_path: Path) -> None:
    engine = make(tmp_path)
    started = await engine.start(ADA, SPEC)
    first = await engine.answer_text(ADA, "I am not sure really")
    second_question = first.next_question
    with pytest.raises(errors.InvalidInput):  # question 2 has not been reached
        await engine.retake(ADA, question_index=1)
    view = await engine.retake(ADA)  # the last answered: question 1
    assert view.retake == 0 and view.current_question == started.question
    assert view.position == 1  # the interview stays where it was

    again = await engine.answer_text(ADA, STRONG)
    assert again.answer.index == 0 and again.answer.attempt == 2
    assert again.next_question == second_question  # back to question 2
    comparison = again.comparison
    assert comparison is not None and comparison["previous_attempt"] == 1 and comparison["attempt"] == 2
    assert comparison["score"]["before"] == first.feedback.score  # type: ignore[union-attr]
    assert comparison["score"]["after"] == again.feedback.score  # type: ignore[union-attr]
    assert comparison["score"]["after"] > comparison["score"]["before"]
    assert set(comparison["parts"]) == {"content", "structure", "delivery", "relevance"}
    assert comparison["key_points_dropped"] == [] and isinstance(comparison["key_points_gained"], list)

    session = await engine.get_session(ADA)
    assert [(a.index, a.attempt) for a in session.answers] == [(0, 1), (0, 2)]  # both attempts kept
    assert session.answered_count == 1 and session.current_question == second_question
    report = await engine.report(ADA)
    assert report.per_question[0].attempts == 2 and report.per_question[0].score == again.feedback.score  # type: ignore[union-attr]
    # A worse third attempt does not lower the report: the best one counts.
    await engine.retake(ADA, question_index=0)
    worse = await engine.answer_text(ADA, "no idea")
    assert worse.comparison is not None and worse.comparison["score"]["before"] == again.feedback.score  # type: ignore[union-attr]
    assert (await engine.report(ADA)).per_question[0].score == again.feedback.score  # type: ignore[union-attr]


async def test_a_skipped_question_can_be_retaken_and_then_counts_as_answered(tmp_path: Path) -> None:
    engine = make(tmp_path)
    await engine.start(ADA, SPEC)
    await engine.skip(ADA)
    assert (await engine.get_session(ADA)).skipped_count == 1
    await engine.retake(ADA, question_index=0)
    result = await engine.answer_text(ADA, STRONG)
    assert result.comparison is not None and result.comparison["score"]["before"] is None
    session = await engine.get_session(ADA)
    assert session.skipped_count == 0 and session.answered_count == 1


async def test_retake_refuses_when_there_is_nothing_to_retake(tmp_path: Path) -> None:
    engine = make(tmp_path)
    with pytest.raises(errors.SessionNotFound):
        await engine.retake(ADA)
    await engine.start(ADA, SPEC)
    with pytest.raises(errors.NoAnswerYet):
        await engine.retake(ADA)
    with pytest.raises(errors.InvalidInput):
        await engine.retake(ADA, question_index=True)  # type: ignore[arg-type]


async def test_a_retake_of_the_last_question_does_not_finish_twice(tmp_path: Path) -> None:
    engine = make(tmp_path)
    started = await engine.start(ADA, SPEC)
    for _ in range(started.session.total - 1):
        await engine.answer_text(ADA, "something short")
    await engine.retake(ADA, question_index=0)
    retaken = await engine.answer_text(ADA, STRONG)
    assert retaken.report is None and retaken.session.status == "active"
    last = await engine.answer_text(ADA, STRONG)
    assert last.report is not None and last.answer.index == started.session.total - 1


async def test_a_corrected_transcript_is_judged_again_and_keeps_the_delivery(tmp_path: Path) -> None:
    engine = make(tmp_path)
    await engine.start(ADA, SPEC)
    heard = await engine.answer_audio(ADA, voice("i was timing out under load"))
    assert heard.feedback is not None and heard.feedback.delivery == DELIVERY
    fixed = await engine.correct(ADA, STRONG)
    assert fixed.answer.text == STRONG and fixed.answer.original_text == "i was timing out under load"
    assert fixed.answer.corrected and fixed.answer.index == 0
    feedback = fixed.feedback
    assert feedback is not None and feedback.delivery == DELIVERY  # from the audio, untouched
    assert feedback.score_parts["delivery"] == heard.feedback.score_parts["delivery"]
    assert feedback.wpm == heard.feedback.wpm and feedback.duration == heard.feedback.duration
    reread = analyze_answer(fixed.answer.question, STRONG, job_terms=job_terms(SPEC))
    for part in ("content", "structure", "relevance"):  # judged on the corrected words
        assert feedback.score_parts[part] == reread.score_parts[part]
    assert feedback.key_points == reread.key_points and feedback.unsure_words == ()
    assert feedback.score == sum(feedback.score_parts.values())
    stored = (await engine.get_session(ADA)).answers[0]
    assert stored.text == STRONG and stored.original_text == "i was timing out under load"
    # A second correction keeps the recogniser's words as the original.
    again = await engine.correct(ADA, "I cut latency with caching", answer_index=0)
    assert again.answer.original_text == "i was timing out under load"


async def test_correct_refuses_bad_input(tmp_path: Path) -> None:
    engine = make(tmp_path)
    await engine.start(ADA, SPEC)
    with pytest.raises(errors.NoAnswerYet):
        await engine.correct(ADA, "anything")
    await engine.answer_text(ADA, "typed answer here")
    with pytest.raises(errors.InvalidInput):
        await engine.correct(ADA, "   ")
    with pytest.raises(errors.InvalidInput):
        await engine.correct(ADA, "text", answer_index=5)


async def test_progress_lists_finished_interviews_oldest_first_with_a_chart(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    engine = InterviewEngine(MemoryStore(), SpeechWithDelivery(), audio_dir=tmp_path / "audio", clock=lambda: now[0])
    assert await engine.progress(ADA) == []
    with pytest.raises(errors.NoAnswerYet):
        await engine.progress_chart(ADA)
    reports = []
    for answer in ("I am not sure", STRONG):
        await engine.start(ADA, SPEC)
        await engine.answer_text(ADA, answer)
        await engine.answer_audio(ADA, voice("um so we cached the hot queries and um cut latency by half"))
        reports.append(await engine.end(ADA))
        now[0] += 86400
    await engine.start(ADA, SPEC)  # running: not on the progress line
    entries = await engine.progress(ADA)
    assert len(entries) == 2 and entries[0].finished_at < entries[1].finished_at
    assert [e.session_id for e in entries] == [r.session_id for r in reports]  # oldest first
    assert [e.score for e in entries] == [r.overall_score for r in reports]  # the same score the report gave
    assert entries[0].wpm is not None and entries[0].fillers_per_100 is not None
    assert entries[0].coverage is not None and 0 <= entries[0].coverage <= 1
    width, _ = png_size(await engine.progress_chart(ADA))
    assert width >= 800


async def test_the_report_chart_is_a_png_of_the_interview(tmp_path: Path) -> None:
    engine = make(tmp_path)
    await engine.start(ADA, SPEC)
    with pytest.raises(errors.NoAnswerYet):
        await engine.report_chart(ADA)
    await engine.answer_audio(ADA, voice("we cached the hot queries and cut latency by half"))
    await engine.answer_text(ADA, STRONG)
    await engine.skip(ADA)
    width, height = png_size(await engine.report_chart(ADA))
    assert width >= 800 and height > width


# ----- HTTP ----------------------------------------------------------------------------------------------------

IDS = {"user_id": "cand-1", "session_id": "s-1"}


async def test_http_retake_correct_progress_and_charts(tmp_path: Path) -> None:
    client = TestClient(TestServer(create_app(make(tmp_path), HttpConfig(), version="test")))
    await client.start_server()
    try:
        start = {**IDS, "role_title": "Senior Backend Engineer", "company_name": "PayCo", "industry": "FinTech"}
        assert (await client.post("/api/interview/start", json=start)).status == 201
        early = await client.post("/api/interview/retake", json=IDS)
        assert early.status == 409 and (await early.json())["code"] == "no_answer_yet"
        await client.post("/api/interview/answer", json={**IDS, "text": "I am not sure really"})

        retake = await client.post("/api/interview/retake", json={**IDS, "question_index": 0})
        state = await retake.json()
        assert retake.status == 200 and state["progress"]["retake"] == 0
        assert state["current_question"]["audio_url"] is None and state["progress"]["position"] == 1
        bad = await client.post("/api/interview/retake", json={**IDS, "question_index": "first"})
        assert bad.status == 400 and "question_index" in (await bad.json())["fields"]

        answered = await (await client.post("/api/interview/answer", json={**IDS, "text": STRONG})).json()
        assert answered["answer"]["attempt"] == 2 and answered["answer"]["index"] == 0
        comparison = answered["comparison"]
        assert comparison["score"]["after"] > comparison["score"]["before"]
        assert answered["progress"]["retake"] is None and answered["next_question"]["index"] == 1

        fixed = await client.post("/api/interview/correct", json={**IDS, "text": "I led the PostgreSQL migration"})
        body = await fixed.json()
        assert fixed.status == 200 and body["answer"]["corrected"] is True
        assert body["answer"]["original_text"] == STRONG and body["transcript"] == "I led the PostgreSQL migration"
        missing = await client.post("/api/interview/correct", json=IDS)
        assert missing.status == 400 and "text" in (await missing.json())["fields"]

        none_yet = await client.get("/api/interview/progress/cand-1/chart.png")
        assert none_yet.status == 409
        chart = await client.get("/api/interview/report/cand-1/s-1/chart.png")
        assert chart.status == 200 and chart.content_type == "image/png"
        assert png_size(await chart.read())[0] >= 800

        report = await (await client.post("/api/interview/end", json=IDS)).json()
        assert report["report"]["per_question"][0]["attempts"] == 2
        reopened = await client.post("/api/interview/retake", json={**IDS, "question_index": 0})
        state = await reopened.json()
        assert reopened.status == 200 and state["status"] == "active" and state["progress"]["reopened"] == "ended"
        redone = await (await client.post("/api/interview/answer", json={**IDS, "text": "I am not sure"})).json()
        assert redone["answer"]["attempt"] == 3 and redone["next_question"] is None
        assert redone["report"]["per_question"][0]["attempts"] == 3 and redone["progress"]["reopened"] is None
        assert redone["report"]["overall_score"] == report["report"]["overall_score"]  # the best attempt still counts
        progress = await (await client.get("/api/interview/progress/cand-1")).json()
        [entry] = progress["interviews"]
        assert entry["session_id"] == "s-1" and entry["score"] == report["report"]["overall_score"]
        trend = await client.get("/api/interview/progress/cand-1/chart.png")
        assert trend.status == 200 and png_size(await trend.read())[0] >= 800
        hostile = await client.get("/api/interview/progress/..%2Fetc/chart.png")
        assert hostile.status in (400, 404)
    finally:
        await client.close()


async def finished(engine: InterviewEngine, *, answers: int | None = None) -> None:
    """An interview of ADA answered to the end, or ended early after `answers` answers."""
    started = await engine.start(ADA, SPEC)
    for _ in range(answers if answers is not None else len(started.session.questions)):
        await engine.answer_text(ADA, "I am not sure really")
    if answers is not None:
        await engine.end(ADA)


async def test_a_finished_interview_reopens_for_one_retake_and_its_report_is_brought_up_to_date(
    tmp_path: Path,
) -> None:
    engine = make(tmp_path)
    await finished(engine)
    before = await engine.report(ADA)
    view = await engine.retake(ADA, question_index=1)
    assert view.status == "active" and view.reopened == "completed" and view.retake == 1
    # Still a finished interview on the progress line while its retake waits.
    assert [(e.status, e.score) for e in await engine.progress(ADA)] == [("completed", before.overall_score)]
    with pytest.raises(errors.SessionInProgress):  # one interview at a time, a reopened one included
        await engine.start(ADA, SPEC)

    again = await engine.answer_text(ADA, STRONG)
    assert again.answer.attempt == 2 and again.comparison is not None and again.next_question is None
    assert again.report is not None and again.report.per_question[1].attempts == 2
    assert again.report.overall_score > before.overall_score
    session = await engine.latest_session(ADA)
    assert session.status == "completed" and session.reopened == "" and session.retake is None
    assert [e.score for e in await engine.progress(ADA)] == [again.report.overall_score]


async def test_an_interview_ended_early_stays_ended_after_its_retake_and_end_leaves_one_as_it_was(
    tmp_path: Path,
) -> None:
    speech = SpeechWithDelivery()
    engine = InterviewEngine(MemoryStore(), speech, audio_dir=tmp_path / "audio")
    await finished(engine, answers=2)
    await engine.retake(ADA)  # the last answered: question 2
    speech.fail_next = errors.TranscriptionFailed()  # a voice retake fails; the candidate types it instead
    with pytest.raises(errors.TranscriptionFailed):
        await engine.answer_audio(ADA, voice("cached the hot queries"))
    assert (await engine.get_session(ADA)).failed_voice_answers == 1
    again = await engine.answer_text(ADA, STRONG)
    assert again.answer.index == 1 and again.next_question is None and again.report is not None
    session = await engine.latest_session(ADA)
    assert (session.status, session.position, len(session.answers)) == ("ended", 2, 3)  # nothing more asked
    assert session.pending_count == 0  # the failed attempt is settled as when an interview finishes

    await engine.retake(ADA, question_index=0)
    report = await engine.end(ADA)  # changed their mind: the interview is as it was, and no attempt was added
    session = await engine.latest_session(ADA)
    assert (session.status, session.retake, session.reopened, len(session.answers)) == ("ended", None, "", 3)
    assert report.per_question[1].attempts == 2


async def test_only_the_latest_finished_interview_reopens_and_never_beside_a_running_one(tmp_path: Path) -> None:
    engine = make(tmp_path)
    await finished(engine, answers=1)
    old = (await engine.latest_session(ADA)).session_id
    await engine.start(ADA, SPEC)
    await engine.answer_text(ADA, "First answer of the new one")
    with pytest.raises(errors.SessionInProgress):
        await engine.retake(ADA, session_id=old)
    view = await engine.retake(ADA)  # with one running, a retake is of that one
    assert view.session_id != old and view.reopened == ""


async def test_a_reopened_retake_left_unanswered_goes_back_to_how_the_interview_finished(tmp_path: Path) -> None:
    now = [1_000_000.0]
    engine = InterviewEngine(MemoryStore(), SpeechWithDelivery(), audio_dir=tmp_path / "audio", clock=lambda: now[0])
    await finished(engine)
    await engine.retake(ADA, question_index=0)
    now[0] += 31 * 86400  # past abandon_after_days
    await engine.housekeeping()
    session = await engine.latest_session(ADA)
    assert (session.status, session.retake, session.reopened) == ("completed", None, "")
