"""Web report benchmark: how long the report page takes to render for an interview of 10 and of 40 answers, and its
size before recordings.

Each interview is a stored session of voice answers of about 120 words each (the delivery analysis run on their word
timings, so every transcript carries its pauses, pace windows and fillers), with a retake every fifth question and one
typed answer. Measured twice: the render alone (the page model and the template, what runs in the worker thread),
and the whole request through the real server (link check, store read, report, render, response) with aiohttp's
client on localhost. Both are timed RUNS times after one untimed warm-up; p50 and p95 over those runs.

Run from the project root: `python bench/bench_web.py [--runs 50]` (prints a table; takes about 20 seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession, web

from adapters.http import HttpConfig
from adapters.web import ReportLinks, WebConfig, WebPages
from adapters.web.model import report_view
from bot.server import create_app
from engine import InterviewEngine, InterviewSpec, Report, SessionView, Word
from engine.coaching.feedback import analyze_answer, build_report
from engine.coaching.questions import plan_questions
from engine.session import Answer, Session
from engine.speech.audio import PcmAudio
from engine.speech.delivery import analyse
from engine.store import MemoryStore
from engine.types import Transcript

SPEC = InterviewSpec("Senior Backend Engineer", "TechCorp Inc", "Technology", round_type="full", language="en-us")
SAID = (
    "in my last role our checkout service was timing out under load so i profiled the python code um and moved the "
    "hot queries to postgres indexes and added caching as a result p95 latency dropped by sixty percent and we handled "
    "twice the traffic like on black friday i worked with the team to plan the rollout and we measured every step"
)
WORDS = SAID.split()
PAGE_LIMIT = 300_000


def _transcript(rng: random.Random, count: int) -> Transcript:
    """About `count` words at a varying pace, with a few long pauses, analysed as the speech worker would."""
    words, at = [], 0.6
    for n in range(count):
        word = WORDS[n % len(WORDS)]
        at += rng.choice((0.05, 0.08, 0.12)) + (rng.uniform(1.2, 3.0) if rng.random() < 0.03 else 0.0)
        words.append(Word(word, at, at + 0.3, 0.45 if rng.random() < 0.04 else 0.97))
        at += 0.3
    seconds = at + 0.5
    pcm = PcmAudio(data=bytes(2 * int(seconds * 16000)), sample_rate=16000, duration=seconds, peak_dbfs=-math.inf)
    text = " ".join(w.word for w in words)
    return Transcript(text, tuple(words), duration=seconds, language="en-us", delivery=analyse(pcm, words).to_dict())


def session_of(answers: int, rng: random.Random) -> Session:
    """A finished interview with `answers` answers: 4 of every 5 questions answered once, the fifth twice."""
    questions = []
    while len(questions) < answers:
        questions += plan_questions(SPEC, rng.randrange(1 << 30))
    recorded: list[Answer] = []
    index = 0
    while len(recorded) < answers:
        question = questions[index]
        for attempt in (1, 2) if index % 5 == 4 else (1,):
            if len(recorded) == answers:
                break
            if index == 1:
                text, transcript = "I chose PostgreSQL because the payments needed strict consistency.", None
            else:
                transcript = _transcript(rng, rng.randint(90, 150))
                text = transcript.text
            feedback = analyze_answer(question, text, job_terms=("python", "postgres"), transcript=transcript)
            recorded.append(
                Answer(
                    index=index,
                    question=question,
                    source="voice" if transcript else "text",
                    text=text,
                    answered_at=1_800_000_000 + len(recorded) * 60,
                    feedback=feedback,
                    duration=transcript.duration if transcript else None,
                    audio_file=f"bench/{index}-{attempt}.ogg" if transcript else "",
                    attempt=attempt,
                )
            )
        index += 1
    return Session(
        platform="telegram",
        user_id="bench",
        session_id=f"bench-{answers}",
        spec=SPEC,
        seed=1,
        questions=questions[:index],
        created_at=1_800_000_000.0,
        updated_at=1_800_003_000.0,
        status="completed",
        position=index,
        answers=recorded,
        finished_at=1_800_003_000.0,
    )


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


async def measure(sizes: tuple[int, ...], runs: int) -> list[tuple[int, float, float, float, float, int, int]]:
    rng = random.Random(18)
    store = MemoryStore()
    engine = InterviewEngine(store, None, audio_dir=Path(tempfile.mkdtemp()))
    sessions = {size: session_of(size, rng) for size in sizes}
    for session in sessions.values():
        store.save(session.to_dict())
    links = ReportLinks(b"bench-secret-bench-secret-bench-secret", public_url="http://127.0.0.1")
    pages = WebPages(engine, links, WebConfig(public_url="http://127.0.0.1"))
    runner = web.AppRunner(create_app(engine, HttpConfig(), version="bench", pages=pages), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rows = []
    try:
        async with ClientSession(auto_decompress=False) as client:
            for size, session in sessions.items():
                shown = SessionView.of(session)
                report = build_report(session)

                render(pages, shown, report)
                renders = []
                for _ in range(runs):
                    started = time.perf_counter()
                    render(pages, shown, report)
                    renders.append((time.perf_counter() - started) * 1000)
                url = f"http://127.0.0.1:{port}/r/{links.token(shown)}"
                requests = []
                for n in range(runs + 1):
                    started = time.perf_counter()
                    async with client.get(url) as resp:
                        assert resp.status == 200, resp.status
                        await resp.read()
                    if n:
                        requests.append((time.perf_counter() - started) * 1000)
                # What crosses the network (gzip, as browsers ask for it) and what the browser holds once unpacked.
                async with client.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                    sent = len(await resp.read())
                    assert resp.headers.get("Content-Encoding") == "gzip"
                async with client.get(url, headers={"Accept-Encoding": "identity"}) as resp:
                    whole = len(await resp.read())
                rows.append((size, *_stats(renders), *_stats(requests), sent, whole))
    finally:
        await runner.cleanup()
    return rows


def render(pages: WebPages, session: SessionView, report: Report) -> str:
    """What the report handler runs in its worker thread: the page model, then the template."""
    model = report_view(
        session,
        report,
        recording_url=lambda index, attempt: f"t/audio/{index}/{attempt}",
        spoken_url=lambda index: f"t/question/{index}",
        speaks=False,
    )
    return pages._render("report.html", _FakeRequest(), r=model, progress_url="t/progress")  # type: ignore[arg-type]


class _FakeRequest:
    """What the template helper reads of a request: its path (for the relative links' depth)."""

    path = "/r/token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    rows = asyncio.run(measure((10, 40), args.runs))
    limit = f"limit {PAGE_LIMIT // 1000} KB"
    print(f"| answers | render p50 / p95 | whole request p50 / p95 | page sent (gzip; {limit}) | page unpacked |")
    print("| --- | --- | --- | --- | --- |")
    for size, r50, r95, q50, q95, sent, whole in rows:
        times = f"{r50:.1f} / {r95:.1f} ms | {q50:.1f} / {q95:.1f} ms"
        print(f"| {size} | {times} | {sent / 1000:.0f} KB | {whole / 1000:.0f} KB |")


if __name__ == "__main__":
    main()
