"""`interview-bot worker`: a process that only transcribes and analyses voice answers from the Redis speech queue.

Run any number of them, on any machine that reaches Redis and mounts the audio folder; each one loads one model
per language, shared by its `--concurrency` threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.app import speech_models
from bot.config import Config, ConfigError
from engine.speech import AudioConverter, AudioLimits, SpeechPipeline, VoskTranscriber, find_ffmpeg
from engine.speech.queue import SpeechWorker

logger = logging.getLogger(__name__)


async def run_worker(config: Config, *, concurrency: int | None = None, stop: asyncio.Event | None = None) -> None:
    """Take jobs until SIGINT/SIGTERM (or `stop`); jobs still running then go back to the queue for another worker."""
    where = config.source or "defaults"
    if config.store.backend != "redis":
        raise ConfigError(f'{where}: `interview-bot worker` takes jobs from Redis: set [store] backend = "redis"')
    threads = concurrency or config.speech.workers or 1
    speech = config.speech
    models = await asyncio.to_thread(speech_models, config)
    if not models:
        raise ConfigError(f"{where}: no speech model found: a worker needs one (`interview-bot models fetch LANG`)")
    try:
        ffmpeg = find_ffmpeg(speech.ffmpeg)
    except FileNotFoundError:
        raise ConfigError(f"{where}: 'speech.ffmpeg' {speech.ffmpeg!r} was not found") from None
    transcriber = VoskTranscriber(models)
    for language in models:  # before the first job, so no candidate waits for a model to load
        await asyncio.to_thread(transcriber.load, language)
    limits = AudioLimits(max_bytes=int(speech.max_audio_mb * 1024 * 1024), max_seconds=speech.max_audio_seconds)
    pipeline = SpeechPipeline(
        transcriber, AudioConverter(ffmpeg, limits), workers=threads, job_timeout=speech.job_timeout_seconds
    )
    worker = SpeechWorker(
        config.redis.url,
        pipeline,
        config.store.audio_dir,
        prefix=config.redis.key_prefix,
        concurrency=threads,
        lease_seconds=config.redis.lease_seconds,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def stop_when_told() -> None:
        await stop.wait()
        logger.info("stopping worker %s", worker.name)
        worker.stop()
        pipeline.stop()

    stopper = asyncio.create_task(stop_when_told())
    try:
        await worker.run()
    finally:
        stopper.cancel()
        await pipeline.close()
