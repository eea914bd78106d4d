"""The web report in a real browser: Playwright drives Debian's Chromium through a real interview.

Voice answers go through the fake Telegram, driven by the real python-telegram-bot, into the real engine with the
real Korean Vosk model; the candidate taps the report's URL button and the page opens on the bot's own server. One
browser for the module. Where no Chromium is installed the module is skipped, saying so once.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import socket
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from adapters.telegram import TelegramAdapter, TelegramConfig
from adapters.web import ReportLinks, WebConfig, WebPages
from bot.config import HttpConfig
from bot.server import create_app
from engine import InterviewEngine, InterviewSpec, User, space_id
from tests import audio_fixtures
from tests.engine_support import build_engine
from tests.fake_telegram import BotMessage, FakeTelegram
from tests.web_support import ADMIN_TOKEN, SECRET

logger = logging.getLogger(__name__)

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).is_file()), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium): browser tests skipped"),
    pytest.mark.asyncio(loop_scope="module"),
]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
CANDIDATE = 7001
XSS = "<script>alert(1)</script> <img src=x onerror=alert(1)>"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def spoken_with_a_pause() -> bytes:
    """About 11 s of Korean speech with a 2.5 s silence in it, as a Telegram voice note (OGG/Opus)."""
    with wave.open(io.BytesIO(audio_fixtures.speech_wav(audio_fixtures.KO_PHRASE))) as clip:
        params, frames = clip.getparams(), clip.readframes(clip.getnframes())
    silence = bytes(int(params.framerate * 2.5) * params.sampwidth * params.nchannels)
    out = io.BytesIO()
    with wave.open(out, "wb") as joined:
        joined.setparams(params)
        joined.writeframes(frames * 2 + silence + frames * 3)
    return audio_fixtures.encode(out.getvalue(), "ogg_opus")


@dataclass
class Bot:
    """The bot as a candidate meets it: Telegram, and the web pages on the bot's server."""

    fake: FakeTelegram
    engine: InterviewEngine
    origin: str
    url: str = ""
    shots: Path = Path()
    outside: list[str] = field(default_factory=list)  # requests the pages tried to make beyond the bot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def say(fake: FakeTelegram, text: str, expect: str) -> BotMessage:
    before = len(fake.chat(CANDIDATE))
    await fake.push(fake.text_update(CANDIDATE, text))
    return await fake.wait_for_text(CANDIDATE, expect, after=before)


async def answer_by_voice(fake: FakeTelegram, data: bytes, expect: str) -> None:
    before = len(fake.chat(CANDIDATE))
    await fake.push(fake.voice_update(CANDIDATE, data))
    await fake.wait_for_text(CANDIDATE, expect, after=before)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory, vosk_transcriber: Any) -> AsyncIterator[Bot]:
    """A real interview on Telegram: two voice answers, a typed one made of markup, a spoken retake, then /end."""
    folder = tmp_path_factory.mktemp("web-bot")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    links = ReportLinks(SECRET, public_url=origin)
    engine, store, pipeline = build_engine(folder, vosk_transcriber)
    fake = FakeTelegram()
    await fake.start()
    settings = TelegramConfig(token=fake.token, api_base_url=fake.base_url, file_base_url=fake.file_base_url)
    adapter = TelegramAdapter(engine, settings, report_link=links.url_for)
    pages = WebPages(engine, links, WebConfig(public_url=origin), admin_token=ADMIN_TOKEN)
    app = create_app(engine, HttpConfig(admin_token=ADMIN_TOKEN), version="test", pages=pages, report_url=links.url_for)
    server = TestServer(app, port=port)
    await server.start_server(access_log=None)
    await adapter.open()
    await adapter.start()
    running = Bot(fake, engine, origin, shots=tmp_path_factory.mktemp("screenshots"))
    try:
        await say(fake, "/interview Senior Backend Engineer at TechCorp (Technology) screening", "Question 1 of 4")
        speech = spoken_with_a_pause()
        await answer_by_voice(fake, speech, "Question 2 of 4")
        await answer_by_voice(
            fake,
            audio_fixtures.encode(audio_fixtures.speech_wav(audio_fixtures.KO_PHRASE), "ogg_opus"),
            "Question 3 of 4",
        )
        await say(fake, XSS, "Question 4 of 4")
        await say(fake, "/retake 1", "Question 1 of 4")
        await answer_by_voice(fake, speech, "Question 4 of 4")
        report = await say(fake, "/end", "Interview report")
        [button] = [b for b in report.buttons if "url" in b]
        running.url = button["url"]
        yield running
    finally:
        await adapter.stop()
        await server.close()
        await fake.close()
        if pipeline is not None:
            await pipeline.close()
        store.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Opened:
    page: Any
    console: list[str]
    responses: list[Any]
    dialogs: list[str]


async def open_page(browser: Any, bot: Bot, url: str, viewport: dict[str, int]) -> Opened:
    """A fresh context (no cookies, no cache) on `url`; every request beyond the bot is recorded and refused."""
    context = await browser.new_context(viewport=viewport)
    console: list[str] = []
    responses: list[Any] = []
    dialogs: list[str] = []

    async def only_the_bot(route: Any) -> None:
        if route.request.url.startswith(bot.origin + "/"):
            await route.continue_()
        else:
            bot.outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_bot)
    page = await context.new_page()
    page.on(
        "console", lambda msg: console.append(f"{msg.type}: {msg.text}") if msg.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    page.on("response", lambda response: responses.append(response))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), asyncio.ensure_future(dialog.dismiss())))
    await page.goto(url, wait_until="load")
    return Opened(page, console, responses, dialogs)


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations (axe is evaluated by the test driver, so the page's CSP holds)."""
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = json.loads(await page.evaluate("async () => JSON.stringify(await axe.run(document))"))
    assert any(rule["id"] == "color-contrast" for rule in result["passes"])  # it did look at the page
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


async def test_the_report_opens_from_the_chat_with_its_charts_recordings_and_feedback(bot: Bot, browser: Any) -> None:
    assert bot.url.startswith(bot.origin + "/r/")
    opened = await open_page(browser, bot, bot.url, DESKTOP)
    page = opened.page
    await page.screenshot(path=str(bot.shots / "report-desktop.png"), full_page=True)
    logger.info("screenshots in %s", bot.shots)
    session = await bot.engine.latest_session(User("telegram", str(CANDIDATE)))
    report = await bot.engine.report(User("telegram", str(CANDIDATE)), session_id=session.session_id)

    # The charts are drawn, from the report's own figures.
    bars = page.locator('svg[data-chart="scores"] g.bar')
    assert await bars.count() == len(report.per_question)
    drawn = [await bars.nth(n).get_attribute("data-score") for n in range(await bars.count())]
    assert drawn == ["" if q.score is None or q.source == "skipped" else str(q.score) for q in report.per_question]
    box = await page.locator('svg[data-chart="scores"] rect[data-part]').first.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    wpm = await page.locator('svg[data-chart="pace"] rect[data-wpm]').evaluate_all(
        "els => els.map(e => +e.dataset.wpm)"
    )
    assert wpm and all(w > 0 for w in wpm)
    windows = page.locator('svg[data-chart^="timeline-"] rect[data-wpm]')
    assert await windows.count() >= 2
    pauses = page.locator('svg[data-chart="timeline-0-1"] rect[data-pause-at]')
    assert await pauses.count() >= 1 and float(await pauses.first.get_attribute("data-seconds") or 0) >= 2.0

    # Transcripts and feedback, and the typed markup as text: no dialog, no image element made from it.
    transcripts = await page.locator("[data-transcript]").all_inner_texts()
    assert sum("안녕하세요" in t for t in transcripts) == 3 and any(XSS in t for t in transcripts)
    assert await page.locator("[data-transcript] img, [data-transcript] script").count() == 0
    assert await page.get_by_role("heading", name="Content").count() == 4
    assert await page.locator("section.attempt.counts").count() == 1  # the retake, side by side with the first try

    # The recordings load and seek (Range requests answered 206).
    player = page.locator("#rec-0-1")
    assert await player.get_attribute("controls") is not None
    state = await player.evaluate(
        """async a => {
            if (a.readyState < 1) await new Promise((ok, no) => {
                a.addEventListener('loadedmetadata', ok, {once: true}); a.addEventListener('error', no, {once: true});
            });
            a.currentTime = 6;
            await new Promise(ok => a.addEventListener('seeked', ok, {once: true}));
            return {duration: a.duration, at: a.currentTime, error: a.error && a.error.code};
        }"""
    )
    assert state["error"] is None and state["duration"] > 8 and abs(state["at"] - 6) < 0.5
    audio = [r for r in opened.responses if "/audio/" in r.url]
    assert audio and all(r.status in (200, 206) for r in audio) and any(r.status == 206 for r in audio)

    # A "hear it again" button, by keyboard: focus it, press Enter, the recording moves to that moment.
    seek = page.locator('button.seek[data-player="rec-0-1"]').first
    assert await seek.is_visible()
    at = float(await seek.get_attribute("data-at") or 0)
    await seek.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "at => Math.abs(document.getElementById('rec-0-1').currentTime - Math.max(0, at - 0.5)) < 1.5", arg=at
    )

    assert opened.console == [] and opened.dialogs == [] and bot.outside == []
    violations = await axe_violations(page)
    assert violations == [], describe(violations)
    await page.context.close()


async def test_on_a_phone_nothing_scrolls_sideways_and_the_progress_page_works(bot: Bot, browser: Any) -> None:
    opened = await open_page(browser, bot, bot.url, PHONE)
    page = opened.page
    await page.screenshot(path=str(bot.shots / "report-phone.png"), full_page=True)
    widths = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == PHONE["width"]
    await page.get_by_role("link", name="Your progress over time").click()
    await page.wait_for_url("**/progress")
    await page.screenshot(path=str(bot.shots / "progress-phone.png"), full_page=True)
    assert await page.locator('svg[data-chart="trend-score"] circle[data-value]').count() == 1
    widths = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1]
    violations = await axe_violations(page)
    assert violations == [], describe(violations)
    assert opened.console == [] and bot.outside == []
    # Printing is one clean document: players and buttons are left out.
    await page.emulate_media(media="print")
    await page.goto(bot.url)
    assert await page.locator("audio").first.is_hidden()
    await page.context.close()


async def test_a_team_interviews_page_shows_the_teams_view_accessibly(bot: Bot, browser: Any) -> None:
    group, mate = User("telegram", space_id(-100901), "Backend guild"), User("telegram", "7003", "Mia")
    spec = InterviewSpec("Data Engineer", "Numbers", "Finance")
    await bot.engine.start_team(group, spec, candidate=User("telegram", "7002", "Cam"), interviewer=mate,
                                place="Backend guild", route={"chat_id": -100901})  # fmt: skip
    await bot.engine.accept_team(group, User("telegram", "7002", "Cam"))
    await bot.engine.answer_text(group, "I moved our nightly batch to streaming and cut the delay to minutes.")
    await bot.engine.rate(group, mate, 0, content=4, structure=3, delivery=5, comment=XSS)
    await bot.engine.comment(group, mate, "Say what broke first.")
    await bot.engine.end(group)
    url = ReportLinks(SECRET, public_url=bot.origin).url_for(await bot.engine.latest_session(group))
    assert url is not None
    opened = await open_page(browser, bot, url, DESKTOP)
    page = opened.page
    await page.screenshot(path=str(bot.shots / "team-report.png"), full_page=True)
    team = page.get_by_role("region", name="Your team's view")
    assert "run by Mia: 1 teammate rated" in await team.inner_text()
    answer = page.get_by_role("region", name="Your team on this answer")
    assert "1 rating, average 4.0/5 (content 4.0, structure 3.0, delivery 5.0)" in await answer.inner_text()
    assert f"Mia: {XSS}" in await answer.inner_text() and opened.dialogs == []
    violations = await axe_violations(page)
    assert violations == [], describe(violations)
    assert opened.console == [] and bot.outside == []
    await page.context.close()


async def test_admin_signs_in_in_the_browser_and_a_forgotten_candidate_s_link_is_gone(bot: Bot, browser: Any) -> None:
    opened = await open_page(browser, bot, f"{bot.origin}/admin", DESKTOP)
    page = opened.page
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("text=Sessions overview")
    assert "Senior Backend Engineer" in await page.inner_text("main")
    violations = await axe_violations(page)
    assert violations == [], describe(violations)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "interview_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"
    # The candidate forgets everything on Telegram: the link stops working at once.
    prompt = await say(bot.fake, "/forget", "Are you sure")
    before = len(bot.fake.chat(CANDIDATE))
    await bot.fake.push(bot.fake.press_update(CANDIDATE, prompt, prompt.button_data("Yes")))
    await bot.fake.wait_until(lambda: any("deleted" in m.text for m in bot.fake.chat(CANDIDATE)[before - 1 :]))
    response = await page.goto(bot.url)
    assert response is not None and response.status == 404
    assert "not available" in await page.inner_text("h1")
    assert opened.console == ["error: Failed to load resource: the server responded with a status of 404 (Not Found)"]
    assert bot.outside == []
    await page.context.close()
