"""The Slack adapter through real slack-bolt and slack-sdk: signed requests in, a fake Web API out, real Vosk."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import EVENTS_PATH, SlackAdapter, SlackConfig
from engine import errors
from engine.speech import Transcriber
from engine.types import InterviewSpec, User
from tests import audio_fixtures
from tests.engine_support import build_engine
from tests.fake_slack import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    FakeSlack,
    block_text,
    command_body,
    command_payload,
    sign,
)
from tests.slack_support import ADMIN, FORM, SlackBot, start_one_line

pytestmark = pytest.mark.slow

ALICE = "UALICE01"
BOB = "UBOB0001"


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    wav = audio_fixtures.speech_wav(audio_fixtures.KO_PHRASE)
    return {"ogg": audio_fixtures.encode(wav, "ogg_opus"), "mp4": audio_fixtures.encode(wav, "mp4_aac")}


# ----- the whole interview ---------------------------------------------------------------------------------------


async def test_whole_interview_from_modal_through_voice_clips_to_the_report(bot: SlackBot, speech: dict[str, bytes]):
    fake = bot.fake
    response, _ = await bot.command(ALICE, "")
    assert await response.text() == ""  # acked with nothing to show: the modal opens instead
    opened = await fake.wait_for(lambda: fake.calls_to("views.open"))
    view = opened[0].args["view"]
    rounds = next(b for b in view["blocks"] if b.get("block_id") == "round")
    assert [o["value"] for o in rounds["element"]["options"]] == ["full", "screening", "behavioral", "technical"]

    values = {
        "role": {"value": {"type": "plain_text_input", "value": "Data Engineer"}},
        "company": {"value": {"type": "plain_text_input", "value": "Acme Analytics"}},
        "industry": {"value": {"type": "plain_text_input", "value": "Fintech"}},
        "round": {"value": {"type": "static_select", "selected_option": {"value": "screening"}}},
        "cv": {"value": {"type": "plain_text_input", "value": "Five years of Python, Spark and Airflow."}},
        "jd": {"value": {"type": "plain_text_input", "value": None}},
    }
    submitted = await bot.interact(
        {
            "type": "view_submission",
            "user": {"id": ALICE, "username": "alice", "name": "alice"},
            "trigger_id": "trigger-submit",
            "view": {**view, "id": "V0000001", "state": {"values": values}},
        }
    )
    assert submitted.status == 200 and await submitted.text() == ""  # the modal closes

    channel = "D" + ALICE
    await fake.wait_for(lambda: fake.calls_to("conversations.open"))
    parents = await fake.wait_for(lambda: fake.top_level(channel))
    thread_ts = parents[0]["ts"]
    assert "Data Engineer" in parents[0]["text"] and "Acme Analytics" in parents[0]["text"]
    first = await fake.wait_for(lambda: [m for m in fake.thread(channel, thread_ts) if "Question 1 of 4" in m["text"]])
    assert "/interview skip skips the question" in block_text(first[0]["blocks"])  # the answer hint

    # Question 1: an OGG/Opus voice clip; question 2: an mp4/AAC Slack audio clip.
    clips = [
        ("F0000001", speech["ogg"], "audio/ogg", "voice.ogg"),
        ("F0000002", speech["mp4"], "audio/mp4", "clip.mp4"),
    ]
    for number, (file_id, data, mimetype, name) in enumerate(clips, start=1):
        await bot.message(ALICE, thread_ts=thread_ts, files=[fake.add_file(file_id, data, mimetype, name)])
        await fake.wait_for(
            lambda n=number: any(f"Question {n + 1} of 4" in m["text"] for m in fake.thread(channel, thread_ts))
        )
        reply = next(m for m in fake.thread(channel, thread_ts) if f"Answer {number} of 4" in block_text(m["blocks"]))
        assert "안녕하세요" in block_text(reply["blocks"])  # the transcript
        assert "Score:" in block_text(reply["blocks"])  # and the feedback
    assert fake.downloads == [("F0000001", True), ("F0000002", True)]

    # Questions 3 and 4: typed answers; the last one brings the report.
    await bot.message(ALICE, "I built a streaming pipeline with Spark and cut costs by a third.", thread_ts=thread_ts)
    await fake.wait_for(lambda: any("Question 4 of 4" in m["text"] for m in fake.thread(channel, thread_ts)))
    await bot.message(ALICE, "Thank you, I am excited about the data platform team.", thread_ts=thread_ts)
    report = await fake.wait_for(
        lambda: [m for m in fake.thread(channel, thread_ts) if m["blocks"] and m["blocks"][0]["type"] == "header"]
    )
    blocks = report[0]["blocks"]
    assert blocks[0]["text"]["text"] == "📋 Interview report"
    shown = block_text(blocks)
    assert "Overall score" in shown and "Answered*\n4 of 4" in shown
    per_question = [
        f["text"] for b in blocks for f in b.get("fields", []) if f["text"][:3] in ("*1.", "*2.", "*3.", "*4.")
    ]
    assert len(per_question) == 4 and "🎙" in per_question[0] and "✍️" in per_question[3]

    session = await bot.engine.latest_session(User("slack", ALICE))
    assert session.status == "completed"
    assert [a.source for a in session.answers] == ["voice", "voice", "text", "text"]
    assert session.spec.industry == "Fintech" and session.spec.round_type == "screening"
    assert session.route == {"channel": channel, "thread_ts": thread_ts}


async def test_the_modal_refuses_a_blank_role_and_starts_nothing(bot: SlackBot):
    values = {
        "role": {"value": {"type": "plain_text_input", "value": "   "}},
        "company": {"value": {"type": "plain_text_input", "value": "Acme"}},
        "round": {"value": {"type": "static_select", "selected_option": {"value": "full"}}},
    }
    response = await bot.interact(
        {
            "type": "view_submission",
            "user": {"id": ALICE, "username": "alice"},
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": "interview_setup",
                "private_metadata": "",
                "state": {"values": values},
            },
        }
    )
    answer = await response.json()
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"role"}
    await bot.adapter.stop()
    assert bot.fake.posted == {}
    with pytest.raises(errors.SessionNotFound):
        await bot.engine.latest_session(User("slack", ALICE))


async def test_interview_subcommands(bot: SlackBot):
    channel = "D" + ALICE
    thread_ts = await start_one_line(bot, ALICE, "Site Reliability Engineer at Hooli (Cloud)")

    async def run(text: str) -> dict[str, Any]:
        _, name = await bot.command(ALICE, text)
        return (await bot.fake.wait_for(lambda: bot.fake.responses(name)))[0]

    status = await run("status")
    assert "Site Reliability Engineer at Hooli (Cloud)" in status["text"] and "/interview repeat" in status["text"]
    assert "next step is in our interview thread" in (await run("skip"))["text"]
    in_thread = bot.fake.thread(channel, thread_ts)
    assert any("Skipped question 1" in m["text"] for m in in_thread)
    assert any("Question 2 of" in m["text"] for m in in_thread)
    assert "Question 2 is waiting" in (await run("repeat"))["text"]
    assert "report is in our interview thread" in (await run("end"))["text"]
    report = [m for m in bot.fake.thread(channel, thread_ts) if m["blocks"] and m["blocks"][0]["type"] == "header"]
    assert len(report) == 1 and "ended early" in block_text(report[0]["blocks"])
    assert "report is in our interview thread" in (await run("report"))["text"]
    assert "There's no interview running" in (await run("skip"))["text"]
    assert "/interview status" in (await run("help"))["text"]


# ----- admin view ---------------------------------------------------------------------------------------------


async def test_sessions_is_for_admins_only(bot: SlackBot):
    await start_one_line(bot, BOB)

    response, name = await bot.command(ADMIN, "", command="/sessions")
    shown = (await bot.fake.wait_for(lambda: bot.fake.responses(name)))[0]
    assert shown["response_type"] == "ephemeral"
    assert "Active interviews" in shown["text"] and BOB in shown["text"] and "Senior Backend Engineer" in shown["text"]

    response, name = await bot.command(ALICE, "all", command="/sessions")
    refusal = await response.text()  # Slack shows a plain-text command response to the invoker only
    assert refusal == "Sorry, /sessions is only for the bot's admins."
    assert BOB not in refusal and "TechCorp" not in refusal and "interview" not in refusal.lower()
    await bot.adapter.stop()  # let any work finish: the refusal must be all Alice ever sees
    assert bot.fake.responses(name) == []


async def test_the_admin_view_pages_with_buttons(bot: SlackBot):
    for n in range(12):
        await bot.engine.start(User("slack", f"UCAND{n:04d}", f"cand{n}"), InterviewSpec("QA Engineer", "Acme", "IT"))
    _, name = await bot.command(ADMIN, "", command="/sessions")
    first = (await bot.fake.wait_for(lambda: bot.fake.responses(name)))[0]
    assert first["text"].startswith("Active interviews (1-10 of 12):") and first["blocks"][0]["type"] == "header"
    clicked = await bot.click(ADMIN, first["blocks"], "Next")
    second = (await bot.fake.wait_for(lambda: bot.fake.responses(clicked)))[0]
    assert second["replace_original"] is True and second["text"].startswith("Active interviews (11-12 of 12):")
    assert [e["text"]["text"] for b in second["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "◀️ Previous"
    ]


# ----- signatures and retries -------------------------------------------------------------------------------------


async def test_bad_signatures_and_stale_timestamps_are_rejected(bot: SlackBot):
    body = command_body("/interview", "help", user_id=ALICE, channel_id="DX", response_url=bot.fake.response_url("x"))
    forged = {"Content-Type": FORM, **sign(body, secret="not-the-secret")}
    assert (await bot.client.post(EVENTS_PATH, data=body, headers=forged)).status == 401
    old = {"Content-Type": FORM, **sign(body, timestamp=int(time.time()) - 6 * 60)}
    assert (await bot.client.post(EVENTS_PATH, data=body, headers=old)).status == 401
    unsigned = {"Content-Type": FORM}
    assert (await bot.client.post(EVENTS_PATH, data=body, headers=unsigned)).status == 401
    # What Slack sends when the Request URL is pasted: correctly signed, it gets the challenge back.
    challenge = json.dumps({"type": "url_verification", "token": "unused", "challenge": "c0ffee"})
    verified = await bot.post(challenge, "application/json")
    assert verified.status == 200 and (await verified.json())["challenge"] == "c0ffee"
    await bot.adapter.stop()
    assert bot.fake.responses("x") == []


async def test_requests_before_start_are_acked_at_once_and_handled_once_started(
    tmp_path: Path, vosk_transcriber: Transcriber, fake: FakeSlack
):
    bot = await SlackBot(tmp_path, vosk_transcriber, fake).start(take_in=False)
    try:
        response, name = await bot.command(ALICE, "help")  # the server is up before the adapter starts
        assert await response.text() == ""
        await asyncio.sleep(0.3)
        assert fake.responses(name) == []  # acked, but nothing is handled before start()
        await bot.adapter.start()
        assert "/interview status" in (await fake.wait_for(lambda: fake.responses(name)))[0]["text"]
    finally:
        await bot.stop()


async def test_a_retried_event_is_answered_once(bot: SlackBot):
    thread_ts = await start_one_line(bot, ALICE)
    answer = "I led the migration of our billing service to Python and Postgres."
    await bot.message(ALICE, answer, thread_ts=thread_ts, event_id="EvRETRY01")
    await bot.message(
        ALICE, answer, thread_ts=thread_ts, event_id="EvRETRY01",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )  # fmt: skip
    await bot.fake.wait_for(lambda: any("Question 2 of" in m["text"] for m in bot.fake.thread("D" + ALICE, thread_ts)))
    await bot.adapter.stop()  # every acked delivery has been dealt with

    session = await bot.engine.get_session(User("slack", ALICE))
    assert len(session.answers) == 1 and session.position == 1
    feedback = [m for m in bot.fake.thread("D" + ALICE, thread_ts) if "Answer 1 of" in block_text(m["blocks"])]
    assert len(feedback) == 1


# ----- audio that cannot be used -----------------------------------------------------------------------------------


async def test_broken_audio_gets_a_friendly_reply_and_the_question_stays_open(bot: SlackBot):
    thread_ts = await start_one_line(bot, ALICE)
    user = User("slack", ALICE)
    first = await bot.engine.current_question(user)
    broken = bot.fake.add_file("F0000BAD", b"this is not audio at all " * 200, "audio/ogg", "voice.ogg")
    await bot.message(ALICE, thread_ts=thread_ts, files=[broken])
    reply = await bot.fake.wait_for(
        lambda: [m for m in bot.fake.thread("D" + ALICE, thread_ts) if "question is still open" in m["text"]]
    )
    assert "couldn't read that audio" in reply[0]["text"]
    assert await bot.engine.current_question(user) == first

    await bot.message(ALICE, "Then let me type it: I have five years of backend work.", thread_ts=thread_ts)
    await bot.fake.wait_for(lambda: any("Question 2 of" in m["text"] for m in bot.fake.thread("D" + ALICE, thread_ts)))
    session = await bot.engine.get_session(user)
    assert [(a.index, a.question, a.source) for a in session.answers] == [(0, first, "text")]


async def test_oversized_files_are_refused_without_downloading(
    tmp_path: Path, vosk_transcriber: Transcriber, fake: FakeSlack, speech: dict[str, bytes]
):
    bot = await SlackBot(tmp_path, vosk_transcriber, fake, max_audio_bytes=1024 * 1024).start()
    try:
        thread_ts = await start_one_line(bot, ALICE)
        big = fake.add_file("F000BIG1", speech["ogg"], "audio/ogg", "long.ogg", size=25 * 1024 * 1024)
        await bot.message(ALICE, thread_ts=thread_ts, files=[big])
        reply = await fake.wait_for(
            lambda: [m for m in fake.thread("D" + ALICE, thread_ts) if "That file is" in m["text"]]
        )
        assert "That file is 25.0 MB; I can take files up to 1 MB." in reply[0]["text"]
        assert "the question is still open" in reply[0]["text"]
        assert fake.downloads == []
        assert (await bot.engine.get_session(User("slack", ALICE))).position == 0
    finally:
        await bot.stop()


async def test_a_file_linked_outside_slack_never_gets_the_bot_token(bot: SlackBot, speech: dict[str, bytes]):
    """A files[] entry whose link points at another server (here: the same machine, another port) is refused
    before any request, so that server never sees the bot token; the candidate is asked to send it again."""
    other = FakeSlack()
    await other.start()
    try:
        thread_ts = await start_one_line(bot, ALICE)
        elsewhere = other.add_file("F0000EVL", speech["ogg"], "audio/ogg", "voice.ogg")
        await bot.message(ALICE, thread_ts=thread_ts, files=[elsewhere])
        reply = await bot.fake.wait_for(
            lambda: [m for m in bot.fake.thread("D" + ALICE, thread_ts) if "couldn't download" in m["text"]]
        )
        assert "I couldn't download that file from Slack" in reply[0]["text"]
        assert other.downloads == [] and bot.fake.downloads == []
        assert (await bot.engine.get_session(User("slack", ALICE))).position == 0
    finally:
        await other.close()


# ----- restarts --------------------------------------------------------------------------------------------------


class GatedTranscriber:
    """The real transcriber, held at a gate: lets a test 'crash' the bot while an answer is being heard."""

    def __init__(self, inner: Transcriber) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        self.release.wait(30)
        return self.inner.transcribe(*args, **kwargs)

    def languages(self) -> list[str]:
        return self.inner.languages()

    def has_language(self, language: str) -> bool:
        return self.inner.has_language(language)


async def test_past_three_voice_answers_in_flight_the_next_is_refused_and_others_are_not_held_up(
    tmp_path: Path, vosk_transcriber: Transcriber, fake: FakeSlack, speech: dict[str, bytes]
):
    gated = GatedTranscriber(vosk_transcriber)
    bot = await SlackBot(tmp_path, gated, fake, workers=1).start()
    try:
        thread_ts = await start_one_line(bot, ALICE)
        await start_one_line(bot, BOB)
        for n in range(6):
            clip = fake.add_file(f"F00000Q{n}", speech["ogg"], "audio/ogg", f"a{n}.ogg")
            await bot.message(ALICE, thread_ts=thread_ts, files=[clip])
        assert await asyncio.to_thread(gated.entered.wait, 30)

        def refusals() -> list[dict[str, Any]]:
            return [m for m in fake.thread("D" + ALICE, thread_ts) if "3 voice answers waiting" in m["text"]]

        refused = await fake.wait_for(lambda: len(refusals()) == 3 and refusals())
        assert "send this one again" in refused[0]["text"]
        # Another user is not held up by Alice's backlog.
        _, name = await bot.command(BOB, "status")
        status = (await fake.wait_for(lambda: fake.responses(name)))[0]
        assert "Progress: 0 answered" in status["text"]
        gated.release.set()
        await fake.wait_for(lambda: any("Question 4 of" in m["text"] for m in fake.thread("D" + ALICE, thread_ts)))
        session = await bot.engine.get_session(User("slack", ALICE))
        assert [a.source for a in session.answers] == ["voice"] * 3
        assert [file_id for file_id, _ in fake.downloads] == ["F00000Q0", "F00000Q1", "F00000Q2"]
    finally:
        gated.release.set()
        await bot.stop()


async def test_a_restarted_bot_carries_the_interview_on(
    tmp_path: Path, vosk_transcriber: Transcriber, fake: FakeSlack, speech: dict[str, bytes]
):
    channel = "D" + ALICE
    gated = GatedTranscriber(vosk_transcriber)
    first = await SlackBot(tmp_path, gated, fake).start()
    thread_ts = await start_one_line(first, ALICE)
    await first.message(ALICE, "I have built APIs in Python for six years.", thread_ts=thread_ts)
    await fake.wait_for(lambda: any("Question 2 of" in m["text"] for m in fake.thread(channel, thread_ts)))

    # A voice answer arrives, is saved, and the process dies while it is being transcribed.
    await first.message(
        ALICE, thread_ts=thread_ts, files=[fake.add_file("F0000003", speech["ogg"], "audio/ogg", "a.ogg")]
    )
    assert await asyncio.to_thread(gated.entered.wait, 30)
    for task in asyncio.all_tasks():
        if task.get_name().startswith("slack-"):
            task.cancel()
    gated.release.set()
    await first.adapter.stop()  # only tidies up: the answer's task is already gone
    await first.close()
    assert not any("Question 3 of" in m["text"] for m in fake.thread(channel, thread_ts))

    second = await SlackBot(tmp_path, vosk_transcriber, fake).start()
    try:
        # The interrupted answer is finished and its reply lands in the same thread...
        await fake.wait_for(lambda: any("Question 3 of" in m["text"] for m in fake.thread(channel, thread_ts)))
        heard = [m for m in fake.thread(channel, thread_ts) if "Answer 2 of" in block_text(m["blocks"])]
        assert len(heard) == 1 and "안녕하세요" in block_text(heard[0]["blocks"])
        assert block_text(heard[0]["blocks"]).startswith("Here is the voice answer you sent before I restarted:")
        # ...and the interview goes on with the new process.
        await second.message(ALICE, "Thank you, I would love to build the platform team.", thread_ts=thread_ts)
        await fake.wait_for(lambda: any("Question 4 of" in m["text"] for m in fake.thread(channel, thread_ts)))
        session = await second.engine.get_session(User("slack", ALICE))
        assert [a.source for a in session.answers] == ["text", "voice", "text"]
    finally:
        await second.stop()


async def test_an_event_acked_but_cut_short_during_its_download_is_answered_once_after_a_restart(
    tmp_path: Path, vosk_transcriber: Transcriber, fake: FakeSlack, speech: dict[str, bytes]
):
    channel = "D" + ALICE
    first = await SlackBot(tmp_path, vosk_transcriber, fake).start()
    thread_ts = await start_one_line(first, ALICE)

    # The clip comes slowly; the event is acked (200), then the process dies during the download.
    fake.file_delay = 2.0
    clip = fake.add_file("F0000009", speech["ogg"], "audio/ogg", "a.ogg")
    await first.message(ALICE, thread_ts=thread_ts, files=[clip], event_id="EvSLOW0001")
    await fake.wait_for(lambda: fake.downloads)
    for task in asyncio.all_tasks():
        if task.get_name().startswith("slack-"):
            task.cancel()
    await first.adapter.stop()
    await first.close()

    fake.file_delay = 0.0
    second = await SlackBot(tmp_path, vosk_transcriber, fake).start()
    try:
        await fake.wait_for(lambda: any("Question 2 of" in m["text"] for m in fake.thread(channel, thread_ts)))
        # Slack retrying the event after the restart changes nothing.
        await second.message(ALICE, thread_ts=thread_ts, files=[clip], event_id="EvSLOW0001")
        await second.message(ALICE, "A typed answer to question two.", thread_ts=thread_ts)
        await fake.wait_for(lambda: any("Question 3 of" in m["text"] for m in fake.thread(channel, thread_ts)))
        heard = [m for m in fake.thread(channel, thread_ts) if "Answer 1 of" in block_text(m["blocks"])]
        assert len(heard) == 1 and "안녕하세요" in block_text(heard[0]["blocks"])
        session = await second.engine.get_session(User("slack", ALICE))
        assert [a.source for a in session.answers] == ["voice", "text"]
        await second.adapter.stop()  # every acked event has been dealt with, and has left the inbox
        assert await second.engine.inbox_pending("slack") == []
    finally:
        await second.stop()


# ----- starting twice, forgetting --------------------------------------------------------------------------------


async def test_starting_while_one_is_active_offers_resume_or_restart(bot: SlackBot):
    old_thread = await start_one_line(bot, ALICE)
    channel = "D" + ALICE

    _, name = await bot.command(ALICE, "Product Manager at Globex")
    prompt = (await bot.fake.wait_for(lambda: bot.fake.responses(name)))[0]
    assert "already have an interview in progress" in prompt["text"]

    clicked = await bot.click(ALICE, prompt["blocks"], "Resume")
    resumed = await bot.fake.wait_for(lambda: len(bot.fake.responses(clicked)) == 2 and bot.fake.responses(clicked))
    assert resumed[0]["replace_original"] is True and resumed[0]["text"] == "▶️ Resuming your interview."
    assert "Question 1 is waiting in our interview thread" in resumed[1]["text"]
    assert resumed[1]["replace_original"] is False  # the pointer is a message of its own
    assert sum("Question 1 of" in m["text"] for m in bot.fake.thread(channel, old_thread)) == 2

    # Resuming answered the offer (its buttons are gone); starting again asks again.
    _, name = await bot.command(ALICE, "Product Manager at Globex")
    prompt = (await bot.fake.wait_for(lambda: bot.fake.responses(name)))[0]
    clicked = await bot.click(ALICE, prompt["blocks"], "End it and start new")
    new_parent = await bot.fake.wait_for(lambda: [m for m in bot.fake.top_level(channel) if "Globex" in m["text"]])
    new_thread = new_parent[0]["ts"]
    await bot.fake.wait_for(lambda: any("Question 1 of" in m["text"] for m in bot.fake.thread(channel, new_thread)))
    old_report = [m for m in bot.fake.thread(channel, old_thread) if m["blocks"] and m["blocks"][0]["type"] == "header"]
    assert old_report and "ended early" in block_text(old_report[0]["blocks"])
    session = await bot.engine.get_session(User("slack", ALICE))
    assert (session.spec.role_title, session.spec.company_name) == ("Product Manager", "Globex")
    answered = await bot.fake.wait_for(lambda: len(bot.fake.responses(clicked)) == 2 and bot.fake.responses(clicked))
    assert answered[0]["replace_original"] is True and "Ended your previous interview" in answered[0]["text"]
    assert "started in our direct messages" in answered[1]["text"]


async def test_forget_asks_first_then_deletes_everything(bot: SlackBot):
    await start_one_line(bot, ALICE)
    user = User("slack", ALICE)
    _, name = await bot.command(ALICE, "forget")
    prompt = (await bot.fake.wait_for(lambda: bot.fake.responses(name)))[0]
    assert "can't be undone" in prompt["text"]
    await bot.engine.get_session(user)  # nothing deleted by asking

    clicked = await bot.click(ALICE, prompt["blocks"], "Yes, delete everything")
    done = (await bot.fake.wait_for(lambda: bot.fake.responses(clicked)))[0]
    assert "deleted 1 interview" in done["text"]
    with pytest.raises(errors.SessionNotFound):
        await bot.engine.latest_session(user)


async def test_a_button_from_before_an_upgrade_says_it_no_longer_works(bot: SlackBot):
    await start_one_line(bot, ALICE)
    old = [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Resume"},
                                             "action_id": "resume", "value": "resume"}]}]  # fmt: skip
    clicked = await bot.click(ALICE, old, "Resume")
    answer = (await bot.fake.wait_for(lambda: bot.fake.responses(clicked)))[0]
    assert "That button no longer works" in answer["text"] and answer["replace_original"] is False
    assert (await bot.engine.get_session(User("slack", ALICE))).position == 0


# ----- messages that are not answers -------------------------------------------------------------------------------


async def test_the_bots_own_and_other_bots_messages_are_ignored(bot: SlackBot):
    thread_ts = await start_one_line(bot, ALICE)
    channel = "D" + ALICE
    # Our own reply echoed back, another bot posting in the DM, and an edit: none of them is an answer.
    await bot.message(
        BOT_USER_ID, "❓ Question 1 of 8", thread_ts=thread_ts, extra={"channel": channel, "bot_id": BOT_ID}
    )
    await bot.message(ALICE, "deploy finished", thread_ts=thread_ts,
                      extra={"user": "UOTHERBOT", "bot_id": "B0THER", "subtype": "bot_message"})  # fmt: skip
    await bot.message(ALICE, thread_ts=thread_ts, extra={"subtype": "message_changed", "message": {"text": "x"}})
    await bot.message(ALICE, "My real answer: I mentor two junior engineers.", thread_ts=thread_ts)
    await bot.fake.wait_for(lambda: any("Question 2 of" in m["text"] for m in bot.fake.thread(channel, thread_ts)))
    await bot.adapter.stop()

    session = await bot.engine.get_session(User("slack", ALICE))
    assert [a.text for a in session.answers] == ["My real answer: I mentor two junior engineers."]
    replies = [m for m in bot.fake.posted.values() if m["ts"] != thread_ts and not m["text"].startswith("❓")]
    assert len(replies) == 1 and "Answer 1 of" in block_text(replies[0]["blocks"])


# ----- Socket Mode ---------------------------------------------------------------------------------------------


async def test_socket_mode_connects_at_start_serves_commands_and_closes_at_stop(tmp_path: Path, fake: FakeSlack):
    engine, store, _ = build_engine(tmp_path, None)  # typed answers only: no speech model needed here
    config = SlackConfig(bot_token=BOT_TOKEN, app_token=APP_TOKEN, mode="socket", api_base_url=fake.api_url)
    adapter = SlackAdapter(engine, config)
    assert adapter.routes() == []  # nothing for the HTTP server: Slack is reached over the websocket
    await adapter.open()
    assert not fake.calls_to("socket:connect")  # open() only makes the adapter able to send
    await adapter.start()
    try:
        await fake.wait_for(lambda: fake.calls_to("socket:connect"))
        payload = command_payload(
            "/interview", "QA Engineer at Initech", user_id=ALICE, channel_id="C0000001",
            response_url=fake.response_url("sock1"),
        )  # fmt: skip
        envelope = await fake.send_envelope("slash_commands", payload)
        await fake.wait_for(lambda: [c for c in fake.calls_to("socket:ack") if c.args["envelope_id"] == envelope])
        parent = await fake.wait_for(lambda: fake.top_level("D" + ALICE))
        thread = await fake.wait_for(
            lambda: [m for m in fake.thread("D" + ALICE, parent[0]["ts"]) if "Question 1 of" in m["text"]]
        )
        assert "Initech" in parent[0]["text"] and thread
        started = (await fake.wait_for(lambda: fake.responses("sock1")))[0]
        assert "started in our direct messages" in started["text"]
    finally:
        await adapter.stop()
        store.close()
    await fake.wait_for(lambda: fake.calls_to("socket:close"))


async def test_the_models_feedback_updates_the_answer_in_the_thread_and_its_follow_up_follows(
    tmp_path: Path, vosk_transcriber: Transcriber, fake: FakeSlack
) -> None:
    from engine.coaching.llm import LlmConfig, LlmGrader
    from tests.fake_openai import FakeOpenAI

    model = FakeOpenAI()
    await model.start()
    grader = LlmGrader(LlmConfig(enabled=True, base_url=model.url, model="fake-model", timeout_seconds=2.0))
    bot = await SlackBot(tmp_path, vosk_transcriber, fake, grader=grader).start()
    try:
        model.follow_up = "Which part of the retry logic did you write yourself"
        model.gate = asyncio.Event()  # the model answers once the rule reply is out
        thread_ts = await start_one_line(bot, ALICE)
        channel = "D" + ALICE
        await bot.message(ALICE, "We sent an idempotency key with each payment request.", thread_ts=thread_ts)
        answer = await fake.wait_for(
            lambda: next((m for m in fake.thread(channel, thread_ts) if "Answer 1 of" in block_text(m["blocks"])), None)
        )
        await fake.wait_for(lambda: any("Question 2 of" in m["text"] for m in fake.thread(channel, thread_ts)))
        before = len(fake.thread(channel, thread_ts))
        model.gate.set()
        follow_up = await fake.wait_for(
            lambda: [m for m in fake.thread(channel, thread_ts)[before:] if "Follow-up question 1a" in m["text"]]
        )
        assert "Which part of the retry logic did you write yourself?" in block_text(follow_up[0]["blocks"])
        updated = fake.posted[answer["ts"]]  # the same message, changed by chat.update
        assert "feedback updated by the model" in updated["text"]
        assert "Say what happens when two retries race." in block_text(updated["blocks"])
        assert [c.args["ts"] for c in fake.calls_to("chat.update")][-1] == answer["ts"]
        assert len(fake.thread(channel, thread_ts)) == before + 1  # the follow-up is the only new message
    finally:
        await bot.stop()
        await grader.close()
        await model.close()
