"""The composition root: config -> store -> speech -> engine -> adapters, all on one event loop and one server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from aiohttp import web

from adapters.web import ReportLinks, WebConfig, WebPages, load_secret
from bot import __version__
from bot.config import Config, ConfigError
from bot.server import create_app
from bot.store import open_store
from engine import InterviewEngine, Recovered
from engine.coaching.llm import LlmConfig, LlmGrader
from engine.coaching.questions import QUESTION_LANGUAGE
from engine.locks import RedisLease, RedisLocks
from engine.speech import (
    AudioConverter,
    AudioLimits,
    ModelFetchError,
    SpeechPipeline,
    VoskTranscriber,
    fetch_model,
    find_ffmpeg,
    list_models,
)
from engine.speech.queue import MAX_DELIVERIES, QueuedSpeech, SpeechWorker
from engine.speech.voices import VoiceConfig, VoiceSynthesizer
from engine.store import SessionStore

logger = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 3600.0
GRADING_GRACE_SECONDS = 5.0  # at shutdown, for model gradings under way to finish and reach the chat


class Adapter(Protocol):
    """What bot/ needs from a chat adapter (adapters.telegram.TelegramAdapter, adapters.slack.SlackAdapter).

    `run` opens every adapter (able to send, taking in nothing yet), delivers the replies owed for answers a
    restart interrupted, has each run again the updates it had received but not handled (its durable inbox), and
    only then starts them taking in updates.
    """

    def routes(self) -> list[web.RouteDef]: ...

    async def open(self) -> None: ...

    async def resume_inbox(self, *, orphans_only: bool = False) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def deliver_recovered(self, item: Recovered) -> None: ...


async def recover(engine: InterviewEngine, adapters: Mapping[str, Adapter]) -> None:
    """Finish every voice answer a crash or restart interrupted, and hand each reply to its platform's adapter.

    HTTP clients poll for their results, so theirs are only logged; a platform whose adapter is off keeps its
    answers pending until it is back. The HTTP API already serves meanwhile: a user's new answer that arrives
    first makes the engine finish that user's interrupted answers ahead of it (their results come back with it),
    and this pass skips them.
    """
    for platform in ("http", *adapters):
        for item in await engine.recover_pending(platform):
            session = item.session
            logger.info(
                "recovered answer platform=%s user=%s session=%s ok=%s",
                platform,
                session.user_id,
                session.session_id,
                item.error is None,
            )
            adapter = adapters.get(platform)
            if adapter is None:
                continue
            try:
                await adapter.deliver_recovered(item)
            except Exception:  # one undeliverable reply must not stop the others, nor the start
                logger.exception(
                    "could not deliver a recovered answer platform=%s user=%s session=%s",
                    platform,
                    session.user_id,
                    session.session_id,
                )


@dataclass
class Services:
    """Everything `run` builds, in the order it must be closed in reverse."""

    store: SessionStore
    transcriber: VoskTranscriber
    pipeline: SpeechPipeline | None  # None: [speech] workers = 0, transcription by `interview-bot worker`s
    engine: InterviewEngine
    app: web.Application
    adapters: dict[str, Adapter] = field(default_factory=dict)
    voice: VoiceSynthesizer | None = None  # None: [voice] enabled = false
    locks: RedisLocks | None = None  # [store] backend = "redis": the per-user leases
    queue: QueuedSpeech | None = None  # [store] backend = "redis": voice answers go through the speech queue
    worker: SpeechWorker | None = None  # and with [speech] workers > 0 this process takes jobs from it too


def speech_models(config: Config) -> dict[str, Any]:
    """language -> model folder for every model we can find, fetching the default one first if allowed."""
    speech = config.speech
    found = {
        info.language: info.path
        for info in list_models(
            configured=speech.models,
            models_dir=speech.models_dir,
            env=os.environ,
            default_language=speech.default_language,
        )
    }
    default = speech.default_language
    if default not in found and speech.auto_fetch:
        logger.info("no speech model for %s; fetching it into %s", default, speech.models_dir)
        try:
            found[default] = fetch_model(default, speech.models_dir)
        except ModelFetchError as exc:
            logger.warning("could not fetch the %s speech model: %s", default, exc)
    if default not in found:
        logger.warning(
            "no speech model for the default language %s: voice answers get a clear message and typed answers "
            "still work; fix with `interview-bot models fetch %s`",
            default,
            default,
        )
    return found


def build_services(config: Config, models: dict[str, Any]) -> Services:
    """Wire every object from the config; nothing here touches the network."""
    speech = config.speech
    limits = AudioLimits(max_bytes=int(speech.max_audio_mb * 1024 * 1024), max_seconds=speech.max_audio_seconds)
    try:
        ffmpeg = find_ffmpeg(speech.ffmpeg)
    except FileNotFoundError:
        raise ConfigError(f"{config.source or 'defaults'}: 'speech.ffmpeg' {speech.ffmpeg!r} was not found") from None
    store = open_store(config)
    transcriber = VoskTranscriber(models)
    pipeline = None
    if speech.workers > 0:
        pipeline = SpeechPipeline(
            transcriber, AudioConverter(ffmpeg, limits), workers=speech.workers, job_timeout=speech.job_timeout_seconds
        )
    locks = queue = worker = None
    if config.store.backend == "redis":
        redis = config.redis
        locks = RedisLocks(redis.url, prefix=redis.key_prefix, lease_seconds=redis.lease_seconds)
        queue = QueuedSpeech(
            redis.url,
            config.store.audio_dir,
            prefix=redis.key_prefix,
            wait_seconds=(speech.job_timeout_seconds + redis.lease_seconds) * MAX_DELIVERIES,
        )
        if pipeline is not None:
            worker = SpeechWorker(
                redis.url,
                pipeline,
                config.store.audio_dir,
                prefix=redis.key_prefix,
                concurrency=speech.workers,
                lease_seconds=redis.lease_seconds,
            )
    voice = _question_voice(config.voice, ffmpeg)
    engine = InterviewEngine(
        store,
        queue or pipeline,
        default_language=speech.default_language,
        audio_dir=config.store.audio_dir,
        audio_retention_seconds=config.store.audio_retention_days * 86400,
        max_audio_bytes=limits.max_bytes,
        stale_after_hours=config.store.stale_after_hours,
        abandon_after_days=config.store.abandon_after_days,
        max_sessions_per_user_per_day=config.store.max_sessions_per_user_per_day,
        grader=_llm_grader(config.llm),
        voice=voice,
        locks=locks,
    )
    links = report_links(config.web, config.store.path.parent)
    pages = WebPages(engine, links, config.web, admin_token=config.http.admin_token)
    adapters = _chat_adapters(config, engine, links)
    # With the HTTP API off, the server still carries the Telegram webhook, Slack events and the web pages.
    routes = [route for adapter in adapters.values() for route in adapter.routes()]
    app = create_app(engine, config.http, version=__version__, routes=routes, pages=pages, report_url=links.url_for)
    return Services(store, transcriber, pipeline, engine, app, adapters, voice, locks, queue, worker)


def report_links(config: WebConfig, data_dir: Path) -> ReportLinks:
    """The maker and checker of report links, its secret from the config or the data folder; one log line on whether
    links are offered, and how to turn them on."""
    links = ReportLinks(load_secret(config.secret, data_dir), public_url=config.public_url, link_days=config.link_days)
    if config.links_on:
        logger.info("web: report links on at %s/r/... (valid %g days)", links.public_url, config.link_days)
    else:
        logger.info(
            "web: report links off; set [web] public_url to the address candidates open (e.g. "
            "https://coach.example.com) to give each report a private web page"
        )
    return links


def _question_voice(config: VoiceConfig, ffmpeg: str) -> VoiceSynthesizer | None:
    """The voice that speaks the questions; piper-tts is imported only once a voice is loaded (load_voice)."""
    if not config.enabled:
        logger.info("voice: off ([voice] enabled = false): questions go as text only")
        return None
    return VoiceSynthesizer(config, default_language=QUESTION_LANGUAGE, ffmpeg=ffmpeg)


def load_voice(voice: VoiceSynthesizer) -> None:
    """Find and load the questions' voice now, rather than on the first question. BLOCKING: run it in a thread.

    One log line either way: loaded, missing (the synthesiser names the language and `interview-bot models
    fetch-voice <language>`), or failing to load (the synthesiser logs why).
    """
    language = voice.default_language
    if not voice.has_voice(language):  # logs the missing voice once, with the command that adds one
        return
    if voice.load([language]).get(language) is None:
        info = voice.voice_for(language)
        logger.info("voice: questions are spoken in %s by %s", language, info.name if info else "?")


def _llm_grader(llm: LlmConfig) -> LlmGrader | None:
    """The optional model grader; without [llm] enabled nothing is ever sent anywhere."""
    if not llm.configured:
        logger.info("llm: off (answers are graded by the rules only)")
        return None
    logger.info("llm: on (model %s at %s)", llm.model, llm.base_url or "the OpenAI API")
    return LlmGrader(llm)


def _token_id(token: str) -> str:
    """The bot's id, the part of its token before the colon: names the lease without putting the secret in Redis."""
    return token.split(":", 1)[0]


def _chat_adapters(config: Config, engine: InterviewEngine, links: ReportLinks) -> dict[str, Adapter]:
    """Start each chat adapter that is configured, and say why the others are off."""
    adapters: dict[str, Adapter] = {}
    tg = config.telegram
    if not tg.token:
        logger.info("telegram: off (no token; set TELEGRAM_BOT_TOKEN or [telegram] token)")
    elif tg.mode == "webhook" and not tg.webhook_url:
        logger.warning("telegram: off (mode is webhook but [telegram] webhook_url is empty)")
    else:
        from adapters.telegram import TelegramAdapter

        lease = None
        if config.store.backend == "redis" and tg.mode == "polling":
            # Telegram serves one getUpdates client per bot: of several processes, the lease holder polls.
            redis = config.redis
            lease = RedisLease(redis.url, f"telegram-poller:{_token_id(tg.token)}", prefix=redis.key_prefix,
                               lease_seconds=redis.lease_seconds)  # fmt: skip
        adapters["telegram"] = TelegramAdapter(engine, tg, report_link=links.url_for, poll_lease=lease)
        logger.info("telegram: on (%s%s)", tg.mode, ", one process at a time by lease" if lease else "")
    sl = config.slack
    if not sl.bot_token:
        logger.info("slack: off (no bot token; set SLACK_BOT_TOKEN or [slack] bot_token)")
    elif sl.mode == "http" and not sl.signing_secret:
        logger.warning("slack: off (http mode needs SLACK_SIGNING_SECRET or [slack] signing_secret)")
    elif sl.mode == "socket" and not sl.app_token:
        logger.warning("slack: off (socket mode needs SLACK_APP_TOKEN or [slack] app_token)")
    else:
        from adapters.slack import SlackAdapter

        adapters["slack"] = SlackAdapter(engine, sl, report_link=links.url_for)
        logger.info("slack: on (%s)", sl.mode)
    return adapters


async def run(config: Config, *, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or `stop` is set), then close everything in reverse order."""
    started = time.monotonic()
    models = await asyncio.to_thread(speech_models, config)
    services = build_services(config, models)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(services.app, access_log=None)
    await runner.setup()
    tasks: list[asyncio.Task[Any]] = []
    worker_task: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, config.http.host, config.http.port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"{config.source or 'defaults'}: cannot listen on {config.http.host}:{config.http.port} "
                f"([http] host/port): {exc.strerror or exc}"
            ) from None
        logger.info(
            "serving on http://%s:%d (http api %s) version=%s models=%s",
            config.http.host,
            config.http.port,
            "on" if config.http.enabled else "off",
            __version__,
            ",".join(sorted(models)) or "none",
        )
        if services.pipeline is not None and config.speech.default_language in models:
            tasks.append(asyncio.create_task(_warm_up(services.transcriber, config.speech.default_language)))
        if services.worker is not None:
            worker_task = asyncio.create_task(services.worker.run(), name="speech worker")
        if services.queue is not None:
            await services.queue.start()
        if services.voice is not None:
            tasks.append(asyncio.create_task(asyncio.to_thread(load_voice, services.voice)))
        tasks.append(asyncio.create_task(_housekeeping_forever(services.engine)))
        # Open every adapter (able to send, taking nothing in), deliver what a restart interrupted, run again what
        # was received but not handled, then take in.
        await _each_adapter(services.adapters, "open")
        await recover(services.engine, services.adapters)
        await _each_adapter(services.adapters, "resume")
        await _each_adapter(services.adapters, "start")
        if config.store.backend == "redis":
            tasks.append(asyncio.create_task(_take_over_orphans(services.adapters, config.redis.lease_seconds)))
        logger.info("ready in %.1fs", time.monotonic() - started)
        await stop.wait()
        logger.info("stopping")
    finally:
        for task in tasks:
            task.cancel()
        # First, so adapters don't wait for a queue of transcriptions: those answers are saved as pending,
        # their senders are told, and the engine finishes them after the restart (jobs this process had taken
        # from the Redis queue go back to it for another worker).
        if services.worker is not None:
            services.worker.stop()
        if services.pipeline is not None:
            services.pipeline.stop()
        if worker_task is not None:
            await asyncio.gather(worker_task, return_exceptions=True)
        # While the adapters can still edit the candidates' messages.
        await services.engine.stop_grading(GRADING_GRACE_SECONDS)
        for name, adapter in services.adapters.items():
            try:
                await adapter.stop()
            except Exception:
                logger.exception("%s: error while stopping", name)
        await runner.cleanup()
        if services.voice is not None:
            services.voice.close()  # after the adapters, whose last questions may still be being spoken
        if services.pipeline is not None:
            await services.pipeline.close()
        if services.queue is not None:
            await services.queue.close()
        if services.locks is not None:
            await services.locks.close()
        services.store.close()


async def _each_adapter(adapters: dict[str, Adapter], step: Literal["open", "resume", "start"]) -> None:
    """Open, resume or start every adapter; one that fails is logged and dropped, and the others carry on."""
    for name, adapter in list(adapters.items()):
        try:
            if step == "open":
                await adapter.open()
            elif step == "resume":
                await adapter.resume_inbox()
            else:
                await adapter.start()
        except Exception:
            # One platform refusing our token must not take the others down.
            logger.exception("%s: failed to %s; the other adapters keep running", name, step)
            del adapters[name]
        else:
            logger.info("%s: %s", name, {"open": "opened", "resume": "inbox resumed", "start": "started"}[step])


async def _warm_up(transcriber: VoskTranscriber, language: str) -> None:
    """Load the default model now, so the first candidate does not wait for it."""
    await asyncio.to_thread(transcriber.load, language)
    logger.info("speech model for %s loaded", language)


async def _take_over_orphans(adapters: dict[str, Adapter], every: float) -> None:
    """On a shared Redis: run the updates a front-end received and then died before handling (Slack does not resend
    an event that was acknowledged), every `every` seconds; the live processes' own work is never touched."""
    while True:
        await asyncio.sleep(every)
        for name, adapter in adapters.items():
            try:
                await adapter.resume_inbox(orphans_only=True)
            except Exception:
                logger.exception("%s: taking over a dead front-end's inbox failed; trying again later", name)


async def _housekeeping_forever(engine: InterviewEngine) -> None:
    """Purge old recordings and drafts every HOUSEKEEPING_INTERVAL; one failed round (a full disk) is not the last."""
    while True:
        try:
            recordings, drafts = await engine.housekeeping()
        except Exception:
            logger.exception("housekeeping failed; trying again in %.0fs", HOUSEKEEPING_INTERVAL)
        else:
            if recordings or drafts:
                logger.info("removed %d old recordings and %d abandoned set-up drafts", recordings, drafts)
        await asyncio.sleep(HOUSEKEEPING_INTERVAL)
