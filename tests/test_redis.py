"""Several processes on one Redis: the Redis store and the per-user leases, on a real redis-server.

Each "process" here is a FrontEnd (tests.redis_support): its own engine with its own RedisStore and RedisLocks (own
connections, own local locks), as two `interview-bot run` front-ends would have; the real-process tests start the bot
itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis

from bot.config import ConfigError, load_config
from engine import AudioInput, InterviewSpec, Transcript, User, errors, space_id
from engine.store import RedisStore
from tests.redis_support import FrontEnd, RedisServer, prefix
from tests.test_engine import ScriptedSpeech, voice

SPEC = InterviewSpec(role_title="Backend Engineer", company_name="PayCo", industry="FinTech")
ADA = User("telegram", "301", "Ada")


class HeldSpeech(ScriptedSpeech):
    """Scripted speech that holds each transcription until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        self.started.set()
        await self.release.wait()
        return await super().transcribe(audio, language)


@pytest.fixture
async def two(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[tuple[FrontEnd, FrontEnd]]:
    keys = prefix()
    audio = tmp_path / "audio"
    a, b = (
        FrontEnd(redis_server.url, keys, audio, ScriptedSpeech()),
        FrontEnd(redis_server.url, keys, audio, ScriptedSpeech()),
    )
    yield a, b
    await a.close()
    await b.close()


async def test_an_interview_started_on_one_process_is_answered_on_the_other(two: tuple[FrontEnd, FrontEnd]) -> None:
    a, b = two
    started = await a.engine.start(ADA, SPEC)
    first = await b.engine.answer_text(ADA, "I profiled the service and cut p95 latency by 60 percent.")
    assert first.answer.question == started.question and first.answer.index == 0
    second = await a.engine.skip(ADA)
    assert second.answer.index == 1  # process A sees B's answer: the skip lands on the next question
    state = await b.engine.get_session(ADA)
    assert [(x.index, x.source) for x in state.answers] == [(0, "text"), (1, "skipped")]
    # Delivery ids are claimed once across processes (a redelivery to the other front-end is recognised).
    assert await a.engine.first_delivery("telegram", "update-9") is True
    assert await b.engine.first_delivery("telegram", "update-9") is False


async def test_one_users_answers_sent_to_two_processes_at_once_land_one_after_the_other(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Process A holds the user's lease through a long transcription; B's typed answer waits for it, then lands on
    the next question, and nothing is lost or overwritten."""
    keys = prefix()
    held = HeldSpeech()
    a = FrontEnd(redis_server.url, keys, tmp_path / "audio", held, lease=0.6)
    b = FrontEnd(redis_server.url, keys, tmp_path / "audio", ScriptedSpeech(), lease=0.6)
    try:
        await a.engine.start(ADA, SPEC)
        voice_answer = asyncio.create_task(a.engine.answer_audio(ADA, voice("we sharded the ledger by account")))
        await held.started.wait()
        typed = asyncio.create_task(b.engine.answer_text(ADA, "I would add an idempotency key to each request."))
        await asyncio.sleep(1.5)  # longer than two leases: A's lease is kept alive while it works
        assert not typed.done()
        held.release.set()
        heard, written = await voice_answer, await typed
        assert (heard.answer.index, written.answer.index) == (0, 1)
        state = await a.engine.get_session(ADA)
        assert [(x.index, x.source) for x in state.answers] == [(0, "voice"), (1, "text")]
    finally:
        await a.close()
        await b.close()


async def test_a_dead_processs_lease_holds_the_user_up_for_one_lease_only(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    keys = prefix()
    a = FrontEnd(redis_server.url, keys, tmp_path / "audio", ScriptedSpeech(), lease=0.5)
    try:
        await a.engine.start(ADA, SPEC)
        # A process that took the lease and died (SIGKILL): its key stays until the lease runs out.
        client = redis.Redis.from_url(redis_server.url)
        client.set(f"{keys}lock:telegram:301", "dead-process-token", px=500)
        loop = asyncio.get_running_loop()
        began = loop.time()
        result = await a.engine.answer_text(ADA, "I would add an idempotency key to each request.")
        waited = loop.time() - began
        assert result.answer.index == 0 and 0.2 < waited < 3.0
        assert client.get(f"{keys}lock:telegram:301") is None  # given back once done
        client.close()
    finally:
        await a.close()


async def test_a_write_from_a_stale_copy_is_refused_not_merged(two: tuple[FrontEnd, FrontEnd]) -> None:
    """The revision check behind the lease: a process that lost its lease (stalled) cannot overwrite the session."""
    a, b = two
    await a.engine.start(ADA, SPEC)
    stale = await asyncio.to_thread(a.store.active_for, "telegram", "301")
    await b.engine.answer_text(ADA, "I would add an idempotency key to each request.")
    assert stale is not None
    with pytest.raises(errors.SessionChanged):
        await asyncio.to_thread(a.store.save, {**stale, "position": 5})
    assert (await a.engine.get_session(ADA)).position == 1


async def test_sessions_survive_a_redis_restart_with_append_only_files(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", append_only=True).start()
    keys = prefix()
    try:
        a = FrontEnd(server.url, keys, tmp_path / "audio", ScriptedSpeech())
        await a.engine.start(ADA, SPEC)
        await a.engine.answer_text(ADA, "I would add an idempotency key to each request.")
        await a.close()
        server.kill()  # SIGKILL: appendfsync always has every acknowledged write on disk
        server.start()
        b = FrontEnd(server.url, keys, tmp_path / "audio", ScriptedSpeech())
        state = await b.engine.get_session(ADA)
        assert state.is_active and [x.source for x in state.answers] == ["text"]
        await b.engine.skip(ADA)  # and it carries on
        assert len((await b.engine.get_session(ADA)).answers) == 2
        await b.close()
    finally:
        server.stop()


async def test_health_names_the_backend_and_says_when_redis_is_unreachable(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    a = FrontEnd(server.url, prefix(), tmp_path / "audio", ScriptedSpeech())
    try:
        await a.engine.start(ADA, SPEC)
        health = await a.engine.health()
        assert health["store"]["ok"] is True and health["store"]["backend"] == "redis"
        assert health["store"]["active"] == 1
        server.stop()
        assert (await a.engine.health())["store"] == {"ok": False}
    finally:
        await a.close()
        server.stop()


async def test_a_team_interview_on_two_front_ends_keeps_every_teammates_rating_and_comment(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A channel's team interview, its people's clicks landing on whichever front-end: two teammates rating at the
    same moment through different front-ends both count (the space's lease puts one write after the other), and a
    restarted front-end reads the team report from Redis."""
    space = User("slack", space_id("C0TEAM001", "1700000000.000100"), "#mock-interviews")
    cand, ivw, mate, peer = (User("slack", u) for u in ("UCAND001", "UIVW0001", "UMATE001", "UPEER001"))
    keys, audio = prefix(), tmp_path / "audio"
    a, b = FrontEnd(redis_server.url, keys, audio), FrontEnd(redis_server.url, keys, audio)
    try:
        await a.engine.start_team(space, SPEC, candidate=cand, interviewer=ivw, place="#mock-interviews")
        await a.engine.accept_team(space, cand)
        await b.engine.ask_own_question(space, ivw, "How do you find a flaky test?")
        answered = await a.engine.answer_text(space, "I rerun it with a fixed seed and bisect the shared state.")
        assert answered.answer.question.text == "How do you find a flaky test?"  # B's question, seen by A

        await asyncio.gather(
            a.engine.rate(space, mate, 0, content=4, structure=3, delivery=5, comment="Clear steps"),
            b.engine.rate(space, peer, 0, overall=2),
        )
        team = (await b.engine.get_session(space)).team
        assert team is not None and sorted((r.rater, r.overall) for r in team.ratings) == [
            ("UMATE001", 4.0),
            ("UPEER001", 2.0),
        ]
        await asyncio.gather(  # a re-rating (replacing the first) and a comment, also at once
            b.engine.rate(space, mate, 0, overall=3, comment="On reflection, short on numbers"),
            a.engine.comment(space, peer, "Say how long the bisecting took"),
        )
        await b.engine.end(space)
    finally:
        await a.close()
        await b.close()

    restarted = FrontEnd(redis_server.url, keys, audio)
    try:
        report = await restarted.engine.team_report(space)
    finally:
        await restarted.close()
    [line] = report.lines
    assert line.question == "How do you find a flaky test?" and line.source == "text"
    assert line.team.count == 2 and line.team.overall == 2.5 and report.team_overall == 2.5 and report.raters == 2
    assert [(r.rater, r.comment) for r in line.rating_comments] == [("UMATE001", "On reflection, short on numbers")]
    assert [(c.author, c.text) for c in line.comments] == [("UPEER001", "Say how long the bisecting took")]
    assert (report.candidate, report.interviewer, report.place) == ("UCAND001", "UIVW0001", "#mock-interviews")


def test_the_config_chooses_redis_with_its_url_from_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text('[store]\nbackend = "redis"\n[redis]\nkey_prefix = "coach:"\n', encoding="utf-8")
    config = load_config(file, env={"INTERVIEW_BOT_REDIS_URL": "redis://:secret@cache.internal:6380/2"})
    assert config.store.backend == "redis" and config.redis.url == "redis://:secret@cache.internal:6380/2"
    assert config.redis.key_prefix == "coach:"
    file.write_text('[store]\nbackend = "redis"\n[web]\npublic_url = "https://coach.example.com"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="INTERVIEW_BOT_WEB_SECRET"):  # each front-end would make its own
        load_config(file, env={})
    file.write_text('[store]\nbackend = "postgres"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"store\.backend"):
        load_config(file, env={})
    file.write_text('[store]\nbackend = "redis"\n[redis]\nurl = "localhost:6379"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"redis\.url"):
        load_config(file, env={})


def test_an_inbox_entry_is_taken_over_only_once_the_front_end_that_received_it_is_gone(
    redis_server: RedisServer,
) -> None:
    """Slack does not resend an acknowledged event: if the front-end that acked it dies, another runs it, and never
    while the first is alive and handling it."""
    keys = prefix()
    first, second = RedisStore(redis_server.url, prefix=keys), RedisStore(redis_server.url, prefix=keys)
    event = {"event": {"text": "안녕하세요 <b>", "files": [], "n": 1.0}}
    assert first.inbox_put("slack", "Ev1", event) is True
    assert second.inbox_orphans("slack") == [] and second.inbox_pending("slack") == []  # first is alive
    assert first.inbox_pending("slack") == [("Ev1", event)]  # its own, after its own restart-free resume
    first.close()  # the process ends; a SIGKILL does the same once its heartbeat key expires (NODE_TTL)
    assert second.inbox_orphans("slack") == [("Ev1", event)]  # exactly as received (empty list, float, markup)
    assert second.inbox_orphans("slack") == []  # taken over: it is second's now
    third = RedisStore(redis_server.url, prefix=keys)
    assert third.inbox_orphans("slack") == [] and third.inbox_pending("slack") == []
    second.inbox_done("slack", "Ev1")
    assert second.inbox_pending("slack") == [] and third.inbox_put("slack", "Ev1", event) is False
    second.close()
    third.close()
