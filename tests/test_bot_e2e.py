"""End to end through real `python -m bot run` processes: bot/app.py wiring Telegram and Slack to one engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, block_text, command_body, event_body, sign
from tests.fake_telegram import FakeTelegram
from tests.processes import REPO, bot_config, clean_env, free_port, until
from tests.redis_support import RedisServer, prefix

pytestmark = pytest.mark.slow  # real processes and the real Korean Vosk model

STARTUP_DEADLINE = 90.0  # a deadline for a hung process, not a speed check
WAIT = 60.0  # how long to wait for a reply the user should see
CANDIDATE = 5001
ADMIN = 9001
SLACK_ADMIN = "UADMIN01"
SLACK_USER = "UALICE01"
FORM = "application/x-www-form-urlencoded"
NO_INTERVIEW = "There's no interview running"
# espeak-ng's voice through the full Korean model (no grammar in a real config) is not recognised word for word:
# a voice answer is proved by a transcript of Korean words, quoted in the reply.
TG_TRANSCRIPT = re.compile(r"^🎙 I heard \(\d+:\d\d\):\n“(?P<words>[^”]*[\uac00-\ud7a3][^”]*)”")
SLACK_TRANSCRIPT = re.compile(r"I heard \(\d+:\d\d\)\n>(?P<words>.*[\uac00-\ud7a3].*)")


def write_config(
    path: Path,
    data_dir: Path,
    ko_model_path: Path,
    *,
    port: int,
    telegram: FakeTelegram | None = None,
    slack: FakeSlack | None = None,
    redis: tuple[str, str] | None = None,
) -> Path:
    """A config TOML: Korean model, no auto-fetch, store under data_dir (or on `redis`: url and key prefix), chat
    adapters pointed at the fakes."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    url, keys = redis or ("", "")
    text = bot_config(data_dir, ko_model_path, port, redis_url=url, key_prefix=keys)
    if telegram is not None:
        text += f"""
[telegram]
token = {q(telegram.token)}
api_base_url = {q(telegram.base_url)}
file_base_url = {q(telegram.file_base_url)}
admins = [{ADMIN}]
"""
    if slack is not None:
        text += f"""
[slack]
bot_token = {q(BOT_TOKEN)}
signing_secret = {q(SIGNING_SECRET)}
api_base_url = {q(slack.api_url)}
admins = [{q(SLACK_ADMIN)}]
"""
    path.write_text(text, encoding="utf-8")
    return path


class BotProcess:
    """One `python -m bot run --config ...`; output goes to a log file shown when something fails."""

    def __init__(self, config: Path, log: Path, port: int) -> None:
        self.log = log
        self.base = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(config)],
                cwd=REPO,
                env=clean_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_healthy(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """Poll /healthz until the server answers; the body as the operator sees it."""
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the bot exited with {self.proc.returncode}:\n{self.output()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with http.get(f"{self.base}/healthz") as response:
                    if response.status == 200:
                        return await response.json()
            await asyncio.sleep(0.1)
        pytest.fail(f"the bot did not answer /healthz within {STARTUP_DEADLINE:.0f}s:\n{self.output()}")

    async def terminate(self) -> int:
        """SIGTERM, as a service manager stops the bot; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, STARTUP_DEADLINE)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self.proc.send_signal(signal.SIGKILL)
        code = await asyncio.to_thread(self.proc.wait, 30)
        assert code == -signal.SIGKILL, self.output()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


class Bots:
    """Starts bot processes on one data folder and always kills them at teardown."""

    def __init__(self, tmp_path: Path, ko_model_path: Path, http: aiohttp.ClientSession) -> None:
        self.tmp_path = tmp_path
        self.ko_model_path = ko_model_path
        self.http = http
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        self.started: list[BotProcess] = []

    async def start(self, **adapters: Any) -> tuple[BotProcess, dict[str, Any]]:
        """A new process on the same data (fresh port and config); returns it and its first /healthz body."""
        run = len(self.started)
        port = free_port()
        config = write_config(
            self.tmp_path / f"config-{run}.toml", self.data_dir, self.ko_model_path, port=port, **adapters
        )
        bot = BotProcess(config, self.tmp_path / f"bot-{run}.log", port)
        self.started.append(bot)
        return bot, await bot.wait_healthy(self.http)

    @contextlib.contextmanager
    def explain(self) -> Iterator[None]:
        """A failed expectation also shows what the bot processes logged."""
        try:
            yield
        except AssertionError as exc:
            logs = "\n\n".join(f"===== {b.log.name} =====\n{b.output()}" for b in self.started)
            raise AssertionError(f"{exc}\n\n{logs}") from None

    def close(self) -> None:
        for bot in self.started:
            bot.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def bots(tmp_path: Path, ko_model_path: Path, http: aiohttp.ClientSession) -> Iterator[Bots]:
    """Requested after the fakes, so the processes are killed before the fakes close."""
    started = Bots(tmp_path, ko_model_path, http)
    yield started
    started.close()


# ----- Telegram helpers ---------------------------------------------------------------------------------------


async def tg_say(fake: FakeTelegram, user: int, text: str, expect: str) -> str:
    """Send text and wait for a new bot message containing `expect`; returns that message's text."""
    before = len(fake.chat(user))
    await fake.push(fake.text_update(user, text))
    return (await fake.wait_for_text(user, expect, after=before)).text


async def tg_start(fake: FakeTelegram, user: int) -> int:
    """/interview in the one-line form; returns the number of questions the bot announced."""
    first = await tg_say(fake, user, "/interview Backend Engineer at TechCorp (Technology)", "Question 1 of")
    found = re.search(r"Question 1 of (\d+)", first)
    assert found is not None, first
    return int(found.group(1))


def heard(fake: FakeTelegram, user: int) -> list[str]:
    """The transcript + feedback messages of a chat (a "Transcribing…" message edited in place)."""
    return [m.text for m in fake.chat(user) if m.edits and m.edits[0].startswith("⏳ Transcribing")]


def count(fake: FakeTelegram, user: int, part: str) -> int:
    return sum(part in text for text in fake.texts(user))


# ----- Slack helpers --------------------------------------------------------------------------------------------


async def slack_post(http: aiohttp.ClientSession, bot: BotProcess, body: str, content_type: str) -> tuple[int, str]:
    """A request signed with the signing secret, to the real server's /slack/events, as Slack sends it."""
    headers = {"Content-Type": content_type, **sign(body)}
    async with http.post(f"{bot.base}/slack/events", data=body.encode(), headers=headers) as response:
        return response.status, await response.text()


def in_thread(fake: FakeSlack, channel: str, thread_ts: str, part: str) -> list[dict[str, Any]]:
    """Thread replies whose text or blocks contain `part`."""
    return [m for m in fake.thread(channel, thread_ts) if part in m["text"] or part in block_text(m["blocks"])]


# ----- Telegram, polling -------------------------------------------------------------------------------------------


async def test_telegram_polling_interview_with_voice_admin_view_and_a_sigkill_restart(
    telegram: FakeTelegram, bots: Bots, voice_ogg: bytes
) -> None:
    fake = telegram
    with bots.explain():
        first, health = await bots.start(telegram=fake)
        assert health["status"] == "ok" and health["speech"]["default_language"] == "ko"
        await fake.wait_until(lambda: fake.calls_of("setMyCommands"))  # the adapter started with our token

        total = await tg_start(fake, CANDIDATE)
        assert total > 3
        intro = next(t for t in fake.texts(CANDIDATE) if "Backend Engineer at TechCorp" in t)
        assert "(Technology)" in intro

        # A real OGG/Opus voice note: "Transcribing…" turns into the transcript and feedback, then question 2.
        voice = fake.voice_update(CANDIDATE, voice_ogg)
        await fake.push(voice)
        await fake.wait_for_text(CANDIDATE, f"Question 2 of {total}")
        [answer] = heard(fake, CANDIDATE)
        assert TG_TRANSCRIPT.match(answer) and "Score:" in answer, answer
        texts = fake.texts(CANDIDATE)
        assert texts.index(answer) < next(i for i, t in enumerate(texts) if f"Question 2 of {total}" in t)
        # Each question also comes as a voice note after its text (the Piper voice of the test extras); the answer's
        # update is handled once question 2's has gone, and /voice waits its turn behind it.
        await fake.wait_until(lambda: len(fake.files(CANDIDATE, "voice")) == 2)
        assert "also comes as a voice note" in await tg_say(fake, CANDIDATE, "/voice", "voice note")

        # The admin from the config sees the candidate; the candidate is not an admin.
        refusal = await tg_say(fake, CANDIDATE, "/sessions", "only for the bot's admins")
        assert "Active interviews" not in refusal
        listing = await tg_say(fake, ADMIN, "/sessions", "Active interviews")
        assert f"telegram:{CANDIDATE}" in listing and "Backend Engineer at TechCorp" in listing
        assert f"1/{total} answered" in listing

        # Crash with question 2 pending; a new process on the same data carries on.
        await first.kill()
        before = len(fake.chat(CANDIDATE))
        _, health = await bots.start(telegram=fake)
        assert health["store"]["reachable"]
        # Telegram delivers the already answered voice note again, then the next voice note: one poll, in order.
        await fake.push(dict(voice), fake.voice_update(CANDIDATE, voice_ogg))
        await fake.wait_for_text(CANDIDATE, f"Question 3 of {total}", after=before)
        typed = await tg_say(fake, CANDIDATE, "I led the move of our billing service to Python.", "Typed answer")
        assert "Score:" in typed
        await fake.wait_for_text(CANDIDATE, f"Question 4 of {total}", after=before)

        after = fake.texts(CANDIDATE)[before:]
        assert not any(NO_INTERVIEW in t for t in fake.texts(CANDIDATE)), after
        assert len(heard(fake, CANDIDATE)) == 2 and TG_TRANSCRIPT.match(heard(fake, CANDIDATE)[1])
        assert count(fake, CANDIDATE, f"Question 2 of {total}") == 1  # the redelivery asked nothing again
        assert len(fake.calls_of("getFile")) == 2  # ...and downloaded nothing again
        assert f"update {voice['update_id']} already handled" in bots.started[1].output()  # it did arrive
        for bot in bots.started:  # the token is in every Bot API URL; it must never reach the logs
            assert fake.token not in bot.log.read_text(encoding="utf-8"), f"{bot.log.name} leaks the bot token"

        listing = await tg_say(fake, ADMIN, "/sessions", "Active interviews")
        assert f"telegram:{CANDIDATE}" in listing and f"3/{total} answered" in listing


async def test_telegram_voice_note_whose_download_a_sigkill_cut_short_is_answered_once_after_the_restart(
    telegram: FakeTelegram, bots: Bots, voice_ogg: bytes
) -> None:
    fake = telegram
    with bots.explain():
        first, _ = await bots.start(telegram=fake)
        total = await tg_start(fake, CANDIDATE)

        # The audio comes slowly; the bot dies while it is being downloaded, after its poll has confirmed the update.
        fake.file_delay = 5.0
        voice = fake.voice_update(CANDIDATE, voice_ogg)
        await fake.push(voice)
        await fake.wait_until(lambda: fake.downloads)
        await fake.wait_until(lambda: fake.confirmed > voice["update_id"])
        await first.kill()

        # Telegram will not send it again: the restart finds it in the inbox and answers it, once.
        fake.file_delay = 0.0
        await bots.start(telegram=fake)
        await fake.wait_for_text(CANDIDATE, f"Question 2 of {total}")
        listing = await tg_say(fake, ADMIN, "/sessions", "Active interviews")
        assert f"1/{total} answered" in listing, listing
        [answer] = heard(fake, CANDIDATE)
        assert TG_TRANSCRIPT.match(answer) and "Score:" in answer, answer
        assert count(fake, CANDIDATE, f"Question 2 of {total}") == 1
        assert f"resuming update {voice['update_id']} from the inbox" in bots.started[1].output()

        # It stays handled: a typed answer goes to question 2 and nothing is answered twice.
        await tg_say(fake, CANDIDATE, "I led the move of our billing service to Python.", "Typed answer")
        await fake.wait_for_text(CANDIDATE, f"Question 3 of {total}")
        assert len(heard(fake, CANDIDATE)) == 1 and count(fake, CANDIDATE, f"Question 2 of {total}") == 1


# ----- Slack over HTTP, with Telegram in the same process -------------------------------------------------------------


async def test_slack_http_and_telegram_side_by_side_in_one_process(
    telegram: FakeTelegram, slack: FakeSlack, http: aiohttp.ClientSession, bots: Bots, voice_ogg: bytes
) -> None:
    channel = "D" + SLACK_USER
    with bots.explain():
        bot, health = await bots.start(telegram=telegram, slack=slack)
        assert health["status"] == "ok"
        await slack.wait_for(lambda: slack.calls_to("auth.test"), timeout=WAIT)  # started with the bot token
        await telegram.wait_until(lambda: telegram.calls_of("setMyCommands"))

        # Slack: a signed slash command to the real server is acknowledged, the interview opens in a DM thread.
        body = command_body(
            "/interview", "Backend Engineer at TechCorp", user_id=SLACK_USER, channel_id=channel,
            response_url=slack.response_url("start"),
        )  # fmt: skip
        status, ack = await slack_post(http, bot, body, FORM)
        assert status == 200 and ack == ""
        # Telegram, meanwhile: its own candidate starts an interview in the same process.
        total = await tg_start(telegram, CANDIDATE)

        parent = await slack.wait_for(lambda: slack.top_level(channel), timeout=WAIT)
        thread_ts = parent[0]["ts"]
        assert "Backend Engineer" in parent[0]["text"] and "TechCorp" in parent[0]["text"]
        await slack.wait_for(lambda: in_thread(slack, channel, thread_ts, "Question 1 of"), timeout=WAIT)
        started = await slack.wait_for(lambda: slack.responses("start"), timeout=WAIT)
        assert "started in our direct messages" in started[0]["text"]

        # A voice clip shared in the thread: transcript and feedback, then question 2, all in that thread.
        clip = slack.add_file("F0000001", voice_ogg, "audio/ogg", "voice.ogg")
        event = {
            "type": "message", "subtype": "file_share", "channel": channel, "channel_type": "im",
            "user": SLACK_USER, "text": "", "ts": "1700000500.000001", "thread_ts": thread_ts, "files": [clip],
        }  # fmt: skip
        status, _ = await slack_post(http, bot, event_body(event, "Ev00000001"), "application/json")
        assert status == 200
        await slack.wait_for(lambda: in_thread(slack, channel, thread_ts, "Question 2 of"), timeout=WAIT)
        [reply] = in_thread(slack, channel, thread_ts, "Answer 1 of")
        feedback = block_text(reply["blocks"])
        assert SLACK_TRANSCRIPT.search(feedback) and "Score:" in feedback, feedback
        assert slack.downloads == [("F0000001", True)]

        # Telegram still answers, from the same process.
        await tg_say(telegram, CANDIDATE, "I built our payments API in Python.", "Typed answer")
        await telegram.wait_for_text(CANDIDATE, f"Question 2 of {total}")
        assert not any(NO_INTERVIEW in t for t in telegram.texts(CANDIDATE))

        # One engine behind both: the Slack admin's /sessions lists the Slack and the Telegram candidate.
        body = command_body(
            "/sessions", "", user_id=SLACK_ADMIN, channel_id="D" + SLACK_ADMIN,
            response_url=slack.response_url("admin"),
        )  # fmt: skip
        status, _ = await slack_post(http, bot, body, FORM)
        assert status == 200
        table = (await slack.wait_for(lambda: slack.responses("admin"), timeout=WAIT))[0]["text"]
        assert f"slack:{SLACK_USER}" in table and f"telegram:{CANDIDATE}" in table
        body = command_body(
            "/sessions", "", user_id=SLACK_USER, channel_id=channel, response_url=slack.response_url("refused")
        )
        status, refusal = await slack_post(http, bot, body, FORM)
        assert status == 200 and refusal == "Sorry, /sessions is only for the bot's admins."

        async with http.get(f"{bot.base}/healthz") as response:
            assert response.status == 200 and (await response.json())["status"] == "ok"

        # SIGTERM stops both adapters cleanly.
        assert await bot.terminate() == 0
        log = bot.output()
        assert "stopping" in log and "error while stopping" not in log and "Traceback" not in log
        assert BOT_TOKEN not in log and SIGNING_SECRET not in log and telegram.token not in log


async def test_of_two_processes_on_redis_one_polls_telegram_and_the_other_takes_over_when_it_dies(
    telegram: FakeTelegram, bots: Bots, redis_server: RedisServer
) -> None:
    """Telegram serves one getUpdates client per bot: with a shared Redis the lease holder polls, the other stands by
    and takes over after a SIGKILL, carrying the interview on (the session is in Redis, not in either process)."""
    shared = (redis_server.url, prefix())
    first, _ = await bots.start(telegram=telegram, redis=shared)
    second, _ = await bots.start(telegram=telegram, redis=shared)
    with bots.explain():

        def polling() -> list[BotProcess]:
            return [bot for bot in (first, second) if "polling lease taken" in bot.output()]

        await until(lambda: polling(), 30)
        [leader] = polling()
        standby = second if leader is first else first
        await tg_start(telegram, CANDIDATE)
        await asyncio.sleep(1.0)  # a second poller would have answered by now
        assert sum("Question 1 of" in m.text for m in telegram.chat(CANDIDATE)) == 1

        await leader.kill()
        await until(lambda: "polling lease taken" in standby.output(), 30)
        await tg_say(telegram, CANDIDATE, "I would add an idempotency key to every payment request.", "Question 2 of")
        await asyncio.sleep(1.0)
        assert sum("Question 2 of" in m.text for m in telegram.chat(CANDIDATE)) == 1
