"""Downloading a user's private Slack file with the bot token, streamed (to a file, for a voice answer) and cut off at
the size limit."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from yarl import URL

from adapters.chat import DownloadFailed
from adapters.chat.replies import saving_to
from engine import errors

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=15)
CHUNK = 64 * 1024
# Slack serves url_private from files.slack.com (docs.slack.dev, "Slack file object"); every host under slack.com is
# Slack's own, so the token may go there over HTTPS, and nowhere else but the configured Web API's origin.
SLACK_FILE_DOMAIN = "slack.com"


def token_may_go_to(url: URL, api_base_url: str) -> bool:
    """Whether a file link is on Slack's file hosts (or the configured Web API's origin: a local fake, a proxy).

    The event that carries the link is signed, but its `files[]` are only as trustworthy as whoever shared them
    (a Slack Connect workspace, another app), and the bot token reads every file the bot can see.
    """
    if not url.is_absolute() or not url.raw_host or url.user is not None or url.password is not None:
        return False
    host = url.raw_host.lower().rstrip(".")  # the ASCII (IDNA) name aiohttp connects to
    on_slack = host == SLACK_FILE_DOMAIN or host.endswith("." + SLACK_FILE_DOMAIN)
    if on_slack and url.scheme == "https" and url.port == 443:
        return True
    api = URL(api_base_url)
    return api.is_absolute() and url.origin() == api.origin()


class Files:
    """Fetches `files[]` entries of message events over one HTTP session, opened at the first download."""

    def __init__(self, bot_token: str, max_bytes: int, *, api_base_url: str) -> None:
        self._headers = {"Authorization": f"Bearer {bot_token}"}
        self._max_bytes = max_bytes
        self._api_base_url = api_base_url
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def fetch(self, file: Mapping[str, Any]) -> bytes:
        """The file's bytes, or while a voice answer is being saved (saving_to()) the file written there chunk by
        chunk and b""; DownloadFailed when Slack refuses, the link is not Slack's, or the network fails; AudioTooLarge
        past the limit."""
        file_id = file.get("id")
        link = file.get("url_private_download") or file.get("url_private")
        if not link or not isinstance(link, str):
            raise DownloadFailed(f"file {file_id} has no download link")
        try:
            url = URL(link)  # parsed once: the host checked is the host aiohttp connects to
            allowed = token_may_go_to(url, self._api_base_url)
        except (TypeError, ValueError):
            allowed = False
        if not allowed:
            # %r: the link is whoever shared the file's, and must not start a log line of its own.
            logger.warning("slack file refused platform=slack file=%s link=%r: not a Slack file host", file_id, link)
            raise DownloadFailed(f"file {file_id}: the link is not on a Slack file host")
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT)
        try:
            # A redirect to another origin loses the Authorization header (aiohttp drops it), so it cannot leak.
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
                into = saving_to()
                data = bytearray()
                received = 0
                async for chunk in response.content.iter_chunked(CHUNK):
                    received += len(chunk)
                    if received > self._max_bytes:  # Slack reported a smaller size than it sends
                        raise errors.AudioTooLarge(limit_bytes=self._max_bytes)
                    if into is not None:
                        await into.write(chunk)
                    else:
                        data.extend(chunk)
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack file download failed platform=slack file=%s error=%r", file_id, exc)
            raise DownloadFailed(str(exc)) from exc
