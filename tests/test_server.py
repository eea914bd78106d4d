"""bot/server.py: the one server's request ids, access log and body limit, with the interview API on and off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import HttpConfig
from bot.server import create_app, create_server
from tests.engine_support import build_memory_engine

LIMIT_MB = 0.01  # 10 KiB


async def chat_hook(request: web.Request) -> web.Response:
    """Stands in for a webhook route an adapter passes in: reads the whole body, as the real ones do."""
    body = await request.read()
    return web.json_response({"received": len(body)})


async def serve(app: web.Application) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def chat_only() -> AsyncIterator[TestClient]:
    """The server as `run` builds it with [http] enabled = false: one chat route and nothing of the API."""
    config = HttpConfig(enabled=False, max_body_mb=LIMIT_MB)
    client = await serve(create_server(config, routes=[web.post("/chat/events", chat_hook)]))
    yield client
    await client.close()


def access_lines(caplog: pytest.LogCaptureFixture, request_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.server" and request_id in r.getMessage()]


async def test_with_the_api_off_a_chat_route_gets_a_request_id_and_one_access_line(
    chat_only: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.server"):
        resp = await chat_only.post("/chat/events", data=b"{}")
        assert resp.status == 200 and (await resp.json()) == {"received": 2}
        request_id = resp.headers["X-Request-ID"]
        assert len(request_id) >= 8
        [line] = access_lines(caplog, request_id)
        assert "POST /chat/events -> 200" in line and line.endswith("ms")

        traced = await chat_only.post("/chat/events", data=b"{}", headers={"X-Request-ID": "trace-chat-0001"})
        assert traced.headers["X-Request-ID"] == "trace-chat-0001"
        assert len(access_lines(caplog, "trace-chat-0001")) == 1
        forged = await chat_only.post("/chat/events", data=b"{}", headers={"X-Request-ID": "short"})
        assert forged.headers["X-Request-ID"] != "short"

        missing = await chat_only.get("/api/interview/state/u1/s1")  # the API is off: a plain 404, still traced
        assert missing.status == 404 and "X-Request-ID" in missing.headers
        assert "-> 404" in access_lines(caplog, missing.headers["X-Request-ID"])[0]


async def test_with_the_api_off_an_oversized_body_is_413(
    chat_only: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    too_big = b"x" * (int(LIMIT_MB * 1024 * 1024) + 1)
    with caplog.at_level(logging.INFO, logger="bot.server"):
        declared = await chat_only.post("/chat/events", data=too_big)
        assert declared.status == 413 and "X-Request-ID" in declared.headers
        assert "-> 413" in access_lines(caplog, declared.headers["X-Request-ID"])[0]

        async def undeclared() -> AsyncIterator[bytes]:  # chunked: only reading finds out
            for start in range(0, len(too_big), 4096):
                yield too_big[start : start + 4096]

        chunked = await chat_only.post("/chat/events", data=undeclared())
        assert chunked.status == 413 and "X-Request-ID" in chunked.headers
        assert (await chat_only.post("/chat/events", data=b"x" * 100)).status == 200


async def test_an_escaped_newline_in_the_path_cannot_forge_a_log_line(
    chat_only: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "request_id=forged GET /chat/events -> 200 0.1ms"
    with caplog.at_level(logging.INFO, logger="bot.server"):
        resp = await chat_only.get(f"/chat%0A{forged.replace(' ', '%20')}%0D%1B[31m")
    assert resp.status == 404
    [line] = access_lines(caplog, resp.headers["X-Request-ID"])
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert f"GET /chat\\n{forged}\\r\\x1b[31m -> 404" in line
    assert not [r for r in caplog.records if r.getMessage().startswith("request_id=forged")]


async def test_an_upload_refused_before_its_100_continue_closes_the_connection(tmp_path: Path) -> None:
    engine, _ = build_memory_engine(None, audio_dir=tmp_path / "audio")
    client = await serve(create_app(engine, HttpConfig(max_body_mb=LIMIT_MB), version="test"))
    try:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(
            b"POST /api/interview/answer HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 300000\r\n\r\n"
        )
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        writer.close()
        await writer.wait_closed()
    finally:
        await client.close()
    assert head.startswith("HTTP/1.1 413 "), head  # no 100 Continue: the body stays unsent
    # ...and the client is told not to reuse the connection, whose unsent body would otherwise be waited for.
    assert "Connection: close" in head and "X-Request-ID" in head and "application/json" in head


async def test_with_the_api_on_chat_routes_share_the_server_but_not_the_api_key(tmp_path: Path) -> None:
    engine, _ = build_memory_engine(None, audio_dir=tmp_path / "audio")
    config = HttpConfig(api_key="client-key-123", max_body_mb=LIMIT_MB)
    app = create_app(engine, config, version="test", routes=[web.post("/chat/events", chat_hook)])
    client = await serve(app)
    try:
        resp = await client.post("/chat/events", data=b"{}")  # no API key: the chat route is not the API's
        assert resp.status == 200 and "X-Request-ID" in resp.headers
        resp = await client.post("/api/interview/start", json={})
        assert resp.status == 401 and (await resp.json())["request_id"] == resp.headers["X-Request-ID"]
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["version"] == "test"
        too_big = await client.post("/chat/events", data=b"x" * 20_000)
        assert too_big.status == 413 and (await too_big.json())["code"] == "body_too_large"  # the API's words
    finally:
        await client.close()
