"""The Slack adapter on a real aiohttp server, driven as Slack drives it: signed commands, events and button
presses in, the fake Web API (tests.fake_slack) out. Shared by the Slack end-to-end tests."""

from __future__ import annotations

import itertools
import urllib.parse
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import EVENTS_PATH, SlackAdapter, SlackConfig
from bot.app import recover
from engine.service import InterviewEngine
from engine.speech import Transcriber
from engine.store import TinyDBStore
from tests.engine_support import build_engine
from tests.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    command_body,
    command_payload,
    event_body,
    interaction_body,
    sign,
)

ADMIN = "UADMIN01"
FORM = "application/x-www-form-urlencoded"


class SlackBot:
    """One life of the bot: engine on data_dir, SlackAdapter, its route on a real aiohttp server."""

    def __init__(self, data_dir: Path, transcriber: Transcriber | None, fake: FakeSlack, **engine_kwargs: Any) -> None:
        self.data_dir = data_dir
        self.transcriber = transcriber
        self.fake = fake
        self.engine_kwargs = engine_kwargs
        self.engine: InterviewEngine
        self.store: TinyDBStore
        self.adapter: SlackAdapter
        self.client: TestClient
        self._ids = itertools.count(1)

    async def start(self, *, take_in: bool = True) -> SlackBot:
        self.engine, self.store, self.pipeline = build_engine(self.data_dir, self.transcriber, **self.engine_kwargs)
        config = SlackConfig(
            bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_base_url=self.fake.api_url, admins=(ADMIN,)
        )
        self.adapter = SlackAdapter(self.engine, config)
        app = web.Application()
        app.router.add_routes(self.adapter.routes())
        self.client = TestClient(TestServer(app, host="127.0.0.1"))
        await self.client.start_server()
        # bot/app.py's order: able to send, then the replies a restart owes and the inbox, then taking in events.
        await self.adapter.open()
        await recover(self.engine, {"slack": self.adapter})
        await self.adapter.resume_inbox()
        if take_in:
            await self.adapter.start()
        return self

    async def stop(self) -> None:
        """A clean shutdown: the adapter finishes its work first."""
        await self.adapter.stop()
        await self.close()

    async def close(self) -> None:
        await self.client.close()
        if self.pipeline is not None:
            await self.pipeline.close()
        self.store.close()

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> ClientResponse:
        headers = {"Content-Type": content_type, **sign(body), **(headers or {})}
        return await self.client.post(EVENTS_PATH, data=body.encode(), headers=headers)

    async def command(self, user: str, text: str, command: str = "/interview") -> tuple[ClientResponse, str]:
        """Run a slash command; returns the HTTP response and the name of its response_url on the fake."""
        name = f"cmd{next(self._ids)}"
        body = command_body(
            command, text, user_id=user, channel_id="D" + user, response_url=self.fake.response_url(name)
        )
        response = await self.post(body, FORM)
        assert response.status == 200
        return response, name

    async def interact(self, payload: dict[str, Any]) -> ClientResponse:
        return await self.post(interaction_body(payload), FORM)

    async def click(self, user: str, blocks: list[dict[str, Any]], label: str) -> str:
        """Press the button labelled `label` (or with it in its label) in `blocks`; returns the response_url name."""
        button = next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if label in e["text"]["text"])
        name = f"act{next(self._ids)}"
        response = await self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower()},
                "trigger_id": f"trigger-{name}",
                "response_url": self.fake.response_url(name),
                "container": {"type": "message", "is_ephemeral": True},
                "channel": {"id": "D" + user},
                "actions": [
                    {
                        "type": "button",
                        "action_id": button["action_id"],
                        "block_id": "b1",
                        "value": button.get("value", ""),
                        "action_ts": "1700000001.000001",
                    }
                ],
            }
        )
        assert response.status == 200
        return name

    async def channel_command(self, user: str, text: str, channel: str, channel_name: str = "mock-interviews") -> str:
        """`/interview <text>` run in a channel; returns its response_url's name on the fake."""
        name = f"cmd{next(self._ids)}"
        fields = command_payload(
            "/interview", text, user_id=user, channel_id=channel, response_url=self.fake.response_url(name)
        )
        response = await self.post(urllib.parse.urlencode({**fields, "channel_name": channel_name}), FORM)
        assert response.status == 200
        return name

    async def click_message(self, user: str, message: dict[str, Any], label: str, *, value: str | None = None) -> str:
        """Press a button on a message the bot posted in a channel (`message` as fake.posted has it); `value`
        tampers with the button's value. Returns the response_url's name."""
        button = next(
            e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if label in e["text"]["text"]
        )
        name = f"act{next(self._ids)}"
        channel = message["channel"]
        shown = {"type": "message", "ts": message["ts"], "text": message["text"], "blocks": message["blocks"]}
        if message["thread_ts"]:
            shown["thread_ts"] = message["thread_ts"]
        response = await self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower()},
                "trigger_id": f"trigger-{name}",
                "response_url": self.fake.response_url(name),
                "container": {
                    "type": "message",
                    "message_ts": message["ts"],
                    "channel_id": channel,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel, "name": "mock-interviews"},
                "message": shown,
                "actions": [
                    {
                        "type": "button",
                        "action_id": button["action_id"],
                        "block_id": "b1",
                        "value": button.get("value", "") if value is None else value,
                        "action_ts": "1700000001.000001",
                    }
                ],
            }
        )
        assert response.status == 200
        return name

    async def submit_view(self, user: str, view: dict[str, Any], values: dict[str, str]) -> ClientResponse:
        """Submit a modal the bot opened, its inputs filled in by block id (selects and text inputs alike)."""
        state: dict[str, Any] = {}
        for block in view["blocks"]:
            key = block.get("block_id")
            if key not in values:
                continue
            if block["element"]["type"] == "static_select":
                state[key] = {"value": {"type": "static_select", "selected_option": {"value": values[key]}}}
            else:
                state[key] = {"value": {"type": "plain_text_input", "value": values[key]}}
        return await self.interact(
            {
                "type": "view_submission",
                "user": {"id": user, "username": user.lower(), "name": user.lower()},
                "trigger_id": "trigger-submit",
                "view": {**view, "id": "V0000001", "state": {"values": state}},
            }
        )

    async def thread_message(
        self, user: str, channel: str, thread_ts: str, text: str = "", *, files: list[dict] | None = None,
        event_id: str | None = None,
    ) -> ClientResponse:  # fmt: skip
        """A person's message in a channel's thread (the message.channels event)."""
        extra: dict[str, Any] = {"channel": channel, "channel_type": "channel"}
        return await self.message(user, text, thread_ts=thread_ts, files=files, event_id=event_id, extra=extra)

    async def message(
        self, user: str, text: str = "", *, thread_ts: str | None = None, files: list[dict] | None = None,
        event_id: str | None = None, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
    ) -> ClientResponse:  # fmt: skip
        event: dict[str, Any] = {
            "type": "message",
            "channel": "D" + user,
            "channel_type": "im",
            "user": user,
            "text": text,
            "ts": f"1700000500.{next(self._ids):06d}",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        if files:
            event.update(subtype="file_share", files=files)
        event.update(extra or {})
        body = event_body(event, event_id or f"Ev{next(self._ids):08d}")
        response = await self.post(body, "application/json", headers)
        assert response.status == 200
        return response


async def start_one_line(bot: SlackBot, user: str, text: str = "Senior Backend Engineer at TechCorp") -> str:
    """/interview Role at Company; returns the interview thread's ts once the first question is in it."""
    await bot.command(user, text)
    channel = "D" + user
    parent = await bot.fake.wait_for(lambda: bot.fake.top_level(channel))
    thread_ts = parent[-1]["ts"]
    await bot.fake.wait_for(lambda: any("Question 1 of" in m["text"] for m in bot.fake.thread(channel, thread_ts)))
    return thread_ts
