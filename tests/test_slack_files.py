"""Slack file downloads: the bot token goes to Slack's file hosts or the configured Web API's origin, nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from yarl import URL

from adapters.chat import DownloadFailed
from adapters.slack.files import Files, token_may_go_to
from tests.fake_slack import BOT_TOKEN, FakeSlack

SLACK_API = "https://slack.com/api/"


@pytest.mark.parametrize(
    "link",
    [
        "https://files.slack.com/files-pri/T0123456-F0123456/download/voice.ogg",
        "https://FILES.SLACK.COM/files-pri/T1-F1/voice.ogg",
        "https://files.slack.com:443/files-pri/T1-F1/voice.ogg",
        "https://slack.com/files-pri/T1-F1/voice.ogg",
        "https://acme.enterprise.slack.com/files-pri/T1-F1/voice.ogg",
    ],
)
def test_slack_file_hosts_get_the_token(link: str) -> None:
    assert token_may_go_to(URL(link), SLACK_API)


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/files-pri/T1-F1/voice.ogg",
        "https://files.slack.com.evil.example/files-pri/T1-F1/voice.ogg",
        "https://evilslack.com/files-pri/T1-F1/voice.ogg",
        "https://files.slack.com@evil.example/voice.ogg",  # user info: the host is evil.example
        "https://evil.example/?next=https://files.slack.com/",
        "https://evil.example#@files.slack.com/",
        "http://files.slack.com/files-pri/T1-F1/voice.ogg",  # the token never travels unencrypted
        "https://files.slack.com:8443/files-pri/T1-F1/voice.ogg",
        "https://files.slack-edge.com/voice.ogg",  # Slack's CDN for public assets, never private files
        "ftp://files.slack.com/voice.ogg",
        "/files-pri/T1-F1/voice.ogg",
        "files.slack.com/files-pri/T1-F1/voice.ogg",
    ],
)
def test_other_hosts_do_not(link: str) -> None:
    assert not token_may_go_to(URL(link), SLACK_API)


def test_the_configured_api_origin_gets_it_with_its_port_and_scheme() -> None:
    api = "http://127.0.0.1:5555/api/"
    assert token_may_go_to(URL("http://127.0.0.1:5555/files-pri/F1/voice.ogg"), api)
    assert not token_may_go_to(URL("http://127.0.0.1:5556/files-pri/F1/voice.ogg"), api)  # another port
    assert not token_may_go_to(URL("http://localhost:5555/files-pri/F1/voice.ogg"), api)  # another host name
    assert not token_may_go_to(URL("https://127.0.0.1:5555/files-pri/F1/voice.ogg"), api)  # another scheme


class Recorder:
    """A server that is not Slack: it answers every request with audio bytes and records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _any(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("Authorization")))
        return web.Response(body=b"OggS" + b"\0" * 100, content_type="audio/ogg")


@pytest.fixture
async def other() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    await recorder.start()
    yield recorder
    await recorder.close()


@pytest.fixture
async def files(fake: FakeSlack) -> AsyncIterator[Files]:
    files = Files(BOT_TOKEN, 1024 * 1024, api_base_url=fake.api_url)
    yield files
    await files.close()


async def test_a_file_on_the_configured_slack_is_fetched_with_the_token(fake: FakeSlack, files: Files) -> None:
    file = fake.add_file("F0000001", b"OggS voice", "audio/ogg", "voice.ogg")
    assert await files.fetch(file) == b"OggS voice"
    assert fake.downloads == [("F0000001", True)]


@pytest.mark.parametrize("field", ["url_private_download", "url_private"])
async def test_a_file_link_elsewhere_is_refused_and_never_requested(
    fake: FakeSlack, other: Recorder, files: Files, field: str
) -> None:
    """Another server on the same machine (another port) is another host: it sees no request, so no token."""
    file = fake.add_file("F0000002", b"OggS voice", "audio/ogg", "voice.ogg")
    file.pop("url_private_download")
    file[field] = f"http://127.0.0.1:{other.port}/files-pri/F0000002/voice.ogg"
    with pytest.raises(DownloadFailed, match="not on a Slack file host"):
        await files.fetch(file)
    assert other.requests == []
    assert fake.downloads == []


async def test_the_same_server_under_another_host_name_is_refused(fake: FakeSlack, files: Files) -> None:
    """The comparison is by host name and port as written, not by where a name happens to resolve."""
    file = fake.add_file("F0000003", b"OggS voice", "audio/ogg", "voice.ogg")
    file["url_private_download"] = file["url_private_download"].replace("127.0.0.1", "localhost")
    with pytest.raises(DownloadFailed):
        await files.fetch(file)
    assert fake.downloads == []


@pytest.mark.parametrize("link", ["", "not a url", "http://[::1", 42])
async def test_a_missing_or_broken_link_is_a_download_failure(files: Files, link: object) -> None:
    with pytest.raises(DownloadFailed):
        await files.fetch({"id": "F0000004", "url_private": link})
