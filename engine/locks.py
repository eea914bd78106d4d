"""Per-user ordering: one user's answers, skips and commands change their session one at a time, in order.

`LocalLocks` is enough for one process (the TinyDB default). `RedisLocks` makes the same promise across processes
sharing a Redis server: a lease (SET NX PX with a random token) that its holder keeps extending while its work runs
(a long transcription never loses it) and gives back with a compare-and-delete, so a process that dies only holds a
user up for one lease. Inside a process, waiters queue on a local lock first, so they go in arrival order and only
one of them polls Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from redis import asyncio as aioredis

from engine.types import User

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15.0  # how long a dead holder can keep a user waiting
POLL_FIRST = 0.005  # waiting for another process's lease: poll quickly at first, then back off
POLL_MAX = 0.1

# Delete the lease only if it is still ours (it may have expired and been taken by another process).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
# Extend the lease only if it is still ours.
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)


class UserLocks(Protocol):
    def __call__(self, user: User) -> AbstractAsyncContextManager[None]:
        """Held while one change to the user's sessions is made."""
        ...


class LocalLocks:
    """An asyncio lock per user, dropped once nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    def local(self, user: User) -> asyncio.Lock:
        key = (user.platform, user.user_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def __call__(self, user: User) -> AbstractAsyncContextManager[None]:
        return self._held(user)

    @contextlib.asynccontextmanager
    async def _held(self, user: User) -> AsyncIterator[None]:
        async with self.local(user):
            yield


class RedisLocks(LocalLocks):
    """A Redis lease per user, shared by every process on the same server and prefix."""

    def __init__(self, url: str, *, prefix: str = "ib:", lease_seconds: float = LEASE_SECONDS) -> None:
        super().__init__()
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._renew_every = lease_seconds / 3
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)

    def __call__(self, user: User) -> AbstractAsyncContextManager[None]:
        return self._leased(user)

    @contextlib.asynccontextmanager
    async def _leased(self, user: User) -> AsyncIterator[None]:
        key = f"{self._prefix}lock:{user.platform}:{user.user_id}"
        async with self.local(user):
            token = secrets.token_hex(16)
            await self._acquire(key, token)
            keeper = asyncio.create_task(self._keep(key, token, user), name=f"lease {key}")
            try:
                yield
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                await asyncio.shield(self._give_back(key, token))

    async def _acquire(self, key: str, token: str) -> None:
        wait = POLL_FIRST
        while not await self._redis.set(key, token, nx=True, px=self._lease_ms):
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_MAX)

    async def _keep(self, key: str, token: str, user: User) -> None:
        """Extend the lease while the work runs; a lease found lost is logged (the store's revision check then
        refuses the stale write)."""
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                if not await self._renew(keys=[key], args=[token, self._lease_ms]):
                    logger.error(
                        "lease lost platform=%s user=%s: another process may act for this user",
                        user.platform, user.user_id,
                    )  # fmt: skip
                    return
            except Exception:  # Redis unreachable for a moment: the next renewal tries again within the lease
                logger.warning("lease renewal failed platform=%s user=%s", user.platform, user.user_id, exc_info=True)

    async def _give_back(self, key: str, token: str) -> None:
        try:
            await self._release(keys=[key], args=[token])
        except Exception:  # the lease expires on its own
            logger.warning("lease release failed key=%s", key, exc_info=True)

    async def close(self) -> None:
        await self._redis.aclose()


class Lease(Protocol):
    """One named role that one process at a time may play (e.g. the Telegram poller); held by renewing it."""

    async def acquire(self) -> bool:
        """Take the role if nobody holds it; True when this process now holds it."""
        ...

    async def renew(self) -> bool:
        """Extend it; False when it was lost (expired and taken by another process)."""
        ...

    async def release(self) -> None: ...

    async def close(self) -> None:
        """Let go of the connection (after release)."""
        ...

    @property
    def seconds(self) -> float: ...


class RedisLease:
    """A Lease in Redis: SET NX PX with this process's token, renewed and released only while the token matches."""

    def __init__(self, url: str, name: str, *, prefix: str = "ib:", lease_seconds: float = LEASE_SECONDS) -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._key = f"{prefix}lease:{name}"
        self._token = secrets.token_hex(16)
        self._ms = int(lease_seconds * 1000)
        self.seconds = lease_seconds
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self._key, self._token, nx=True, px=self._ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[self._key], args=[self._token, self._ms]))

    async def release(self) -> None:
        with contextlib.suppress(Exception):  # it expires on its own
            await self._release(keys=[self._key], args=[self._token])

    async def close(self) -> None:
        await self._redis.aclose()
