"""Helpers for tests that run the real bot as a separate process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port the OS picked: bind port 0, read it, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(condition: Callable[[], object], timeout: float = 10.0, every: float = 0.02) -> None:
    """Poll `condition` until it holds (work in another process or task happens meanwhile); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(every)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without chat secrets or proxies: only the config file decides, and nothing leaves 127.0.0.1."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "SLACK_", "INTERVIEW_BOT_", "VOSK_")) and "proxy" not in key.lower()
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def bot_config(
    data_dir: Path, ko_model_path: Path, port: int, *, workers: int = 1, redis_url: str = "", key_prefix: str = ""
) -> str:
    """The TOML every real-process test starts from: Korean model, no auto-fetch, data under data_dir; with
    `redis_url`, sessions and the speech queue on that server (`workers` = 0: a front-end only)."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    redis = ""
    if redis_url:
        redis = f"""
[redis]
url = {q(redis_url)}
key_prefix = {q(key_prefix)}
lease_seconds = 2
"""
    return f"""log_level = "INFO"

[store]
path = {q(str(data_dir / "sessions.json"))}
audio_dir = {q(str(data_dir / "audio"))}
backend = {q("redis" if redis_url else "tinydb")}
{redis}
[speech]
default_language = "ko"
auto_fetch = false
workers = {workers}
models_dir = {q(str(data_dir / "models"))}

[speech.models]
ko = {q(str(ko_model_path))}

[http]
host = "127.0.0.1"
port = {port}
"""
