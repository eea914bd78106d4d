"""The OpenAPI 3 description of the HTTP API served at /api/openapi.json (kept in step by a test)."""

from __future__ import annotations

import copy
from typing import Any

from engine import FIELD_LIMITS, ID_PATTERN, MAX_TEXT_ANSWER, ROUND_TYPES, STATUSES
from engine.speech import delivery


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Error"))}


def _ok(description: str, schema_name: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref(schema_name))}


# The rules the server enforces, from the engine's own constants, so generated clients send what is accepted.
_ID_MAX_LENGTH = 128  # what ID_PATTERN allows; a test holds the two together
_ID = {
    "type": "string",
    "pattern": ID_PATTERN.pattern,
    "minLength": 1,
    "maxLength": _ID_MAX_LENGTH,
    "description": "1-128 letters, digits or . _ : @ - (starting with a letter or digit)",
}
_TEXT_ANSWER = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_ANSWER}


def _spec_field(name: str, *, required: bool) -> dict[str, Any]:
    """A start field with the engine's length limit (counted after surrounding whitespace is trimmed)."""
    return {"type": "string", "maxLength": FIELD_LIMITS[name], **({"minLength": 1} if required else {})}


_BINARY = {"type": "string", "format": "binary"}
_PATH_IDS = [
    {"name": "user_id", "in": "path", "required": True, "schema": _ID},
    {"name": "session_id", "in": "path", "required": True, "schema": _ID},
]
_IDS_BODY = {
    "required": True,
    "content": _json(
        {
            "type": "object",
            "required": ["user_id", "session_id"],
            "properties": {"user_id": _ID, "session_id": _ID},
        }
    ),
}
_COMMON_ERRORS = {
    "400": _error("Missing or invalid fields (`fields` names each one), or a body that is not JSON"),
    "401": _error("http.api_key is set and the X-API-Key header (or Bearer token) is missing or wrong"),
    "413": _error("The request body is over http.max_body_mb"),
    "500": _error("Internal server error; the body carries the request_id that the server log records"),
}
_IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1-128 letters, digits or . _ : @ - (starting with a letter or digit); the same key again "
    "returns the recorded result",
    "schema": _ID,
}
_PACE_WINDOW: dict[str, Any] = {
    "type": "object",
    "required": ["start", "end", "wpm", "pace"],
    "properties": {
        "start": {"type": "number"},
        "end": {"type": "number"},
        "wpm": {"type": "number"},
        "pace": {
            "type": "string",
            "nullable": True,
            "enum": ["slow", "good", "fast", None],
            "description": f"null for a window with under {delivery.MIN_WINDOW_SECONDS:g} s of speech: too short "
            "to judge",
        },
    },
}
_MARK: dict[str, Any] = {
    "type": "object",
    "required": ["at", "seconds", "index", "size", "word"],
    "properties": {
        "at": {"type": "number", "description": "Seconds from the start of the recording"},
        "seconds": {"type": "number", "description": "How long it lasted"},
        "index": {
            "type": "integer",
            "description": "Where in the transcript (its words split on spaces): the word before a pause, a filler's "
            "first word",
        },
        "size": {"type": "integer", "description": "Words it spans"},
        "word": {"type": "string", "description": "The word before a pause; the filler's words"},
    },
}
_DELIVERY_FIELDS = delivery.Delivery().to_dict().keys()
_API_KEY_SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"ApiKeyBearer": []}, {}]

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "code", "request_id"],
        "properties": {
            "error": {"type": "string", "description": "The old system's message, e.g. 'Session not found'"},
            "code": {
                "type": "string",
                "description": "Stable machine-readable code: invalid_input, invalid_json, invalid_request, "
                "audio_required, session_not_found, session_conflict, session_completed, audio_invalid, "
                "audio_empty, audio_silent, audio_too_long, audio_too_large, body_too_large, speech_unavailable, "
                "transcription_failed, question_not_found, voice_unavailable, unauthorized, forbidden, "
                "debug_disabled, not_found, method_not_allowed, store_locked, internal_error",
            },
            "detail": {"type": "string", "description": "What exactly went wrong, in words a person can act on"},
            "hint": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "allowed": {"type": "array", "items": {"type": "string"}},
            "request_id": {"type": "string", "description": "Also sent as the X-Request-ID header"},
        },
    },
    "Question": {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "description": "0-based position in the interview"},
            "number": {"type": "integer", "description": "1-based position, follow-ups counted"},
            "label": {
                "type": "string",
                "description": "How people number it: the planned question's number, or e.g. 3a for a follow-up "
                "the model ([llm]) added after question 3",
            },
            "id": {"type": "string"},
            "category": {
                "type": "string",
                "description": "intro, behavioral, situational, technical, experience, gap, motivation, closing, or "
                "follow-up (asked next, before the planned question the answer response named)",
            },
            "text": {"type": "string"},
            "skill": {"type": "string"},
            "audio_url": {
                "type": "string",
                "nullable": True,
                "description": "Where the question is, spoken (GET, same API key): "
                "/api/interview/question-audio/{user_id}/{session_id}/{index}. Null when no voice is installed or the "
                "session was started with speak_questions false. On the current question of start, state and answer "
                "responses (not on the questions inside answers).",
            },
        },
    },
    "Feedback": {
        "type": "object",
        "description": "Deterministic analysis of one answer (speech fields are null for typed answers)",
        "properties": {
            "score": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "An off-topic answer scores at most 30; the content part is key-point coverage",
            },
            "score_parts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "word_count": {"type": "integer"},
            "duration": {"type": "number", "nullable": True},
            "wpm": {"type": "number", "nullable": True},
            "pace": {"type": "string", "nullable": True, "enum": ["slow", "good", "fast", None]},
            "fillers": {"type": "object", "additionalProperties": {"type": "integer"}},
            "hedges": {"type": "object", "additionalProperties": {"type": "integer"}},
            "relevant_terms": {"type": "array", "items": {"type": "string"}},
            "star": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "length": {"type": "string", "enum": ["short", "ok", "long"]},
            "unsure_words": {"type": "array", "items": {"type": "string"}},
            "tips": {"type": "array", "items": {"type": "string"}},
            "relevance": {
                "type": "object",
                "nullable": True,
                "description": "Whether the answer addresses the question; null when the content was not judged "
                "(feedback stored before content grading, or an answer mostly in another language)",
                "required": ["on_topic", "reason"],
                "properties": {
                    "on_topic": {"type": "boolean", "description": "false: an off-topic answer, scored at most 30"},
                    "reason": {"type": "string", "description": "Why; when off-topic, what the question asked"},
                    "specificity": {
                        "type": "string",
                        "enum": ["low", "medium", "high"],
                        "description": "How concrete the answer is; only when grader is llm",
                    },
                },
            },
            "key_points": {
                "type": "array",
                "description": "What a strong answer to this question covers (3-6 points), each judged in this "
                "answer; empty when relevance is null. An off-topic answer covers none.",
                "items": {
                    "type": "object",
                    "required": ["point", "covered", "evidence"],
                    "properties": {
                        "point": {"type": "string"},
                        "covered": {"type": "boolean"},
                        "evidence": {
                            "type": "string",
                            "nullable": True,
                            "description": "The answer's words that showed the point (up to three), or null",
                        },
                    },
                },
            },
            "grader": {"type": "string", "enum": ["rules", "llm"], "description": "Who judged the content"},
            "follow_up": {
                "type": "string",
                "description": "The model's follow-up question on a thin answer (becomes the current question when "
                "there is room for it); empty otherwise",
            },
            "delivery": {
                "type": "object",
                "nullable": True,
                "description": "How a voice answer was said, from the recogniser's word timings and the audio; null "
                "for typed answers (and for a voice answer whose analysis failed). Times are seconds from the start "
                "of the recording; words the recogniser could not name are left out.",
                "required": sorted(_DELIVERY_FIELDS),
                "properties": {
                    "pauses": {
                        "type": "object",
                        "required": ["count", "longest_seconds", "longest_at_seconds", "before", "after"],
                        "properties": {
                            "count": {
                                "type": "integer",
                                "description": f"Silences of {delivery.PAUSE_SECONDS:g} s or more between words",
                            },
                            "longest_seconds": {
                                "type": "number",
                                "description": "The longest silence between two words, long or not",
                            },
                            "longest_at_seconds": {
                                "type": "number",
                                "nullable": True,
                                "description": "Where it starts (the end of the word before it)",
                            },
                            "before": {"type": "string", "nullable": True, "description": "The word before it"},
                            "after": {"type": "string", "nullable": True, "description": "The word after it"},
                        },
                    },
                    "response_delay_seconds": {
                        "type": "number",
                        "nullable": True,
                        "description": "Silence before the first word",
                    },
                    "wpm": {
                        "type": "number",
                        "nullable": True,
                        "description": "Words per minute from the first word's start to the last word's end",
                    },
                    "articulation_wpm": {
                        "type": "number",
                        "nullable": True,
                        "description": "Words per minute with silences of "
                        f"{delivery.ARTICULATION_PAUSE_SECONDS:g} s or more left out",
                    },
                    "pace_windows": {
                        "type": "array",
                        "description": f"Words per minute in each {delivery.WINDOW_SECONDS:g} s of the recording, "
                        "cut to the spoken part",
                        "items": _PACE_WINDOW,
                    },
                    "off_pace": {
                        "type": "array",
                        "description": "The pace windows outside the "
                        f"{delivery.SLOW_WPM:g}-{delivery.FAST_WPM:g} words per minute band",
                        "items": _PACE_WINDOW,
                    },
                    "fillers_per_100": {
                        "type": "number",
                        "description": "Fillers per 100 words; 'like', 'so', 'you know'... only where a pause or the "
                        "words around them mark them as fillers",
                    },
                    "pitch_variation_semitones": {
                        "type": "number",
                        "nullable": True,
                        "description": "Standard deviation of the voice's pitch; null with under "
                        f"{delivery.MIN_VOICED_SECONDS:g} s of voiced audio",
                    },
                    "monotone": {
                        "type": "boolean",
                        "nullable": True,
                        "description": f"Pitch variation under {delivery.MONOTONE_SEMITONES:g} semitones; null when "
                        "it could not be measured",
                    },
                    "loudness_variation_db": {
                        "type": "number",
                        "nullable": True,
                        "description": "Standard deviation of loudness over the voiced audio",
                    },
                    "unsure_share": {
                        "type": "number",
                        "nullable": True,
                        "minimum": 0,
                        "maximum": 1,
                        "description": "Share of words the recogniser was unsure of (confidence under "
                        f"{delivery.UNSURE_CONF:g})",
                    },
                    "word_count": {"type": "integer", "description": "Words with timings the figures count"},
                    "pause_marks": {
                        "type": "array",
                        "description": f"Each silence of {delivery.PAUSE_SECONDS:g} s or more (the first "
                        f"{delivery.MAX_MARKS})",
                        "items": _MARK,
                    },
                    "filler_marks": {
                        "type": "array",
                        "description": f"Each filler counted (the first {delivery.MAX_MARKS})",
                        "items": _MARK,
                    },
                },
            },
        },
    },
    "Answer": {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "question": _ref("Question"),
            "source": {"type": "string", "enum": ["voice", "text", "skipped"]},
            "transcript": {"type": "string"},
            "feedback": {"allOf": [_ref("Feedback")], "nullable": True},
            "duration": {"type": "number", "nullable": True},
            "answered_at": {"type": "number", "description": "Unix time"},
            "attempt": {"type": "integer", "description": "1, or 2 and up for a retake of the same question"},
            "corrected": {"type": "boolean", "description": "the candidate corrected the transcript (POST correct)"},
            "original_text": {
                "type": "string",
                "nullable": True,
                "description": "what the recogniser heard, once corrected; else null",
            },
            "ratings": {
                "type": "array",
                "description": "a team interview (Slack channel, Telegram group): teammates' ratings of this answer, "
                "1-5 (Telegram gives the overall only); empty otherwise",
                "items": {
                    "type": "object",
                    "properties": {
                        "rater": {"type": "string", "description": "the rater's platform id"},
                        "content": {"type": "integer", "nullable": True},
                        "structure": {"type": "integer", "nullable": True},
                        "delivery": {"type": "integer", "nullable": True},
                        "overall": {"type": "number"},
                        "comment": {"type": "string"},
                    },
                },
            },
            "comments": {
                "type": "array",
                "description": "a team interview: what teammates said about this answer in the thread or group",
                "items": {
                    "type": "object",
                    "properties": {
                        "author": {"type": "string"},
                        "text": {"type": "string"},
                        "voice": {"type": "boolean", "description": "a voice note, kept as a comment, not transcribed"},
                        "at": {"type": "number"},
                    },
                },
            },
        },
    },
    "Progress": {
        "type": "object",
        "properties": {
            "position": {"type": "integer", "description": "Index of the current question"},
            "total": {"type": "integer"},
            "answered": {"type": "integer"},
            "skipped": {"type": "integer"},
            "remaining": {"type": "integer"},
            "retake": {
                "type": "integer",
                "nullable": True,
                "description": "index of the question being answered again (POST retake), else null",
            },
            "reopened": {
                "type": "string",
                "nullable": True,
                "enum": ["completed", "ended", None],
                "description": "a finished interview reopened for one retake: the status it returns to after that "
                "answer (or POST end), else null",
            },
        },
    },
    "Spec": {
        "type": "object",
        "properties": {
            "role_title": {"type": "string"},
            "company_name": {"type": "string"},
            "industry": {"type": "string"},
            "cv": {"type": "string"},
            "jd": {"type": "string"},
            "round_type": {"type": "string"},
            "language": {"type": "string"},
        },
    },
    "SessionState": {
        "type": "object",
        "properties": {
            "user_id": {"type": "string"},
            "session_id": {"type": "string"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "spec": _ref("Spec"),
            "progress": _ref("Progress"),
            "current_question": {"allOf": [_ref("Question")], "nullable": True},
            "answers": {"type": "array", "items": _ref("Answer")},
            "pending_voice_answers": {"type": "integer"},
            "voice_available": {"type": "boolean", "description": "Voice answers can be transcribed (a speech model)"},
            "speak_questions": {
                "type": "boolean",
                "description": "Questions are offered spoken (audio_url) where a voice is installed; set at start",
            },
            "created_at": {"type": "number"},
            "updated_at": {"type": "number"},
            "finished_at": {"type": "number", "nullable": True},
        },
    },
    "StartResponse": {
        "allOf": [
            _ref("SessionState"),
            {
                "type": "object",
                "properties": {
                    "question": _ref("Question"),
                    "resumed": {"type": "boolean", "description": "true: the session already existed"},
                },
            },
        ]
    },
    "Speech": {
        "type": "object",
        "properties": {
            "duration": {"type": "number"},
            "processing_seconds": {"type": "number"},
            "language": {"type": "string"},
            "model": {"type": "string"},
            "words": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "word": {"type": "string"},
                        "start": {"type": "number"},
                        "end": {"type": "number"},
                        "conf": {"type": "number"},
                    },
                },
            },
        },
    },
    "AnswerResult": {
        "type": "object",
        "properties": {
            "user_id": {"type": "string"},
            "session_id": {"type": "string"},
            "status": {"type": "string"},
            "source": {"type": "string", "enum": ["voice", "text", "skipped"]},
            "transcript": {"type": "string"},
            "feedback": {"allOf": [_ref("Feedback")], "nullable": True},
            "speech": {"allOf": [_ref("Speech")], "nullable": True},
            "answer": _ref("Answer"),
            "next_question": {"allOf": [_ref("Question")], "nullable": True},
            "finished": {"type": "boolean"},
            "report": {"allOf": [_ref("Report")], "nullable": True},
            "progress": _ref("Progress"),
            "duplicate": {
                "type": "boolean",
                "description": "true when an Idempotency-Key was seen before: this is the recorded answer, unchanged",
            },
            "comparison": {"allOf": [_ref("Comparison")], "nullable": True},
            "earlier": {
                "type": "array",
                "description": "voice answers to this session that a server restart left waiting, recorded just now "
                "ahead of this answer (oldest first), so this one lands on the question after them: each has its "
                "result, or the error that kept it from being recorded (e.g. audio_silent; transcription_failed "
                "keeps the recording for /retry)",
                "items": {
                    "type": "object",
                    "properties": {
                        "result": {"allOf": [_ref("AnswerResult")], "nullable": True},
                        "error": {
                            "type": "object",
                            "nullable": True,
                            "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
    "Report": {
        "type": "object",
        "properties": {
            "session_id": {"type": "string"},
            "role_title": {"type": "string"},
            "company_name": {"type": "string"},
            "status": {"type": "string"},
            "overall_score": {"type": "integer"},
            "answered": {"type": "integer"},
            "skipped": {"type": "integer"},
            "total": {"type": "integer"},
            "per_question": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "question": {"type": "string"},
                        "category": {"type": "string"},
                        "source": {"type": "string"},
                        "score": {"type": "integer", "nullable": True},
                        "label": {"type": "string", "description": 'how people number it: "4", or "3a"'},
                        "attempts": {
                            "type": "integer",
                            "description": "more than 1: retaken; score is the best attempt's",
                        },
                    },
                },
            },
            "strengths": {"type": "array", "items": {"type": "string"}},
            "improvements": {"type": "array", "items": {"type": "string"}},
            "average_wpm": {"type": "number", "nullable": True},
            "total_fillers": {"type": "integer"},
            "filler_breakdown": {"type": "object", "additionalProperties": {"type": "integer"}},
            "top_words": {"type": "array", "items": {"type": "array", "items": {}}},
            "summary": {
                "type": "string",
                "description": "A few sentences from the model grader ([llm]) once it has written them; else empty",
            },
        },
    },
    "Comparison": {
        "type": "object",
        "description": "A retake against the attempt before it; null for a first attempt. Each figure is before/after "
        "(null where an attempt has none: a skip, or a typed answer's pace)",
        "properties": {
            "attempt": {"type": "integer"},
            "previous_attempt": {"type": "integer"},
            "score": _ref("BeforeAfter"),
            "parts": {"type": "object", "additionalProperties": _ref("BeforeAfter")},
            "fillers": _ref("BeforeAfter"),
            "pauses": _ref("BeforeAfter"),
            "wpm": _ref("BeforeAfter"),
            "key_points_gained": {"type": "array", "items": {"type": "string"}},
            "key_points_dropped": {"type": "array", "items": {"type": "string"}},
        },
    },
    "BeforeAfter": {
        "type": "object",
        "properties": {"before": {"type": "number", "nullable": True}, "after": {"type": "number", "nullable": True}},
    },
    "ProgressEntry": {
        "type": "object",
        "properties": {
            "session_id": {"type": "string"},
            "finished_at": {"type": "number", "description": "Unix time"},
            "role_title": {"type": "string"},
            "company_name": {"type": "string"},
            "status": {"type": "string"},
            "score": {"type": "integer"},
            "answered": {"type": "integer"},
            "wpm": {"type": "number", "nullable": True},
            "fillers_per_100": {"type": "number", "nullable": True},
            "key_point_coverage": {"type": "number", "nullable": True, "description": "0-1"},
        },
    },
    "ReportResponse": {
        "type": "object",
        "properties": {
            "user_id": {"type": "string"},
            "session_id": {"type": "string"},
            "status": {"type": "string"},
            "final": {"type": "boolean", "description": "false while the interview is still running"},
            "report": _ref("Report"),
            "report_url": {
                "type": "string",
                "nullable": True,
                "description": "The report as a private web page (charts, transcripts, recordings), valid for "
                "[web] link_days; null when links are off ([web] public_url empty)",
            },
        },
    },
    "SessionSummary": {
        "type": "object",
        "properties": {
            "platform": {"type": "string"},
            "user_id": {"type": "string"},
            "name": {"type": "string"},
            "session_id": {"type": "string"},
            "role_title": {"type": "string"},
            "company_name": {"type": "string"},
            "round_type": {"type": "string"},
            "status": {"type": "string"},
            "answered": {"type": "integer"},
            "total": {"type": "integer"},
            "created_at": {"type": "number"},
            "updated_at": {"type": "number"},
            "stale": {"type": "boolean"},
            "failed_answers": {
                "type": "integer",
                "description": "Voice answers whose transcription failed, kept for a retry",
            },
        },
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "store": {
                "type": "object",
                "properties": {"reachable": {"type": "boolean"}},
                "additionalProperties": True,
            },
            "speech": {"type": "object", "additionalProperties": True},
            "queue_depth": {"type": "integer"},
            "llm": {
                "type": "object",
                "description": "The optional model grader ([llm]): configured, model, calls, failures, last_call "
                "(ok, error or null), last_error, latency_ms of the last call",
                "properties": {"configured": {"type": "boolean"}},
                "additionalProperties": True,
            },
            "voice": {
                "type": "object",
                "description": "Spoken questions ([voice]): enabled, speaks_questions (a voice for the questions is "
                "installed and loads), and per language its voice, source, whether it is loaded and any load error",
                "properties": {"enabled": {"type": "boolean"}, "speaks_questions": {"type": "boolean"}},
                "additionalProperties": True,
            },
            "version": {"type": "string"},
            "uptime_seconds": {"type": "number"},
        },
    },
}

_PATHS: dict[str, Any] = {
    "/api/interview/start": {
        "post": {
            "summary": "Start (or resume) a named interview session",
            "description": "Starting the same user_id/session_id again with the same parameters returns the session "
            "as it is (200, resumed=true); with different parameters it is a 409.",
            "security": _API_KEY_SECURITY,
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "type": "object",
                        "required": ["user_id", "session_id", "role_title", "company_name", "industry"],
                        "properties": {
                            "user_id": _ID,
                            "session_id": _ID,
                            "role_title": _spec_field("role_title", required=True),
                            "company_name": _spec_field("company_name", required=True),
                            "industry": _spec_field("industry", required=True),
                            "cv": _spec_field("cv", required=False),
                            "jd": _spec_field("jd", required=False),
                            "round_type": {"type": "string", "enum": list(ROUND_TYPES), "default": "full"},
                            "language": {"type": "string", "description": "e.g. en-us, ko; default: the server's"},
                            "speak_questions": {
                                "type": "boolean",
                                "default": True,
                                "description": "false: no audio_url on the questions (they are still spoken on "
                                "request); kept in the session. Starting the session again does not change it.",
                            },
                        },
                    }
                ),
            },
            "responses": {
                "201": _ok("Started; the session state and the first question", "StartResponse"),
                "200": _ok("Already started with these parameters; its current state", "StartResponse"),
                "409": _error("The session exists with different parameters (code session_conflict)"),
                "429": _error(
                    "The user started [store] max_sessions_per_user_per_day sessions in the last 24 hours "
                    "(code too_many_sessions); Retry-After says when the next may start"
                ),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/state/{user_id}/{session_id}": {
        "get": {
            "summary": "Progress, current question and every answer with transcript and feedback",
            "security": _API_KEY_SECURITY,
            "parameters": _PATH_IDS,
            "responses": {
                "200": _ok("The session", "SessionState"),
                "404": _error("Session not found (code session_not_found, with a hint)"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/answer": {
        "post": {
            "summary": "Answer the current question with a recording or typed text",
            "description": "multipart/form-data with user_id, session_id and audio_file (any format ffmpeg reads: "
            "OGG/Opus, WAV, MP3, M4A, WebM...) or a text field. application/json with user_id, session_id, text is "
            "accepted too. When the recording cannot be used (422) the question stays pending and the session is "
            "unchanged. A client that may resend (flaky networks) should send an Idempotency-Key header: a resend "
            "with the same key returns the recorded answer (duplicate: true) instead of answering the next question.",
            "security": _API_KEY_SECURITY,
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["user_id", "session_id"],
                            "properties": {
                                "user_id": _ID,
                                "session_id": _ID,
                                "audio_file": {"type": "string", "format": "binary"},
                                "text": _TEXT_ANSWER,
                            },
                        }
                    },
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["user_id", "session_id", "text"],
                            "properties": {"user_id": _ID, "session_id": _ID, "text": _TEXT_ANSWER},
                        }
                    },
                },
            },
            "responses": {
                "200": _ok("Transcript, feedback, and the next question or the final report", "AnswerResult"),
                "400": _error("'Audio file is required' (code audio_required), or invalid fields"),
                "404": _error("Session not found"),
                "409": _error("Interview already completed (code session_completed)"),
                "413": _error("Audio file too large (audio_too_large) or body over the limit (body_too_large)"),
                "422": _error(
                    "'Speech recognition failed': code audio_invalid, audio_empty, audio_silent or audio_too_long; "
                    "detail says which"
                ),
                "503": _error(
                    "speech_unavailable (no model for the session's language; detail names the fix, typed answers "
                    "still work), transcription_failed (recogniser crashed or timed out; Retry-After, send again) "
                    "or shutting_down (the server is restarting; the answer is saved and transcribed after it)"
                ),
                "401": _COMMON_ERRORS["401"],
                "500": _COMMON_ERRORS["500"],
            },
        }
    },
    "/api/interview/skip": {
        "post": {
            "summary": "Skip the current question",
            "security": _API_KEY_SECURITY,
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _IDS_BODY,
            "responses": {
                "200": _ok("The next question, or the final report after the last one", "AnswerResult"),
                "404": _error("Session not found"),
                "409": _error("Interview already completed"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/retry": {
        "post": {
            "summary": "Transcribe again the oldest voice answer whose transcription failed",
            "description": "After a 503 transcription_failed the server keeps the recording; this retries it.",
            "security": _API_KEY_SECURITY,
            "requestBody": _IDS_BODY,
            "responses": {
                "200": _ok("The transcript, feedback and next question (or the final report)", "AnswerResult"),
                "400": _error("Invalid request (no failed voice answer to retry)"),
                "404": _error("Session not found"),
                "409": _error("Interview already completed"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/end": {
        "post": {
            "summary": "End the interview early and get the report",
            "security": _API_KEY_SECURITY,
            "requestBody": _IDS_BODY,
            "responses": {
                "200": _ok("The report of what was answered", "ReportResponse"),
                "404": _error("Session not found"),
                "409": _error("Interview already completed"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/report/{user_id}/{session_id}": {
        "get": {
            "summary": "The report (final once completed or ended; so far while running)",
            "security": _API_KEY_SECURITY,
            "parameters": _PATH_IDS,
            "responses": {
                "200": _ok("The report", "ReportResponse"),
                "404": _error("Session not found"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/question-audio/{user_id}/{session_id}/{question_index}": {
        "get": {
            "summary": "A question of the session, spoken (the question's audio_url)",
            "description": "The question at question_index as audio, synthesised offline and cached, in English (the "
            "question bank's language, whatever the session's answer language). Only questions asked so far: up to "
            "the current one. Served whether or not the session offers audio (speak_questions).",
            "security": _API_KEY_SECURITY,
            "parameters": [
                *_PATH_IDS,
                {
                    "name": "question_index",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "0-based, as `index` in the state",
                },
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["ogg", "mp3"], "default": "ogg"},
                    "description": "ogg: OGG/Opus (audio/ogg); mp3: audio/mpeg",
                },
            ],
            "responses": {
                "200": {
                    "description": "The spoken question; X-Audio-Duration gives its length in seconds",
                    "content": {
                        "audio/ogg": {"schema": {"type": "string", "format": "binary"}},
                        "audio/mpeg": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "400": _error("question_index is not a whole number, or format is not ogg or mp3 (invalid_input)"),
                "404": _error(
                    "Session not found (session_not_found); the index is out of range or the question was not asked "
                    "yet (question_not_found); or no voice is installed to speak it (voice_unavailable)"
                ),
                "401": _COMMON_ERRORS["401"],
                "500": _COMMON_ERRORS["500"],
            },
        }
    },
    "/api/interview/retake": {
        "post": {
            "summary": "Answer a question again; the next answer is compared with the attempt before",
            "description": "question_index (0-based, as `index` in the state) defaults to the last question answered. "
            "The state's current_question becomes that question until it is answered; then the interview carries on "
            "where it was. Every attempt is kept; the report counts the best. A finished interview (completed or ended "
            "early) reopens for that one answer while no other interview of the user runs: progress.reopened says so, "
            "and the answer's response carries the report brought up to date.",
            "security": _API_KEY_SECURITY,
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "type": "object",
                        "required": ["user_id", "session_id"],
                        "properties": {
                            "user_id": _ID,
                            "session_id": _ID,
                            "question_index": {"type": "integer", "minimum": 0},
                        },
                    }
                ),
            },
            "responses": {
                "200": _ok("The session, its current_question the one to answer again", "SessionState"),
                "400": _error("question_index not answered yet, or a voice answer is still being processed"),
                "404": _error("Session not found"),
                "409": _error(
                    "An abandoned or team interview (session_completed), another interview running "
                    "(session_in_progress), or nothing answered (no_answer_yet)"
                ),
                **{k: v for k, v in _COMMON_ERRORS.items() if k != "400"},
            },
        }
    },
    "/api/interview/correct": {
        "post": {
            "summary": "Correct what the recogniser heard; the answer is judged again on the corrected words",
            "description": "answer_index (0-based question index) defaults to the last answer; its latest attempt is "
            "corrected. Content is judged again; pace, pauses and fillers stay as the recording showed them. The "
            "heard transcript is kept as original_text. Works on a finished interview too (its report changes).",
            "security": _API_KEY_SECURITY,
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "type": "object",
                        "required": ["user_id", "session_id", "text"],
                        "properties": {
                            "user_id": _ID,
                            "session_id": _ID,
                            "text": _TEXT_ANSWER,
                            "answer_index": {"type": "integer", "minimum": 0},
                        },
                    }
                ),
            },
            "responses": {
                "200": _ok("The corrected answer with its new feedback", "AnswerResult"),
                "404": _error("Session not found"),
                "409": _error("No answer to correct yet (no_answer_yet)"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/report/{user_id}/{session_id}/chart.png": {
        "get": {
            "summary": "The report as a picture: score per question with its parts, pace, fillers and long pauses",
            "security": _API_KEY_SECURITY,
            "parameters": _PATH_IDS,
            "responses": {
                "200": {"description": "PNG, 1000 px wide", "content": {"image/png": {"schema": _BINARY}}},
                "404": _error("Session not found"),
                "409": _error("No question answered or skipped yet (no_answer_yet)"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/progress/{user_id}": {
        "get": {
            "summary": "The candidate's finished interviews over time, oldest first",
            "security": _API_KEY_SECURITY,
            "parameters": [_PATH_IDS[0]],
            "responses": {
                "200": {
                    "description": "Every finished interview with at least one answer",
                    "content": _json(
                        {
                            "type": "object",
                            "properties": {
                                "user_id": {"type": "string"},
                                "interviews": {"type": "array", "items": _ref("ProgressEntry")},
                            },
                        }
                    ),
                },
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/progress/{user_id}/chart.png": {
        "get": {
            "summary": "The progress as a picture: score, pace, fillers and key points per interview",
            "security": _API_KEY_SECURITY,
            "parameters": [_PATH_IDS[0]],
            "responses": {
                "200": {"description": "PNG", "content": {"image/png": {"schema": _BINARY}}},
                "409": _error("No finished interview yet (no_answer_yet)"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/user/{user_id}": {
        "delete": {
            "summary": "Delete every session and recording of a user",
            "description": "Deletes the user's sessions (any status), their recordings, and so every report link "
            "made for them (those answer 404 from now on). Deleting a user with nothing stored answers deleted: 0.",
            "security": _API_KEY_SECURITY,
            "parameters": [_PATH_IDS[0]],
            "responses": {
                "200": {
                    "description": "How many sessions were deleted",
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["deleted"],
                            "properties": {"deleted": {"type": "integer", "minimum": 0}},
                        }
                    ),
                },
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/interview/debug/sessions/{platform}/{user_id}/{session_id}": {
        "get": {
            "summary": "Admin: one session of any platform, with its report and a team interview's team report",
            "description": "A team interview's user_id is its space (team:<channel>:<thread_ts> on Slack, "
            "team:<chat_id> on Telegram), as the session list shows it. Disabled unless http.admin_token is set.",
            "security": [{"AdminBearer": []}],
            "parameters": [
                {
                    "name": "platform",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["telegram", "slack", "http"]},
                },
                *_PATH_IDS,
            ],
            "responses": {
                "200": {
                    "description": "The session's state (answers carry ratings and comments), its report and, for a "
                    "team interview, the bot's score beside the team's average per answer (gap on the 5-point "
                    "scale, disagree at 2 points or more)",
                    "content": _json({"type": "object"}),
                },
                "400": _error("Invalid platform or ids"),
                "401": _error("No Authorization: Bearer header"),
                "403": _error("Wrong admin token"),
                "404": _error("Session not found, or the endpoint is disabled (debug_disabled)"),
                "500": _COMMON_ERRORS["500"],
            },
        }
    },
    "/api/interview/debug/sessions": {
        "get": {
            "summary": "Admin: every session on every platform, newest activity first",
            "description": "Disabled (404, code debug_disabled) unless http.admin_token is set.",
            "security": [{"AdminBearer": []}],
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(STATUSES)},
                },
                {"name": "user_id", "in": "query", "schema": _ID},
                {
                    "name": "platform",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["telegram", "slack", "http"]},
                },
                {
                    "name": "stale",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["1", "0"]},
                    "description": "1: only active sessions silent for longer than stale_after_hours",
                },
            ],
            "responses": {
                "200": {
                    "description": "Matching sessions",
                    "content": _json(
                        {
                            "type": "object",
                            "properties": {
                                "count": {"type": "integer"},
                                "stale_after_hours": {"type": "number"},
                                "sessions": {"type": "array", "items": _ref("SessionSummary")},
                            },
                        }
                    ),
                },
                "400": _error("Invalid filter"),
                "401": _error("No Authorization: Bearer header"),
                "403": _error("Wrong admin token"),
                "404": _error("The endpoint is disabled (code debug_disabled)"),
                "500": _COMMON_ERRORS["500"],
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "Health: store, speech models, queue depth, model grader, voices, version, uptime",
            "security": [],
            "responses": {
                "200": _ok("ok, or degraded when speech is unavailable (typed answers still work)", "Health"),
                "503": _ok("degraded: the session store is unreachable", "Health"),
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document", "content": _json({"type": "object"})}},
        }
    },
}


def build_openapi(version: str) -> dict[str, Any]:
    """A fresh copy per call, so a caller changing it changes nothing served later."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "voice-interview-bot HTTP API",
            "version": version,
            "description": "Mock interviews with spoken answers, compatible with the old interview system's "
            "endpoints. Every response carries an X-Request-ID header; every error is a JSON Error object.",
        },
        "paths": copy.deepcopy(_PATHS),
        "components": {
            "schemas": copy.deepcopy(_SCHEMAS),
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "Only when http.api_key is set",
                },
                "ApiKeyBearer": {"type": "http", "scheme": "bearer", "description": "The API key as a Bearer token"},
                "AdminBearer": {"type": "http", "scheme": "bearer", "description": "http.admin_token"},
            },
        },
    }
