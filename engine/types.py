"""Small frozen values that cross the boundary between adapters and the engine."""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

PLATFORMS = ("telegram", "slack", "http")


@dataclass(frozen=True)
class User:
    """Who is speaking: a chat user on one platform (the session key is platform + user_id)."""

    platform: str
    user_id: str
    name: str = ""


@dataclass(frozen=True)
class InterviewSpec:
    """What the candidate asked for when starting an interview."""

    role_title: str
    company_name: str
    industry: str
    cv: str = ""
    jd: str = ""
    round_type: str = "full"
    language: str = ""  # empty: the engine's default language

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InterviewSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class AudioInput:
    """A voice answer as the platform delivered it, plus whatever hints it gave.

    Recordings arrive as a file (`path`: what InterviewEngine.receive_audio wrote, chunk by chunk), which the engine
    moves into its audio folder and the converter hands to ffmpeg as it is, so no recording is held whole in memory.
    `data` is for small callers (the transcribe command, tests); with a `path` it stays empty.
    """

    data: bytes = b""
    mime_type: str = ""
    filename: str = ""
    path: Path | None = None

    @property
    def size(self) -> int:
        """Bytes in the recording (a stat for a file: never read)."""
        return os.stat(self.path).st_size if self.path is not None else len(self.data)

    def open(self) -> BinaryIO:
        """The recording for reading: the file itself, or the bytes as a file."""
        return open(self.path, "rb") if self.path is not None else io.BytesIO(self.data)


FOLLOW_UP = "follow-up"  # the category of a question the model added to probe the answer before it


@dataclass(frozen=True)
class Question:
    """One planned interview question; `skill` is set for experience and gap questions."""

    id: str
    category: str  # intro, behavioral, situational, technical, experience, gap, motivation, closing, follow-up
    text: str
    skill: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Question:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Word:
    """A recognised word with its timing (seconds) and the recogniser's confidence (0..1)."""

    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class Transcript:
    """What the speech recogniser heard in one answer."""

    text: str
    words: tuple[Word, ...] = ()
    duration: float = 0.0  # seconds of audio
    processing_seconds: float = 0.0
    language: str = ""
    model: str = ""
    # How it was said (engine.speech.delivery.Delivery.to_dict()), worked out in the speech worker; None when the
    # analysis did not run or failed. A dict, so this module needs no import of the speech package.
    delivery: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def real_time_factor(self) -> float:
        return self.processing_seconds / self.duration if self.duration else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for a transcript that crosses processes (the Redis speech queue)."""
        data = asdict(self)
        data["words"] = [[w.word, w.start, w.end, w.conf] for w in self.words]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            text=data["text"],
            words=tuple(Word(str(w), float(s), float(e), float(c)) for w, s, e, c in data.get("words", [])),
            duration=float(data.get("duration", 0.0)),
            processing_seconds=float(data.get("processing_seconds", 0.0)),
            language=data.get("language", ""),
            model=data.get("model", ""),
            delivery=data.get("delivery"),
        )


@dataclass(frozen=True)
class Feedback:
    """Deterministic analysis of one answer; every number can be explained to the candidate.

    `relevance` ({"on_topic": bool, "reason": str}) and `key_points` ([{"point": str, "covered": bool, "evidence":
    str or None}]) judge the content against the question's rubric. Relevance is None, and there are no key points,
    for feedback stored before they existed and for an answer the English rubrics cannot read (another language).
    """

    score: int  # 0..100
    score_parts: dict[str, int] = field(default_factory=dict)
    word_count: int = 0
    duration: float | None = None  # seconds, voice answers only
    wpm: float | None = None  # voice answers only
    pace: str | None = None  # "slow", "good", "fast"; None for text answers
    fillers: dict[str, int] = field(default_factory=dict)
    hedges: dict[str, int] = field(default_factory=dict)
    relevant_terms: tuple[str, ...] = ()
    star: dict[str, bool] = field(default_factory=dict)  # behavioural questions only
    length: str = "ok"  # "short", "ok", "long"
    unsure_words: tuple[str, ...] = ()
    tips: tuple[str, ...] = ()
    relevance: dict[str, Any] | None = None  # {"on_topic": bool, "reason": str}
    key_points: tuple[dict[str, Any], ...] = ()  # {"point": str, "covered": bool, "evidence": str | None}
    grader: str = "rules"  # "rules" or "llm"
    delivery: dict[str, Any] | None = None  # the voice answer's Transcript.delivery; None for typed answers
    follow_up: str = ""  # the model's probing question for a thin answer ([llm]); asked next when there is room

    @property
    def on_topic(self) -> bool:
        """False only when the grader judged the answer off-topic (old feedback, never judged, counts as on topic)."""
        return self.relevance is None or bool(self.relevance.get("on_topic", True))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["relevant_terms"] = list(self.relevant_terms)
        data["unsure_words"] = list(self.unsure_words)
        data["tips"] = list(self.tips)
        data["key_points"] = [dict(p) for p in self.key_points]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feedback:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("relevant_terms", "unsure_words", "tips"):
            if key in values:
                values[key] = tuple(values[key])
        if "key_points" in values:
            values["key_points"] = tuple(dict(p) for p in values["key_points"] or ())
        if values.get("relevance") is not None:
            values["relevance"] = dict(values["relevance"])
        if values.get("delivery") is not None:
            values["delivery"] = dict(values["delivery"])
        if values.get("grader") is None:
            values.pop("grader", None)
        return cls(**values)


@dataclass(frozen=True)
class QuestionScore:
    """One line of the report: a question and how its answer scored (None when skipped)."""

    index: int
    question: str
    category: str
    source: str  # voice, text, skipped
    score: int | None
    label: str = ""  # "4", or "3a" for a follow-up; empty in reports stored before follow-ups existed
    attempts: int = 1  # more than 1: retaken; the score is the best attempt's


@dataclass(frozen=True)
class Report:
    """The end-of-interview summary."""

    session_id: str
    role_title: str
    company_name: str
    status: str
    overall_score: int
    answered: int
    skipped: int
    total: int
    per_question: tuple[QuestionScore, ...] = ()
    strengths: tuple[str, ...] = ()
    improvements: tuple[str, ...] = ()
    average_wpm: float | None = None
    total_fillers: int = 0
    filler_breakdown: dict[str, int] = field(default_factory=dict)
    top_words: tuple[tuple[str, int], ...] = ()
    summary: str = ""  # a few sentences from the model ([llm]), once it has written them; empty otherwise

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_question"] = [asdict(q) for q in self.per_question]
        data["top_words"] = [[w, n] for w, n in self.top_words]
        data["strengths"] = list(self.strengths)
        data["improvements"] = list(self.improvements)
        return data


@dataclass(frozen=True)
class SessionSummary:
    """One row of the admin `/sessions` view."""

    platform: str
    user_id: str
    name: str
    session_id: str
    role_title: str
    company_name: str
    round_type: str
    status: str
    answered: int
    total: int
    created_at: float
    updated_at: float
    stale: bool
    failed_answers: int = 0  # voice answers whose transcription failed, waiting for a retry
    place: str = ""  # a team interview: the channel or group it runs in (empty for a candidate's own)
    candidate: str = ""  # a team interview: the candidate's platform id (user_id is then the space's key)
    candidate_name: str = ""
    raters: int = 0  # a team interview: how many teammates rated at least one answer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
