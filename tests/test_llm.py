"""The optional LLM grader against a local fake OpenAI-compatible server: valid, invalid, hanging and failing replies.

Whatever the model does, the rule feedback is returned at once, the answer is kept, and the stored feedback becomes
the model's only when its reply was valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import _llm_grader
from bot.config import ConfigError, HttpConfig, load_config
from bot.server import create_app
from engine import InterviewSpec, User
from engine.coaching.llm import LlmConfig, LlmGrader, build_messages, parse_reply
from engine.coaching.rubrics import rubric_for
from engine.service import InterviewEngine, Regraded
from engine.store import MemoryStore
from engine.types import Question
from tests.fake_openai import FakeOpenAI

SPEC = InterviewSpec(role_title="Senior Backend Engineer", company_name="PayCo", industry="FinTech")
USER = User("telegram", "u-llm", "Ada")
ANSWER = "we used an idempotency key sent by the client and stored the result against it so a retry got the same one"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.close()


def llm_config(fake: FakeOpenAI, **overrides: Any) -> LlmConfig:
    values: dict[str, Any] = {
        "enabled": True,
        "base_url": fake.url,
        "model": "fake-model",
        "api_key": "sk-test",
        "timeout_seconds": 2.0,
    }
    return LlmConfig(**{**values, **overrides})


async def engine_with(grader: LlmGrader | None) -> tuple[InterviewEngine, list[Regraded]]:
    engine = InterviewEngine(MemoryStore(), None, grader=grader)
    seen: list[Regraded] = []

    async def listener(item: Regraded) -> None:
        seen.append(item)

    engine.add_graded_listener(listener)
    return engine, seen


async def answer_first(engine: InterviewEngine, fake: FakeOpenAI, text: str = ANSWER) -> tuple[Any, Question]:
    started = await engine.start(USER, SPEC)
    fake.points = len(rubric_for(started.question).points)
    result = await engine.answer_text(USER, text)
    # The reply the candidate gets is the rule feedback, ready before the model has answered.
    assert result.feedback is not None and result.feedback.grader == "rules"
    assert result.next_question is not None
    return result, started.question


async def stored_feedback(engine: InterviewEngine) -> Any:
    view = await engine.get_session(USER)
    assert len(view.answers) == 1 and view.answers[0].text == ANSWER  # nothing lost
    assert view.position == 1
    return view.answers[0].feedback


async def test_valid_reply_replaces_the_rule_feedback(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    result, question = await answer_first(engine, fake)
    await engine.wait_graded()
    feedback = await stored_feedback(engine)
    assert feedback.grader == "llm"
    assert feedback.key_points[0] == {
        "point": rubric_for(question).points[0].point,
        "covered": True,
        "evidence": "idempotency key",
    }
    assert not any(p["covered"] for p in feedback.key_points[1:])
    assert feedback.relevance["on_topic"] is True and feedback.relevance["specificity"] == "high"
    assert feedback.tips == ("Say what happens when two retries race.", "Mention partial failures.")
    assert feedback.score == sum(feedback.score_parts.values())
    # Delivery is still the rules' work.
    assert feedback.score_parts["delivery"] == result.feedback.score_parts["delivery"]
    assert len(seen) == 1 and seen[0].answer.feedback == feedback and seen[0].previous == result.feedback
    # One request, with the schema asked for and the key sent; what it carried is the question and the answer.
    assert len(fake.requests) == 1
    body = fake.requests[0]["body"]
    assert fake.requests[0]["authorization"] == "Bearer sk-test"
    assert body["model"] == "fake-model"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    user_message = body["messages"][-1]["content"]
    assert question.text in user_message and ANSWER in user_message
    assert "speech recogniser" in body["messages"][0]["content"]
    assert "never credit anything they did not say" in body["messages"][0]["content"]
    health = (await engine.health())["llm"]
    assert health["configured"] is True and health["last_call"] == "ok" and health["latency_ms"] is not None
    await grader.close()


async def test_invalid_json_gets_one_repair_attempt(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    fake.script = ["invalid", "valid"]
    await answer_first(engine, fake)
    await engine.wait_graded()
    assert (await stored_feedback(engine)).grader == "llm"
    assert len(fake.requests) == 2
    repair = fake.requests[1]["body"]["messages"]
    assert repair[-2]["role"] == "assistant" and "not valid" in repair[-1]["content"]
    assert len(seen) == 1
    await grader.close()


async def test_invalid_twice_keeps_the_rules(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    fake.script = ["invalid", "invalid", "valid"]
    result, _ = await answer_first(engine, fake)
    await engine.wait_graded()
    assert await stored_feedback(engine) == result.feedback
    assert len(fake.requests) == 2  # at most one repair
    assert seen == []
    assert grader.status()["last_call"] == "error" and "invalid reply" in grader.status()["last_error"]
    await grader.close()


async def test_a_hang_past_the_timeout_never_delays_the_reply(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake, timeout_seconds=1.0))
    engine, seen = await engine_with(grader)
    fake.script = ["hang"]
    began = time.monotonic()
    result, _ = await answer_first(engine, fake)
    assert time.monotonic() - began < 0.9  # the rule reply did not wait for the model
    await engine.wait_graded()
    assert time.monotonic() - began < 4  # the call was given up after its timeout
    assert await stored_feedback(engine) == result.feedback
    assert len(fake.requests) == 1 and seen == []
    status = grader.status()
    assert status["last_call"] == "error" and "timed out" in status["last_error"]
    # The candidate goes on answering meanwhile.
    assert (await engine.answer_text(USER, "next answer")).answer.index == 1
    await engine.wait_graded()
    await grader.close()


async def test_http_500_keeps_the_rules(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    fake.script = ["500"]
    result, _ = await answer_first(engine, fake)
    await engine.wait_graded()
    assert await stored_feedback(engine) == result.feedback
    assert len(fake.requests) == 1  # no retries by the client
    assert seen == [] and grader.status()["last_call"] == "error" and grader.status()["failures"] == 1
    await grader.close()


async def test_evidence_the_answer_does_not_contain_is_not_believed(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, _ = await engine_with(grader)
    fake.script = ["bad-evidence"]
    await answer_first(engine, fake)
    await engine.wait_graded()
    feedback = await stored_feedback(engine)
    assert feedback.grader == "llm"
    assert not any(p["covered"] for p in feedback.key_points)
    assert all(p["evidence"] is None for p in feedback.key_points)
    await grader.close()


async def test_an_unreachable_endpoint_keeps_the_rules() -> None:
    grader = LlmGrader(LlmConfig(enabled=True, base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=1.0))
    engine, seen = await engine_with(grader)
    started = await engine.start(USER, SPEC)
    result = await engine.answer_text(USER, ANSWER)
    await engine.wait_graded()
    view = await engine.get_session(USER)
    assert view.answers[0].feedback == result.feedback and seen == [] and started.question
    assert grader.status()["last_call"] == "error"
    await grader.close()


async def test_nothing_is_sent_when_llm_is_off(fake: FakeOpenAI) -> None:
    for config in (LlmConfig(), llm_config(fake, enabled=False), llm_config(fake, model="")):
        assert _llm_grader(config) is None
    engine, seen = await engine_with(_llm_grader(llm_config(fake, enabled=False)))
    await engine.start(USER, SPEC)
    result = await engine.answer_text(USER, ANSWER)
    await engine.wait_graded()
    assert (await engine.get_session(USER)).answers[0].feedback == result.feedback
    assert fake.requests == [] and seen == []
    assert (await engine.health())["llm"] == {"configured": False}


async def test_http_state_report_and_healthz_show_the_model(fake: FakeOpenAI) -> None:
    grader = _llm_grader(llm_config(fake))
    assert grader is not None
    engine, _ = await engine_with(grader)
    client = TestClient(TestServer(create_app(engine, HttpConfig(), version="t")))
    await client.start_server()
    try:
        ids = {"user_id": "h1", "session_id": "s1"}
        start = {**ids, "role_title": "Backend Engineer", "company_name": "PayCo", "industry": "FinTech"}
        resp = await client.post("/api/interview/start", json=start)
        assert resp.status == 201
        asked = (await resp.json())["question"]
        question = Question(asked["id"], asked["category"], asked["text"], asked.get("skill", ""))
        fake.points = len(rubric_for(question).points)
        resp = await client.post("/api/interview/answer", data={**ids, "text": ANSWER})
        assert resp.status == 200
        assert (await resp.json())["feedback"]["grader"] == "rules"
        await engine.wait_graded()
        state = await (await client.get("/api/interview/state/h1/s1")).json()
        assert state["answers"][0]["feedback"]["grader"] == "llm"
        assert state["answers"][0]["feedback"]["key_points"][0]["evidence"] == "idempotency key"
        resp = await client.get("/api/interview/report/h1/s1")
        assert resp.status == 200
        health = (await (await client.get("/healthz")).json())["llm"]
        assert health["configured"] is True and health["last_call"] == "ok" and health["model"] == "fake-model"
        # Without a CV or job description, none is sent.
        assert "CV" not in fake.requests[0]["body"]["messages"][-1]["content"]
    finally:
        await client.close()
        await grader.close()


def test_the_cv_and_jd_are_sent_only_when_given() -> None:
    question = Question("q", "technical", "How would you make a payment endpoint safe to retry?")
    without = build_messages(question, "an answer", SPEC, voice=True)[-1]["content"]
    assert "CV" not in without and "job description" not in without
    assert "speech recogniser transcript" in without
    spec = InterviewSpec("Backend Engineer", "PayCo", "FinTech", cv="Python for 5 years", jd="Needs Go")
    given = build_messages(question, "an answer", spec, voice=False)[-1]["content"]
    assert "Python for 5 years" in given and "Needs Go" in given and "typed by the candidate" in given
    # Who the candidate is, and where they apply, stay here.
    assert "PayCo" not in given and "Backend Engineer" not in given


@pytest.mark.parametrize(
    "content",
    [
        None,
        "not json",
        "[]",
        json.dumps({"on_topic": True}),
        json.dumps(
            {
                "on_topic": "yes",
                "relevance_reason": "",
                "key_points": [],
                "specificity": "high",
                "star": {},
                "tips": ["x"],
            }
        ),
    ],
)
def test_invalid_replies_are_refused(content: str | None) -> None:
    from engine.coaching.llm import InvalidReply

    with pytest.raises(InvalidReply):
        parse_reply(content, 3)


def test_wrong_number_of_key_points_is_refused() -> None:
    from engine.coaching.llm import InvalidReply

    fake = FakeOpenAI()
    fake.points = 2
    with pytest.raises(InvalidReply, match="each of the 3 key points"):
        parse_reply(json.dumps(fake.grade()), 3)
    assert parse_reply("```json\n" + json.dumps(fake.grade()) + "\n```", 2)["on_topic"] is True


def test_llm_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[llm]\nenabled = true\nmodel = "llama3"\nbase_url = "http://127.0.0.1:11434/v1"\n')
    llm = load_config(path, {"LLM_API_KEY": "from-env"}).llm
    assert llm == LlmConfig(True, "http://127.0.0.1:11434/v1", "llama3", "from-env", 20.0, 2)
    assert llm.configured
    assert load_config(None, {}).llm == LlmConfig() and not LlmConfig().configured
    for text, message in (
        ("[llm]\nenabled = true\n", "'llm.model' must name a model"),
        ("[llm]\ntimeout_seconds = 0\n", "'llm.timeout_seconds' must be greater than 0"),
        ("[llm]\nmax_followups = -1\n", "'llm.max_followups' must be 0 or more"),
        ("[llm]\nmodel = 3\n", "'llm.model' must be a string"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_config(path, {})


async def test_the_chat_layer_puts_the_models_feedback_in_place_of_the_rules(fake: FakeOpenAI) -> None:
    from adapters.chat import Chat, Command, Edit, Kind, Text
    from adapters.telegram import TelegramConfig
    from adapters.telegram.bot import surface as telegram_surface

    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    chat = Chat(engine, telegram_surface(TelegramConfig()))
    user = User("telegram", "4242", "Ada")
    place = {"chat_id": 4242}
    started = [r async for r in chat.handle(user, Command("interview", "Backend Engineer at PayCo (FinTech)"), place)]
    question = next(r.question for r in started if r.kind is Kind.QUESTION)
    assert question is not None
    fake.points = len(rubric_for(question).points)
    replies = [r async for r in chat.handle(user, Text(ANSWER), place)]
    answer = next(r for r in replies if r.kind is Kind.ANSWER)
    assert answer.result is not None and answer.result.feedback is not None
    assert answer.result.feedback.grader == "rules"  # replied at once, before the model
    await engine.wait_graded()
    assert len(seen) == 1
    updated = [r async for r in chat.regraded(seen[0])]
    assert len(updated) == 1  # no follow-up proposed, none asked
    assert updated[0].kind is Kind.ANSWER and updated[0].edit is Edit.ANSWER and updated[0].to == place
    assert updated[0].label == "1" and updated[0].result is not None
    assert updated[0].result.answer.index == answer.result.answer.index  # the renderer finds the message it edits
    assert updated[0].text.startswith("🔄 Answer 1: feedback updated by the model.")
    assert "Say what happens when two retries race." in updated[0].text
    assert ANSWER not in answer.text or "Typed answer received" in updated[0].text
    await grader.close()


async def test_a_thin_answer_gets_the_models_follow_up_as_question_1a(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake, max_followups=1))
    engine, seen = await engine_with(grader)
    fake.follow_up = "What did the client send with each retry"
    result, _ = await answer_first(engine, fake)
    planned_next = result.next_question
    await engine.wait_graded()
    assert len(seen) == 1 and seen[0].follow_up is not None
    follow_up = seen[0].follow_up
    assert follow_up.text == "What did the client send with each retry?" and follow_up.category == "follow-up"
    session = await engine.get_session(USER)
    assert session.current_question == follow_up and session.label(session.position) == "1a"
    assert session.total == result.session.total + 1 and session.planned == result.session.planned
    assert seen[0].session.current_question == follow_up  # what the adapters are given to ask

    # The candidate answers the follow-up; then the planned question 2 comes, numbered 2.
    answered = await engine.answer_text(USER, "the client sent the same key and we looked it up before charging")
    assert answered.answer.question == follow_up and answered.next_question == planned_next
    assert answered.session.label(answered.session.position) == "2"
    await engine.wait_graded()
    assert seen[-1].follow_up is None  # no follow-up on a follow-up
    # The interview's limit of one is used up: the next thin answer gets none.
    await engine.answer_text(USER, "I would ask the team")
    await engine.wait_graded()
    assert seen[-1].follow_up is None and (await engine.get_session(USER)).follow_ups == 1
    report = await engine.report(USER)
    assert [item.label for item in report.per_question][:3] == ["1", "1a", "2"]
    await grader.close()


async def test_a_follow_up_comes_too_late_once_the_next_question_is_answered(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    fake.follow_up = "Which part of that did you build yourself"
    fake.gate = asyncio.Event()  # the model is slow: the candidate answers question 2 first
    result, _ = await answer_first(engine, fake)
    second = await engine.answer_text(USER, "I led the migration of our billing service to Postgres")
    assert second.answer.question == result.next_question
    fake.gate.set()
    await engine.wait_graded()
    by_answer = {item.answer.index: item for item in seen}
    assert by_answer[0].follow_up is None  # question 2 was answered before it arrived
    assert by_answer[1].follow_up is not None  # the latest answer may still get one, asked before question 3
    session = await engine.get_session(USER)
    assert [session.label(n) for n in range(session.position + 1)] == ["1", "2", "2a"]
    await grader.close()


def test_a_follow_up_that_gives_the_answer_away_is_dropped() -> None:
    from engine.coaching.llm import follow_up_question

    question = Question(id="tech_retry", category="technical", text="How would you make a payment endpoint safe?")
    rubric = rubric_for(question)
    point = rubric.points[0].point
    assert follow_up_question(f"Did you consider {point}?", rubric) == ""
    assert follow_up_question("ok?", rubric) == ""
    assert follow_up_question("  What happened   next  ", rubric) == "What happened next?"


@contextlib.asynccontextmanager
async def telegram_with_model(fake: FakeOpenAI) -> AsyncIterator[Any]:
    """The Telegram adapter on the fake Bot API, its engine grading with the fake model; yields the fake Bot API."""
    from adapters.telegram import TelegramAdapter, TelegramConfig
    from tests.fake_telegram import FakeTelegram

    telegram = FakeTelegram()
    await telegram.start()
    grader = LlmGrader(llm_config(fake))
    engine = InterviewEngine(MemoryStore(), None, grader=grader)
    adapter = TelegramAdapter(
        engine,
        TelegramConfig(token=telegram.token, api_base_url=telegram.base_url, file_base_url=telegram.file_base_url),
    )
    await adapter.open()
    await adapter.start()
    try:
        yield telegram
    finally:
        await adapter.stop()
        await grader.close()
        await telegram.close()


async def test_telegram_edits_the_answer_in_place_and_asks_the_follow_up(fake: FakeOpenAI) -> None:
    async with telegram_with_model(fake) as telegram:
        fake.follow_up = "What did the client send with each retry"
        fake.gate = asyncio.Event()  # the model answers once the rule reply is out
        await telegram.push(telegram.text_update(77, "/interview Senior Backend Engineer at PayCo (FinTech)"))
        await telegram.wait_for_text(77, "Question 1 of")
        await telegram.push(telegram.text_update(77, ANSWER))
        answer = await telegram.wait_for_text(77, "Typed answer received")
        await telegram.wait_for_text(77, "Question 2 of")
        sent_before = len(telegram.chat(77))
        fake.gate.set()
        await telegram.wait_for_text(77, "Follow-up question 1a", after=sent_before)
        assert answer.text.startswith("🔄 Answer 1: feedback updated by the model.")  # edited, not sent anew
        assert "Say what happens when two retries race." in answer.text and answer.edits
        new = telegram.chat(77)[sent_before:]
        assert len(new) == 1 and "What did the client send with each retry?" in new[0].text
        assert "before question 2" in new[0].text
        await telegram.push(telegram.text_update(77, "/repeat"))
        await telegram.wait_for_text(77, "Follow-up question 1a", after=sent_before + 1)


async def test_in_a_telegram_team_interview_the_models_feedback_keeps_the_teams_line_and_buttons(
    fake: FakeOpenAI,
) -> None:
    group, candidate, mate = -100555, 71, 72
    async with telegram_with_model(fake) as telegram:
        fake.gate = asyncio.Event()  # the model answers once the rule reply is out
        await telegram.push(telegram.group_update(candidate, group, text="/interview Senior Backend Engineer at PayCo"))
        invite = await telegram.wait_for_text(group, "Team mock interview")
        await telegram.push(telegram.press_update(candidate, invite, invite.button_data("Start")))
        question = await telegram.wait_for_text(group, "Question 1 of")
        await telegram.push(telegram.group_update(candidate, group, reply_to=question, text=ANSWER))
        answer = await telegram.wait_for_text(group, "Typed answer received")
        await telegram.push(telegram.press_update(mate, answer, answer.button_data("4")))
        await telegram.wait_until(lambda: "1 rating, average 4.0/5" in answer.text)
        fake.gate.set()
        await telegram.wait_until(lambda: answer.text.startswith("🔄 Answer 1: feedback updated by the model."))
        assert "Say what happens when two retries race." in answer.text
        assert "👥 Team on answer 1: 1 rating, average 4.0/5" in answer.text  # the team's line stays
        assert [b["text"] for b in answer.buttons] == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]  # and so do the buttons


async def test_a_finished_interview_gets_the_models_summary_in_its_report(fake: FakeOpenAI, tmp_path: Path) -> None:
    from engine.store import TinyDBStore

    grader = LlmGrader(llm_config(fake))
    store = TinyDBStore(tmp_path / "sessions.json")  # the real files: a finished session is archived
    try:
        engine = InterviewEngine(store, None, grader=grader)
        started = await engine.start(USER, SPEC)
        result = None
        for _ in range(started.session.total):
            result = await engine.answer_text(USER, ANSWER)
        assert result is not None and result.report is not None and result.report.summary == ""
        await engine.wait_graded()
        report = await engine.report(USER, session_id=started.session.session_id)
        assert report.summary == "You explain retries well; add outcomes."
        view = await engine.get_session(USER, started.session.session_id)
        assert all(a.feedback is not None and a.feedback.grader == "llm" for a in view.answers)
        summary_requests = [r for r in fake.requests if "interview_summary" in json.dumps(r["body"]["response_format"])]
        assert len(summary_requests) == 1
        assert ANSWER in summary_requests[0]["body"]["messages"][-1]["content"]
        # The summary was asked for after every answer had been graded.
        assert fake.requests[-1] is summary_requests[0]
    finally:
        await grader.close()
        store.close()


async def test_a_failed_summary_leaves_the_report_as_it_was(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, _ = await engine_with(grader)
    started = await engine.start(USER, SPEC)
    await engine.answer_text(USER, ANSWER)
    await engine.wait_graded()
    fake.script = ["500"]
    report = await engine.end(USER)
    await engine.wait_graded()
    assert report.summary == ""
    assert (await engine.report(USER, session_id=started.session.session_id)).summary == ""
    assert grader.status()["last_call"] == "error"
    await grader.close()


def test_the_summary_shows_in_the_chat_report_text_and_slack_blocks() -> None:
    from adapters.chat.words import Words
    from adapters.slack.blocks import _report
    from engine import Report

    report = Report("s1", "Backend Engineer", "PayCo", "completed", 70, 1, 0, 1, summary="You explain <well> & clearly")
    assert "Summary from the model: You explain <well> & clearly" in Words.report(report)
    blocks = json.dumps(_report(report, lead=[]))
    assert "Summary from the model" in blocks and "&lt;well&gt; &amp; clearly" in blocks
    without = Report("s1", "Backend Engineer", "PayCo", "completed", 70, 1, 0, 1)
    assert "Summary" not in Words.report(without) and "Summary" not in json.dumps(_report(without, lead=[]))


async def test_shutdown_waits_briefly_for_gradings_then_cuts_them_short(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake, timeout_seconds=30.0))
    engine, seen = await engine_with(grader)
    fake.gate = asyncio.Event()
    result, _ = await answer_first(engine, fake)
    began = time.monotonic()
    await engine.stop_grading(0.3)  # the model never answers: given up after the grace, not its 30 s timeout
    assert time.monotonic() - began < 2
    assert seen == [] and await stored_feedback(engine) == result.feedback
    await engine.answer_text(USER, "an answer after the shutdown began")
    await engine.wait_graded()
    assert len(fake.requests) == 1  # nothing new was sent to the model
    fake.gate.set()


async def test_shutdown_lets_a_grading_under_way_finish(fake: FakeOpenAI) -> None:
    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    fake.gate = asyncio.Event()
    await answer_first(engine, fake)
    asyncio.get_running_loop().call_later(0.2, fake.gate.set)
    await engine.stop_grading(5.0)
    assert len(seen) == 1 and (await stored_feedback(engine)).grader == "llm"
