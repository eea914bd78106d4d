"""The request id the server (bot/server.py) gives every request before any handler sees it, and its header."""

from __future__ import annotations

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)
REQUEST_ID_HEADER = "X-Request-ID"
