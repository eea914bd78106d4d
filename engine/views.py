"""What adapters see of a session: a frozen SessionView, never the engine's own mutable record."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from engine.session import Answer, Progress, Session
from engine.team import Team
from engine.types import InterviewSpec, Question


@dataclass(frozen=True)
class SessionView(Progress):
    """A read-only picture of one interview at the moment the engine returned it (progress: engine.session.Progress).

    Voice answers still being worked on are counted, not shown: `pending_count` saved but not yet recorded,
    `failed_voice_answers` of them waiting for a retry. `route` is the adapter's own (opaque) reply address.
    """

    platform: str
    user_id: str
    session_id: str
    name: str
    spec: InterviewSpec
    status: str
    position: int  # index of the current question
    questions: tuple[Question, ...]
    answers: tuple[Answer, ...]
    route: Mapping[str, Any]
    created_at: float
    updated_at: float
    finished_at: float | None
    pending_count: int
    failed_voice_answers: int
    retake: int | None = None  # the question being answered again, if any
    reopened: str = ""  # a finished interview reopened for that retake: the status it goes back to
    speak_questions: bool = True  # questions go out spoken too, where a voice is installed (/voice on|off)
    team: Team | None = None  # a team interview in a shared space; None for a candidate's own

    @classmethod
    def of(cls, session: Session) -> SessionView:
        """The view of a session; the route is copied, so nothing in the view changes with the session."""
        return cls(
            platform=session.platform,
            user_id=session.user_id,
            session_id=session.session_id,
            name=session.name,
            spec=session.spec,
            status=session.status,
            position=session.position,
            questions=tuple(session.questions),
            answers=tuple(session.answers),
            route=MappingProxyType(copy.deepcopy(session.route)),
            created_at=session.created_at,
            updated_at=session.updated_at,
            finished_at=session.finished_at,
            pending_count=session.pending_count,
            failed_voice_answers=session.failed_voice_answers,
            retake=session.retake,
            reopened=session.reopened,
            speak_questions=session.speak_questions,
            team=session.team,
        )

    @property
    def has_failed_voice_answer(self) -> bool:
        """A voice answer whose transcription failed can be retried from its kept recording."""
        return self.failed_voice_answers > 0
