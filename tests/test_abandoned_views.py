"""Sessions closed by housekeeping show as "abandoned" wherever admins and candidates look (issue 10, item 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from adapters.chat.text import STATE_LABELS
from bot.config import HttpConfig
from bot.server import create_app
from engine import ABANDONED, STATUSES, InterviewEngine, InterviewSpec, User
from engine.store import TinyDBStore

ROOT = Path(__file__).parent.parent
SPEC = InterviewSpec(role_title="Data Engineer", company_name="Acme", industry="Technology")
ADMIN_TOKEN = "admin-token-0123456789"


async def abandoned_store(path: Path) -> None:
    """One session left untouched for 31 days and closed by housekeeping, and one still going."""
    now = [1_700_000_000.0]
    store = TinyDBStore(path)
    engine = InterviewEngine(store, None, clock=lambda: now[0])
    await engine.start(User("http", "quiet"), SPEC, session_id="s1")
    now[0] += 31 * 86400
    await engine.start(User("telegram", "7", "Busy"), SPEC)
    await engine.housekeeping()
    store.close()


async def test_the_status_is_known_and_labelled() -> None:
    assert ABANDONED == "abandoned" and ABANDONED in STATUSES
    assert STATE_LABELS[ABANDONED] == "closed after a long time without answers"


async def test_the_sessions_cli_filters_on_it(tmp_path: Path) -> None:
    db = tmp_path / "db" / "sessions.json"
    await abandoned_store(db)
    config = tmp_path / "bot.toml"
    config.write_text(f'[store]\npath = "{db}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INTERVIEW_BOT_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sessions", "--status", "abandoned", "--json", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [(row["user_id"], row["status"]) for row in json.loads(result.stdout)] == [("quiet", "abandoned")]


async def test_the_http_admin_list_filters_on_it(tmp_path: Path) -> None:
    db = tmp_path / "sessions.json"
    await abandoned_store(db)
    store = TinyDBStore(db)
    client = TestClient(
        TestServer(create_app(InterviewEngine(store, None), HttpConfig(admin_token=ADMIN_TOKEN), version="test"))
    )
    await client.start_server()
    try:
        resp = await client.get(
            "/api/interview/debug/sessions?status=abandoned", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        body = await resp.json()
        assert resp.status == 200, body
        assert [(s["user_id"], s["status"]) for s in body["sessions"]] == [("quiet", "abandoned")]
        state = await (await client.get("/api/interview/state/quiet/s1")).json()
        assert state["status"] == "abandoned" and state["finished_at"] is not None
        spec = await (await client.get("/api/openapi.json")).json()
        assert "abandoned" in spec["components"]["schemas"]["SessionState"]["properties"]["status"]["enum"]
    finally:
        await client.close()
        store.close()
