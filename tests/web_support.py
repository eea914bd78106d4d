"""For the web page tests: a scripted recogniser whose transcripts carry the real delivery analysis (pauses, pace,
fillers with where they fell), and an engine, links and server wired as bot/app.py wires them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.web import ReportLinks, WebConfig, WebPages
from bot.config import HttpConfig
from bot.server import create_app
from engine import AudioInput, InterviewEngine, Transcript, Word, errors
from engine.speech.audio import PcmAudio
from engine.speech.delivery import analyse

SECRET = b"a-test-secret-for-report-links-0123456789"
ADMIN_TOKEN = "admin-token-for-the-web-tests"


class TimedSpeech:
    """Hears the words written in the recording (b"say:..."): a number is a silence that long, a word starting with
    "?" was heard unsure. Words last 0.35 s, 0.05 s apart; the delivery is the real analysis of those timings."""

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        with audio.open() as recording:
            data = recording.read()
        if not data.startswith(b"say:"):
            raise errors.AudioInvalid()
        words: list[Word] = []
        at = 0.5
        for item in data[4:].decode().split():
            try:
                at += float(item) - 0.05
                continue
            except ValueError:
                pass
            words.append(Word(item.lstrip("?"), at, at + 0.35, 0.4 if item.startswith("?") else 1.0))
            at += 0.4
        seconds = at + 0.5
        pcm = PcmAudio(data=bytes(2 * int(seconds * 16000)), sample_rate=16000, duration=seconds, peak_dbfs=-math.inf)
        return Transcript(
            " ".join(w.word for w in words),
            tuple(words),
            duration=seconds,
            language=language,
            delivery=analyse(pcm, words).to_dict(),
        )

    @property
    def queue_depth(self) -> int:
        return 0

    def has_language(self, language: str) -> bool:
        return True

    def health(self) -> dict[str, Any]:
        return {}


def web_app(
    engine: InterviewEngine,
    links: ReportLinks,
    *,
    public_url: str = "http://127.0.0.1",
    admin_token: str = ADMIN_TOKEN,
    **http: Any,
) -> web.Application:
    """The bot's one server with the API and the pages, as bot/app.py builds it."""
    config = WebConfig(public_url=public_url)
    pages = WebPages(engine, links, config, admin_token=admin_token)
    return create_app(
        engine, HttpConfig(admin_token=admin_token, **http), version="test", pages=pages, report_url=links.url_for
    )


def make_links(public_url: str = "http://127.0.0.1", **options: Any) -> ReportLinks:
    return ReportLinks(SECRET, public_url=public_url, **options)


def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    return folder
