"""TinyDBStore, the persistent session store: one file per session, an append-only delivery log, atomic writes.

No write grows with history: an answer rewrites its own session's file, finishing moves one file to the archive
folder, a claimed delivery id is one appended line. The set-up drafts stay in a small TinyDB file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import MemoryStorage, Storage

from engine.durable import fsync_dir
from engine.errors import EngineError, StoreLocked
from engine.store.base import REV as SESSION_REV
from engine.store.base import SessionDoc, SessionKey, copy_doc, next_rev, session_key
from engine.team import is_space

logger = logging.getLogger(__name__)

DRAFTS = "drafts"
ACTIVE = "active"
# Tables of the first layout, where the main file also held every active session and the delivery ids.
LEGACY_SESSIONS = "sessions"
LEGACY_DELIVERIES = "deliveries"
# Stamped on every stored copy and stripped from what callers see: if a crash interrupts a move between the
# active and archive folders, both hold the session and the copy with the higher revision was written last.
REV = "_store_rev"


class StoreCorrupt(EngineError):
    """A database file exists but cannot be read; refusing to start empty keeps its data recoverable."""

    code = "store_corrupt"
    default_message = "The session database file is damaged."


def _sync_folder(folder: Path, what: Path) -> None:
    try:
        fsync_dir(folder)
    except OSError as exc:
        # The change is in place and is what a reader sees: reporting a failure would have the caller undo or
        # repeat a write that happened. Only its durability across a power cut is in doubt.
        logger.error("%s was written but its folder could not be synced: %s", what, exc)


def _atomic_write(path: Path, payload: bytes) -> None:
    """Replace the file: a temp file in the same folder, fsynced, renamed over it, then the folder fsynced.

    A crash leaves either the old or the new file (plus a temp file the next open removes); a return means on disk.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_folder(path.parent, path)


def _make_folder(folder: Path) -> None:
    """Create the folder (owner only: it holds CVs and transcripts) so that its name survives a power cut."""
    if folder.is_dir():
        return
    if folder.exists():
        raise StoreCorrupt(
            f"{folder} is a file, but the store keeps one file per session in a folder of that name. If it is an "
            f"archive from the first layout, rename it to {folder.name}.json and it is migrated on the next start."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    _sync_folder(folder.parent, folder)


def _remove_leftover_temp_files(folder: Path, prefix: str = ".") -> None:
    # Only an interrupted write leaves these; the file they were meant to replace is still intact.
    for leftover in folder.glob(f"{prefix}*.tmp"):
        logger.warning("removing %s, left over from an interrupted write", leftover)
        leftover.unlink(missing_ok=True)


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _parse_tables(raw: bytes, path: Path) -> dict[str, dict[str, Any]]:
    """A TinyDB file's tables; StoreCorrupt (leaving the file alone) if it is anything else."""
    if not raw.strip():
        # We never write an empty file, so something else truncated it: the sessions may be recoverable.
        raise StoreCorrupt(
            f"The session database {path} is empty. Restore it from a backup, or delete it to start with no sessions."
        )
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreCorrupt(
            f"The session database {path} is not valid JSON ({exc}). "
            "Restore it from a backup or move it away; it was left untouched."
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(table, dict) and all(isinstance(doc, dict) for doc in table.values()) for table in data.values()
    ):
        raise StoreCorrupt(
            f"The session database {path} is JSON but not a TinyDB database "
            "(expected tables of documents). Restore it from a backup or move it away."
        )
    return data


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces its file atomically (_atomic_write) and serves reads from the last data written.

    The file is parsed once, on open: the store holds an exclusive lock, so nobody else changes it underneath us.
    """

    def __init__(self, path: str, read_only: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.read_only = read_only
        if not read_only:
            _remove_leftover_temp_files(self.path.parent, f".{self.path.name}.")
        self._data: dict[str, dict[str, Any]] | None = self._load()

    def _load(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return _parse_tables(raw, self.path)

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self.read_only:
            raise RuntimeError(f"{self.path} was opened read-only")
        try:
            _atomic_write(self.path, _encode(data))
        except BaseException:
            # TinyDB changed our cached data in place before calling write(); go back to what is on disk.
            self._data = self._load()
            raise
        self._data = data

    def file_size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


# ----- sessions: an index in memory, the documents in one file each ---------------------------------------------


@dataclass(slots=True)
class _Entry:
    """What the store knows about a stored copy without reading it: enough to pick, filter and sort sessions."""

    rev: int
    status: str
    pending: bool
    updated_at: float
    created_at: float
    size: int

    @classmethod
    def of(cls, doc: dict[str, Any], size: int) -> _Entry:
        return cls(
            rev=doc.get(REV, 0),
            status=doc.get("status", ""),
            pending=bool(doc.get("pending")),
            updated_at=doc.get("updated_at") or 0.0,
            created_at=doc.get("created_at") or 0.0,
            size=size,
        )

    @property
    def recency(self) -> tuple[float, float]:
        return (self.updated_at, self.created_at)


def file_name(key: SessionKey) -> str:
    """The session's file name: a hash of its key, so nothing a client sends becomes a path."""
    return hashlib.sha256("\x00".join(key).encode("utf-8")).hexdigest()[:32] + ".json"


class _Shelf:
    """Copies of sessions of one kind (active, archive): `entries` indexes them; read() returns a private copy."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.entries: dict[SessionKey, _Entry] = {}

    def read(self, key: SessionKey) -> dict[str, Any] | None:
        raise NotImplementedError

    def write(self, key: SessionKey, doc: dict[str, Any]) -> None:
        raise NotImplementedError

    def remove(self, keys: Iterable[SessionKey]) -> None:
        raise NotImplementedError

    def size(self) -> int:
        return sum(entry.size for entry in self.entries.values())


class _MemoryShelf(_Shelf):
    """For TinyDBStore(None), and for a first-layout database read by a read-only snapshot."""

    def __init__(self, label: str, docs: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(label)
        self.docs: dict[SessionKey, dict[str, Any]] = {}
        for doc in docs:
            self.write(session_key(doc), doc)

    def read(self, key: SessionKey) -> dict[str, Any] | None:
        doc = self.docs.get(key)
        return copy_doc(doc) if doc is not None else None

    def write(self, key: SessionKey, doc: dict[str, Any]) -> None:
        self.docs[key] = copy_doc(doc)
        self.entries[key] = _Entry.of(doc, 0)

    def remove(self, keys: Iterable[SessionKey]) -> None:
        for key in keys:
            self.docs.pop(key, None)
            self.entries.pop(key, None)


class _FolderShelf(_Shelf):
    """One JSON file per session in a folder, each replaced atomically; only the index is held in memory."""

    def __init__(self, folder: Path, label: str, *, read_only: bool) -> None:
        super().__init__(label)
        self.folder = folder
        self.read_only = read_only
        if not read_only:
            _make_folder(folder)
            _remove_leftover_temp_files(folder)
        try:
            names = [path.name for path in folder.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            names = []  # read-only, nothing written yet (or a first-layout file by that name)
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            loaded = self._load(folder / name)
            if loaded is None:
                continue  # read-only: the running writer moved it meanwhile
            doc, size = loaded
            key = session_key(doc)
            if file_name(key) != name:
                raise StoreCorrupt(
                    f"The session file {folder / name} holds {'/'.join(key)}, whose file name is {file_name(key)}. "
                    "Rename or move it away; it was left untouched."
                )
            self.entries[key] = _Entry.of(doc, size)

    @staticmethod
    def _load(path: Path) -> tuple[dict[str, Any], int] | None:
        """The session in the file and the file's size; None if there is no such file."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            session_key(doc)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as exc:
            # Writes replace whole files, so only something outside the store produces this.
            raise StoreCorrupt(
                f"The session file {path} cannot be read ({exc}). Restore it from a backup or move it away; "
                "it was left untouched."
            ) from exc
        if not isinstance(doc, dict):
            raise StoreCorrupt(f"The session file {path} is not a session. Restore it from a backup or move it away.")
        return doc, len(raw)

    def path_of(self, key: SessionKey) -> Path:
        return self.folder / file_name(key)

    def read(self, key: SessionKey) -> dict[str, Any] | None:
        loaded = self._load(self.path_of(key))
        return loaded[0] if loaded is not None and session_key(loaded[0]) == key else None

    def write(self, key: SessionKey, doc: dict[str, Any]) -> None:
        payload = _encode(doc)
        _atomic_write(self.path_of(key), payload)
        self.entries[key] = _Entry.of(doc, len(payload))

    def remove(self, keys: Iterable[SessionKey]) -> None:
        removed = False
        try:
            for key in keys:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path_of(key))
                    removed = True
                self.entries.pop(key, None)
        finally:
            if removed:
                _sync_folder(self.folder, self.folder)


# ----- delivery ids: one appended line each ---------------------------------------------------------------------


class _DeliveryLog:
    """Delivery ids already claimed, and the inbox: a JSON-lines file appended and fsynced per line, pruned by age.

    A claim costs one small append whatever the history; purge() rewrites the file with what is left. A line torn
    by a crash belonged to a call that never returned, so it is dropped on open. An inbox line ("in": the payload)
    holds an update received but not yet handled; the claim line of the same id, appended once it is handled,
    takes it out of the inbox.
    """

    def __init__(self, path: Path | None, *, read_only: bool) -> None:
        self.path = path
        self.seen: dict[tuple[str, str], float] = {}
        # (platform, id) -> (received at, payload), in arrival order: received, not yet handled
        self.inbox: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._fd: int | None = None
        self._size = 0
        if path is None or read_only:
            return  # in memory; or a snapshot, which never claims
        _remove_leftover_temp_files(path.parent, f".{path.name}.")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = b""
        lines = raw.split(b"\n")
        torn = lines.pop()  # what follows the last newline: empty unless an append was cut short
        bad = 0
        for line in lines:
            try:
                row = json.loads(line)
                key, at = (str(row["p"]), str(row["id"])), float(row["t"])
                if "in" not in row:
                    self.seen[key] = at
                    self.inbox.pop(key, None)
                elif key not in self.seen:
                    self.inbox[key] = (at, dict(row["in"]))
            except (ValueError, TypeError, KeyError):
                bad += 1
        if torn or bad:
            logger.warning("%s: dropping %d unreadable lines and %d torn bytes", path, bad, len(torn))
            self._rewrite()
        else:
            self._open(created=not raw and not path.exists())

    def _open(self, *, created: bool) -> None:
        assert self.path is not None
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        if created:
            _sync_folder(self.path.parent, self.path)

    @staticmethod
    def _line(platform: str, delivery_id: str, claimed_at: float, payload: dict[str, Any] | None = None) -> bytes:
        row: dict[str, Any] = {"p": platform, "id": delivery_id, "t": claimed_at}
        if payload is not None:
            row["in"] = payload
        return _encode(row) + b"\n"

    def _rewrite(self) -> None:
        assert self.path is not None
        payload = b"".join(self._line(p, i, t) for (p, i), t in self.seen.items()) + b"".join(
            self._line(p, i, t, body) for (p, i), (t, body) in self.inbox.items()
        )
        _atomic_write(self.path, payload)
        self._open(created=False)

    def receive(self, platform: str, delivery_id: str, payload: dict[str, Any], received_at: float) -> bool:
        """Keep an update in the inbox; False (nothing written) if it is there already or was handled."""
        key = (platform, delivery_id)
        if key in self.seen or key in self.inbox:
            return False
        kept = copy_doc(payload)
        self._append(self._line(platform, delivery_id, received_at, kept))
        self.inbox[key] = (received_at, kept)
        return True

    def claim(self, platform: str, delivery_id: str, claimed_at: float) -> bool:
        key = (platform, delivery_id)
        if key in self.seen:
            return False
        self._append(self._line(platform, delivery_id, claimed_at))
        self.seen[key] = claimed_at
        self.inbox.pop(key, None)
        return True

    def _append(self, line: bytes) -> None:
        """One line at the end of the file, fsynced; nothing on disk changes if it fails."""
        if self._fd is not None:
            try:
                written = 0
                while written < len(line):
                    written += os.write(self._fd, line[written:])
                os.fsync(self._fd)
            except BaseException:
                # Never leave half a line for the next append to follow.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                raise
            self._size += len(line)

    def add(self, keys: Iterable[tuple[str, str]], claimed_at: float) -> None:
        """Remember many ids at once, in one write (a migration's)."""
        for key in keys:
            self.seen.setdefault(key, claimed_at)
        if self._fd is not None:
            self._rewrite()

    def purge(self, claimed_before: float) -> int:
        """Forget ids claimed, and give up inbox entries received, before the cutoff; how many ids were claimed."""
        old = [key for key, claimed_at in self.seen.items() if claimed_at < claimed_before]
        stale = [key for key, (received_at, _) in self.inbox.items() if received_at < claimed_before]
        if not old and not stale:
            return 0
        kept, kept_inbox = dict(self.seen), dict(self.inbox)
        for key in old:
            del self.seen[key]
        for key in stale:
            logger.warning("giving up update %s/%s, received long ago and never handled", *key)
            del self.inbox[key]
        if self._fd is not None:
            try:
                self._rewrite()
            except BaseException:
                self.seen, self.inbox = kept, kept_inbox
                raise
        return len(old)

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# ----- the store ------------------------------------------------------------------------------------------------


def _folders(path: Path, archive_path: Path | None) -> tuple[Path, Path, Path]:
    """(active folder, archive folder, the first layout's archive file) for the main file at `path`."""
    active = path.with_name(f"{path.stem}-active")
    if archive_path is None:
        return active, path.with_name(f"{path.stem}-archive"), path.with_name(f"{path.stem}-archive.json")
    archive_path = Path(archive_path)
    if archive_path.suffix:  # "old.json" named the archive file; its sessions now live in the folder "old"
        return active, archive_path.with_suffix(""), archive_path
    return active, archive_path, archive_path.with_suffix(".json")


class TinyDBStore:
    """Sessions keyed by (platform, user_id, session_id), safe to call from many threads.

    Layout, for `path` = data/sessions.json (every write atomic and durable, see _atomic_write):

        data/sessions.json              set-up drafts (a TinyDB file); the other names derive from it
        data/sessions.json.lock         held by the process that has the store open for writing
        data/sessions-active/<h>.json   one file per active session, or finished one with voice answers pending
        data/sessions-archive/<h>.json  one file per finished session (`archive_path` names this folder)
        data/sessions-deliveries.jsonl  delivery ids claimed and the inbox of updates received but not handled:
                                        one line appended per claim or arrival, pruned by age

    <h> is a hash of the session's key. An answer rewrites its session's file; finishing writes the archive copy,
    then removes the active one (a crash in between leaves two copies and the higher REV wins on the next open).
    Only an index of the sessions (key, status, times, revision) is held in memory; documents are read on demand.

    A database in the first layout (every session and delivery id in the main file, finished ones in a
    `sessions-archive.json` file) is migrated on the first open for writing.
    """

    def __init__(self, path: Path | None, *, archive_path: Path | None = None, read_only: bool = False) -> None:
        """Open (and lock) the store; read_only takes no lock and never writes, for a snapshot beside a running bot."""
        self._lock = threading.RLock()
        self._read_only = read_only
        self._closed = False
        self._lock_fd: int | None = None
        self.path = Path(path) if path is not None else None
        self.active_path: Path | None = None
        self.archive_path: Path | None = None
        self.deliveries_path: Path | None = None
        if self.path is None:
            self._main_db = TinyDB(storage=MemoryStorage)
            self._active: _Shelf = _MemoryShelf("active")
            self._archive: _Shelf = _MemoryShelf("archive")
            self._deliveries = _DeliveryLog(None, read_only=False)
            self._shelves: list[_Shelf] = [self._active, self._archive]
        else:
            self.active_path, self.archive_path, legacy_archive = _folders(self.path, archive_path)
            self.deliveries_path = self.path.with_name(f"{self.path.stem}-deliveries.jsonl")
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock_fd = self._acquire_lock(Path(f"{self.path}.lock"), self.path)
            try:
                self._main_db = TinyDB(str(self.path), storage=AtomicJSONStorage, read_only=read_only)
                legacy_docs, legacy_ids = self._read_legacy(legacy_archive)
                self._active = _FolderShelf(self.active_path, "active", read_only=read_only)
                self._archive = _FolderShelf(self.archive_path, "archive", read_only=read_only)
                self._deliveries = _DeliveryLog(self.deliveries_path, read_only=read_only)
                self._shelves = [self._active, self._archive]
                if read_only and legacy_docs:
                    # A snapshot never migrates: it reads the first layout as it is.
                    self._shelves.append(_MemoryShelf("legacy", legacy_docs))
                elif not read_only and (legacy_docs or legacy_ids or legacy_archive.exists()):
                    self._migrate(legacy_docs, legacy_ids, legacy_archive)
            except BaseException:
                self._release_lock()
                raise
        self._drafts = self._main_db.table(DRAFTS, cache_size=0)
        self._index()
        if not read_only:
            try:
                self._repair()
            except BaseException:
                self._release_lock()
                raise
        logger.info(
            "session store open: %s (%d active, %d archived sessions)",
            self.path or "memory",
            len(self._active.entries),
            len(self._archive.entries),
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
            self._deliveries.close()
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

    # -- the first layout, and moving on from it -------------------------------------------------------------

    def _read_legacy(self, legacy_archive: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """Sessions and delivery ids a first-layout database holds, newest copy of each session."""
        assert self.path is not None
        tables = self._main_db.storage.read() or {}
        docs = [dict(doc) for doc in tables.get(LEGACY_SESSIONS, {}).values()]
        where = {id(doc): self.path for doc in docs}
        if legacy_archive.is_file():
            archived = list(
                _parse_tables(legacy_archive.read_bytes(), legacy_archive).get(LEGACY_SESSIONS, {}).values()
            )
            where.update({id(doc): legacy_archive for doc in archived})
            docs.extend(archived)
        newest: dict[SessionKey, dict[str, Any]] = {}
        for doc in docs:
            try:
                key = session_key(doc)
            except ValueError as exc:
                raise StoreCorrupt(
                    f"The session database {where[id(doc)]} holds a session it cannot use: {exc}."
                ) from exc
            if key not in newest or doc.get(REV, 0) > newest[key].get(REV, 0):
                newest[key] = doc
        ids = [
            (str(row.get("platform")), str(delivery_id))
            for row in tables.get(LEGACY_DELIVERIES, {}).values()
            for delivery_id in row.get("ids", [])
        ]
        return list(newest.values()), ids

    def _migrate(self, docs: list[dict[str, Any]], ids: list[tuple[str, str]], legacy_archive: Path) -> None:
        """Move a first-layout database into the folders; safe to repeat if a crash interrupts it."""
        logger.warning("migrating %d sessions and %d delivery ids to one file per session", len(docs), len(ids))
        for doc in docs:
            key = session_key(doc)
            copies = [entry.rev for shelf in (self._active, self._archive) if (entry := shelf.entries.get(key))]
            if copies and max(copies) >= doc.get(REV, 0):
                continue  # an interrupted migration got this far
            (self._archive if self._belongs_in_archive(doc) else self._active).write(key, doc)
        if ids:
            self._deliveries.add(ids, time.time())
        # Only once every session is in its folder: the old files go, so the next open does not migrate again.
        for table in (LEGACY_SESSIONS, LEGACY_DELIVERIES):
            if table in (self._main_db.storage.read() or {}):
                self._main_db.drop_table(table)
        if legacy_archive.is_file():
            legacy_archive.unlink()
            _sync_folder(legacy_archive.parent, legacy_archive)
        logger.warning("migration done: %s and its folders", self.path)

    # -- index and placement ---------------------------------------------------------------------------------

    def _index(self) -> None:
        """Where the newest copy of each session is, and each user's sessions."""
        self._where: dict[SessionKey, _Shelf] = {}
        self._users: dict[tuple[str, str], set[str]] = {}
        for shelf in self._shelves:
            for key, entry in shelf.entries.items():
                current = self._where.get(key)
                if current is None or entry.rev > current.entries[key].rev:
                    self._where[key] = shelf
                self._users.setdefault(key[:2], set()).add(key[2])
        self._rev = max((entry.rev for shelf in self._shelves for entry in shelf.entries.values()), default=0)

    def _repair(self) -> None:
        """Finish what a crash interrupted: a session in both folders, or one in the wrong folder."""
        for key, home in list(self._where.items()):
            for shelf in (self._active, self._archive):
                if shelf is not home and key in shelf.entries:
                    logger.warning("%s/%s/%s was in both folders; dropping the older copy", *key)
                    shelf.remove([key])
            entry = home.entries[key]
            belongs = (
                self._archive
                if self._belongs_in_archive({"status": entry.status, "pending": entry.pending})
                else self._active
            )
            if belongs is not home:
                doc = home.read(key)
                if doc is None:
                    continue
                logger.warning("moving %s/%s/%s to the %s folder", *key, belongs.label)
                belongs.write(key, doc)
                self._where[key] = belongs
                home.remove([key])

    @staticmethod
    def _belongs_in_archive(doc: dict[str, Any]) -> bool:
        return doc.get("status") != ACTIVE and not doc.get("pending")

    def _entry(self, key: SessionKey) -> _Entry | None:
        shelf = self._where.get(key)
        return shelf.entries.get(key) if shelf is not None else None

    def _read(self, key: SessionKey) -> dict[str, Any] | None:
        """The newest copy of a session (a private dict, still stamped with REV), or None."""
        shelf = self._where.get(key)
        if shelf is None:
            return None
        doc = shelf.read(key)
        if doc is None and self._read_only:
            # The running writer moved it since this snapshot was opened: look in every folder.
            copies = [found for other in self._shelves if (found := other.read(key)) is not None]
            doc = max(copies, key=lambda found: found.get(REV, 0)) if copies else None
        return doc

    def _public(self, key: SessionKey) -> SessionDoc | None:
        doc = self._read(key)
        if doc is not None:
            doc.pop(REV, None)
        return doc

    def _read_all(self, keys: list[SessionKey]) -> list[SessionDoc]:
        docs = (self._public(key) for key in keys)
        return [doc for doc in docs if doc is not None]

    def _keys(self, keep: Callable[[_Entry], bool]) -> list[SessionKey]:
        """Keys of the sessions whose newest copy passes `keep`, most recently updated first."""
        # Ties go to the earlier write, as a list kept in insertion order would have it.
        found = [
            ((*entry.recency, -entry.rev), key)
            for key, shelf in self._where.items()
            if keep(entry := shelf.entries[key])
        ]
        return [key for _, key in sorted(found, key=lambda item: item[0], reverse=True)]

    def _user_keys(self, platform: str, user_id: str) -> list[tuple[_Entry, SessionKey]]:
        keys = [(platform, user_id, session_id) for session_id in self._users.get((platform, user_id), ())]
        return [(entry, key) for key in keys if (entry := self._entry(key)) is not None]

    def _put(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a normalised copy where it belongs; returns what was stored (with its revision)."""
        key = session_key(doc)
        self._rev += 1
        doc[REV] = self._rev
        target = self._archive if self._belongs_in_archive(doc) else self._active
        # Write the new home first: a crash before the removal leaves two copies, and _repair keeps this one.
        target.write(key, doc)
        self._where[key] = target
        self._users.setdefault(key[:2], set()).add(key[2])
        for other in (self._active, self._archive):
            if other is not target and key in other.entries:
                try:
                    other.remove([key])
                except OSError as exc:
                    # The new copy is durable and newer: reads ignore the old one, the next open removes it.
                    logger.error("%s/%s/%s: the older copy in the %s folder stays for now: %s", *key, other.label, exc)
        logger.debug("saved %s/%s/%s to the %s folder", *key, target.label)
        return doc

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        with self._lock:
            self._check_open()
            return self._public((platform, user_id, session_id))

    def active_for(self, platform: str, user_id: str) -> SessionDoc | None:
        """The user's session with status "active", the most recently updated if there are several."""
        with self._lock:
            self._check_open()
            active = [
                (entry.recency, key) for entry, key in self._user_keys(platform, user_id) if entry.status == ACTIVE
            ]
            return self._public(max(active)[1]) if active else None

    def latest_for(self, platform: str, user_id: str) -> SessionDoc | None:
        """The user's most recently updated session, whatever its status."""
        with self._lock:
            self._check_open()
            found = [(entry.recency, key) for entry, key in self._user_keys(platform, user_id)]
            return self._public(max(found)[1]) if found else None

    def sessions_for(self, platform: str, user_id: str) -> list[SessionDoc]:
        """Every session of the user, most recently updated first."""
        with self._lock:
            self._check_open()
            found = sorted(self._user_keys(platform, user_id), key=lambda item: item[0].recency, reverse=True)
            return self._read_all([key for _, key in found])

    def list_sessions(self, *, include_finished: bool = True) -> list[SessionDoc]:
        """Every session, most recently updated first; only status "active" ones unless include_finished."""
        with self._lock:
            self._check_open()
            return self._read_all(self._keys(lambda entry: include_finished or entry.status == ACTIVE))

    def space_sessions(self, platform: str) -> list[SessionDoc]:
        with self._lock:
            self._check_open()
            keys = [key for key in self._keys(lambda entry: True) if key[0] == platform and is_space(key[1])]
            return self._read_all(keys)

    def pending_sessions(self) -> list[SessionDoc]:
        """Sessions holding voice answers saved but not transcribed (to finish after a crash), newest first."""
        with self._lock:
            self._check_open()
            return self._read_all(self._keys(lambda entry: entry.pending))

    def idle_sessions(self, updated_before: float) -> list[SessionDoc]:
        """Active sessions last updated before the cutoff, least recently updated first."""
        with self._lock:
            self._check_open()
            keys = self._keys(lambda entry: entry.status == ACTIVE and entry.updated_at < updated_before)
            return self._read_all(keys[::-1])

    def created_since(self, platform: str, user_id: str, since: float) -> list[float]:
        """When the user's sessions created at or after `since` were created, oldest first (from the index)."""
        with self._lock:
            self._check_open()
            return sorted(
                entry.created_at for entry, _ in self._user_keys(platform, user_id) if entry.created_at >= since
            )

    # -- writes ----------------------------------------------------------------------------------------------

    def save(self, doc: SessionDoc) -> int:
        """Insert or replace the session (a compare-and-set on its revision); it is on disk when this returns."""
        stored = copy_doc(doc)
        key = session_key(stored)
        with self._lock:
            self._check_open(writing=True)
            stored[SESSION_REV] = next_rev(self._public(key), stored)
            self._put(stored)
            return int(stored[SESSION_REV])

    def update(
        self, platform: str, user_id: str, session_id: str, fn: Callable[[SessionDoc], SessionDoc]
    ) -> SessionDoc | None:
        """Read-modify-write with no other write in between; fn gets a private copy and returns the new doc."""
        key = (platform, user_id, session_id)
        with self._lock:
            self._check_open(writing=True)
            found = self._public(key)
            if found is None:
                return None
            new = fn(found)
            if not isinstance(new, dict):
                raise TypeError(f"update function must return the new document, got {type(new).__name__}")
            stored = copy_doc(new)
            if session_key(stored) != key:
                raise ValueError(f"update function changed the session key from {key} to {session_key(stored)}")
            stored[SESSION_REV] = int(found.get(SESSION_REV) or 0) + 1
            self._put(stored)
            stored.pop(REV, None)
            return stored

    def delete_user(self, platform: str, user_id: str) -> list[SessionDoc]:
        """Remove every session of the user from both folders; returns what was removed."""
        with self._lock:
            self._check_open(writing=True)
            found = self._user_keys(platform, user_id)
            removed = self._read_all([key for _, key in sorted(found, key=lambda item: item[0].recency, reverse=True)])
            self._remove([key for _, key in found])
            self._drop_draft(platform, user_id)
            logger.info("deleted %d sessions of %s/%s", len(removed), platform, user_id)
            return removed

    def delete_session(self, platform: str, user_id: str, session_id: str) -> SessionDoc | None:
        with self._lock:
            self._check_open(writing=True)
            key = (platform, user_id, session_id)
            found = self._read_all([key]) if key in self._where else []
            if not found:
                return None
            self._remove([key])
            logger.info("deleted session %s of %s/%s", session_id, platform, user_id)
            return found[0]

    def _remove(self, keys: list[SessionKey]) -> None:
        """Remove sessions from both folders. After a failure part way, whatever copy is left is what reads see
        (and a retry removes)."""
        try:
            for shelf in (self._active, self._archive):
                shelf.remove([key for key in keys if key in shelf.entries])
        finally:
            for key in keys:
                left = [shelf for shelf in self._shelves if key in shelf.entries]
                if left:
                    self._where[key] = max(left, key=lambda shelf: shelf.entries[key].rev)
                    continue
                self._where.pop(key, None)
                owner = (key[0], key[1])
                self._users.get(owner, set()).discard(key[2])
                if not self._users.get(owner, True):
                    del self._users[owner]

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

    # -- delivery ids ----------------------------------------------------------------------------------------

    def claim_delivery(self, platform: str, delivery_id: str, *, claimed_at: float | None = None) -> bool:
        """True the first time this platform delivery is seen, False for a redelivery; remembered on disk."""
        delivery_id = str(delivery_id)
        with self._lock:
            self._check_open(writing=True)
            first = self._deliveries.claim(platform, delivery_id, time.time() if claimed_at is None else claimed_at)
            if not first:
                logger.debug("delivery %s/%s already claimed", platform, delivery_id)
            return first

    def purge_deliveries(self, claimed_before: float) -> int:
        """Forget delivery ids claimed before the cutoff (platforms redeliver within hours); returns how many."""
        with self._lock:
            self._check_open(writing=True)
            return self._deliveries.purge(claimed_before)

    # -- the inbox: updates received but not yet handled ------------------------------------------------------

    def inbox_put(
        self, platform: str, delivery_id: str, payload: dict[str, Any], *, received_at: float | None = None
    ) -> bool:
        """Keep an update received but not yet handled, durably; False if it is in the inbox or was handled."""
        with self._lock:
            self._check_open(writing=True)
            at = time.time() if received_at is None else received_at
            return self._deliveries.receive(platform, str(delivery_id), payload, at)

    def inbox_done(self, platform: str, delivery_id: str, *, done_at: float | None = None) -> None:
        """The update was handled: out of the inbox, and its id claimed (a redelivery is a duplicate)."""
        with self._lock:
            self._check_open(writing=True)
            self._deliveries.claim(platform, str(delivery_id), time.time() if done_at is None else done_at)

    def inbox_orphans(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        return []  # the lock file allows one process: nothing is orphaned while it runs

    def inbox_pending(self, platform: str) -> list[tuple[str, dict[str, Any]]]:
        """The platform's updates received but not handled, oldest first: (delivery id, payload)."""
        with self._lock:
            self._check_open()
            return [(i, copy_doc(body)) for (p, i), (_, body) in self._deliveries.inbox.items() if p == platform]

    # -- health ----------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Session counts and sizes in bytes (0 for the in-memory store): main = drafts file plus active sessions."""
        with self._lock:
            self._check_open()
            entries = [shelf.entries[key] for key, shelf in self._where.items()]
            main_file = self._main_db.storage
            return {
                "backend": "tinydb",
                "active": sum(1 for entry in entries if entry.status == ACTIVE),
                "pending": sum(1 for entry in entries if entry.pending),
                "archived": sum(1 for shelf in self._where.values() if shelf is self._archive),
                "main_bytes": (main_file.file_size() if isinstance(main_file, AtomicJSONStorage) else 0)
                + self._active.size(),
                "archive_bytes": self._archive.size(),
                "deliveries_bytes": self._deliveries.size(),
            }

    def ping(self) -> bool:
        """Whether the store is open and its files can still be read and written."""
        with self._lock:
            if self._closed:
                return False
            if self.path is None:
                return True
            file_mode = os.R_OK if self._read_only else os.R_OK | os.W_OK
            for folder in (self.active_path, self.archive_path):
                assert folder is not None
                if folder.exists() and not os.access(folder, file_mode | os.X_OK):
                    return False
            for file in (self.path, self.deliveries_path):
                assert file is not None
                if not self._read_only and not os.access(file.parent, os.W_OK | os.X_OK):
                    return False
                if file.exists() and not os.access(file, file_mode):
                    return False
            return True
