"""Telegram and Slack give the same answer to the same input: one scripted conversation through both real adapters
(python-telegram-bot and slack-bolt against their fake servers), comparing what the chat layer said on each."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.chat import Chat, Event, Reply
from engine import User
from tests.fake_slack import FakeSlack
from tests.fake_telegram import BotMessage, FakeTelegram
from tests.test_slack import SlackBot
from tests.test_telegram import start_bot

pytestmark = pytest.mark.slow

TG_USER = 5001
SLACK_USER = "UALICE01"
OPENING = "Head of Data at Scale at Google (AI) technical"
SECOND = "QA Lead at Initech"
ANSWER = "I built our data platform on Spark and Airflow, and cut the nightly batch from six hours to forty minutes."


class Recorder:
    """Wraps a Chat's handle(): every event's replies, in order, once the chat layer has finished with it."""

    def __init__(self, chat: Chat) -> None:
        self.events: list[tuple[Event, list[Reply]]] = []
        handle = chat.handle

        async def recording(user: User, event: Event, place: Any, **kwargs: Any) -> AsyncIterator[Reply]:
            replies: list[Reply] = []
            async for reply in handle(user, event, place, **kwargs):
                replies.append(reply)
                yield reply
            self.events.append((event, replies))

        chat.handle = recording  # type: ignore[method-assign]

    async def next_event(self, act: Callable[[], Awaitable[Any]]) -> list[Reply]:
        """Run one user action and return the chat layer's replies to it."""
        before = len(self.events)
        await act()
        async with asyncio.timeout(30):
            while len(self.events) == before:
                await asyncio.sleep(0.02)
        return self.events[before][1]


def normalised(replies: list[Reply]) -> list[tuple[str, str, tuple[str, ...], bool]]:
    """What a user sees, with the platform's command spelling, the name of a recording and of the place where a team
    interview runs set aside."""
    out = []
    for reply in replies:
        text = re.sub(r"/interview (?=[a-z])", "/", reply.text)
        text = text.replace("an audio clip", "a voice note").replace("our direct messages", "this chat")
        text = text.replace("add me to a channel", "add me to a group")
        out.append((reply.kind.value, text, tuple(o.label for o in reply.options), reply.pointer))
    return out


@pytest.fixture
async def both(
    tmp_path: Path, vosk_transcriber: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Any, SlackBot]]:
    # The same questions on both: the planner is deterministic for a seed, and each start draws one.
    monkeypatch.setattr("engine.service.secrets.randbits", lambda bits: 424242)
    telegram_fake, slack_fake = FakeTelegram(), FakeSlack()
    await telegram_fake.start()
    await slack_fake.start()
    telegram = await start_bot(tmp_path / "telegram", vosk_transcriber, telegram_fake)
    slack = await SlackBot(tmp_path / "slack", vosk_transcriber, slack_fake).start()
    telegram.fake = telegram_fake
    try:
        yield telegram, slack
    finally:
        await telegram.stop()
        await slack.stop()
        await telegram_fake.close()
        await slack_fake.close()


async def test_one_scripted_conversation_gets_the_same_replies_on_both(both: tuple[Any, SlackBot]) -> None:
    telegram, slack = both
    tg_fake: FakeTelegram = telegram.fake
    tg = Recorder(telegram.adapter.chat)
    sl = Recorder(slack.adapter.chat)
    thread: dict[str, str] = {}

    async def tg_say(text: str) -> None:
        await tg_fake.push(tg_fake.text_update(TG_USER, text))

    async def slack_command(text: str) -> None:
        await slack.command(SLACK_USER, text)

    async def slack_say(text: str) -> None:
        await slack.message(SLACK_USER, text, thread_ts=thread.get("ts"))

    def tg_last_with_buttons() -> BotMessage:
        return next(m for m in reversed(tg_fake.chat(TG_USER)) if m.buttons)

    async def tg_press(label: str) -> None:
        message = tg_last_with_buttons()
        await tg_fake.push(tg_fake.press_update(TG_USER, message, message.button_data(label)))

    async def slack_press(label: str) -> None:
        responses = [c.args for c in slack.fake.calls if c.method.startswith("response_url:")]
        prompt = next(r for r in reversed(responses) if any(b["type"] == "actions" for b in r.get("blocks") or []))
        await slack.click(SLACK_USER, prompt["blocks"], label)

    script: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]] = [
        ("start in one line", lambda: tg_say(f"/interview {OPENING}"), lambda: slack_command(OPENING)),
        ("status", lambda: tg_say("/status"), lambda: slack_command("status")),
        ("typed answer", lambda: tg_say(ANSWER), lambda: slack_say(ANSWER)),
        ("skip", lambda: tg_say("/skip"), lambda: slack_command("skip")),
        ("repeat", lambda: tg_say("/repeat"), lambda: slack_command("repeat")),
        ("language with no model", lambda: tg_say("/language de"), lambda: slack_command("language de")),
        ("language back", lambda: tg_say("/language ko"), lambda: slack_command("language ko")),
        ("a bad one-line start", lambda: tg_say("/interview just words"), lambda: slack_command("just words")),
        ("start while one runs", lambda: tg_say(f"/interview {SECOND}"), lambda: slack_command(SECOND)),
        ("resume", lambda: tg_press("▶️ Resume"), lambda: slack_press("▶️ Resume")),
        ("forget, asked", lambda: tg_say("/forget"), lambda: slack_command("forget")),
        ("forget, cancelled", lambda: tg_press("Cancel"), lambda: slack_press("Cancel")),
        ("help", lambda: tg_say("/help"), lambda: slack_command("help")),
        ("end", lambda: tg_say("/end"), lambda: slack_command("end")),
        ("status after the end", lambda: tg_say("/status"), lambda: slack_command("status")),
        ("report", lambda: tg_say("/report"), lambda: slack_command("report")),
    ]  # fmt: skip
    for step, on_telegram, on_slack in script:
        said_on_telegram = await tg.next_event(on_telegram)
        said_on_slack = await sl.next_event(on_slack)
        if step == "start in one line":
            route = (await slack.engine.get_session(User("slack", SLACK_USER))).route
            thread["ts"] = route["thread_ts"]
        assert said_on_telegram, step
        assert normalised(said_on_telegram) == normalised(said_on_slack), step

    # Both really showed it: the Telegram chat and the Slack thread end with the same report.
    report = next(m for m in reversed(tg_fake.chat(TG_USER)) if "Interview report" in m.text)
    assert "Head of Data at Scale at Google" in report.text and "Answered 1 of 5, skipped 1" in report.text
    in_thread = slack.fake.thread("D" + SLACK_USER, thread["ts"])
    assert any(m["blocks"] and m["blocks"][0]["type"] == "header" for m in in_thread)
