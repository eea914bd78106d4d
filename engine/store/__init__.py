"""Where sessions are kept: the SessionStore protocol, the TinyDB files the bot runs on by default, a Redis store
for several processes, and a dict-backed twin for tests."""

from engine.store.base import SessionStore
from engine.store.memory import MemoryStore
from engine.store.redis import RedisStore
from engine.store.tinydb import StoreCorrupt, TinyDBStore

__all__ = ["MemoryStore", "RedisStore", "SessionStore", "StoreCorrupt", "TinyDBStore"]
