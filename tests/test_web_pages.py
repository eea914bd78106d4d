"""The web report through real HTTP (aiohttp's test server): private links, what the pages show, recordings with
Range, the admin sign-in, the security headers, and that nothing a candidate said becomes markup."""

from __future__ import annotations

import html
import logging
import os
import re
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.chat import Chat, Kind, Link, Option, Reply
from adapters.slack.blocks import LINK_ACTION, message
from adapters.telegram import TelegramConfig
from adapters.telegram.bot import surface as telegram_surface
from adapters.telegram.render import keyboard
from adapters.web import ReportLinks, load_secret
from adapters.web.pages import SECURITY_HEADERS
from bot.config import ConfigError, load_config
from engine import AudioInput, InterviewEngine, InterviewSpec, User, space_id
from engine.store import MemoryStore
from tests.web_support import ADMIN_TOKEN, SECRET, TimedSpeech, make_links, web_app

ANN = User("telegram", "4242", "Ann")
BOB = User("telegram", "4343", "Bob")
SPEC = InterviewSpec("Backend Engineer", "Acme", "Technology", cv="SECRET-CV-LINE Django expert")
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
FIRST = b"say:um I led the 2.5 migration of our ?payments service to postgres so um we cut latency by half"
RETAKE = b"say:I led the migration of our payments service to postgres and we cut latency by half in three months"

Served = Callable[..., Any]


def voice(data: bytes) -> AudioInput:
    return AudioInput(data=data, mime_type="audio/ogg")


@pytest.fixture
def engine(tmp_path: Path) -> InterviewEngine:
    return InterviewEngine(MemoryStore(), TimedSpeech(), audio_dir=tmp_path / "audio")


@pytest.fixture
async def serve() -> AsyncIterator[Served]:
    clients: list[TestClient] = []

    async def _serve(engine: InterviewEngine, links: ReportLinks | None = None, **options: Any) -> TestClient:
        server = TestServer(web_app(engine, links or make_links(), **options))
        # No aiohttp access log, as in production (bot/app.py): the server logs each request itself.
        await server.start_server(access_log=None)
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield _serve
    for client in clients:
        await client.close()


async def interview(engine: InterviewEngine, user: User = ANN) -> Any:
    """A voice answer with fillers, a pause and an unsure word; a typed answer made of XSS; a retake of question 1."""
    await engine.start(user, SPEC)
    await engine.answer_audio(user, voice(FIRST))
    await engine.answer_text(user, " ".join(XSS))
    await engine.retake(user, question_index=0)
    await engine.answer_audio(user, voice(RETAKE))
    return await engine.get_session(user)


def path_of(url: str) -> str:
    return url.split("127.0.0.1", 1)[1]


def _main(page: str) -> str:
    """A page's content, without the head (whose relative asset paths follow the URL's depth)."""
    return page.split('<main id="main">', 1)[1]


def assert_secure(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


# ----- links -------------------------------------------------------------------------------------------------------


async def test_a_link_opens_its_session_until_it_expires_and_nothing_else(engine: InterviewEngine) -> None:
    now = [1_800_000_000.0]
    links = ReportLinks(SECRET, public_url="https://coach.example.com/", link_days=7, clock=lambda: now[0])
    session = await interview(engine)
    url = links.url_for(session)
    assert url is not None and url.startswith("https://coach.example.com/r/")
    token = url.rsplit("/", 1)[1]
    target = links.check(token)
    assert target is not None and (target.platform, target.user_id, target.session_id) == (
        "telegram",
        "4242",
        session.session_id,
    )
    assert links.opens(target, session)
    assert target.expires_at == now[0] + 7 * 86400
    payload, signature = token.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"{flipped}.{signature}", f"{payload}.{signature[:-1]}x", token + "x", "", "a.b", "...", "x" * 900):
        assert links.check(bad) is None, bad
    assert ReportLinks(b"another-secret-another-secret-12", public_url="x").check(token) is None
    now[0] += 7 * 86400  # expired
    assert links.check(token) is None
    assert ReportLinks(SECRET).url_for(session) is None  # no public_url: no links


def test_the_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = load_secret("", tmp_path / "data")
    path = tmp_path / "data" / "web-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 32
    assert load_secret("", tmp_path / "data") == first  # kept across restarts
    assert load_secret("x" * 40, tmp_path / "data") == b"x" * 40  # the configured one wins


def test_web_config_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[web]\npublic_url = "https://coach.example.com"\nlink_days = 3\n')
    config = load_config(path, {"INTERVIEW_BOT_WEB_SECRET": "s" * 40})
    assert (config.web.public_url, config.web.link_days, config.web.secret) == (
        "https://coach.example.com",
        3,
        "s" * 40,
    )
    assert load_config(None, {}).web.public_url == "" and load_config(None, {}).web.link_days == 7
    path.write_text('[web]\npublic_url = "coach.example.com/?x=1"\n')
    with pytest.raises(ConfigError, match=r"web\.public_url"):
        load_config(path, {})
    path.write_text("[web]\nlink_days = 0\n")
    with pytest.raises(ConfigError, match=r"web\.link_days"):
        load_config(path, {})
    with pytest.raises(ConfigError, match="at least 32"):
        load_config(None, {"INTERVIEW_BOT_WEB_SECRET": "short"})


# ----- the report page ---------------------------------------------------------------------------------------------


async def test_the_report_page_shows_the_whole_interview(engine: InterviewEngine, serve: Served) -> None:
    links = make_links()
    session = await interview(engine)
    client = await serve(engine, links)
    resp = await client.get(path_of(links.url_for(session) or ""))
    assert resp.status == 200 and resp.content_type == "text/html"
    assert_secure(resp.headers)
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Content-Encoding"] in ("gzip", "deflate")  # compressed for clients that accept it
    page = await resp.text()
    assert "<h1>Backend Engineer" in page and "Acme" in page
    # Charts drawn from the data, each with its table.
    for chart in ("scores", "pace", "fillers", "timeline-0-1", "timeline-0-2"):
        assert f'data-chart="{chart}"' in page
    assert page.count('<details class="data">') >= 5
    assert re.search(r'data-label="Q1" data-score="\d+" data-attempts="2"', page)
    # The transcript as heard: fillers highlighted, the unsure word marked, the long pause where it fell.
    assert '<mark class="filler">um<span class="sr-only"> (filler)</span></mark> I led the' in page
    assert '<span class="unsure">payments<span class="sr-only"> (unsure)</span></span>' in page
    assert re.search(r'the <span class="pause" data-pause="2\.\d+">', page)
    assert 'data-pause-at="' in page and 'data-filler-at="' in page
    # Retakes side by side, the best one marked, with what changed; each with its recording.
    assert page.count('<section class="attempt') == 3 and "Attempt 2 <span" in page and "Score " in page
    assert 'id="rec-0-1"' in page and 'id="rec-0-2"' in page and 'src="' in page
    assert "Content</h5>" in page and "✗" in page
    # Typed XSS is text; the CV never appears.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "SECRET-CV-LINE" not in page
    assert len(page.encode()) < 300_000


async def test_a_team_interviews_page_shows_the_teams_ratings_and_comments_beside_the_bot(
    engine: InterviewEngine, serve: Served
) -> None:
    links = make_links()
    group = User("telegram", space_id(-100777), "Team")
    mate = User("telegram", "4444", XSS[1])
    await engine.start_team(group, SPEC, candidate=ANN, interviewer=BOB, place="Backend guild", route={"chat_id": 1})
    await engine.accept_team(group, ANN)
    await engine.answer_text(group, "I led the migration of our payments service to PostgreSQL and cut latency.")
    await engine.answer_text(group, "no idea")
    await engine.rate(group, mate, 0, content=5, structure=4, delivery=3, comment=XSS[0])
    await engine.rate(group, BOB, 1, overall=5)
    await engine.comment(group, BOB, "Strong <b>opening</b>", index=0)
    session = await engine.latest_session(group)
    client = await serve(engine, links)
    page = _main(await (await client.get(path_of(links.url_for(session) or ""))).text())
    assert "Your team's view</h2>" in page and "A team interview in Backend guild, run by Bob: 2 teammates" in page
    team = page.split('id="t1-h"', 1)[1].split("</section>", 1)[0]
    assert "1 rating, average 4.0/5 (content 5.0, structure 4.0, delivery 3.0) · the bot " in team
    assert f"<strong>{html.escape(XSS[1])}:</strong> {html.escape(XSS[0])}" in team
    assert "<strong>Bob:</strong> Strong &lt;b&gt;opening&lt;/b&gt;" in team
    # Question 2: the bot found little, the team gave 5: they disagree, and the summary links to it.
    assert '<a href="#q2">Question 2</a>' in page and "(the team liked it more)" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "SECRET-CV-LINE" not in page


async def test_a_role_typed_as_markup_is_text_everywhere(engine: InterviewEngine, serve: Served) -> None:
    links = make_links()
    await engine.start(ANN, InterviewSpec(XSS[0], XSS[1], "Tech"))
    await engine.answer_text(ANN, XSS[0])
    client = await serve(engine, links)
    page = await (await client.get(path_of(links.url_for(await engine.get_session(ANN)) or ""))).text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # The one script is the bot's own file: no inline script, which the CSP would refuse anyway.
    scripts = re.findall(r"<script[^>]*>", page)
    assert len(scripts) == 1 and re.fullmatch(r'<script src="\.\./assets/web\.js\?v=\w+" defer>', scripts[0])


async def test_progress_page_draws_the_trends(engine: InterviewEngine, serve: Served) -> None:
    links = make_links()
    for _ in range(2):
        await engine.start(ANN, SPEC)
        await engine.answer_audio(ANN, voice(RETAKE))
        await engine.end(ANN)
    session = await engine.latest_session(ANN)
    client = await serve(engine, links)
    resp = await client.get(path_of(links.url_for(session) or "") + "/progress")
    assert resp.status == 200
    assert_secure(resp.headers)
    page = await resp.text()
    for chart in ("trend-score", "trend-pace", "trend-fillers", "trend-coverage"):
        assert f'data-chart="{chart}"' in page
    assert page.count('class="point"') >= 6 and "this one" in page


# ----- what a link cannot do -------------------------------------------------------------------------------------


async def test_tampered_expired_foreign_and_forgotten_links_are_the_same_404(
    engine: InterviewEngine, serve: Served
) -> None:
    now = [1_800_000_000.0]
    links = ReportLinks(SECRET, public_url="http://127.0.0.1", clock=lambda: now[0])
    ann = await interview(engine, ANN)
    bob = await interview(engine, BOB)
    client = await serve(engine, links)
    good = path_of(links.url_for(ann) or "")
    assert (await client.get(good)).status == 200
    not_found = _main(await (await client.get("/r/nothing")).text())
    token = good.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    past = path_of(f"http://127.0.0.1/r/{links.token(ann, expires_at=now[0] - 1)}")
    bob_token = links.url_for(bob) or ""
    refused = [
        f"/r/{payload}x.{signature}",  # tampered payload
        f"/r/{payload}.{signature[::-1]}",  # tampered signature
        past,  # signed with a past expiry
        good + "/audio/0/9",  # no such attempt
        good + "/audio/1/1",  # a typed answer has no recording
        good + "/audio/../../etc/passwd",
        "/r/" + bob_token.rsplit("/", 1)[1][:-2] + "/audio/0/1",
        good + "/admin",
        "/r/",
    ]
    for path in refused:
        resp = await client.get(path)
        assert resp.status == 404, path
        assert_secure(resp.headers)
        assert _main(await resp.text()) == not_found, path  # says nothing about why
    # Ann's link never shows Bob's interview, and the other way round.
    assert "4343" not in await (await client.get(good)).text()
    # Forgotten (the HTTP delete answers for HTTP users; Telegram's /forget is the same engine call).
    await engine.forget(ANN)
    assert (await client.get(good)).status == 404
    assert (await client.get(good + "/audio/0/1")).status == 404
    assert (await client.get(path_of(bob_token))).status == 200


async def test_a_session_started_again_under_the_same_id_is_not_reached_by_old_links(
    engine: InterviewEngine, serve: Served
) -> None:
    links = make_links()
    user = User("http", "client-1")
    await engine.start(user, SPEC, session_id="s1")
    old = path_of(links.url_for(await engine.get_session(user, "s1")) or "")
    client = await serve(engine, links, api_key="k" * 20)
    resp = await client.delete("/api/interview/user/client-1", headers={"X-API-Key": "k" * 20})
    assert resp.status == 200 and await resp.json() == {"deleted": 1}
    assert (await client.delete("/api/interview/user/client-1")).status == 401  # the API key, like every route
    await engine.start(user, SPEC, session_id="s1")  # the same ids, a new interview
    assert (await client.get(old)).status == 404


async def test_the_http_report_carries_its_link_and_delete_answers_how_many(
    engine: InterviewEngine, serve: Served
) -> None:
    client = await serve(engine)
    body = {"user_id": "u1", "session_id": "s1", "role_title": "Dev", "company_name": "Acme", "industry": "Tech"}
    assert (await client.post("/api/interview/start", json=body)).status == 201
    await client.post("/api/interview/answer", data={"user_id": "u1", "session_id": "s1", "text": "I built things"})
    report = await (await client.get("/api/interview/report/u1/s1")).json()
    assert report["report_url"].startswith("http://127.0.0.1/r/")
    page = await client.get(path_of(report["report_url"]))
    assert page.status == 200 and "I built things" in await page.text()
    ended = await (await client.post("/api/interview/end", json={"user_id": "u1", "session_id": "s1"})).json()
    assert ended["report_url"].startswith("http://127.0.0.1/r/")
    assert await (await client.delete("/api/interview/user/u1")).json() == {"deleted": 1}
    assert (await client.get(path_of(report["report_url"]))).status == 404
    assert await (await client.delete("/api/interview/user/u1")).json() == {"deleted": 0}
    assert (await client.delete("/api/interview/user/..%2Fetc")).status == 400


async def test_without_a_public_url_the_api_says_null(engine: InterviewEngine, serve: Served) -> None:
    client = await serve(engine, make_links(public_url=""), public_url="")
    body = {"user_id": "u1", "session_id": "s1", "role_title": "Dev", "company_name": "Acme", "industry": "Tech"}
    await client.post("/api/interview/start", json=body)
    assert (await (await client.get("/api/interview/report/u1/s1")).json())["report_url"] is None


# ----- recordings ------------------------------------------------------------------------------------------------


async def test_recordings_stream_with_range_and_refuse_past_the_end(engine: InterviewEngine, serve: Served) -> None:
    links = make_links()
    session = await interview(engine)
    client = await serve(engine, links)
    audio = path_of(links.url_for(session) or "") + "/audio/0/1"
    whole = await client.get(audio)
    assert whole.status == 200 and whole.content_type == "audio/ogg" and await whole.read() == FIRST
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert_secure(whole.headers)
    part = await client.get(audio, headers={"Range": "bytes=4-9"})
    assert part.status == 206 and await part.read() == FIRST[4:10]
    assert part.headers["Content-Range"] == f"bytes 4-9/{len(FIRST)}"
    beyond = await client.get(audio, headers={"Range": f"bytes={len(FIRST) + 10}-"})
    assert beyond.status == 416
    assert (await client.get(path_of(links.url_for(session) or "") + "/audio/0/2")).status == 200


# ----- admin -------------------------------------------------------------------------------------------------------


async def test_admin_sign_in_sets_a_strict_cookie_and_shows_progress_not_cvs(
    engine: InterviewEngine, serve: Served
) -> None:
    links = make_links()
    session = await interview(engine)
    await engine.start(BOB, SPEC)
    group = User("telegram", space_id(-100777), "Team")
    await engine.start_team(group, SPEC, candidate=BOB, interviewer=ANN, place="Backend guild", route={"chat_id": 1})
    client = await serve(engine, links, public_url="https://coach.example.com")
    form = await client.get("/admin")
    assert form.status == 200 and 'name="token"' in await form.text()
    assert_secure(form.headers)
    # A candidate's link is no key to it: not as a path, not as a cookie.
    token = (links.url_for(session) or "").rsplit("/", 1)[1]
    client.session.cookie_jar.update_cookies({"interview_admin": token})
    assert 'name="token"' in await (await client.get("/admin")).text()
    client.session.cookie_jar.clear()
    wrong = await client.post("/admin/login", data={"token": "nope"}, allow_redirects=False)
    assert wrong.status == 401 and "not valid" in await wrong.text()
    right = await client.post("/admin/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert right.status == 303
    cookie = right.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/admin"):
        assert attribute in cookie, attribute
    value = re.search(r"interview_admin=([^;]+)", cookie)
    assert value is not None
    page = await client.get("/admin", cookies={"interview_admin": value.group(1)})
    text = await page.text()
    assert page.status == 200 and "Sessions overview" in text and "Backend Engineer" in text
    assert 'data-active="3"' in text and "Bob" in text and "SECRET-CV-LINE" not in text
    assert 'Bob <span class="muted">(team interview in Backend guild, 0 rated)</span>' in text
    assert_secure(page.headers)


async def test_admin_is_off_without_a_token_and_sign_ins_are_rate_limited(
    engine: InterviewEngine, serve: Served
) -> None:
    off = await serve(engine, admin_token="")
    assert (await off.get("/admin")).status == 404
    client = await serve(engine)
    for _ in range(10):
        assert (await client.post("/admin/login", data={"token": "guess"})).status == 401
    assert (await client.post("/admin/login", data={"token": ADMIN_TOKEN})).status == 429
    resp = await client.get("/assets/web.css")
    assert resp.status == 200 and resp.content_type == "text/css"
    assert_secure(resp.headers)


# ----- logs --------------------------------------------------------------------------------------------------------


async def test_the_access_log_never_holds_a_token(
    engine: InterviewEngine, serve: Served, caplog: pytest.LogCaptureFixture
) -> None:
    links = make_links()
    session = await interview(engine)
    client = await serve(engine, links)
    url = links.url_for(session) or ""
    token = url.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO):
        await client.get(path_of(url))
        await client.get(path_of(url) + "/audio/0/1")
        await client.get(path_of(url)[:-3] + "zzz")
    assert "/r/~" in caplog.text and token not in caplog.text and token[:-3] not in caplog.text


# ----- the link in the chat ----------------------------------------------------------------------------------------


async def test_every_report_in_the_chat_offers_the_link_and_none_while_links_are_off(engine: InterviewEngine) -> None:
    links = make_links()
    surface = telegram_surface(TelegramConfig())
    chat = Chat(engine, surface, report_link=links.url_for)
    await interview(engine)

    async def replies(text: str, on: Chat) -> list[Reply]:
        from adapters.chat import Command

        name, _, args = text.lstrip("/").partition(" ")
        return [r async for r in on.handle(ANN, Command(name, args), {"chat_id": 1})]

    ended = [r for r in await replies("/end", chat) if r.kind is Kind.REPORT]
    report = [r for r in await replies("/report", chat) if r.kind is Kind.REPORT]
    for reply in (*ended, *report):
        assert reply.link is not None and reply.link.url.startswith("http://127.0.0.1/r/")
    off = Chat(engine, surface, report_link=make_links(public_url="").url_for)
    assert all(r.link is None for r in await replies("/report", off) if r.kind is Kind.REPORT)


def test_telegram_shows_a_url_button_and_slack_a_link_button() -> None:
    link = Link("📄 Full report", "https://coach.example.com/r/abc.def")
    markup = keyboard([Option("Yes", "f:yes")], link)
    assert markup is not None
    rows = markup.inline_keyboard
    assert rows[-1][0].url == link.url and rows[-1][0].callback_data is None and rows[0][0].callback_data == "f:yes"
    assert keyboard([], None) is None
    from adapters.chat import Words

    _, blocks = message(Reply(Kind.NOTE, "Your report", link=link), Words(lambda n: n, voice="clip", where="DM"))
    button = blocks[-1]["elements"][0]
    assert button["url"] == link.url and button["action_id"] == LINK_ACTION


def test_secret_file_is_not_world_readable_even_under_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_secret("", tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "web-secret").stat().st_mode) == 0o600
