"""Offline speech recognition: Vosk models shared by a bounded pool of worker threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from engine.errors import AudioSilent, EngineError, ShuttingDown, SpeechUnavailable, TranscriptionFailed
from engine.speech.audio import AudioConverter, PcmAudio
from engine.speech.delivery import analyse
from engine.types import AudioInput, Transcript, Word

logger = logging.getLogger(__name__)

# 4000 frames = 0.25 s at 16 kHz: small enough that a job past its deadline stops within a few ms.
CHUNK_FRAMES = 4000
UNKNOWN_WORD = "[unk]"


class Transcriber(Protocol):
    """Turns PCM into text; implementations are blocking and must be safe to call from many threads."""

    def transcribe(
        self,
        pcm: PcmAudio,
        language: str,
        *,
        grammar: Sequence[str] | None = None,
        deadline: float | None = None,
        stop: threading.Event | None = None,
    ) -> Transcript: ...

    def languages(self) -> list[str]: ...

    def has_language(self, language: str) -> bool: ...


def _model_name(path: Path) -> str:
    # Packaged models live in <package>/model, where the package name says more than "model".
    return path.parent.name if path.name == "model" else path.name


class VoskTranscriber:
    """Vosk recognition with one Model per language, loaded once per process and shared by all threads.

    A vosk Model is read-only after loading and documented as shareable between recognisers; each job
    gets its own KaldiRecognizer, so transcribe() needs no lock.
    """

    def __init__(self, models: Mapping[str, Path]) -> None:
        import vosk

        vosk.SetLogLevel(-1)  # Kaldi logs every model file it reads; keep warnings and errors only
        self._vosk = vosk
        self._paths = {language.lower(): Path(path) for language, path in models.items()}
        self._models: dict[str, Any] = {}
        self._locks = {language: threading.Lock() for language in self._paths}

    def languages(self) -> list[str]:
        return sorted(self._paths)

    def has_language(self, language: str) -> bool:
        return language.lower() in self._paths

    def loaded(self) -> dict[str, str]:
        """Language -> model name for the models already in memory (for health checks)."""
        return {language: _model_name(self._paths[language]) for language in sorted(self._models)}

    def load(self, language: str) -> None:
        """Load the model now (start-up warm-up) instead of on the first voice answer."""
        self._model(language.lower())

    def _model(self, language: str) -> Any:
        model = self._models.get(language)
        if model is not None:
            return model
        if language not in self._paths:
            raise SpeechUnavailable(language)
        with self._locks[language]:
            model = self._models.get(language)
            if model is None:
                path = self._paths[language]
                started = time.monotonic()
                try:
                    model = self._vosk.Model(str(path))
                except Exception:
                    logger.exception("could not load the %s speech model from %s", language, path)
                    message = f"The speech model for '{language}' could not be loaded."
                    raise SpeechUnavailable(language, message) from None
                self._models[language] = model
                logger.info("loaded %s speech model %s in %.1f s", language, path, time.monotonic() - started)
        return model

    def transcribe(
        self,
        pcm: PcmAudio,
        language: str,
        *,
        grammar: Sequence[str] | None = None,
        deadline: float | None = None,
        stop: threading.Event | None = None,
    ) -> Transcript:
        """Recognise the whole clip; TranscriptionFailed past `deadline`, ShuttingDown once `stop` is set."""
        language = language.lower()
        model = self._model(language)
        started = time.monotonic()
        if grammar:
            # ensure_ascii=False: Kaldi matches the grammar's words byte for byte against its UTF-8 lexicon.
            recognizer = self._vosk.KaldiRecognizer(
                model, pcm.sample_rate, json.dumps(list(grammar), ensure_ascii=False)
            )
        else:
            recognizer = self._vosk.KaldiRecognizer(model, pcm.sample_rate)
        recognizer.SetWords(True)
        step = CHUNK_FRAMES * 2
        results = []
        for offset in range(0, len(pcm.data), step):
            if stop is not None and stop.is_set():
                raise ShuttingDown()
            if deadline is not None and time.monotonic() > deadline:
                logger.warning(
                    "abandoned a %.1f s %s transcription at %.1f s of audio: past its deadline",
                    pcm.duration,
                    language,
                    offset / 2 / pcm.sample_rate,
                )
                raise TranscriptionFailed()
            if recognizer.AcceptWaveform(pcm.data[offset : offset + step]):
                results.append(json.loads(recognizer.Result()))
        results.append(json.loads(recognizer.FinalResult()))
        words = tuple(
            Word(word=w["word"], start=float(w["start"]), end=float(w["end"]), conf=float(w["conf"]))
            for result in results
            for w in result.get("result", ())
        )
        text = " ".join(r["text"] for r in results if r.get("text"))
        return Transcript(
            text=text,
            words=words,
            duration=pcm.duration,
            processing_seconds=time.monotonic() - started,
            language=language,
            model=_model_name(self._paths[language]),
        )


class SpeechPipeline:
    """Conversion + recognition for the event loop: a bounded pool of worker threads, jobs queue beyond it.

    Threads, not processes, measured with bench/bench_speech.py on the 2-core machine: vosk's cffi calls
    release the GIL, so 2 threads keep 1.96 cores busy and decode 6.0 s of audio per second against 5.4
    for 2 processes; with 4 workers a thread pool peaks at 1.3 GB RSS where 4 processes take 2.6 GB,
    because each process loads its own copy of the model (and pays 1-4 s to start and load it).
    """

    def __init__(
        self,
        transcriber: Transcriber,
        converter: AudioConverter,
        *,
        workers: int,
        job_timeout: float = 300.0,
        grammars: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._transcriber = transcriber
        self._converter = converter
        self._workers = workers
        self._job_timeout = job_timeout
        self._grammars = {language.lower(): list(words) for language, words in (grammars or {}).items()}
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="speech")
        self._counts_lock = threading.Lock()
        self._waiting = 0
        self._running = 0
        self._closed = False
        self._stopping = threading.Event()

    @property
    def queue_depth(self) -> int:
        """Jobs submitted but not yet started by a worker."""
        return self._waiting

    @property
    def busy(self) -> int:
        """Jobs a worker is converting or recognising right now."""
        return self._running

    def languages(self) -> list[str]:
        return self._transcriber.languages()

    def has_language(self, language: str) -> bool:
        return self._transcriber.has_language(language)

    def health(self) -> dict[str, Any]:
        loaded = getattr(self._transcriber, "loaded", None)
        return {
            "workers": self._workers,
            "busy": self.busy,
            "queue_depth": self.queue_depth,
            "languages": self.languages(),
            "loaded_models": loaded() if callable(loaded) else {},
        }

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        """Convert and recognise one answer in the worker pool; the event loop only waits.

        A queued job holds what it was given: the engine gives a recording's path, so waiting jobs hold no audio.
        """
        if self._closed:
            raise ShuttingDown()
        if not self._transcriber.has_language(language):
            raise SpeechUnavailable(language)
        with self._counts_lock:
            self._waiting += 1
        future = self._executor.submit(self._job, audio, language)
        future.add_done_callback(self._uncount_if_cancelled)
        try:
            return await asyncio.wrap_future(future)
        except EngineError:
            raise
        except asyncio.CancelledError:
            if self._closed and not _current_task_cancelling():
                raise ShuttingDown() from None  # dropped from the queue by stop()
            raise
        except Exception as exc:
            what = audio.path.name if audio.path is not None else f"{len(audio.data)} bytes"
            logger.error("speech job for a %s answer (%s) crashed", language, what, exc_info=exc)
            raise TranscriptionFailed() from exc

    def _uncount_if_cancelled(self, future: concurrent.futures.Future[Transcript]) -> None:
        # A future cancelled while queued never reaches _job, which is what would have uncounted it.
        if future.cancelled():
            with self._counts_lock:
                self._waiting -= 1

    def _job(self, audio: AudioInput, language: str) -> Transcript:
        with self._counts_lock:
            self._waiting -= 1
            self._running += 1
        try:
            started = time.monotonic()
            # The limit counts from when a worker takes the job, not from when it was queued.
            deadline = started + self._job_timeout
            if self._stopping.is_set():
                raise ShuttingDown()
            pcm = self._converter.to_pcm(audio)
            transcript = self._transcriber.transcribe(
                pcm, language, grammar=self._grammars.get(language.lower()), deadline=deadline, stop=self._stopping
            )
            if not any(word != UNKNOWN_WORD for word in transcript.text.split()):
                raise AudioSilent()
            return dataclasses.replace(
                transcript, delivery=_delivery(pcm, transcript), processing_seconds=time.monotonic() - started
            )
        finally:
            with self._counts_lock:
                self._running -= 1
                idle = self._running == 0 and self._waiting == 0
            if idle:
                _release_free_memory()

    def stop(self) -> None:
        """Refuse new jobs, drop queued ones and end running ones at their next chunk, all with ShuttingDown.

        Called first on shutdown, so a restart does not wait for a queue of long answers: each of them is
        already saved as pending by the engine, which finishes it after the restart.
        """
        self._closed = True
        self._stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop, then wait (off the loop) for the worker threads to wind down."""
        self.stop()
        await asyncio.to_thread(self._executor.shutdown, wait=True)


def _delivery(pcm: PcmAudio, transcript: Transcript) -> dict[str, Any] | None:
    """How the answer was said, on the PCM already decoded; a failure here costs the analysis, never the transcript."""
    try:
        return analyse(pcm, transcript.words).to_dict()
    except Exception as exc:
        logger.warning(
            "delivery analysis of a %.1f s %s answer failed, keeping the transcript without it: %r",
            pcm.duration,
            transcript.language,
            exc,
            exc_info=exc,
        )
        return None


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _release_free_memory() -> None:
    """Give the decoders' freed memory back to the OS once the pool is idle.

    Each running Vosk decode holds ~60-130 MB of search state (measured on the Korean model) in glibc arenas,
    one per worker thread; glibc keeps freed arena memory, so without this a burst of answers leaves the
    process at its peak size. malloc_trim(0) takes a few milliseconds and only runs when no job is running.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task and task.cancelling())
