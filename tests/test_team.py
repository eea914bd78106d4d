"""Team interviews in the engine: the parts people play, the rules on ratings, and the team report."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import HttpConfig
from bot.server import create_app
from engine import InterviewSpec, Session, User, errors, space_id
from tests.engine_support import build_memory_engine
from tests.test_engine import ScriptedSpeech, voice

SPACE = User("slack", space_id("C1", "1700000000.000100"), "#team")
CAND, IVW, MATE = User("slack", "UC"), User("slack", "UI"), User("slack", "UM")
SPEC = InterviewSpec("Backend Engineer", "TechCorp", "Tech", cv="Secret CV text", jd="Kubernetes and Go")


async def started():
    engine, store = build_memory_engine(None)
    await engine.start_team(SPACE, SPEC, candidate=CAND, interviewer=IVW, place="#team", route={"channel": "C1"})
    return engine, store


async def test_nothing_is_answered_before_the_candidate_accepts_and_only_they_can():
    engine, _ = await started()
    session = await engine.get_session(SPACE)
    assert session.spec.cv == "" and session.spec.jd == ""  # never in a shared space
    assert all(q.category != "gap" for q in session.questions)
    with pytest.raises(errors.NotAllowed) as refused:
        await engine.answer_text(SPACE, "too early")
    assert refused.value.reason == "not_accepted"
    with pytest.raises(errors.NotAllowed):
        await engine.accept_team(SPACE, MATE)
    with pytest.raises(errors.NotAllowed):  # only the candidate declines, or the interviewer withdraws
        await engine.decline_team(SPACE, MATE)
    await engine.accept_team(SPACE, CAND)
    with pytest.raises(errors.NotAllowed) as late:  # once accepted, it is ended as any interview is
        await engine.decline_team(SPACE, IVW)
    assert late.value.reason == "accepted"
    await engine.answer_text(SPACE, "I built a queue.")
    assert (await engine.get_session(SPACE)).answered_count == 1


async def test_rating_rules_replacement_redelivery_and_refusals():
    engine, _ = await started()
    await engine.accept_team(SPACE, CAND)
    with pytest.raises(errors.NotAllowed) as not_given:
        await engine.rate(SPACE, MATE, 0, overall=4)
    assert not_given.value.reason == "no_answer"
    await engine.answer_text(SPACE, "I built a queue.")
    with pytest.raises(errors.NotAllowed) as own:
        await engine.rate(SPACE, CAND, 0, overall=5)
    assert own.value.reason == "own_answer"
    with pytest.raises(errors.InvalidInput):
        await engine.rate(SPACE, MATE, 0, overall=9)
    with pytest.raises(errors.InvalidInput):
        await engine.rate(SPACE, MATE, 0, content=4)  # parts come all three, or an overall
    await engine.rate(SPACE, MATE, 0, content=4, structure=3, delivery=5, comment="Clear", delivery_id="d1")
    await engine.rate(SPACE, MATE, 0, content=1, structure=1, delivery=1, delivery_id="d1")  # a redelivery
    team = (await engine.get_session(SPACE)).team
    assert team is not None and [(r.overall, r.comment) for r in team.ratings] == [(4.0, "Clear")]
    await engine.rate(SPACE, MATE, 0, overall=2, delivery_id="d2")  # a second rating replaces the first
    await engine.rate(SPACE, IVW, 0, overall=3)
    team = (await engine.get_session(SPACE)).team
    assert team is not None and sorted((r.rater, r.overall) for r in team.ratings) == [("UI", 3.0), ("UM", 2.0)]
    await engine.comment(SPACE, MATE, "Nice", delivery_id="d3")
    await engine.comment(SPACE, MATE, "Nice", delivery_id="d3")
    team = (await engine.get_session(SPACE)).team
    assert team is not None and [(c.index, c.text) for c in team.comments] == [(0, "Nice")]


async def test_the_interviewers_own_question_and_the_team_report():
    engine, store = await started()
    await engine.accept_team(SPACE, CAND)
    with pytest.raises(errors.NotAllowed):
        await engine.ask_own_question(SPACE, MATE, "Why?")
    asked = await engine.ask_own_question(SPACE, IVW, "How do you debug a flaky test?")
    assert asked.question.category == "interviewer" and asked.session.current_question == asked.question
    await engine.answer_text(SPACE, "ok")
    await engine.rate(SPACE, MATE, 0, overall=5)
    await engine.rate(SPACE, IVW, 0, overall=5)
    await engine.end(SPACE)
    report = await engine.team_report(SPACE)
    [line] = report.lines
    assert line.team.count == 2 and line.team.overall == 5.0 and line.bot_score is not None
    assert line.disagree and report.disagreements == (line,) and report.raters == 2
    # The team's part survives the store round trip, and the admin table counts the raters.
    doc = store.latest_for("slack", SPACE.user_id)
    assert doc is not None and Session.from_dict(doc).team == (await engine.latest_session(SPACE)).team
    [row] = await engine.list_sessions()
    assert (row.place, row.candidate, row.raters) == ("#team", "UC", 2)


async def test_the_http_api_shows_a_team_interviews_ratings_and_comments_to_an_admin() -> None:
    engine, _ = await started()
    await engine.accept_team(SPACE, CAND)
    await engine.answer_text(SPACE, "I built a queue with retries and a dead-letter topic.")
    await engine.rate(SPACE, MATE, 0, content=4, structure=3, delivery=5, comment="Clear")
    await engine.rate(SPACE, IVW, 0, overall=2)
    await engine.comment(SPACE, MATE, "Say what the queue was for")
    session = await engine.get_session(SPACE)
    client = TestClient(TestServer(create_app(engine, HttpConfig(admin_token="a" * 24), version="test")))
    await client.start_server()
    try:
        path = f"/api/interview/debug/sessions/slack/{SPACE.user_id}/{session.session_id}"
        assert (await client.get(path)).status == 401  # admins only
        response = await client.get(path, headers={"Authorization": "Bearer " + "a" * 24})
        body = await response.json()
        assert response.status == 200, body
        [answer] = body["answers"]
        assert sorted((r["rater"], r["overall"], r["comment"]) for r in answer["ratings"]) == [
            ("UI", 2.0, ""),
            ("UM", 4.0, "Clear"),
        ]
        assert {"rater", "content", "structure", "delivery", "overall", "comment"} == set(answer["ratings"][0])
        assert [c["text"] for c in answer["comments"]] == ["Say what the queue was for"]
        team = body["team"]
        assert team["candidate"] == "UC" and team["raters"] == 2
        assert team["per_question"][0]["team"]["overall"] == 3.0 and team["per_question"][0]["team"]["count"] == 2
        assert "Secret CV text" not in await response.text()  # never planned into a team interview
        bad = await client.get(
            f"/api/interview/debug/sessions/fax/{SPACE.user_id}/{session.session_id}",
            headers={"Authorization": "Bearer " + "a" * 24},
        )
        assert bad.status == 400
    finally:
        await client.close()


async def test_forget_takes_a_person_out_of_every_team_interview(tmp_path):
    """/forget deletes the team interviews of its candidate whole (recordings too) and elsewhere leaves nothing of the
    person: their ratings, comments and name as the interviewer go; the other people's part stays."""
    engine, store = build_memory_engine(ScriptedSpeech(("ko",)), audio_dir=tmp_path, default_language="ko")
    other = User("slack", space_id("C1", "1700000000.000200"), "#team")
    await engine.start_team(SPACE, SPEC, candidate=CAND, interviewer=IVW, place="#team", route={"channel": "C1"})
    await engine.start_team(other, SPEC, candidate=MATE, interviewer=CAND, place="#team", route={"channel": "C1"})
    await engine.accept_team(SPACE, CAND)
    await engine.answer_audio(SPACE, voice("I built a queue"))
    recording = tmp_path / (await engine.get_session(SPACE)).answers[0].audio_file
    await engine.rate(SPACE, MATE, 0, overall=4)
    await engine.accept_team(other, MATE)
    await engine.answer_text(other, "I shipped the search service.")
    await engine.rate(other, CAND, 0, overall=2, comment="More numbers")
    await engine.rate(other, IVW, 0, overall=4)
    await engine.comment(other, CAND, "Good start")
    await engine.comment(other, IVW, "Agreed")
    assert recording.is_file()

    assert await engine.forget(CAND) == 1  # no interview of their own; the team interview they were candidate of
    assert not recording.exists()
    with pytest.raises(errors.SessionNotFound):
        await engine.latest_session(SPACE)
    kept = (await engine.get_session(other)).team
    assert kept is not None and kept.candidate == MATE.user_id and (kept.interviewer, kept.interviewer_name) == ("", "")
    assert [(r.rater, r.overall) for r in kept.ratings] == [(IVW.user_id, 4.0)]
    assert [(c.author, c.text) for c in kept.comments] == [(IVW.user_id, "Agreed")]
    assert all(CAND.user_id not in str(doc) for doc in store.list_sessions())
    # With no interviewer left, the candidate runs it: they may skip and end it.
    await engine.skip(other)
    report = await engine.team_report(other, session_id=(await engine.end(other)).session_id)
    assert report.lines[0].team.count == 1 and report.interviewer == ""


async def test_forget_passes_over_a_team_interview_gone_since_the_listing():
    """Another request deleted (or moved) a team interview between /forget's listing and its turn on it."""
    engine, store = await started()
    listed = store.space_sessions("slack")
    store.delete_session("slack", SPACE.user_id, listed[0]["session_id"])
    store.space_sessions = lambda platform: listed  # type: ignore[method-assign]  # the listing taken before
    assert await engine.forget(CAND) == 0
