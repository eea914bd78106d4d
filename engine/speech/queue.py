"""The speech queue on Redis Streams: front-ends enqueue voice answers, `interview-bot worker` processes transcribe
them.

A job names a recording by its path inside the audio folder, which every front-end and worker mounts (shared
storage), never by its bytes. One stream per language (`speech:jobs:<language>`), one consumer group ("workers");
a worker reads only the languages it has a model for.

- `QueuedSpeech` is what the engine calls instead of a local SpeechPipeline (same SpeechService shape): it enqueues
  the job and waits for its result, which the worker leaves under the job's key and announces on the job's wake-up
  list (BLPOP), so the waiting front-end hears at once whichever worker finished. The engine still records the
  answer under the user's lease, keyed by the pending answer's id: a job that ran twice is recorded once.
- `SpeechWorker` reads with XREADGROUP, keeps each running job's lease alive by claiming it to itself every few
  seconds (a claim resets the entry's idle time), and acknowledges it once its result is stored. A worker that dies
  stops renewing: after `lease_seconds` idle, another worker takes the job over with XAUTOCLAIM. A job delivered
  `max_deliveries` times without a result goes to the dead-letter stream and its front-end is told
  TranscriptionFailed, which keeps the recording for /retry. A worker that is stopped hands its running jobs back
  to the stream at once rather than leaving them to the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from redis import asyncio as aioredis
from redis.exceptions import ResponseError

from engine import errors
from engine.types import AudioInput, Transcript

logger = logging.getLogger(__name__)

GROUP = "workers"
LEASE_SECONDS = 15.0  # a running job not renewed for this long belongs to a dead worker
MAX_DELIVERIES = 3
RESULT_TTL_SECONDS = 24 * 3600
WORKER_TTL_SECONDS = 10.0  # a worker not seen for this long is not counted as live
STATS_EVERY_SECONDS = 1.0
BLOCK_MS = 1000
RECLAIM_EVERY_SECONDS = 1.0


class Keys:
    """Every key of the queue, under the store's prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def jobs(self, language: str) -> str:
        return f"{self.prefix}speech:jobs:{language}"

    def result(self, job: str) -> str:
        return f"{self.prefix}speech:result:{job}"

    def wake(self, job: str) -> str:
        return f"{self.prefix}speech:wake:{job}"

    def worker(self, name: str) -> str:
        return f"{self.prefix}speech:worker:{name}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}speech:worker:*"

    @property
    def dead(self) -> str:
        return f"{self.prefix}speech:dead"


def error_to_dict(exc: errors.EngineError) -> dict[str, Any]:
    """An engine error as JSON, with the numbers the chat's words use (sizes, seconds, language)."""
    names = ("size_bytes", "limit_bytes", "seconds", "limit_seconds", "language")
    extra = {name: getattr(exc, name, None) for name in names}
    return {"code": exc.code, "message": exc.message, **{k: v for k, v in extra.items() if v is not None}}


def error_from_dict(data: dict[str, Any]) -> errors.EngineError:
    """The engine error a worker reported; an unknown code becomes TranscriptionFailed (kept for /retry)."""
    code, message = data.get("code"), data.get("message")
    if code == errors.AudioTooLarge.code:
        return errors.AudioTooLarge(data.get("size_bytes"), data.get("limit_bytes"), message=message)
    if code == errors.AudioTooLong.code:
        return errors.AudioTooLong(data.get("seconds"), data.get("limit_seconds"), message=message)
    if code == errors.SpeechUnavailable.code:
        return errors.SpeechUnavailable(data.get("language", ""), message)
    simple: dict[str, type[errors.EngineError]] = {
        cls.code: cls for cls in (errors.AudioInvalid, errors.AudioEmpty, errors.AudioSilent, errors.AudioError)
    }
    return simple.get(str(code), errors.TranscriptionFailed)(message)


def job_id(recording: str, language: str) -> str:
    """The same recording in the same language is the same job, whichever front-end enqueues it."""
    return hashlib.sha256(f"{language}\0{recording}".encode()).hexdigest()[:24]


class QueuedSpeech:
    """The engine's speech service when workers are elsewhere: enqueue, then wait for whichever worker finishes."""

    def __init__(
        self,
        url: str,
        audio_dir: Path,
        *,
        prefix: str = "ib:",
        wait_seconds: float = (300.0 + LEASE_SECONDS) * MAX_DELIVERIES,
    ) -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._keys = Keys(prefix)
        self._audio_dir = audio_dir.resolve()
        self._wait = wait_seconds
        self._stats: dict[str, Any] = {"queue_depth": 0, "running": 0, "dead_letters": 0, "workers": []}
        self._languages: set[str] = set()
        self._stats_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Learn the live workers' languages now, then keep the figures fresh in the background."""
        await self._refresh()
        self._stats_task = asyncio.create_task(self._keep_fresh(), name="speech queue stats")

    async def close(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stats_task
        await self._redis.aclose()

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a worker (all languages), as last counted (at most a second ago)."""
        return int(self._stats["queue_depth"])

    def has_language(self, language: str) -> bool:
        """Whether a live worker has a model for it (a voice answer in another language is refused, typed works)."""
        return language.lower() in self._languages

    def languages(self) -> list[str]:
        return sorted(self._languages)

    def health(self) -> dict[str, Any]:
        return {"queue": "redis", "languages": self.languages(), **self._stats}

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        if audio.path is None:
            raise ValueError("queued transcription needs a saved recording (a path in the audio folder)")
        recording = audio.path.resolve().relative_to(self._audio_dir).as_posix()
        language = language.lower()
        job = job_id(recording, language)
        fields: dict[Any, Any] = {
            "job": job,
            "audio": recording,
            "language": language,
            "mime_type": audio.mime_type,
            "filename": audio.filename,
            "queued_at": repr(time.time()),
        }
        await self._redis.delete(self._keys.result(job), self._keys.wake(job))  # a /retry starts afresh
        entry = await self._redis.xadd(self._keys.jobs(language), fields)
        logger.info("speech job queued job=%s entry=%s lang=%s audio=%s", job, entry, language, recording)
        deadline = time.monotonic() + self._wait
        while True:
            found = await self._redis.getdel(self._keys.result(job))
            if found is not None:
                return _outcome(json.loads(found), job)
            left = deadline - time.monotonic()
            if left <= 0:
                logger.error("speech job timed out waiting for a worker job=%s lang=%s", job, language)
                raise errors.TranscriptionFailed("No speech worker finished this answer in time.")
            await self._redis.blpop([self._keys.wake(job)], timeout=min(left, BLOCK_MS / 1000))

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_SECONDS)
            try:
                await self._refresh()
            except Exception:  # Redis away for a moment: the figures stay as last seen
                logger.warning("speech queue figures not refreshed", exc_info=True)

    async def _refresh(self) -> None:
        workers = await live_workers(self._redis, self._keys)
        self._languages = {language for worker in workers for language in worker.get("languages", [])}
        self._stats = {**(await queue_figures(self._redis, self._keys, self._languages)), "workers": workers}


def _outcome(result: dict[str, Any], job: str) -> Transcript:
    if "transcript" in result:
        return Transcript.from_dict(result["transcript"])
    exc = error_from_dict(result.get("error", {}))
    logger.info("speech job failed job=%s code=%s", job, exc.code)
    raise exc


async def live_workers(client: aioredis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """The workers that reported in the last WORKER_TTL_SECONDS, with their languages and jobs."""
    found = [key async for key in client.scan_iter(match=keys.workers, count=100)]
    values = await client.mget(found) if found else []
    return sorted((json.loads(v) for v in values if v is not None), key=lambda w: str(w.get("name")))


async def queue_figures(client: aioredis.Redis, keys: Keys, languages: set[str]) -> dict[str, int]:
    """Jobs waiting (not yet read by a worker), running (read, not acknowledged) and dead-lettered."""
    waiting = running = 0
    for language in sorted(languages):
        try:
            groups = await client.xinfo_groups(keys.jobs(language))
        except ResponseError:  # no such stream yet
            continue
        for group in groups:
            if group["name"] == GROUP:
                waiting += int(group.get("lag") or 0)
                running += int(group.get("pending") or 0)
    return {"queue_depth": waiting, "running": running, "dead_letters": int(await client.xlen(keys.dead))}


class LocalSpeech(Protocol):
    """What a worker transcribes with: engine.speech.SpeechPipeline (threads sharing one model per language)."""

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript: ...

    def languages(self) -> list[str]: ...


class SpeechWorker:
    """Transcribes queued voice answers with a local pipeline (its threads share one model per language)."""

    def __init__(
        self,
        url: str,
        pipeline: LocalSpeech,
        audio_dir: Path,
        *,
        prefix: str = "ib:",
        concurrency: int = 1,
        name: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        max_deliveries: int = MAX_DELIVERIES,
    ) -> None:
        # Typed Any: redis-py's stream stubs cannot express decoded replies (every field would need a cast).
        self._redis: Any = aioredis.Redis.from_url(url, decode_responses=True)
        self._keys = Keys(prefix)
        self._pipeline = pipeline
        self._audio_dir = audio_dir.resolve()
        self._concurrency = concurrency
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._lease_ms = int(lease_seconds * 1000)
        self._max_deliveries = max_deliveries
        self._languages = [language.lower() for language in pipeline.languages()]
        self._running: dict[str, asyncio.Task[None]] = {}  # stream entry id -> its job
        self._stopping = asyncio.Event()
        self._done = 0

    @property
    def languages(self) -> list[str]:
        return list(self._languages)

    async def run(self) -> None:
        """Take jobs until stop(); then hand back what is still running."""
        for language in self._languages:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: another worker made it
                await self._redis.xgroup_create(self._keys.jobs(language), GROUP, id="0", mkstream=True)
        helpers = [
            asyncio.create_task(self._report_in(), name="worker heartbeat"),
            asyncio.create_task(self._reclaim_dead(), name="worker reclaim"),
        ]
        logger.info(
            "speech worker started name=%s languages=%s concurrency=%d", self.name, self._languages, self._concurrency
        )
        try:
            while not self._stopping.is_set():
                free = self._concurrency - len(self._running)
                if free <= 0:
                    await asyncio.wait(list(self._running.values()), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    continue
                streams = {self._keys.jobs(language): ">" for language in self._languages}
                try:
                    read = await self._redis.xreadgroup(
                        GROUP,
                        self.name,
                        streams,
                        count=free,
                        block=BLOCK_MS,
                    )
                except Exception:
                    if self._stopping.is_set():
                        break
                    logger.warning("speech worker could not read the queue; trying again", exc_info=True)
                    await asyncio.sleep(1.0)
                    continue
                for stream, entries in read or []:
                    for entry_id, fields in entries:
                        self._start(stream, entry_id, fields)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._hand_back()
            await self._redis.delete(self._keys.worker(self.name))
            await self._redis.aclose()
            logger.info("speech worker stopped name=%s jobs_done=%d", self.name, self._done)

    def stop(self) -> None:
        self._stopping.set()

    def _start(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        task = asyncio.create_task(self._job(stream, entry_id, fields), name=f"speech job {entry_id}")
        self._running[entry_id] = task
        task.add_done_callback(lambda _: self._running.pop(entry_id, None))

    async def _job(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        job = fields.get("job", entry_id)
        keeper = asyncio.create_task(self._keep_lease(stream, entry_id), name=f"lease {entry_id}")
        try:
            result = await self._transcribe(fields)
        except errors.ShuttingDown:
            return  # handed back by _hand_back
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if result is None:
            return  # a crash: left unacknowledged, so the lease runs out and a worker tries it again
        await self._finish(stream, entry_id, job, result)

    async def _transcribe(self, fields: dict[str, str]) -> dict[str, Any] | None:
        job = fields.get("job", "?")
        try:
            path = self._recording(fields.get("audio", ""))
            audio = AudioInput(mime_type=fields.get("mime_type", ""), filename=fields.get("filename", ""), path=path)
            transcript = await self._pipeline.transcribe(audio, fields.get("language", ""))
        except errors.ShuttingDown:
            raise
        except errors.TranscriptionFailed:
            logger.warning("speech job crashed job=%s worker=%s; it will be tried again", job, self.name)
            return None
        except errors.EngineError as exc:  # the recording itself is unusable: that is the answer's result
            return {"error": error_to_dict(exc)}
        except FileNotFoundError:
            logger.error("speech job's recording is missing job=%s audio=%s", job, fields.get("audio"))
            return {"error": error_to_dict(errors.TranscriptionFailed("The recording could not be found."))}
        except Exception:
            logger.exception("speech job crashed job=%s worker=%s; it will be tried again", job, self.name)
            return None
        logger.info(
            "speech job done job=%s worker=%s seconds=%.1f rtf=%.2f", job, self.name, transcript.duration,
            transcript.real_time_factor,
        )  # fmt: skip
        return {"transcript": transcript.to_dict(), "worker": self.name}

    def _recording(self, relative: str) -> Path:
        """The recording inside the audio folder; a job naming anything outside it is refused."""
        path = (self._audio_dir / relative).resolve()
        if not relative or not path.is_relative_to(self._audio_dir):
            raise errors.AudioInvalid("The recording's path is not in the audio folder.")
        return path

    async def _finish(self, stream: str, entry_id: str, job: str, result: dict[str, Any]) -> None:
        """Store the result, wake the front-end waiting for it, and only then acknowledge the job."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._keys.result(job), json.dumps(result, ensure_ascii=False), ex=RESULT_TTL_SECONDS)
        pipe.rpush(self._keys.wake(job), "1")
        pipe.expire(self._keys.wake(job), RESULT_TTL_SECONDS)
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()
        self._done += 1

    async def _keep_lease(self, stream: str, entry_id: str) -> None:
        """Claim the running job to ourselves every third of a lease: its idle time restarts, so no other worker
        takes it over while this one lives."""
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                await self._redis.xclaim(stream, GROUP, self.name, 0, [entry_id], justid=True)
            except Exception:
                logger.warning("lease renewal failed entry=%s", entry_id, exc_info=True)

    async def _reclaim_dead(self) -> None:
        """Take over jobs whose worker stopped renewing them; give up on a job after max_deliveries."""
        while True:
            # Often, so a dead worker's job waits little more than its lease; XAUTOCLAIM of nothing costs little.
            await asyncio.sleep(min(self._lease_ms / 2000, RECLAIM_EVERY_SECONDS))
            for language in self._languages:
                stream = self._keys.jobs(language)
                try:
                    await self._reclaim(stream)
                except Exception:
                    logger.warning("reclaiming dead workers' jobs failed stream=%s", stream, exc_info=True)

    async def _reclaim(self, stream: str) -> None:
        if self._concurrency - len(self._running) <= 0:
            return
        reply = await self._redis.xautoclaim(stream, GROUP, self.name, self._lease_ms, "0-0", count=1)
        for entry_id, fields in reply[1]:
            if fields is None or entry_id in self._running:  # deleted meanwhile, or ours and still running
                continue
            pending = await self._redis.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            job = fields.get("job", entry_id)
            if deliveries > self._max_deliveries:
                await self._dead_letter(stream, entry_id, fields, deliveries)
                continue
            logger.warning(
                "speech job taken over from a dead worker job=%s by=%s delivery=%d", job, self.name, deliveries
            )
            self._start(stream, entry_id, fields)

    async def _dead_letter(self, stream: str, entry_id: str, fields: dict[str, str], deliveries: int) -> None:
        job = fields.get("job", entry_id)
        tried = deliveries - 1
        logger.error("speech job dead-lettered after %d deliveries job=%s audio=%s", tried, job, fields.get("audio"))
        dead = {**fields, "stream": stream, "deliveries": str(tried)}
        await self._redis.xadd(self._keys.dead, dead)
        failed = errors.TranscriptionFailed("Speech recognition kept failing on this recording.")
        await self._finish(stream, entry_id, job, {"error": error_to_dict(failed)})

    async def _hand_back(self) -> None:
        """Stopping: running jobs go back to the stream as new entries (another worker starts them at once)."""
        for task in list(self._running.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        pending = []
        for language in self._languages:
            stream = self._keys.jobs(language)
            with contextlib.suppress(Exception):
                mine = await self._redis.xpending_range(
                    stream, GROUP, min="-", max="+", count=100, consumername=self.name
                )
                pending += [(stream, item["message_id"]) for item in mine]
        for stream, entry_id in pending:
            entries = await self._redis.xrange(stream, min=entry_id, max=entry_id)
            pipe = self._redis.pipeline(transaction=True)
            for _, fields in entries:
                pipe.xadd(stream, fields)
            pipe.xack(stream, GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()
            logger.info("speech job handed back entry=%s worker=%s", entry_id, self.name)

    async def _report_in(self) -> None:
        """Say we are alive, with our languages, every few seconds (a key that expires when we stop saying it)."""
        while True:
            record = {
                "name": self.name,
                "languages": self._languages,
                "concurrency": self._concurrency,
                "running": len(self._running),
                "done": self._done,
                "seen_at": time.time(),
            }
            try:
                await self._redis.set(self._keys.worker(self.name), json.dumps(record), ex=int(WORKER_TTL_SECONDS))
            except Exception:
                logger.warning("worker heartbeat failed name=%s", self.name, exc_info=True)
            await asyncio.sleep(WORKER_TTL_SECONDS / 3)
