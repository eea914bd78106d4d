"""A real redis-server for the tests, started on a free port in a temporary folder (Debian's redis-server package,
installed by the README's test command). No fake: the Lua scripts, transactions and leases run on the real thing."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import redis

from engine.locks import LEASE_SECONDS, RedisLocks
from engine.service import InterviewEngine, SpeechService
from engine.speech.queue import QueuedSpeech
from engine.store import RedisStore
from tests.processes import free_port

START_TIMEOUT = 10.0


class RedisServer:
    """One redis-server process; `restart()` stops it (SHUTDOWN, so AOF is flushed as on a clean stop) and starts it
    again on the same folder and port. `append_only` turns on AOF with fsync on every write."""

    def __init__(self, folder: Path, *, append_only: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: the README's test command installs it (apt-get)")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.append_only = append_only
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        args += ["--save", "", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"]
        if self.append_only:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        err = self.process.stderr.read().decode() if self.process.stderr else ""
                        raise RuntimeError(f"redis-server did not start: {err}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection before replying
                redis.Redis.from_url(self.url).shutdown(nosave=not self.append_only)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: what a crash of the Redis machine looks like to the bot."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def prefix() -> str:
    """A key prefix of its own per test: tests share one server and never see each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}:"


class FrontEnd:
    """One `interview-bot run` front-end on a shared Redis: its own RedisStore, RedisLocks (own connections, own
    local locks) and engine, as each of several front-ends has. Voice answers are heard by `speech` in this process
    (None: typed answers only) or, with `queued`, handed to workers through the QueuedSpeech stream, as with
    [speech] workers = 0."""

    def __init__(
        self,
        url: str,
        keys: str,
        audio: Path,
        speech: SpeechService | None = None,
        *,
        queued: bool = False,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.store = RedisStore(url, prefix=keys)
        self.locks = RedisLocks(url, prefix=keys, lease_seconds=lease)
        self.queue = QueuedSpeech(url, audio, prefix=keys, wait_seconds=30) if queued else None
        self.engine = InterviewEngine(self.store, self.queue or speech, audio_dir=audio, locks=self.locks)

    async def close(self) -> None:
        if self.queue is not None:
            await self.queue.close()
        await self.locks.close()
        self.store.close()
