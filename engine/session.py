"""The interview session as the engine keeps it, and its round trip to a store document."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.team import Team
from engine.types import FOLLOW_UP, Feedback, InterviewSpec, Question

ACTIVE = "active"
COMPLETED = "completed"  # every question answered or skipped
ENDED = "ended"  # stopped early by the candidate
ABANDONED = "abandoned"  # closed by housekeeping after [store] abandon_after_days without activity
STATUSES = (ACTIVE, COMPLETED, ENDED, ABANDONED)


@dataclass(frozen=True)
class Answer:
    """One recorded answer (or skip) to one planned question."""

    index: int
    question: Question
    source: str  # "voice", "text", "skipped"
    text: str
    answered_at: float
    feedback: Feedback | None = None
    duration: float | None = None
    audio_file: str = ""  # relative to the audio folder; kept for the retention period
    delivery_id: str = ""  # the client's idempotency key, so a resent answer is recognised
    attempt: int = 1  # 2 and up: a retake of the same question (every attempt is kept)
    original_text: str = ""  # what the recogniser heard, once the candidate corrected the transcript (`text`)

    @property
    def corrected(self) -> bool:
        return bool(self.original_text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "question": self.question.to_dict(),
            "source": self.source,
            "text": self.text,
            "answered_at": self.answered_at,
            "feedback": self.feedback.to_dict() if self.feedback else None,
            "duration": self.duration,
            "audio_file": self.audio_file,
            "delivery_id": self.delivery_id,
            # Only when set, so answers without retakes or corrections are stored exactly as before.
            **({"attempt": self.attempt} if self.attempt != 1 else {}),
            **({"original_text": self.original_text} if self.original_text else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(
            index=data["index"],
            question=Question.from_dict(data["question"]),
            source=data["source"],
            text=data.get("text", ""),
            answered_at=data["answered_at"],
            feedback=Feedback.from_dict(data["feedback"]) if data.get("feedback") else None,
            duration=data.get("duration"),
            audio_file=data.get("audio_file", ""),
            delivery_id=data.get("delivery_id", ""),
            attempt=int(data.get("attempt", 1)),
            original_text=data.get("original_text", ""),
        )


def best_attempt(attempts: Sequence[Answer]) -> Answer:
    """The attempt that counts in the report: the highest score; a skip only when nothing else was tried."""
    return max(attempts, key=lambda a: (a.feedback.score if a.feedback and a.source != "skipped" else -1, a.attempt))


class Progress:
    """Where an interview stands, derived from its fields: shared by Session and engine.views.SessionView."""

    spec: InterviewSpec
    status: str
    position: int
    questions: Sequence[Question]
    answers: Sequence[Answer]
    retake: int | None
    reopened: str

    @property
    def language(self) -> str:
        return self.spec.language

    @property
    def total(self) -> int:
        """Every question, follow-ups the model added included (what "answered n of total" counts against)."""
        return len(self.questions)

    @property
    def planned(self) -> int:
        """The planned questions, follow-ups left out: "Question 4 of 8" counts these."""
        return sum(1 for q in self.questions if q.category != FOLLOW_UP)

    @property
    def follow_ups(self) -> int:
        return len(self.questions) - self.planned

    def label(self, index: int) -> str:
        """How the question at `index` is numbered for people: "4", or "3a" for a follow-up added after question 3."""
        number = sum(1 for q in self.questions[: index + 1] if q.category != FOLLOW_UP)
        if index < len(self.questions) and self.questions[index].category == FOLLOW_UP:
            return f"{number}a"
        return str(number)

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def finished(self) -> bool:
        """Over (completed, ended, abandoned), or reopened for one retake of a finished interview."""
        return not self.is_active or bool(self.reopened)

    @property
    def current_index(self) -> int | None:
        """The question waiting for an answer: the one being retaken, else the next one; None once finished."""
        if not self.is_active:
            return None
        if self.retake is not None:
            return self.retake
        return self.position if self.position < len(self.questions) else None

    @property
    def current_question(self) -> Question | None:
        index = self.current_index
        return self.questions[index] if index is not None else None

    @property
    def current_label(self) -> str:
        """The waiting question's label for people; once finished, the label the next question would have had."""
        index = self.current_index
        return self.label(index if index is not None else self.position)

    @property
    def answered_count(self) -> int:
        """Questions answered (a retake does not count twice; a skipped question answered on a retake does)."""
        return len({a.index for a in self.answers if a.source != "skipped"})

    @property
    def skipped_count(self) -> int:
        """Questions skipped and not answered since on a retake."""
        answered = {a.index for a in self.answers if a.source != "skipped"}
        return len({a.index for a in self.answers if a.source == "skipped"} - answered)

    def attempts(self, index: int) -> list[Answer]:
        """Every attempt at the question at `index`, oldest first."""
        return sorted((a for a in self.answers if a.index == index), key=lambda a: a.attempt)

    def counted(self) -> list[Answer]:
        """One answer per question reached, in question order: the attempt that counts (see best_attempt)."""
        return [best_attempt(self.attempts(index)) for index in sorted({a.index for a in self.answers})]


@dataclass
class Session(Progress):
    """A candidate's interview as the engine keeps and changes it; adapters get a frozen SessionView instead."""

    platform: str
    user_id: str
    session_id: str
    spec: InterviewSpec
    seed: int
    questions: list[Question]
    created_at: float
    updated_at: float
    name: str = ""
    status: str = ACTIVE
    position: int = 0  # index of the current question
    answers: list[Answer] = field(default_factory=list)
    # Voice answers saved to disk but not yet transcribed, oldest first: finished after a crash.
    pending: list[dict[str, Any]] = field(default_factory=list)
    # Opaque to the engine: where the adapter sends replies (chat id, Slack channel and thread).
    route: dict[str, Any] = field(default_factory=dict)
    finished_at: float | None = None
    summary: str = ""  # the model's summary of a finished interview ([llm]); empty without one
    # The question (index) the candidate asked to answer again: the next answer goes to it, then the interview
    # carries on from where it was.
    retake: int | None = None
    # A finished interview reopened for one retake: the status ("completed", "ended") it goes back to after it.
    reopened: str = ""
    # Whether questions also go out spoken (a voice note, an audio_url): the candidate's /voice on|off.
    speak_questions: bool = True
    # A team interview in a shared space (a Slack thread, a Telegram group): its people, ratings and comments.
    team: Team | None = None
    # The stored revision this copy was read at (0: not stored yet); the store refuses a save from a stale one.
    rev: int = 0

    @property
    def pending_count(self) -> int:
        """Voice answers saved but not yet recorded (being transcribed, or failed and waiting for a retry)."""
        return len(self.pending)

    @property
    def failed_voice_answers(self) -> int:
        """Voice answers whose transcription failed, kept to be retried from their recordings."""
        return sum(1 for entry in self.pending if entry.get("failed"))

    def finish(self, status: str, at: float) -> None:
        """Over, with `status`; an interview reopened for a retake goes back to the status it had finished with."""
        self.status, self.reopened, self.retake = self.reopened or status, "", None
        self.finished_at = at

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "name": self.name,
            "spec": self.spec.to_dict(),
            "seed": self.seed,
            "status": self.status,
            "questions": [q.to_dict() for q in self.questions],
            "position": self.position,
            "answers": [a.to_dict() for a in self.answers],
            "pending": copy.deepcopy(self.pending),
            "route": copy.deepcopy(self.route),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            # Only when there is one, so sessions graded by the rules alone are stored exactly as before.
            **({"summary": self.summary} if self.summary else {}),
            **({"retake": self.retake} if self.retake is not None else {}),
            **({"reopened": self.reopened} if self.reopened else {}),
            **({"speak_questions": False} if not self.speak_questions else {}),
            **({"team": self.team.to_dict()} if self.team is not None else {}),
            "rev": self.rev,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        return cls(
            platform=data["platform"],
            user_id=data["user_id"],
            session_id=data["session_id"],
            name=data.get("name", ""),
            spec=InterviewSpec.from_dict(data["spec"]),
            seed=data["seed"],
            status=data["status"],
            questions=[Question.from_dict(q) for q in data["questions"]],
            position=data["position"],
            answers=[Answer.from_dict(a) for a in data.get("answers", [])],
            pending=list(data.get("pending", [])),
            route=dict(data.get("route", {})),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            finished_at=data.get("finished_at"),
            summary=data.get("summary", ""),
            retake=data.get("retake"),
            reopened=data.get("reopened", ""),
            speak_questions=bool(data.get("speak_questions", True)),  # sessions from before spoken questions: on
            team=Team.from_dict(data["team"]) if data.get("team") else None,
            rev=int(data.get("rev", 0)),
        )
