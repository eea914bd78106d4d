"""TinyDBStore, the persistent session store: two TinyDB files (active sessions, archive), atomic durable writes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import MemoryStorage, Storage

from engine.errors import EngineError, StoreLocked
from engine.store.base import SessionDoc, SessionKey, copy_doc, recency, session_key

logger = logging.getLogger(__name__)

SESSIONS = "sessions"
DELIVERIES = "deliveries"
DRAFTS = "drafts"
ACTIVE = "active"
# Stamped on every stored copy and stripped from what callers see: if a crash interrupts a move between the
# two files, both hold the session and the copy with the higher revision is the one that was written last.
REV = "_store_rev"


class StoreCorrupt(EngineError):
    """A database file exists but cannot be read; refusing to start empty keeps its data recoverable."""

    code = "store_corrupt"
    default_message = "The session database file is damaged."


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy_doc(doc)
    out.pop(REV, None)
    return out


def _newest_copies(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per session: after a failed move both files may hold it, and the later write wins."""
    newest: dict[SessionKey, dict[str, Any]] = {}
    for doc in docs:
        key = session_key(doc)
        if key not in newest or doc.get(REV, 0) > newest[key].get(REV, 0):
            newest[key] = doc
    return list(newest.values())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces its file atomically and serves reads from the last data written.

    Each write goes to a temp file in the same folder, is fsynced, renamed over the file and the folder is
    fsynced, so a crash leaves either the old or the new file and a returned write is on disk. The file is
    parsed once, on open: the store holds an exclusive lock, so nobody else changes it underneath us.
    """

    def __init__(self, path: str, read_only: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.read_only = read_only
        if not read_only:
            self._remove_leftover_temp_files()
        self._data: dict[str, dict[str, Any]] | None = self._load()

    def _temp_prefix(self) -> str:
        return f".{self.path.name}."

    def _remove_leftover_temp_files(self) -> None:
        # Only an interrupted write leaves these; the file they were meant to replace is still intact.
        for leftover in self.path.parent.glob(f"{self._temp_prefix()}*.tmp"):
            logger.warning("removing %s, left over from an interrupted write", leftover)
            leftover.unlink(missing_ok=True)

    def _load(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            # We never write an empty file, so something else truncated it: the sessions may be recoverable.
            raise StoreCorrupt(
                f"The session database {self.path} is empty. Restore it from a backup, "
                "or delete it to start with no sessions."
            )
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreCorrupt(
                f"The session database {self.path} is not valid JSON ({exc}). "
                "Restore it from a backup or move it away; it was left untouched."
            ) from exc
        if not isinstance(data, dict) or not all(
            isinstance(table, dict) and all(isinstance(doc, dict) for doc in table.values()) for table in data.values()
        ):
            raise StoreCorrupt(
                f"The session database {self.path} is JSON but not a TinyDB database "
                "(expected tables of documents). Restore it from a backup or move it away."
            )
        return data

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self.read_only:
            raise RuntimeError(f"{self.path} was opened read-only")
        try:
            payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=self._temp_prefix(), suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except BaseException:
            # TinyDB changed our cached data in place before calling write(); go back to what is on disk.
            self._data = self._load()
            raise
        self._data = data
        try:
            _fsync_dir(self.path.parent)
        except OSError as exc:
            # The new file is in place and is what a reader sees: reporting a failure would have the caller undo
            # or repeat a write that happened. Only the rename's durability across a power cut is in doubt.
            logger.error("%s was written but its folder could not be synced: %s", self.path, exc)

    def file_size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


class _Shelf:
    """The sessions table of one TinyDB database, indexed by (platform, user_id) then session_id."""

    def __init__(self, db: TinyDB, label: str, *, fix: bool = True) -> None:
        self.db = db
        self.label = label
        self.table = db.table(SESSIONS, cache_size=0)
        self.index: dict[tuple[str, str], dict[str, int]] = {}
        try:
            duplicates = self.rebuild()
        except ValueError as exc:
            where = db.storage.path if isinstance(db.storage, AtomicJSONStorage) else label
            raise StoreCorrupt(f"The session database {where} holds a session it cannot use: {exc}.") from exc
        if duplicates and fix:
            # Only hand-editing produces these; keep the newest write.
            logger.warning("%s: dropping %d duplicate session copies", label, len(duplicates))
            self._write(lambda: self.table.remove(doc_ids=duplicates))
            self.rebuild()

    def rebuild(self) -> list[int]:
        """Index every document; returns the ids of duplicate copies (older revisions) of one session."""
        self.index = {}
        duplicates: list[int] = []
        revisions: dict[int, int] = {}
        for doc in self.table:
            platform, user_id, session_id = session_key(doc)
            revisions[doc.doc_id] = doc.get(REV, 0)
            sessions = self.index.setdefault((platform, user_id), {})
            other = sessions.get(session_id)
            if other is not None and revisions[other] > revisions[doc.doc_id]:
                duplicates.append(doc.doc_id)
                continue
            if other is not None:
                duplicates.append(other)
            sessions[session_id] = doc.doc_id
        return duplicates

    def _write(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except BaseException:
            # The storage went back to what is on disk; index that.
            self.rebuild()
            raise

    def read(self, key: SessionKey) -> dict[str, Any] | None:
        doc_id = self.index.get(key[:2], {}).get(key[2])
        return None if doc_id is None else self.table.get(doc_id=doc_id)

    def user_docs(self, platform: str, user_id: str) -> list[dict[str, Any]]:
        found = (self.table.get(doc_id=doc_id) for doc_id in self.index.get((platform, user_id), {}).values())
        return [doc for doc in found if doc is not None]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def put(self, doc: dict[str, Any]) -> None:
        platform, user_id, session_id = session_key(doc)
        doc_id = self.index.get((platform, user_id), {}).get(session_id)
        if doc_id is None:
            new_id = self._write(lambda: self.table.insert(doc))
            self.index.setdefault((platform, user_id), {})[session_id] = new_id
        else:

            def replace(stored: MutableMapping[str, Any]) -> None:
                stored.clear()
                stored.update(doc)

            self._write(lambda: self.table.update(replace, doc_ids=[doc_id]))

    def remove(self, keys: list[SessionKey]) -> None:
        found = [self.index.get(key[:2], {}).get(key[2]) for key in keys]
        doc_ids = [doc_id for doc_id in found if doc_id is not None]
        if not doc_ids:
            return
        self._write(lambda: self.table.remove(doc_ids=doc_ids))
        for platform, user_id, session_id in keys:
            sessions = self.index.get((platform, user_id))
            if sessions is not None:
                sessions.pop(session_id, None)
                if not sessions:
                    del self.index[(platform, user_id)]

    def size(self) -> int:
        storage = self.db.storage
        return storage.file_size() if isinstance(storage, AtomicJSONStorage) else 0


class TinyDBStore:
    """Sessions keyed by (platform, user_id, session_id), safe to call from many threads.

    Layout: the main file holds active sessions, sessions with pending voice answers, and the delivery ids
    already processed; every answer rewrites it, so it stays small. Finished sessions with nothing pending
    move to the archive file, which is only rewritten when a session finishes or is deleted.

    Delivery ids (platform update/event ids used to drop redelivered messages) are kept per platform, the
    newest DELIVERY_IDS_KEPT of them; a redelivery older than that would be processed again, which platforms
    never do (they retry within minutes).
    """

    DELIVERY_IDS_KEPT = 5000

    def __init__(self, path: Path | None, *, archive_path: Path | None = None, read_only: bool = False) -> None:
        """Open (and lock) the store; read_only takes no lock and never writes, for a snapshot beside a running bot."""
        self._lock = threading.RLock()
        self._read_only = read_only
        self._closed = False
        self._lock_fd: int | None = None
        self.path = Path(path) if path is not None else None
        self.archive_path: Path | None = None
        if self.path is None:
            self._main_db = TinyDB(storage=MemoryStorage)
            self._archive_db = TinyDB(storage=MemoryStorage)
        else:
            self.archive_path = (
                Path(archive_path)
                if archive_path is not None
                else self.path.with_name(f"{self.path.stem}-archive.json")
            )
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.archive_path.parent.mkdir(parents=True, exist_ok=True)
                self._lock_fd = self._acquire_lock(Path(f"{self.path}.lock"), self.path)
            try:
                self._main_db = TinyDB(str(self.path), storage=AtomicJSONStorage, read_only=read_only)
                self._archive_db = TinyDB(str(self.archive_path), storage=AtomicJSONStorage, read_only=read_only)
            except BaseException:
                self._release_lock()
                raise
        self._deliveries = self._main_db.table(DELIVERIES, cache_size=0)
        self._drafts = self._main_db.table(DRAFTS, cache_size=0)
        try:
            # Read-only, reads still pick the newest copy of a session; only the cleanup on disk is skipped.
            self._main = _Shelf(self._main_db, "main", fix=not read_only)
            self._archive = _Shelf(self._archive_db, "archive", fix=not read_only)
            self._rev = max((doc.get(REV, 0) for shelf in (self._main, self._archive) for doc in shelf), default=0)
            if not read_only:
                self._repair()
        except BaseException:
            self._release_lock()
            raise
        logger.info(
            "session store open: %s (%d sessions), %s (%d sessions)",
            self.path or "memory",
            len(self._main),
            self.archive_path or "memory",
            len(self._archive),
        )

    # -- lifecycle -------------------------------------------------------------------------------------------

    @staticmethod
    def _acquire_lock(lock_path: Path, db_path: Path) -> int:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = "another process"
            with contextlib.suppress(OSError, ValueError):
                pid = int(lock_path.read_text().strip())
                holder = "this process" if pid == os.getpid() else f"another process (pid {pid})"
            raise StoreLocked(
                f"The session database {db_path} is already open in {holder}; its lock file {lock_path} "
                "is held. Stop that process, or give this one a different database path."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        """Release the files and the lock (every write is already on disk); calling it twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._main_db.close()
            self._archive_db.close()
            self._release_lock()
            logger.info("session store closed: %s", self.path or "memory")

    def __enter__(self) -> TinyDBStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self, *, writing: bool = False) -> None:
        if self._closed:
            raise RuntimeError("the session store is closed")
        if writing and self._read_only:
            raise RuntimeError("the session store was opened read-only")

    def _repair(self) -> None:
        """Finish what a crash interrupted: a session in both files, or one in the wrong file."""
        for doc in list(self._main):
            key = session_key(doc)
            archived = self._archive.read(key)
            if archived is None:
                continue
            older = self._main if archived.get(REV, 0) > doc.get(REV, 0) else self._archive
            logger.warning("%s/%s/%s was in both files; dropping the older copy", *key)
            older.remove([key])
        for source, target, belongs in (
            (self._main, self._archive, True),
            (self._archive, self._main, False),
        ):
            for doc in list(source):
                if self._belongs_in_archive(doc) == belongs:
                    logger.warning("moving %s/%s/%s to the %s file", *session_key(doc), target.label)
                    target.put(copy_doc(doc))
                    source.remove([session_key(doc)])

    # -- placement -------------------------------------------------------------------------------------------

    def _belongs_in_archive(self, doc: dict[str, Any]) -> bool:
        return doc.get("status") != ACTIVE and not doc.get("pending")

    def _find(self, key: SessionKey) -> dict[str, Any] | None:
        copies = [doc for shelf in (self._main, self._archive) if (doc := shelf.read(key)) is not None]
        return max(copies, key=lambda doc: doc.get(REV, 0)) if copies else None

    def _put(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a normalised copy where it belongs; returns what was stored (with its revision)."""
        key = session_key(doc)
        self._rev += 1
        doc[REV] = self._rev
        target, other = (self._archive, self._main) if self._belongs_in_archive(doc) else (self._main, self._archive)
        # Write the new home first: a crash before the removal leaves two copies, and _repair keeps this one.
        target.put(doc)
        other.remove([key])
        logger.debug("saved %s/%s/%s to the %s file (%d bytes)", *key, target.label, target.size())
        return doc

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        with self._lock:
            self._check_open()
            found = self._find((platform, user_id, session_id))
            return _public(found) if found else None

    def active_for(self, platform: str, user_id: str) -> SessionDoc | None:
        """The user's session with status "active", the most recently updated if there are several."""
        with self._lock:
            self._check_open()
            active = [doc for doc in self._user_docs(platform, user_id) if doc.get("status") == ACTIVE]
            return _public(max(active, key=recency)) if active else None

    def latest_for(self, platform: str, user_id: str) -> SessionDoc | None:
        """The user's most recently updated session, whatever its status."""
        with self._lock:
            self._check_open()
            docs = self._user_docs(platform, user_id)
            return _public(docs[0]) if docs else None

    def _user_docs(self, platform: str, user_id: str) -> list[dict[str, Any]]:
        docs = [doc for shelf in (self._main, self._archive) for doc in shelf.user_docs(platform, user_id)]
        return sorted(_newest_copies(docs), key=recency, reverse=True)

    def _current_main_docs(self) -> list[dict[str, Any]]:
        """The main file's sessions, minus any stale copy left by a move to the archive that failed halfway."""
        docs = []
        for doc in self._main:
            archived = self._archive.read(session_key(doc))
            if archived is None or archived.get(REV, 0) < doc.get(REV, 0):
                docs.append(doc)
        return docs

    def list_sessions(self, *, include_finished: bool = True) -> list[SessionDoc]:
        """Every session, most recently updated first; only status "active" ones unless include_finished."""
        with self._lock:
            self._check_open()
            if include_finished:
                docs = _newest_copies([doc for shelf in (self._main, self._archive) for doc in shelf])
            else:
                docs = [doc for doc in self._current_main_docs() if doc.get("status") == ACTIVE]
            return [_public(doc) for doc in sorted(docs, key=recency, reverse=True)]

    def pending_sessions(self) -> list[SessionDoc]:
        """Sessions holding voice answers saved but not transcribed (to finish after a crash), newest first."""
        with self._lock:
            self._check_open()
            # Sessions with pending work never go to the archive, so the main file is enough.
            docs = [doc for doc in self._current_main_docs() if doc.get("pending")]
            return [_public(doc) for doc in sorted(docs, key=recency, reverse=True)]

    # -- writes ----------------------------------------------------------------------------------------------

    def save(self, doc: SessionDoc) -> None:
        """Insert or replace the session; it is on disk when this returns."""
        stored = copy_doc(doc)
        session_key(stored)
        with self._lock:
            self._check_open(writing=True)
            self._put(stored)

    def update(
        self, platform: str, user_id: str, session_id: str, fn: Callable[[SessionDoc], SessionDoc]
    ) -> SessionDoc | None:
        """Read-modify-write with no other write in between; fn gets a private copy and returns the new doc."""
        key = (platform, user_id, session_id)
        with self._lock:
            self._check_open(writing=True)
            found = self._find(key)
            if found is None:
                return None
            new = fn(_public(found))
            if not isinstance(new, dict):
                raise TypeError(f"update function must return the new document, got {type(new).__name__}")
            stored = copy_doc(new)
            if session_key(stored) != key:
                raise ValueError(f"update function changed the session key from {key} to {session_key(stored)}")
            return _public(self._put(stored))

    def delete_user(self, platform: str, user_id: str) -> list[SessionDoc]:
        """Remove every session of the user from both files; returns what was removed."""
        with self._lock:
            self._check_open(writing=True)
            removed = [_public(doc) for doc in self._user_docs(platform, user_id)]
            for shelf in (self._main, self._archive):
                shelf.remove([session_key(doc) for doc in shelf.user_docs(platform, user_id)])
            self._drop_draft(platform, user_id)
            logger.info("deleted %d sessions of %s/%s", len(removed), platform, user_id)
            return removed

    # -- set-up drafts: what a candidate typed into a set-up form before the interview exists ---------------

    def get_draft(self, platform: str, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._check_open()
            row = self._draft_row(platform, user_id)
            return copy_doc(row["data"]) if row is not None else None

    def put_draft(self, platform: str, user_id: str, data: dict[str, Any], *, saved_at: float) -> None:
        """Replace the user's draft; durable when it returns, so a restart mid-set-up loses nothing."""
        with self._lock:
            self._check_open(writing=True)
            row = self._draft_row(platform, user_id)
            fields = {"data": copy_doc(data), "saved_at": saved_at}
            if row is None:
                self._drafts.insert({"platform": platform, "user_id": user_id, **fields})
            else:
                self._drafts.update(fields, doc_ids=[row.doc_id])

    def purge_drafts(self, saved_before: float) -> int:
        """Drop drafts nobody came back to, so abandoned set-ups (a CV each) don't pile up in the main file."""
        with self._lock:
            self._check_open(writing=True)
            old = [row.doc_id for row in self._drafts if row.get("saved_at", 0.0) < saved_before]
            if old:
                self._drafts.remove(doc_ids=old)
            return len(old)

    def delete_draft(self, platform: str, user_id: str) -> None:
        with self._lock:
            self._check_open(writing=True)
            self._drop_draft(platform, user_id)

    def _draft_row(self, platform: str, user_id: str) -> Any:
        return next((r for r in self._drafts if r.get("platform") == platform and r.get("user_id") == user_id), None)

    def _drop_draft(self, platform: str, user_id: str) -> None:
        row = self._draft_row(platform, user_id)
        if row is not None:
            self._drafts.remove(doc_ids=[row.doc_id])

    def claim_delivery(self, platform: str, delivery_id: str) -> bool:
        """True the first time this platform delivery is seen, False for a redelivery; remembered on disk."""
        delivery_id = str(delivery_id)
        with self._lock:
            self._check_open(writing=True)
            row = next((doc for doc in self._deliveries if doc.get("platform") == platform), None)
            ids = list(row["ids"]) if row is not None else []
            if delivery_id in ids:
                logger.debug("delivery %s/%s already claimed", platform, delivery_id)
                return False
            ids.append(delivery_id)
            ids = ids[-self.DELIVERY_IDS_KEPT :]
            if row is None:
                self._deliveries.insert({"platform": platform, "ids": ids})
            else:
                self._deliveries.update({"ids": ids}, doc_ids=[row.doc_id])
            return True

    # -- health ----------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Session counts and file sizes in bytes (0 for the in-memory store)."""
        with self._lock:
            self._check_open()
            main_docs = self._current_main_docs()
            return {
                "active": sum(1 for doc in main_docs if doc.get("status") == ACTIVE),
                "pending": sum(1 for doc in main_docs if doc.get("pending")),
                "archived": len(self._archive),
                "main_bytes": self._main.size(),
                "archive_bytes": self._archive.size(),
            }

    def ping(self) -> bool:
        """Whether the store is open and its files can still be read and written."""
        with self._lock:
            if self._closed:
                return False
            if self.path is None or self.archive_path is None:
                return True
            file_mode = os.R_OK if self._read_only else os.R_OK | os.W_OK
            for file in (self.path, self.archive_path):
                if not self._read_only and not os.access(file.parent, os.W_OK | os.X_OK):
                    return False
                if file.exists() and not os.access(file, file_mode):
                    return False
            return True
