"""A fake Slack for adapter tests: a local Web API that records calls, serves private files, and signs requests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0000001"


@dataclass(frozen=True)
class Call:
    """One Web API call (or one POST to a response_url) as the fake received it."""

    method: str
    args: dict[str, Any]


class FakeSlack:
    """The Slack Web API (and a Socket Mode server) on 127.0.0.1:<port 0>; every call is recorded in `calls`."""

    def __init__(self, bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self._sockets: list[web.WebSocketResponse] = []
        self.calls: list[Call] = []
        self.downloads: list[tuple[str, bool]] = []  # (file id, authorised?)
        self.file_delay = 0.0  # seconds each file download waits before its bytes are sent: a slow network
        self.posted: dict[str, dict[str, Any]] = {}  # ts -> message as it stands after any chat.update
        # Files the bot uploaded (files_upload_v2), in order: data, filename, title, channel, thread_ts,
        # initial_comment, and a `ts` from the same counter as posted messages, so tests can tell what came first.
        self.uploaded: list[dict[str, Any]] = []
        self.fail_uploads = False  # the upload URL answers 500, as a broken upload would
        self._uploads: dict[str, dict[str, Any]] = {}  # file id -> upload begun, not completed
        self._upload_ids = itertools.count(1)
        self._files: dict[str, tuple[bytes, str]] = {}
        self._ts = itertools.count(1)
        # Channels the bot is not in: chat.postMessage answers not_in_channel, conversations.info is_member false.
        self.not_member: set[str] = set()
        self.bots: set[str] = {BOT_USER_ID}  # users.info says is_bot for these; any other user id is a person
        self.ephemeral: list[dict[str, Any]] = []  # chat.postEphemeral calls: channel, user, thread_ts, text, blocks
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._changed = asyncio.Event()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # users.info, conversations.info: slack_sdk GETs these
        app.router.add_post("/hooks/{name}", self._hook)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        app.router.add_get("/files-pri/{file_id}/download/{name}", self._download)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/hooks/{name}"

    def add_file(self, file_id: str, data: bytes, mimetype: str, name: str, *, size: int | None = None) -> dict:
        """Store a private file and return its `files[]` object as a message event carries it."""
        self._files[file_id] = (data, mimetype)
        quoted = urllib.parse.quote(name)
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data) if size is None else size,
            "url_private": f"{self.url}/files-pri/{file_id}/{quoted}",
            "url_private_download": f"{self.url}/files-pri/{file_id}/download/{quoted}",
        }

    # ----- what tests look at --------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The replies in a thread as a user would see them now (chat.update applied), oldest first."""
        return [m for m in self.posted.values() if m["channel"] == channel and m["thread_ts"] == thread_ts]

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        """Messages posted straight into a conversation (thread parents), oldest first."""
        return [m for m in self.posted.values() if m["channel"] == channel and not m["thread_ts"]]

    def responses(self, name: str) -> list[dict[str, Any]]:
        """What was POSTed to one response_url (ephemeral replies to a command or a button)."""
        return [c.args for c in self.calls if c.method == f"response_url:{name}"]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Poll until predicate() is truthy (work happens after the ack); fail with what was seen so far."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                seen = "\n".join(f"{c.method}: {json.dumps(c.args, ensure_ascii=False)[:300]}" for c in self.calls)
                raise AssertionError(f"condition not met within {timeout}s; calls so far:\n{seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.2)

    # ----- the routes ----------------------------------------------------------------------------------------

    def _record(self, method: str, args: dict[str, Any]) -> None:
        self.calls.append(Call(method, args))
        self._changed.set()

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(dict(await request.post()))
        for key in ("blocks", "view"):  # form-encoded calls send these as JSON strings
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        token = self.app_token if method == "apps.connections.open" else self.bot_token
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        try:
            result = {"ok": False, "error": "unknown_method"} if handler is None else {"ok": True, **handler(args)}
        except _SlackError as exc:
            result = {"ok": False, "error": exc.code}
        self._record(method, args)
        return web.json_response(result)

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake Team",
            "user": "interviewbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel") in self.not_member:
            raise _SlackError("not_in_channel")
        ts = self._next_ts()
        self.posted[ts] = {
            "ts": ts,
            "channel": args.get("channel"),
            "thread_ts": args.get("thread_ts"),
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
        }
        return {"channel": args.get("channel"), "ts": ts, "message": {"text": args.get("text", ""), "ts": ts}}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        """A message only `user` sees; Slack keeps no copy of it, so it is not in `posted`."""
        keys = ("channel", "user", "thread_ts", "text", "blocks")
        self.ephemeral.append({k: args.get(k) for k in keys})
        return {"message_ts": self._next_ts()}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.posted.get(str(args.get("ts")))
        if message is not None:
            message.update(text=args.get("text", ""), blocks=args.get("blocks") or [], edited=True)
        return {"channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text", "")}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        """Step 1 of files_upload_v2: an id and a URL to POST the bytes to."""
        file_id = f"F{next(self._upload_ids):08d}"
        self._uploads[file_id] = {"filename": args.get("filename"), "length": int(args.get("length") or 0)}
        return {"file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        """Step 3: share the uploaded files into a channel (and thread), with an optional comment."""
        files = json.loads(args.get("files") or "[]")
        shared = []
        for item in files:
            upload = self._uploads.pop(item["id"], None)
            if upload is None or "data" not in upload:
                raise _SlackError("file_not_found")
            record = {
                "id": item["id"],
                "ts": self._next_ts(),
                "data": upload["data"],
                "filename": upload["filename"],
                "title": item.get("title"),
                "channel": args.get("channel_id"),
                "thread_ts": args.get("thread_ts"),
                "initial_comment": args.get("initial_comment"),
            }
            self.uploaded.append(record)
            shared.append({"id": item["id"], "name": upload["filename"], "title": item.get("title")})
        return {"files": shared}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": "V0000001", **(args.get("view") or {})}}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        return {"channel": {"id": channel, "is_channel": True, "is_member": channel not in self.not_member}}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user", ""))
        return {"user": {"id": user, "name": user.lower(), "deleted": False, "is_bot": user in self.bots}}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": "D" + str(args.get("users", "")).split(",")[0]}}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.url.replace("http://", "ws://") + "/socket"}

    async def _upload(self, request: web.Request) -> web.Response:
        """Step 2 of files_upload_v2: the file's bytes, POSTed as the body to the URL step 1 gave."""
        file_id = request.match_info["file_id"]
        upload = self._uploads.get(file_id)
        if upload is None:
            return web.Response(status=404, text="unknown upload")
        if self.fail_uploads:
            return web.Response(status=500, text="upload failed")
        data = await request.read()
        if upload["length"] and len(data) != upload["length"]:
            return web.Response(status=400, text="length mismatch")
        upload["data"] = data
        self._record("upload", {"file_id": file_id, "bytes": len(data)})
        return web.Response(text=f"OK - {len(data)}")

    async def _hook(self, request: web.Request) -> web.Response:
        self._record("response_url:" + request.match_info["name"], await request.json())
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, then record every envelope acknowledgement the app sends back."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self._record("socket:connect", {})
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0000001"}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self._record("socket:ack", json.loads(message.data))
        self._record("socket:close", {})
        return ws

    async def send_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Deliver one Socket Mode envelope (events_api, slash_commands, interactive) to the connected app."""
        envelope_id = f"env-{next(self._ts)}"
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        authorised = request.headers.get("Authorization") == f"Bearer {self.bot_token}"
        self.downloads.append((file_id, authorised))
        if not authorised:
            return web.Response(status=403, text="forbidden")
        if file_id not in self._files:
            return web.Response(status=404, text="not found")
        data, mimetype = self._files[file_id]
        if self.file_delay:
            await asyncio.sleep(self.file_delay)
        return web.Response(body=data, content_type=mimetype)


class _SlackError(Exception):
    """A Web API call Slack refuses: {"ok": false, "error": code}."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# ----- inbound requests, signed the way Slack signs them -------------------------------------------------------


def sign(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """X-Slack-Signature headers: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def event_body(event: dict[str, Any], event_id: str) -> str:
    """An Events API callback (JSON) wrapping one event."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": TEAM_ID,
            "api_app_id": "A0000001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            "event": event,
        },
        ensure_ascii=False,
    )


def command_body(command: str, text: str, *, user_id: str, channel_id: str, response_url: str) -> str:
    """A slash command invocation (form-encoded, as Slack sends it over HTTP)."""
    return urllib.parse.urlencode(
        command_payload(command, text, user_id=user_id, channel_id=channel_id, response_url=response_url)
    )


def command_payload(command: str, text: str, *, user_id: str, channel_id: str, response_url: str) -> dict[str, str]:
    """A slash command's fields (the payload of a Socket Mode envelope)."""
    return {
        "token": "unused",
        "team_id": TEAM_ID,
        "team_domain": "fake",
        "channel_id": channel_id,
        "channel_name": "directmessage",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0000001",
        "response_url": response_url,
        "trigger_id": f"trigger-{time.monotonic_ns()}",
    }


def interaction_body(payload: dict[str, Any]) -> str:
    """An interactivity request (view_submission, block_actions): form field `payload` holding JSON."""
    payload = {"team": {"id": TEAM_ID, "domain": "fake"}, "api_app_id": "A0000001", "token": "unused", **payload}
    return urllib.parse.urlencode({"payload": json.dumps(payload, ensure_ascii=False)})


def block_text(blocks: list[dict[str, Any]]) -> str:
    """Every piece of text in a Block Kit message, for asserting on what the user sees."""
    out = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        for item in block.get("fields", []) + block.get("elements", []):
            out.append(item["text"] if isinstance(item.get("text"), str) else item.get("text", {}).get("text", ""))
    return "\n".join(out)
