"""Builds engines for tests: the real one (TinyDB files, real speech pipeline) and a fast one on a MemoryStore."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.service import AnswerGrader, InterviewEngine, QuestionVoice, SpeechService
from engine.speech import AudioConverter, AudioLimits, SpeechPipeline, Transcriber
from engine.store import MemoryStore, TinyDBStore
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
    grader: AnswerGrader | None = None,
    voice: QuestionVoice | None = None,
) -> tuple[InterviewEngine, TinyDBStore, SpeechPipeline | None]:
    """One engine on files under data_dir; reopen with the same data_dir to simulate a restart."""
    store = TinyDBStore(data_dir / "sessions.json")
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
        grader=grader,
        voice=voice,
    )
    return engine, store, pipeline


def build_memory_engine(
    speech: SpeechService | None, *, audio_dir: Path | None = None, **options: Any
) -> tuple[InterviewEngine, MemoryStore]:
    """An engine on a MemoryStore, for tests that need no restart: nothing but recordings touches the disk.

    `speech` is any SpeechService (a scripted one, or build_engine's real pipeline); `options` go to the engine.
    """
    store = MemoryStore()
    return InterviewEngine(store, speech, audio_dir=audio_dir, **options), store
