"""Pure translators: Slack payloads (slash commands, DM messages, button presses, the set-up modal) to chat events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.chat import Choice, Command, Document, Event, FileSource, Text, Voice
from engine import User

PLATFORM = "slack"
REPLACING = "replace"  # the set-up modal's private_metadata when submitting it ends the interview in progress
# Slack clips arrive as webm/mp4 (audio or video); uploads may be any of these.
AUDIO_FILETYPES = frozenset({"webm", "mp4", "m4a", "ogg", "oga", "opus", "mp3", "wav", "flac", "aac"})
AUDIO_VIDEO_TYPES = frozenset({"video/webm", "video/mp4", "video/quicktime"})
# Message subtypes a person's new message can have: plain, with files, a thread reply also sent to the DM.
NEW_MESSAGES = frozenset({None, "file_share", "thread_broadcast"})

Fetch = Callable[[Mapping[str, Any]], Awaitable[bytes]]  # downloads one `files[]` entry of a message event


def command_event(command: Mapping[str, Any]) -> tuple[User, Command]:
    """A slash command's fields: `/interview <text>` and `/sessions <text>`, named without their slash."""
    user = User(PLATFORM, command["user_id"], command.get("user_name") or "")
    name = str(command.get("command") or "").lstrip("/").lower()
    return user, Command(name, " ".join(str(command.get("text") or "").split()))


def ignored(event: Mapping[str, Any], bot_user_id: str) -> bool:
    """Only people's new messages in a DM are answers: not bots (us included), edits, deletions or joins."""
    if event.get("bot_id") or event.get("subtype") not in NEW_MESSAGES:
        return True
    user = event.get("user")
    if not user or user == bot_user_id:
        return True
    return event.get("channel_type") not in (None, "im")


def message_event(event: Mapping[str, Any], fetch: Fetch) -> tuple[User, Event] | None:
    """A DM message as an answer: its first audio file, else its text, else its first other file; None if empty.

    Nothing is downloaded here: a file becomes a FileSource whose `read` calls `fetch` when the chat layer wants it.
    """
    user = User(PLATFORM, event["user"])
    files = [f for f in event.get("files") or [] if isinstance(f, Mapping)]
    audio = next((f for f in files if is_audio(f)), None)
    if audio is not None:
        return user, Voice(file_source(audio, fetch))
    text = str(event.get("text") or "").strip()
    if text:
        return user, Text(text)
    if files:
        return user, Document(file_source(files[0], fetch))
    return None


def is_audio(file: Mapping[str, Any]) -> bool:
    mimetype = str(file.get("mimetype") or "").lower()
    if mimetype.startswith("audio/") or mimetype in AUDIO_VIDEO_TYPES:
        return True
    return str(file.get("filetype") or "").lower() in AUDIO_FILETYPES


def file_source(file: Mapping[str, Any], fetch: Fetch) -> FileSource:
    """A file as the chat layer sees it before download: type, name and the size Slack reports."""

    async def read() -> bytes:
        return await fetch(file)

    size = file.get("size")
    return FileSource(
        read,
        mime_type=str(file.get("mimetype") or ""),
        filename=str(file.get("name") or ""),
        size=size if isinstance(size, int) and size > 0 else None,
    )


def payload_user(body: Mapping[str, Any]) -> User:
    """Who pressed a button or submitted a modal (interactivity payloads carry the same `user` object)."""
    user = body["user"]
    return User(PLATFORM, user["id"], user.get("username") or user.get("name") or "")


def choice_event(body: Mapping[str, Any], action: Mapping[str, Any]) -> tuple[User, Choice]:
    """A chat button pressed: its value is the Option.action the chat layer gave it."""
    return payload_user(body), Choice(str(action.get("value") or ""))


def pressed_text(body: Mapping[str, Any]) -> str:
    """The text of the message whose button was pressed; Slack leaves it out for ephemeral messages."""
    message = body.get("message")
    return str(message.get("text") or "") if isinstance(message, Mapping) else ""


def form_values(view: Mapping[str, Any]) -> dict[str, str]:
    """A submitted modal's inputs by block id ({role, company, industry, round, cv, jd}); empty inputs are ""."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for element in actions.values():
            selected = element.get("selected_option")
            value = selected.get("value") if isinstance(selected, Mapping) else element.get("value")
            values[block_id] = str(value or "")
    return values


def replacing(view: Mapping[str, Any]) -> bool:
    """Whether submitting this modal ends the interview in progress (see blocks.setup_view)."""
    return view.get("private_metadata") == REPLACING
