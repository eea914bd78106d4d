"""The chat layer's words for item 8 of issue 10: the daily session limit, and an abandoned interview's status."""

from __future__ import annotations

from pathlib import Path

from adapters.chat import Chat, Choice, Command
from adapters.telegram import TelegramConfig
from adapters.telegram.bot import surface as telegram_surface
from engine import InterviewEngine, User
from engine.store import MemoryStore

TELEGRAM = telegram_surface(TelegramConfig())
ADA = User("telegram", "501", "Ada")


async def say(chat: Chat, command: Command) -> str:
    return "\n---\n".join([reply.text async for reply in chat.handle(ADA, command, {"chat_id": 501})])


async def test_the_daily_limit_is_refused_in_words_with_when_to_come_back(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    engine = InterviewEngine(
        MemoryStore(), None, audio_dir=tmp_path / "audio", clock=lambda: now[0], max_sessions_per_user_per_day=2
    )
    chat = Chat(engine, TELEGRAM)
    for _ in range(2):
        assert "Question 1 of" in await say(chat, Command("interview", "Backend Engineer at TechCorp"))
        await say(chat, Command("end"))
        now[0] += 3600
    refused = await say(chat, Command("interview", "Backend Engineer at TechCorp"))
    assert refused == (
        "You've started 2 interviews in the last 24 hours, which is the daily limit. You can start the next one in "
        "about 22 hours; /report shows your latest report meanwhile."
    )
    now[0] += 22 * 3600
    assert "Question 1 of" in await say(chat, Command("interview", "Backend Engineer at TechCorp"))


async def test_an_abandoned_interview_says_so_in_status(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    engine = InterviewEngine(MemoryStore(), None, audio_dir=tmp_path / "audio", clock=lambda: now[0])
    chat = Chat(engine, TELEGRAM)
    await say(chat, Command("interview", "Backend Engineer at TechCorp"))
    now[0] += 31 * 86400
    await engine.housekeeping()
    status = await say(chat, Command("status"))
    assert "Status: closed after a long time without answers" in status


async def test_ending_an_interview_to_start_another_is_not_done_when_the_limit_would_refuse_the_new_one(
    tmp_path: Path,
) -> None:
    engine = InterviewEngine(MemoryStore(), None, audio_dir=tmp_path / "audio", max_sessions_per_user_per_day=1)
    chat = Chat(engine, TELEGRAM)
    assert "Question 1 of" in await say(chat, Command("interview", "Backend Engineer at TechCorp"))
    offer = [r async for r in chat.handle(ADA, Command("interview", "QA Lead at Initech"), {"chat_id": 501})]
    end_and_start = next(o for o in offer[0].options if o.label.startswith("🔁"))
    refused = await say(chat, Choice(end_and_start.action))
    assert "daily limit" in refused and "Ended your previous interview" not in refused
    still = await engine.get_session(ADA)  # the interview in progress carries on
    assert still.is_active and still.spec.company_name == "TechCorp"
