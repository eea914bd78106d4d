"""Voice answers through Redis: a front-end (`interview-bot run`, [speech] workers = 0) and `interview-bot worker`
processes, against Vosk decoding the same clips directly with the same number of threads.

Run from the project root with the test extras (it starts its own redis-server): `python bench/bench_queue.py`.
It prints:
- throughput (audio seconds per wall second) with 1 and 2 worker processes of one thread each, 8 clips of 10 s sent
  at once, against direct Vosk with 1 and 2 threads, each round right after its direct counterpart (target: 90%);
- the queue's overhead on a reply: HTTP reply time minus the worker's own conversion and recognition time, one
  5-second answer at a time, through Redis and through a one-process bot on TinyDB (target: p50 under 50 ms);
- how long a job a worker was running when it was killed (SIGKILL) waits before another worker takes it over, with
  the default 15-second lease.
Figures only; nothing is asserted. Takes about five minutes on 2 cores.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import direct_throughput, start_session, voice_answer
from clips import make_clips
from server import MODEL, ROOT, free_port

from engine.speech import AudioConverter
from engine.speech.queue import GROUP, Keys
from engine.types import AudioInput
from tests.redis_support import RedisServer

ROUNDS = 2
LATENCY_ANSWERS = 12
KEYS = "bench:"


def config(folder: Path, name: str, redis_url: str, *, workers: int, backend: str = "redis") -> tuple[Path, int]:
    port = free_port()
    path = folder / f"{name}.toml"
    path.write_text(
        'log_level = "WARNING"\n'
        f'[store]\nbackend = "{backend}"\npath = "{folder / "data" / "sessions.json"}"\n'
        f'audio_dir = "{folder / "data" / "audio"}"\n'
        f'[redis]\nurl = "{redis_url}"\nkey_prefix = "{KEYS}"\n'
        f'[speech]\ndefault_language = "ko"\nauto_fetch = false\nworkers = {workers}\n'
        f'[speech.models]\nko = "{MODEL}"\n'
        f"[http]\nport = {port}\n"
    )
    return path, port


def start(command: str, config_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", command, "--config", str(config_path), *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


async def ready(session: aiohttp.ClientSession, url: str, *, workers: int) -> None:
    """Until /healthz shows `workers` live workers for Korean (or, without a queue, the model loaded)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{url}/healthz") as response:
                speech = (await response.json())["speech"]
                if workers and len(speech.get("workers", [])) >= workers and "ko" in speech.get("languages", []):
                    return
                if not workers and speech.get("loaded_models"):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


async def answer_timed(session: aiohttp.ClientSession, url: str, user: str, wav: bytes) -> tuple[float, float]:
    """(reply seconds, the worker's own processing seconds) for one voice answer."""
    form = aiohttp.FormData()
    form.add_field("user_id", user)
    form.add_field("session_id", "bench")
    form.add_field("audio_file", wav, filename="answer.wav", content_type="audio/wav")
    started = time.perf_counter()
    async with session.post(f"{url}/api/interview/answer", data=form) as response:
        body = await response.json()
    elapsed = time.perf_counter() - started
    assert response.status == 200, body
    return elapsed, float(body["speech"]["processing_seconds"])


async def throughput(folder: Path, redis_url: str, wavs: list[bytes], pcms: list[Any], processes: int) -> dict:
    audio_seconds = sum(p.duration for p in pcms)
    front_config, port = config(folder, f"front-{processes}", redis_url, workers=0)
    worker_config, _ = config(folder, f"worker-{processes}", redis_url, workers=1)
    front = start("run", front_config)
    workers = [start("worker", worker_config, "--concurrency", "1") for _ in range(processes)]
    url = f"http://127.0.0.1:{port}"
    direct: list[float] = []
    e2e: list[float] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
            await ready(session, url, workers=processes)
            rounds = [[f"q{processes}-{r}-{i}" for i in range(len(wavs))] for r in range(ROUNDS)]
            for user in [*(u for r in rounds for u in r), f"warm-{processes}"]:
                await start_session(session, url, user)
            await voice_answer(session, url, f"warm-{processes}", wavs[0])
            for users in rounds:
                direct.append(await asyncio.to_thread(direct_throughput, pcms, processes))
                started = time.perf_counter()
                await asyncio.gather(*(voice_answer(session, url, u, w) for u, w in zip(users, wavs, strict=True)))
                e2e.append(audio_seconds / (time.perf_counter() - started))
    finally:
        for process in [front, *workers]:
            stop(process)
    return {"direct": direct, "e2e": e2e}


async def overhead(folder: Path, redis_url: str, wav: bytes, *, backend: str) -> list[float]:
    """Reply time minus processing time (ms), one answer at a time."""
    if backend == "redis":
        front_config, port = config(folder, "latency-front", redis_url, workers=0)
        worker_config, _ = config(folder, "latency-worker", redis_url, workers=1)
        processes = [start("run", front_config), start("worker", worker_config, "--concurrency", "1")]
    else:
        front_config, port = config(folder, "latency-local", redis_url, workers=1, backend="tinydb")
        processes = [start("run", front_config)]
    url = f"http://127.0.0.1:{port}"
    extra: list[float] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            await ready(session, url, workers=1 if backend == "redis" else 0)
            users = [f"{backend}-lat-{i}" for i in range(LATENCY_ANSWERS + 1)]
            for user in users:
                await start_session(session, url, user)
            await answer_timed(session, url, users[0], wav)  # warm
            for user in users[1:]:
                elapsed, processing = await answer_timed(session, url, user, wav)
                extra.append((elapsed - processing) * 1000)
    finally:
        for process in processes:
            stop(process)
    return extra


async def reclaim(folder: Path, redis_url: str, wav: bytes) -> float:
    """Seconds from SIGKILL of the worker running a job until another worker holds it."""
    front_config, port = config(folder, "reclaim-front", redis_url, workers=0)
    worker_config, _ = config(folder, "reclaim-worker", redis_url, workers=1)
    front = start("run", front_config)
    first = start("worker", worker_config, "--concurrency", "1")
    url = f"http://127.0.0.1:{port}"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    second = None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            await ready(session, url, workers=1)
            second = start("worker", worker_config, "--concurrency", "1")
            await ready(session, url, workers=2)
            await start_session(session, url, "reclaim")
            answer = asyncio.create_task(answer_timed(session, url, "reclaim", wav))
            stream = Keys(KEYS).jobs("ko")
            while not client.xpending(stream, GROUP)["pending"]:
                await asyncio.sleep(0.01)
            holder = client.xpending_range(stream, GROUP, min="-", max="+", count=1)[0]["consumer"]
            victim = first if str(first.pid) in holder else second
            victim.send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            while True:
                entries = client.xpending_range(stream, GROUP, min="-", max="+", count=1)
                if not entries or entries[0]["consumer"] != holder:
                    break
                await asyncio.sleep(0.05)
            taken = time.perf_counter() - killed
            await answer
    finally:
        client.close()
        for process in [front, first, *([second] if second else [])]:
            stop(process)
    return taken


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = RedisServer(folder / "redis").start()
        try:
            clips = make_clips(folder, (10.0,) * 8)
            wavs = [path.read_bytes() for _, path in clips]
            converter = AudioConverter()
            pcms = [converter.to_pcm(AudioInput(data=w, mime_type="audio/wav", filename="a.wav")) for w in wavs]
            short = make_clips(folder / "short", (5.0,))[0][1].read_bytes()
            print("throughput, 8 clips of 10 s at once (audio s per wall s)")
            for processes in (1, 2):
                result = await throughput(folder, server.url, wavs, pcms, processes)
                ratios = [e / d for e, d in zip(result["e2e"], result["direct"], strict=True)]
                print(
                    f"  {processes} worker process(es): direct {statistics.median(result['direct']):.2f}, "
                    f"through Redis {statistics.median(result['e2e']):.2f}, ratio {statistics.median(ratios):.0%} "
                    f"(rounds: {', '.join(f'{r:.0%}' for r in ratios)})"
                )
            for backend in ("redis", "tinydb"):
                extra = await overhead(folder, server.url, short, backend=backend)
                print(
                    f"reply time beyond transcription, 5 s answers one at a time ({backend}): "
                    f"p50 {pct(extra, 50):.0f} ms, p95 {pct(extra, 95):.0f} ms"
                )
            taken = await reclaim(folder, server.url, wavs[0])
            print(f"a killed worker's job taken over after {taken:.1f} s (lease 15 s)")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
