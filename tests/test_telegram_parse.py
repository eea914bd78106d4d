"""Telegram updates -> the chat layer's users and events, on updates recorded as the Bot API sends them."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update

from adapters.chat import Choice, Command, Document, Text, Unsupported, Voice
from adapters.telegram import TelegramConfig
from adapters.telegram.bot import surface
from adapters.telegram.parse import Incoming, Pressed, Refusal, translate
from engine import User

ADA = {
    "id": 501,
    "is_bot": False,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "username": "ada",
    "language_code": "en",
}
PRIVATE = {"id": 501, "first_name": "Ada", "last_name": "Lovelace", "username": "ada", "type": "private"}
GROUP = {"id": -1001234567890, "title": "Interview prep", "type": "supergroup"}
BOT = {"id": 123456, "is_bot": True, "first_name": "Interview Coach", "username": "interview_coach_bot"}


def message(chat: dict[str, Any] = PRIVATE, **content: Any) -> dict[str, Any]:
    return {
        "update_id": 900001,
        "message": {"message_id": 42, "from": ADA, "chat": chat, "date": 1733150000, **content},
    }


def command(text: str, chat: dict[str, Any] = PRIVATE) -> dict[str, Any]:
    length = len(text.split()[0])
    return message(chat=chat, text=text, entities=[{"offset": 0, "length": length, "type": "bot_command"}])


class Downloads:
    """Stands in for the adapter's download: records the file ids it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, file_id: str) -> bytes:
        self.asked.append(file_id)
        return b"data of " + file_id.encode()


def parse(payload: dict[str, Any], downloads: Downloads | None = None) -> Incoming | None:
    return translate(Update.de_json(payload, None), downloads or Downloads())


def test_who_is_speaking_and_where_the_replies_go() -> None:
    incoming = parse(message(text="I led the migration to PostgreSQL."))
    assert incoming is not None
    assert incoming.user == User("telegram", "501", "Ada Lovelace")
    assert incoming.event == Text("I led the migration to PostgreSQL.")
    assert (incoming.chat_id, incoming.message_id, incoming.pressed) == (501, 42, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/interview", Command("interview")),
        ("/interview Backend Engineer at TechCorp (Tech)", Command("interview", "Backend Engineer at TechCorp (Tech)")),
        ("/repeat@interview_coach_bot", Command("repeat")),
        ("/language   en-us", Command("language", "en-us")),
        ("/Status", Command("status")),
        ("/frobnicate now", Command("frobnicate", "now")),
    ],
)
def test_commands_are_named_without_slash_or_bot_name(text: str, expected: Command) -> None:
    incoming = parse(command(text))
    assert incoming is not None and incoming.event == expected


def test_a_slash_without_a_command_entity_is_text() -> None:
    incoming = parse(message(text="/ not really a command"))
    assert incoming is not None and incoming.event == Text("/ not really a command")


async def test_recordings_are_voice_events_that_download_only_when_read() -> None:
    downloads = Downloads()
    voice = {
        "duration": 3,
        "mime_type": "audio/ogg",
        "file_id": "AwACAgIAAxkBAAIBZ2",
        "file_unique_id": "AgADQ0",
        "file_size": 14336,
    }
    incoming = parse(message(voice=voice), downloads)
    assert incoming is not None and isinstance(incoming.event, Voice)
    source = incoming.event.file
    assert (source.mime_type, source.filename, source.size) == ("audio/ogg", "voice.ogg", 14336)
    assert downloads.asked == []  # nothing fetched before the chat layer has checked size and state
    assert await source.read() == b"data of AwACAgIAAxkBAAIBZ2" and downloads.asked == ["AwACAgIAAxkBAAIBZ2"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {
                "audio": {
                    "duration": 61,
                    "file_name": "answer.mp3",
                    "mime_type": "audio/mpeg",
                    "title": "Answer",
                    "file_id": "CQACAgIAAxkBAAIBaA",
                    "file_unique_id": "AgADRA",
                    "file_size": 980000,
                }
            },
            ("audio/mpeg", "answer.mp3", 980000, "CQACAgIAAxkBAAIBaA"),
        ),
        (
            {"audio": {"duration": 61, "file_id": "CQACAgIAAxkBAAIBaB", "file_unique_id": "AgADRB"}},
            ("audio/mpeg", "audio", None, "CQACAgIAAxkBAAIBaB"),
        ),
        (
            {
                "video_note": {
                    "duration": 4,
                    "length": 384,
                    "file_id": "DQACAgIAAxkBAAIBaQ",
                    "file_unique_id": "AgADRQ",
                    "file_size": 301234,
                    "thumbnail": {
                        "file_id": "AAMCAg",
                        "file_unique_id": "AQADRQ",
                        "file_size": 9000,
                        "width": 240,
                        "height": 240,
                    },
                }
            },
            ("video/mp4", "video_note.mp4", 301234, "DQACAgIAAxkBAAIBaQ"),
        ),
        (
            {
                "document": {
                    "file_name": "answer.m4a",
                    "mime_type": "audio/mp4",
                    "file_id": "BQACAgIAAxkBAAIBag",
                    "file_unique_id": "AgADRg",
                    "file_size": 512000,
                }
            },
            ("audio/mp4", "answer.m4a", 512000, "BQACAgIAAxkBAAIBag"),
        ),
    ],
)
async def test_audio_files_round_videos_and_audio_documents_are_answers(
    content: dict[str, Any], expected: tuple[str, str, int | None, str]
) -> None:
    downloads = Downloads()
    incoming = parse(message(**content), downloads)
    assert incoming is not None and isinstance(incoming.event, Voice)
    source = incoming.event.file
    await source.read()
    assert (source.mime_type, source.filename, source.size, downloads.asked[0]) == expected


async def test_other_documents_are_documents() -> None:
    downloads = Downloads()
    pdf = {
        "file_name": "Ada CV.pdf",
        "mime_type": "application/pdf",
        "file_id": "BQACAgIAAxkBAAIBaw",
        "file_unique_id": "AgADRw",
        "file_size": 48213,
    }
    incoming = parse(message(document=pdf, caption="my CV"), downloads)
    assert incoming is not None and isinstance(incoming.event, Document)
    source = incoming.event.file
    assert (source.mime_type, source.filename, source.size) == ("application/pdf", "Ada CV.pdf", 48213)
    assert await source.read() == b"data of BQACAgIAAxkBAAIBaw"
    bare = parse(message(document={"file_id": "BQACAgIAAxkBAAIBbA", "file_unique_id": "AgADSA"}))
    assert bare is not None and isinstance(bare.event, Document)
    assert (bare.event.file.mime_type, bare.event.file.filename, bare.event.file.size) == ("", "", None)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (
            {
                "sticker": {
                    "width": 512,
                    "height": 512,
                    "emoji": "👍",
                    "set_name": "HotCherry",
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                    "file_id": "CAACAgIAAxkBAAIBbQ",
                    "file_unique_id": "AgADSQ",
                    "file_size": 22000,
                }
            },
            "stickers",
        ),
        (
            {
                "photo": [
                    {
                        "file_id": "AgACAgIAAxkBAAIBbg",
                        "file_unique_id": "AQADSg",
                        "file_size": 1200,
                        "width": 90,
                        "height": 60,
                    }
                ],
                "caption": "my desk",
            },
            "photos",
        ),
        ({"location": {"latitude": 52.52, "longitude": 13.405}}, "locations"),
        ({"contact": {"phone_number": "+49301234567", "first_name": "Grace"}}, "contacts"),
        ({"dice": {"emoji": "🎲", "value": 4}}, "dice"),
        (
            {
                "venue": {
                    "location": {"latitude": 52.52, "longitude": 13.405},
                    "title": "Cafe",
                    "address": "Main St 1",
                },
                "location": {"latitude": 52.52, "longitude": 13.405},
            },
            "locations",
        ),
        ({"game": {"title": "Quiz", "description": "A game", "photo": []}}, "that kind of message"),
    ],
)
def test_what_we_cannot_use_is_named(content: dict[str, Any], what: str) -> None:
    incoming = parse(message(**content))
    assert incoming is not None and incoming.event == Unsupported(what)


def test_button_presses_are_choices_with_the_pressed_message() -> None:
    payload = {
        "update_id": 900010,
        "callback_query": {
            "id": "4382011736915437",
            "from": ADA,
            "chat_instance": "-5307715245178531004",
            "data": "w:industry:general",
            "message": {
                "message_id": 77,
                "from": BOT,
                "chat": PRIVATE,
                "date": 1733150100,
                "text": "Step 3 of 6: Which industry is it in? Type it, or tap General.",
                "reply_markup": {"inline_keyboard": [[{"text": "General", "callback_data": "w:industry:general"}]]},
            },
        },
    }
    incoming = parse(payload)
    assert incoming is not None
    assert incoming.event == Choice("w:industry:general") and incoming.chat_id == 501
    assert incoming.pressed == Pressed(77, "Step 3 of 6: Which industry is it in? Type it, or tap General.")

    # Older than 48 hours: Telegram sends the message without its content (date 0), and it can't be edited.
    shown = {"message_id": 77, "chat": PRIVATE, "date": 0}
    payload["callback_query"]["message"] = shown
    old = parse(payload)
    assert old is not None and old.event == Choice("w:industry:general") and old.pressed is None

    # A button under an inline-mode message, or a game button: nothing this bot made.
    inline = {
        "update_id": 900011,
        "callback_query": {
            "id": "1",
            "from": ADA,
            "chat_instance": "9",
            "inline_message_id": "AAAAAHb",
            "data": "f:yes",
        },
    }
    assert parse(inline) is None
    game = {
        "update_id": 900012,
        "callback_query": {"id": "2", "from": ADA, "chat_instance": "9", "game_short_name": "quiz", "message": shown},
    }
    assert parse(game) is None


def test_group_messages_belong_to_the_group_team_interview() -> None:
    incoming = parse(command("/interview@interview_coach_bot", chat=GROUP))
    assert incoming is not None and incoming.chat_id == GROUP["id"] and incoming.space is not None
    assert incoming.space.key == f"team:{GROUP['id']}" and incoming.space.name == "Interview prep"
    assert incoming.event == Command("interview") and incoming.candidate is None
    chatter = parse(message(chat=GROUP, text="has anyone tried this bot?"))
    assert chatter is not None and chatter.event == Text("has anyone tried this bot?") and chatter.space is not None
    voice = {"duration": 2, "file_id": "AwACAgIAAxkBAAIBcA", "file_unique_id": "AgADTA"}
    spoken = parse(message(chat=GROUP, voice=voice))
    assert spoken is not None and isinstance(spoken.event, Voice) and spoken.space == chatter.space


def test_edits_are_refused_and_service_messages_and_channel_posts_ignored() -> None:
    edited = {
        "update_id": 900020,
        "edited_message": {
            "message_id": 42,
            "from": ADA,
            "chat": PRIVATE,
            "date": 1733150000,
            "edit_date": 1733150060,
            "text": "I led the migration (edited)",
        },
    }
    incoming = parse(edited)
    assert incoming is not None and incoming.event is Refusal.EDITED and incoming.message_id == 42
    group_edit = {"update_id": 900021, "edited_message": {**edited["edited_message"], "chat": GROUP}}
    assert parse(group_edit) is None

    pinned = message(
        pinned_message={"message_id": 41, "from": BOT, "chat": PRIVATE, "date": 1733149000, "text": "Question 1 of 8"}
    )
    assert parse(pinned) is None
    allowed = message(write_access_allowed={"from_request": True})
    assert parse(allowed) is None
    channel = {
        "update_id": 900022,
        "channel_post": {
            "message_id": 5,
            "sender_chat": {"id": -100987, "type": "channel", "title": "News"},
            "chat": {"id": -100987, "type": "channel", "title": "News"},
            "date": 1733150000,
            "text": "/interview",
        },
    }
    assert parse(channel) is None
    blocked = {
        "update_id": 900023,
        "my_chat_member": {
            "chat": PRIVATE,
            "from": ADA,
            "date": 1733150000,
            "old_chat_member": {"user": BOT, "status": "member"},
            "new_chat_member": {"user": BOT, "status": "kicked", "until_date": 0},
        },
    }
    assert parse(blocked) is None


def test_the_surface_admins_and_the_cloud_download_cap() -> None:
    cloud = surface(TelegramConfig(token="t", admins=(9001, 42)))
    assert cloud.admins == frozenset({"9001", "42"}) and cloud.max_file_bytes == 20 * 1024 * 1024
    assert (cloud.platform, cloud.cmd("repeat"), cloud.voice, cloud.forms, cloud.threads) == (
        "telegram",
        "/repeat",
        "voice note",
        False,
        False,
    )
    local = surface(TelegramConfig(token="t", api_base_url="http://127.0.0.1:8081/bot"))
    assert local.max_file_bytes is None and local.admins == frozenset()
