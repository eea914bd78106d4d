"""Pure translation of Telegram updates into the chat layer's users and events (no I/O happens here)."""

from __future__ import annotations

import enum
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import CallbackQuery, ChatMember, ChatMemberUpdated, Message, Update
from telegram import Chat as TelegramChat
from telegram import User as TelegramUser
from telegram.ext import filters

from adapters.chat import Choice, Command, Document, Event, FileSource, Space, Text, Unsupported, Voice, split_command
from engine import User, space_id

PLATFORM = "telegram"

# Downloads one file by its Telegram file_id; raises adapters.chat.DownloadFailed.
Download = Callable[[str], Awaitable[bytes]]

# Media we cannot use, in the words of "I can't use …", checked in this order.
UNSUPPORTED = (
    ("sticker", "stickers"), ("photo", "photos"), ("animation", "GIFs"), ("video", "videos"),
    ("location", "locations"), ("contact", "contacts"), ("poll", "polls"), ("dice", "dice"),
)  # fmt: skip
_AUDIO_DOCUMENT = filters.Document.AUDIO  # a file whose mime type says audio: an answer, not a CV


class Refusal(enum.Enum):
    """Updates answered with a fixed sentence, without running the conversation."""

    GROUP_CHAT = "group_chat"  # a command in a channel: interviews happen in private chats and groups only
    EDITED = "edited"  # an edited message: we use messages as first sent
    ADDED = "added"  # the bot was added to a group: it says how team interviews run there
    MOVED = "moved"  # a group became a supergroup (a new chat id): its interview moves with it


@dataclass(frozen=True)
class Pressed:
    """The bot's message under which a button was pressed: edits of it keep or replace this text."""

    message_id: int
    text: str


@dataclass(frozen=True)
class Incoming:
    """One update as the chat layer sees it, and where its replies go."""

    user: User
    event: Event | Refusal
    chat_id: int
    message_id: int | None = None  # the user's message: the "transcribing…" placeholder replies to it
    pressed: Pressed | None = None  # set for a button press whose message Telegram still shows us
    space: Space | None = None  # a group: the team interview's place (one at a time per group)
    candidate: User | None = None  # a group's /interview sent as a reply to a member's message: that member
    moved_to: Space | None = None  # Refusal.MOVED: the supergroup the group (`space`) became


def user_of(account: TelegramUser) -> User:
    return User(PLATFORM, str(account.id), account.full_name or "")


def is_private(chat: TelegramChat) -> bool:
    return chat.type == TelegramChat.PRIVATE


def is_group(chat: TelegramChat) -> bool:
    return chat.type in (TelegramChat.GROUP, TelegramChat.SUPERGROUP)


def group_space(chat: TelegramChat, topic: int | None = None) -> Space:
    """A group, or one topic of a forum group, as the place of a team interview. One runs at a time in each: a
    member's reply names only the message it answers (Telegram nests one level of replies), so it could not tell
    two interviews in one place apart; a forum's topics are separate places."""
    if topic is None:
        return Space(space_id(chat.id), {"chat_id": chat.id}, chat.title or "")
    return Space(space_id(chat.id, topic), {"chat_id": chat.id, "topic": topic}, chat.title or "")


def topic_of(message: Message) -> int | None:
    """The forum topic a group message was sent in; None outside forums and in the General topic."""
    return message.message_thread_id if message.is_topic_message and message.message_thread_id else None


def translate(update: Update, download: Download) -> Incoming | None:
    """What an update means to the chat layer; None for updates we leave alone (channel posts, joins...)."""
    if update.message is not None and (update.message.migrate_to_chat_id or update.message.migrate_from_chat_id):
        return _migration(update.message)
    account = update.effective_user
    if account is None:
        return None
    user = user_of(account)
    if update.callback_query is not None:
        return _press(update.callback_query, user)
    if update.my_chat_member is not None:
        return _membership(update.my_chat_member, user)
    if update.edited_message is not None:
        edited = update.edited_message
        if not is_private(edited.chat):
            return None
        return Incoming(user, Refusal.EDITED, edited.chat_id, edited.message_id)
    message = update.message
    if message is None:
        return None
    if not is_private(message.chat):
        if not is_group(message.chat):
            if not filters.COMMAND.filter(message):
                return None
            return Incoming(user, Refusal.GROUP_CHAT, message.chat_id, message.message_id)
        if filters.StatusUpdate.ALL.check_update(update) or for_another_bot(message):
            return None
        replied = message.reply_to_message
        named = replied.from_user if replied is not None and replied.from_user is not None else None
        candidate = user_of(named) if named is not None and not named.is_bot else None
        return Incoming(user, event_of(message, download), message.chat_id, message.message_id,
                        space=group_space(message.chat, topic_of(message)), candidate=candidate)  # fmt: skip
    if filters.StatusUpdate.ALL.check_update(update):
        return None  # service messages (pinned, auto-delete timer...): nothing the user said to us
    return Incoming(user, event_of(message, download), message.chat_id, message.message_id)


def for_another_bot(message: Message) -> bool:
    """A command addressed to another bot of the group (/help@OtherBot): not ours to answer."""
    if not filters.COMMAND.filter(message):
        return False
    _, at, name = (message.text or "").split(maxsplit=1)[0].partition("@")
    if not at:
        return False
    try:
        ours = message.get_bot().username
    except RuntimeError:  # no bot attached, or not initialised: nobody to compare with
        return False
    return name.lower() != ours.lower()


def event_of(message: Message, download: Download) -> Event:
    """The event a private message is: a command, text, a recording, a document, or something we can't use."""
    if filters.COMMAND.filter(message):
        name, args = split_command(message.text or "")
        return Command(name, args)
    if message.text is not None:
        return Text(message.text, quoting=quoting(message))
    recording = recording_of(message, download)
    if recording is not None:
        return Voice(recording, quoting=quoting(message))
    document = message.document
    if document is not None:
        mime_type, name = document.mime_type or "", document.file_name or ""
        return Document(_source(download, document.file_id, mime_type, name, document.file_size))
    return Unsupported(unsupported_kind(message))


def quoting(message: Message) -> str:
    """The text of the bot's message this one replies to; "" when it replies to none, or to a person's."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or not replied.from_user.is_bot:
        return ""
    return replied.text or replied.caption or ""


def recording_of(message: Message, download: Download) -> FileSource | None:
    """The recording in a voice note, audio file, round video message or audio document, not downloaded yet."""
    if message.voice is not None:
        voice = message.voice
        return _source(download, voice.file_id, voice.mime_type or "audio/ogg", "voice.ogg", voice.file_size)
    if message.audio is not None:
        audio = message.audio
        mime_type, name = audio.mime_type or "audio/mpeg", audio.file_name or "audio"
        return _source(download, audio.file_id, mime_type, name, audio.file_size)
    if message.video_note is not None:  # the engine uses its sound track; Telegram gives no mime type
        note = message.video_note
        return _source(download, note.file_id, "video/mp4", "video_note.mp4", note.file_size)
    if message.document is not None and _AUDIO_DOCUMENT.filter(message):
        document = message.document
        mime_type, name = document.mime_type or "", document.file_name or "audio"
        return _source(download, document.file_id, mime_type, name, document.file_size)
    return None


def unsupported_kind(message: Message) -> str:
    """What the user sent, in words, for "I can't use …"."""
    for attribute, words in UNSUPPORTED:
        if getattr(message, attribute, None):
            return words
    return "that kind of message"


def _migration(message: Message) -> Incoming:
    """A group upgraded to a supergroup: Telegram says so in both (migrate_to in the old one, migrate_from in the
    new), and either moves the interview; both are the old group's events, so they run one after the other."""
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    else:
        old, new = int(message.migrate_from_chat_id or 0), message.chat.id
    who = user_of(message.from_user) if message.from_user is not None else User(PLATFORM, "", "")
    title = message.chat.title or ""
    old_space = Space(space_id(old), {"chat_id": old}, title)
    return Incoming(who, Refusal.MOVED, new, space=old_space, moved_to=Space(space_id(new), {"chat_id": new}, title))


def _membership(change: ChatMemberUpdated, user: User) -> Incoming | None:
    """The bot joined a group (someone added it): a hello there; any other change of its membership, nothing."""
    joined = change.new_chat_member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR)
    was_out = change.old_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED)
    if not (is_group(change.chat) and joined and was_out):
        return None
    return Incoming(user, Refusal.ADDED, change.chat.id, space=group_space(change.chat))


def _press(query: CallbackQuery, user: User) -> Incoming | None:
    if not query.data:
        return None  # a game button: nothing we made
    shown = query.message
    if shown is None:  # a button under an inline-mode message: never ours
        return None
    group = is_group(shown.chat)
    if not is_private(shown.chat) and not group:
        return None
    pressed = None
    if isinstance(shown, Message) and shown.is_accessible:  # Telegram leaves out the content of old messages
        pressed = Pressed(shown.message_id, shown.text or "")
    topic = topic_of(shown) if isinstance(shown, Message) and shown.is_accessible else None
    space = group_space(shown.chat, topic) if group else None
    return Incoming(user, Choice(query.data), shown.chat.id, pressed=pressed, space=space)


def _source(download: Download, file_id: str, mime_type: str, filename: str, size: int | None) -> FileSource:
    return FileSource(functools.partial(download, file_id), mime_type, filename, size)
