"""A team interview in a Telegram group, through real python-telegram-bot against the fake Bot API, with several
members and real Vosk: /interview as a reply names the candidate, Start only for them, answers as replies to the
question (privacy mode), teammates' comments and 1-5 ratings edited into the answer's message, refusals as alerts,
the interviewer's own question by replying to the bot's prompt or with /ask, the reports in the group and in the
candidate's private chat (or a button to open one), one interview per group and one per forum topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine import User, errors, space_id
from tests import audio_fixtures
from tests.fake_telegram import BotMessage, FakeTelegram
from tests.test_telegram import GatedTranscriber, Running, crash_mid_answer, start_bot

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


async def first_answer_rated(fake: FakeTelegram, text: str, score: int) -> tuple[BotMessage, BotMessage]:
    """The interviewer starts one for the candidate (by replying to them), who accepts and answers question 1 with
    `text` as a reply; a teammate rates it `score`. Returns the invitation and the answer's message."""
    hello = fake.group_update(CAND, GROUP, text="Interview me")
    await fake.push(hello)
    await fake.push(fake.group_update(IVW, GROUP, reply_to=hello, text="/interview Backend Engineer at TechCorp"))
    invite = await fake.wait_for_text(GROUP, "Team mock interview for User6002")
    await fake.push(fake.press_update(CAND, invite, invite.button_data("Start")))
    question = await fake.wait_for_text(GROUP, "Question 1 of")
    await fake.push(fake.group_update(CAND, GROUP, reply_to=question, text=text))
    answer = await fake.wait_for_text(GROUP, "Typed answer received")
    await fake.push(fake.press_update(MATE, answer, answer.button_data(str(score))))
    await fake.wait_until(lambda: "1 rating" in answer.text)
    return invite, answer


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
    assert question.reply_to == invite.message_id  # the interview's messages reply under its invitation

    # The candidate answers with a voice note replying to the question; a teammate comments by replying too.
    wav = audio_fixtures.speech_wav(audio_fixtures.KO_PHRASE)
    voice = fake.voice_update(CAND, audio_fixtures.encode(wav, "ogg_opus"))
    voice["message"]["chat"] = {"id": GROUP, "type": "supergroup", "title": "Team"}
    await fake.push(voice)
    await fake.wait_for_text(GROUP, "Question 2 of")
    answer = last(fake, "I heard")
    assert "안녕하세요" in answer.text and "Team on answer 1: no ratings yet" in answer.text
    await fake.push(fake.group_update(MATE, GROUP, reply_to=answer, text="Good energy, add numbers."))

    # Ratings with the 1-5 buttons: the count and average edited into the same message; the candidate refused.
    await fake.push(fake.press_update(MATE, answer, answer.button_data("4")))
    await fake.wait_until(lambda: "1 rating, average 4.0/5" in answer.text)
    await fake.push(fake.press_update(IVW, answer, answer.button_data("2")))
    await fake.wait_until(lambda: "2 ratings, average 3.0/5" in answer.text)
    await fake.push(fake.press_update(CAND, answer, answer.button_data("5")))
    await fake.wait_until(lambda: any("own answer" in a["text"] for a in fake.alerts))
    assert "2 ratings, average 3.0/5" in answer.text

    # The interviewer asks their own question by replying to the bot's prompt; a teammate may not ask.
    await fake.push(fake.group_update(MATE, GROUP, text="/ask What is your favourite bug?"))
    await fake.wait_until(lambda: any("Only the interviewer" in t for t in fake.texts(GROUP)))
    current = last(fake, "❓")
    await fake.push(fake.press_update(MATE, current, current.button_data("Ask my own question")))
    await fake.wait_until(lambda: any("Only the interviewer" in a["text"] for a in fake.alerts))
    await fake.push(fake.press_update(IVW, current, current.button_data("Ask my own question")))
    prompt = await fake.wait_for_text(GROUP, "Your own question, User6001")
    await fake.push(fake.group_update(MATE, GROUP, reply_to=prompt, text="What is your favourite bug?"))
    await fake.push(fake.group_update(IVW, GROUP, reply_to=prompt, text="How do you debug a flaky test?"))
    own = await fake.wait_for_text(GROUP, "flaky test")
    assert own.reply_to == invite.message_id and "interviewer's own" in own.text
    assert not any("favourite bug" in t for t in fake.texts(GROUP))  # a teammate's reply there is a comment
    await fake.push(fake.group_update(CAND, GROUP, reply_to=own, text="I rerun it with logging and bisect."))
    second = await fake.wait_for_text(GROUP, "Typed answer received")
    assert "Team on answer 2: no ratings yet" in second.text

    # A teammate's reply to the first answer's message, after the second answer: a comment on the first.
    await fake.push(fake.group_update(MATE, GROUP, reply_to=answer, text="Looking back, a strong opening."))
    await fake.push(fake.press_update(IVW, last(fake, "❓"), last(fake, "❓").button_data("End")))
    team = await fake.wait_for_text(GROUP, "Team ratings")
    assert "the team 3.0/5 (2)" in team.text and "Good energy, add numbers." in team.text
    chart = await fake.wait_until(lambda: next(iter(fake.files(GROUP, "photo")), None))
    assert chart.text == "Your interview in a chart" and chart.reply_to == invite.message_id
    first_line, second_line = team.text.index("\n1. "), team.text.index("\n2. ")
    assert first_line < team.text.index("Looking back, a strong opening.") < second_line
    private = await fake.wait_for_text(CAND, "Your full report from the team interview")
    assert "Team ratings" in private.text and "Overall score" in private.text
    # Practising on their own since, the candidate still reads the team interview's report with /report team.
    await fake.push(fake.text_update(CAND, "/interview Designer at Studio"))
    await fake.wait_for_text(CAND, "Question 1 of")
    before = len(fake.chat(CAND))
    await fake.push(fake.text_update(CAND, "/report team"))
    again = await fake.wait_for_text(CAND, "Your full report from the team interview", after=before)
    assert "the team 3.0/5 (2)" in again.text
    session = await bot.engine.latest_session(User("telegram", space_id(GROUP)))
    assert session.status == "ended" and session.team is not None and len(session.team.comments) == 3
    assert [q.text for q in session.questions].count("How do you debug a flaky test?") == 1


async def test_the_interviewers_ask_command_and_one_interview_at_a_time_per_place(bot: Running, fake: FakeTelegram):
    await fake.push(fake.group_update(CAND, GROUP, text="/interview Backend Engineer at TechCorp"))
    invite = await fake.wait_for_text(GROUP, "Team mock interview for User6002")
    await fake.push(fake.group_update(IVW, GROUP, text="/interview Designer at Studio"))
    refused = await fake.wait_for_text(GROUP, "already running here")
    assert len([m for m in fake.chat(GROUP) if "Team mock interview" in m.text]) == 1 and refused.reply_to

    # /end before the invitation is accepted: it is called off, with no report, and the group is free again.
    await fake.push(fake.group_update(MATE, GROUP, text="/end"))
    await fake.wait_until(lambda: any("Only the candidate" in t for t in fake.texts(GROUP)))
    await fake.push(fake.group_update(CAND, GROUP, text="/end"))
    await fake.wait_for_text(GROUP, "would rather not right now")
    assert not any("Team ratings" in t for t in fake.texts(GROUP))
    await fake.push(fake.group_update(CAND, GROUP, text="/interview Backend Engineer at TechCorp"))
    invite = await fake.wait_until(lambda: [m for m in fake.chat(GROUP) if "Team mock interview" in m.text][1:])
    invite = invite[0]

    # Each topic of a forum group is a place of its own: an interview there runs beside the group's.
    await fake.push(fake.group_update(MATE, GROUP, topic=77, text="/interview Data Analyst at Numbers"))
    other = await fake.wait_for_text(GROUP, "Team mock interview for User6003")
    assert other.topic == 77 and invite.topic is None
    await fake.push(fake.press_update(MATE, other, other.button_data("Start")))
    asked = await fake.wait_for_text(GROUP, "Question 1 of")
    assert asked.topic == 77 and asked.reply_to == other.message_id
    await fake.push(fake.press_update(CAND, invite, invite.button_data("Start")))
    await fake.wait_until(lambda: len([m for m in fake.chat(GROUP) if "Question 1 of" in m.text]) == 2)
    first = next(m for m in fake.chat(GROUP) if "Question 1 of" in m.text and m.topic is None)

    # The candidate runs it alone: /ask is the interviewer's, and there is none; /skip moves on in its place only.
    await fake.push(fake.group_update(CAND, GROUP, text="/ask Anything?"))
    await fake.wait_until(lambda: any("Only the interviewer" in t for t in fake.texts(GROUP)))
    await fake.push(fake.group_update(CAND, GROUP, reply_to=first, text="/skip"))
    skipped = await fake.wait_for_text(GROUP, "Skipped question 1")
    assert skipped.topic is None
    group = await bot.engine.get_session(User("telegram", space_id(GROUP)))
    topic = await bot.engine.get_session(User("telegram", space_id(GROUP, 77)))
    assert (group.position, topic.position) == (1, 0) and topic.team is not None and topic.team.candidate == "6003"


async def test_a_candidate_without_a_private_chat_gets_a_button_to_open_one_for_the_report(
    bot: Running, fake: FakeTelegram
):
    fake.unstarted.add(CAND)  # never opened a private chat with the bot: Telegram refuses to write to them
    invite, _ = await first_answer_rated(fake, "I led the migration to Postgres.", 5)
    await fake.push(fake.press_update(IVW, last(fake, "❓"), last(fake, "❓").button_data("End")))

    missed = await fake.wait_for_text(GROUP, "couldn't send you your full report privately")
    assert missed.reply_to == invite.message_id
    (button,) = missed.buttons
    assert button["url"] == "https://t.me/interview_coach_bot?start=teamreport"
    assert not fake.chat(CAND)

    # The button opens the private chat with /start teamreport: the report arrives there.
    fake.unstarted.clear()
    await fake.push(fake.message_update(CAND, text="/start teamreport"))
    private = await fake.wait_for_text(CAND, "Your full report from the team interview")
    assert "Team ratings" in private.text and "the team 5.0/5 (1)" in private.text


async def test_commands_in_a_group_without_an_interview_and_commands_for_another_bot(bot: Running, fake: FakeTelegram):
    await fake.push(fake.group_update(MATE, GROUP, text="/help"))
    told = await fake.wait_for_text(GROUP, "No interview is running here")
    assert "reply to a member's message with /interview" in told.text and told.reply_to is not None

    # A group with two bots: a command addressed to the other one is left alone; one addressed to us is ours.
    await fake.push(fake.group_update(MATE, GROUP, text="/interview@other_bot Designer at Studio"))
    await fake.push(fake.group_update(MATE, GROUP, text="/interview@interview_coach_bot Backend Engineer at TechCorp"))
    invite = await fake.wait_for_text(GROUP, "Team mock interview for User6003")
    assert "Backend Engineer" in invite.text
    assert not any("Designer" in text for text in fake.texts(GROUP))


async def test_the_bot_added_to_a_group_says_hello_once_and_how_team_interviews_run(bot: Running, fake: FakeTelegram):
    await fake.push(fake.membership_update(IVW, GROUP, "left", "member"))
    hello = await fake.wait_for_text(GROUP, "Hi! I run mock interviews")
    assert "reply to a member's message with /interview" in hello.text and "replying to my question" in hello.text
    # Made an admin, or removed: no more hellos.
    await fake.push(fake.membership_update(IVW, GROUP, "member", "administrator"))
    await fake.push(fake.membership_update(IVW, GROUP, "administrator", "left"))
    await fake.push(fake.group_update(IVW, GROUP, text="/help"))
    await fake.wait_for_text(GROUP, "No interview is running here")
    assert len([t for t in fake.texts(GROUP) if "Hi! I run" in t]) == 1
    # Groups get a command menu of their own: what works there; private chats keep theirs.
    menus = {(c.params.get("scope") or {}).get("type"): c.params["commands"] for c in fake.calls_of("setMyCommands")}
    assert [c["command"] for c in menus["all_group_chats"]] == [
        "interview", "ask", "skip", "repeat", "retry", "end", "help",
    ]  # fmt: skip
    private = [c["command"] for c in menus[None]]
    assert "forget" in private and "progress" in private and "ask" not in private


async def test_a_team_voice_answer_a_restart_interrupted_is_delivered_in_the_group_as_a_team_answer(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram, voice_ogg: bytes
):
    gated = GatedTranscriber(vosk_transcriber)
    first = await start_bot(tmp_path, gated, fake)
    await fake.push(fake.group_update(CAND, GROUP, text="/interview Backend Engineer at TechCorp"))
    invite = await fake.wait_for_text(GROUP, "Team mock interview for User6002")
    await fake.push(fake.press_update(CAND, invite, invite.button_data("Start")))
    await fake.wait_for_text(GROUP, "Question 1 of")
    await first.adapter.stop()

    await crash_mid_answer(first, gated, User("telegram", space_id(GROUP)), voice_ogg)  # the candidate's answer

    before = len(fake.chat(GROUP))
    second = await start_bot(tmp_path, vosk_transcriber, fake)
    try:
        recovered = await fake.wait_for_text(GROUP, "before I restarted", after=before)
        assert "안녕하세요" in recovered.text and "Team on answer 1: no ratings yet" in recovered.text
        assert [b["text"] for b in recovered.buttons] == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]
        assert recovered.reply_to == invite.message_id
        question = await fake.wait_for_text(GROUP, "Question 2 of", after=before)
        assert {"⏭ Skip", "⏹ End"} <= {b["text"] for b in question.buttons} and question.reply_to == invite.message_id
        await fake.push(fake.press_update(MATE, recovered, recovered.button_data("3")))
        await fake.wait_until(lambda: "1 rating, average 3.0/5" in recovered.text)
    finally:
        await second.stop()


class FailingOnce:
    """The real Vosk transcriber, whose first job fails (the recogniser crashed): the recording is kept for /retry."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.failed = False

    def transcribe(self, pcm: Any, language: str, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise RuntimeError("recogniser crashed")
        return self._real.transcribe(pcm, language, **kwargs)

    def languages(self) -> list[str]:
        return self._real.languages()

    def has_language(self, language: str) -> bool:
        return self._real.has_language(language)


async def test_the_candidate_retries_a_failed_voice_answer_in_the_group(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram, voice_ogg: bytes
):
    running = await start_bot(tmp_path, FailingOnce(vosk_transcriber), fake)
    try:
        await fake.push(fake.group_update(CAND, GROUP, text="/interview Backend Engineer at TechCorp"))
        invite = await fake.wait_for_text(GROUP, "Team mock interview for User6002")
        await fake.push(fake.press_update(CAND, invite, invite.button_data("Start")))
        question = await fake.wait_for_text(GROUP, "Question 1 of")
        voice = fake.voice_update(CAND, voice_ogg)
        voice["message"].update(chat={"id": GROUP, "type": "supergroup", "title": "Team"}, reply_to_message=None)
        await fake.push(voice)
        failed = await fake.wait_for_text(GROUP, "Speech recognition failed")
        assert "/retry" in failed.text
        await fake.push(fake.group_update(MATE, GROUP, reply_to=question, text="/retry"))  # not theirs to retry
        await fake.push(fake.group_update(CAND, GROUP, reply_to=question, text="/retry"))
        answer = await fake.wait_for_text(GROUP, "I heard")
        assert "안녕하세요" in answer.text and "Team on answer 1: no ratings yet" in answer.text
        await fake.wait_for_text(GROUP, "Question 2 of")
        session = await running.engine.get_session(User("telegram", space_id(GROUP)))
        assert [a.source for a in session.answers] == ["voice"] and session.pending_count == 0
    finally:
        await running.stop()


async def test_group_chatter_with_no_interview_running_is_never_kept(bot: Running, fake: FakeTelegram):
    chatter = fake.group_update(MATE, GROUP, text="Lunch at noon?")
    voice = fake.group_update(MATE, GROUP, text="")
    voice["message"].pop("text")
    voice["message"]["voice"] = {"file_id": "unused", "file_unique_id": "u1", "duration": 1, "mime_type": "audio/ogg"}
    await fake.push(chatter, voice, fake.group_update(MATE, GROUP, text="/help"))
    await fake.wait_for_text(GROUP, "No interview is running here")
    # Never in the inbox, never downloaded: a first delivery still, for all the bot knows.
    for update in (chatter, voice):
        assert await bot.engine.first_delivery("telegram", str(update["update_id"]))
    assert fake.downloads == [] and await bot.engine.inbox_pending("telegram") == []


async def test_a_group_upgraded_to_a_supergroup_takes_its_running_interview_along(bot: Running, fake: FakeTelegram):
    new_group = -1001234567
    await first_answer_rated(fake, "I led the move to PostgreSQL.", 4)

    # Made an admin, the bot's group became a supergroup: Telegram says so in both chats.
    await fake.push(
        fake.group_update(IVW, GROUP, migrate_to_chat_id=new_group),
        fake.group_update(IVW, new_group, migrate_from_chat_id=GROUP),
    )
    await fake.wait_for_text(new_group, "carries on here")
    asked = await fake.wait_for_text(new_group, "Question 2 of")
    assert {"⏭ Skip", "🗣 Ask my own question", "⏹ End"} <= {b["text"] for b in asked.buttons}
    assert len([m for m in fake.chat(new_group) if "carries on here" in m.text]) == 1  # moved once
    await fake.push(fake.group_update(CAND, new_group, reply_to=asked, text="I mentor two juniors every week."))
    await fake.wait_for_text(new_group, "Typed answer received")
    moved = await bot.engine.get_session(User("telegram", space_id(new_group)))
    assert [a.text for a in moved.answers] == ["I led the move to PostgreSQL.", "I mentor two juniors every week."]
    assert moved.team is not None and [(r.rater, r.overall) for r in moved.team.ratings] == [(str(MATE), 4.0)]
    with pytest.raises(errors.SessionNotFound):
        await bot.engine.get_session(User("telegram", space_id(GROUP)))
