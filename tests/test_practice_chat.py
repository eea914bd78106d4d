"""Practising again through the real chat libraries: /retake, /fix, /progress and the report's chart, on the fake
Telegram (python-telegram-bot) and the fake Slack (slack-bolt), typed answers so no speech model is needed."""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.chat.words import Words
from adapters.telegram import TelegramAdapter, TelegramConfig
from engine import AudioInput, InterviewSpec, Transcript, User
from engine.service import InterviewEngine
from engine.store import MemoryStore
from tests.fake_slack import FakeSlack, block_text
from tests.fake_telegram import FakeTelegram
from tests.slack_support import SlackBot, start_one_line
from tests.test_engine import ScriptedSpeech, voice

USER = 4711
STRONG = (
    "In my last role our checkout service timed out under load before Black Friday. My task was to cut latency. "
    "I profiled the Python code, moved the hot queries to PostgreSQL indexes and added caching. As a result p95 "
    "latency dropped by 60 percent and we handled twice the traffic."
)


def png_width(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int(struct.unpack(">I", data[16:20])[0])


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, InterviewEngine]]:
    fake = FakeTelegram()
    await fake.start()
    engine = InterviewEngine(MemoryStore(), None)
    adapter = TelegramAdapter(
        engine, TelegramConfig(token=fake.token, api_base_url=fake.base_url, file_base_url=fake.file_base_url)
    )
    await adapter.open()
    await adapter.start()
    try:
        yield fake, engine
    finally:
        await adapter.stop()
        await fake.close()


async def send(fake: FakeTelegram, text: str, expect: str) -> str:
    before = len(fake.chat(USER))
    await fake.push(fake.text_update(USER, text))
    return (await fake.wait_for_text(USER, expect, after=before)).text


async def test_retake_fix_report_chart_and_progress_on_telegram(
    telegram: tuple[FakeTelegram, InterviewEngine],
) -> None:
    fake, engine = telegram
    await send(fake, "/interview Senior Backend Engineer at PayCo (FinTech)", "Question 1 of")
    await send(fake, "/retake", "nothing to retake yet")
    await send(fake, "I am not sure really", "Question 2 of")

    # /retake: question 1 again, then the comparison, then back to question 2.
    started = await send(fake, "/retake", "Question 1 again")
    assert "Your last attempt scored" in started
    before = len(fake.chat(USER))
    await fake.push(fake.text_update(USER, STRONG))
    compared = await fake.wait_for_text(USER, "Compared with attempt 1", after=before)
    assert "score" in compared.text and "→" in compared.text
    back = await fake.wait_for_text(USER, "Question 2 of", after=before)
    assert fake.chat(USER).index(back) > fake.chat(USER).index(compared)
    await send(fake, "/retake 9a", "no question 9a")

    # /fix: the last answer's transcript replaced and judged again.
    fixed = await send(fake, "/fix I led the move of our billing service to PostgreSQL", "corrected")
    assert f"You had typed: “{STRONG[:40]}" in fixed  # the last answer is the retake, not "I am not sure really"
    assert "now reads:\n“I led the move of our billing service to PostgreSQL”" in fixed
    session = await engine.get_session(User("telegram", str(USER)))
    assert session.answers[-1].corrected and session.answers[-1].original_text == STRONG

    # /end: the report's text, then its chart as a photo.
    await send(fake, "/end", "Interview ended")
    photo = await fake.wait_until(lambda: next(iter(fake.files(USER, "photo")), None))
    assert photo.text == "Your interview in a chart" and png_width(photo.data) >= 800
    assert fake.calls_of("sendPhoto")

    # /progress: the finished interview in words, and a trend chart.
    progress = await send(fake, "/progress", "Your progress over 1 interview")
    assert "Senior Backend Engineer at PayCo" in progress
    charts = await fake.wait_until(lambda: fake.files(USER, "photo")[1:] or None)
    assert charts[0].text == "Your progress over time" and png_width(charts[0].data) >= 800

    # /retake after the end: the finished interview reopens for one answer, then its report is brought up to date
    # and nothing more is asked.
    reopened = await send(fake, "/retake 1", "Question 1 again")
    assert "finished interview reopens for this one answer" in reopened
    before = len(fake.chat(USER))
    await fake.push(fake.text_update(USER, STRONG))
    await fake.wait_for_text(USER, "Compared with attempt 2", after=before)
    updated = await fake.wait_for_text(USER, "best of 3 attempts", after=before)
    assert "Overall score" in updated.text
    assert not any("Question 2 of" in m.text for m in fake.chat(USER)[before:])
    session = await engine.latest_session(User("telegram", str(USER)))
    assert (session.status, session.reopened) == ("ended", "")


async def test_fix_and_progress_before_any_answer_explain_themselves(
    telegram: tuple[FakeTelegram, InterviewEngine],
) -> None:
    fake, _ = telegram
    await send(fake, "/fix", "followed by what you actually said")
    await send(fake, "/progress", "No finished interview yet")


# ----- Slack ---------------------------------------------------------------------------------------------------


async def test_retake_fix_report_chart_and_progress_on_slack(tmp_path: Path) -> None:
    fake = FakeSlack()
    await fake.start()
    bot = await SlackBot(tmp_path, None, fake).start()
    user, channel = "UCAROL01", "DUCAROL01"
    try:
        thread_ts = await start_one_line(bot, user, "Senior Backend Engineer at PayCo (FinTech)")

        def said(text: str, after: int = 0) -> Any:
            return next((m for m in fake.thread(channel, thread_ts)[after:] if text in m["text"]), None)

        await bot.message(user, "I am not sure really", thread_ts=thread_ts)
        await fake.wait_for(lambda: said("Question 2 of"))
        _, name = await bot.command(user, "retake 1")
        started = await fake.wait_for(lambda: said("Question 1 again"))
        assert "Your last attempt scored" in started["text"]
        mark = len(fake.thread(channel, thread_ts))
        await bot.message(user, STRONG, thread_ts=thread_ts)
        compared = await fake.wait_for(lambda: said("Compared with attempt 1", mark))
        assert "score" in compared["text"] and "→" in compared["text"]
        assert "Compared with attempt 1" in block_text(compared["blocks"])  # what Slack shows, not only the fallback
        await fake.wait_for(lambda: said("Question 2 of", mark))

        await bot.command(user, "fix I led the move of our billing service to PostgreSQL")
        fixed = await fake.wait_for(lambda: said("corrected"))
        assert "now reads\n>I led the move of our billing service to PostgreSQL" in block_text(fixed["blocks"])

        await bot.command(user, "end")
        [chart] = await fake.wait_for(lambda: fake.uploaded)
        assert (chart["channel"], chart["thread_ts"]) == (channel, thread_ts)  # into the interview's thread
        assert chart["title"] == "Your interview in a chart" and png_width(chart["data"]) >= 800
        assert "files.getUploadURLExternal" in {c.method for c in fake.calls}  # files_upload_v2's first step

        _, name = await bot.command(user, "progress")
        answer = await fake.wait_for(lambda: fake.responses(name))
        assert "Your progress over 1 interview" in json.dumps(answer, ensure_ascii=False)
        trend = await fake.wait_for(lambda: fake.uploaded[1:])
        assert trend[0]["title"] == "Your progress over time" and png_width(trend[0]["data"]) >= 800
    finally:
        await bot.stop()
        await fake.close()


# ----- "did I hear you right?" ---------------------------------------------------------------------------------


class DoubtfulSpeech(ScriptedSpeech):
    """Scripted speech that is unsure of one word, as Vosk is of a word it barely matched."""

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        heard = await super().transcribe(audio, language)
        words = tuple(dataclasses.replace(w, conf=0.3) if w.word == "kubernetes" else w for w in heard.words)
        return dataclasses.replace(heard, words=words)


async def test_unsure_words_are_marked_in_the_transcript_with_how_to_correct_them(tmp_path: Path) -> None:
    engine = InterviewEngine(MemoryStore(), DoubtfulSpeech(), audio_dir=tmp_path)
    ada = User("telegram", "77", "Ada")
    await engine.start(ada, InterviewSpec("Backend Engineer", "PayCo", "FinTech"))
    result = await engine.answer_audio(ada, voice("we moved the payments service onto kubernetes last year"))
    words = Words(lambda name: f"/{name}", voice="voice note", where="this chat")
    shown = words.answer(result)
    assert "“we moved the payments service onto kubernetes(?) last year”" in shown
    assert "(?) = I wasn't sure of that word. Misheard? Send /fix and what you said." in shown
    fixed = await engine.correct(ada, "we moved the payments service onto Kubernetes last year")
    assert "(?)" not in words.answer(fixed)  # the candidate said what the word was
