"""A local fake of an OpenAI-compatible chat completions server, replying as each test scripts it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from aiohttp import web


class FakeOpenAI:
    """POST /v1/chat/completions on 127.0.0.1 (a port the OS picks), replying as scripted, one step per request."""

    def __init__(self) -> None:
        self.script: list[str] = []  # "valid", "invalid", "hang", "500", "bad-evidence"; empty: "valid"
        self.requests: list[dict[str, Any]] = []
        self.points = 0
        self.follow_up = ""  # what the model proposes to ask next
        self.gate: asyncio.Event | None = None  # while set to an unset Event, replies wait for it
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def grade(self, *, evidence: str = "idempotency key") -> dict[str, Any]:
        points = [{"index": n, "covered": n == 0, "evidence": evidence if n == 0 else None} for n in range(self.points)]
        return {
            "on_topic": True,
            "relevance_reason": "It explains how retries are made safe.",
            "key_points": points,
            "specificity": "high",
            "star": {"situation": False, "task": False, "action": True, "result": False},
            "tips": ["Say what happens when two retries race.", "Mention partial failures."],
            "follow_up": self.follow_up,
        }

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("Authorization", "")})
        step = self.script.pop(0) if self.script else "valid"
        if body["response_format"]["json_schema"]["name"] == "interview_summary" and step == "valid":
            return self._reply(body, json.dumps({"summary": "You explain retries well; add outcomes."}))
        # As many key points as the rubric in the request lists ("0. ...", "1. ...").
        self.points = len(re.findall(r"^\d+\. ", body["messages"][1]["content"].split("The answer (")[0], re.M))
        if step == "hang":
            await self._release.wait()
        if self.gate is not None:
            await self.gate.wait()
        if step == "500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        content = {
            "valid": lambda: json.dumps(self.grade()),
            "bad-evidence": lambda: json.dumps(self.grade(evidence="we sharded the database by region")),
            "invalid": lambda: "Sure! Here is the grade: {on_topic: yes",
            "hang": lambda: json.dumps(self.grade()),
        }[step]()
        return self._reply(body, content)

    @staticmethod
    def _reply(body: dict[str, Any], content: str) -> web.Response:
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            }
        )
