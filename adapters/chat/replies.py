"""What goes in and out of the chat layer: platform events in, frozen reply values out.

Nothing here knows Telegram or Slack. An adapter turns its platform's update into one of the events below, runs
it through `Chat`, and renders each `Reply` as its own messages, buttons, threads or modals.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from engine import AnswerResult, InterviewSpec, Question, Report, SessionSummary

# ----- events: what the user did ---------------------------------------------------------------------------------


class PlaceUnavailable(Exception):
    """The surface could not open the place where an interview lives (e.g. Slack would not open a DM, or the bot is
    not a member of the channel: the reason is then adapters.chat.team.NOT_IN_CHANNEL)."""


class DownloadFailed(Exception):
    """The platform would not hand over a file (expired link, missing scope, network trouble)."""


class Sink(Protocol):
    """Where a download is saved as it arrives (the engine's AudioUpload): chunk by chunk, never whole."""

    async def write(self, chunk: bytes | bytearray | memoryview) -> None: ...


# The sink the download running in this task writes to (set by FileSource.save for the length of one download).
_saving_to: ContextVar[Sink | None] = ContextVar("saving_to", default=None)


def saving_to() -> Sink | None:
    """For an adapter's download function: where to write the file chunk by chunk (then return b""), or None when
    its bytes are wanted (a CV, a job description)."""
    return _saving_to.get()


@dataclass(frozen=True)
class FileSource:
    """A file the user sent, not downloaded yet: the chat layer checks it before anything is fetched."""

    read: Callable[[], Awaitable[bytes]]  # downloads it; raises DownloadFailed
    mime_type: str = ""
    filename: str = ""
    size: int | None = None  # what the platform reports before download, when it does

    async def save(self, into: Sink) -> None:
        """Download into `into` as the file arrives, never holding it whole (voice answers); raises DownloadFailed.

        `read` keeps its one signature, so the platform's download function learns where to write from saving_to();
        one that does not look (a test's fake) returns the bytes, and they are written here.
        """
        token = _saving_to.set(into)
        try:
            data = await self.read()
        finally:
            _saving_to.reset(token)
        if data:
            await into.write(data)


@dataclass(frozen=True)
class Command:
    """A command, named without the platform's spelling: Telegram `/repeat` and Slack `/interview repeat`."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Text:
    """Typed text that is not a command: a set-up answer, or an interview answer."""

    text: str
    # The text of the bot's message this one replies to, where the platform says (Telegram): a reply to the bot's
    # "reply with your question" is the interviewer's own question; a teammate's reply to an answer comments on it.
    quoting: str = ""


@dataclass(frozen=True)
class Voice:
    """A recording meant as an answer: voice note, audio file, video note, audio clip."""

    file: FileSource
    quoting: str = ""  # as Text.quoting: the bot's message this one replies to (a teammate's voice comment on it)


@dataclass(frozen=True)
class Document:
    """A non-audio file: a CV or job description while setting up, otherwise not something we use."""

    file: FileSource


@dataclass(frozen=True)
class Choice:
    """A button pressed; `action` is an Option.action this layer made earlier (possibly before a restart)."""

    action: str


@dataclass(frozen=True)
class Unsupported:
    """Anything else (stickers, photos, edits...); `what` names it in words, e.g. "stickers"."""

    what: str


Event = Command | Text | Voice | Document | Choice | Unsupported


@dataclass(frozen=True)
class Space:
    """A shared place a team interview runs in: a Slack channel thread, a Telegram group."""

    key: str  # the engine user id that holds its interview (engine.space_id): "team:C123:1700000000.000100"
    route: Mapping[str, Any]  # where its replies go: {"channel", "thread_ts"} or {"chat_id"}
    name: str = ""  # how people know the place: "#backend", the group's title


# ----- replies: what to show ----------------------------------------------------------------------------------------


class Kind(enum.Enum):
    """What a reply is, so a renderer can lay it out richly (Slack blocks) or just send the text (Telegram)."""

    NOTE = "note"
    ERROR = "error"
    HELP = "help"
    STATUS = "status"
    PROMPT = "prompt"  # asks the user something, usually with options
    INTRO = "intro"  # opens an interview; on Slack it becomes the thread's parent message
    QUESTION = "question"
    PROGRESS = "progress"  # "transcribing…": the next reply with edit=PROGRESS replaces it
    ANSWER = "answer"  # transcript and feedback
    REPORT = "report"
    SESSIONS = "sessions"  # the admin table
    FORM = "form"  # open the set-up form (Slack's modal); only on surfaces with forms
    FILE = "file"  # `attachment`: a spoken question (voice note) or a chart (image), with `text` as its caption


class Edit(enum.Enum):
    """Whether a reply is a new message or changes one already shown."""

    NONE = "none"
    PRESSED = "pressed"  # replace the message whose button was pressed (its buttons go)
    CHOSEN = "chosen"  # keep the pressed message's text, add this reply's text under it, drop its buttons
    PROGRESS = "progress"  # replace the PROGRESS placeholder shown for this event
    # replace the message that showed this ANSWER reply's answer (`result`), wherever and whenever it was sent; a
    # renderer that no longer knows that message sends the reply anew
    ANSWER = "answer"


@dataclass(frozen=True)
class Option:
    """A button: a label, and the action string that comes back as a Choice when it is pressed."""

    label: str
    action: str
    style: str = ""  # "primary", "danger" or "" (platforms without styles ignore it)


@dataclass(frozen=True)
class Link:
    """A web page to open, shown as a URL button (Telegram) or a link button (Slack): the report's private page."""

    label: str
    url: str


@dataclass(frozen=True)
class SessionsPage:
    """One page of the admin table."""

    title: str
    rows: tuple[SessionSummary, ...]
    offset: int
    total: int


@dataclass(frozen=True)
class FormField:
    """One field of the set-up form; the Telegram wizard asks the same fields one step at a time."""

    key: str  # role, company, industry, round, cv, jd (a team start: candidate)
    label: str
    max_length: int
    placeholder: str = ""
    initial: str = ""
    optional: bool = False
    multiline: bool = False
    choices: tuple[Option, ...] = ()  # a pick-one field (round type); Option.action is the value
    # A person of the workspace (Slack: a user picker); the value, and `initial`, is a platform user id.
    person: bool = False


@dataclass(frozen=True)
class SetupForm:
    """The set-up form; `replace` says submitting it ends the interview in progress."""

    title: str
    fields: tuple[FormField, ...]
    replace: bool = False
    note: str = ""
    submit: str = "Start"
    close: str = "Cancel"
    # Not the set-up: what submitting it does in a team interview ("rate:<session>:<index>", "ask:<session>", or
    # adapters.chat.team.START_FORM: start one in a shared space).
    action: str = ""


@dataclass(frozen=True)
class Attachment:
    """A file sent beside the text: a spoken question or a chart. Renderers send it as their platform's voice
    note or photo (Telegram) or as a file in the interview's thread (Slack)."""

    kind: str  # "voice" or "image"
    data: bytes
    mime_type: str  # audio/ogg (Opus) or audio/mpeg for voice, image/png for image
    filename: str
    duration_seconds: float = 0.0  # voice only
    title: str = ""  # a short name shown with the file ("Question 3", "Your interview in a chart")


@dataclass(frozen=True)
class Reply:
    """One thing to show the user. `text` is always complete plain text in this layer's words; the other
    fields let a renderer do better than plain text where its platform can."""

    kind: Kind
    text: str
    options: tuple[Option, ...] = ()
    # None: where the user spoke. Otherwise the interview's place (the session's route): a Telegram chat, a
    # Slack thread. A renderer that already shows the user's messages there treats both the same.
    to: Mapping[str, Any] | None = None
    # Only worth showing where the user is NOT looking at the interview's place (a Slack slash command's
    # ephemeral reply): "the next step is in our interview thread".
    pointer: bool = False
    edit: Edit = Edit.NONE
    opens_thread: bool = False  # INTRO on surfaces with threads: later replies go under it
    question: Question | None = None
    label: str = ""  # the question's number for people ("4", "3a" for a follow-up) for QUESTION and ANSWER
    total: int = 0  # the planned questions (follow-ups not counted)
    result: AnswerResult | None = None
    report: Report | None = None
    spec: InterviewSpec | None = None
    sessions: SessionsPage | None = None
    form: SetupForm | None = None
    attachment: Attachment | None = None  # Kind.FILE only
    # The opening words of `text` before its structured part ("Interview ended."), for renderers that lay out
    # the structured part themselves and would otherwise lose them.
    lead: str = ""
    link: Link | None = None  # REPORT: the whole interview as a private web page, when links are on
    # Team interviews. Only the person who acted sees it (Slack: an ephemeral message; Telegram: an alert on the
    # button pressed, else a reply to their message).
    ephemeral: bool = False
    dm_to: str = ""  # a platform user id: sent to that person privately (the candidate's full report)
    # dm_to only: said in the space instead when the platform refuses the private copy (Telegram: the person never
    # opened a chat with the bot); the renderer adds its own way to open one.
    undelivered: str = ""
    hint: str = ""  # QUESTION: the line under the question, in place of the usual answer hint
    footer: str = ""  # ANSWER: a line under the feedback (the team's ratings so far), already part of `text`


Ref = TypeVar("Ref")


class ShownAnswers(Generic[Ref]):
    """Which message showed which answer, so a later Edit.ANSWER reply (the model's feedback) replaces it.

    Kept in memory and bounded: the model answers within seconds, and after a restart or for a long-forgotten
    answer the renderer simply sends the reply anew.
    """

    def __init__(self, limit: int = 2000) -> None:
        self._limit = limit
        self._refs: OrderedDict[tuple[str, int], Ref] = OrderedDict()

    @staticmethod
    def key(reply: Reply) -> tuple[str, int] | None:
        if reply.kind is not Kind.ANSWER or reply.result is None:
            return None
        return (reply.result.session.session_id, reply.result.answer.index)

    def remember(self, reply: Reply, ref: Ref) -> None:
        key = self.key(reply)
        if key is None:
            return
        self._refs[key] = ref
        self._refs.move_to_end(key)
        while len(self._refs) > self._limit:
            self._refs.popitem(last=False)

    def find(self, reply: Reply) -> Ref | None:
        key = self.key(reply)
        return self._refs.get(key) if key is not None else None
