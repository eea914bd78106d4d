"""End to end with real processes: `python -m bot run`, the old guide's curl script, and restarts mid-interview."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import audio_fixtures
from tests.processes import REPO, bot_config, clean_env, free_port

pytestmark = pytest.mark.slow

OLD_ADDRESS = "http://127.0.0.1:8000"
ADMIN_TOKEN = "e2e-admin-token-42"
STARTUP_DEADLINE = 90.0  # generous: a deadline for a hung server, not a speed check
REQUEST_TIMEOUT = 120.0

# "5. Quick Test Script" from the old system's troubleshooting guide (shared/seed/session-not-found-guide.md),
# copied verbatim; only its address is replaced by the test server's.
GUIDE_QUICK_TEST = r"""#!/bin/bash
USER_ID="test-$(date +%s)"
SESSION_ID="session-$(date +%s)"

echo "Starting session with USER_ID=$USER_ID, SESSION_ID=$SESSION_ID"

# Start session
START_RESPONSE=$(curl -s -X POST "http://127.0.0.1:8000/api/interview/start" \
  -H "Content-Type: application/json" \
  -d "{
    \"user_id\": \"$USER_ID\",
    \"session_id\": \"$SESSION_ID\",
    \"role_title\": \"Backend Engineer\",
    \"company_name\": \"TestCorp\",
    \"industry\": \"Technology\",
    \"cv\": \"Test CV content\",
    \"jd\": \"Test JD content\",
    \"round_type\": \"full\"
  }")

echo "Start response: $START_RESPONSE"

# Check if session exists
echo "Checking session state..."
curl -s "http://127.0.0.1:8000/api/interview/state/$USER_ID/$SESSION_ID"

# Create dummy audio file for testing
echo "Creating test audio file..."
echo "test audio data" > test-audio.wav

# Submit answer
echo "Submitting voice answer..."
curl -X POST "http://127.0.0.1:8000/api/interview/answer" \
  -F "user_id=$USER_ID" \
  -F "session_id=$SESSION_ID" \
  -F "audio_file=@test-audio.wav"

# Cleanup
rm -f test-audio.wav
"""

SPEC = {
    "role_title": "Senior Backend Engineer",
    "company_name": "TechCorp Inc",
    "industry": "Technology",
    "cv": "Experienced Python developer with 5+ years",
    "jd": "Senior backend role requiring Python, Node.js",
    "round_type": "full",
}
ANSWER = (
    "At my last job I led the migration of our payment service to Python and PostgreSQL. The task was to cut "
    "latency, so I profiled the hot paths and added caching; as a result p95 latency fell by half."
)


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    request.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    try:
        with _NO_PROXY_OPENER.open(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class BotServer:
    """One `python -m bot run` process on a config file; its output goes to a log file for failures."""

    def __init__(self, tmp_path: Path, ko_model_path: Path, *, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.ko_model_path = ko_model_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.runs = 0
        self.workers = 1  # speech workers of the next start

    def start(self) -> str:
        port = free_port()
        data = self.tmp_path / "data"
        data.mkdir(exist_ok=True)
        config = self.tmp_path / f"config-{self.runs}.toml"
        text = bot_config(data, self.ko_model_path, port, workers=self.workers)
        config.write_text(text, encoding="utf-8")
        self.log = self.tmp_path / f"server-{self.runs}.log"
        self.runs += 1
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(config)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.base = f"http://127.0.0.1:{port}"
        self._wait_healthy()
        return self.base

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, body = call("GET", f"{self.base}/healthz")
            except (OSError, ValueError):
                time.sleep(0.2)
                continue
            if status == 200 and body["store"]["reachable"]:
                return
            time.sleep(0.2)
        pytest.fail(f"the server did not answer /healthz within {STARTUP_DEADLINE:.0f}s:\n{self.output()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.proc = None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def bot_server(tmp_path: Path, ko_model_path: Path) -> Iterator[BotServer]:
    server = BotServer(tmp_path, ko_model_path, env=clean_env(INTERVIEW_BOT_ADMIN_TOKEN=ADMIN_TOKEN))
    yield server
    server.close()


def decode_after(output: str, marker: str) -> dict[str, Any]:
    """The JSON document printed right after `marker` in the script's output."""
    start = output.index(marker) + len(marker)
    document, _ = json.JSONDecoder().raw_decode(output[start:].lstrip())
    return document


def test_the_old_guides_quick_test_script_gets_a_clear_422_and_keeps_the_session(
    tmp_path: Path, ko_model_path: Path
) -> None:
    server = BotServer(tmp_path, ko_model_path, env=clean_env())  # no admin token: the debug list is off
    try:
        base = server.start()
        workdir = tmp_path / "client"
        workdir.mkdir()
        script = workdir / "quick-test.sh"
        script.write_text(GUIDE_QUICK_TEST.replace(OLD_ADDRESS, base), encoding="utf-8")
        run = subprocess.run(
            ["bash", str(script)], cwd=workdir, env=clean_env(), capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stderr
        output = run.stdout
        ids = re.search(r"USER_ID=(\S+), SESSION_ID=(\S+)", output)
        assert ids is not None, output
        user_id, session_id = ids.groups()

        started = decode_after(output, "Start response:")
        assert started["status"] == "active" and started["user_id"] == user_id, output
        question = started["question"]
        assert question["text"] and started["progress"]["position"] == 0

        state = decode_after(output, "Checking session state...")
        assert state["session_id"] == session_id and state["current_question"] == question

        rejected = decode_after(output, "Submitting voice answer...")
        assert rejected["error"] == "Speech recognition failed", output
        assert rejected["code"] == "audio_invalid" and "audio" in rejected["detail"]
        assert rejected["request_id"]
        assert not (workdir / "test-audio.wav").exists()

        status, after = call("GET", f"{base}/api/interview/state/{user_id}/{session_id}")
        assert status == 200
        assert after["progress"]["position"] == 0 and after["current_question"] == question
        assert after["answers"] == [] and after["pending_voice_answers"] == 0

        status, body = call("GET", f"{base}/api/interview/debug/sessions")  # the guide's debug command
        assert status == 404 and body["code"] == "debug_disabled" and "admin_token" in body["detail"]

        status, answered = call(
            "POST", f"{base}/api/interview/answer", {"user_id": user_id, "session_id": session_id, "text": ANSWER}
        )
        assert status == 200 and answered["next_question"]["index"] == 1
    finally:
        server.close()


def curl_voice(base: str, user_id: str, session_id: str, audio: Path) -> tuple[int, dict[str, Any]]:
    """A voice answer the way the old clients send it: multipart with curl."""
    run = subprocess.run(
        [
            "curl", "-s", "-w", "\n%{http_code}", "-X", "POST", f"{base}/api/interview/answer",
            "-F", f"user_id={user_id}", "-F", f"session_id={session_id}",
            "-F", f"audio_file=@{audio};type=audio/ogg",
        ],
        env=clean_env(), capture_output=True, text=True, timeout=REQUEST_TIMEOUT, check=True,
    )  # fmt: skip
    body, _, code = run.stdout.rpartition("\n")
    return int(code), json.loads(body)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_session_survives_a_server_restart(
    bot_server: BotServer, tmp_path: Path, voice_ogg: bytes, sig: signal.Signals
) -> None:
    base = bot_server.start()
    user_id, session_id = "restart-user", "restart-session-1"
    status, started = call(
        "POST", f"{base}/api/interview/start", {"user_id": user_id, "session_id": session_id, **SPEC}
    )
    assert status == 201, started
    status, first = call(
        "POST", f"{base}/api/interview/answer", {"user_id": user_id, "session_id": session_id, "text": ANSWER}
    )
    assert status == 200, first

    code = bot_server.stop(sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), bot_server.output()
    base = bot_server.start()

    status, state = call("GET", f"{base}/api/interview/state/{user_id}/{session_id}")
    assert status == 200, state
    assert state["progress"]["position"] == 1 and state["answers"][0]["transcript"] == ANSWER
    assert state["current_question"] == first["next_question"]

    voice = tmp_path / "voice.ogg"
    voice.write_bytes(voice_ogg)
    status, spoken = curl_voice(base, user_id, session_id, voice)
    assert status == 200, spoken
    assert spoken["source"] == "voice" and spoken["transcript"].strip() and spoken["speech"]["words"]
    assert spoken["feedback"] is not None and spoken["next_question"]["index"] == 2

    status, typed = call(
        "POST", f"{base}/api/interview/answer", {"user_id": user_id, "session_id": session_id, "text": ANSWER}
    )
    assert status == 200, typed
    assert typed["progress"]["position"] == 3

    status, again = call("POST", f"{base}/api/interview/start", {"user_id": user_id, "session_id": session_id, **SPEC})
    assert status == 200 and again["resumed"] is True and again["progress"]["position"] == 3

    status, listing = call("GET", f"{base}/api/interview/debug/sessions?user_id={user_id}")
    assert status == 200 and listing["count"] == 1 and listing["sessions"][0]["answered"] == 3


def test_a_restart_does_not_wait_for_a_long_transcription_and_keeps_the_answer(
    bot_server: BotServer, tmp_path: Path
) -> None:
    base = bot_server.start()
    user_id, session_id = "long-talker", "long-session"
    status, _ = call("POST", f"{base}/api/interview/start", {"user_id": user_id, "session_id": session_id, **SPEC})
    assert status == 201
    voice = tmp_path / "eight-minutes.ogg"
    voice.write_bytes(audio_fixtures.encode(audio_fixtures.long_wav(480.0), "ogg_opus"))
    answering = subprocess.Popen(
        [
            "curl", "-s", "-w", "\n%{http_code}", "-X", "POST", f"{base}/api/interview/answer",
            "-F", f"user_id={user_id}", "-F", f"session_id={session_id}",
            "-F", f"audio_file=@{voice};type=audio/ogg",
        ],
        env=clean_env(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(600):
            if call("GET", f"{base}/healthz")[1]["speech"]["busy"] == 1:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the long answer never started transcribing:\n{bot_server.output()}")

        # Eight minutes of speech take the recogniser minutes; the restart must not wait for them.
        assert bot_server.stop(signal.SIGTERM) == 0, "the server did not shut down cleanly"
        body, _, code = answering.communicate(timeout=REQUEST_TIMEOUT)[0].rpartition("\n")
    finally:
        if answering.poll() is None:
            answering.kill()
    assert code == "503", body
    reply = json.loads(body)
    assert reply["code"] == "shutting_down" and "saved" in reply["detail"]

    # After the restart the recording is still there, waiting to be transcribed; the question is still open.
    base = bot_server.start()
    status, state = call("GET", f"{base}/api/interview/state/{user_id}/{session_id}")
    assert status == 200, state
    assert state["pending_voice_answers"] == 1 and state["progress"]["position"] == 0


def test_an_answer_sent_right_after_a_crash_lands_after_the_voice_answer_the_crash_interrupted(
    bot_server: BotServer, tmp_path: Path, voice_ogg: bytes
) -> None:
    base = bot_server.start()
    # Recovery finishes the most recently updated sessions first: the slow talker's, started second, goes first
    # and keeps recovery busy for minutes, so the typist's answer after the restart arrives before its turn.
    typist, slow = ("typist", "typist-session"), ("slow-talker", "slow-session")
    for user_id, session_id in (typist, slow):
        status, _ = call("POST", f"{base}/api/interview/start", {"user_id": user_id, "session_id": session_id, **SPEC})
        assert status == 201
    long_voice = tmp_path / "eight-minutes.ogg"
    long_voice.write_bytes(audio_fixtures.encode(audio_fixtures.long_wav(480.0), "ogg_opus"))
    short_voice = tmp_path / "voice.ogg"
    short_voice.write_bytes(voice_ogg)

    def send(ids: tuple[str, str], audio: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                "curl", "-s", "-X", "POST", f"{base}/api/interview/answer", "-F", f"user_id={ids[0]}",
                "-F", f"session_id={ids[1]}", "-F", f"audio_file=@{audio};type=audio/ogg",
            ],
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip

    def pending(ids: tuple[str, str]) -> int:
        status, state = call("GET", f"{base}/api/interview/state/{ids[0]}/{ids[1]}")
        assert status == 200, state
        return int(state["pending_voice_answers"])

    clients = [send(slow, long_voice)]
    try:
        for _ in range(600):  # one worker: the long answer holds it, and the typist's answer waits its turn
            if call("GET", f"{base}/healthz")[1]["speech"]["busy"] == 1:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the long answer never started transcribing:\n{bot_server.output()}")
        clients.append(send(typist, short_voice))
        for _ in range(600):
            if pending(typist) == 1:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the typist's voice answer was never saved:\n{bot_server.output()}")
        assert bot_server.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
            client.wait(timeout=30)

    bot_server.workers = 2  # the typist's answer need not wait for the slow talker's in the pool
    base = bot_server.start()
    status, typed = call(
        "POST", f"{base}/api/interview/answer", {"user_id": typist[0], "session_id": typist[1], "text": ANSWER}
    )
    assert status == 200, typed
    status, state = call("GET", f"{base}/api/interview/state/{typist[0]}/{typist[1]}")
    assert status == 200, state
    answers = [(a["index"], a["source"]) for a in state["answers"]]
    assert answers == [(0, "voice"), (1, "text")], bot_server.output()
    assert state["answers"][0]["transcript"].strip() and state["answers"][1]["transcript"] == ANSWER
    assert state["pending_voice_answers"] == 0 and state["progress"]["position"] == 2
    # The voice answer was recorded on the way, and its result came back first, with this one.
    assert typed["answer"]["index"] == 1 and typed["next_question"]["index"] == 2
    [earlier] = typed["earlier"]
    assert earlier["error"] is None and earlier["result"]["answer"] == state["answers"][0]
    assert earlier["result"]["source"] == "voice" and earlier["result"]["next_question"]["index"] == 1
