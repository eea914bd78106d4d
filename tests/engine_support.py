"""Builds the real engine for adapter tests: a TinyDB store in a temp folder and the real speech pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.audio import AudioConverter, AudioLimits
from engine.service import InterviewEngine
from engine.speech import SpeechPipeline, Transcriber
from engine.store import SessionStore
from tests.audio_fixtures import KO_GRAMMAR


def build_engine(
    data_dir: Path,
    transcriber: Transcriber | None,
    *,
    workers: int = 2,
    grammar: Sequence[str] | None = KO_GRAMMAR,
    default_language: str = "ko",
    limits: AudioLimits | None = None,
    max_audio_bytes: int = 20 * 1024 * 1024,
) -> tuple[InterviewEngine, SessionStore, SpeechPipeline | None]:
    """One engine on files under data_dir; reopen with the same data_dir to simulate a restart."""
    store = SessionStore(data_dir / "sessions.json")
    pipeline = None
    if transcriber is not None:
        pipeline = SpeechPipeline(
            transcriber,
            AudioConverter(limits=limits or AudioLimits()),
            workers=workers,
            grammars={"ko": list(grammar)} if grammar else None,
        )
    engine = InterviewEngine(
        store,
        pipeline,
        default_language=default_language,
        audio_dir=data_dir / "audio",
        max_audio_bytes=max_audio_bytes,
    )
    return engine, store, pipeline
