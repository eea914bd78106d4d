"""The chat layer without any platform: events in, replies collected, on the real engine with an in-memory store.

Speech is a stand-in that "hears" the bytes it is given as text, so these tests check the conversation, not Vosk
(tests/test_speech.py and the adapter tests use the real model).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.chat import (
    Chat,
    Choice,
    Command,
    Document,
    DownloadFailed,
    Edit,
    Event,
    FileSource,
    Kind,
    Reply,
    Text,
    Unsupported,
    Voice,
    parse_one_line,
)
from adapters.slack import SlackConfig
from adapters.slack.app import surface as slack_surface
from adapters.telegram import TelegramConfig
from adapters.telegram.bot import surface as telegram_surface
from engine import AudioInput, InterviewEngine, InterviewSpec, Transcript, User, errors
from engine.store import MemoryStore

TELEGRAM = telegram_surface(TelegramConfig(admins=(9,)))
SLACK = slack_surface(SlackConfig(admins=("UADMIN",)))


class HeardSpeech:
    """Hears the audio bytes as the transcript; `fail` makes the next job crash."""

    def __init__(self) -> None:
        self.fail: Exception | None = None
        self.calls = 0

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        with audio.open() as recording:  # the engine hands over the saved file, not bytes
            return Transcript(text=recording.read().decode(), duration=6.0, language=language)

    @property
    def queue_depth(self) -> int:
        return 0

    def has_language(self, language: str) -> bool:
        return language == "en-us"

    def health(self) -> dict[str, Any]:
        return {"available": True}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def speech() -> HeardSpeech:
    return HeardSpeech()


@pytest.fixture
def engine(tmp_path: Path, speech: HeardSpeech) -> InterviewEngine:
    return InterviewEngine(MemoryStore(), speech, default_language="en-us", audio_dir=tmp_path / "audio")


async def run(chat: Chat, user: User, event: Event, place: Any = None) -> list[Reply]:
    place = {"chat_id": int(user.user_id)} if place is None and user.platform == "telegram" else place
    return [reply async for reply in chat.handle(user, event, place or {"channel": "D" + user.user_id})]


async def collect(replies: AsyncIterator[Reply]) -> list[Reply]:
    return [reply async for reply in replies]


def texts(replies: list[Reply]) -> str:
    return "\n---\n".join(r.text for r in replies)


def voice(data: bytes, *, size: int | None = None, fail: bool = False) -> tuple[Voice, list[int]]:
    reads: list[int] = []

    async def read() -> bytes:
        reads.append(1)
        if fail:
            raise DownloadFailed("link expired")
        return data

    return Voice(FileSource(read, "audio/ogg", "voice.ogg", size if size is not None else len(data))), reads


TG_USER = User("telegram", "501", "Ada")
SLACK_USER = User("slack", "UALICE", "alice")

# ----- the one-line start ---------------------------------------------------------------------------------------

ONE_LINERS = [
    ("Head of Data at Scale at Google (AI)", ("Head of Data at Scale", "Google", "AI", "full")),
    ("Senior Backend Engineer at TechCorp (Technology)", ("Senior Backend Engineer", "TechCorp", "Technology", "full")),
    ("Senior Backend Engineer at TechCorp", ("Senior Backend Engineer", "TechCorp", "General", "full")),
    ("backend engineer at techcorp", ("backend engineer", "techcorp", "General", "full")),
    ("SRE AT Google", ("SRE", "Google", "General", "full")),
    (
        "Backend Engineer at TechCorp (Technology) technical",
        ("Backend Engineer", "TechCorp", "Technology", "technical"),
    ),
    ("Backend Engineer at TechCorp technical", ("Backend Engineer", "TechCorp", "General", "technical")),
    ("QA Lead at Initech (Software) Behavioural", ("QA Lead", "Initech", "Software", "behavioral")),
    ("Product Manager at Globex screening", ("Product Manager", "Globex", "General", "screening")),
    ("Data Analyst at Acme Labs", ("Data Analyst", "Acme Labs", "General", "full")),
    ("Engineer at Technical", ("Engineer", "Technical", "General", "full")),
    ("Designer @ Figma (Design Tools) tech", ("Designer", "Figma", "Design Tools", "technical")),
    ("  Staff   Engineer   at   Stripe   (Payments)  ", ("Staff Engineer", "Stripe", "Payments", "full")),
    ("Engineer at Acme ()", ("Engineer", "Acme", "General", "full")),
    ("Analyst at Bank of America (Finance)", ("Analyst", "Bank of America", "Finance", "full")),
    ("Nurse at St. Mary's Hospital (Healthcare) full", ("Nurse", "St. Mary's Hospital", "Healthcare", "full")),
]
NOT_ONE_LINERS = ["just some words", "at Google", "Engineer at", "", "   ", "technical"]


@pytest.mark.parametrize(("text", "expected"), ONE_LINERS)
def test_one_line_start_grammar(text: str, expected: tuple[str, str, str, str]) -> None:
    parsed = parse_one_line(text)
    assert parsed is not None
    assert (parsed.role, parsed.company, parsed.industry, parsed.round_type) == expected


@pytest.mark.parametrize("text", NOT_ONE_LINERS)
def test_what_is_not_a_one_line_start(text: str) -> None:
    assert parse_one_line(text) is None


def test_the_one_line_parser_is_linear_on_hostile_input() -> None:
    # The old regex was quadratic on runs of spaces; this would take seconds with it.
    assert parse_one_line("a" + " " * 200_000 + "at" + " " * 200_000) is None
    assert parse_one_line("(" * 100_000 + " at " + ")" * 100_000) is not None


@pytest.mark.parametrize(("text", "expected"), ONE_LINERS)
async def test_both_surfaces_start_the_same_interview_from_the_same_line(
    engine: InterviewEngine, text: str, expected: tuple[str, str, str, str]
) -> None:
    started = []
    for surface, user in ((TELEGRAM, TG_USER), (SLACK, SLACK_USER)):
        chat = Chat(engine, surface)
        replies = await run(chat, user, Command("interview", text))
        assert [r.kind for r in replies if not r.pointer] == [Kind.INTRO, Kind.QUESTION], texts(replies)
        spec = (await engine.get_session(user)).spec
        started.append((spec.role_title, spec.company_name, spec.industry, spec.round_type))
    assert started[0] == started[1] == expected


async def test_a_line_that_is_not_a_start_gets_the_same_usage_on_both(engine: InterviewEngine) -> None:
    telegram = await run(Chat(engine, TELEGRAM), TG_USER, Command("interview", "just some words"))
    slack = await run(Chat(engine, SLACK), SLACK_USER, Command("interview", "just some words"))
    assert "Use it like this: /interview Senior Backend Engineer at TechCorp" in telegram[0].text
    assert telegram[0].text == slack[0].text  # /interview is spelled the same on both


# ----- words: one owner, the platform's spelling -----------------------------------------------------------------


def test_help_is_the_same_list_in_each_platforms_spelling(engine: InterviewEngine) -> None:
    telegram = Chat(engine, TELEGRAM).words.help()
    slack = Chat(engine, SLACK).words.help()
    assert "/repeat: show the current question again" in telegram
    assert "/interview repeat: show the current question again" in slack
    # The same lines, word for word, once the command spelling, the name of a recording and the shared place where
    # a team interview runs are set aside.
    *telegram_commands, telegram_team = telegram.splitlines()
    *slack_commands, slack_team = slack.splitlines()
    assert telegram_team.startswith("👥 With your team: add me to a group and send /interview there")
    assert slack_team == telegram_team.replace("to a group", "to a channel")
    same = re.sub(r"/interview (?=[a-z])", "/", "\n".join(slack_commands)).replace("an audio clip", "a voice note")
    assert same == "\n".join(telegram_commands)
    assert "a audio" not in slack


def test_every_engine_error_has_its_own_words_with_numbers_in_one_convention(engine: InterviewEngine) -> None:
    words = Chat(engine, TELEGRAM).words
    slack_words = Chat(engine, SLACK).words
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.EngineError)]
    for cls in classes:
        if cls in (errors.EngineError, errors.StoreLocked):
            continue
        if cls is errors.InvalidInput:
            exc: errors.EngineError = cls({"role_title": "is required"})
        elif cls in (errors.SessionInProgress, errors.SessionCompleted):
            exc = cls(None)
        else:
            exc = cls()
        said = words.error(exc)
        assert said and said != words.error(errors.StoreLocked()), cls
        assert not re.search(r"/interview (status|repeat|skip|retry|end|report|language|forget)\b", said), (
            said
        )  # Telegram spells its commands on their own
    assert words.error(errors.InvalidInput({"role_title": "is required"})) == "That didn't work: role is required."
    big = errors.AudioTooLarge(size_bytes=30 * 1024 * 1024, limit_bytes=20 * 1024 * 1024)
    assert "30.0 MB" in words.error(big) and "up to 20 MB" in words.error(big)
    assert words.error(big) == slack_words.error(big)  # the same limit in the same words on both
    assert words.too_big(21 * 1024 * 1024, 20 * 1024 * 1024) == slack_words.too_big(21 * 1024 * 1024, 20 * 1024 * 1024)
    failed = errors.TranscriptionFailed()
    assert "/retry" in words.error(failed) and "/interview retry" in slack_words.error(failed)
    no_model = errors.SpeechUnavailable(language="de")
    assert "'de'" in words.error(no_model) and "interview-bot" not in words.error(no_model)


# ----- the step-by-step set-up and a whole interview ---------------------------------------------------------------


async def test_whole_interview_set_up_step_by_step(engine: InterviewEngine, speech: HeardSpeech) -> None:
    chat = Chat(engine, TELEGRAM)
    replies = await run(chat, TG_USER, Command("interview"))
    assert "Step 1 of 6" in replies[0].text
    assert "Step 2 of 6" in (await run(chat, TG_USER, Text("Backend Engineer")))[0].text
    industry = await run(chat, TG_USER, Text("Acme Payments"))
    assert [o.label for o in industry[0].options] == ["General"]
    chosen = await run(chat, TG_USER, Choice(industry[0].options[0].action))
    assert chosen[0].edit is Edit.CHOSEN and chosen[0].text == "✓ General"
    rounds = chosen[1]
    assert [o.label for o in rounds.options] == ["Full interview", "Screening call", "Behavioural", "Technical"]
    cv_prompt = (await run(chat, TG_USER, Choice(rounds.options[1].action)))[1]
    assert "Step 5 of 6" in cv_prompt.text

    async def read() -> bytes:
        return b"Five years of Python and PostgreSQL.\n"

    jd_prompt = await run(chat, TG_USER, Document(FileSource(read, "text/plain", "cv.txt", 40)))
    assert "Got your CV" in jd_prompt[0].text and "Step 6 of 6" in jd_prompt[0].text
    started = await run(chat, TG_USER, Choice(jd_prompt[0].options[0].action))
    assert [r.kind for r in started if not r.pointer] == [Kind.NOTE, Kind.INTRO, Kind.QUESTION]
    assert "Backend Engineer at Acme Payments (General)\nRound: Screening call · 4 questions" in started[1].text
    assert started[2].to == {"chat_id": 501} and started[2].label == "1"
    session = await engine.get_session(TG_USER)
    assert session.spec.cv.startswith("Five years") and session.spec.round_type == "screening"
    assert await engine.get_draft(TG_USER) is None

    answered = await run(chat, TG_USER, Text("I led the payments migration and cut latency by 40 percent."))
    assert [r.kind for r in answered] == [Kind.ANSWER, Kind.QUESTION]
    assert answered[0].text.startswith("✍️ Typed answer received.") and "Score:" in answered[0].text
    assert "Question 2 of 4" in answered[1].text

    heard, _ = voice(b"I designed an idempotent retry for refunds")
    replies = await run(chat, TG_USER, heard)
    assert [r.kind for r in replies] == [Kind.PROGRESS, Kind.ANSWER, Kind.QUESTION]
    assert replies[0].text == "⏳ Transcribing…" and replies[1].edit is Edit.PROGRESS
    assert "🎙 I heard (0:06):\n“I designed an idempotent retry for refunds”" in replies[1].text
    skipped = await run(chat, TG_USER, Command("skip"))
    assert skipped[0].text == "⏭ Skipped question 3." and "Question 4 of 4" in skipped[1].text
    assert skipped[-1].pointer  # "the next step is in our interview thread": only for surfaces that need it
    last = await run(chat, TG_USER, Text("Thank you, I am excited about the payments platform."))
    assert [r.kind for r in last] == [Kind.ANSWER, Kind.REPORT, Kind.FILE, Kind.NOTE]
    assert "Answered 3 of 4, skipped 1" in last[1].text and last[1].report is not None
    chart = last[2].attachment  # the report as a picture, right after its words
    assert chart is not None and chart.kind == "image" and chart.data[:4] == b"\x89PNG"
    assert "end of the interview" in last[3].text
    again = await run(chat, TG_USER, Command("report"))
    assert again[0].kind is Kind.REPORT and "Answered 3 of 4, skipped 1" in again[0].text


async def test_set_up_refusals_and_a_restart_mid_set_up(engine: InterviewEngine) -> None:
    clock = Clock()
    chat = Chat(engine, TELEGRAM, clock=clock)
    await run(chat, TG_USER, Command("interview"))
    assert "too long" in (await run(chat, TG_USER, Text("x" * 201)))[0].text
    await run(chat, TG_USER, Text("Data Analyst"))
    heard, reads = voice(b"hello")
    assert "finish setting up first" in (await run(chat, TG_USER, heard))[0].text and not reads
    sticker = await run(chat, TG_USER, Unsupported("stickers"))
    assert sticker[0].text.startswith("I can't use stickers. Let's finish setting up first. Step 2 of 6")

    restarted = Chat(engine, TELEGRAM, clock=clock)  # a new process: the draft lives in the engine's store
    industry = await run(restarted, TG_USER, Text("Acme"))
    assert "Step 3 of 6" in industry[0].text
    clock.now += 25 * 3600  # a day later the set-up has expired
    stale = await run(restarted, TG_USER, Choice(industry[0].options[0].action))
    assert "That set-up has expired" in stale[0].text
    assert "There's no interview running" in (await run(restarted, TG_USER, Text("Technology")))[0].text


async def test_cancel_and_unknown_input(engine: InterviewEngine) -> None:
    chat = Chat(engine, TELEGRAM)
    assert "no set-up to cancel" in (await run(chat, TG_USER, Command("cancel")))[0].text
    await run(chat, TG_USER, Command("interview"))
    assert "Set-up cancelled" in (await run(chat, TG_USER, Command("cancel")))[0].text
    assert (await run(chat, TG_USER, Command("frobnicate")))[0].text.startswith("I don't know /frobnicate.")
    assert "That button no longer works" in (await run(chat, TG_USER, Choice("zz:top")))[0].text
    assert "I read documents only while setting up" in (await run(chat, TG_USER, Document(FileSource(_never))))[0].text


async def _never() -> bytes:
    raise AssertionError("nothing should be downloaded")


# ----- voice answers: checked before download, progress replaced on every path --------------------------------------


async def test_voice_is_checked_before_any_download(engine: InterviewEngine, speech: HeardSpeech) -> None:
    chat = Chat(engine, TELEGRAM)
    heard, reads = voice(b"hello")
    replies = await run(chat, TG_USER, heard)
    assert replies[0].text == "There's no interview running. Send /interview to start one." and not reads
    await run(chat, TG_USER, Command("interview", "Backend Engineer at TechCorp"))
    big, reads = voice(b"x", size=30 * 1024 * 1024)
    replies = await run(chat, TG_USER, big)
    assert [r.kind for r in replies] == [Kind.ERROR] and not reads
    assert "30.0 MB" in replies[0].text and "up to 20 MB" in replies[0].text


async def test_every_failure_after_the_progress_message_replaces_it(
    engine: InterviewEngine, speech: HeardSpeech
) -> None:
    chat = Chat(engine, TELEGRAM)
    await run(chat, TG_USER, Command("interview", "Backend Engineer at TechCorp"))
    broken, _ = voice(b"x", fail=True)
    replies = await run(chat, TG_USER, broken)
    assert [(r.kind, r.edit) for r in replies] == [(Kind.PROGRESS, Edit.NONE), (Kind.ERROR, Edit.PROGRESS)]
    assert "couldn't download that file from Telegram" in replies[1].text

    speech.fail = errors.AudioSilent()
    silent, _ = voice(b"...")
    replies = await run(chat, TG_USER, silent)
    assert replies[1].edit is Edit.PROGRESS and "couldn't hear anything" in replies[1].text

    speech.fail = RuntimeError("decoder crashed")
    crashed, _ = voice(b"...")
    replies = await run(chat, TG_USER, crashed)
    assert replies[1].edit is Edit.PROGRESS and "Speech recognition failed" in replies[1].text
    session = await engine.get_session(TG_USER)
    assert session.position == 0 and session.has_failed_voice_answer

    speech.fail = None
    retried = await run(chat, TG_USER, Command("retry"))
    assert [r.kind for r in retried] == [Kind.PROGRESS, Kind.ANSWER, Kind.QUESTION]
    assert "Question 2 of 8" in retried[2].text
    assert "no failed voice answer to retry" in (await run(chat, TG_USER, Command("retry")))[0].text


async def test_an_unexpected_crash_is_apologised_for_and_replaces_the_progress(
    engine: InterviewEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = Chat(engine, TELEGRAM)
    await run(chat, TG_USER, Command("interview", "Backend Engineer at TechCorp"))

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk on fire")

    monkeypatch.setattr(engine, "answer_audio", explode)
    heard, _ = voice(b"hello")
    replies = await run(chat, TG_USER, heard)
    assert replies[-1].kind is Kind.ERROR and replies[-1].edit is Edit.PROGRESS
    assert "something went wrong on my side" in replies[-1].text and "disk on fire" not in replies[-1].text


# ----- resume or restart ------------------------------------------------------------------------------------------


async def test_starting_again_offers_resume_or_restart_and_the_request_survives_a_restart(
    engine: InterviewEngine,
) -> None:
    chat = Chat(engine, TELEGRAM)
    await run(chat, TG_USER, Command("interview", "Backend Engineer at TechCorp"))
    first = await engine.get_session(TG_USER)
    offer = await run(chat, TG_USER, Command("interview", "QA Lead at Initech (Software) technical"))
    assert "already have an interview in progress" in offer[0].text
    assert [o.label for o in offer[0].options] == ["▶️ Resume", "🔁 End it and start new"]
    resumed = await run(chat, TG_USER, Choice(offer[0].options[0].action))
    assert resumed[0].edit is Edit.PRESSED and "Question 1 of 8" in resumed[1].text
    assert (await engine.get_session(TG_USER)).session_id == first.session_id

    offer = await run(chat, TG_USER, Command("interview", "QA Lead at Initech (Software) technical"))
    after_restart = Chat(engine, TELEGRAM)
    replaced = await run(after_restart, TG_USER, Choice(offer[0].options[1].action))
    assert "Ended your previous interview (0 of 8 answered" in replaced[0].text
    assert replaced[1].kind is Kind.REPORT and "ended early" in replaced[1].text
    assert any("QA Lead at Initech (Software)\nRound: Technical" in r.text for r in replaced)
    assert (await engine.get_session(TG_USER)).spec.company_name == "Initech"


# ----- Slack-shaped surface: forms and threads ------------------------------------------------------------------------


async def test_forms_and_threads(engine: InterviewEngine) -> None:
    chat = Chat(engine, SLACK)
    form = await run(chat, SLACK_USER, Command("interview"))
    assert form[0].kind is Kind.FORM and form[0].form is not None
    assert [f.key for f in form[0].form.fields] == ["role", "company", "industry", "round", "cv", "jd"]
    assert chat.form_problems({"role": " ", "company": "Acme"}) == {
        "role": "Please enter the role you are interviewing for."
    }

    values = {"role": "Data Engineer", "company": "Acme", "industry": "", "round": "screening", "cv": "Spark"}
    replies = []
    async for reply in chat.submit_form(SLACK_USER, values, {"channel": "DALICE"}):
        replies.append(reply)
        if reply.opens_thread:  # what the Slack renderer does once it has posted the thread's parent
            await chat.thread_opened(SLACK_USER, {"channel": "DALICE", "thread_ts": "171.5"})
    assert [r.kind for r in replies] == [Kind.INTRO, Kind.QUESTION, Kind.NOTE]
    assert replies[0].to == {"channel": "DALICE"} and replies[1].to == {"channel": "DALICE", "thread_ts": "171.5"}
    assert replies[2].pointer and "started in our direct messages" in replies[2].text
    assert (await engine.get_session(SLACK_USER)).spec.industry == "General"

    status = await run(chat, SLACK_USER, Command("interview", "status"))
    assert status[0].kind is Kind.STATUS and "/interview repeat" in status[0].text
    offer = await run(chat, SLACK_USER, Command("interview"))
    restart = await run(chat, SLACK_USER, Choice(offer[0].options[1].action))
    assert restart[0].kind is Kind.FORM and restart[0].form is not None and restart[0].form.replace
    assert (await engine.get_session(SLACK_USER)).is_active  # nothing ends until the form is submitted


async def test_the_place_is_opened_only_to_start(engine: InterviewEngine) -> None:
    opened = []

    async def open_dm() -> dict[str, str]:
        opened.append(1)
        return {"channel": "DBOB"}

    chat = Chat(engine, SLACK)
    bob = User("slack", "UBOB")
    [r async for r in chat.handle(bob, Command("interview", "help"), open_dm)]
    assert not opened
    replies = [r async for r in chat.handle(bob, Command("interview", "Dev at Initech"), open_dm)]
    assert opened == [1] and replies[0].to == {"channel": "DBOB"}


# ----- commands and admins ----------------------------------------------------------------------------------------


async def test_status_language_end_and_forget(engine: InterviewEngine) -> None:
    chat = Chat(engine, TELEGRAM)
    assert "no interviews yet" in (await run(chat, TG_USER, Command("status")))[0].text
    assert "transcribe voice answers as 'en-us'" in (await run(chat, TG_USER, Command("language")))[0].text
    await run(chat, TG_USER, Command("interview", "Backend Engineer at TechCorp"))
    assert "Progress: 0 answered of 8" in (await run(chat, TG_USER, Command("status")))[0].text
    changed = await run(chat, TG_USER, Command("language", "de"))
    assert "now transcribed as 'de'" in changed[0].text and "no speech model" in changed[0].text
    assert "Send one language code" in (await run(chat, TG_USER, Command("language", "en us")))[0].text
    assert "not a language code" in (await run(chat, TG_USER, Command("language", "klingon!")))[0].text
    ended = await run(chat, TG_USER, Command("end"))
    assert ended[0].text.startswith("Interview ended.\n\n📋 Interview report") and ended[1].pointer
    assert "No interview running. Your last one" in (await run(chat, TG_USER, Command("status")))[0].text
    confirm = await run(chat, TG_USER, Command("forget"))
    assert await engine.list_sessions(user_id="501")  # asking deletes nothing
    done = await run(chat, TG_USER, Choice(confirm[0].options[0].action))
    assert done[0].text == "Done: deleted 1 interview and all recordings of you." and done[0].edit is Edit.PRESSED
    assert await engine.list_sessions(user_id="501") == []


async def test_admin_sessions_are_paged_and_refused_to_others(engine: InterviewEngine) -> None:
    chat = Chat(engine, TELEGRAM)
    for n in range(12):
        await engine.start(User("telegram", str(7000 + n), f"Cand{n}"), InterviewSpec("QA Engineer", "Acme", "IT"))
    refusal = await run(chat, TG_USER, Command("sessions"))
    assert refusal[0].text == "Sorry, /sessions is only for the bot's admins." and not refusal[0].options
    assert "only for the bot's admins" in (await run(chat, TG_USER, Choice("adm:all:1")))[0].text
    admin = User("telegram", "9")
    page = await run(chat, admin, Command("sessions"))
    assert page[0].text.startswith("Active interviews (1-10 of 12):") and page[0].sessions is not None
    assert [o.label for o in page[0].options] == ["Next ▶️"]
    second = await run(chat, admin, Choice(page[0].options[0].action))
    assert second[0].edit is Edit.PRESSED and "(11-12 of 12)" in second[0].text
    assert (
        "Use /sessions, /sessions all or /sessions stale." in (await run(chat, admin, Command("sessions", "x")))[0].text
    )
    assert chat.reads_only(Command("sessions")) and chat.reads_only(Choice("adm:all:1"))
    assert not chat.reads_only(Command("skip")) and not chat.reads_only(Text("hi"))
    assert Chat(engine, SLACK).reads_only(Command("interview", "status"))
    # Opening Slack's form must not wait behind a transcription (3 s to use the trigger); Telegram's set-up writes.
    assert Chat(engine, SLACK).reads_only(Command("interview")) and not chat.reads_only(Command("interview"))
    assert not Chat(engine, SLACK).reads_only(Command("interview", "Dev at Acme"))
    # Slack has /sessions as a command of its own: its words name that, not "/interview sessions".
    slack = Chat(engine, SLACK)
    refused = (await run(slack, SLACK_USER, Command("sessions")))[0].text
    assert refused == "Sorry, /sessions is only for the bot's admins."
    usage = (await run(slack, User("slack", "UADMIN"), Command("sessions", "x")))[0].text
    assert "Use /sessions, /sessions all or /sessions stale." in usage


async def test_an_answer_after_a_restart_brings_the_reply_owed_for_the_earlier_voice_answer_first(
    engine: InterviewEngine, speech: HeardSpeech
) -> None:
    chat = Chat(engine, TELEGRAM)
    await run(chat, TG_USER, Command("interview", "Backend Engineer at TechCorp"))
    speech.fail = errors.ShuttingDown()
    caught, _ = voice(b"what I said before the restart")
    assert "I'm restarting" in texts(await run(chat, TG_USER, caught))
    speech.fail = None  # back up; nobody has finished that answer yet

    replies = await run(chat, TG_USER, Text("and this I typed right after"))
    assert [(r.kind, r.label) for r in replies] == [
        (Kind.ANSWER, "1"), (Kind.QUESTION, "2"), (Kind.ANSWER, "2"), (Kind.QUESTION, "3"),
    ]  # fmt: skip
    owed = replies[0]
    assert owed.lead == chat.words.recovered_intro() and owed.text.startswith(owed.lead)
    assert "what I said before the restart" in owed.text and owed.result is not None
    assert replies[2].text.startswith("✍️ Typed answer received.") and not replies[2].lead

    # A voice answer: the first reply of all takes the place of its "transcribing…" message.
    speech.fail = errors.ShuttingDown()
    await run(chat, TG_USER, voice(b"interrupted again")[0])
    speech.fail = None
    replies = await run(chat, TG_USER, voice(b"the next one")[0])
    assert [(r.kind, r.edit) for r in replies] == [
        (Kind.PROGRESS, Edit.NONE), (Kind.ANSWER, Edit.PROGRESS), (Kind.QUESTION, Edit.NONE),
        (Kind.ANSWER, Edit.NONE), (Kind.QUESTION, Edit.NONE),
    ]  # fmt: skip
    assert "interrupted again" in replies[1].text and "the next one" in replies[3].text

    # One the recogniser cannot use is said so, and the new answer takes its question.
    speech.fail = errors.ShuttingDown()
    await run(chat, TG_USER, voice(b"...")[0])
    speech.fail = errors.AudioSilent()
    replies = await run(chat, TG_USER, Command("skip"))
    assert replies[0].kind is Kind.ERROR and replies[0].text.startswith("About the voice answer you sent before")
    assert "couldn't hear anything" in replies[0].text
    assert [(r.kind, r.label) for r in replies[1:3]] == [(Kind.ANSWER, "5"), (Kind.QUESTION, "6")]


def test_a_refused_new_answer_is_not_called_saved(engine: InterviewEngine) -> None:
    words = Chat(engine, TELEGRAM).words
    assert "Your answer is saved" in words.error(errors.ShuttingDown())
    refused = words.error(errors.ShuttingDown(saved=False))
    assert "Your answer is saved" not in refused and "send this answer again" in refused
