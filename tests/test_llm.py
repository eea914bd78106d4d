"""The optional LLM grader against a local fake OpenAI-compatible server: valid, invalid, hanging and failing replies.

Whatever the model does, the rule feedback is returned at once, the answer is kept, and the stored feedback becomes
the model's only when its reply was valid.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
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

SPEC = InterviewSpec(role_title="Senior Backend Engineer", company_name="PayCo", industry="FinTech")
USER = User("telegram", "u-llm", "Ada")
ANSWER = "we used an idempotency key sent by the client and stored the result against it so a retry got the same one"


class FakeOpenAI:
    """POST /v1/chat/completions on 127.0.0.1 (a port the OS picks), replying as scripted, one step per request."""

    def __init__(self) -> None:
        self.script: list[str] = []  # "valid", "invalid", "hang", "500", "bad-evidence"; empty: "valid"
        self.requests: list[dict[str, Any]] = []
        self.points = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def grade(self, *, evidence: str = "idempotency key") -> dict[str, Any]:
        points = [{"index": n, "covered": n == 0, "evidence": evidence if n == 0 else None} for n in range(self.points)]
        return {
            "on_topic": True,
            "relevance_reason": "It explains how retries are made safe.",
            "key_points": points,
            "specificity": "high",
            "star": {"situation": False, "task": False, "action": True, "result": False},
            "tips": ["Say what happens when two retries race.", "Mention partial failures."],
        }

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("Authorization", "")})
        step = self.script.pop(0) if self.script else "valid"
        if body["response_format"]["json_schema"]["name"] == "interview_summary" and step == "valid":
            return self._reply(body, json.dumps({"summary": "You explain retries well; add outcomes."}))
        # As many key points as the rubric in the request lists ("0. ...", "1. ...").
        self.points = len(re.findall(r"^\d+\. ", body["messages"][1]["content"].split("The answer (")[0], re.M))
        if step == "hang":
            await self._release.wait()
        if step == "500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        content = {
            "valid": lambda: json.dumps(self.grade()),
            "bad-evidence": lambda: json.dumps(self.grade(evidence="we sharded the database by region")),
            "invalid": lambda: "Sure! Here is the grade: {on_topic: yes",
            "hang": lambda: json.dumps(self.grade()),
        }[step]()
        return self._reply(body, content)

    @staticmethod
    def _reply(body: dict[str, Any], content: str) -> web.Response:
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            }
        )


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


async def test_the_chat_layer_sends_the_models_feedback_as_a_follow_up(fake: FakeOpenAI) -> None:
    from adapters.chat import Chat, Command, Kind, Surface, Text

    grader = LlmGrader(llm_config(fake))
    engine, seen = await engine_with(grader)
    surface = Surface(platform="telegram", cmd=lambda name: f"/{name}", voice="voice note", where="this chat")
    chat = Chat(engine, surface)
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
    assert "Updated feedback" not in answer.text
    await engine.wait_graded()
    assert len(seen) == 1
    follow_up = [r async for r in chat.regraded(seen[0])]
    assert len(follow_up) == 1 and follow_up[0].kind is Kind.NOTE
    assert follow_up[0].to == place and follow_up[0].number == 1
    assert follow_up[0].text.startswith("Updated feedback from the model on answer 1:")
    assert "Say what happens when two retries race." in follow_up[0].text
    await grader.close()


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
