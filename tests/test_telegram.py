"""The Telegram adapter end to end: real python-telegram-bot, real engine and Vosk, a fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.chat import Edit, Kind, Option, Reply
from adapters.chat.setup import DRAFT_TTL_SECONDS
from adapters.telegram import TelegramAdapter, TelegramConfig
from adapters.telegram.parse import Pressed
from adapters.telegram.render import Renderer
from bot.app import recover
from engine import AudioInput, InterviewEngine, InterviewSpec, User
from engine.speech import SpeechPipeline
from engine.store import TinyDBStore
from tests.documents import pdf_pages
from tests.engine_support import build_engine
from tests.fake_telegram import BotMessage, FakeTelegram

pytestmark = pytest.mark.slow  # the real Korean Vosk model

CANDIDATE = 5001
OTHER = 5002
THIRD = 5003
ADMIN = 9001


@dataclass
class Running:
    adapter: TelegramAdapter
    engine: InterviewEngine
    store: TinyDBStore
    pipeline: SpeechPipeline | None

    async def stop(self) -> None:
        await self.adapter.stop()
        if self.pipeline is not None:
            await self.pipeline.close()
        self.store.close()


async def start_bot(
    data_dir: Path,
    transcriber: Any,
    fake: FakeTelegram,
    *,
    workers: int = 2,
    clock: Callable[[], float] = time.time,
    take_updates: bool = True,
    **config: Any,
) -> Running:
    """As bot/app.py runs an adapter: open it, deliver what a restart interrupted, resume its inbox, take in updates."""
    engine, store, pipeline = build_engine(data_dir, transcriber, workers=workers)
    settings = TelegramConfig(
        token=fake.token,
        api_base_url=fake.base_url,
        file_base_url=fake.file_base_url,
        **{"admins": (ADMIN,), **config},
    )
    adapter = TelegramAdapter(engine, settings, clock=clock)
    await adapter.open()
    await recover(engine, {"telegram": adapter})
    await adapter.resume_inbox()
    if take_updates:
        await adapter.start()
    return Running(adapter, engine, store, pipeline)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def bot(tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram) -> AsyncIterator[Running]:
    running = await start_bot(tmp_path, vosk_transcriber, fake)
    yield running
    await running.stop()


class GatedTranscriber:
    """The real Vosk transcriber behind a gate: while closed, jobs hang in their worker (a slow or stuck job)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def transcribe(self, pcm: Any, language: str, **kwargs: Any) -> Any:
        self.entered.set()
        if not self.gate.wait(60):
            raise RuntimeError("gate never opened")
        return self._real.transcribe(pcm, language, **kwargs)

    def languages(self) -> list[str]:
        return self._real.languages()

    def has_language(self, language: str) -> bool:
        return self._real.has_language(language)


async def crash_mid_answer(first: Running, gated: GatedTranscriber, user: User, voice_ogg: bytes) -> None:
    """A crash in the middle of `user`'s voice answer (after `first.adapter` stopped): saved, its transcription never
    finishes; then what a dying process leaves behind is closed."""
    gated.gate.clear()
    gated.entered.clear()
    answer = asyncio.create_task(first.engine.answer_audio(user, AudioInput(voice_ogg, "audio/ogg")))
    await asyncio.to_thread(gated.entered.wait, 30)
    answer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await answer
    gated.gate.set()
    assert first.pipeline is not None
    await first.pipeline.close()
    first.store.close()


async def say(fake: FakeTelegram, user: int, text: str) -> None:
    await fake.push(fake.text_update(user, text))


async def ask(fake: FakeTelegram, user: int, text: str, expect: str) -> BotMessage:
    """Send `text` and wait for a new bot message containing `expect`."""
    before = len(fake.chat(user))
    await say(fake, user, text)
    return await fake.wait_for_text(user, expect, after=before)


async def press(fake: FakeTelegram, user: int, message: BotMessage, label: str) -> None:
    await fake.push(fake.press_update(user, message, message.button_data(label)))


async def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """For engine-side state the fake server cannot see (e.g. a job waiting in the speech queue)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def wait_for_answer(engine: InterviewEngine, user: int, text: str) -> Any:
    """The user's latest session once an answer with `text` is recorded in it."""
    async with asyncio.timeout(30):
        while True:
            session = await engine.latest_session(tg_user(user))
            if any(a.text == text for a in session.answers):
                return session
            await asyncio.sleep(0.05)


def tg_user(user_id: int) -> User:
    return User("telegram", str(user_id))


async def start_one_line(fake: FakeTelegram, user: int, args: str, total: int) -> None:
    before = len(fake.chat(user))
    await say(fake, user, f"/interview {args}")
    await fake.wait_for_text(user, f"Question 1 of {total}", after=before)


def transcript_messages(fake: FakeTelegram, user: int) -> list[BotMessage]:
    """The "Transcribing…" messages of a chat (each edited into a transcript or an error)."""
    return [m for m in fake.chat(user) if m.edits and m.edits[0].startswith("⏳ Transcribing")]


# ----- a whole interview ---------------------------------------------------------------------------------------


async def test_whole_interview_with_wizard_voice_text_skip_and_report(
    bot: Running, fake: FakeTelegram, voice_ogg: bytes, audio_factory: Any
) -> None:
    await say(fake, CANDIDATE, "/interview")
    await fake.wait_for_text(CANDIDATE, "Step 1 of 6")
    await say(fake, CANDIDATE, "Senior Backend Engineer")
    await fake.wait_for_text(CANDIDATE, "Step 2 of 6")
    await say(fake, CANDIDATE, "TechCorp")
    industry = await fake.wait_for_text(CANDIDATE, "Step 3 of 6")
    await press(fake, CANDIDATE, industry, "General")
    rounds = await fake.wait_for_text(CANDIDATE, "Step 4 of 6")
    assert [b["text"] for b in rounds.buttons] == ["Full interview", "Screening call", "Behavioural", "Technical"]
    await press(fake, CANDIDATE, rounds, "Screening")
    await fake.wait_for_text(CANDIDATE, "Step 5 of 6")
    cv = pdf_pages(["Python developer with Django and PostgreSQL experience"])
    await fake.push(fake.document_update(CANDIDATE, cv, file_name="cv.pdf", mime_type="application/pdf"))
    jd_prompt = await fake.wait_for_text(CANDIDATE, "Step 6 of 6")
    assert "Got your CV" in jd_prompt.text
    await press(fake, CANDIDATE, jd_prompt, "Skip")
    intro = await fake.wait_for_text(CANDIDATE, "Your interview")
    assert "Senior Backend Engineer at TechCorp (General)" in intro.text
    await fake.wait_for_text(CANDIDATE, "Question 1 of 4")
    # The pressed buttons were replaced by the choice, so they cannot be pressed twice.
    assert industry.text.startswith("Step 3 of 6") and industry.text.endswith("✓ General")
    assert industry.buttons == [] and rounds.buttons == [] and rounds.text.endswith("✓ Screening call")

    session = await bot.engine.get_session(tg_user(CANDIDATE))
    assert "Django" in session.spec.cv and session.spec.jd == "" and session.spec.round_type == "screening"
    assert session.route == {"chat_id": CANDIDATE}

    # Q1 by voice: one "Transcribing…" message, a reply to the voice note, edited in place into the transcript
    # and feedback.
    voice = fake.voice_update(CANDIDATE, voice_ogg)
    await fake.push(voice)
    await fake.wait_for_text(CANDIDATE, "Question 2 of 4")
    [status] = transcript_messages(fake, CANDIDATE)
    assert "안녕하세요" in status.text and "Score:" in status.text
    [placeholder] = [c for c in fake.calls_of("sendMessage") if c.params["text"].startswith("⏳ Transcribing")]
    assert placeholder.params["reply_parameters"]["message_id"] == voice["message"]["message_id"]
    assert any(c.params["chat_id"] == CANDIDATE and c.params["action"] == "typing"
               for c in fake.calls_of("sendChatAction"))  # fmt: skip
    texts = fake.texts(CANDIDATE)
    assert texts.index(status.text) < next(i for i, t in enumerate(texts) if "Question 2 of 4" in t)

    # Q2 typed, Q3 skipped, Q4 by voice: then the report.
    await say(fake, CANDIDATE, "I chose PostgreSQL because our payments needed strict consistency, for example.")
    typed = await fake.wait_for_text(CANDIDATE, "Typed answer received")
    assert "Score:" in typed.text
    await fake.wait_for_text(CANDIDATE, "Question 3 of 4")
    await say(fake, CANDIDATE, "/skip")
    await fake.wait_for_text(CANDIDATE, "Skipped question 3")
    await fake.wait_for_text(CANDIDATE, "Question 4 of 4")
    # Everything is in this one chat: no "the next step is in our interview thread" pointers.
    assert not any("interview thread" in t for t in fake.texts(CANDIDATE))
    video_note = audio_factory.encode(audio_factory.speech_wav(audio_factory.KO_PHRASE), "mp4_video_note")
    await fake.push(fake.video_note_update(CANDIDATE, video_note))  # its sound track is the answer
    report = await fake.wait_for_text(CANDIDATE, "Interview report")
    assert "안녕하세요" in transcript_messages(fake, CANDIDATE)[-1].text
    assert "Senior Backend Engineer at TechCorp" in report.text
    assert "Answered 3 of 4, skipped 1" in report.text
    assert "Overall score:" in report.text
    await fake.wait_for_text(CANDIDATE, "end of the interview")

    latest = await bot.engine.latest_session(tg_user(CANDIDATE))
    assert latest.status == "completed"
    assert [a.source for a in latest.answers] == ["voice", "text", "skipped", "voice"]
    # /report afterwards shows the same finished interview.
    before = len(fake.chat(CANDIDATE))
    await say(fake, CANDIDATE, "/report")
    again = await fake.wait_for_text(CANDIDATE, "Interview report", after=before)
    assert "Answered 3 of 4, skipped 1" in again.text


async def test_one_line_form_resume_and_replace(bot: Running, fake: FakeTelegram) -> None:
    await start_one_line(fake, CANDIDATE, "Senior Backend Engineer at TechCorp (Technology) technical", 5)
    intro = await fake.wait_for_text(CANDIDATE, "Your interview")
    assert "Senior Backend Engineer at TechCorp (Technology)\nRound: Technical · 5 questions" in intro.text
    first = await bot.engine.get_session(tg_user(CANDIDATE))
    assert (first.spec.industry, first.spec.round_type) == ("Technology", "technical")

    # Starting again while one runs: offered Resume or End-and-start-new.
    before = len(fake.chat(CANDIDATE))
    await say(fake, CANDIDATE, "/interview Data Analyst at Acme Labs")
    offer = await fake.wait_for_text(CANDIDATE, "already have an interview in progress", after=before)
    await press(fake, CANDIDATE, offer, "Resume")
    await fake.wait_for_text(CANDIDATE, "Question 1 of 5", after=before + 1)
    assert (await bot.engine.get_session(tg_user(CANDIDATE))).session_id == first.session_id

    before = len(fake.chat(CANDIDATE))
    await say(fake, CANDIDATE, "/interview Data Analyst at Acme Labs")
    offer = await fake.wait_for_text(CANDIDATE, "already have an interview in progress", after=before)
    await press(fake, CANDIDATE, offer, "End it and start new")
    await fake.wait_for_text(CANDIDATE, "Question 1 of 8", after=before)
    assert "Ended your previous interview" in offer.text
    second = await bot.engine.get_session(tg_user(CANDIDATE))
    assert second.session_id != first.session_id
    assert (second.spec.role_title, second.spec.company_name, second.spec.industry, second.spec.round_type) == (
        "Data Analyst", "Acme Labs", "General", "full",
    )  # fmt: skip

    # Bad arguments get the form explained, not silence.
    before = len(fake.chat(CANDIDATE))
    await say(fake, CANDIDATE, "/interview just some words")
    usage = await fake.wait_for_text(CANDIDATE, "Use it like this", after=before)
    assert "/interview Senior Backend Engineer at TechCorp" in usage.text


# ----- admins ----------------------------------------------------------------------------------------------------


async def test_admin_sessions_listing_paging_and_refusal(bot: Running, fake: FakeTelegram) -> None:
    await start_one_line(fake, CANDIDATE, "Secret Project Lead at Hidden Corp", 8)
    for n in range(11):  # more users than fit on one page
        await bot.engine.start(User("telegram", str(7000 + n), f"Cand{n}"), InterviewSpec("QA Engineer", "Acme", "IT"))

    await say(fake, OTHER, "/sessions")
    refusal = await fake.wait_for_text(OTHER, "only for the bot's admins")
    assert "Hidden Corp" not in refusal.text and str(CANDIDATE) not in refusal.text
    assert len(fake.chat(OTHER)) == 1

    await say(fake, ADMIN, "/sessions")
    page = await fake.wait_for_text(ADMIN, "Active interviews (1-10 of 12)")
    assert page.buttons and "Next" in page.buttons[0]["text"]
    assert page.text.count("\n") == 10  # title + ten rows
    await press(fake, ADMIN, page, "Next")
    await fake.wait_until(lambda: "11-12 of 12" in page.text)
    assert "Secret Project Lead at Hidden Corp" in page.text + page.edits[0]
    assert f"telegram:{CANDIDATE}" in page.text + page.edits[0]
    assert "0/8 answered" in page.text + page.edits[0] and "just now" in page.text
    assert [b["text"] for b in page.buttons] == ["◀️ Previous"]

    await bot.engine.end(User("telegram", "7000"))
    await say(fake, ADMIN, "/sessions all")
    everything = await fake.wait_for_text(ADMIN, "All interviews (1-10 of 12)")
    await say(fake, ADMIN, "/sessions stale")
    stale = await fake.wait_for_text(ADMIN, "Stale interviews")
    assert stale.text.endswith("none.")
    assert everything.buttons  # paged too
    await say(fake, ADMIN, "/sessions everything")
    await fake.wait_for_text(ADMIN, "Use /sessions, /sessions all or /sessions stale")


# ----- restarts, failures, redeliveries --------------------------------------------------------------------------


async def test_restart_recovers_an_interrupted_answer_and_keeps_the_pending_question(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram, voice_ogg: bytes
) -> None:
    gated = GatedTranscriber(vosk_transcriber)
    first = await start_bot(tmp_path, gated, fake)
    await start_one_line(fake, CANDIDATE, "Backend Engineer at TechCorp (Technology)", 8)
    voice_update = fake.voice_update(CANDIDATE, voice_ogg)
    await fake.push(voice_update)
    await fake.wait_for_text(CANDIDATE, "Question 2 of 8")
    await first.adapter.stop()

    await crash_mid_answer(first, gated, tg_user(CANDIDATE), voice_ogg)  # in the middle of the next voice answer

    before = len(fake.chat(CANDIDATE))
    second = await start_bot(tmp_path, vosk_transcriber, fake)
    try:
        recovered = await fake.wait_for_text(CANDIDATE, "before I restarted", after=before)
        assert "안녕하세요" in recovered.text
        await fake.wait_for_text(CANDIDATE, "Question 3 of 8", after=before)
        # Telegram delivering an already handled update again after the restart changes nothing.
        await fake.push(voice_update)
        # The next voice note answers the question the bot is waiting for.
        await fake.push(fake.voice_update(CANDIDATE, voice_ogg))
        await fake.wait_for_text(CANDIDATE, "Question 4 of 8", after=before)
        await say(fake, CANDIDATE, "Typed after the restart")
        session = await wait_for_answer(second.engine, CANDIDATE, "Typed after the restart")
        assert [a.source for a in session.answers] == ["voice", "voice", "voice", "text"]
        assert session.pending_count == 0
        await fake.wait_for_text(CANDIDATE, "Question 5 of 8", after=before)
    finally:
        await second.stop()


async def test_restart_mid_set_up_carries_on_from_the_same_step(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram
) -> None:
    first = await start_bot(tmp_path, vosk_transcriber, fake)
    for user, role in ((CANDIDATE, "Site Reliability Engineer"), (OTHER, "Data Analyst")):
        await ask(fake, user, "/interview", "Step 1 of 6")
        await ask(fake, user, role, "Step 2 of 6")
        industry_prompt = await ask(fake, user, "Acme Cloud", "Step 3 of 6")
    # A third user asked for a new interview while one runs: that request waits for the offer's button.
    await start_one_line(fake, THIRD, "Backend Engineer at TechCorp", 8)
    offer = await ask(fake, THIRD, "/interview QA Lead at Initech (Software) technical", "already have an interview")
    await first.stop()

    second = await start_bot(tmp_path, vosk_transcriber, fake)
    try:
        # Typed: the next message is the industry answer, and the wizard asks for the round type.
        rounds = await ask(fake, CANDIDATE, "Cloud Infrastructure", "Step 4 of 6")
        await press(fake, CANDIDATE, rounds, "Technical")
        await fake.wait_for_text(CANDIDATE, "Step 5 of 6")
        await ask(fake, CANDIDATE, "Ran Kubernetes clusters on three clouds.", "Step 6 of 6")
        before = len(fake.chat(CANDIDATE))
        await say(fake, CANDIDATE, "On-call for a payments platform.")
        intro = await fake.wait_for_text(CANDIDATE, "Your interview", after=before)
        assert "Site Reliability Engineer at Acme Cloud (Cloud Infrastructure)\nRound: Technical" in intro.text
        await fake.wait_for_text(CANDIDATE, "Question 1 of 5", after=before)
        spec = (await second.engine.get_session(tg_user(CANDIDATE))).spec
        assert (spec.cv, spec.jd) == ("Ran Kubernetes clusters on three clouds.", "On-call for a payments platform.")
        assert await second.engine.get_draft(tg_user(CANDIDATE)) is None  # finished: nothing left over

        # A button sent before the restart still works while its set-up does.
        await press(fake, OTHER, industry_prompt, "General")
        rounds = await fake.wait_for_text(OTHER, "Step 4 of 6")
        assert industry_prompt.text.endswith("✓ General") and industry_prompt.buttons == []
        await press(fake, OTHER, rounds, "Behavioural")
        await press(fake, OTHER, await fake.wait_for_text(OTHER, "Step 5 of 6"), "Skip")
        await press(fake, OTHER, await fake.wait_for_text(OTHER, "Step 6 of 6"), "Skip")
        intro = await fake.wait_for_text(OTHER, "Your interview")
        assert "Data Analyst at Acme Cloud (General)\nRound: Behavioural" in intro.text

        # The waiting request survived too: "End it and start new" starts exactly what was asked for.
        before = len(fake.chat(THIRD))
        await press(fake, THIRD, offer, "End it and start new")
        intro = await fake.wait_for_text(THIRD, "Your interview", after=before)
        assert "QA Lead at Initech (Software)\nRound: Technical" in intro.text
    finally:
        await second.stop()


async def test_a_set_up_left_for_over_a_day_has_expired_after_a_restart(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram
) -> None:
    first = await start_bot(tmp_path, vosk_transcriber, fake)
    await ask(fake, CANDIDATE, "/interview", "Step 1 of 6")
    await ask(fake, CANDIDATE, "Data Analyst", "Step 2 of 6")
    industry_prompt = await ask(fake, CANDIDATE, "Acme", "Step 3 of 6")
    await first.stop()

    a_day_later = time.time() + DRAFT_TTL_SECONDS + 60
    second = await start_bot(tmp_path, vosk_transcriber, fake, clock=lambda: a_day_later)
    try:
        before = len(fake.chat(CANDIDATE))
        await press(fake, CANDIDATE, industry_prompt, "General")
        await fake.wait_for_text(CANDIDATE, "That set-up has expired", after=before)
        assert industry_prompt.buttons  # nothing was chosen
        assert await second.engine.get_draft(tg_user(CANDIDATE)) is None
        await ask(fake, CANDIDATE, "Technology", "no interview running")
    finally:
        await second.stop()


async def test_broken_voice_note_gets_a_friendly_error_and_the_question_stays(bot: Running, fake: FakeTelegram) -> None:
    await start_one_line(fake, CANDIDATE, "Backend Engineer at TechCorp", 8)
    await fake.push(fake.voice_update(CANDIDATE, os.urandom(4000), mime_type="audio/ogg"))
    await fake.wait_until(lambda: transcript_messages(fake, CANDIDATE))
    [status] = transcript_messages(fake, CANDIDATE)
    assert "couldn't read that audio" in status.text and "question is still open" in status.text
    assert "Traceback" not in status.text
    session = await bot.engine.get_session(tg_user(CANDIDATE))
    assert session.position == 0 and session.answers == () and session.pending_count == 0

    # Too big to fetch: refused from the size Telegram reports, before any download.
    files_before = len(fake.calls_of("getFile"))
    huge = fake.voice_update(CANDIDATE, b"OggS")
    huge["message"]["voice"]["file_size"] = 30 * 1024 * 1024
    await fake.push(huge)
    refusal = await fake.wait_for_text(CANDIDATE, "30.0 MB")
    assert "up to 20 MB" in refusal.text and len(fake.calls_of("getFile")) == files_before
    before = len(fake.chat(CANDIDATE))
    await say(fake, CANDIDATE, "/repeat")
    await fake.wait_for_text(CANDIDATE, "Question 1 of 8", after=before)


async def test_the_same_update_delivered_twice_is_answered_once(bot: Running, fake: FakeTelegram) -> None:
    await start_one_line(fake, CANDIDATE, "Backend Engineer at TechCorp", 8)
    update = fake.text_update(CANDIDATE, "I built the billing service in Python and cut costs by 30 percent.")
    await fake.push(update, dict(update))
    # A later answer from the same user is handled after both copies: once it is recorded, they are done.
    await say(fake, CANDIDATE, "Later answer")
    session = await wait_for_answer(bot.engine, CANDIDATE, "Later answer")
    assert [a.text for a in session.answers] == [update["message"]["text"], "Later answer"]
    await fake.wait_for_text(CANDIDATE, "Question 3 of 8")
    assert sum("Typed answer received" in t for t in fake.texts(CANDIDATE)) == 2
    assert sum("Question 2 of 8" in t for t in fake.texts(CANDIDATE)) == 1


async def test_an_update_left_in_the_inbox_by_a_crash_is_handled_after_the_restart_and_only_once(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram
) -> None:
    first = await start_bot(tmp_path, vosk_transcriber, fake)
    await start_one_line(fake, CANDIDATE, "Backend Engineer at TechCorp", 8)
    await first.stop()
    # Received and confirmed to Telegram, then the process died before handling it: only the inbox has it.
    update = fake.text_update(CANDIDATE, "I built the billing service in Python and cut costs by 30 percent.")
    with TinyDBStore(tmp_path / "sessions.json") as store:
        assert store.inbox_put("telegram", str(update["update_id"]), update)

    second = await start_bot(tmp_path, vosk_transcriber, fake)
    try:
        await fake.wait_for_text(CANDIDATE, "Question 2 of 8")
        await fake.push(dict(update))  # Telegram sending it again changes nothing
        await say(fake, CANDIDATE, "Later answer")
        session = await wait_for_answer(second.engine, CANDIDATE, "Later answer")
        assert [a.text for a in session.answers] == [update["message"]["text"], "Later answer"]
        await fake.wait_for_text(CANDIDATE, "Question 3 of 8")
        assert sum("Question 2 of 8" in t for t in fake.texts(CANDIDATE)) == 1
        await second.adapter.stop()  # every update taken in has been handled, and has left the inbox
        assert await second.engine.inbox_pending("telegram") == []
    finally:
        await second.stop()


# ----- concurrency and order ----------------------------------------------------------------------------------------


async def test_slow_transcription_blocks_nobody_and_one_users_answers_stay_in_order(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram, voice_ogg: bytes, audio_factory: Any
) -> None:
    gated = GatedTranscriber(vosk_transcriber)
    running = await start_bot(tmp_path, gated, fake, workers=1)
    try:
        for user in (CANDIDATE, OTHER, THIRD):
            await start_one_line(fake, user, "Backend Engineer at TechCorp", 8)
        gated.gate.clear()
        await fake.push(fake.voice_update(CANDIDATE, voice_ogg), fake.voice_update(CANDIDATE, voice_ogg))
        await asyncio.to_thread(gated.entered.wait, 30)  # the candidate's first answer holds the only worker
        await fake.push(fake.voice_update(OTHER, voice_ogg))
        await eventually(lambda: running.engine.queue_depth == 1)
        mp3 = audio_factory.encode(audio_factory.speech_wav(audio_factory.KO_PHRASE), "mp3")
        await fake.push(fake.document_update(THIRD, mp3, file_name="answer.mp3", mime_type="audio/mpeg"))
        queued = await fake.wait_for_text(THIRD, "Transcribing")
        assert "1 answer ahead of yours" in queued.text

        # While transcription is stuck, /status answers at once, for the busy user and for the others.
        await say(fake, CANDIDATE, "/status")
        await say(fake, OTHER, "/status")
        await fake.wait_for_text(CANDIDATE, "Progress: 0 answered of 8")
        await fake.wait_for_text(OTHER, "Progress: 0 answered of 8")
        assert not any("I heard" in m.text for m in fake.messages)

        gated.gate.set()
        await fake.wait_for_text(CANDIDATE, "Question 3 of 8")
        await fake.wait_for_text(OTHER, "Question 2 of 8")
        await fake.wait_for_text(THIRD, "Question 2 of 8")
        assert "안녕하세요" in queued.text  # the audio file sent as a document was the answer
        texts = fake.texts(CANDIDATE)
        heard = [i for i, t in enumerate(texts) if t.startswith("🎙 I heard")]
        q2 = next(i for i, t in enumerate(texts) if "Question 2 of 8" in t)
        q3 = next(i for i, t in enumerate(texts) if "Question 3 of 8" in t)
        assert len(heard) == 2 and heard[0] < q2 < heard[1] < q3
        session = await running.engine.get_session(tg_user(CANDIDATE))
        assert [(a.index, a.source) for a in session.answers] == [(0, "voice"), (1, "voice")]
    finally:
        gated.gate.set()
        await running.stop()


async def test_one_users_backlog_of_voice_notes_never_delays_anyone_else(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram, voice_ogg: bytes
) -> None:
    gated = GatedTranscriber(vosk_transcriber)
    running = await start_bot(tmp_path, gated, fake, workers=1)
    try:
        for user in (CANDIDATE, OTHER):
            await start_one_line(fake, user, "Backend Engineer at TechCorp", 8)
        gated.gate.clear()
        # 70 voice notes at once (more than the 64 updates PTB works on at a time), the first one stuck in Vosk.
        await fake.push(*(fake.voice_update(CANDIDATE, voice_ogg) for _ in range(70)))
        await asyncio.to_thread(gated.entered.wait, 30)
        before = len(fake.chat(OTHER))
        await say(fake, OTHER, "/status")
        # Answered while the backlog is still stuck: on the old update processor it waited for all of it (29 s).
        await fake.wait_until(lambda: any("Progress:" in m.text for m in fake.chat(OTHER)[before:]), timeout=10)
        assert not any("I heard" in m.text for m in fake.messages)
        # Past three voice answers in flight, each further one is refused at once, in words, and not downloaded.
        refusals = await fake.wait_until(
            lambda: (found := [t for t in fake.texts(CANDIDATE) if "3 voice answers waiting" in t]) and len(found) == 67
            and found, timeout=30,
        )  # fmt: skip
        assert "send this one again" in refusals[0]
        gated.gate.set()
        await fake.wait_for_text(CANDIDATE, "Question 4 of 8")
        session = await running.engine.get_session(tg_user(CANDIDATE))
        assert [a.source for a in session.answers] == ["voice", "voice", "voice"] and session.pending_count == 0
        assert len(fake.calls_of("getFile")) == 3
    finally:
        gated.gate.set()
        await running.stop()


# ----- long messages -----------------------------------------------------------------------------------------------


async def test_long_text_is_split_into_messages_that_fit(bot: Running, fake: FakeTelegram) -> None:
    paragraphs = [f"Paragraph {n}: " + " ".join(["feedback"] * 120) for n in range(10)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 2 * 4096
    await Renderer(bot.adapter.application.bot, CANDIDATE).show(Reply(Kind.REPORT, text))
    sent = fake.texts(CANDIDATE)
    assert len(sent) >= 3 and all(len(piece) <= 4096 for piece in sent)
    # Cut at paragraph breaks only, and nothing lost.
    assert all(piece.endswith("feedback") and piece.startswith("Paragraph") for piece in sent)
    assert "\n\n".join(sent) == text

    # Edited in place: the first piece replaces the message, the rest follow, the buttons under the last.
    shown = fake.chat(CANDIDATE)[0]
    renderer = Renderer(bot.adapter.application.bot, CANDIDATE, pressed=Pressed(shown.message_id, shown.text))
    revised = text.replace("Paragraph", "Section")
    await renderer.show(Reply(Kind.SESSIONS, revised, (Option("Next ▶️", "adm:all:1"),), edit=Edit.PRESSED))
    after = fake.chat(CANDIDATE)[len(sent) :]
    assert shown.edits == [sent[0]] and shown.text.startswith("Section 0") and shown.buttons == []
    assert "\n\n".join([shown.text] + [m.text for m in after]) == revised
    assert [b["text"] for b in after[-1].buttons] == ["Next ▶️"]


async def test_status_language_end_and_markup_shown_verbatim(bot: Running, fake: FakeTelegram) -> None:
    await start_one_line(fake, CANDIDATE, "<b>R&D</b> Lead at A*B_C [x]", 8)
    intro = await fake.wait_for_text(CANDIDATE, "Your interview")
    assert "<b>R&D</b> Lead at A*B_C [x] (General)" in intro.text
    assert all("parse_mode" not in c.params for c in fake.calls_of("sendMessage"))  # nothing is markup

    status = await ask(fake, CANDIDATE, "/status", "Progress:")
    assert "Progress: 0 answered of 8" in status.text and "language: ko" in status.text
    await ask(fake, CANDIDATE, "/language", "transcribed as 'ko'")
    changed = await ask(fake, CANDIDATE, "/language en-us", "now transcribed as 'en-us'")
    assert "no speech model" in changed.text  # only Korean is installed here
    await ask(fake, CANDIDATE, "/language ko", "now transcribed as 'ko'")
    await ask(fake, CANDIDATE, "/language klingon!", "not a language code")

    ended = await ask(fake, CANDIDATE, "/end", "Interview ended")
    assert "Interview report" in ended.text and "Answered 0 of 8" in ended.text
    after = await ask(fake, CANDIDATE, "/status", "No interview running")
    assert "ended early" in after.text
    await ask(fake, CANDIDATE, "/repeat", "There's no interview running")


# ----- unexpected input --------------------------------------------------------------------------------------------


async def test_unexpected_input_always_gets_a_helpful_reply(bot: Running, fake: FakeTelegram, voice_ogg: bytes) -> None:
    await say(fake, CANDIDATE, "/frobnicate")
    unknown = await fake.wait_for_text(CANDIDATE, "I don't know /frobnicate")
    assert "/help" in unknown.text

    sticker = {"file_id": "st1", "file_unique_id": "ust1", "type": "regular", "width": 512, "height": 512,
               "is_animated": False, "is_video": False}  # fmt: skip
    await fake.push(fake.message_update(CANDIDATE, sticker=sticker))
    reply = await fake.wait_for_text(CANDIDATE, "I can't use stickers")
    assert "/interview" in reply.text

    await fake.push(fake.voice_update(CANDIDATE, voice_ogg))
    await fake.wait_for_text(CANDIDATE, "There's no interview running. Send /interview to start one.")
    assert not fake.calls_of("getFile")  # nothing downloaded for nobody

    edited = fake.text_update(CANDIDATE, "an edit")
    edited["edited_message"] = {**edited.pop("message"), "edit_date": 1}
    await fake.push(edited)
    await fake.wait_for_text(CANDIDATE, "that edit didn't change anything")
    await ask(fake, CANDIDATE, "hello?", "no interview running")
    await ask(fake, CANDIDATE, "/skip", "no interview running")
    await ask(fake, CANDIDATE, "/language en us", "Send one language code")
    help_message = await ask(fake, CANDIDATE, "/help", "/forget")
    assert "/interview" in help_message.text
    assert all("Traceback" not in t for t in fake.texts(CANDIDATE))


async def test_a_file_telegram_will_not_hand_over_and_group_chats(bot: Running, fake: FakeTelegram) -> None:
    await start_one_line(fake, CANDIDATE, "Backend Engineer at TechCorp", 8)
    lost = fake.voice_update(CANDIDATE, b"OggS")
    lost["message"]["voice"]["file_id"] = "expired-file-id"  # getFile answers 400 for it
    await fake.push(lost)
    [status] = await fake.wait_until(lambda: transcript_messages(fake, CANDIDATE))
    assert status.text == "I couldn't download that file from Telegram. Please send it again."
    assert (await bot.engine.get_session(tg_user(CANDIDATE))).position == 0

    group = {"id": -100555, "type": "group", "title": "Interview prep"}
    chatter, command = fake.text_update(OTHER, "anyone tried this bot?"), fake.text_update(OTHER, "/interview")
    chatter["message"]["chat"] = command["message"]["chat"] = group
    await fake.push(chatter, command)
    usage = await fake.wait_for_text(group["id"], "To run a team interview here")  # chatter gets no reply
    assert "/interview Senior Backend Engineer at TechCorp" in usage.text and len(fake.chat(group["id"])) == 1
    assert await bot.engine.get_draft(tg_user(OTHER)) is None  # nothing started in the group


async def test_forget_deletes_everything_after_confirmation(bot: Running, fake: FakeTelegram) -> None:
    await start_one_line(fake, CANDIDATE, "Backend Engineer at TechCorp", 8)
    await say(fake, CANDIDATE, "/forget")
    confirm = await fake.wait_for_text(CANDIDATE, "can't be undone")
    assert await bot.engine.list_sessions(user_id=str(CANDIDATE))  # nothing deleted before the button
    await press(fake, CANDIDATE, confirm, "Yes")
    await fake.wait_until(lambda: confirm.text.startswith("Done: deleted 1 interview"))
    assert await bot.engine.list_sessions(user_id=str(CANDIDATE)) == []


# ----- webhook mode ------------------------------------------------------------------------------------------------


async def test_webhook_checks_the_secret_and_handles_updates(
    tmp_path: Path, vosk_transcriber: Any, fake: FakeTelegram
) -> None:
    running = await start_bot(
        tmp_path, vosk_transcriber, fake, mode="webhook", webhook_url="https://bot.example.com",
        webhook_secret="s3cret-token", take_updates=False,
    )  # fmt: skip
    app = web.Application()
    app.add_routes(running.adapter.routes())
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
    try:
        # Opened but not started (recovery still running): Telegram is asked to deliver it again later.
        early = await client.post("/telegram/webhook", json=fake.text_update(CANDIDATE, "/help"), headers=secret)
        assert early.status == 503 and fake.webhook is None
        await running.adapter.start()
        assert fake.webhook is not None
        assert fake.webhook["url"] == "https://bot.example.com/telegram/webhook"
        assert fake.webhook["secret_token"] == "s3cret-token"
        assert not fake.calls_of("getUpdates")

        update = fake.text_update(CANDIDATE, "/start")
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            response = await client.post("/telegram/webhook", json=update, headers=headers)
            assert response.status == 403
        response = await client.post("/telegram/webhook", json=update, headers=secret)
        assert response.status == 200
        welcome = await fake.wait_for_text(CANDIDATE, "mock-interview coach")
        assert "/interview" in welcome.text
        assert len(fake.chat(CANDIDATE)) == 1  # the refused posts did nothing
        # Telegram retrying a delivery whose 200 it missed: kept once, answered once.
        await eventually(lambda: running.store.inbox_pending("telegram") == [])
        response = await client.post("/telegram/webhook", json=update, headers=secret)
        assert response.status == 200
        response = await client.post("/telegram/webhook", json=fake.text_update(CANDIDATE, "/help"), headers=secret)
        assert response.status == 200
        await fake.wait_for_text(CANDIDATE, "/interview", after=1)
        assert sum("mock-interview coach" in t for t in fake.texts(CANDIDATE)) == 1
    finally:
        await client.close()
        await running.stop()
