"""Durable file writes: what both the session store and the recordings need so a rename survives a power cut."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Sync a folder's entries, so a file just renamed or created in it is on disk under its new name."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
