"""The HTTP API through aiohttp's test client, on the real engine (TinyDB store, Vosk with the Korean model)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from bot.config import HttpConfig
from bot.server import create_app
from engine import FIELD_LIMITS, ID_PATTERN, MAX_TEXT_ANSWER, errors
from engine.service import InterviewEngine
from engine.speech import AudioLimits
from tests import audio_fixtures
from tests.engine_support import build_engine

pytestmark = pytest.mark.slow  # the real Korean Vosk model

ADMIN_TOKEN = "admin-token-0123456789"
VERSION = "9.8.7-test"
START = {
    "user_id": "test-user-001",
    "session_id": "session-001",
    "role_title": "Senior Backend Engineer",
    "company_name": "TechCorp Inc",
    "industry": "Technology",
    "cv": "Experienced Python developer with 5+ years",
    "jd": "Senior backend role requiring Python, Node.js",
    "round_type": "full",
}
IDS = {"user_id": START["user_id"], "session_id": START["session_id"]}
ANSWER = (
    "In my last role our checkout service was timing out under load. My task was to cut latency. I profiled the "
    "Python code and added PostgreSQL indexes, and as a result p95 latency dropped by 60 percent."
)
HOSTILE_IDS = ["../../etc/passwd", "a" * 1000, "사용자", "x/y", " spaced", ".hidden"]

Serve = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Serve an engine's app under aiohttp's test server; every client is closed after the test."""
    clients: list[TestClient] = []

    async def _serve(engine: InterviewEngine, **config: Any) -> TestClient:
        http_config = HttpConfig(**{"admin_token": ADMIN_TOKEN, **config})
        client = TestClient(TestServer(create_app(engine, http_config, version=VERSION)))
        await client.start_server()
        clients.append(client)
        return client

    yield _serve
    for client in clients:
        await client.close()


@pytest.fixture
async def make_engine(tmp_path: Path, vosk_transcriber: Any) -> AsyncIterator[Callable[..., InterviewEngine]]:
    """Real engines on their own data folders, closed after the test."""
    opened: list[Any] = []

    def _make(*, speech: bool = True, limits: AudioLimits | None = None) -> InterviewEngine:
        folder = tmp_path / f"data{len(opened)}"
        folder.mkdir()
        engine, store, pipeline = build_engine(folder, vosk_transcriber if speech else None, limits=limits)
        opened.append((store, pipeline))
        return engine

    yield _make
    for store, pipeline in opened:
        if pipeline is not None:
            await pipeline.close()
        store.close()


@pytest.fixture
def engine(make_engine: Callable[..., InterviewEngine]) -> InterviewEngine:
    return make_engine()


@pytest.fixture
async def client(engine: InterviewEngine, serve: Serve) -> TestClient:
    return await serve(engine)


async def start(client: TestClient, **overrides: Any) -> dict[str, Any]:
    resp = await client.post("/api/interview/start", json={**START, **overrides})
    assert resp.status == 201, await resp.text()
    return await resp.json()


def voice_form(audio: bytes, filename: str = "answer.ogg", content_type: str = "audio/ogg", **ids: str) -> FormData:
    form = FormData()
    form.add_field("user_id", ids.get("user_id", START["user_id"]))
    form.add_field("session_id", ids.get("session_id", START["session_id"]))
    form.add_field("audio_file", audio, filename=filename, content_type=content_type)
    return form


def text_form(text: str, **ids: str) -> FormData:
    form = FormData(default_to_multipart=True)  # as `curl -F` sends it
    form.add_field("user_id", ids.get("user_id", START["user_id"]))
    form.add_field("session_id", ids.get("session_id", START["session_id"]))
    form.add_field("text", text)
    return form


async def state(client: TestClient, user_id: str = START["user_id"], session_id: str = START["session_id"]) -> dict:
    resp = await client.get(f"/api/interview/state/{user_id}/{session_id}")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def expect_error(resp: Any, status: int, code: str, error: str | None = None) -> dict[str, Any]:
    """Every error is JSON with error, code and the request id that the X-Request-ID header also carries."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    body = json.loads(text)
    assert body["code"] == code, body
    if error is not None:
        assert body["error"] == error, body
    assert body["request_id"] == resp.headers["X-Request-ID"]
    assert "Traceback" not in text
    return body


async def _must_not_be_called(*args: Any, **kwargs: Any) -> Any:
    """Stands in for an engine call a request must never reach (it would surface as a 500)."""
    raise AssertionError("the engine must not see this request")


# ----- start -----------------------------------------------------------------------------------------------


async def test_start_returns_the_session_and_its_first_question(client: TestClient) -> None:
    body = await start(client)
    assert body["user_id"] == START["user_id"] and body["session_id"] == START["session_id"]
    assert body["status"] == "active" and body["resumed"] is False
    assert body["progress"]["position"] == 0 and body["progress"]["total"] >= 3
    assert body["question"]["text"] and body["question"] == body["current_question"]
    assert body["spec"]["role_title"] == START["role_title"] and body["spec"]["language"] == "ko"
    assert body["answers"] == [] and body["voice_available"] is True


async def test_start_again_with_same_parameters_returns_the_current_state(client: TestClient) -> None:
    first = await start(client)
    await client.post("/api/interview/answer", data=text_form(ANSWER))
    again = await client.post("/api/interview/start", json=START)
    assert again.status == 200
    body = await again.json()
    assert body["resumed"] is True
    assert body["progress"]["position"] == 1 and len(body["answers"]) == 1
    assert body["question"]["id"] != first["question"]["id"]
    assert body["question"] == body["current_question"]


async def test_start_again_with_different_parameters_is_a_conflict(client: TestClient) -> None:
    await start(client)
    resp = await client.post("/api/interview/start", json={**START, "role_title": "Data Scientist"})
    body = await expect_error(resp, 409, "session_conflict")
    assert "session-001" in body["detail"]
    assert (await state(client))["spec"]["role_title"] == START["role_title"]


async def test_start_names_every_missing_or_invalid_field(client: TestClient) -> None:
    resp = await client.post(
        "/api/interview/start",
        json={"user_id": "u1", "company_name": "  ", "industry": 5, "cv": ["x"], "round_type": "karaoke"},
    )
    body = await expect_error(resp, 400, "invalid_input", "Invalid request")
    assert set(body["fields"]) == {"session_id", "role_title", "company_name", "industry", "cv", "round_type"}
    assert body["fields"]["role_title"] == "is required"
    assert "full" in body["fields"]["round_type"]


async def test_start_checks_lengths_and_language_in_the_engine(client: TestClient) -> None:
    resp = await client.post("/api/interview/start", json={**START, "role_title": "R" * 201, "language": "Klingon!"})
    body = await expect_error(resp, 400, "invalid_input")
    assert set(body["fields"]) == {"role_title", "language"}


@pytest.mark.parametrize(
    ("payload", "content_type", "needle"),
    [
        (b"user_id=u1&session_id=s1", "application/x-www-form-urlencoded", "not valid JSON"),
        (b'{"user_id": "u1",', "application/json", "not valid JSON"),
        (b"", "application/json", "empty"),
        (b'["user_id", "session_id"]', "application/json", "JSON object"),
    ],
)
async def test_start_with_a_body_that_is_not_a_json_object_is_a_clear_400(
    client: TestClient, payload: bytes, content_type: str, needle: str
) -> None:
    resp = await client.post("/api/interview/start", data=payload, headers={"Content-Type": content_type})
    body = await expect_error(resp, 400, "invalid_json", "Invalid request")
    assert needle in body["detail"]


async def test_start_with_minimal_fields_from_the_old_guide(client: TestClient) -> None:
    minimal = {"user_id": "test", "session_id": "test", "role_title": "Engineer", "company_name": "Test",
               "industry": "Tech"}  # fmt: skip
    resp = await client.post("/api/interview/start", json=minimal)
    assert resp.status == 201
    body = await resp.json()
    assert body["spec"]["round_type"] == "full" and body["spec"]["cv"] == ""


# ----- state ------------------------------------------------------------------------------------------------


async def test_state_of_an_unknown_session_is_404_with_a_hint(client: TestClient) -> None:
    resp = await client.get("/api/interview/state/nobody/nothing")
    body = await expect_error(resp, 404, "session_not_found", "Session not found")
    assert "nobody" in body["detail"] and "nothing" in body["detail"]
    assert "POST /api/interview/start" in body["hint"] and "same user_id and session_id" in body["hint"]


async def test_state_lists_every_answer_with_transcript_and_feedback(client: TestClient) -> None:
    await start(client)
    await client.post("/api/interview/answer", data=text_form(ANSWER))
    await client.post("/api/interview/skip", json=IDS)
    body = await state(client)
    assert body["progress"] == {**body["progress"], "position": 2, "answered": 1, "skipped": 1}
    typed, skipped = body["answers"]
    assert typed["source"] == "text" and typed["transcript"] == ANSWER
    assert 0 <= typed["feedback"]["score"] <= 100 and typed["feedback"]["word_count"] > 20
    assert skipped["source"] == "skipped" and skipped["feedback"] is None
    assert body["current_question"]["index"] == 2


async def test_sessions_of_one_user_id_do_not_mix_with_another_users(client: TestClient) -> None:
    await start(client)
    resp = await client.get(f"/api/interview/state/someone-else/{START['session_id']}")
    await expect_error(resp, 404, "session_not_found")


# ----- answers ----------------------------------------------------------------------------------------------


async def test_voice_answer_is_transcribed_with_feedback_and_the_next_question(
    client: TestClient, voice_ogg: bytes
) -> None:
    first = await start(client)
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert "안녕하세요" in body["transcript"] and "감사합니다" in body["transcript"]
    assert body["source"] == "voice"
    assert body["speech"]["duration"] > 0.5 and {w["word"] for w in body["speech"]["words"]} >= {"안녕하세요"}
    assert body["feedback"]["wpm"] is not None and body["feedback"]["duration"] > 0.5
    assert body["next_question"]["index"] == 1 and body["next_question"]["id"] != first["question"]["id"]
    assert body["finished"] is False and body["report"] is None
    saved = await state(client)
    assert saved["answers"][0]["source"] == "voice" and "감사합니다" in saved["answers"][0]["transcript"]
    assert saved["pending_voice_answers"] == 0


async def test_a_hostile_audio_filename_never_becomes_a_path(
    client: TestClient, voice_ogg: bytes, tmp_path: Path
) -> None:
    await start(client)
    form = voice_form(voice_ogg, filename="../../../../escaped-evil.ogg")
    resp = await client.post("/api/interview/answer", data=form)
    assert resp.status == 200, await resp.text()
    assert not list(tmp_path.parent.rglob("escaped-evil*")) and not list(tmp_path.rglob("escaped-evil*"))


async def test_text_answers_work_as_multipart_json_and_plain_form(client: TestClient) -> None:
    await start(client)
    resp = await client.post("/api/interview/answer", data=text_form(ANSWER))
    assert resp.status == 200
    body = await resp.json()
    assert body["transcript"] == ANSWER and body["source"] == "text" and body["speech"] is None
    resp = await client.post("/api/interview/answer", json={**IDS, "text": "I like building reliable APIs."})
    assert resp.status == 200
    resp = await client.post("/api/interview/answer", data={**IDS, "text": "And I enjoy mentoring."})  # curl -d
    assert resp.status == 200
    saved = await state(client)
    assert saved["progress"]["position"] == 3 and saved["answers"][2]["transcript"] == "And I enjoy mentoring."


async def test_answer_without_audio_file_keeps_the_old_message(client: TestClient) -> None:
    await start(client)
    form = FormData(default_to_multipart=True)
    form.add_field("user_id", START["user_id"])
    form.add_field("session_id", START["session_id"])
    form.add_field("note", "no audio here")
    resp = await client.post("/api/interview/answer", data=form)
    body = await expect_error(resp, 400, "audio_required", "Audio file is required")
    assert "audio_file" in body["detail"]


async def test_answer_with_both_audio_and_text_is_refused(client: TestClient, voice_ogg: bytes) -> None:
    await start(client)
    form = voice_form(voice_ogg)
    form.add_field("text", "typed too")
    body = await expect_error(await client.post("/api/interview/answer", data=form), 400, "invalid_input")
    assert "text" in body["fields"]
    assert (await state(client))["progress"]["position"] == 0


async def test_answer_that_is_neither_multipart_nor_json_is_a_clear_400(client: TestClient) -> None:
    resp = await client.post("/api/interview/answer", data=b"raw bytes", headers={"Content-Type": "audio/ogg"})
    body = await expect_error(resp, 400, "invalid_request")
    assert "multipart/form-data" in body["detail"]


@pytest.mark.parametrize(
    "header",
    [
        b"\xff\xfe: x",  # a name that is not UTF-8 (what the fuzzer sent)
        b"\xe9t\xe9: x",  # Latin-1 bytes
        b"Bad Name: x",  # a space in the name
        b"no colon at all",
        b"A\x01B: x",  # a control character
    ],
)
async def test_a_multipart_part_with_a_broken_header_is_a_400_not_a_500(client: TestClient, header: bytes) -> None:
    await start(client)
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="user_id"\r\n\r\n' + START["user_id"].encode() + b"\r\n"
        b'--XyZ\r\nContent-Disposition: form-data; name="session_id"\r\n\r\n' + START["session_id"].encode() + b"\r\n"
        b"--XyZ\r\n" + header + b'\r\nContent-Disposition: form-data; name="text"\r\n\r\nMy answer\r\n--XyZ--\r\n'
    )
    resp = await client.post(
        "/api/interview/answer", data=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    result = await expect_error(resp, 400, "invalid_request", "Invalid request")
    assert result["detail"].startswith("Malformed multipart body: part headers: ")
    assert (await state(client))["progress"]["position"] == 0


async def test_answer_for_an_unknown_session_is_404_with_the_old_message(client: TestClient, voice_ogg: bytes) -> None:
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg, session_id="never-started"))
    body = await expect_error(resp, 404, "session_not_found", "Session not found")
    assert "never-started" in body["detail"] and "hint" in body


@pytest.mark.parametrize(
    ("audio", "code", "needle"),
    [
        (b"test audio data\n", "audio_invalid", "isn't audio"),
        (b"", "audio_empty", "empty"),
        ("silence", "audio_silent", "hear"),
    ],
    ids=["dummy-bytes", "empty", "silence"],
)
async def test_unusable_audio_is_422_and_the_question_stays_pending(
    client: TestClient, audio: bytes | str, code: str, needle: str
) -> None:
    if audio == "silence":  # made here, not at collection, so deselected runs don't pay for ffmpeg
        audio = audio_fixtures.encode(audio_fixtures.silence_wav(2.0), "ogg_opus")
    assert isinstance(audio, bytes)
    before = await start(client)
    resp = await client.post("/api/interview/answer", data=voice_form(audio, filename="test-audio.wav"))
    body = await expect_error(resp, 422, code, "Speech recognition failed")
    assert needle in body["detail"]
    after = await state(client)
    assert after["progress"]["position"] == 0 and after["answers"] == []
    assert after["current_question"] == before["current_question"]
    assert after["pending_voice_answers"] == 0 and after["updated_at"] == before["updated_at"]


async def test_too_long_audio_is_422_audio_too_long(
    make_engine: Callable[..., InterviewEngine], serve: Serve, voice_ogg: bytes
) -> None:
    client = await serve(make_engine(limits=AudioLimits(max_seconds=0.5)))
    await start(client)
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg))
    body = await expect_error(resp, 422, "audio_too_long", "Speech recognition failed")
    assert "too long" in body["detail"]
    assert (await state(client))["progress"]["position"] == 0


async def test_audio_over_the_engine_limit_is_413(
    make_engine: Callable[..., InterviewEngine], serve: Serve, voice_ogg: bytes
) -> None:
    client = await serve(make_engine(limits=AudioLimits(max_bytes=len(voice_ogg) // 2)))
    await start(client)
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg))
    body = await expect_error(resp, 413, "audio_too_large")
    assert "MB" in body["detail"]
    assert (await state(client))["progress"]["position"] == 0


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    engine: InterviewEngine, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await serve(engine, max_body_mb=0.25)
    await start(client)
    monkeypatch.setattr(engine, "answer_audio", _must_not_be_called)
    monkeypatch.setattr(engine, "start", _must_not_be_called)
    resp = await client.post("/api/interview/answer", data=voice_form(b"\0" * 300_000, filename="big.wav"))
    body = await expect_error(resp, 413, "body_too_large", "Request body too large")
    assert "0.25 MB" in body["detail"]
    resp = await client.post("/api/interview/start", json={**START, "session_id": "s2", "cv": "x" * 300_000})
    await expect_error(resp, 413, "body_too_large")


async def test_an_upload_announced_with_expect_100_continue_is_refused_before_it_is_sent(
    engine: InterviewEngine, serve: Serve, voice_ogg: bytes
) -> None:
    client = await serve(engine, max_body_mb=0.25)
    await start(client)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /api/interview/answer HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 300000\r\n\r\n"
    )
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status_line = head.split("\r\n", 1)[0]
    assert status_line == "HTTP/1.1 413 Request Entity Too Large", head  # no "100 Continue": the body stays unsent
    assert "X-Request-ID" in head and "application/json" in head
    writer.close()
    await writer.wait_closed()
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg), expect100=True)
    assert resp.status == 200, await resp.text()  # within the limit, 100-continue goes ahead as usual
    assert "안녕하세요" in (await resp.json())["transcript"]


async def test_a_chunked_body_over_the_limit_is_cut_off_while_streaming(
    engine: InterviewEngine, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await serve(engine, max_body_mb=0.25)
    await start(client)
    boundary = "----interview-test-boundary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in IDS.items()
    ).encode()
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio_file"; filename="big.ogg"\r\n'
        "Content-Type: audio/ogg\r\n\r\n"
    ).encode()

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: the server only learns the size as it reads
        yield head
        for _ in range(40):
            yield b"\0" * 16384
        yield f"\r\n--{boundary}--\r\n".encode()

    monkeypatch.setattr(engine, "answer_audio", _must_not_be_called)
    resp = await client.post(
        "/api/interview/answer", data=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    await expect_error(resp, 413, "body_too_large")


async def test_answer_after_the_last_question_is_409_completed(client: TestClient) -> None:
    first = await start(client)
    for _ in range(first["progress"]["total"]):
        await client.post("/api/interview/skip", json=IDS)
    resp = await client.post("/api/interview/answer", data=text_form(ANSWER))
    body = await expect_error(resp, 409, "session_completed", "Interview already completed")
    assert "report" in body["hint"]
    resp = await client.post("/api/interview/skip", json=IDS)
    await expect_error(resp, 409, "session_completed")


async def test_without_a_speech_model_voice_is_503_with_the_fix_and_text_still_works(
    make_engine: Callable[..., InterviewEngine], serve: Serve, voice_ogg: bytes
) -> None:
    client = await serve(make_engine(speech=False))
    first = await start(client)
    assert first["voice_available"] is False
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg))
    body = await expect_error(resp, 503, "speech_unavailable", "Speech recognition unavailable")
    assert "models fetch ko" in body["detail"] and "text" in body["hint"]
    resp = await client.post("/api/interview/answer", data=text_form(ANSWER))
    assert resp.status == 200
    assert (await resp.json())["next_question"]["index"] == 1


async def test_a_failed_transcription_is_503_with_retry_after(
    engine: InterviewEngine, client: TestClient, voice_ogg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    await start(client)

    async def recogniser_timed_out(*args: Any, **kwargs: Any) -> Any:
        raise errors.TranscriptionFailed()

    monkeypatch.setattr(engine._speech, "transcribe", recogniser_timed_out)
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg))
    body = await expect_error(resp, 503, "transcription_failed", "Speech recognition failed")
    assert resp.headers["Retry-After"] == "5" and "again" in body["hint"]
    assert (await state(client))["progress"]["position"] == 0
    assert (await state(client))["pending_voice_answers"] == 1

    # The server kept the recording: once the recogniser is back, a retry transcribes it without a new upload.
    monkeypatch.undo()
    resp = await client.post("/api/interview/retry", json=IDS)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["source"] == "voice" and "안녕하세요" in body["transcript"]
    after = await state(client)
    assert after["progress"]["position"] == 1 and after["pending_voice_answers"] == 0
    await expect_error(await client.post("/api/interview/retry", json=IDS), 400, "invalid_input")


async def test_an_answer_caught_by_a_restart_is_503_and_kept_for_after_it(
    engine: InterviewEngine, client: TestClient, voice_ogg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    await start(client)

    async def restarting(*args: Any, **kwargs: Any) -> Any:
        raise errors.ShuttingDown()

    monkeypatch.setattr(engine._speech, "transcribe", restarting)
    resp = await client.post("/api/interview/answer", data=voice_form(voice_ogg))
    body = await expect_error(resp, 503, "shutting_down", "Service restarting")
    assert "saved" in body["detail"] and resp.headers["Retry-After"] == "10"
    after = await state(client)
    assert after["progress"]["position"] == 0 and after["pending_voice_answers"] == 1


async def test_a_resend_with_the_same_idempotency_key_is_not_a_second_answer(
    client: TestClient, voice_ogg: bytes
) -> None:
    first_q = (await start(client))["question"]
    key = {"Idempotency-Key": "answer-7f3a"}
    sent = await client.post("/api/interview/answer", data=voice_form(voice_ogg), headers=key)
    assert sent.status == 200
    original = await sent.json()
    resent = await client.post("/api/interview/answer", data=voice_form(voice_ogg), headers=key)
    assert resent.status == 200
    replay = await resent.json()
    assert original["duplicate"] is False and replay["duplicate"] is True
    assert replay["answer"] == original["answer"] and replay["next_question"] == original["next_question"]
    assert replay["answer"]["question"]["id"] == first_q["id"]
    assert (await state(client))["progress"]["position"] == 1

    # A typed answer and a skip, each resent: still one step each.
    for _ in range(2):
        typed = await client.post("/api/interview/answer", data=text_form(ANSWER), headers={"Idempotency-Key": "t-1"})
        assert typed.status == 200
        skipped = await client.post("/api/interview/skip", json=IDS, headers={"Idempotency-Key": "s-1"})
        assert skipped.status == 200
    assert (await state(client))["progress"]["position"] == 3
    bad = await client.post("/api/interview/skip", json=IDS, headers={"Idempotency-Key": "no spaces allowed"})
    await expect_error(bad, 400, "invalid_input")


# ----- skip, end, report ------------------------------------------------------------------------------------


async def test_skip_moves_to_the_next_question(client: TestClient) -> None:
    first = await start(client)
    resp = await client.post("/api/interview/skip", json=IDS)
    assert resp.status == 200
    body = await resp.json()
    assert body["source"] == "skipped" and body["feedback"] is None
    assert body["next_question"]["index"] == 1 and body["next_question"]["id"] != first["question"]["id"]


async def test_end_gives_the_report_of_what_was_answered(client: TestClient) -> None:
    first = await start(client)
    await client.post("/api/interview/answer", data=text_form(ANSWER))
    resp = await client.post("/api/interview/end", json=IDS)
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ended" and body["final"] is True
    assert body["report"]["answered"] == 1 and body["report"]["total"] == first["progress"]["total"]
    assert (await state(client))["status"] == "ended"
    await expect_error(await client.post("/api/interview/end", json=IDS), 409, "session_completed")


async def test_skip_and_end_need_json_ids(client: TestClient) -> None:
    body = await expect_error(await client.post("/api/interview/skip", json={"user_id": "u1"}), 400, "invalid_input")
    assert set(body["fields"]) == {"session_id"}
    resp = await client.post("/api/interview/end", data=b"user_id=u1", headers={"Content-Type": "text/plain"})
    await expect_error(resp, 400, "invalid_json")
    await expect_error(await client.post("/api/interview/end", json=IDS), 404, "session_not_found")


async def test_a_whole_interview_with_text_answers_ends_with_the_report(client: TestClient) -> None:
    first = await start(client)
    total = first["progress"]["total"]
    asked = [first["question"]["id"]]
    body: dict[str, Any] = {}
    for number in range(total):
        resp = await client.post("/api/interview/answer", data=text_form(f"{ANSWER} Answer number {number + 1}."))
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        if number < total - 1:
            assert body["finished"] is False
            asked.append(body["next_question"]["id"])
    assert len(set(asked)) == total
    assert body["finished"] is True and body["next_question"] is None and body["status"] == "completed"
    assert body["report"]["answered"] == total and 0 < body["report"]["overall_score"] <= 100
    assert len(body["report"]["per_question"]) == total
    resp = await client.get(f"/api/interview/report/{START['user_id']}/{START['session_id']}")
    assert resp.status == 200
    report = await resp.json()
    assert report["final"] is True and report["report"] == body["report"]
    final_state = await state(client)
    assert final_state["status"] == "completed" and final_state["current_question"] is None
    assert len(final_state["answers"]) == total


async def test_report_while_running_is_marked_not_final(client: TestClient) -> None:
    await start(client)
    resp = await client.get(f"/api/interview/report/{START['user_id']}/{START['session_id']}")
    assert resp.status == 200
    body = await resp.json()
    assert body["final"] is False and body["status"] == "active" and body["report"]["answered"] == 0
    await expect_error(await client.get("/api/interview/report/nobody/nothing"), 404, "session_not_found")


# ----- ids and hardening --------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_hostile_ids_are_400_naming_the_field_everywhere(client: TestClient, hostile: str) -> None:
    resp = await client.post("/api/interview/start", json={**START, "user_id": hostile})
    assert (await expect_error(resp, 400, "invalid_input"))["fields"].keys() == {"user_id"}
    resp = await client.post("/api/interview/start", json={**START, "session_id": hostile})
    assert (await expect_error(resp, 400, "invalid_input"))["fields"].keys() == {"session_id"}
    resp = await client.post("/api/interview/answer", data=text_form("hello", user_id=hostile))
    assert (await expect_error(resp, 400, "invalid_input"))["fields"].keys() == {"user_id"}
    resp = await client.post("/api/interview/skip", json={**IDS, "session_id": hostile})
    assert (await expect_error(resp, 400, "invalid_input"))["fields"].keys() == {"session_id"}
    resp = await client.post("/api/interview/end", json={**IDS, "user_id": hostile})
    assert (await expect_error(resp, 400, "invalid_input"))["fields"].keys() == {"user_id"}


@pytest.mark.parametrize("encoded", ["..%2F..%2Fetc%2Fpasswd", "a" * 1000, "%EC%82%AC%EC%9A%A9%EC%9E%90"])
async def test_hostile_ids_in_the_path_are_400(client: TestClient, encoded: str) -> None:
    for template in ("/api/interview/state/{}/s1", "/api/interview/report/{}/s1"):
        resp = await client.get(template.format(encoded), allow_redirects=False)
        assert (await expect_error(resp, 400, "invalid_input"))["fields"].keys() == {"user_id"}
    resp = await client.get(f"/api/interview/state/u1/{encoded}")
    assert (await expect_error(resp, 400, "invalid_input"))["fields"].keys() == {"session_id"}


async def test_unknown_route_is_404_json(client: TestClient) -> None:
    body = await expect_error(await client.get("/api/interview/nope"), 404, "not_found", "Not found")
    assert "openapi" in body["hint"]
    await expect_error(await client.get("/index.php"), 404, "not_found")


async def test_wrong_method_is_405_json(client: TestClient) -> None:
    resp = await client.get("/api/interview/answer")
    body = await expect_error(resp, 405, "method_not_allowed", "Method not allowed")
    assert body["allowed"] == ["POST"] and resp.headers["Allow"] == "POST"
    await expect_error(await client.delete("/healthz"), 405, "method_not_allowed")


async def test_a_crash_in_the_engine_is_500_with_the_request_id_and_no_traceback(
    engine: InterviewEngine, client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await start(client)

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals: /srv/db password=hunter2")

    monkeypatch.setattr(engine, "get_session", crash)
    with caplog.at_level(logging.ERROR, logger="adapters.http"):
        resp = await client.get(f"/api/interview/state/{START['user_id']}/{START['session_id']}")
        text = await resp.text()
        body = await expect_error(resp, 500, "internal_error", "Internal server error")
    assert set(body) == {"error", "code", "request_id"}
    assert "hunter2" not in text and "RuntimeError" not in text
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "hunter2" in str(logged[0].exc_info[1])


async def test_every_response_carries_a_request_id(client: TestClient) -> None:
    ids = set()
    for resp in [await client.get("/healthz"), await client.get("/nope"), await client.post("/api/interview/start")]:
        assert len(resp.headers["X-Request-ID"]) >= 8
        ids.add(resp.headers["X-Request-ID"])
    assert len(ids) == 3
    resp = await client.get("/healthz", headers={"X-Request-ID": "trace-abc-12345"})
    assert resp.headers["X-Request-ID"] == "trace-abc-12345"
    resp = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert resp.headers["X-Request-ID"] != "bad id\twith spaces"


async def test_one_log_line_per_request(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.server"):
        resp = await client.get("/api/interview/state/nobody/nothing")
    request_id = resp.headers["X-Request-ID"]
    lines = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert len(lines) == 1
    assert "GET /api/interview/state/nobody/nothing -> 404" in lines[0] and "ms" in lines[0]


async def test_api_key_guards_the_interview_endpoints_only(engine: InterviewEngine, serve: Serve) -> None:
    client = await serve(engine, api_key="client-key-123")
    body = await expect_error(await client.post("/api/interview/start", json=START), 401, "unauthorized")
    assert "X-API-Key" in body["detail"]
    resp = await client.post("/api/interview/start", json=START, headers={"X-API-Key": "wrong-key"})
    await expect_error(resp, 401, "unauthorized")
    resp = await client.post("/api/interview/start", json=START, headers={"X-API-Key": "client-key-123"})
    assert resp.status == 201
    resp = await client.get(
        f"/api/interview/state/{START['user_id']}/{START['session_id']}",
        headers={"Authorization": "Bearer client-key-123"},
    )
    assert resp.status == 200
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/api/openapi.json")).status == 200
    resp = await client.get("/api/interview/debug/sessions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status == 200


# ----- admin ------------------------------------------------------------------------------------------------


async def test_debug_sessions_refuses_without_the_admin_token(client: TestClient) -> None:
    await start(client)
    body = await expect_error(await client.get("/api/interview/debug/sessions"), 401, "unauthorized")
    assert "Bearer" in body["detail"]
    resp = await client.get("/api/interview/debug/sessions", headers={"Authorization": "Bearer not-the-token"})
    await expect_error(resp, 403, "forbidden")
    resp = await client.get("/api/interview/debug/sessions", headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
    await expect_error(resp, 401, "unauthorized")


async def test_debug_sessions_is_off_without_an_admin_token_configured(engine: InterviewEngine, serve: Serve) -> None:
    client = await serve(engine, admin_token="")
    resp = await client.get("/api/interview/debug/sessions", headers={"Authorization": "Bearer "})
    body = await expect_error(resp, 404, "debug_disabled")
    assert "disabled" in body["detail"] and "admin_token" in body["detail"]


async def test_debug_sessions_lists_and_filters(client: TestClient) -> None:
    await start(client)
    await start(client, user_id="other-user", session_id="s9")
    await client.post("/api/interview/end", json={"user_id": "other-user", "session_id": "s9"})
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def listing(query: str) -> dict[str, Any]:
        resp = await client.get(f"/api/interview/debug/sessions{query}", headers=auth)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    everything = await listing("")
    assert everything["count"] == 2
    assert {(s["user_id"], s["status"]) for s in everything["sessions"]} == {
        ("test-user-001", "active"),
        ("other-user", "ended"),
    }
    assert [s["user_id"] for s in (await listing("?status=active"))["sessions"]] == ["test-user-001"]
    assert [s["session_id"] for s in (await listing("?user_id=other-user"))["sessions"]] == ["s9"]
    assert (await listing("?platform=http"))["count"] == 2
    assert (await listing("?platform=telegram"))["count"] == 0
    assert (await listing("?stale=1"))["count"] == 0  # both were active moments ago
    resp = await client.get("/api/interview/debug/sessions?status=zombie&stale=maybe&platform=irc", headers=auth)
    assert set((await expect_error(resp, 400, "invalid_input"))["fields"]) == {"status", "stale", "platform"}
    resp = await client.get("/api/interview/debug/sessions?user_id=../etc", headers=auth)
    assert set((await expect_error(resp, 400, "invalid_input"))["fields"]) == {"user_id"}


# ----- health and the spec -----------------------------------------------------------------------------------


async def test_healthz_reports_store_speech_queue_version_and_uptime(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["version"] == VERSION
    assert body["store"]["reachable"] is True
    assert body["speech"]["available"] is True and "ko" in body["speech"]["languages"]
    assert body["speech"]["loaded_models"]  # the session-wide transcriber has the Korean model loaded
    assert body["queue_depth"] == 0 and body["uptime_seconds"] >= 0


async def test_healthz_is_degraded_without_speech(make_engine: Callable[..., InterviewEngine], serve: Serve) -> None:
    client = await serve(make_engine(speech=False))
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "degraded" and body["speech"]["available"] is False
    assert body["store"]["reachable"] is True


async def test_openapi_describes_exactly_the_routes_the_app_serves(client: TestClient) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["version"] == VERSION
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.server.app.router.routes()
        if route.method != "HEAD"
    }
    documented = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert served == documented
    for path, item in doc["paths"].items():
        for operation in item.values():
            assert "200" in operation["responses"] or "201" in operation["responses"], path
    refs = {ref for ref in _refs(doc) if ref.startswith("#/components/schemas/")}
    assert {ref.rsplit("/", 1)[1] for ref in refs} <= set(doc["components"]["schemas"])


async def test_openapi_states_the_id_and_length_rules_the_server_enforces(client: TestClient) -> None:
    """A client generated from the document sends what the server accepts, and validates what it refuses."""
    doc = await (await client.get("/api/openapi.json")).json()
    ids = _id_schemas(doc["paths"])
    assert {
        ("/api/interview/start", "body", "user_id"),
        ("/api/interview/start", "body", "session_id"),
        ("/api/interview/answer", "body", "user_id"),
        ("/api/interview/answer", "header", "Idempotency-Key"),
        ("/api/interview/skip", "header", "Idempotency-Key"),
        ("/api/interview/skip", "body", "session_id"),
        ("/api/interview/state/{user_id}/{session_id}", "path", "user_id"),
        ("/api/interview/report/{user_id}/{session_id}", "path", "session_id"),
        ("/api/interview/debug/sessions", "query", "user_id"),
    } <= {where for where, _ in ids}
    rule = (ID_PATTERN.pattern, 1, 128)  # the engine's pattern allows 1-128 characters
    for where, schema in ids:
        assert (schema.get("pattern"), schema.get("minLength"), schema.get("maxLength")) == rule, where
    start_fields = doc["paths"]["/api/interview/start"]["post"]["requestBody"]["content"]["application/json"]
    for name, limit in FIELD_LIMITS.items():
        assert start_fields["schema"]["properties"][name]["maxLength"] == limit, name
    answer = doc["paths"]["/api/interview/answer"]["post"]["requestBody"]["content"]
    for content_type in ("multipart/form-data", "application/json"):
        assert answer[content_type]["schema"]["properties"]["text"]["maxLength"] == MAX_TEXT_ANSWER, content_type

    # The documented rule, read the way a client generator reads it (ECMA-262 and Python agree on this pattern).
    schema = ids[0][1]
    pattern = re.compile(schema["pattern"])

    def documented(value: str) -> bool:
        return bool(pattern.fullmatch(value)) and schema["minLength"] <= len(value) <= schema["maxLength"]

    longest = "U" + ("._:@-7z" * 20)[:127]
    key = "K" + ("-9._:@" * 30)[:127]
    assert documented(longest) and documented(key) and len(longest) == len(key) == 128
    started = await client.post(
        "/api/interview/start",
        json={**START, "user_id": longest, "session_id": "9", **{n: "x" * limit for n, limit in FIELD_LIMITS.items()}},
    )
    assert started.status == 201, await started.text()
    assert (await client.get(f"/api/interview/state/{longest}/9")).status == 200
    at_limit = "a" * MAX_TEXT_ANSWER
    answered = await client.post(
        "/api/interview/answer",
        json={"user_id": longest, "session_id": "9", "text": at_limit},
        headers={"Idempotency-Key": key},
    )
    assert answered.status == 200, await answered.text()

    for bad in ["-starts-with-a-dash", "a" * 129, "has space", "ünicode", ".hidden"]:
        assert not documented(bad), bad
        resp = await client.post("/api/interview/start", json={**START, "user_id": bad})
        assert "user_id" in (await expect_error(resp, 400, "invalid_input"))["fields"], bad
        resp = await client.post(
            "/api/interview/skip", json={"user_id": longest, "session_id": "9"}, headers={"Idempotency-Key": bad}
        )
        await expect_error(resp, 400, "invalid_input")
    too_long = {"user_id": longest, "session_id": "9", "text": "a" * (MAX_TEXT_ANSWER + 1)}
    resp = await client.post("/api/interview/answer", json=too_long)
    assert "text" in (await expect_error(resp, 400, "invalid_input"))["fields"]
    resp = await client.post(
        "/api/interview/start", json={**START, "role_title": "x" * (FIELD_LIMITS["role_title"] + 1)}
    )
    assert "role_title" in (await expect_error(resp, 400, "invalid_input"))["fields"]
    assert (await state(client, longest, "9"))["progress"]["position"] == 1


def _id_schemas(paths: dict[str, Any]) -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
    """Every place the document describes an id: path, query and header parameters, and body fields."""
    found = []
    for path, item in paths.items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in ("user_id", "session_id", "Idempotency-Key"):
                    found.append(((path, parameter["in"], parameter["name"]), parameter["schema"]))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                for name, schema in media["schema"].get("properties", {}).items():
                    if name in ("user_id", "session_id"):
                        found.append(((path, "body", name), schema))
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_an_answers_feedback_carries_its_content_judgement_as_documented(client: TestClient) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    documented = set(doc["components"]["schemas"]["Feedback"]["properties"])
    await start(client)
    off_topic = "I enjoy hiking on weekends and my favourite food is pizza with extra cheese."
    resp = await client.post("/api/interview/answer", data=text_form(off_topic))
    assert resp.status == 200, await resp.text()
    feedback = (await resp.json())["feedback"]
    assert set(feedback) == documented  # every field documented, nothing undocumented
    assert feedback["grader"] == "rules" and feedback["score"] <= 30
    assert feedback["relevance"]["on_topic"] is False and feedback["relevance"]["reason"]
    assert feedback["key_points"] and not any(point["covered"] for point in feedback["key_points"])
    assert {"point", "covered", "evidence"} == set(feedback["key_points"][0])
