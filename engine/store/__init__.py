"""Where sessions are kept: the SessionStore protocol, the TinyDB files the bot runs on, and a dict-backed twin."""

from engine.store.base import SessionStore
from engine.store.memory import MemoryStore
from engine.store.tinydb import StoreCorrupt, TinyDBStore

__all__ = ["MemoryStore", "SessionStore", "StoreCorrupt", "TinyDBStore"]
