"""How the API's failures look: one JSON shape (error, code, detail, request_id) and the middleware that makes it."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from adapters.http.context import REQUEST_ID
from engine import errors

logger = logging.getLogger(__name__)

SESSION_HINT = "Start a session with POST /api/interview/start and use the same user_id and session_id"


class ApiError(Exception):
    """An HTTP-level failure the API reports as JSON; raised by handlers, rendered once by the middleware."""

    def __init__(self, status: int, error: str, code: str, detail: str = "", **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.code = code
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place errors become HTTP: JSON bodies for everything, never a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(request, exc)
    except errors.EngineError as exc:
        return error_response(request, _engine_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, _http_error(request, exc))
    except Exception:
        # %r: the path is the client's, and a decoded %0A in it must not start a line of its own.
        logger.exception("unhandled error request_id=%s %s %r", request[REQUEST_ID], request.method, request.path)
        return error_response(request, ApiError(500, "Internal server error", "internal_error"))


def _engine_error(exc: errors.EngineError) -> ApiError:
    """Domain errors in the old system's words (`error`), with a stable `code` and the engine's `detail`."""
    if isinstance(exc, errors.SessionNotFound):
        return ApiError(404, "Session not found", exc.code, exc.message, hint=SESSION_HINT)
    if isinstance(exc, errors.QuestionNotFound):
        return ApiError(
            404,
            "Question not found",
            exc.code,
            exc.message,
            hint="question_index is 0-based, as `index` in GET /api/interview/state/{user_id}/{session_id}; only "
            "questions asked so far are spoken",
        )
    if isinstance(exc, errors.InvalidInput):
        return ApiError(400, "Invalid request", exc.code, exc.message, fields=exc.fields)
    if isinstance(exc, errors.SessionCompleted):
        return ApiError(
            409,
            "Interview already completed",
            exc.code,
            exc.message,
            hint="GET /api/interview/report/{user_id}/{session_id} for the report, or start a new session_id",
        )
    if isinstance(exc, errors.SessionConflict):
        return ApiError(
            409,
            "Session already exists",
            exc.code,
            exc.message,
            hint="Use a new session_id, or send exactly the parameters the session was started with",
        )
    if isinstance(exc, errors.SessionInProgress):
        return ApiError(409, "Interview already in progress", exc.code, exc.message)
    if isinstance(exc, errors.SessionChanged):
        return ApiError(409, "Session changed", exc.code, exc.message)
    if isinstance(exc, errors.NoAnswerYet):
        return ApiError(409, "No answer yet", exc.code, exc.message)
    if isinstance(exc, errors.AudioTooLarge):
        return ApiError(413, "Audio file too large", exc.code, _too_large_detail(exc))
    if isinstance(exc, errors.AudioError):
        return ApiError(
            422,
            "Speech recognition failed",
            exc.code,
            _too_long_detail(exc) if isinstance(exc, errors.AudioTooLong) else exc.message,
            hint="The question is still waiting for an answer: send another recording or a text answer",
        )
    if isinstance(exc, errors.SpeechUnavailable):
        language = exc.language or "<language>"
        return ApiError(
            503,
            "Speech recognition unavailable",
            exc.code,
            f"No speech model is installed for '{language}'. "
            f"An admin can install one with `interview-bot models fetch {language}`.",
            hint="Typed answers still work: send a text field instead of audio_file",
        )
    if isinstance(exc, errors.ShuttingDown):
        # The recording is saved as pending and transcribed after the restart; the state shows it then.
        error = ApiError(
            503,
            "Service restarting",
            exc.code,
            exc.message,
            hint="Your answer is saved; check GET /api/interview/state/{user_id}/{session_id} in a moment",
        )
        error.headers["Retry-After"] = "10"
        return error
    if isinstance(exc, errors.TranscriptionFailed):
        # The recogniser crashed or timed out: a server-side, usually passing condition, so 503 and Retry-After.
        error = ApiError(
            503,
            "Speech recognition failed",
            exc.code,
            exc.message,
            hint="The question is still waiting for an answer: send the recording again in a moment",
        )
        error.headers["Retry-After"] = "5"
        return error
    if isinstance(exc, errors.TooManySessions):
        error = ApiError(429, "Too many sessions", exc.code, exc.message, limit=exc.limit)
        if exc.retry_after is not None:
            error.extra["retry_after_seconds"] = math.ceil(exc.retry_after)
            error.headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return error
    if exc.code in ("store_locked", "store_corrupt"):
        logger.error("store unavailable: %s", exc.message)
        return ApiError(503, "Service unavailable", exc.code, exc.message)
    return ApiError(400, "Invalid request", exc.code, exc.message)


def _too_large_detail(exc: errors.AudioTooLarge) -> str:
    if exc.size_bytes is not None and exc.limit_bytes is not None:
        return (
            f"The audio file is {errors.megabytes(exc.size_bytes)}; the limit is {errors.megabytes(exc.limit_bytes)}. "
            "Send a shorter recording."
        )
    if exc.limit_bytes is not None:
        return f"The audio file is over the {errors.megabytes(exc.limit_bytes)} limit. Send a shorter recording."
    return "The audio file is too large. Send a shorter recording."


def _too_long_detail(exc: errors.AudioTooLong) -> str:
    if exc.limit_seconds is not None:
        return f"The recording is too long: the limit is {exc.limit_seconds:g} seconds. Send a shorter one."
    return "The recording is too long. Send a shorter one."


def _http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    if exc.status == 404:
        return ApiError(
            404,
            "Not found",
            "not_found",
            f"No endpoint at {request.path}",
            hint="The API is described at GET /api/openapi.json",
        )
    if exc.status == 405:
        allowed = sorted(m for m in getattr(exc, "allowed_methods", ()) if m != hdrs.METH_HEAD)
        error = ApiError(
            405,
            "Method not allowed",
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path}",
            allowed=allowed,
        )
        error.headers["Allow"] = ", ".join(allowed)
        return error
    if exc.status == 413:
        return body_too_large(request)
    return ApiError(exc.status, exc.reason, re.sub(r"\W+", "_", exc.reason.lower()).strip("_"))


def error_response(request: web.Request, exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"error": exc.error, "code": exc.code}
    if exc.detail:
        body["detail"] = exc.detail
    body.update(exc.extra)
    body["request_id"] = request[REQUEST_ID]
    return web.json_response(body, status=exc.status, headers=exc.headers, dumps=_dumps)


def body_too_large(request: web.Request) -> ApiError:
    """Over the server's body limit ([http] max_body_mb), which every request carries as its client_max_size."""
    return ApiError(
        413,
        "Request body too large",
        "body_too_large",
        f"The request body is over the {errors.megabytes(request.client_max_size)} limit; keep answers shorter.",
    )


def unauthorized(detail: str) -> ApiError:
    error = ApiError(401, "Unauthorized", "unauthorized", detail)
    error.headers["WWW-Authenticate"] = "Bearer"
    return error


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
