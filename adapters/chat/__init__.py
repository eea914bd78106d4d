"""The chat layer: the one conversation that Telegram and Slack both run.

The flow, for every message, button or command:

    platform event -> adapter -> chat layer -> engine -> replies -> adapter

1. An adapter (adapters/telegram, adapters/slack) turns its platform's update into an `Event` (`Command`,
   `Text`, `Voice`, `Document`, `Choice`, `Unsupported`) and a `User`, and calls `Chat.handle`.
2. `Chat` (conversation.py) decides what it means: set-up steps, the one-line start (parse.py), answers,
   commands, buttons, admin views. It calls the engine, which owns sessions and speech.
3. It yields frozen `Reply` values (replies.py): complete plain text in words.py's words, plus the structure a
   richer renderer can use (the question, the answer result, the report, options as abstract buttons, where the
   reply belongs). Nothing here knows Telegram or Slack; the platform's command spelling comes in a `Surface`.
4. The adapter renders each reply as its platform's messages: Telegram messages and inline keyboards, Slack
   Block Kit, threads and modals.
"""

from adapters.chat.conversation import (
    MAX_QUEUED_VOICE,
    READ_ONLY_COMMANDS,
    Chat,
    PlaceUnavailable,
    ReportLink,
    Surface,
)
from adapters.chat.parse import DEFAULT_INDUSTRY, OneLine, parse_one_line, split_command
from adapters.chat.replies import (
    Attachment,
    Choice,
    Command,
    Document,
    DownloadFailed,
    Edit,
    Event,
    FileSource,
    FormField,
    Kind,
    Link,
    Option,
    Reply,
    SessionsPage,
    SetupForm,
    ShownAnswers,
    Space,
    Text,
    Unsupported,
    Voice,
)
from adapters.chat.team import NOT_IN_CHANNEL, PRIVATE_REPORT_START, START_FORM, OpenSpace, TeamChat
from adapters.chat.text import megabytes, split_message
from adapters.chat.words import SORRY, Words

__all__ = [
    "DEFAULT_INDUSTRY",
    "MAX_QUEUED_VOICE",
    "NOT_IN_CHANNEL",
    "PRIVATE_REPORT_START",
    "READ_ONLY_COMMANDS",
    "SORRY",
    "START_FORM",
    "Attachment",
    "Chat",
    "Choice",
    "Command",
    "Document",
    "DownloadFailed",
    "Edit",
    "Event",
    "FileSource",
    "FormField",
    "Kind",
    "Link",
    "OneLine",
    "OpenSpace",
    "Option",
    "PlaceUnavailable",
    "Reply",
    "ReportLink",
    "SessionsPage",
    "SetupForm",
    "ShownAnswers",
    "Space",
    "Surface",
    "TeamChat",
    "Text",
    "Unsupported",
    "Voice",
    "Words",
    "megabytes",
    "parse_one_line",
    "split_command",
    "split_message",
]
