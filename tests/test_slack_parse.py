"""The Slack adapter's pure translators on payloads recorded as Slack sends them: no network, no bolt."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import pytest

from adapters.chat import Choice, Command, Document, Option, Text, Voice
from adapters.chat.setup import setup_form
from adapters.slack import SlackAdapter, SlackConfig, parse
from adapters.slack.blocks import CHOICE_PREFIX, SETUP_CALLBACK, buttons, escape, setup_view
from engine import User
from tests.engine_support import build_memory_engine

BOT_USER_ID = "U07BOT0001"

# ----- recorded payloads ---------------------------------------------------------------------------------------

# A slash command: an application/x-www-form-urlencoded POST body.
SLASH_COMMAND_BODY = (
    "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&enterprise_id=&enterprise_name="
    "&channel_id=D07ALICE01&channel_name=directmessage&user_id=U07ALICE01&user_name=alice"
    "&command=%2Finterview&text=Senior+Backend+Engineer++at+TechCorp+%28Fintech%29&api_app_id=A07APP0001"
    "&is_enterprise_install=false&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0001%2F1234%2Fabcd"
    "&trigger_id=13345224609.738474920.8088930838d88f008e0"
)

AUDIO_CLIP = {
    "id": "F07CLIP0001",
    "created": 1718000000,
    "timestamp": 1718000000,
    "name": "audio_message.webm",
    "title": "audio_message.webm",
    "mimetype": "audio/webm",
    "filetype": "webm",
    "pretty_type": "WebM",
    "user": "U07ALICE01",
    "user_team": "T0001",
    "editable": False,
    "size": 48213,
    "mode": "hosted",
    "is_external": False,
    "external_type": "",
    "is_public": False,
    "public_url_shared": False,
    "display_as_bot": False,
    "username": "",
    "subtype": "slack_audio",
    "transcription": {"status": "processing"},
    "url_private": "https://files.slack.com/files-tmb/T0001-F07CLIP0001-1a2b3c/audio_message_audio.mp4",
    "url_private_download": "https://files.slack.com/files-pri/T0001-F07CLIP0001/download/audio_message.webm",
    "duration_ms": 6120,
    "media_display_type": "audio",
    "permalink": "https://example.slack.com/files/U07ALICE01/F07CLIP0001/audio_message.webm",
    "is_starred": False,
    "has_rich_preview": False,
    "file_access": "visible",
}

VIDEO_CLIP = {
    **AUDIO_CLIP,
    "id": "F07CLIP0002",
    "name": "Recording.mp4",
    "title": "Recording.mp4",
    "mimetype": "video/mp4",
    "filetype": "mp4",
    "subtype": "slack_video",
    "size": 90210,
    "media_display_type": "video",
}

PDF_FILE = {
    **AUDIO_CLIP,
    "id": "F07PDF00001",
    "name": "cv.pdf",
    "title": "cv.pdf",
    "mimetype": "application/pdf",
    "filetype": "pdf",
    "pretty_type": "PDF",
    "size": 120334,
    "subtype": None,
    "media_display_type": None,
}


def dm_message(**fields: Any) -> dict[str, Any]:
    """A message.im event as the Events API delivers it."""
    event = {
        "type": "message",
        "text": "",
        "user": "U07ALICE01",
        "ts": "1718000100.000200",
        "team": "T0001",
        "client_msg_id": "5f3a1c2e-6b1d-4f0e-9d8e-2b1f0a9c7e11",
        "channel": "D07ALICE01",
        "event_ts": "1718000100.000200",
        "channel_type": "im",
    }
    event.update(fields)
    return event


IN_THREAD = {"thread_ts": "1718000000.000100", "parent_user_id": BOT_USER_ID}
CLIP_MESSAGE = dm_message(subtype="file_share", files=[AUDIO_CLIP], upload=False, display_as_bot=False, **IN_THREAD)
TYPED_ANSWER = dm_message(text="I led the migration of our billing service.", **IN_THREAD)
OUR_OWN_REPLY = dm_message(
    user=BOT_USER_ID, bot_id="B07BOT0001", app_id="A07APP0001", text="❓ Question 2 of 8", **IN_THREAD
)
OTHER_BOT = {
    "type": "message",
    "subtype": "bot_message",
    "text": "deploy finished",
    "ts": "1718000200.000300",
    "bot_id": "B07OTHER01",
    "username": "deploybot",
    "channel": "D07ALICE01",
    "event_ts": "1718000200.000300",
    "channel_type": "im",
}
EDIT = {
    "type": "message",
    "subtype": "message_changed",
    "message": {"type": "message", "user": "U07ALICE01", "text": "I led the migration.", "ts": "1718000100.000200"},
    "previous_message": {"type": "message", "user": "U07ALICE01", "text": "I led", "ts": "1718000100.000200"},
    "channel": "D07ALICE01",
    "hidden": True,
    "ts": "1718000150.000400",
    "event_ts": "1718000150.000400",
    "channel_type": "im",
}

BLOCK_ACTIONS = {
    "type": "block_actions",
    "user": {"id": "U07ALICE01", "username": "alice", "name": "alice", "team_id": "T0001"},
    "api_app_id": "A07APP0001",
    "token": "gIkuvaNzQIHg97ATvDxqgjtO",
    "container": {
        "type": "message",
        "message_ts": "1718000300.000500",
        "channel_id": "D07ALICE01",
        "is_ephemeral": True,
    },
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    "team": {"id": "T0001", "domain": "example"},
    "enterprise": None,
    "is_enterprise_install": False,
    "channel": {"id": "D07ALICE01", "name": "directmessage"},
    "state": {"values": {}},
    "response_url": "https://hooks.slack.com/actions/T0001/5678/efgh",
    "actions": [
        {
            "action_id": "chat:0",
            "block_id": "Xq9w",
            "text": {"type": "plain_text", "text": "▶️ Resume", "emoji": True},
            "value": "s:resume",
            "style": "primary",
            "type": "button",
            "action_ts": "1718000310.123456",
        }
    ],
}

VIEW_SUBMISSION = {
    "type": "view_submission",
    "team": {"id": "T0001", "domain": "example"},
    "user": {"id": "U07ALICE01", "username": "alice", "name": "alice", "team_id": "T0001"},
    "api_app_id": "A07APP0001",
    "token": "gIkuvaNzQIHg97ATvDxqgjtO",
    "trigger_id": "13345224609.738474920.8088930838d88f008e1",
    "view": {
        "id": "V07VIEW0001",
        "team_id": "T0001",
        "type": "modal",
        "private_metadata": "",
        "callback_id": "interview_setup",
        "state": {
            "values": {
                "role": {"value": {"type": "plain_text_input", "value": "Data Engineer"}},
                "company": {"value": {"type": "plain_text_input", "value": "Acme & Sons"}},
                "industry": {"value": {"type": "plain_text_input", "value": "Fintech"}},
                "round": {
                    "value": {
                        "type": "static_select",
                        "selected_option": {
                            "text": {"type": "plain_text", "text": "Screening call", "emoji": True},
                            "value": "screening",
                        },
                    }
                },
                "cv": {"value": {"type": "plain_text_input", "value": "Five years of Spark."}},
                "jd": {"value": {"type": "plain_text_input", "value": None}},
            }
        },
        "hash": "1718000400.AbCdEf12",
        "title": {"type": "plain_text", "text": "Mock interview", "emoji": True},
        "previous_view_id": None,
        "root_view_id": "V07VIEW0001",
        "app_id": "A07APP0001",
        "external_id": "",
        "app_installed_team_id": "T0001",
        "bot_id": "B07BOT0001",
    },
    "response_urls": [],
    "is_enterprise_install": False,
    "enterprise": None,
}


class Fetches:
    """A stand-in for the downloader: records what was fetched, and when."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def __call__(self, file: Mapping[str, Any]) -> bytes:
        self.fetched.append(file["id"])
        return b"audio bytes of " + str(file["id"]).encode()


# ----- slash commands ------------------------------------------------------------------------------------------


def test_a_slash_command_becomes_a_command_named_without_its_slash() -> None:
    fields = dict(urllib.parse.parse_qsl(SLASH_COMMAND_BODY, keep_blank_values=True))  # what bolt hands us
    user, event = parse.command_event(fields)
    assert user == User("slack", "U07ALICE01", "alice")
    assert event == Command("interview", "Senior Backend Engineer at TechCorp (Fintech)")

    _, sessions = parse.command_event({**fields, "command": "/sessions", "text": " stale "})
    assert sessions == Command("sessions", "stale")
    _, bare = parse.command_event({**fields, "text": ""})
    assert bare == Command("interview", "")


async def test_a_subcommand_is_left_for_the_chat_layer_to_read() -> None:
    chat = SlackAdapter(build_memory_engine(None)[0], SlackConfig(bot_token="xoxb-unused")).chat
    fields = dict(urllib.parse.parse_qsl(SLASH_COMMAND_BODY, keep_blank_values=True))
    _, status = parse.command_event({**fields, "text": "status"})
    assert status == Command("interview", "status") and chat.reads_only(status)  # may overtake an answer
    _, skip = parse.command_event({**fields, "text": "skip"})
    assert not chat.reads_only(skip)
    assert [chat.surface.cmd(name) for name in ("interview", "sessions", "status")] == [
        "/interview",
        "/sessions",
        "/interview status",
    ]


# ----- DM messages -------------------------------------------------------------------------------------------


async def test_an_audio_clip_becomes_a_voice_answer_downloaded_only_when_read() -> None:
    fetch = Fetches()
    translated = parse.message_event(CLIP_MESSAGE, fetch)
    assert translated is not None
    user, event = translated
    assert user == User("slack", "U07ALICE01") and isinstance(event, Voice)
    source = event.file
    assert (source.mime_type, source.filename, source.size) == ("audio/webm", "audio_message.webm", 48213)
    assert fetch.fetched == []  # the chat layer checks size and state first
    assert await source.read() == b"audio bytes of F07CLIP0001"
    assert fetch.fetched == ["F07CLIP0001"]


def test_which_file_of_a_message_is_the_answer() -> None:
    fetch = Fetches()
    video = parse.message_event(dm_message(subtype="file_share", files=[PDF_FILE, VIDEO_CLIP]), fetch)
    assert video is not None and isinstance(video[1], Voice)  # the first audio file, even after a document
    assert video[1].file.mime_type == "video/mp4"
    pdf = parse.message_event(dm_message(subtype="file_share", files=[PDF_FILE]), fetch)
    assert pdf is not None and isinstance(pdf[1], Document) and pdf[1].file.filename == "cv.pdf"
    commented = parse.message_event(dm_message(subtype="file_share", text="here you go", files=[PDF_FILE]), fetch)
    assert commented is not None and commented[1] == Text("here you go")  # typed words win over a document
    by_type = {**PDF_FILE, "mimetype": "application/octet-stream", "filetype": "m4a", "size": 0}
    guessed = parse.message_event(dm_message(subtype="file_share", files=[by_type]), fetch)
    assert guessed is not None and isinstance(guessed[1], Voice) and guessed[1].file.size is None
    assert fetch.fetched == []


def test_typed_text_and_empty_messages() -> None:
    typed = parse.message_event(TYPED_ANSWER, Fetches())
    assert typed == (User("slack", "U07ALICE01"), Text("I led the migration of our billing service."))
    assert parse.message_event(dm_message(text="   "), Fetches()) is None


@pytest.mark.parametrize(
    ("event", "ignored"),
    [
        (CLIP_MESSAGE, False),
        (TYPED_ANSWER, False),
        (dm_message(subtype="thread_broadcast", text="also sent to the DM", **IN_THREAD), False),
        (OUR_OWN_REPLY, True),
        ({**OUR_OWN_REPLY, "bot_id": None}, True),  # our user id alone is enough
        (OTHER_BOT, True),
        (EDIT, True),
        (dm_message(subtype="message_deleted", hidden=True, deleted_ts="1718000100.000200"), True),
        (dm_message(channel="C07GENERAL", channel_type="channel", text="hi all"), True),
        ({k: v for k, v in TYPED_ANSWER.items() if k != "user"}, True),
    ],
)
def test_the_ignore_filter(event: dict[str, Any], ignored: bool) -> None:
    assert parse.ignored(event, BOT_USER_ID) is ignored


# ----- buttons -----------------------------------------------------------------------------------------------


def test_a_button_press_becomes_the_choice_its_value_carries() -> None:
    payload = json.loads(json.dumps(BLOCK_ACTIONS))
    user, choice = parse.choice_event(payload, payload["actions"][0])
    assert user == User("slack", "U07ALICE01", "alice") and choice == Choice("s:resume")
    assert parse.pressed_text(payload) == ""  # Slack sends no message for an ephemeral one
    in_dm = {**payload, "message": {"type": "message", "text": "Step 3 of 6: Which industry?", "ts": "1"}}
    assert parse.pressed_text(in_dm) == "Step 3 of 6: Which industry?"


def test_chat_options_become_buttons_that_give_their_action_back() -> None:
    row = buttons([Option("▶️ Resume", "s:resume", "primary"), Option("Cancel", "f:no")])
    assert [b["action_id"] for b in row["elements"]] == [f"{CHOICE_PREFIX}0", f"{CHOICE_PREFIX}1"]
    assert [b["value"] for b in row["elements"]] == ["s:resume", "f:no"]
    assert row["elements"][0]["style"] == "primary" and "style" not in row["elements"][1]
    pressed = {**BLOCK_ACTIONS, "actions": [{**BLOCK_ACTIONS["actions"][0], **row["elements"][1]}]}
    assert parse.choice_event(pressed, pressed["actions"][0])[1] == Choice("f:no")


# ----- the set-up modal ----------------------------------------------------------------------------------------


def test_a_submitted_modal_becomes_plain_values() -> None:
    view = VIEW_SUBMISSION["view"]
    assert parse.payload_user(VIEW_SUBMISSION) == User("slack", "U07ALICE01", "alice")
    assert parse.form_values(view) == {
        "role": "Data Engineer",
        "company": "Acme & Sons",
        "industry": "Fintech",
        "round": "screening",
        "cv": "Five years of Spark.",
        "jd": "",
    }
    assert not parse.replacing(view)
    assert parse.form_values({**view, "state": {"values": {}}}) == {}


async def test_the_modal_we_open_reads_back_as_the_forms_fields() -> None:
    form = setup_form(replace=True)
    view = setup_view(form)
    assert view["callback_id"] == SETUP_CALLBACK and parse.replacing(view)
    assert view["blocks"][0]["type"] == "context" and "ends your current interview" in str(view["blocks"][0])
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == [f.key for f in form.fields]
    select = next(b for b in inputs if b["block_id"] == "round")["element"]
    assert select["initial_option"]["value"] == "full"

    # What Slack would send back for that view with the user's input, as state.values.
    typed = {"role": "  ", "company": "Initech", "cv": "", "jd": ""}
    values = {
        b["block_id"]: {
            "value": {"type": "static_select", "selected_option": select["initial_option"]}
            if b["block_id"] == "round"
            else {"type": "plain_text_input", "value": typed.get(b["block_id"], b["element"].get("initial_value"))}
        }
        for b in inputs
    }
    submitted = parse.form_values({**view, "state": {"values": values}})
    assert submitted == {"role": "  ", "company": "Initech", "industry": "General", "round": "full", "cv": "", "jd": ""}
    chat = SlackAdapter(build_memory_engine(None)[0], SlackConfig(bot_token="xoxb-unused")).chat
    assert set(chat.form_problems(submitted)) == {"role"}  # block ids, for response_action=errors


def test_mrkdwn_escaping() -> None:
    assert escape("R&D <at> Acme > Co") == "R&amp;D &lt;at&gt; Acme &gt; Co"
