"""The `interview-bot` command line: help everywhere, a clear config error, and the admin sessions table."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.session import Session
from engine.store import TinyDBStore
from engine.team import Team, space_id
from engine.types import InterviewSpec, Question

ROOT = Path(__file__).parent.parent


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("INTERVIEW_BOT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [[], ["run"], ["sessions"], ["models"], ["models", "fetch"], ["transcribe"]])
def test_every_command_has_help(tmp_path, command):
    result = run_cli(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage: interview-bot" in result.stdout


def test_a_bad_config_value_is_one_line_naming_key_and_file(tmp_path):
    config = tmp_path / "bot.toml"
    config.write_text("[http]\nport = 'eighty'\n")
    result = run_cli("--config", str(config), "sessions", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"interview-bot: {config}: 'http.port' must be a whole number, got 'eighty'"
    ]
    assert "Traceback" not in result.stderr


def _session(platform: str, user: str, sid: str, status: str, answered: int) -> dict:
    questions = [Question(f"q{i}", "behavioral", f"Question {i}?") for i in range(4)]
    session = Session(
        platform=platform,
        user_id=user,
        session_id=sid,
        name=user.title(),
        spec=InterviewSpec("Data Engineer", "Acme", "Retail"),
        seed=1,
        questions=questions,
        created_at=1.0,
        updated_at=2.0,
        status=status,
        position=answered,
    )
    return session.to_dict()


def test_sessions_table_and_json_read_the_store_even_while_the_bot_holds_it(tmp_path):
    config = tmp_path / "bot.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "db" / "sessions.json"}"\n')
    store = TinyDBStore(tmp_path / "db" / "sessions.json")  # the running bot holds the lock
    store.save(_session("telegram", "alice", "s1", "active", 2))
    store.save(_session("slack", "bob", "s2", "completed", 4))
    team = _session("telegram", space_id(-100777), "s3", "active", 1)
    store.save({**team, "team": Team("4242", "Cara", place="Backend guild").to_dict()})
    try:
        table = run_cli("--config", str(config), "sessions", cwd=tmp_path)
        assert table.returncode == 0, table.stderr
        assert "Alice" in table.stdout and "Bob" in table.stdout and "Data Engineer at Acme" in table.stdout
        assert "Cara (team, Backend guild)" in table.stdout
        only_active = run_cli("sessions", "--status", "active", "--json", "--config", str(config), cwd=tmp_path)
        rows = json.loads(only_active.stdout)
        assert sorted((r["user_id"], r["status"], r["total"]) for r in rows) == [
            ("alice", "active", 4),
            ("team:-100777", "active", 4),
        ]
    finally:
        store.close()


def test_run_refuses_a_missing_ffmpeg_with_one_clear_line(tmp_path):
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "sessions.json"}"\n'
        '[speech]\nffmpeg = "/nowhere/ffmpeg"\nauto_fetch = false\n[http]\nport = 0\n'
    )
    result = run_cli("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert f"interview-bot: {config}: 'speech.ffmpeg' '/nowhere/ffmpeg' was not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_bot_on_the_same_database_is_refused(tmp_path):
    config = tmp_path / "bot.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "sessions.json"}"\n[speech]\nauto_fetch = false\n')
    store = TinyDBStore(tmp_path / "sessions.json")
    try:
        result = run_cli("run", "--config", str(config), cwd=tmp_path)
    finally:
        store.close()
    assert result.returncode == 1
    assert "already" in result.stderr and "sessions.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_already_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "bot.toml"
        config.write_text(
            f'[store]\npath = "{tmp_path / "sessions.json"}"\n[speech]\nauto_fetch = false\n[http]\nport = {port}\n'
        )
        result = run_cli("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_run_on_a_public_host_without_an_api_key_is_refused_in_one_line(tmp_path):
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "sessions.json"}"\n[speech]\nauto_fetch = false\n'
        '[http]\nhost = "0.0.0.0"\nport = 0\n'
    )
    result = run_cli("run", "--config", str(config), cwd=tmp_path, env={"INTERVIEW_BOT_API_KEY": ""})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"interview-bot: {config}: 'http.host' is '0.0.0.0', not loopback, and the interview API has no key, so "
        "anyone who can reach the port could read and start sessions: set an API key (INTERVIEW_BOT_API_KEY or "
        "[http] api_key), or set [http] open_api = true to serve it without one deliberately"
    ]
    assert not (tmp_path / "sessions.json").exists()  # refused before anything was opened
