"""A team interview in a Telegram group, through real python-telegram-bot against the fake Bot API, with several
members and real Vosk: /interview as a reply names the candidate, Start only for them, answers as replies to the
question (privacy mode), teammates' comments and 1-5 ratings edited into the answer's message, refusals as alerts,
the interviewer's /ask, and the reports in the group and in the candidate's private chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine import User, space_id
from tests import audio_fixtures
from tests.fake_telegram import BotMessage, FakeTelegram
from tests.test_telegram import Running, start_bot

pytestmark = pytest.mark.slow

GROUP = -100777
IVW, CAND, MATE = 6001, 6002, 6003


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def bot(tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram) -> AsyncIterator[Running]:
    running = await start_bot(tmp_path, vosk_transcriber, fake)
    yield running
    await running.stop()


def last(fake: FakeTelegram, part: str) -> BotMessage:
    return [m for m in fake.chat(GROUP) if part in m.text][-1]


async def test_a_team_interview_in_a_group(bot: Running, fake: FakeTelegram):
    hello = fake.group_update(CAND, GROUP, text="I'm up for a mock interview!")
    await fake.push(hello)
    await fake.push(fake.group_update(IVW, GROUP, reply_to=hello, text="/interview Backend Engineer at TechCorp"))
    invite = await fake.wait_for_text(GROUP, "Team mock interview for User6002")
    assert "Everyone here can see this interview" in invite.text

    await fake.push(fake.press_update(MATE, invite, invite.button_data("Start")))
    await fake.wait_until(lambda: fake.alerts)
    assert fake.alerts[0]["show_alert"] and "Only the candidate" in fake.alerts[0]["text"]
    await fake.push(fake.press_update(CAND, invite, invite.button_data("Start")))
    question = await fake.wait_for_text(GROUP, "Question 1 of")
    assert "accepted" in invite.text and {"⏭ Skip", "🗣 Ask my own question", "⏹ End"} <= {
        b["text"] for b in question.buttons
    }

    # The candidate answers with a voice note replying to the question; a teammate comments by replying too.
    wav = audio_fixtures.speech_wav(audio_fixtures.KO_PHRASE)
    voice = fake.voice_update(CAND, audio_fixtures.encode(wav, "ogg_opus"))
    voice["message"]["chat"] = {"id": GROUP, "type": "supergroup", "title": "Team"}
    await fake.push(voice)
    await fake.wait_for_text(GROUP, "Question 2 of")
    answer = last(fake, "I heard")
    assert "안녕하세요" in answer.text and "Team: no ratings yet" in answer.text
    await fake.push(fake.group_update(MATE, GROUP, reply_to=answer, text="Good energy, add numbers."))

    # Ratings with the 1-5 buttons: the count and average edited into the same message; the candidate refused.
    await fake.push(fake.press_update(MATE, answer, answer.button_data("4")))
    await fake.wait_until(lambda: "1 rating, average 4.0/5" in answer.text)
    await fake.push(fake.press_update(IVW, answer, answer.button_data("2")))
    await fake.wait_until(lambda: "2 ratings, average 3.0/5" in answer.text)
    await fake.push(fake.press_update(CAND, answer, answer.button_data("5")))
    await fake.wait_until(lambda: any("own answer" in a["text"] for a in fake.alerts))
    assert "2 ratings, average 3.0/5" in answer.text

    # The interviewer asks their own question; a teammate may not.
    await fake.push(fake.group_update(MATE, GROUP, text="/ask What is your favourite bug?"))
    await fake.wait_until(lambda: any("Only the interviewer" in t for t in fake.texts(GROUP)))
    await fake.push(fake.group_update(IVW, GROUP, text="/ask How do you debug a flaky test?"))
    own = await fake.wait_for_text(GROUP, "flaky test")
    await fake.push(fake.group_update(CAND, GROUP, reply_to=own, text="I rerun it with logging and bisect."))
    await fake.wait_for_text(GROUP, "Typed answer received")

    await fake.push(fake.press_update(IVW, last(fake, "❓"), last(fake, "❓").button_data("End")))
    team = await fake.wait_for_text(GROUP, "Team ratings")
    assert "the team 3.0/5 (2)" in team.text and "Good energy, add numbers." in team.text
    private = await fake.wait_for_text(CAND, "Your full report from the team interview")
    assert "Team ratings" in private.text and "Overall score" in private.text
    session = await bot.engine.latest_session(User("telegram", space_id(GROUP)))
    assert session.status == "ended" and session.team is not None and len(session.team.comments) == 1
