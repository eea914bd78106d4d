"""Which session store the configuration asks for, opened in one place for `run`, the workers and the CLI."""

from __future__ import annotations

from bot.config import Config
from engine.store import RedisStore, SessionStore, TinyDBStore


def open_store(config: Config, *, read_only: bool = False) -> SessionStore:
    """TinyDB files (one process; `read_only` for a snapshot beside a running bot), or Redis (any number of
    processes; always live, so `read_only` changes nothing there)."""
    if config.store.backend == "redis":
        return RedisStore(config.redis.url, prefix=config.redis.key_prefix)
    return TinyDBStore(config.store.path, archive_path=config.store.archive_path, read_only=read_only)
