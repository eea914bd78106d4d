"""The per-user order of update processing: one user's updates one after another, everyone else in parallel."""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from telegram.ext import BaseUpdateProcessor

# PTB's own bound on update tasks. Tasks only waiting for their user's turn cost a few KiB each and hold no
# slot of the work bound below, so this is set high: one user's backlog must never fill it for everyone.
MAX_UPDATE_TASKS = 100_000


@dataclass(frozen=True)
class Turn:
    """How an update waits: under its user's key (None: it need not wait), and whether it is a voice answer."""

    key: Hashable | None
    voice: bool = False


class UserOrder(BaseUpdateProcessor):
    """Concurrent across users, in arrival order within one user, and no user's backlog slows anyone else.

    PTB starts updates in the order they were fetched, and `do_process_update` takes the user's lock before its
    first real await, so one user's voice notes, texts and state-changing commands run one after another
    (answers are recorded and replied to in the order sent), while other users, and updates the classifier
    lets through (read-only commands, admin paging), never wait behind a long transcription. A slot of the
    work bound is taken only once the user's turn has come, and one user may have at most `max_voice` voice
    answers in flight: past that, `overflowed(update)` is true and the handler refuses it at once.
    """

    def __init__(
        self,
        max_running: int,
        classify: Callable[[object], Turn],
        *,
        max_voice: int,
        finished: Callable[[object], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(MAX_UPDATE_TASKS)
        self._classify = classify
        self._finished = finished
        self._max_voice = max_voice
        self._running = asyncio.Semaphore(max_running)
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = weakref.WeakValueDictionary()
        self._voice: Counter[Hashable] = Counter()
        self._overflowed: set[int] = set()

    def overflowed(self, update: object) -> bool:
        """True for a voice answer that came while its user already had `max_voice` in flight."""
        return id(update) in self._overflowed

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update in its turn; then `finished(update)`, unless it was cancelled (a stop: it runs again)."""
        try:
            await self._in_turn(update, coroutine)
        except Exception:
            if self._finished is not None:
                await self._finished(update)  # PTB's error handler had its say: running it again would only repeat it
            raise
        if self._finished is not None:
            await self._finished(update)

    async def _in_turn(self, update: object, coroutine: Awaitable[Any]) -> None:
        turn = self._classify(update)
        if turn.key is None:
            await coroutine
            return
        if turn.voice and self._voice[turn.key] >= self._max_voice:
            self._overflowed.add(id(update))
            try:
                await coroutine  # the handler only says no: nothing to wait for
            finally:
                self._overflowed.discard(id(update))
            return
        if turn.voice:
            self._voice[turn.key] += 1
        try:
            lock = self._locks.get(turn.key)
            if lock is None:
                lock = asyncio.Lock()
                self._locks[turn.key] = lock
            async with lock, self._running:
                await coroutine
        finally:
            if turn.voice:
                self._voice[turn.key] -= 1
                if not self._voice[turn.key]:
                    del self._voice[turn.key]

    async def initialize(self) -> None:
        """Nothing to set up: locks are made on demand."""

    async def shutdown(self) -> None:
        """Nothing to free: locks go with their last waiter."""
