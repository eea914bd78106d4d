"""Team interviews in a Slack channel, through real slack-bolt against the fake Web API, with several people and real
Vosk: the invitation and Start, answers by clip and by typing in the thread, teammates' comments and ratings (the
modal), the interviewer's own question, refusals, the reports in the thread and in the candidate's DM."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from engine import InterviewSpec, User, space_id
from engine.speech import Transcriber
from tests import audio_fixtures
from tests.fake_slack import BOT_USER_ID, FakeSlack, block_text, event_body
from tests.slack_support import SlackBot

pytestmark = pytest.mark.slow

CHANNEL = "C0TEAM001"
IVW = "UIVW0001"  # the interviewer
CAND = "UCAND001"  # the candidate
MATE = "UMATE001"  # a teammate
CV = "Secret CV: twelve years at Initech keeping the TPS reports flowing"


@pytest.fixture(scope="module")
def clip() -> bytes:
    return audio_fixtures.encode(audio_fixtures.speech_wav(audio_fixtures.KO_PHRASE), "mp4_aac")


def shown(message: dict[str, Any]) -> str:
    return block_text(message["blocks"])


def find(fake: FakeSlack, thread_ts: str, needle: str) -> list[dict[str, Any]]:
    return [m for m in fake.thread(CHANNEL, thread_ts) if needle in m["text"] or needle in shown(m)]


async def invite(bot: SlackBot, by: str, text: str) -> dict[str, Any]:
    """Run the team start in the channel; returns the invitation (the thread's parent) once the interview is stored."""
    fake = bot.fake
    before = len(fake.top_level(CHANNEL))
    await bot.channel_command(by, text, CHANNEL)
    parent = (await fake.wait_for(lambda: fake.top_level(CHANNEL)[before:]))[0]
    await fake.wait_for(lambda: _session_stored(bot, parent))
    return parent


async def accept(bot: SlackBot, parent: dict[str, Any], who: str = CAND) -> None:
    fake = bot.fake
    await bot.click_message(who, parent, "Start")
    await fake.wait_for(lambda: find(fake, parent["ts"], "Question 1 of"))


def _session_stored(bot: SlackBot, parent: dict[str, Any]) -> bool:
    key = space_id(CHANNEL, parent["ts"])
    return any(doc["user_id"] == key for doc in bot.store.list_sessions(include_finished=True))


async def rate(bot: SlackBot, who: str, answer_msg: dict[str, Any], scores: tuple[int, int, int], comment: str = ""):
    fake = bot.fake
    opened = len(fake.calls_to("views.open"))
    await bot.click_message(who, answer_msg, "Rate this answer")
    views = await fake.wait_for(lambda: fake.calls_to("views.open")[opened:])
    view = views[0].args["view"]
    assert view["callback_id"] == "team_form"
    values = dict(zip(("content", "structure", "delivery"), map(str, scores), strict=True))
    if comment:
        values["comment"] = comment
    response = await bot.submit_view(who, view, values)
    assert response.status == 200 and await response.text() == ""  # the modal closes


async def test_a_team_interview_in_a_channel_from_invitation_to_both_reports(bot: SlackBot, clip: bytes):
    fake = bot.fake
    engine = bot.engine
    # The candidate also practises privately, with a CV: that interview stays theirs, and its CV never reaches the
    # channel.
    private = await engine.start(
        User("slack", CAND), InterviewSpec("Data Engineer", "Acme", "Tech", cv=CV), route={"channel": "D" + CAND}
    )

    parent = await invite(bot, IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp (Technology) behavioral")
    thread_ts = parent["ts"]
    text = shown(parent)
    assert f"<@{CAND}>" in text and f"<@{IVW}>" in text and "Backend Engineer at TechCorp" in text
    assert "Everyone here can see this interview" in text
    assert fake.thread(CHANNEL, thread_ts) == []  # nothing is asked before the candidate accepts

    # Only the candidate can start it; a teammate's press gets an ephemeral line and changes nothing.
    refused = await bot.click_message(MATE, parent, "Start")
    reply = (await fake.wait_for(lambda: fake.responses(refused)))[0]
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert "Only the candidate can do that" in reply["text"]
    await accept(bot, parent)
    assert "accepted" in fake.posted[thread_ts]["text"]
    assert not [b for b in fake.posted[thread_ts]["blocks"] if b["type"] == "actions"]  # Start is gone
    question = find(fake, thread_ts, "Question 1 of")[0]
    assert {"Skip", "Ask my own question", "End"} <= {
        e["text"]["text"].split(" ", 1)[1] for b in question["blocks"] if b["type"] == "actions" for e in b["elements"]
    }

    # Answer 1: an audio clip in the thread, transcribed with real Vosk.
    await bot.thread_message(CAND, CHANNEL, thread_ts, files=[fake.add_file("F1", clip, "audio/mp4", "clip.mp4")])
    await fake.wait_for(lambda: find(fake, thread_ts, "Question 2 of"))
    answer1 = find(fake, thread_ts, "Answer 1 of")[0]
    assert "안녕하세요" in shown(answer1) and "Team on answer 1: no ratings yet" in shown(answer1)

    # A teammate comments (also with a voice note: a comment, never an answer) and rates with the modal.
    posted_before = len(fake.posted)
    await bot.thread_message(MATE, CHANNEL, thread_ts, "Nice opening, a bit short on numbers.")
    await bot.thread_message(MATE, CHANNEL, thread_ts, files=[fake.add_file("F2", clip, "audio/mp4", "mate.mp4")])
    await rate(bot, MATE, answer1, (4, 3, 5), comment="Clear structure")
    await fake.wait_for(lambda: "1 rating, average 4.0/5" in shown(fake.posted[answer1["ts"]]))
    thanks = await fake.wait_for(lambda: [e for e in fake.ephemeral if e["user"] == MATE])
    assert "4.0/5" in thanks[0]["text"] and thanks[0]["thread_ts"] == thread_ts
    # A second rating by the same teammate replaces the first: still one rating, in the same message.
    await rate(bot, MATE, fake.posted[answer1["ts"]], (2, 2, 2))
    await fake.wait_for(lambda: "1 rating, average 2.0/5" in shown(fake.posted[answer1["ts"]]))
    await rate(bot, IVW, fake.posted[answer1["ts"]], (3, 3, 3))
    await fake.wait_for(lambda: "2 ratings, average 2.5/5" in shown(fake.posted[answer1["ts"]]))
    assert len(fake.posted) == posted_before  # no message per rating, no reply to comments
    assert fake.downloads.count(("F2", True)) == 0  # the teammate's voice note was never fetched for transcription

    # The candidate cannot rate their own answer; a tampered button is refused too; nothing is stored.
    views_before = len(fake.calls_to("views.open"))
    own = await bot.click_message(CAND, fake.posted[answer1["ts"]], "Rate this answer")
    assert "can't rate your own answer" in (await fake.wait_for(lambda: fake.responses(own)))[0]["text"]
    tampered = await bot.click_message(MATE, fake.posted[answer1["ts"]], "Rate", value="t:r:0000beef:0:9")
    assert "isn't one of this interview's" in (await fake.wait_for(lambda: fake.responses(tampered)))[0]["text"]
    assert len(fake.calls_to("views.open")) == views_before

    # Only the interviewer may skip; the interviewer asks their own question (the modal), asked next.
    question2 = find(fake, thread_ts, "Question 2 of")[0]
    skip = await bot.click_message(MATE, question2, "Skip")
    assert "Only the interviewer can do that" in (await fake.wait_for(lambda: fake.responses(skip)))[0]["text"]
    await bot.click_message(IVW, question2, "Ask my own question")
    ask_view = (await fake.wait_for(lambda: fake.calls_to("views.open")[views_before:]))[0].args["view"]
    await bot.submit_view(IVW, ask_view, {"question": "How would you explain a race condition to a new hire?"})
    own_q = await fake.wait_for(lambda: find(fake, thread_ts, "race condition"))
    assert "interviewer's own" in own_q[-1]["text"]

    # Answer 2, typed, goes to the interviewer's question; the private interview is untouched.
    await bot.thread_message(CAND, CHANNEL, thread_ts, "I'd compare it to two people editing one document at once.")
    await fake.wait_for(lambda: find(fake, thread_ts, "Answer 2 of"))
    mine = await engine.get_session(User("slack", CAND))
    assert mine.session_id == private.session.session_id and mine.answers == ()

    # The interviewer ends it: the report in the thread, the team's beside it, and the candidate's private copy.
    latest_question = find(fake, thread_ts, "❓")[-1]
    await bot.click_message(IVW, latest_question, "End")
    team_report = await fake.wait_for(lambda: find(fake, thread_ts, "Team ratings"))
    text = team_report[0]["text"]
    assert "2 teammates rated" in text and "the team 2.5/5 (2)" in text
    assert "Clear structure" not in text  # replaced by the teammate's second rating (no comment)
    assert "Nice opening, a bit short on numbers." in text and "(a voice note)" in text
    assert find(fake, thread_ts, "Interview report") or any(
        m["blocks"] and m["blocks"][0]["type"] == "header" for m in fake.thread(CHANNEL, thread_ts)
    )
    dm = await fake.wait_for(lambda: fake.top_level("D" + CAND))
    assert "Your full report from the team interview in #mock-interviews" in dm[-1]["text"]
    assert "Team ratings" in dm[-1]["text"] and "Overall score" in dm[-1]["text"]

    # Nothing of the CV ever reached the channel.
    channel_text = " ".join(m["text"] + shown(m) for m in fake.posted.values() if m["channel"] == CHANNEL)
    assert "Initech" not in channel_text and "TPS" not in channel_text
    state = await engine.latest_session(User("slack", space_id(CHANNEL, thread_ts)))
    assert state.status == "ended" and state.spec.cv == "" and state.team is not None
    assert {(r.rater, r.overall) for r in state.team.ratings} == {(MATE, 2.0), (IVW, 3.0)}


async def test_two_threads_in_one_channel_stay_apart_and_a_restart_keeps_the_ratings(
    tmp_path: Path, vosk_transcriber: Transcriber, fake: FakeSlack
):
    bot = await SlackBot(tmp_path, vosk_transcriber, fake).start()
    other = "UCAND002"
    first = await invite(bot, IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp")
    second = await invite(bot, IVW, f"<@{other}|other> Data Engineer at Acme")
    await accept(bot, first)
    await accept(bot, second, other)
    await bot.thread_message(CAND, CHANNEL, first["ts"], "First thread's answer about queues.")
    await bot.thread_message(other, CHANNEL, second["ts"], "Second thread's answer about pipelines.")
    a1 = (await fake.wait_for(lambda: find(fake, first["ts"], "Answer 1 of")))[0]
    a2 = (await fake.wait_for(lambda: find(fake, second["ts"], "Answer 1 of")))[0]
    assert "queues" not in shown(a2) and "pipelines" not in shown(a1)
    # The other candidate writing in the first thread is a comment there, not an answer.
    await bot.thread_message(other, CHANNEL, first["ts"], "Good luck!")
    await rate(bot, MATE, a1, (5, 5, 5))
    await fake.wait_for(lambda: "1 rating, average 5.0/5" in shown(fake.posted[a1["ts"]]))
    await bot.stop()

    bot = await SlackBot(tmp_path, vosk_transcriber, fake).start()  # a restart in the middle
    try:
        await rate(bot, IVW, fake.posted[a1["ts"]], (1, 2, 3))
        await fake.wait_for(lambda: "2 ratings, average 3.5/5" in shown(fake.posted[a1["ts"]]))
        first_space = User("slack", space_id(CHANNEL, first["ts"]))
        second_space = User("slack", space_id(CHANNEL, second["ts"]))
        one, two = await bot.engine.get_session(first_space), await bot.engine.get_session(second_space)
        assert [a.text for a in one.answers] == ["First thread's answer about queues."]
        assert [a.text for a in two.answers] == ["Second thread's answer about pipelines."]
        assert one.team is not None and [c.text for c in one.team.comments] == ["Good luck!"]
        assert two.team is not None and two.team.ratings == ()
    finally:
        await bot.stop()


async def test_a_channel_without_the_bot_gets_one_line_on_how_to_add_it(bot: SlackBot):
    bot.fake.not_member.add(CHANNEL)
    name = await bot.channel_command(IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp", CHANNEL)
    replies = await bot.fake.wait_for(lambda: bot.fake.responses(name))
    assert len(replies) == 1 and replies[0]["response_type"] == "ephemeral"
    assert "I'm not in" in replies[0]["text"] and "/invite @Interview Coach" in replies[0]["text"]
    assert bot.store.list_sessions(include_finished=True) == []


async def test_a_typed_start_naming_a_bot_as_the_candidate_gets_one_line_and_stores_nothing(bot: SlackBot):
    bot.fake.bots.add("UAPP0001")
    name = await bot.channel_command(IVW, "<@UAPP0001|helper> Backend Engineer at TechCorp", CHANNEL)
    replies = await bot.fake.wait_for(lambda: bot.fake.responses(name))
    assert len(replies) == 1 and replies[0]["response_type"] == "ephemeral"
    assert "a bot or an app can't be interviewed" in replies[0]["text"]
    assert bot.fake.top_level(CHANNEL) == [] and bot.store.list_sessions(include_finished=True) == []


async def test_not_now_ends_it_politely_and_nothing_is_asked(bot: SlackBot):
    fake = bot.fake
    parent = await invite(bot, IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp")
    await bot.click_message(CAND, parent, "Not now")
    await fake.wait_for(lambda: "rather not right now" in fake.posted[parent["ts"]]["text"])
    assert fake.thread(CHANNEL, parent["ts"]) == []
    session = await bot.engine.latest_session(User("slack", space_id(CHANNEL, parent["ts"])))
    assert session.status == "ended" and session.answers == ()


async def test_the_interviewer_withdraws_an_invitation_not_yet_accepted_and_a_teammate_cannot(bot: SlackBot):
    fake = bot.fake
    parent = await invite(bot, IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp")
    name = await bot.click_message(MATE, parent, "Not now")
    refused = await fake.wait_for(lambda: fake.responses(name))
    assert refused[0]["response_type"] == "ephemeral" and "Only the interviewer or the candidate" in refused[0]["text"]
    await bot.click_message(IVW, parent, "Not now")
    await fake.wait_for(lambda: "withdrew the invitation" in fake.posted[parent["ts"]]["text"])
    assert f"<@{IVW}> withdrew the invitation. Nothing was asked." in fake.posted[parent["ts"]]["text"]
    assert not any(b["type"] == "actions" for b in fake.posted[parent["ts"]]["blocks"])  # Start is gone
    assert fake.thread(CHANNEL, parent["ts"]) == []
    session = await bot.engine.latest_session(User("slack", space_id(CHANNEL, parent["ts"])))
    assert session.status == "ended" and session.answers == ()


async def test_a_candidate_who_left_the_channel_ends_it_and_reads_the_report_from_their_dm(bot: SlackBot):
    fake = bot.fake
    parent = await invite(bot, IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp")
    await accept(bot, parent)
    await bot.thread_message(CAND, CHANNEL, parent["ts"], "I built a queue with retries and a dead-letter topic.")
    await fake.wait_for(lambda: find(fake, parent["ts"], "Answer 1 of"))

    # The candidate has no interview of their own: /interview end in their DM ends the team one.
    await bot.command(CAND, "end")
    team_report = await fake.wait_for(lambda: find(fake, parent["ts"], "Team ratings"))
    assert "Team ratings" in team_report[0]["text"]  # the thread still gets it, where it can
    dm = await fake.wait_for(lambda: fake.top_level("D" + CAND))
    assert "Your full report from the team interview in #mock-interviews" in dm[-1]["text"]
    state = await bot.engine.latest_session(User("slack", space_id(CHANNEL, parent["ts"])))
    assert state.status == "ended"

    # Later, /interview report in the DM reads it again (it was their only interview).
    _, name = await bot.command(CAND, "report")
    again = await fake.wait_for(lambda: fake.responses(name) or fake.top_level("D" + CAND)[len(dm) :])
    shown_again = " ".join(m.get("text", "") for m in again)
    assert "Overall score" in shown_again and "Team ratings" in shown_again
    # `/interview report team` reads it too (the way to it once they practise on their own as well).
    before = len(fake.top_level("D" + CAND))
    _, name = await bot.command(CAND, "report team")
    team_again = await fake.wait_for(lambda: fake.responses(name) or fake.top_level("D" + CAND)[before:])
    assert "Team ratings" in " ".join(m.get("text", "") for m in team_again)
    assert bot.store.active_for("slack", CAND) is None  # not taken as a one-line start of an interview
    # Someone with no interview at all still gets the usual answer.
    _, nobody = await bot.command("UNOBODY1", "end")
    assert "There's no interview running" in (await fake.wait_for(lambda: fake.responses(nobody)))[0]["text"]


# ----- the team interview modal: `/interview` alone in a channel ------------------------------------------------


async def open_team_modal(bot: SlackBot, by: str) -> dict[str, Any]:
    """`/interview` alone in the channel; returns the modal the bot opened."""
    fake = bot.fake
    opened = len(fake.calls_to("views.open"))
    await bot.channel_command(by, "", CHANNEL)
    return (await fake.wait_for(lambda: fake.calls_to("views.open")[opened:]))[0].args["view"]


async def submit_team_modal(bot: SlackBot, by: str, view: dict[str, Any], values: dict[str, str | None]):
    """Submit the team interview modal as Slack does: the picker's user as `selected_user`, an empty input as None."""
    state: dict[str, Any] = {}
    for key, value in values.items():
        if key == "candidate":
            element: dict[str, Any] = {"type": "users_select", "selected_user": value}
        elif key == "round":
            element = {"type": "static_select", "selected_option": {"value": value}}
        else:
            element = {"type": "plain_text_input", "value": value}
        state[key] = {"value": element}
    return await bot.interact(
        {
            "type": "view_submission",
            "user": {"id": by, "username": by.lower(), "name": by.lower()},
            "trigger_id": "trigger-submit",
            "view": {**view, "id": "V0000002", "state": {"values": state}},
        }
    )


def _channel_messages(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.posted.values() if m["channel"] == CHANNEL]


async def test_interview_alone_in_a_channel_opens_the_team_modal_and_submitting_it_starts_the_interview(
    bot: SlackBot,
):
    fake = bot.fake
    view = await open_team_modal(bot, IVW)
    assert view["callback_id"] == "team_start"
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["candidate", "role", "company", "industry", "round"]  # no CV, no job description
    picker = inputs["candidate"]["element"]
    assert picker["type"] == "users_select" and picker["initial_user"] == IVW  # left alone: for yourself
    assert inputs["industry"]["optional"] is True
    private_rounds = [o["value"] for o in inputs["round"]["element"]["options"]]
    assert private_rounds == ["full", "screening", "behavioral", "technical"]
    note = block_text(view["blocks"])
    assert "visible to everyone in #mock-interviews" in note and "/interview in a direct message" in note

    values = {"candidate": CAND, "role": "Backend Engineer", "company": "TechCorp", "industry": None}
    submitted = await submit_team_modal(bot, IVW, view, {**values, "round": "behavioral"})
    assert submitted.status == 200 and await submitted.text() == ""  # the modal closes

    # Just as `/interview @candidate Role at Company`: the invitation in the channel, its thread the interview's.
    parent = (await fake.wait_for(lambda: fake.top_level(CHANNEL)))[0]
    await fake.wait_for(lambda: _session_stored(bot, parent))
    text = shown(parent)
    assert f"<@{CAND}>" in text and f"run by <@{IVW}>" in text and "Backend Engineer at TechCorp" in text
    assert "Everyone here can see this interview" in text and "Round: Behavioural" in text
    refused = await bot.click_message(MATE, parent, "Start")
    assert "Only the candidate can do that" in (await fake.wait_for(lambda: fake.responses(refused)))[0]["text"]
    await accept(bot, parent)
    await bot.thread_message(CAND, CHANNEL, parent["ts"], "I split the monolith along its busiest seams first.")
    await fake.wait_for(lambda: find(fake, parent["ts"], "Answer 1 of"))
    session = await bot.engine.get_session(User("slack", space_id(CHANNEL, parent["ts"])))
    assert session.team is not None and (session.team.candidate, session.team.interviewer) == (CAND, IVW)
    assert session.spec.round_type == "behavioral" and session.spec.cv == "" and session.spec.jd == ""
    assert [a.text for a in session.answers] == ["I split the monolith along its busiest seams first."]


async def test_the_team_modal_shows_its_problems_under_the_fields_and_stores_nothing(bot: SlackBot):
    fake = bot.fake
    fake.bots.add("UAPP0001")
    view = await open_team_modal(bot, IVW)
    base = {"candidate": IVW, "role": "Backend Engineer", "company": "TechCorp", "round": "full"}
    for values, field, words in [
        ({**base, "role": None}, "role", "Please enter the role"),
        ({**base, "company": " "}, "company", "Please enter the company"),
        ({**base, "candidate": None}, "candidate", "Please pick the candidate"),
        ({**base, "candidate": BOT_USER_ID}, "candidate", "a bot or an app can't be interviewed"),
        ({**base, "candidate": "UAPP0001"}, "candidate", "a bot or an app can't be interviewed"),  # users.info
    ]:
        response = await submit_team_modal(bot, IVW, view, values)
        body = await response.json()
        assert body["response_action"] == "errors" and list(body["errors"]) == [field]
        assert words in body["errors"][field]
    assert [c.args["user"] for c in fake.calls_to("users.info")] == ["UAPP0001"]
    assert _channel_messages(fake) == [] and bot.store.list_sessions(include_finished=True) == []

    # Fixed, with the picker left alone: a team interview for the person who typed it, with no interviewer.
    response = await submit_team_modal(bot, IVW, view, base)
    assert await response.text() == ""
    parent = (await fake.wait_for(lambda: fake.top_level(CHANNEL)))[0]
    await fake.wait_for(lambda: _session_stored(bot, parent))
    assert f"for <@{IVW}>" in shown(parent) and "run by" not in shown(parent)


async def test_a_team_modal_with_a_tampered_or_missing_channel_stores_nothing(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
):
    fake = bot.fake
    view = await open_team_modal(bot, IVW)
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL, "name": "#mock-interviews"}
    values = {"candidate": CAND, "role": "Backend Engineer", "company": "TechCorp", "round": "full"}
    with caplog.at_level(logging.WARNING, logger="adapters.slack.app"):
        for meta in [json.dumps({"channel": "D" + IVW, "name": "#dm"}), json.dumps({"channel": "<#C1>"}), "{", ""]:
            response = await submit_team_modal(bot, IVW, {**view, "private_metadata": meta}, values)
            assert response.status == 200 and await response.text() == ""
    warnings = [r for r in caplog.records if "team start form without a channel" in r.getMessage()]
    assert len(warnings) == 4 and all(f"user={IVW}" in r.getMessage() for r in warnings)
    assert fake.calls_to("chat.postMessage") == [] and bot.store.list_sessions(include_finished=True) == []


async def test_interview_alone_in_a_dm_still_opens_the_private_set_up_modal(bot: SlackBot):
    fake = bot.fake
    await bot.command(IVW, "")
    view = (await fake.wait_for(lambda: fake.calls_to("views.open")))[0].args["view"]
    assert view["callback_id"] == "interview_setup"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "role", "company", "industry", "round", "cv", "jd",
    ]  # fmt: skip
    assert fake.calls_to("conversations.info") == []


async def test_interview_alone_in_a_channel_without_the_bot_gets_the_one_line_and_no_modal(bot: SlackBot):
    fake = bot.fake
    fake.not_member.add(CHANNEL)
    name = await bot.channel_command(IVW, "", CHANNEL)
    replies = await fake.wait_for(lambda: fake.responses(name))
    assert len(replies) == 1 and replies[0]["response_type"] == "ephemeral"
    assert "I'm not in" in replies[0]["text"] and "/invite @Interview Coach" in replies[0]["text"]
    assert fake.calls_to("views.open") == []

    # Removed between the modal opening and its submission: the line reaches the person in their DM (a modal has no
    # response_url, and the bot can show nothing in a channel it is not in), and nothing is stored.
    fake.not_member.clear()
    view = await open_team_modal(bot, IVW)
    fake.not_member.add(CHANNEL)
    values = {"candidate": CAND, "role": "Backend Engineer", "company": "TechCorp", "round": "full"}
    assert await (await submit_team_modal(bot, IVW, view, values)).text() == ""
    dm = await fake.wait_for(lambda: fake.top_level("D" + IVW))
    assert len(dm) == 1 and "I'm not in" in dm[0]["text"]
    assert _channel_messages(fake) == [] and bot.store.list_sessions(include_finished=True) == []


async def test_added_to_a_channel_the_bot_says_hello_once_and_not_when_others_join(bot: SlackBot):
    fake = bot.fake

    async def joined(user: str, event_id: str) -> None:
        event = {"type": "member_joined_channel", "user": user, "channel": CHANNEL, "channel_type": "C",
                 "team": "T0000001", "inviter": IVW}  # fmt: skip
        response = await bot.post(event_body(event, event_id), "application/json")
        assert response.status == 200

    await joined(BOT_USER_ID, "EvJoin0001")
    hello = (await fake.wait_for(lambda: fake.top_level(CHANNEL)))[0]
    assert "Hi! I run mock interviews" in hello["text"] and "/interview @candidate" in hello["text"]
    assert "in its own thread" in hello["text"]
    await joined(BOT_USER_ID, "EvJoin0001")  # Slack's retry of the same event
    await joined(MATE, "EvJoin0002")  # a person joining
    await bot.channel_command(IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp", CHANNEL)
    await fake.wait_for(lambda: len(fake.top_level(CHANNEL)) == 2)
    assert sum("Hi! I run" in m["text"] for m in fake.top_level(CHANNEL)) == 1


async def test_thread_chatter_where_no_interview_runs_is_never_kept_and_an_interviews_is(bot: SlackBot):
    await bot.thread_message(MATE, CHANNEL, "1700000000.999999", "Anyone for lunch?", event_id="EvChatter01")
    # Never kept: not waiting in the inbox, and a first delivery still, for all the bot knows.
    assert "EvChatter01" not in [entry for entry, _ in await bot.engine.inbox_pending("slack")]
    assert await bot.engine.first_delivery("slack", "EvChatter01")
    parent = await invite(bot, IVW, f"<@{CAND}|cand> Backend Engineer at TechCorp")
    await bot.thread_message(MATE, CHANNEL, parent["ts"], "Good luck!", event_id="EvComment01")
    space = User("slack", space_id(CHANNEL, parent["ts"]))
    await bot.fake.wait_for(lambda: bot.store.latest_for("slack", space.user_id)["team"]["comments"])
    assert not await bot.engine.first_delivery("slack", "EvComment01")  # kept, and handled once
