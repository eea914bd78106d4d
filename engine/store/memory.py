"""MemoryStore: the SessionStore protocol in plain dicts, for tests and throwaway runs (nothing survives a restart)."""

from __future__ import annotations

import threading
import time
from typing import Any

from engine.store.base import REV, SessionDoc, SessionKey, copy_doc, next_rev, recency, session_key
from engine.team import is_space

ACTIVE = "active"


class MemoryStore:
    """Sessions, drafts and delivery ids in dicts, behind one lock; documents are copied in and out.

    Behaves like TinyDBStore as seen through the SessionStore protocol: finished sessions stay readable, delivery
    ids are remembered per platform until purged, and a closed store refuses reads and writes.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._sessions: dict[SessionKey, SessionDoc] = {}
        self._drafts: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}
        # (platform, delivery id) -> when it was claimed
        self._deliveries: dict[tuple[str, str], float] = {}
        # (platform, delivery id) -> (received at, payload), in arrival order: received, not yet handled
        self._inbox: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the session store is closed")

    def _user_docs(self, platform: str, user_id: str) -> list[SessionDoc]:
        docs = [doc for (p, u, _), doc in self._sessions.items() if (p, u) == (platform, user_id)]
        return sorted(docs, key=recency, reverse=True)

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        with self._lock:
            self._check_open()
            doc = self._sessions.get((platform, user_id, session_id))
            return copy_doc(doc) if doc is not None else None

    def active_for(self, platform: str, user_id: str) -> SessionDoc | None:
        with self._lock:
            self._check_open()
            active = [doc for doc in self._user_docs(platform, user_id) if doc.get("status") == ACTIVE]
            return copy_doc(active[0]) if active else None

    def latest_for(self, platform: str, user_id: str) -> SessionDoc | None:
        with self._lock:
            self._check_open()
            docs = self._user_docs(platform, user_id)
            return copy_doc(docs[0]) if docs else None

    def sessions_for(self, platform: str, user_id: str) -> list[SessionDoc]:
        with self._lock:
            self._check_open()
            return [copy_doc(doc) for doc in self._user_docs(platform, user_id)]

    def list_sessions(self, *, include_finished: bool = True) -> list[SessionDoc]:
        with self._lock:
            self._check_open()
            docs = [doc for doc in self._sessions.values() if include_finished or doc.get("status") == ACTIVE]
            return [copy_doc(doc) for doc in sorted(docs, key=recency, reverse=True)]

    def space_sessions(self, platform: str) -> list[SessionDoc]:
        with self._lock:
            self._check_open()
            docs = [doc for (p, user_id, _), doc in self._sessions.items() if p == platform and is_space(user_id)]
            return [copy_doc(doc) for doc in sorted(docs, key=recency, reverse=True)]

    def pending_sessions(self) -> list[SessionDoc]:
        with self._lock:
            self._check_open()
            docs = [doc for doc in self._sessions.values() if doc.get("pending")]
            return [copy_doc(doc) for doc in sorted(docs, key=recency, reverse=True)]

    def idle_sessions(self, updated_before: float) -> list[SessionDoc]:
        with self._lock:
            self._check_open()
            docs = [
                doc
                for doc in self._sessions.values()
                if doc.get("status") == ACTIVE and (doc.get("updated_at") or 0.0) < updated_before
            ]
            return [copy_doc(doc) for doc in sorted(docs, key=recency)]

    def created_since(self, platform: str, user_id: str, since: float) -> list[float]:
        with self._lock:
            self._check_open()
            times = (doc.get("created_at") or 0.0 for doc in self._user_docs(platform, user_id))
            return sorted(created for created in times if created >= since)

    # -- writes ----------------------------------------------------------------------------------------------

    def save(self, doc: SessionDoc) -> int:
        stored = copy_doc(doc)
        key = session_key(stored)
        with self._lock:
            self._check_open()
            stored[REV] = next_rev(self._sessions.get(key), stored)
            self._sessions[key] = stored
            return int(stored[REV])

    def delete_user(self, platform: str, user_id: str) -> list[SessionDoc]:
        with self._lock:
            self._check_open()
            removed = self._user_docs(platform, user_id)
            for doc in removed:
                del self._sessions[session_key(doc)]
            self._drafts.pop((platform, user_id), None)
            return removed  # no longer held by the store: no copy needed

    def delete_session(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        with self._lock:
            self._check_open()
            return self._sessions.pop((platform, user_id, session_id), None)

    # -- set-up drafts ---------------------------------------------------------------------------------------

    def get_draft(self, platform: str, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._check_open()
            found = self._drafts.get((platform, user_id))
            return copy_doc(found[0]) if found is not None else None

    def put_draft(self, platform: str, user_id: str, data: dict[str, Any], *, saved_at: float) -> None:
        stored = copy_doc(data)
        with self._lock:
            self._check_open()
            self._drafts[(platform, user_id)] = (stored, saved_at)

    def purge_drafts(self, saved_before: float) -> int:
        with self._lock:
            self._check_open()
            old = [key for key, (_, saved_at) in self._drafts.items() if saved_at < saved_before]
            for key in old:
                del self._drafts[key]
            return len(old)

    def delete_draft(self, platform: str, user_id: str) -> None:
        with self._lock:
            self._check_open()
            self._drafts.pop((platform, user_id), None)

    def claim_delivery(self, platform: str, delivery_id: str, *, claimed_at: float | None = None) -> bool:
        key = (platform, str(delivery_id))
        with self._lock:
            self._check_open()
            if key in self._deliveries:
                return False
            self._deliveries[key] = time.time() if claimed_at is None else claimed_at
            self._inbox.pop(key, None)
            return True

    def purge_deliveries(self, claimed_before: float) -> int:
        with self._lock:
            self._check_open()
            old = [key for key, claimed_at in self._deliveries.items() if claimed_at < claimed_before]
            for key in old:
                del self._deliveries[key]
            for key in [key for key, (received_at, _) in self._inbox.items() if received_at < claimed_before]:
                del self._inbox[key]
            return len(old)

    def inbox_put(
        self, platform: str, delivery_id: str, payload: dict[str, Any], *, received_at: float | None = None
    ) -> bool:
        key = (platform, str(delivery_id))
        with self._lock:
            self._check_open()
            if key in self._deliveries or key in self._inbox:
                return False
            self._inbox[key] = (time.time() if received_at is None else received_at, copy_doc(payload))
            return True

    def inbox_done(self, platform: str, delivery_id: str, *, done_at: float | None = None) -> None:
        self.claim_delivery(platform, delivery_id, claimed_at=done_at)

    def inbox_orphans(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        return []  # one process: nothing is orphaned while it runs

    def inbox_pending(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            self._check_open()
            return [(i, copy_doc(body)) for (p, i), (_, body) in self._inbox.items() if p == platform]

    # -- health and lifecycle --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._check_open()
            docs = list(self._sessions.values())
            return {
                "backend": "memory",
                "active": sum(1 for doc in docs if doc.get("status") == ACTIVE),
                "pending": sum(1 for doc in docs if doc.get("pending")),
                # What TinyDBStore would have moved to its archive file: finished, nothing pending.
                "archived": sum(1 for doc in docs if doc.get("status") != ACTIVE and not doc.get("pending")),
                "main_bytes": 0,
                "archive_bytes": 0,
                "deliveries_bytes": 0,
            }

    def ping(self) -> bool:
        return not self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
