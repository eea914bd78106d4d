"""RedisStore: the SessionStore protocol on a Redis server, so several processes (front-ends, speech workers) share
sessions, set-up drafts, delivery ids and the inbox. TinyDBStore stays the embedded default.

The protocol is blocking (the engine calls it in worker threads), so this uses redis-py's thread-safe blocking
client and connection pool; what runs on the event loop (the per-user lease in engine.locks) uses its asyncio client.
Every change that touches more than one key is one Lua script or one MULTI transaction: a reader never sees half
of it, and a session write is a compare-and-set on its revision, so two processes never overwrite each other.

Keys, under a prefix (default "ib:"):
    s:{platform}:{user}:{session}   hash: doc (the JSON document), rev, updated_at, status
    u:{platform}:{user}             sorted set: the user's session ids by updated_at
    all / active                    sorted sets: every / every active session key by updated_at
    pending                         set: keys of sessions holding voice answers not yet recorded
    d:{platform}:{user}, drafts     hash (data, saved_at) per draft; sorted set of draft owners by saved_at
    dl:{platform}                   sorted set: claimed delivery ids by claim time (purged by age)
    in:{platform}, inq:{platform}   hash id -> {received_at, payload}; sorted set of ids in arrival order
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from typing import Any

import redis

from engine.errors import SessionChanged
from engine.store.base import REV, SessionDoc, copy_doc, recency, session_key
from engine.team import is_space

logger = logging.getLogger(__name__)

ACTIVE = "active"
NODE_TTL = 10.0  # seconds: a process not heard from this long is dead, and its inbox entries are taken over
SEP = "\x1f"  # between the parts of a session key kept as a set member; IDs never contain it

# KEYS: session hash, user's set, all, active, pending. ARGV: expected rev, new doc JSON, updated_at, status,
# member (for all/active/pending), session id, has pending ("1"/"0").
_SAVE = """
local current = redis.call('HGET', KEYS[1], 'rev')
if (current or '0') ~= ARGV[1] then return -1 end
local rev = tonumber(ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'rev', rev, 'updated_at', ARGV[3], 'status', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[5])
if ARGV[4] == 'active' then redis.call('ZADD', KEYS[4], ARGV[3], ARGV[5]) else redis.call('ZREM', KEYS[4], ARGV[5]) end
if ARGV[7] == '1' then redis.call('SADD', KEYS[5], ARGV[5]) else redis.call('SREM', KEYS[5], ARGV[5]) end
return rev
"""

# KEYS: inbox hash, owners hash. ARGV: id, this node, node key prefix, "1" to take this node's own entries too.
# The entry (now owned by this node) when its owner is this node (and own is "1") or a node no longer alive; else
# nil. The entry's JSON is returned as stored, never re-encoded.
_TAKE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return nil end
local owner = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if owner == ARGV[2] then
    if ARGV[4] == '1' then return raw end
    return nil
end
if owner ~= '' and redis.call('EXISTS', ARGV[3] .. owner) == 1 then return nil end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return raw
"""

# KEYS: claimed set, inbox hash, inbox order, platforms, owners hash. ARGV: id, claimed_at, platform. 1 when claimed
# now, 0 when seen before.
_CLAIM = """
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
"""

# KEYS: claimed set, inbox hash, inbox order, sequence, platforms, owners hash. ARGV: id, entry JSON, platform, this
# node. 1 when kept, 0 for a redelivery.
_INBOX_PUT = """
redis.call('SADD', KEYS[5], ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[6], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[1])
return 1
"""


class RedisStore:
    """Sessions in Redis, shared by every process pointed at the same server and key prefix.

    Each open store is a node that says it is alive (a key it refreshes from a small thread, expiring NODE_TTL after
    it stops): inbox entries carry the node that received them, so another process takes over only the entries of a
    node that died (`inbox_orphans`), never those a live process is still handling.
    """

    def __init__(self, url: str, *, prefix: str = "ib:", client: redis.Redis | None = None) -> None:
        self._redis: redis.Redis = client or redis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._closed = False
        self._save_script = self._redis.register_script(_SAVE)
        self._claim_script = self._redis.register_script(_CLAIM)
        self._inbox_script = self._redis.register_script(_INBOX_PUT)
        self._take_script = self._redis.register_script(_TAKE)
        self.node = uuid.uuid4().hex[:16]
        self._stop = threading.Event()
        self._say_alive()
        self._heartbeat = threading.Thread(target=self._keep_alive, name=f"redis-store-{self.node}", daemon=True)
        self._heartbeat.start()

    # -- keys ------------------------------------------------------------------------------------------------

    def _k(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _session_key(self, platform: str, user_id: str, session_id: str) -> str:
        return self._k("s", platform, user_id, session_id)

    def _user_key(self, platform: str, user_id: str) -> str:
        return self._k("u", platform, user_id)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the session store is closed")

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        self._check_open()
        return self._read(self._session_key(platform, user_id, session_id))

    def active_for(self, platform: str, user_id: str) -> SessionDoc | None:
        active = [doc for doc in self.sessions_for(platform, user_id) if doc.get("status") == ACTIVE]
        return active[0] if active else None

    def latest_for(self, platform: str, user_id: str) -> SessionDoc | None:
        docs = self.sessions_for(platform, user_id)
        return docs[0] if docs else None

    def sessions_for(self, platform: str, user_id: str) -> list[SessionDoc]:
        self._check_open()
        ids = _names(self._redis.zrange(self._user_key(platform, user_id), 0, -1))
        keys = [self._session_key(platform, user_id, sid) for sid in ids]
        return sorted(self._read_many(keys), key=recency, reverse=True)

    def list_sessions(self, *, include_finished: bool = True) -> list[SessionDoc]:
        self._check_open()
        members = _names(self._redis.zrange(self._k("all" if include_finished else ACTIVE), 0, -1))
        docs = self._read_many([self._member_key(m) for m in members])
        if not include_finished:
            docs = [doc for doc in docs if doc.get("status") == ACTIVE]
        return sorted(docs, key=recency, reverse=True)

    def space_sessions(self, platform: str) -> list[SessionDoc]:
        self._check_open()
        parts = (m.split(SEP) for m in _names(self._redis.zrange(self._k("all"), 0, -1)))
        keys = [self._session_key(*p) for p in parts if len(p) == 3 and p[0] == platform and is_space(p[1])]
        return sorted(self._read_many(keys), key=recency, reverse=True)

    def pending_sessions(self) -> list[SessionDoc]:
        self._check_open()
        members = _names(self._redis.smembers(self._k("pending")))
        docs = [doc for doc in self._read_many([self._member_key(m) for m in members]) if doc.get("pending")]
        return sorted(docs, key=recency, reverse=True)

    def idle_sessions(self, updated_before: float) -> list[SessionDoc]:
        self._check_open()
        members = _names(self._redis.zrangebyscore(self._k(ACTIVE), "-inf", f"({updated_before!r}"))
        docs = self._read_many([self._member_key(m) for m in members])
        idle = [d for d in docs if d.get("status") == ACTIVE and (d.get("updated_at") or 0.0) < updated_before]
        return sorted(idle, key=recency)

    def created_since(self, platform: str, user_id: str, since: float) -> list[float]:
        times = (doc.get("created_at") or 0.0 for doc in self.sessions_for(platform, user_id))
        return sorted(created for created in times if created >= since)

    # -- writes ----------------------------------------------------------------------------------------------

    def save(self, doc: SessionDoc) -> int:
        stored = copy_doc(doc)
        platform, user_id, session_id = session_key(stored)
        expected = int(stored.get(REV) or 0)
        stored[REV] = expected + 1
        updated_at = float(stored.get("updated_at") or 0.0)
        self._check_open()
        rev = self._save_script(
            keys=[
                self._session_key(platform, user_id, session_id),
                self._user_key(platform, user_id),
                self._k("all"),
                self._k(ACTIVE),
                self._k("pending"),
            ],
            args=[
                str(expected),
                json.dumps(stored, ensure_ascii=False),
                repr(updated_at),
                str(stored.get("status", "")),
                SEP.join((platform, user_id, session_id)),
                session_id,
                "1" if stored.get("pending") else "0",
            ],
        )
        if int(rev) < 0:
            raise SessionChanged()
        return int(rev)

    def delete_user(self, platform: str, user_id: str) -> list[SessionDoc]:
        self._check_open()
        user_key = self._user_key(platform, user_id)
        removed = self.sessions_for(platform, user_id)
        pipe = self._redis.pipeline(transaction=True)
        for doc in removed:
            self._unlist(pipe, platform, user_id, doc["session_id"])
        pipe.delete(user_key)
        pipe.delete(self._k("d", platform, user_id))
        pipe.zrem(self._k("drafts"), SEP.join((platform, user_id)))
        pipe.execute()
        return removed

    def delete_session(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        self._check_open()
        found = self.get(platform, user_id, session_id)
        if found is None:
            return None
        pipe = self._redis.pipeline(transaction=True)
        self._unlist(pipe, platform, user_id, session_id)
        pipe.zrem(self._user_key(platform, user_id), session_id)
        pipe.execute()
        return found

    def _unlist(self, pipe: redis.client.Pipeline, platform: str, user_id: str, session_id: str) -> None:
        """Queue one session's removal on `pipe`: its hash, and its place in every index but its user's set."""
        member = SEP.join((platform, user_id, session_id))
        pipe.delete(self._session_key(platform, user_id, session_id))
        pipe.zrem(self._k("all"), member)
        pipe.zrem(self._k(ACTIVE), member)
        pipe.srem(self._k("pending"), member)

    # -- set-up drafts ---------------------------------------------------------------------------------------

    def get_draft(self, platform: str, user_id: str) -> dict[str, Any] | None:
        self._check_open()
        data = _text(self._redis.hget(self._k("d", platform, user_id), "data"))
        return json.loads(data) if data is not None else None

    def put_draft(self, platform: str, user_id: str, data: dict[str, Any], *, saved_at: float) -> None:
        self._check_open()
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._k("d", platform, user_id), mapping={"data": json.dumps(data, ensure_ascii=False)})
        pipe.zadd(self._k("drafts"), {SEP.join((platform, user_id)): saved_at})
        pipe.execute()

    def purge_drafts(self, saved_before: float) -> int:
        self._check_open()
        owners = _names(self._redis.zrangebyscore(self._k("drafts"), "-inf", f"({saved_before!r}"))
        pipe = self._redis.pipeline(transaction=True)
        for owner in owners:
            platform, user_id = owner.split(SEP, 1)
            pipe.delete(self._k("d", platform, user_id))
            pipe.zrem(self._k("drafts"), owner)
        pipe.execute()
        return len(owners)

    def delete_draft(self, platform: str, user_id: str) -> None:
        self._check_open()
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._k("d", platform, user_id))
        pipe.zrem(self._k("drafts"), SEP.join((platform, user_id)))
        pipe.execute()

    # -- delivery ids and the inbox --------------------------------------------------------------------------

    def claim_delivery(self, platform: str, delivery_id: str, *, claimed_at: float | None = None) -> bool:
        self._check_open()
        when = time.time() if claimed_at is None else claimed_at
        keys = [
            self._k("dl", platform), self._k("in", platform), self._k("inq", platform), self._k("platforms"),
            self._k("inown", platform),
        ]  # fmt: skip
        return bool(self._claim_script(keys=keys, args=[str(delivery_id), repr(when), platform]))

    def purge_deliveries(self, claimed_before: float) -> int:
        self._check_open()
        cutoff = f"({claimed_before!r}"
        purged = 0
        for platform in self._platforms():
            purged += int(self._redis.zremrangebyscore(self._k("dl", platform), "-inf", cutoff))
            inbox = self._redis.hgetall(self._k("in", platform))
            old = [i for i, entry in inbox.items() if json.loads(entry)["received_at"] < claimed_before]
            if old:
                pipe = self._redis.pipeline(transaction=True)
                pipe.hdel(self._k("in", platform), *old)
                pipe.hdel(self._k("inown", platform), *old)
                pipe.zrem(self._k("inq", platform), *old)
                pipe.execute()
        return purged

    def inbox_put(
        self, platform: str, delivery_id: str, payload: dict[str, Any], *, received_at: float | None = None
    ) -> bool:
        self._check_open()
        entry = {"received_at": time.time() if received_at is None else received_at, "payload": payload}
        keys = [
            self._k("dl", platform), self._k("in", platform), self._k("inq", platform), self._k("inseq"),
            self._k("platforms"), self._k("inown", platform),
        ]  # fmt: skip
        args = [str(delivery_id), json.dumps(entry, ensure_ascii=False), platform, self.node]
        return bool(self._inbox_script(keys=keys, args=args))

    def inbox_done(self, platform: str, delivery_id: str, *, done_at: float | None = None) -> None:
        self.claim_delivery(platform, delivery_id, claimed_at=done_at)

    def inbox_pending(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        """This node's entries and those of nodes that died (taken over); never a live process's."""
        return self._take(platform, own=True)

    def inbox_orphans(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        return self._take(platform, own=False)

    def _take(self, platform: str, *, own: bool) -> list[tuple[str, dict[str, Any]]]:
        self._check_open()
        ids = _names(self._redis.zrange(self._k("inq", platform), 0, -1))
        taken: list[tuple[str, dict[str, Any]]] = []
        for delivery_id in ids:
            found = _text(
                self._take_script(
                    keys=[self._k("in", platform), self._k("inown", platform)],
                    args=[delivery_id, self.node, self._k("node", ""), "1" if own else "0"],
                )
            )
            if found is not None:
                taken.append((delivery_id, json.loads(found)["payload"]))
        return taken

    # -- health and lifecycle --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        self._check_open()
        pipe = self._redis.pipeline(transaction=True)
        pipe.zcard(self._k("all"))
        pipe.zcard(self._k(ACTIVE))
        pipe.smembers(self._k("pending"))
        total, active, members = pipe.execute()
        pending = _names(members)
        finished_pending = sum(1 for m in pending if self._redis.zscore(self._k(ACTIVE), m) is None)
        info = self._redis.info("memory")
        return {
            "backend": "redis",
            "active": int(active),
            "pending": len(pending),
            "archived": int(total) - int(active) - finished_pending,
            "used_memory_bytes": int(info.get("used_memory", 0)),
        }

    def ping(self) -> bool:
        if self._closed:
            return False
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stop.set()
            self._heartbeat.join(timeout=5)
            with contextlib.suppress(redis.RedisError):  # else the key expires on its own
                self._redis.delete(self._node_key(self.node))  # its inbox entries are others' to take from now
            self._redis.close()

    def _node_key(self, node: str) -> str:
        return self._k("node", node)

    def _say_alive(self) -> None:
        self._redis.set(self._node_key(self.node), "1", px=int(NODE_TTL * 1000))

    def _keep_alive(self) -> None:
        while not self._stop.wait(NODE_TTL / 4):
            try:
                self._say_alive()
            except redis.RedisError:  # Redis away for a moment: the next beat tries again within the TTL
                logger.warning("redis store heartbeat failed node=%s", self.node)

    # -- internals -------------------------------------------------------------------------------------------

    def _member_key(self, member: str) -> str:
        platform, user_id, session_id = member.split(SEP, 2)
        return self._session_key(platform, user_id, session_id)

    def _platforms(self) -> set[str]:
        """Platforms with delivery ids or an inbox (so a purge need not scan the keyspace)."""
        return set(_names(self._redis.smembers(self._k("platforms"))))

    def _read(self, key: str) -> SessionDoc | None:
        doc, rev = self._redis.hmget(key, ["doc", "rev"])
        return _doc(_text(doc), _text(rev))

    def _read_many(self, keys: list[str]) -> list[SessionDoc]:
        if not keys:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, ["doc", "rev"])
        docs = (_doc(_text(doc), _text(rev)) for doc, rev in pipe.execute())
        return [doc for doc in docs if doc is not None]

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _text(value: Any) -> str | None:
    """A reply as text: the client decodes responses, but its types cannot say so."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _names(values: Any) -> list[str]:
    return [text for value in values if (text := _text(value)) is not None]


def _doc(data: str | None, rev: str | None) -> SessionDoc | None:
    if data is None:
        return None
    doc: SessionDoc = json.loads(data)
    doc[REV] = int(rev or 0)
    return doc
