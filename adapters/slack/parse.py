"""Pure translators: Slack payloads (slash commands, DM messages, button presses, the set-up modal) to chat events."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.chat import Choice, Command, Document, Event, FileSource, Space, Text, Voice
from engine import User, space_id

PLATFORM = "slack"
REPLACING = "replace"  # the set-up modal's private_metadata when submitting it ends the interview in progress
# Slack clips arrive as webm/mp4 (audio or video); uploads may be any of these.
AUDIO_FILETYPES = frozenset({"webm", "mp4", "m4a", "ogg", "oga", "opus", "mp3", "wav", "flac", "aac"})
AUDIO_VIDEO_TYPES = frozenset({"video/webm", "video/mp4", "video/quicktime"})
# Message subtypes a person's new message can have: plain, with files, a thread reply also sent to the DM.
NEW_MESSAGES = frozenset({None, "file_share", "thread_broadcast"})
# Shared conversations a team interview can run in: public and private channels, group DMs.
SHARED = frozenset({"channel", "group", "mpim"})
TEAM_CALLBACK = "team_form"  # the rating and own-question modals
START_CALLBACK = "team_start"  # the team interview modal of `/interview` alone in a channel
# A channel a team interview can start in: public or private channel, group DM (never a DM, "D...").
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")
# A user mention as Slack escapes it in a slash command's text: <@U123|name> (or <@U123>).
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>\s*")

Fetch = Callable[[Mapping[str, Any]], Awaitable[bytes]]  # downloads one `files[]` entry of a message event


def command_event(command: Mapping[str, Any]) -> tuple[User, Command]:
    """A slash command's fields: `/interview <text>` and `/sessions <text>`, named without their slash."""
    user = User(PLATFORM, command["user_id"], command.get("user_name") or "")
    name = str(command.get("command") or "").lstrip("/").lower()
    # The manifest has Slack escape the text (so a mention arrives as <@U123|name>): &amp; &lt; &gt; undone here.
    return user, Command(name, html.unescape(" ".join(str(command.get("text") or "").split())))


def in_channel(command: Mapping[str, Any]) -> bool:
    """Whether a slash command was run in a shared conversation (a channel, a private channel, a group DM)."""
    return not str(command.get("channel_id") or "").startswith("D") and command.get("channel_name") != "directmessage"


def channel_of(command: Mapping[str, Any]) -> tuple[str, str]:
    """The conversation a slash command was run in: its id, and its name as people know it ("#backend", or "")."""
    name = str(command.get("channel_name") or "")
    return str(command.get("channel_id") or ""), f"#{name}" if name else ""


def candidate_of(text: str) -> tuple[User | None, str]:
    """The candidate a team start names first (`<@U123|ana> Role at Company`), and the one-line start after it."""
    match = MENTION.match(text)
    if match is None:
        return None, text
    return User(PLATFORM, match.group(1), match.group(2) or ""), text[match.end() :]


def space_of(channel: str, thread_ts: str, name: str = "") -> Space:
    """A channel thread as the place of a team interview: each thread holds its own."""
    return Space(space_id(channel, thread_ts), {"channel": channel, "thread_ts": thread_ts}, name)


def thread_space(event: Mapping[str, Any]) -> Space | None:
    """The space of a message in a shared conversation's thread; None at a channel's top level or in a DM."""
    thread_ts = event.get("thread_ts")
    if event.get("channel_type") not in SHARED or not thread_ts:
        return None
    return space_of(str(event["channel"]), str(thread_ts))


def pressed_space(body: Mapping[str, Any]) -> Space | None:
    """The space of a button pressed on a message in a shared conversation: the thread the message is in, or the
    thread under it (the invitation opens one)."""
    message = body.get("message")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if not isinstance(message, Mapping) or not channel:
        return None
    thread_ts = message.get("thread_ts") or message.get("ts")
    return space_of(str(channel), str(thread_ts)) if thread_ts else None


def ignored(event: Mapping[str, Any], bot_user_id: str) -> bool:
    """Only people's new messages in a DM, or in a channel's thread (team interviews), are for us: not bots (us
    included), edits, deletions or joins."""
    if event.get("bot_id") or event.get("subtype") not in NEW_MESSAGES:
        return True
    user = event.get("user")
    if not user or user == bot_user_id:
        return True
    return event.get("channel_type") not in (None, "im") and thread_space(event) is None


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
    """A submitted modal's inputs by block id ({role, company, industry, round, cv, jd}, a picked user's id);
    empty inputs are ""."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for element in actions.values():
            selected = element.get("selected_option")
            if isinstance(selected, Mapping):
                value = selected.get("value")
            else:
                value = element.get("selected_user") if element.get("type") == "users_select" else element.get("value")
            values[block_id] = str(value or "")
    return values


def team_form(view: Mapping[str, Any]) -> tuple[str, Space, tuple[str, str]] | None:
    """A submitted team modal: its action, the space it belongs to and the message whose button opened it."""
    try:
        meta = json.loads(view.get("private_metadata") or "")
        action, channel, thread_ts, ts = (str(meta[k]) for k in ("action", "channel", "thread_ts", "message_ts"))
    except (ValueError, KeyError, TypeError):
        return None
    return action, space_of(channel, thread_ts), (channel, ts)


def start_place(view: Mapping[str, Any]) -> tuple[str, str] | None:
    """The channel (id, name) a submitted team interview modal starts in, from its private metadata (see
    blocks.start_view); None when it is missing or not a channel's."""
    try:
        meta = json.loads(view.get("private_metadata") or "")
        channel, name = meta["channel"], meta.get("name", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(channel, str) or not CHANNEL_ID.fullmatch(channel) or not isinstance(name, str):
        return None
    return channel, name[:100]


def replacing(view: Mapping[str, Any]) -> bool:
    """Whether submitting this modal ends the interview in progress (see blocks.setup_view)."""
    return view.get("private_metadata") == REPLACING
