"""The Redis Streams speech queue on a real redis-server: front-ends enqueue voice answers, workers transcribe them.

In-process workers here use scripted speech (the queue is under test, not the recogniser); the process test at the
end runs real `interview-bot worker` processes with the real Korean Vosk model and kills one with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis

from engine import AudioInput, InterviewSpec, Transcript, User, errors
from engine.locks import RedisLocks
from engine.service import InterviewEngine
from engine.speech.queue import Keys, QueuedSpeech, SpeechWorker
from engine.store import RedisStore
from tests import audio_fixtures
from tests.processes import REPO, bot_config, clean_env, free_port, until
from tests.redis_support import FrontEnd, RedisServer, prefix
from tests.test_engine import ScriptedSpeech, voice
from tests.test_http_e2e import SPEC as SPEC_JSON
from tests.test_http_e2e import call, curl_voice

SPEC = InterviewSpec(role_title="Backend Engineer", company_name="PayCo", industry="FinTech", language="en-us")
ADA = User("telegram", "401", "Ada")
LEASE = 0.6


class WorkerSpeech(ScriptedSpeech):
    """Scripted speech as a worker's local pipeline: `crash` makes every job fail as a recogniser crash would;
    `hold` keeps every job running until the worker stops."""

    def __init__(self, *, hold: bool = False) -> None:
        super().__init__(("en-us",))
        self.crash = False
        self.hold = hold
        self.started = asyncio.Event()

    def languages(self) -> list[str]:
        return ["en-us"]

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        self.started.set()
        if self.hold:
            await asyncio.Event().wait()
        if self.crash:
            self.calls.append("crash")
            raise errors.TranscriptionFailed()
        return await super().transcribe(audio, language)


class Running:
    """An in-process SpeechWorker as a task."""

    def __init__(self, url: str, keys: str, audio: Path, speech: WorkerSpeech, name: str) -> None:
        self.speech = speech
        self.worker = SpeechWorker(url, speech, audio, prefix=keys, concurrency=2, name=name, lease_seconds=LEASE)
        self.task = asyncio.create_task(self.worker.run())

    async def stop(self) -> None:
        self.worker.stop()
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def front(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[tuple[FrontEnd, str, Path]]:
    keys, audio = prefix(), tmp_path / "audio"
    front = FrontEnd(redis_server.url, keys, audio, queued=True)
    yield front, keys, audio
    await front.close()


async def test_a_voice_answer_is_transcribed_by_a_worker_and_recorded_by_the_front_end(
    redis_server: RedisServer, front: tuple[FrontEnd, str, Path]
) -> None:
    fe, keys, audio = front
    await fe.queue.start()
    assert not fe.queue.has_language("en-us")  # no worker yet: voice answers would be refused, typed ones work
    worker = Running(redis_server.url, keys, audio, WorkerSpeech(), "w1")
    try:
        await until(lambda: fe.queue.has_language("en-us"), 5)
        await fe.engine.start(ADA, SPEC)
        result = await fe.engine.answer_audio(ADA, voice("we sharded the ledger by account id"))
        assert result.transcript is not None and result.transcript.text == "we sharded the ledger by account id"
        assert result.answer.source == "voice" and result.answer.index == 0 and result.feedback is not None
        assert worker.speech.calls == ["say:we sharded the ledger by account id"]
        health = (await fe.engine.health())["speech"]
        assert [w["name"] for w in health["workers"]] == ["w1"] and health["languages"] == ["en-us"]
        assert health["queue_depth"] == 0 and health["dead_letters"] == 0

        # An unusable recording is the answer's result, not a crash: the candidate is told, the question stays.
        with pytest.raises(errors.AudioInvalid):
            await fe.engine.answer_audio(ADA, AudioInput(b"junk", "audio/ogg", "voice.ogg"))
        assert (await fe.engine.get_session(ADA)).position == 1
    finally:
        await worker.stop()


async def test_a_job_that_keeps_crashing_is_dead_lettered_and_its_answer_kept_for_retry(
    redis_server: RedisServer, front: tuple[FrontEnd, str, Path]
) -> None:
    fe, keys, audio = front
    speech = WorkerSpeech()
    speech.crash = True
    worker = Running(redis_server.url, keys, audio, speech, "w1")
    try:
        await fe.queue.start()
        await until(lambda: fe.queue.has_language("en-us"), 5)
        await fe.engine.start(ADA, SPEC)
        with pytest.raises(errors.TranscriptionFailed):
            await fe.engine.answer_audio(ADA, voice("the ledger answer"))
        assert speech.calls == ["crash"] * 3  # delivered three times, then given up
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        [(_, dead)] = client.xrange(Keys(keys).dead)
        assert dead["deliveries"] == "3" and dead["language"] == "en-us"
        client.close()
        session = await fe.engine.get_session(ADA)
        assert session.has_failed_voice_answer and session.position == 0  # kept; the question is still open
        speech.crash = False
        retried = await fe.engine.retry(ADA)  # the recogniser is fixed: /retry transcribes the kept recording
        assert retried.transcript is not None and retried.transcript.text == "the ledger answer"
    finally:
        await worker.stop()


async def test_a_stopped_worker_hands_its_running_job_to_another_at_once(
    redis_server: RedisServer, front: tuple[FrontEnd, str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    fe, keys, audio = front
    stuck = WorkerSpeech(hold=True)
    first = Running(redis_server.url, keys, audio, stuck, "w1")
    await fe.queue.start()
    await until(lambda: fe.queue.has_language("en-us"), 5)
    await fe.engine.start(ADA, SPEC)
    answer = asyncio.create_task(fe.engine.answer_audio(ADA, voice("we sharded the ledger")))
    await asyncio.wait_for(stuck.started.wait(), 5)
    second_speech = WorkerSpeech()
    second = Running(redis_server.url, keys, audio, second_speech, "w2")
    try:
        await asyncio.sleep(4 * LEASE)  # w1 keeps its lease alive while it works: w2 does not take the job over
        assert second_speech.calls == [] and not answer.done()
        caplog.set_level(logging.INFO, logger="engine.speech.queue")
        await first.stop()  # e.g. SIGTERM: the job goes back to the stream for w2, without waiting out the lease
        result = await asyncio.wait_for(answer, 5)
        said = [r.getMessage() for r in caplog.records]
        assert any("speech job handed back" in m and "worker=w1" in m for m in said)
        assert not any("taken over from a dead worker" in m for m in said)  # not after its lease ran out
        assert result.transcript is not None and result.transcript.text == "we sharded the ledger"
        assert second_speech.calls == ["say:we sharded the ledger"]
        assert [a.source for a in (await fe.engine.get_session(ADA)).answers] == ["voice"]  # recorded once
    finally:
        answer.cancel()
        await second.stop()


# ----- real processes --------------------------------------------------------------------------------------------


def write_config(
    tmp_path: Path, redis_url: str, keys: str, model: Path, *, name: str = "worker", workers: int = 1
) -> tuple[Path, int]:
    """A config on the shared Redis and the shared data folder (tmp_path/data); returns it and its HTTP port."""
    port = free_port()
    config = tmp_path / f"{name}.toml"
    text = bot_config(tmp_path / "data", model, port, workers=workers, redis_url=redis_url, key_prefix=keys)
    config.write_text(text, encoding="utf-8")
    return config, port


def start(command: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", command, "--config", str(config)],
            cwd=REPO, stdout=out, stderr=out, env=clean_env(),
        )  # fmt: skip


@pytest.mark.slow
async def test_a_worker_killed_mid_transcription_is_replaced_and_the_answer_recorded_once(
    redis_server: RedisServer, tmp_path: Path, ko_model_path: Path
) -> None:
    keys = prefix()
    config, _ = write_config(tmp_path, redis_server.url, keys, ko_model_path)
    audio = tmp_path / "data" / "audio"
    store = RedisStore(redis_server.url, prefix=keys)
    locks = RedisLocks(redis_server.url, prefix=keys)
    queue = QueuedSpeech(redis_server.url, audio, prefix=keys, wait_seconds=120)
    engine = InterviewEngine(store, queue, audio_dir=audio, locks=locks, default_language="ko")
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.append(start("worker", config, tmp_path / "w1.log"))
        await queue.start()
        await until(lambda: queue.has_language("ko"), 60)
        user = User("telegram", "402", "Min")
        await engine.start(user, InterviewSpec("Backend Engineer", "PayCo", "FinTech", language="ko"))
        long_answer = audio_fixtures.encode(
            audio_fixtures.speech_wav(" ".join([audio_fixtures.KO_PHRASE] * 6)), "ogg_opus"
        )
        answer = asyncio.create_task(engine.answer_audio(user, AudioInput(long_answer, "audio/ogg", "voice.ogg")))
        stream = Keys(keys).jobs("ko")
        await until(lambda: client.xpending(stream, "workers")["pending"] == 1, 30)  # w1 is transcribing it
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        workers.append(start("worker", config, tmp_path / "w2.log"))
        result = await asyncio.wait_for(answer, 90)
        assert result.transcript is not None and result.transcript.words
        session = await engine.get_session(user)
        assert [a.source for a in session.answers] == ["voice"] and session.pending_count == 0  # recorded once
        assert client.xlen(Keys(keys).dead) == 0
        log = (tmp_path / "w2.log").read_text()
        assert "taken over from a dead worker" in log, log[-2000:]
        assert json.dumps(result.transcript.to_dict())  # crossed the process boundary intact
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(20)
                except subprocess.TimeoutExpired:
                    worker.kill()
        await queue.close()
        await locks.close()
        store.close()
        client.close()


def curl_answer(base: str, ids: dict[str, str], recording: Path, key: str) -> list[str]:
    """curl sending a voice answer with an Idempotency-Key; prints the body, a newline and the status code."""
    return [
        "curl", "-s", "-w", "\n%{http_code}", "-X", "POST", f"{base}/api/interview/answer",
        "-H", f"Idempotency-Key: {key}", "-F", f"user_id={ids['user_id']}", "-F", f"session_id={ids['session_id']}",
        "-F", f"audio_file=@{recording};type=audio/ogg",
    ]  # fmt: skip


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, *, speech: bool = False) -> dict:
    """/healthz answering with a reachable store (and, with `speech`, a live worker for Korean)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            _, body = call("GET", f"{base}/healthz")
        except (OSError, ValueError):
            time.sleep(0.2)
            continue
        if body["store"]["reachable"] and (not speech or "ko" in body["speech"].get("languages", [])):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{base} never became healthy:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_two_front_ends_and_two_workers_serve_one_interview_and_a_dead_front_end_loses_nothing(
    redis_server: RedisServer, tmp_path: Path, ko_model_path: Path, voice_ogg: bytes
) -> None:
    keys = prefix()
    front_a, port_a = write_config(tmp_path, redis_server.url, keys, ko_model_path, name="front-a", workers=0)
    front_b, port_b = write_config(tmp_path, redis_server.url, keys, ko_model_path, name="front-b", workers=0)
    worker, _ = write_config(tmp_path, redis_server.url, keys, ko_model_path, name="worker")
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b", "w1", "w2")}
    procs = {
        "a": start("run", front_a, logs["a"]),
        "b": start("run", front_b, logs["b"]),
        "w1": start("worker", worker, logs["w1"]),
        "w2": start("worker", worker, logs["w2"]),
    }
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    try:
        health = wait_healthy(a, procs["a"], logs["a"], speech=True)
        deadline = time.monotonic() + 60
        while len(health["speech"]["workers"]) < 2:
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
            health = call("GET", f"{a}/healthz")[1]
        assert health["store"]["backend"] == "redis" and health["speech"]["dead_letters"] == 0
        wait_healthy(b, procs["b"], logs["b"], speech=True)
        ids = {"user_id": "multi-1", "session_id": "multi-s1"}
        status, started = call("POST", f"{a}/api/interview/start", {**ids, **SPEC_JSON})
        assert status == 201, started
        recording = tmp_path / "voice.ogg"
        recording.write_bytes(voice_ogg)
        status, spoken = curl_voice(b, ids["user_id"], ids["session_id"], recording)  # through the other front-end
        assert status == 200, (spoken, logs["b"].read_text()[-3000:], logs["w1"].read_text()[-3000:])
        assert spoken["source"] == "voice" and spoken["speech"]["words"] and spoken["next_question"]["index"] == 1
        status, state = call("GET", f"{a}/api/interview/state/multi-1/multi-s1")
        assert status == 200 and [x["source"] for x in state["answers"]] == ["voice"]

        # A front-end dies (SIGKILL) while a long voice answer sent to it is being transcribed; the client resends
        # it with the same Idempotency-Key to the other front-end, which answers it once.
        long_answer = tmp_path / "long.ogg"
        long_answer.write_bytes(
            audio_fixtures.encode(audio_fixtures.speech_wav(" ".join([audio_fixtures.KO_PHRASE] * 6)), "ogg_opus")
        )
        sent = subprocess.Popen(curl_answer(a, ids, long_answer, "retry-key-1"), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while call("GET", f"{b}/api/interview/state/multi-1/multi-s1")[1]["pending_voice_answers"] == 0:
            assert time.monotonic() < deadline, "the answer never reached the queue"
            time.sleep(0.05)
        procs["a"].send_signal(signal.SIGKILL)
        procs["a"].wait()
        sent.wait(30)
        resent = subprocess.run(curl_answer(b, ids, long_answer, "retry-key-1"), capture_output=True, text=True)
        body, _, code = resent.stdout.rpartition("\n")
        assert code == "200", (body, logs["b"].read_text()[-3000:])
        again = json.loads(body)
        # The copy A had saved was finished first; the resend is its replay, not the answer to question 3.
        assert again["answer"]["index"] == 1 and again["source"] == "voice" and again["duplicate"] is True
        status, state = call("GET", f"{b}/api/interview/state/multi-1/multi-s1")
        assert [x["index"] for x in state["answers"]] == [0, 1] and state["pending_voice_answers"] == 0
        status, typed = call("POST", f"{b}/api/interview/answer", {**ids, "text": "I would shard by account."})
        assert status == 200 and typed["progress"]["position"] == 3, typed
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
