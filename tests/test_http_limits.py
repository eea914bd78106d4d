"""The HTTP API's refusals for item 8 of issue 10: an over-long CV or job description, too many new sessions a day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import HttpConfig
from bot.server import create_app
from engine import FIELD_LIMITS
from tests.engine_support import build_memory_engine

START = {
    "user_id": "web-user",
    "session_id": "s0",
    "role_title": "Senior Backend Engineer",
    "company_name": "TechCorp Inc",
    "industry": "Technology",
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    now = [1_700_000_000.0]
    engine, _ = build_memory_engine(
        None, audio_dir=tmp_path / "audio", clock=lambda: now[0], max_sessions_per_user_per_day=2
    )
    client = TestClient(TestServer(create_app(engine, HttpConfig(), version="test")))
    await client.start_server()
    client.now = now  # type: ignore[attr-defined]
    yield client
    await client.close()


async def post_start(client: TestClient, **fields: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/interview/start", json={**START, **fields})
    return resp.status, await resp.json()


@pytest.mark.parametrize("field", ["cv", "jd"])
async def test_an_over_long_cv_or_job_description_is_a_400_naming_the_field_and_the_limit(client, field):
    limit = FIELD_LIMITS[field]
    status, body = await post_start(client, **{field: "x" * (limit + 1)})
    assert status == 400, body
    assert body["code"] == "invalid_input"
    assert body["fields"] == {field: f"must be at most {limit} characters (got {limit + 1})"}
    assert f"{field}: must be at most {limit} characters" in body["detail"]
    resp = await client.get("/api/interview/state/web-user/s0")
    assert resp.status == 404  # refused whole, not started with a cut-down copy

    status, body = await post_start(client, **{field: "x" * limit})
    assert status == 201, body
    assert len(body["spec"][field]) == limit  # at the limit: kept whole


async def test_too_many_new_sessions_in_a_day_is_a_429_with_retry_after(client):
    assert (await post_start(client, session_id="s0"))[0] == 201
    client.now[0] += 600
    assert (await post_start(client, session_id="s1"))[0] == 201
    assert (await post_start(client, session_id="s0"))[0] == 200  # the same session again: not a new one
    resp = await client.post("/api/interview/start", json={**START, "session_id": "s2"})
    body = await resp.json()
    assert resp.status == 429, body
    assert body["code"] == "too_many_sessions" and body["error"] == "Too many sessions"
    assert body["limit"] == 2 and body["retry_after_seconds"] == 86400 - 600
    assert resp.headers["Retry-After"] == str(86400 - 600)
    assert "2 interviews in the last 24 hours" in body["detail"]
    assert (await post_start(client, user_id="another-user", session_id="s2"))[0] == 201
    client.now[0] += 86400 - 600
    assert (await post_start(client, session_id="s2"))[0] == 201
