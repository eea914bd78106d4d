"""A local fake of the Telegram Bot API: the real python-telegram-bot talks HTTP to it, tests read what users saw."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Interview Coach", "username": "interview_coach_bot"}
MAX_TEXT = 4096
# What Telegram says of an administrator's rights (ChatMemberAdministrator requires every one).
ADMIN_RIGHTS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
    "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories",
)  # fmt: skip
MAX_CAPTION = 1024
# Parameters PTB sends as plain strings; every other form value is JSON-encoded by PTB.
STRING_PARAMS = {
    "text", "caption", "callback_query_id", "file_id", "url", "secret_token", "action", "parse_mode",
    "inline_message_id",
}  # fmt: skip


@dataclass
class Call:
    """One Bot API request as the bot made it."""

    method: str
    params: dict[str, Any]


@dataclass
class BotMessage:
    """A message the bot sent, with its latest text after any edits; a voice note or photo carries its file."""

    chat_id: int
    message_id: int
    text: str  # for a voice note or a photo: its caption ("" without one)
    reply_markup: dict[str, Any] | None = None
    edits: list[str] = field(default_factory=list)
    kind: str = "text"  # "text", "voice" (sendVoice) or "photo" (sendPhoto)
    data: bytes = b""  # the uploaded file's bytes, as they arrived
    filename: str = ""
    mime_type: str = ""
    duration: int | None = None  # sendVoice's duration, in seconds
    sent_at: float = 0.0  # time.monotonic() when the fake received it
    reply_to: int | None = None  # reply_parameters.message_id: the message this one replies to
    topic: int | None = None  # message_thread_id: the forum topic it was sent in

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every inline button (text and callback_data), row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    def button_data(self, label_part: str) -> str:
        """The callback_data of the button whose label contains `label_part`."""
        for button in self.buttons:
            if label_part.lower() in button["text"].lower():
                return button["callback_data"]
        raise AssertionError(f"no button containing {label_part!r} in {[b['text'] for b in self.buttons]}")


class FakeTelegram:
    """The Bot API subset the adapter uses, on 127.0.0.1 with a port the OS picks; records every call."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.messages: list[BotMessage] = []
        self.webhook: dict[str, Any] | None = None
        self.file_delay = 0.0  # seconds each file download waits before its bytes are sent: a slow network
        self.downloads: list[str] = []  # file paths of downloads begun, in order
        self.alerts: list[dict[str, Any]] = []  # answerCallbackQuery calls with a text: id, text, show_alert
        self.confirmed = 0  # the highest getUpdates offset seen: updates below it are confirmed, never sent again
        self.unstarted: set[int] = set()  # users who never opened a private chat: the bot may not write to them
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, data)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # ----- server ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        async with self._changed:
            self._closing = True  # ends any long poll at once, so shutdown does not wait for its timeout
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = _decode(await request.post())
        handler = getattr(self, f"_m_{method}", None)
        if method != "getUpdates":
            await self._record(Call(method, params))
        if handler is None:
            return _error(404, "Not Found")
        try:
            result = await handler(params)
        except _ApiError as exc:
            return _error(exc.status, exc.description)
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for file_path, data in self._files.values():
            if file_path == path:
                async with self._changed:
                    self.downloads.append(path)
                    self._changed.notify_all()
                if self.file_delay:
                    await asyncio.sleep(self.file_delay)
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    # ----- Bot API methods -------------------------------------------------------------------------------

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        if params.get("text"):
            self.alerts.append({"id": params.get("callback_query_id"), "text": params["text"],
                                "show_alert": str(params.get("show_alert")).lower() == "true"})  # fmt: skip
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long poll: confirm (drop) everything below `offset`, then wait up to `timeout` seconds for more."""
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        async with self._changed:
            # Confirmation happens when the call arrives, as in Telegram: a poll left waiting by a stopped
            # bot must not drop what is pushed later.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if offset > self.confirmed:
                self.confirmed = offset
                self._changed.notify_all()
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                if ready or self._closing or time.monotonic() >= deadline:
                    return ready[:limit]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text", "")
        _check_text(text)
        message = BotMessage(
            self._writable(params), next(self._message_ids), text, params.get("reply_markup"),
            sent_at=time.monotonic(), **_placed(params),
        )  # fmt: skip
        self.messages.append(message)
        return _message_json(message)

    def _writable(self, params: dict[str, Any]) -> int:
        """The chat a send goes to; Telegram's 403 for a user who never started a private chat with the bot."""
        chat_id = int(params["chat_id"])
        if chat_id in self.unstarted:
            raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat_id

    async def _m_sendVoice(self, params: dict[str, Any]) -> dict[str, Any]:
        """A voice note uploaded as PTB sends one: multipart, the file in the `voice` part (a FileField)."""
        return self._file_message(params, "voice")

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._file_message(params, "photo")

    def _file_message(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        upload = params.get(kind)
        if not isinstance(upload, web.FileField):
            raise _ApiError(400, f"Bad Request: {kind} must be an uploaded file in this fake")
        caption = params.get("caption") or ""
        if len(caption) > MAX_CAPTION:
            raise _ApiError(400, "Bad Request: message caption is too long")
        data = upload.file.read()
        if not data:
            raise _ApiError(400, "Bad Request: file must be non-empty")
        duration = params.get("duration")
        message = BotMessage(
            self._writable(params), next(self._message_ids), caption, params.get("reply_markup"), kind=kind,
            data=data, filename=upload.filename, mime_type=upload.content_type,
            duration=int(duration) if duration is not None else None, sent_at=time.monotonic(), **_placed(params),
        )  # fmt: skip
        self.messages.append(message)
        return _message_json(message)

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find(int(params["chat_id"]), int(params["message_id"]))
        text = params.get("text", "")
        _check_text(text)
        markup = params.get("reply_markup")
        if text == message.text and markup == message.reply_markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        message.edits.append(message.text)
        message.text = text
        message.reply_markup = markup
        return _message_json(message)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find(int(params["chat_id"]), int(params["message_id"]))
        message.reply_markup = params.get("reply_markup")
        return _message_json(message)

    async def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params["file_id"]
        if file_id not in self._files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path, data = self._files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": path}

    def _find(self, chat_id: int, message_id: int) -> BotMessage:
        for message in self.messages:
            if message.chat_id == chat_id and message.message_id == message_id:
                return message
        raise _ApiError(400, "Bad Request: message to edit not found")

    # ----- what tests inject -------------------------------------------------------------------------------

    def add_file(self, data: bytes, folder: str = "voice", suffix: str = ".oga") -> str:
        """Store a file the bot can fetch with getFile; returns its file_id."""
        number = next(self._file_ids)
        file_id = f"file-{number}"
        self._files[file_id] = (f"{folder}/file_{number}{suffix}", data)
        return file_id

    async def push(self, *updates: dict[str, Any]) -> None:
        """Queue updates for getUpdates, all at once (so one poll returns them together, as Telegram does)."""
        async with self._changed:
            self._updates.extend(updates)
            self._changed.notify_all()

    def message_update(self, user_id: int, **content: Any) -> dict[str, Any]:
        """An update carrying a new private message from `user_id` (text, voice, sticker...)."""
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
            "from": _user(user_id),
            **content,
        }
        text = content.get("text", "")
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._update_ids), "message": message}

    def group_update(
        self,
        user_id: int,
        chat_id: int,
        *,
        reply_to: BotMessage | dict[str, Any] | None = None,
        topic: int | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """A member's message in a group (`chat_id` < 0), optionally a reply to the bot's message or a member's
        (`reply_to`: a BotMessage, or a member's message as group_update made it), or in a forum's `topic`."""
        update = self.message_update(user_id, **content)
        message = update["message"]
        message["chat"] = _group(chat_id, forum=topic is not None)
        if topic is not None:
            message.update(message_thread_id=topic, is_topic_message=True)
        if isinstance(reply_to, BotMessage):
            message["reply_to_message"] = _message_json(reply_to)
        elif reply_to is not None:
            message["reply_to_message"] = reply_to["message"]
        return update

    def text_update(self, user_id: int, text: str) -> dict[str, Any]:
        return self.message_update(user_id, text=text)

    def voice_update(self, user_id: int, data: bytes, *, mime_type: str = "audio/ogg") -> dict[str, Any]:
        """A voice note whose bytes the bot can download; duration and size as Telegram reports them."""
        file_id = self.add_file(data)
        voice = {"file_id": file_id, "file_unique_id": f"u{file_id}", "duration": 2, "mime_type": mime_type,
                 "file_size": len(data)}  # fmt: skip
        return self.message_update(user_id, voice=voice)

    def video_note_update(self, user_id: int, data: bytes) -> dict[str, Any]:
        """A round video message (MP4): Telegram gives no mime type for these."""
        file_id = self.add_file(data, folder="video_notes", suffix=".mp4")
        video_note = {"file_id": file_id, "file_unique_id": f"u{file_id}", "length": 240, "duration": 2,
                      "file_size": len(data)}  # fmt: skip
        return self.message_update(user_id, video_note=video_note)

    def document_update(self, user_id: int, data: bytes, *, file_name: str, mime_type: str) -> dict[str, Any]:
        file_id = self.add_file(data, folder="documents", suffix="." + file_name.rsplit(".", 1)[-1])
        document = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name,
                    "mime_type": mime_type, "file_size": len(data)}  # fmt: skip
        return self.message_update(user_id, document=document)

    def membership_update(self, user_id: int, chat_id: int, old: str, new: str) -> dict[str, Any]:
        """`user_id` changed the bot's membership of a group, from status `old` to `new` ("left", "member"...)."""

        def member(status: str) -> dict[str, Any]:
            rights = dict.fromkeys(ADMIN_RIGHTS, False) if status == "administrator" else {}
            return {"user": BOT_USER, "status": status, **rights}

        return {
            "update_id": next(self._update_ids),
            "my_chat_member": {
                "chat": _group(chat_id),
                "from": _user(user_id),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        }

    def press_update(self, user_id: int, message: BotMessage, data: str) -> dict[str, Any]:
        """The user tapping an inline button under one of the bot's messages."""
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": f"cq-{next(self._message_ids)}",
                "from": _user(user_id),
                "chat_instance": f"ci-{user_id}",
                "data": data,
                "message": _message_json(message),
            },
        }

    # ----- what tests read ---------------------------------------------------------------------------------

    def chat(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in one chat, in the order sent (texts as last edited), voice notes and photos included."""
        return [m for m in self.messages if m.chat_id == chat_id]

    def texts(self, chat_id: int) -> list[str]:
        """The text messages of one chat, in order (voice notes and photos left out)."""
        return [m.text for m in self.chat(chat_id) if m.kind == "text"]

    def files(self, chat_id: int, kind: str | None = None) -> list[BotMessage]:
        """The voice notes and photos of one chat (or only those of `kind`), in order."""
        return [m for m in self.chat(chat_id) if m.kind != "text" and (kind is None or m.kind == kind)]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_until(self, condition: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Wait until `condition()` is truthy after some bot call; fails with what the chats show otherwise."""

        async def waiting() -> Any:
            async with self._changed:
                while not (result := condition()):
                    await self._changed.wait()
                return result

        try:
            return await asyncio.wait_for(waiting(), timeout)
        except TimeoutError:
            shown = "\n---\n".join(f"[{m.chat_id}#{m.message_id}] {m.text[:300]}" for m in self.messages[-8:])
            raise AssertionError(f"condition never held; last bot messages:\n{shown}") from None

    async def wait_for_text(self, chat_id: int, part: str, *, after: int = 0) -> BotMessage:
        """The first bot message (from index `after` in that chat) whose current text contains `part`."""

        def found() -> BotMessage | None:
            return next((m for m in self.chat(chat_id)[after:] if part in m.text), None)

        return await self.wait_until(found)


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)


def _check_text(text: str) -> None:
    if not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT:
        raise _ApiError(400, "Bad Request: message is too long")


def _decode(form: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in form.items():
        if key in STRING_PARAMS or not isinstance(value, str):
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "ko"}


def _group(chat_id: int, *, forum: bool = False) -> dict[str, Any]:
    group: dict[str, Any] = {"id": chat_id, "type": "supergroup", "title": f"Team {abs(chat_id)}"}
    return {**group, "is_forum": True} if forum else group


def _placed(params: dict[str, Any]) -> dict[str, Any]:
    """Where a sent message goes in its chat: the message it replies to and the forum topic, from the parameters."""
    replying = params.get("reply_parameters") or {}
    topic = params.get("message_thread_id")
    return {"reply_to": replying.get("message_id"), "topic": int(topic) if topic is not None else None}


def _message_json(message: BotMessage) -> dict[str, Any]:
    private = {"id": message.chat_id, "type": "private", "first_name": f"User{message.chat_id}"}
    data: dict[str, Any] = {
        "message_id": message.message_id,
        "date": int(time.time()),
        "chat": _group(message.chat_id, forum=message.topic is not None) if message.chat_id < 0 else private,
        "from": BOT_USER,
    }
    if message.topic is not None:
        data.update(message_thread_id=message.topic, is_topic_message=True)
    file = {"file_id": f"sent-{message.message_id}", "file_unique_id": f"us{message.message_id}"}
    if message.kind == "voice":
        data["voice"] = {**file, "duration": message.duration or 0, "file_size": len(message.data)}
    elif message.kind == "photo":
        width, height = _png_size(message.data)
        data["photo"] = [{**file, "width": width, "height": height, "file_size": len(message.data)}]
    else:
        data["text"] = message.text
    if message.kind != "text" and message.text:
        data["caption"] = message.text
    if message.reply_markup:
        data["reply_markup"] = message.reply_markup
    return data


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header; (1, 1) for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 1, 1
