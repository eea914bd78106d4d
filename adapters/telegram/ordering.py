"""The per-user order of update processing: one user's updates one after another, everyone else in parallel."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from telegram.ext import BaseUpdateProcessor

# The key an update waits its turn under, or None for updates that need not wait (read-only, not a user's).
OrderKey = Callable[[object], Hashable | None]


class UserOrder(BaseUpdateProcessor):
    """Concurrent across users, in arrival order within one user.

    PTB starts updates in the order they were fetched, and `do_process_update` takes the user's lock before its
    first real await, so one user's voice notes, texts and state-changing commands run one after another
    (answers are recorded and replied to in the order sent), while other users, and updates the key function
    lets through (read-only commands, admin paging), never wait behind a long transcription.
    """

    def __init__(self, max_concurrent_updates: int, key: OrderKey) -> None:
        super().__init__(max_concurrent_updates)
        self._key = key
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = weakref.WeakValueDictionary()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up: locks are made on demand."""

    async def shutdown(self) -> None:
        """Nothing to free: locks go with their last waiter."""
