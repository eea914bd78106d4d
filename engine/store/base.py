"""What the engine needs from a session store: the SessionStore protocol every store implements."""

from __future__ import annotations

import json
from typing import Any, Protocol

from engine.errors import SessionChanged

# A session as stored: the JSON-ready dict of engine.session.Session.to_dict().
SessionDoc = dict[str, Any]
REV = "rev"  # a session document's revision, for save's compare-and-set
SessionKey = tuple[str, str, str]


class SessionStore(Protocol):
    """Sessions keyed by (platform, user_id, session_id), plus set-up drafts, seen delivery ids and the inbox.

    Every method is blocking and safe to call from many threads (the engine calls them via asyncio.to_thread).
    Documents go in and come out as deep copies: a caller never shares mutable state with the store.
    Finished sessions stay readable (get, latest_for, list_sessions) until the user is deleted. No call but the
    listings costs more as sessions pile up.
    """

    def get(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        """The session with this key, whatever its status, or None."""
        ...

    def active_for(self, platform: str, user_id: str) -> SessionDoc | None:
        """The user's session with status "active" (the most recently updated if several), or None."""
        ...

    def latest_for(self, platform: str, user_id: str) -> SessionDoc | None:
        """The user's most recently updated session, whatever its status, or None."""
        ...

    def sessions_for(self, platform: str, user_id: str) -> list[SessionDoc]:
        """Every session of one user, whatever its status, most recently updated first (progress over time)."""
        ...

    def list_sessions(self, *, include_finished: bool = True) -> list[SessionDoc]:
        """Every session, most recently updated first; only status "active" ones unless include_finished."""
        ...

    def space_sessions(self, platform: str) -> list[SessionDoc]:
        """Every session held by a shared space (a team interview, engine.team.is_space) on the platform, whatever its
        status, most recently updated first: found by key, so no other session is read."""
        ...

    def pending_sessions(self) -> list[SessionDoc]:
        """Sessions holding voice answers saved but not yet recorded, most recently updated first."""
        ...

    def idle_sessions(self, updated_before: float) -> list[SessionDoc]:
        """Sessions with status "active" last updated before the cutoff, least recently updated first."""
        ...

    def created_since(self, platform: str, user_id: str, since: float) -> list[float]:
        """The creation times (at or after `since`) of the user's sessions, oldest first."""
        ...

    def save(self, doc: SessionDoc) -> int:
        """Insert or replace the session with the document's key; durable when it returns.

        A compare-and-set on the document's "rev": it must be the stored one (0 or absent for a session not stored
        yet), else errors.SessionChanged and nothing is written. Returns the new revision, which documents read
        afterwards carry; a saver keeps it for its next save.
        """
        ...

    def delete_user(self, platform: str, user_id: str) -> list[SessionDoc]:
        """Remove every session and the draft of the user; returns the sessions removed."""
        ...

    def delete_session(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        """Remove one session (a team interview whose candidate asked to be forgotten); returns it, None if absent."""
        ...

    def get_draft(self, platform: str, user_id: str) -> dict[str, Any] | None:
        """The user's set-up draft, or None."""
        ...

    def put_draft(self, platform: str, user_id: str, data: dict[str, Any], *, saved_at: float) -> None:
        """Replace the user's set-up draft, stamped with saved_at; durable when it returns."""
        ...

    def purge_drafts(self, saved_before: float) -> int:
        """Drop drafts saved before the cutoff; returns how many went."""
        ...

    def delete_draft(self, platform: str, user_id: str) -> None:
        """Drop the user's set-up draft, if any."""
        ...

    def claim_delivery(self, platform: str, delivery_id: str, *, claimed_at: float | None = None) -> bool:
        """True the first time this platform delivery id is seen, False for every redelivery until it is purged.

        `claimed_at` (default: now) is what purge_deliveries compares with.
        """
        ...

    def purge_deliveries(self, claimed_before: float) -> int:
        """Forget delivery ids claimed before the cutoff; returns how many went."""
        ...

    def inbox_put(
        self, platform: str, delivery_id: str, payload: dict[str, Any], *, received_at: float | None = None
    ) -> bool:
        """Keep an update/event received but not yet handled (durable when it returns); False if it is in the inbox
        already or its id was claimed (handled): a redelivery.

        Entries received before a purge_deliveries cutoff are given up with the old ids.
        """
        ...

    def inbox_done(self, platform: str, delivery_id: str, *, done_at: float | None = None) -> None:
        """The update was handled: it leaves the inbox and its id is claimed, as by claim_delivery."""
        ...

    def inbox_orphans(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        """Entries received by a process that has died since, taken over by this one (shared stores); a store
        only one process opens has none while it runs."""
        ...

    def inbox_pending(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        """The platform's inbox: (delivery id, payload) of every update received but not handled, oldest first."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counts for health checks: active, pending, archived sessions and file sizes in bytes."""
        ...

    def ping(self) -> bool:
        """Whether the store is open and can still be read and written."""
        ...

    def close(self) -> None:
        """Release files and locks; calling it twice is harmless."""
        ...


# ----- helpers every store shares ---------------------------------------------------------------------------


def copy_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep, JSON-normalised copy: what callers get back is exactly what a restart would read."""
    copied: dict[str, Any] = json.loads(json.dumps(doc, ensure_ascii=False))
    return copied


def session_key(doc: SessionDoc) -> SessionKey:
    """(platform, user_id, session_id) of a session document; ValueError if any part is missing or empty."""
    try:
        key = (doc["platform"], doc["user_id"], doc["session_id"])
    except KeyError as exc:
        raise ValueError(f"session document is missing {exc.args[0]!r}") from None
    if not all(isinstance(part, str) and part for part in key):
        raise ValueError(f"session key must be three non-empty strings, got {key!r}")
    return key


def next_rev(stored: SessionDoc | None, doc: SessionDoc) -> int:
    """The revision `doc` gets when saved over `stored`; errors.SessionChanged if it was read from another one."""
    expected = int(doc.get(REV) or 0)
    current = int(stored.get(REV) or 0) if stored is not None else 0
    if expected != current:
        raise SessionChanged()
    return current + 1


def recency(doc: SessionDoc) -> tuple[float, float]:
    """Sort key for "most recently updated first" (with reverse=True)."""
    return (doc.get("updated_at") or 0.0, doc.get("created_at") or 0.0)
