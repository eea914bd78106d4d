"""The interview API: the old system's endpoints on the shared engine, in the pieces bot/server.py plugs in."""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.typedefs import Handler, Middleware

# The stock 100-continue reply, for uploads within the limit (aiohttp has no public name for it).
from aiohttp.web_urldispatcher import _default_expect_handler

from adapters.http.config import HttpConfig
from adapters.http.errors import ApiError, body_too_large, error_middleware, unauthorized
from adapters.http.openapi import build_openapi
from engine import (
    ID_PATTERN,
    PLATFORMS,
    ROUND_TYPES,
    STATUSES,
    Answer,
    AnswerResult,
    AudioInput,
    InterviewEngine,
    InterviewSpec,
    Question,
    Report,
    SessionView,
    Team,
    TeamReport,
    Transcript,
    User,
    errors,
)

ENGINE = web.AppKey("engine", InterviewEngine)
CONFIG = web.AppKey("http_config", HttpConfig)
VERSION = web.AppKey("version", str)
STARTED = web.AppKey("started_monotonic", float)
ReportUrl = Callable[[SessionView], str | None]
REPORT_URL: web.AppKey[ReportUrl] = web.AppKey("report_url")

PNG = "image/png"
MOUNT = "/api"  # where the server mounts the sub-application; the routes below are relative to it
PLATFORM = "http"
INTERVIEW_PREFIX = "/api/interview/"
DEBUG_PREFIX = "/api/interview/debug/"
ID_PROBLEM = "must be 1-128 letters, digits or . _ : @ - (starting with a letter or digit)"
# Form fields other than the audio are small; a bigger one is a client bug, not an answer.
MAX_ID_FIELD_BYTES = 4096
# An uploaded recording is read from the request in pieces of at most this size and written to its file as it comes.
UPLOAD_CHUNK = 64 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
TEXT_FIELDS = ("role_title", "company_name", "industry")
OPTIONAL_TEXT_FIELDS = ("cv", "jd", "language")
QUESTION_AUDIO_PATH = "/api/interview/question-audio/{user_id}/{session_id}/{index}"
AUDIO_FORMATS = ("ogg", "mp3")  # ?format=; ogg (Opus) by default
QUESTION_INDEX = re.compile(r"[0-9]{1,6}")  # ASCII digits only (str.isdigit takes "²"), and no absurd numbers


@dataclass(frozen=True)
class HttpApi:
    """The interview API in the pieces the server plugs in.

    The server gives every request its id (REQUEST_ID), logs it and holds the body limit (client_max_size); the API
    takes those as given.
    """

    app: web.Application  # the sub-application, mounted at `mount`
    mount: str
    routes: list[web.RouteDef]  # for the server's root: GET /healthz
    # Run by the server for every route, inside its request id and outside its body limit: every error the server
    # answers (no such route, wrong method, body too large, a crash) becomes the API's JSON with the request id.
    error_middleware: Middleware


def create_api(
    engine: InterviewEngine, config: HttpConfig, *, version: str, report_url: ReportUrl | None = None
) -> HttpApi:
    """The interview API on `engine`: /api/interview/*, /api/openapi.json and /healthz. `report_url` makes a
    session's private report link (adapters.web); without it, and while links are off, `report_url` is null."""
    app = web.Application(middlewares=[api_key_middleware])
    app[ENGINE] = engine
    app[CONFIG] = config
    app[VERSION] = version
    app[REPORT_URL] = report_url or _no_link
    app[STARTED] = time.monotonic()
    app.router.add_routes(
        [
            web.post("/interview/start", start_interview, expect_handler=expect_within_limit),
            web.get("/interview/state/{user_id}/{session_id}", get_state),
            web.post("/interview/answer", submit_answer, expect_handler=expect_within_limit),
            web.post("/interview/skip", skip_question, expect_handler=expect_within_limit),
            web.post("/interview/retry", retry_answer, expect_handler=expect_within_limit),
            web.post("/interview/end", end_interview, expect_handler=expect_within_limit),
            web.get("/interview/report/{user_id}/{session_id}", get_report),
            web.get("/interview/question-audio/{user_id}/{session_id}/{question_index}", get_question_audio),
            web.post("/interview/retake", retake_question, expect_handler=expect_within_limit),
            web.post("/interview/correct", correct_transcript, expect_handler=expect_within_limit),
            web.get("/interview/report/{user_id}/{session_id}/chart.png", report_chart),
            web.get("/interview/progress/{user_id}", get_progress),
            web.get("/interview/progress/{user_id}/chart.png", progress_chart),
            web.delete("/interview/user/{user_id}", forget_user),
            web.get("/interview/debug/sessions", debug_sessions),
            web.get("/interview/debug/sessions/{platform}/{user_id}/{session_id}", debug_session),
            web.get("/openapi.json", openapi_document),
        ]
    )

    async def healthz_on_root(request: web.Request) -> web.Response:
        return await healthz(app)

    return HttpApi(app, MOUNT, [web.get("/healthz", healthz_on_root)], error_middleware)


# ----- handlers ------------------------------------------------------------------------------------------------


async def start_interview(request: web.Request) -> web.Response:
    """Start a named session; starting it again with the same parameters returns it as it is now."""
    payload = await _json_object(request)
    problems: dict[str, str] = {}
    user_id = _id_value(payload.get("user_id"), "user_id", problems)
    session_id = _id_value(payload.get("session_id"), "session_id", problems)
    values: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = payload.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems[name] = "is required"
        elif not isinstance(value, str):
            problems[name] = "must be a string"
        else:
            values[name] = value
    for name in OPTIONAL_TEXT_FIELDS:
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            problems[name] = "must be a string"
        elif value is not None:
            values[name] = value
    round_type = payload.get("round_type") or "full"
    if not isinstance(round_type, str) or round_type.strip().lower() not in ROUND_TYPES:
        problems["round_type"] = f"must be one of {', '.join(ROUND_TYPES)}"
    speak_questions = payload.get("speak_questions", True)
    if not isinstance(speak_questions, bool):
        problems["speak_questions"] = "must be true or false"
    if problems:
        raise errors.InvalidInput(problems)
    engine = request.app[ENGINE]
    result = await engine.start(
        User(PLATFORM, user_id),
        InterviewSpec(**values, round_type=round_type.strip().lower()),
        session_id=session_id,
        speak_questions=speak_questions,
    )
    session = result.session
    # A finished session started again answers with its last question, as the engine does.
    index = session.position if session.current_question is not None else session.total - 1
    body = {
        **_session_json(session, engine),
        "question": _question_json(result.question, index, session, engine),
        "resumed": result.resumed,
    }
    return web.json_response(body, status=200 if result.resumed else 201, dumps=_dumps)


async def get_state(request: web.Request) -> web.Response:
    """Progress, the current question and every answer so far (any status)."""
    user, session_id = _path_ids(request)
    engine = request.app[ENGINE]
    session = await engine.get_session(user, session_id)
    return web.json_response(_session_json(session, engine), dumps=_dumps)


async def submit_answer(request: web.Request) -> web.Response:
    """Answer the current question with a recording (audio_file) or typed text (text)."""
    engine = request.app[ENGINE]
    # The recording is streamed to a file the engine takes over; one it does not take is deleted on leaving.
    async with contextlib.AsyncExitStack() as received:
        form = await _read_answer_form(request, engine, received)
        problems: dict[str, str] = {}
        user_id = _id_value(form.user_id, "user_id", problems)
        session_id = _id_value(form.session_id, "session_id", problems)
        if form.audio is not None and form.text is not None:
            problems["text"] = "send either audio_file or text, not both"
        if problems:
            raise errors.InvalidInput(problems)
        if form.audio is None and form.text is None:
            raise ApiError(
                400,
                "Audio file is required",
                "audio_required",
                "Send the recording as the audio_file field of a multipart/form-data body, "
                "or a typed answer as the text field.",
            )
        user = User(PLATFORM, user_id)
        key = _idempotency_key(request)
        if form.audio is not None:
            result = await engine.answer_audio(user, form.audio, session_id=session_id, delivery_id=key)
        else:
            result = await engine.answer_text(user, form.text or "", session_id=session_id, delivery_id=key)
    return web.json_response(_answer_result_json(result, engine), dumps=_dumps)


async def skip_question(request: web.Request) -> web.Response:
    """Skip the current question; the next one (or the final report) comes back."""
    user, session_id = _body_ids(await _json_object(request))
    engine = request.app[ENGINE]
    result = await engine.skip(user, session_id=session_id, delivery_id=_idempotency_key(request))
    return web.json_response(_answer_result_json(result, engine), dumps=_dumps)


async def retry_answer(request: web.Request) -> web.Response:
    """Transcribe again a voice answer whose transcription failed (503), from the recording the server kept."""
    user, session_id = _body_ids(await _json_object(request))
    engine = request.app[ENGINE]
    result = await engine.retry(user, session_id=session_id)
    return web.json_response(_answer_result_json(result, engine), dumps=_dumps)


async def end_interview(request: web.Request) -> web.Response:
    """Stop early; the report covers what was answered."""
    user, session_id = _body_ids(await _json_object(request))
    engine = request.app[ENGINE]
    report = await engine.end(user, session_id=session_id)
    link = request.app[REPORT_URL](await engine.get_session(user, session_id))
    return web.json_response(_report_json(user, session_id, report, link), dumps=_dumps)


async def get_report(request: web.Request) -> web.Response:
    """The report of a session: final once it is completed or ended, so far while it runs."""
    user, session_id = _path_ids(request)
    engine = request.app[ENGINE]
    session = await engine.get_session(user, session_id)
    report = await engine.report(user, session_id=session_id)
    link = request.app[REPORT_URL](session)
    return web.json_response(_report_json(user, session_id, report, link), dumps=_dumps)


async def forget_user(request: web.Request) -> web.Response:
    """Delete every session and recording of an HTTP user: their report links answer 404 from now on."""
    user = _path_user(request)
    deleted = await request.app[ENGINE].forget(user)
    return web.json_response({"deleted": deleted}, dumps=_dumps)


async def get_question_audio(request: web.Request) -> web.Response:
    """A question this session has asked, spoken: audio/ogg (Opus), or audio/mpeg with ?format=mp3.

    Nothing from the request names a file: the ids find the session, the index a question in it, and the audio
    comes from the synthesiser (or its cache, keyed by a hash of the text).
    """
    user, session_id = _path_ids(request)
    problems: dict[str, str] = {}
    raw_index = request.match_info.get("question_index", "")
    if not QUESTION_INDEX.fullmatch(raw_index):
        problems["question_index"] = "must be a whole number from 0 (as `index` in the state)"
    fmt = request.query.get("format", "ogg")
    if fmt not in AUDIO_FORMATS:
        problems["format"] = f"must be one of {', '.join(AUDIO_FORMATS)}"
    if problems:
        raise errors.InvalidInput(problems)
    spoken = await request.app[ENGINE].question_audio(user, session_id, int(raw_index), fmt)
    if spoken is None:
        raise ApiError(
            404,
            "No audio",
            "voice_unavailable",
            "No voice is installed to speak the questions (or it could not speak this one). An admin can add one "
            "with `interview-bot models fetch-voice en-us`.",
            hint="The question's text is in GET /api/interview/state/{user_id}/{session_id}",
        )
    return web.Response(
        body=spoken.data,
        content_type=spoken.mime_type,
        headers={
            # A follow-up question the model adds moves the later ones along, so an index may speak another question.
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="question-{int(raw_index) + 1}.{fmt}"',
            "X-Audio-Duration": f"{spoken.duration_seconds:.2f}",
        },
    )


async def retake_question(request: web.Request) -> web.Response:
    """Answer a question again (default: the last one answered); the state's current question becomes it."""
    payload = await _json_object(request)
    user, session_id = _body_ids(payload)
    index = _optional_index(payload, "question_index")
    engine = request.app[ENGINE]
    session = await engine.retake(user, session_id=session_id, question_index=index)
    return web.json_response(_session_json(session, engine), dumps=_dumps)


async def correct_transcript(request: web.Request) -> web.Response:
    """Replace an answer's transcript with what the candidate said (default: the last answer) and judge it again."""
    payload = await _json_object(request)
    user, session_id = _body_ids(payload)
    index = _optional_index(payload, "answer_index")
    text = payload.get("text")
    if not isinstance(text, str):
        raise errors.InvalidInput({"text": "is required: the corrected transcript"})
    engine = request.app[ENGINE]
    result = await engine.correct(user, text, session_id=session_id, answer_index=index)
    return web.json_response(_answer_result_json(result, engine), dumps=_dumps)


async def report_chart(request: web.Request) -> web.Response:
    """The report as a PNG: score per question with its parts, pace against the band, fillers and pauses."""
    user, session_id = _path_ids(request)
    png = await request.app[ENGINE].report_chart(user, session_id=session_id)  # 409 before any answer
    return web.Response(body=png, content_type=PNG, headers={"Cache-Control": "no-store"})


async def get_progress(request: web.Request) -> web.Response:
    """The candidate's finished interviews over time, oldest first."""
    user = _path_user(request)
    entries = await request.app[ENGINE].progress(user)
    body: dict[str, Any] = {"user_id": user.user_id, "interviews": [entry.to_dict() for entry in entries]}
    return web.json_response(body, dumps=_dumps)


async def progress_chart(request: web.Request) -> web.Response:
    """The progress as a PNG; 409 (no_answer_yet) before a first finished interview."""
    png = await request.app[ENGINE].progress_chart(_path_user(request))
    return web.Response(body=png, content_type=PNG, headers={"Cache-Control": "no-store"})


def _path_user(request: web.Request) -> User:
    problems: dict[str, str] = {}
    user_id = _id_value(request.match_info.get("user_id"), "user_id", problems)
    if problems:
        raise errors.InvalidInput(problems)
    return User(PLATFORM, user_id)


def _optional_index(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.InvalidInput({name: "must be a whole number from 0 (as `index` in the state)"})
    return value


async def debug_session(request: web.Request) -> web.Response:
    """Admin: one session of any platform (a Telegram or Slack user's, a team interview's) with its report and, for a
    team interview, the team's ratings beside the bot's scores."""
    _require_admin(request)
    platform = request.match_info["platform"]
    if platform not in PLATFORMS:
        raise errors.InvalidInput({"platform": f"must be one of {', '.join(PLATFORMS)}"})
    user, session_id = _path_ids(request)
    user = User(platform, user.user_id)
    engine = request.app[ENGINE]
    session = await engine.get_session(user, session_id)
    report = await engine.report(user, session_id=session_id)
    body = {
        "platform": platform,
        **_session_json(session, engine),
        "report": report.to_dict(),
        "team": _team_json(await engine.team_report(user, session_id=session_id)) if session.team else None,
    }
    return web.json_response(body, dumps=_dumps)


def _team_json(team: TeamReport) -> dict[str, Any]:
    return {
        "candidate": team.candidate,
        "interviewer": team.interviewer or None,
        "place": team.place,
        "raters": team.raters,
        "bot_overall": team.bot_overall,
        "team_overall": team.team_overall,
        "per_question": [
            {
                "index": line.index,
                "label": line.label,
                "bot_score": line.bot_score,
                "team": dataclasses.asdict(line.team),  # count and the averages: overall and each part
                "gap": line.gap,
                "disagree": line.disagree,
            }
            for line in team.lines
        ],
    }  # fmt: skip


async def debug_sessions(request: web.Request) -> web.Response:
    """Admin list of sessions on every platform; off unless an admin token is configured."""
    _require_admin(request)
    query = request.query
    problems: dict[str, str] = {}
    user_id = query.get("user_id") or None
    if user_id is not None:
        user_id = _id_value(user_id, "user_id", problems)
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        problems["status"] = f"must be one of {', '.join(STATUSES)}"
    platform = query.get("platform") or None
    if platform is not None and platform not in PLATFORMS:
        problems["platform"] = f"must be one of {', '.join(PLATFORMS)}"
    stale = query.get("stale", "").strip().lower()
    if stale not in ("", "0", "1", "true", "false", "yes", "no"):
        problems["stale"] = "must be 1 or 0"
    if problems:
        raise errors.InvalidInput(problems)
    engine = request.app[ENGINE]
    rows = await engine.list_sessions(
        status=status,
        platform=platform,
        user_id=user_id,
        stale_only=stale in ("1", "true", "yes"),
    )
    body = {
        "count": len(rows),
        "stale_after_hours": engine.stale_after_hours,
        "sessions": [row.to_dict() for row in rows],
    }
    return web.json_response(body, dumps=_dumps)


async def healthz(api: web.Application) -> web.Response:
    """GET /healthz, on the server's root: liveness plus what an operator checks first: store, speech, queue."""
    engine = api[ENGINE]
    health = await engine.health()
    store = dict(health.get("store", {}))
    store_ok = bool(store.pop("ok", False))
    # Degraded speech means voice answers in the default language cannot be transcribed.
    speech_ok = engine.voice_available(engine.default_language)
    body = {
        "status": "ok" if store_ok and speech_ok else "degraded",
        "store": {"reachable": store_ok, **store},
        "speech": {**health.get("speech", {}), "available": speech_ok, "default_language": engine.default_language},
        "queue_depth": health.get("queue_depth", 0),
        # The optional model grader: configured, and how its last call went (ok or error, latency).
        "llm": health.get("llm", {"configured": False}),
        # Spoken questions: on or off, and each language's voice (loaded, or why it does not load).
        "voice": health.get("voice", {"enabled": False, "speaks_questions": False}),
        "version": api[VERSION],
        "uptime_seconds": round(time.monotonic() - api[STARTED], 1),
    }
    # Without the store nothing works: tell load balancers. Without speech, typed answers still do.
    return web.json_response(body, status=200 if store_ok else 503, dumps=_dumps)


async def openapi_document(request: web.Request) -> web.Response:
    """The API described for client generators; a test keeps it in step with the routes."""
    return web.json_response(build_openapi(request.app[VERSION]), dumps=_dumps)


# ----- access ------------------------------------------------------------------------------------------------


@web.middleware
async def api_key_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """When http.api_key is set, the interview endpoints need it; health, spec and admin routes do not."""
    key = request.app[CONFIG].api_key
    if key and request.path.startswith(INTERVIEW_PREFIX) and not request.path.startswith(DEBUG_PREFIX):
        given = request.headers.get("X-API-Key") or _bearer(request)
        if not given:
            raise unauthorized("An API key is required: send it as X-API-Key or Authorization: Bearer.")
        if not _same_secret(given, key):
            raise unauthorized("The API key is not valid.")
    return await handler(request)


async def expect_within_limit(request: web.Request) -> None:
    """Answer `Expect: 100-continue` (curl sends it for big uploads) only when the declared size is within the
    server's body limit. Over it, no 100 Continue: the server's body limit answers 413 before the body is sent.
    aiohttp runs this before any middleware."""
    content_length = request.content_length
    if content_length is None or content_length <= request.client_max_size:
        await _default_expect_handler(request)


def _require_admin(request: web.Request) -> None:
    token = request.app[CONFIG].admin_token
    if not token:
        raise ApiError(
            404,
            "Not found",
            "debug_disabled",
            "The debug endpoint is disabled: set http.admin_token (or INTERVIEW_BOT_ADMIN_TOKEN) to enable it.",
        )
    given = _bearer(request)
    if not given:
        raise unauthorized("Send the admin token as Authorization: Bearer <token>.")
    if not _same_secret(given, token):
        raise ApiError(403, "Forbidden", "forbidden", "The admin token is not valid.")


def _bearer(request: web.Request) -> str:
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# ----- request parsing -----------------------------------------------------------------------------------------


@dataclass
class AnswerForm:
    """The fields of one /answer request, read part by part so an oversized upload is never held whole."""

    user_id: str | None = None
    session_id: str | None = None
    text: str | None = None
    audio: AudioInput | None = None


async def _read_answer_form(
    request: web.Request, engine: InterviewEngine, received: contextlib.AsyncExitStack
) -> AnswerForm:
    """Stream the multipart body part by part, counting every byte against the body limit as it arrives.

    The recording goes to a file as it arrives (engine.receive_audio, which also bounds how many are received at
    once: beyond that, an upload waits), and lives until `received` closes.
    """
    if request.content_type == "application/json":
        payload = await _json_object(request)
        return AnswerForm(
            user_id=payload.get("user_id"), session_id=payload.get("session_id"), text=_opt_str(payload, "text")
        )
    if request.content_type == "application/x-www-form-urlencoded":
        # A plain form cannot carry a file; it is read whole under client_max_size, like JSON.
        fields = await request.post()
        return AnswerForm(
            user_id=_form_str(fields.get("user_id")),
            session_id=_form_str(fields.get("session_id")),
            text=_form_str(fields.get("text")),
        )
    if request.content_type != "multipart/form-data":
        raise ApiError(
            400,
            "Invalid request",
            "invalid_request",
            "Send multipart/form-data with user_id, session_id and audio_file (or text); "
            f"got Content-Type {request.content_type or 'none'}.",
        )
    limit = request.client_max_size  # the server's body limit
    form = AnswerForm()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "Invalid request", "invalid_request", "Nested multipart bodies are not accepted.")
            name = part.name or ""
            if name == "audio_file":
                upload = await received.enter_async_context(engine.receive_audio())
                await _save_part(request, part, limit, upload.write)  # AudioTooLarge past the engine's limit
                form.audio = await upload.finish(part.headers.get(hdrs.CONTENT_TYPE, ""), _safe_filename(part.filename))
            elif name in ("user_id", "session_id"):
                raw = await _read_part(request, part, limit, cap=MAX_ID_FIELD_BYTES, field=name)
                setattr(form, name, raw.decode("utf-8", errors="replace"))
            elif name == "text":
                form.text = (await _read_part(request, part, limit)).decode("utf-8", errors="replace")
            else:
                await _read_part(request, part, limit)  # unknown fields are read past, never kept
    except ValueError as exc:  # a malformed multipart body (bad boundary, a bad Content-Length)
        raise ApiError(400, "Invalid request", "invalid_request", f"Malformed multipart body: {exc}") from None
    except BadHttpMessage as exc:  # a part's headers: an undecodable or illegal name, no colon, too many, too long
        raise ApiError(
            400, "Invalid request", "invalid_request", f"Malformed multipart body: part headers: {exc.message}"
        ) from None
    return form


async def _read_part(
    request: web.Request, part: BodyPartReader, limit: int, *, cap: int | None = None, field: str = ""
) -> bytes:
    chunks = bytearray()
    while chunk := await part.read_chunk():
        # total_bytes counts the raw body received so far, so chunked uploads are bounded too.
        if request.content.total_bytes > limit:
            raise body_too_large(request)
        chunks.extend(chunk)
        if cap is not None and len(chunks) > cap:
            raise errors.InvalidInput({field: f"must be at most {cap} bytes"})
    return bytes(chunks)


async def _save_part(
    request: web.Request, part: BodyPartReader, limit: int, write: Callable[[bytes], Awaitable[None]]
) -> None:
    """Hand a file part to `write` as it arrives, never holding it whole; the body limit holds as for _read_part."""
    while chunk := await part.read_chunk(UPLOAD_CHUNK):
        if request.content.total_bytes > limit:
            raise body_too_large(request)
        await write(chunk)


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The JSON object body; read under client_max_size, so an oversized body is refused, not buffered."""
    body = await request.read()
    if not body.strip():
        raise ApiError(400, "Invalid request", "invalid_json", "The request body is empty; send a JSON object.")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(
            400,
            "Invalid request",
            "invalid_json",
            f"The request body is not valid JSON ({exc}); send a JSON object with Content-Type application/json.",
        ) from None
    if not isinstance(payload, dict):
        raise ApiError(400, "Invalid request", "invalid_json", "The request body must be a JSON object.")
    return payload


def _id_value(value: Any, name: str, problems: dict[str, str]) -> str:
    if value is None or value == "":
        problems[name] = "is required"
    elif not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        problems[name] = ID_PROBLEM
    else:
        return value
    return ""


def _path_ids(request: web.Request) -> tuple[User, str]:
    return _checked_ids(request.match_info.get("user_id"), request.match_info.get("session_id"))


def _body_ids(payload: dict[str, Any]) -> tuple[User, str]:
    return _checked_ids(payload.get("user_id"), payload.get("session_id"))


def _checked_ids(user_id: Any, session_id: Any) -> tuple[User, str]:
    problems: dict[str, str] = {}
    user_id = _id_value(user_id, "user_id", problems)
    session_id = _id_value(session_id, "session_id", problems)
    if problems:
        raise errors.InvalidInput(problems)
    return User(PLATFORM, user_id), session_id


def _form_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_str(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise errors.InvalidInput({name: "must be a string"})
    return value


def _safe_filename(filename: str | None) -> str:
    """Only the last path component, for logs and format hints; the engine never uses it as a path."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name[:200]


def _idempotency_key(request: web.Request) -> str:
    """A mobile client on a flaky network resends; with this header the resend is recognised, not re-answered."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if key and not ID_PATTERN.fullmatch(key):
        raise errors.InvalidInput({IDEMPOTENCY_HEADER: "must be 1-128 letters, digits or . _ : @ -"})
    return key


# ----- response bodies -----------------------------------------------------------------------------------------


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _question_json(
    question: Question | None, index: int, session: SessionView, engine: InterviewEngine | None = None
) -> dict[str, Any] | None:
    """A question as the API shows it; `audio_url` where it is offered spoken (null without `engine` to ask)."""
    if question is None:
        return None
    return {
        "index": index,
        "number": index + 1,
        "label": session.label(index),
        **question.to_dict(),
        "audio_url": _audio_url(session, index) if engine is not None and engine.voice_for(session) else None,
    }


def _audio_url(session: SessionView, index: int) -> str:
    """The question-audio route for one question; ids are ID_PATTERN's characters, quoted all the same."""
    return QUESTION_AUDIO_PATH.format(
        user_id=urllib.parse.quote(session.user_id, safe=":@._-"),
        session_id=urllib.parse.quote(session.session_id, safe=":@._-"),
        index=index,
    )


def _progress_json(session: SessionView) -> dict[str, int | str | None]:
    return {
        "position": session.position,
        "total": session.total,
        "answered": session.answered_count,
        "skipped": session.skipped_count,
        "remaining": max(session.total - session.position, 0) if session.is_active else 0,
        "retake": session.retake,  # the index of the question being answered again, or null
        "reopened": session.reopened or None,  # a finished interview reopened for that retake: its status after
    }


def _answer_json(answer: Answer, team: Team | None = None) -> dict[str, Any]:
    """An answer; in a team interview (Slack channel, Telegram group) with the team's ratings and comments on it."""
    ratings = team.ratings_for(answer.index) if team is not None else ()
    comments = team.comments_for(answer.index) if team is not None else ()
    return {
        "index": answer.index,
        "question": answer.question.to_dict(),
        "source": answer.source,
        "transcript": answer.text,
        "feedback": answer.feedback.to_dict() if answer.feedback else None,
        "duration": answer.duration,
        "answered_at": answer.answered_at,
        "attempt": answer.attempt,
        "corrected": answer.corrected,
        "original_text": answer.original_text or None,  # what the recogniser heard, once corrected
        "ratings": [rating.public() for rating in ratings],
        "comments": [{"author": c.author, "text": c.text, "voice": c.voice, "at": c.at} for c in comments],
    }


def _session_json(session: SessionView, engine: InterviewEngine) -> dict[str, Any]:
    return {
        "user_id": session.user_id,
        "session_id": session.session_id,
        "status": session.status,
        "spec": session.spec.to_dict(),
        "progress": _progress_json(session),
        "current_question": _question_json(session.current_question, session.current_index or 0, session, engine),
        "answers": [_answer_json(a, session.team) for a in session.answers],
        "pending_voice_answers": session.pending_count,
        "voice_available": engine.voice_available(session.language),
        "speak_questions": session.speak_questions,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "finished_at": session.finished_at,
    }


def _speech_json(transcript: Transcript | None) -> dict[str, Any] | None:
    if transcript is None:
        return None
    return {
        "duration": transcript.duration,
        "processing_seconds": transcript.processing_seconds,
        "language": transcript.language,
        "model": transcript.model,
        "words": [{"word": w.word, "start": w.start, "end": w.end, "conf": w.conf} for w in transcript.words],
    }


def _answer_result_json(result: AnswerResult, engine: InterviewEngine | None = None) -> dict[str, Any]:
    """An answer's result; with `engine`, the next question carries its audio_url where it is offered spoken."""
    session = result.session
    return {
        "user_id": session.user_id,
        "session_id": session.session_id,
        "status": session.status,
        "source": result.answer.source,
        "transcript": result.answer.text,
        "feedback": result.feedback.to_dict() if result.feedback else None,
        "speech": _speech_json(result.transcript),
        "answer": _answer_json(result.answer, session.team),
        "next_question": _question_json(result.next_question, _next_index(result), session, engine),
        "finished": result.finished,
        "report": result.report.to_dict() if result.report else None,
        "progress": _progress_json(session),
        "duplicate": result.replayed,
        "comparison": result.comparison,  # a retake: what changed since the attempt before
        # Voice answers a restart left pending, recorded first so this one lands after them: what became of each.
        "earlier": [
            {
                "result": _answer_result_json(item.result, engine) if item.result is not None else None,
                "error": {"code": item.error.code, "detail": item.error.message} if item.error is not None else None,
            }
            for item in result.earlier
        ],
    }


def _next_index(result: AnswerResult) -> int:
    """The index of the question asked after this answer: the session's current one (a retake may have come back to
    an earlier one), or for a resent answer the one after it, as it was answered then."""
    session = result.session
    if not result.replayed and session.current_index is not None:
        return session.current_index
    return result.answer.index + 1


def _report_json(user: User, session_id: str, report: Report, link: str | None) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "session_id": session_id,
        "status": report.status,
        "final": report.status != "active",
        "report": report.to_dict(),
        "report_url": link,  # the private web page of this report; null while links are off
    }


def _no_link(session: SessionView) -> str | None:
    return None
