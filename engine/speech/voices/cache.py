"""Spoken questions on disk: the same question for the next candidate costs a file read, not a synthesis."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Eviction goes this far below the budget, so a full cache is not rescanned on every write.
_LOW_WATER = 0.9
# A temporary file older than this was left by a crash (a write takes milliseconds).
_STALE_TEMP_SECONDS = 3600.0
_ENTRY = re.compile(r"^(?P<key>[0-9a-f]{64})\.(?P<ms>\d+)\.(?P<ext>[a-z0-9]+)$")


@dataclass(frozen=True)
class CachedAudio:
    data: bytes
    duration_seconds: float


def cache_key(*parts: str) -> str:
    """A stable file name for what identifies one rendering (voice, settings, format, text)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


class VoiceCache:
    """Audio files under `folder`, at most `max_bytes` in all, least recently used removed first.

    Layout: folder/<first two hex digits>/<key>.<duration ms>.<ext>, so the files stay playable as they are and the
    duration needs no index. A hit sets the file's mtime to now (atime is unreliable under relatime/noatime), and
    eviction removes the oldest mtimes. Writes go to a temporary file that is renamed into place, so a reader (this
    process, another bot, `voices warm`) sees a whole file or none. Thread-safe.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk as far as this process knows; None until first scanned

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def _shard(self, key: str) -> Path:
        return self.folder / key[:2]

    def _find(self, key: str, ext: str) -> tuple[Path, float] | None:
        try:
            with os.scandir(self._shard(key)) as entries:
                for entry in entries:
                    match = _ENTRY.match(entry.name)
                    if match and match["key"] == key and match["ext"] == ext:
                        return Path(entry.path), int(match["ms"]) / 1000
        except FileNotFoundError:
            pass
        return None

    def get(self, key: str, ext: str) -> CachedAudio | None:
        """The cached audio for a key, marking it recently used; None on a miss. BLOCKING (a file read)."""
        if not self.enabled:
            return None
        found = self._find(key, ext)
        if found is None:
            return None
        path, duration = found
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:  # evicted between the listing and the read
            return None
        if not data:
            path.unlink(missing_ok=True)
            return None
        return CachedAudio(data, duration)

    def put(self, key: str, ext: str, data: bytes, duration_seconds: float) -> None:
        """Store audio atomically, then evict beyond the budget. A failure is logged, never raised: the audio
        was made and goes out anyway. BLOCKING."""
        if not self.enabled or not data:
            return
        shard = self._shard(key)
        name = f"{key}.{round(duration_seconds * 1000)}.{ext}"
        try:
            shard.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=shard, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())  # a power cut must not leave an empty file under the final name
                os.replace(temp, shard / name)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            # Synthesis is not bit-exact, so a concurrent writer may have stored the same key under another duration.
            for entry in shard.glob(f"{key}.*.{ext}"):
                if entry.name != name:
                    entry.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("could not cache spoken audio in %s: %s", shard, exc.strerror or exc)
            return
        with self._lock:
            if self._total is None:
                self._total = self._scan_total()
            else:
                self._total += len(data)
            if self._total > self.max_bytes:
                self._evict()

    def size(self) -> int:
        """Bytes of audio in the cache now (a fresh scan)."""
        return sum(size for _, _, size in self._entries())

    def _scan_total(self) -> int:
        return sum(size for _, _, size in self._entries())

    def _entries(self) -> list[tuple[float, Path, int]]:
        """(mtime, path, size) of every cached file; removes temporary files a crash left behind."""
        entries = []
        now = time.time()
        try:
            shards = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for shard in shards:
            if not shard.is_dir():
                continue
            try:
                files = list(os.scandir(shard.path))
            except OSError:
                continue
            for entry in files:
                try:
                    stat = entry.stat()
                except OSError:
                    continue
                if entry.name.startswith(".tmp-"):
                    if now - stat.st_mtime > _STALE_TEMP_SECONDS:
                        Path(entry.path).unlink(missing_ok=True)
                    continue
                if _ENTRY.match(entry.name):
                    entries.append((stat.st_mtime, Path(entry.path), stat.st_size))
        return entries

    def _evict(self) -> None:
        """Remove the least recently used files until the cache is below its low-water mark; caller holds _lock."""
        entries = sorted(self._entries(), key=lambda entry: entry[0])
        total = sum(size for _, _, size in entries)
        target = int(self.max_bytes * _LOW_WATER)
        removed = 0
        for _, path, size in entries:
            if total <= target:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        self._total = total
        if removed:
            logger.debug("voice cache: removed %d least recently used files, %d bytes left", removed, total)
