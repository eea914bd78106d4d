"""The interviewer's voice: Piper voices loaded once per language, synthesis in a bounded pool, audio cached."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.speech.audio import find_ffmpeg
from engine.speech.voices.cache import VoiceCache, cache_key
from engine.speech.voices.config import DEFAULT_CACHE_DIR, VoiceConfig
from engine.speech.voices.encode import MIME_TYPES, AudioFormat, encode_pcm
from engine.speech.voices.finder import VoiceInfo, all_voices, choose_voice, normalize_language
from engine.speech.voices.text import for_the_ear, split_sentences

logger = logging.getLogger(__name__)

# Bumped when the rendering changes (pauses, encoder settings), so old cached audio is not served as new.
RENDER_VERSION = "1"
# Between sentences synthesised one at a time: about the pause a speaker makes at a full stop.
SENTENCE_PAUSE_SECONDS = 0.15
# PCM of the last few questions, so the OGG for Telegram and the MP3 for the browser cost one synthesis.
_RECENT_PCM = 8
FETCH_HINT = "interview-bot models fetch-voice"


@dataclass(frozen=True)
class SpokenQuestion:
    """A question as audio, ready to send: bytes in `mime_type`, and how long it plays."""

    data: bytes
    mime_type: str
    duration_seconds: float
    cached: bool


@dataclass(frozen=True)
class VoiceStatus:
    """One language's voice for `interview-bot models` and /healthz: where it is, and whether it loads."""

    language: str
    name: str
    path: Path
    source: str
    loaded: bool
    error: str | None


@dataclass
class _Loaded:
    voice: Any  # piper.PiperVoice
    synthesis: Any  # piper.SynthesisConfig
    sample_rate: int


@dataclass(frozen=True)
class _Job:
    info: VoiceInfo
    ear: str
    fmt: AudioFormat
    key: str


class SynthesisError(Exception):
    """A voice produced nothing usable; the message is the cause."""


class VoiceSynthesizer:
    """Speaks questions with Piper, offline. Never raises to callers: no voice or a failure means text only.

    One PiperVoice per voice file, loaded once (eagerly with load(), else on first use) and shared by the pool's
    threads. That is safe: onnxruntime's InferenceSession.run may be called from many threads at once, and Piper
    guards its one shared espeak-ng phonemizer with a lock. The other phonemizers (Chinese, Hebrew...) are created
    lazily without a lock, so loading synthesises one word before the voice is shared.
    """

    def __init__(
        self,
        config: VoiceConfig,
        *,
        default_language: str = "en-us",
        ffmpeg: str = "",
        workers: int | None = None,
        cache: VoiceCache | None = None,
    ) -> None:
        self.config = config
        self.default_language = normalize_language(default_language)
        self._ffmpeg_setting = ffmpeg
        self._ffmpeg: str | None = None
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="voice")
        if cache is None:
            folder = config.cache_dir or DEFAULT_CACHE_DIR
            cache = VoiceCache(folder, config.cache_mb * 1024 * 1024)
        self.cache = cache
        self.synthesized = 0  # renders made (not served from the cache), for tests and benchmarks
        self._lock = threading.Lock()
        self._voices: list[VoiceInfo] | None = None
        self._chosen: dict[str, VoiceInfo | None] = {}
        self._fingerprints: dict[Path, str] = {}
        self._loaded: dict[Path, _Loaded] = {}
        self._errors: dict[Path, str] = {}
        self._load_locks: dict[Path, threading.Lock] = {}
        self._key_locks: dict[str, list[Any]] = {}  # key -> [lock, users]
        self._recent: collections.OrderedDict[str, tuple[bytes, int]] = collections.OrderedDict()
        self._told: set[str] = set()  # languages already logged as having no voice

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    # --- which voice ----------------------------------------------------------------------------------------

    def voice_for(self, language: str) -> VoiceInfo | None:
        """The voice that speaks a language (found once, not loaded); None when there is none."""
        language = normalize_language(language or self.default_language)
        with self._lock:
            if language not in self._chosen:
                if self._voices is None:
                    self._voices = all_voices(configured=self.config.models, voices_dir=self.config.voices_dir)
                self._chosen[language] = choose_voice(language, self._voices)
            return self._chosen[language]

    def has_voice(self, language: str) -> bool:
        """Whether questions in this language will be spoken: voice on, a voice found, and not known to be broken.

        Cheap after the first call per language (nothing is loaded); a missing voice is logged once per language.
        """
        if not self.enabled:
            return False
        info = self.voice_for(language)
        if info is None:
            self._tell_missing(normalize_language(language or self.default_language))
            return False
        return info.path not in self._errors

    def _tell_missing(self, language: str) -> None:
        with self._lock:
            if language in self._told:
                return
            self._told.add(language)
        logger.warning(
            "no voice for %s: its questions go as text only; add one with `%s %s`", language, FETCH_HINT, language
        )

    # --- loading --------------------------------------------------------------------------------------------

    def load(self, languages: Iterable[str] | None = None) -> dict[str, str | None]:
        """Load the voices for these languages (default: every voice found) now rather than on the first question.

        BLOCKING. Returns language -> None when loaded, else the error; languages without a voice are left out.
        """
        if languages is None:
            with self._lock:
                if self._voices is None:
                    self._voices = all_voices(configured=self.config.models, voices_dir=self.config.voices_dir)
                languages = sorted({info.language for info in self._voices})
        result: dict[str, str | None] = {}
        for language in languages:
            info = self.voice_for(language)
            if info is None:
                continue
            try:
                self._load(info)
            except Exception:
                result[normalize_language(language)] = self._errors.get(info.path, "could not be loaded")
            else:
                result[normalize_language(language)] = None
        return result

    def _load(self, info: VoiceInfo) -> _Loaded:
        loaded = self._loaded.get(info.path)
        if loaded is not None:
            return loaded
        if info.path in self._errors:
            raise SynthesisError(self._errors[info.path])
        with self._lock:
            lock = self._load_locks.setdefault(info.path, threading.Lock())
        with lock:
            loaded = self._loaded.get(info.path)
            if loaded is not None:
                return loaded
            if info.path in self._errors:
                raise SynthesisError(self._errors[info.path])
            started = time.monotonic()
            try:
                loaded = self._open(info)
            except Exception as exc:
                self._errors[info.path] = _one_line(exc)
                logger.warning(
                    "could not load the %s voice %s (%s): %s; %s questions go as text only",
                    info.language,
                    info.path,
                    info.source,
                    self._errors[info.path],
                    info.language,
                )
                raise
            self._loaded[info.path] = loaded
            logger.info(
                "loaded %s voice %s (%s) in %.1f s", info.language, info.name, info.source, time.monotonic() - started
            )
            return loaded

    def _open(self, info: VoiceInfo) -> _Loaded:
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError:
            raise SynthesisError("piper-tts is not installed: pip install 'voice-interview-bot[voice]'") from None
        voice = PiperVoice.load(info.path, config_path=info.config_path)
        speakers = voice.config.num_speakers
        speaker = self.config.speaker
        if speaker is not None and speakers <= 1:
            speaker = None  # a one-speaker voice has nobody to choose
        elif speaker is not None and not 0 <= speaker < speakers:
            logger.warning(
                "voice.speaker = %d but %s has speakers 0-%d; using its default speaker",
                speaker,
                info.name,
                speakers - 1,
            )
            speaker = None
        # length_scale scales the voice's own tempo, which some voices tune in their configuration.
        synthesis = SynthesisConfig(
            speaker_id=speaker, length_scale=voice.config.length_scale * self.config.length_scale
        )
        loaded = _Loaded(voice, synthesis, voice.config.sample_rate)
        self._pcm(loaded, "Ready.")  # before any sharing: creates lazy phonemizers, proves the model runs
        return loaded

    # --- speaking -------------------------------------------------------------------------------------------

    async def speak(self, text: str, language: str, fmt: AudioFormat = "ogg") -> SpokenQuestion | None:
        """The question as audio in `fmt`, or None (voice off, no voice for the language, or a failure, logged).

        Cache hits are read in the default executor, so they never wait behind syntheses; synthesis runs in this
        object's pool. Nothing here blocks the event loop.
        """
        if not self.enabled:
            return None
        try:
            step = await asyncio.to_thread(self._lookup, text, language, fmt)
            if not isinstance(step, _Job):
                return step
            try:
                future = self._pool.submit(self._render, step)
            except RuntimeError:  # the pool is shut down: the bot is stopping
                return None
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if future.cancelled() and not (task and task.cancelling()):
                    return None  # dropped from the queue by close(), not a cancellation of the caller
                raise
        except Exception as exc:
            logger.warning("could not speak a %s question: %s", language, _one_line(exc))
            return None

    def speak_blocking(self, text: str, language: str, fmt: AudioFormat = "ogg") -> SpokenQuestion | None:
        """speak() for threads and the command line: BLOCKING, same contract (never raises)."""
        if not self.enabled:
            return None
        try:
            step = self._lookup(text, language, fmt)
            return self._render(step) if isinstance(step, _Job) else step
        except Exception as exc:
            logger.warning("could not speak a %s question: %s", language, _one_line(exc))
            return None

    def _lookup(self, text: str, language: str, fmt: AudioFormat) -> SpokenQuestion | _Job | None:
        """The cheap part: ear text, voice, cache. A _Job when the audio still has to be made."""
        if fmt not in MIME_TYPES:
            raise ValueError(f"unknown audio format {fmt!r}")
        ear = for_the_ear(text)
        if not ear or not self.has_voice(language):
            return None
        info = self.voice_for(language)
        assert info is not None  # has_voice said so
        key = cache_key(RENDER_VERSION, self._fingerprint(info), self._settings(), fmt, ear)
        hit = self.cache.get(key, fmt)
        if hit is not None:
            return SpokenQuestion(hit.data, MIME_TYPES[fmt], hit.duration_seconds, cached=True)
        return _Job(info, ear, fmt, key)

    def _render(self, job: _Job) -> SpokenQuestion | None:
        """Synthesise, encode and cache one question; runs in the pool. Failures are one WARNING and None."""
        with self._only_one(job.key):
            hit = self.cache.get(job.key, job.fmt)  # made by another thread while this one waited
            if hit is not None:
                return SpokenQuestion(hit.data, MIME_TYPES[job.fmt], hit.duration_seconds, cached=True)
            try:
                loaded = self._load(job.info)
            except Exception:
                return None  # logged once by _load
            try:
                pcm, sample_rate = self._speech(job, loaded)
                data = encode_pcm(pcm, sample_rate, job.fmt, self._ffmpeg_path())
            except Exception as exc:
                logger.warning(
                    "could not synthesise a %s question with %s: %s; it goes as text only",
                    job.info.language,
                    job.info.name,
                    _one_line(exc),
                )
                return None
            duration = len(pcm) / 2 / sample_rate
            self.cache.put(job.key, job.fmt, data, duration)
            return SpokenQuestion(data, MIME_TYPES[job.fmt], duration, cached=False)

    def _speech(self, job: _Job, loaded: _Loaded) -> tuple[bytes, int]:
        """The question's PCM: the same text in another format reuses the last synthesis."""
        text_key = cache_key(self._fingerprint(job.info), self._settings(), job.ear)
        with self._lock:
            recent = self._recent.get(text_key)
            if recent is not None:
                self._recent.move_to_end(text_key)
                return recent
        pause = b"\x00\x00" * round(SENTENCE_PAUSE_SECONDS * loaded.sample_rate)
        pieces = [self._pcm(loaded, piece) for piece in split_sentences(job.ear)]
        pcm = pause.join(piece for piece in pieces if piece)
        if not pcm:
            raise SynthesisError("the voice produced no audio")
        with self._lock:
            self.synthesized += 1
            self._recent[text_key] = (pcm, loaded.sample_rate)
            while len(self._recent) > _RECENT_PCM:
                self._recent.popitem(last=False)
        return pcm, loaded.sample_rate

    @staticmethod
    def _pcm(loaded: _Loaded, text: str) -> bytes:
        return b"".join(chunk.audio_int16_bytes for chunk in loaded.voice.synthesize(text, loaded.synthesis))

    def _settings(self) -> str:
        return f"length_scale={self.config.length_scale!r} speaker={self.config.speaker!r}"

    def _fingerprint(self, info: VoiceInfo) -> str:
        fingerprint = self._fingerprints.get(info.path)
        if fingerprint is None:
            fingerprint = self._fingerprints[info.path] = info.fingerprint()
        return fingerprint

    def _ffmpeg_path(self) -> str:
        if self._ffmpeg is None:
            self._ffmpeg = find_ffmpeg(self._ffmpeg_setting)
        return self._ffmpeg

    @contextlib.contextmanager
    def _only_one(self, key: str) -> Iterator[None]:
        """One synthesis per cache key at a time: two candidates asked the same question share one rendering."""
        with self._lock:
            entry = self._key_locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._key_locks[key]

    # --- reporting ------------------------------------------------------------------------------------------

    def status(self) -> list[VoiceStatus]:
        """Each language's voice: where it was found, whether it is loaded, and the error of one that did not load."""
        with self._lock:
            if self._voices is None:
                self._voices = all_voices(configured=self.config.models, voices_dir=self.config.voices_dir)
            languages = sorted({info.language for info in self._voices})
        rows = []
        for language in languages:
            info = self.voice_for(language)
            if info is not None:
                rows.append(
                    VoiceStatus(
                        language=language,
                        name=info.name,
                        path=info.path,
                        source=info.source,
                        loaded=info.path in self._loaded,
                        error=self._errors.get(info.path),
                    )
                )
        return rows

    def health(self) -> dict[str, Any]:
        """For /healthz: voice on or off, and per language the voice, whether it is loaded, and any load error."""
        return {
            "enabled": self.enabled,
            "voices": {
                row.language: {"voice": row.name, "source": row.source, "loaded": row.loaded, "error": row.error}
                for row in self.status()
            },
        }

    def close(self) -> None:
        """Stop the pool; syntheses already running finish, queued ones are dropped (their callers get None)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
