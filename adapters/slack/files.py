"""Downloading a user's private Slack file with the bot token, streamed and cut off at the size limit."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from adapters.chat import DownloadFailed
from engine import errors

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=15)
CHUNK = 64 * 1024


class Files:
    """Fetches `files[]` entries of message events over one HTTP session, opened at the first download."""

    def __init__(self, bot_token: str, max_bytes: int) -> None:
        self._headers = {"Authorization": f"Bearer {bot_token}"}
        self._max_bytes = max_bytes
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def fetch(self, file: Mapping[str, Any]) -> bytes:
        """The file's bytes; DownloadFailed when Slack refuses or the network fails, AudioTooLarge past the limit."""
        file_id = file.get("id")
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise DownloadFailed(f"file {file_id} has no download link")
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT)
        try:
            async with self._http.get(url, headers=self._headers) as response:
                # Without access (no files:read scope, a deleted file) Slack answers with its sign-in page.
                if response.status != 200 or response.content_type == "text/html":
                    logger.warning(
                        "slack file download refused platform=slack file=%s status=%d type=%s",
                        file_id,
                        response.status,
                        response.content_type,
                    )
                    raise DownloadFailed(f"status {response.status} ({response.content_type})")
                if response.content_length is not None and response.content_length > self._max_bytes:
                    raise errors.AudioTooLarge(size_bytes=response.content_length, limit_bytes=self._max_bytes)
                data = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK):
                    data.extend(chunk)
                    if len(data) > self._max_bytes:  # Slack reported a smaller size than it sends
                        raise errors.AudioTooLarge(limit_bytes=self._max_bytes)
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack file download failed platform=slack file=%s error=%r", file_id, exc)
            raise DownloadFailed(str(exc)) from exc
