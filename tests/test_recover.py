"""bot/app.py `recover`: answers a restart interrupted are finished and handed to their platform's adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import recover
from engine import AudioInput, InterviewEngine, InterviewSpec, Recovered, Transcript, User, errors
from tests.engine_support import build_memory_engine

SPEC = InterviewSpec(role_title="Backend Engineer", company_name="TechCorp", industry="Technology")


class RestartingSpeech:
    """Hears the text in the audio bytes; while `restarting`, every transcription is caught by a shutdown."""

    def __init__(self) -> None:
        self.restarting = True

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        if self.restarting:
            raise errors.ShuttingDown()
        with audio.open() as recording:  # the engine hands over the saved file, not bytes
            text = recording.read().decode()
        return Transcript(text, (), duration=2.0, processing_seconds=0.1, language=language)

    @property
    def queue_depth(self) -> int:
        return 0

    def has_language(self, language: str) -> bool:
        return True

    def health(self) -> dict[str, Any]:
        return {}


class FakeAdapter:
    """Records what it is handed; `broken` ones fail to deliver, as a platform that refuses our token would."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.delivered: list[Recovered] = []

    def routes(self) -> list[web.RouteDef]:
        return []

    async def open(self) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def deliver_recovered(self, item: Recovered) -> None:
        if self.broken:
            raise RuntimeError("the platform refused the message")
        self.delivered.append(item)


@pytest.fixture
def speech() -> RestartingSpeech:
    return RestartingSpeech()


@pytest.fixture
def engine(speech: RestartingSpeech, tmp_path: Path) -> InterviewEngine:
    engine, _ = build_memory_engine(speech, audio_dir=tmp_path / "audio")
    return engine


async def interrupted_answer(engine: InterviewEngine, user: User, said: str) -> None:
    """Start an interview for `user` and leave a voice answer pending, as a restart mid-transcription does."""
    session_id = "s1" if user.platform == "http" else None  # HTTP names its sessions
    await engine.start(user, SPEC, session_id=session_id)
    with pytest.raises(errors.ShuttingDown):
        await engine.answer_audio(user, AudioInput(said.encode(), "audio/ogg", "voice.ogg"), session_id=session_id)
    assert (await engine.get_session(user, session_id)).pending_count == 1


async def test_each_reply_goes_to_its_platforms_adapter_and_an_absent_one_keeps_its_answer_pending(
    engine: InterviewEngine, speech: RestartingSpeech
) -> None:
    alice, bob, web_user = User("telegram", "1001"), User("slack", "U0B0B"), User("http", "mobile-1")
    await interrupted_answer(engine, alice, "alice said this before the restart")
    await interrupted_answer(engine, bob, "bob said this before the restart")
    await interrupted_answer(engine, web_user, "the web client said this")
    speech.restarting = False

    telegram = FakeAdapter()
    await recover(engine, {"telegram": telegram})

    [item] = telegram.delivered
    assert item.session.user_id == "1001" and item.error is None
    assert item.result is not None and item.result.answer.text == "alice said this before the restart"
    assert (await engine.get_session(alice)).pending_count == 0
    # Slack is off: Bob's answer waits for it, untouched.
    bob_session = await engine.get_session(bob)
    assert bob_session.pending_count == 1 and bob_session.position == 0
    # HTTP clients poll: the answer is finished with no adapter to hand it to.
    web_session = await engine.get_session(web_user, "s1")
    assert web_session.pending_count == 0 and web_session.answers[0].text == "the web client said this"


async def test_an_adapter_that_fails_to_deliver_does_not_stop_the_others(
    engine: InterviewEngine, speech: RestartingSpeech
) -> None:
    await interrupted_answer(engine, User("slack", "U0B0B"), "bob's answer")
    await interrupted_answer(engine, User("telegram", "1001"), "alice's answer")
    await interrupted_answer(engine, User("telegram", "1002"), "carol's answer")
    speech.restarting = False

    slack, telegram = FakeAdapter(broken=True), FakeAdapter()
    await recover(engine, {"slack": slack, "telegram": telegram})  # Slack goes first and fails

    assert sorted(item.session.user_id for item in telegram.delivered) == ["1001", "1002"]
    assert slack.delivered == []
    # The answer itself is recorded all the same; only its reply was lost.
    assert (await engine.get_session(User("slack", "U0B0B"))).pending_count == 0
