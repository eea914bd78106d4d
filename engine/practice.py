"""Practising again: comparing a retake with the attempt before, re-scoring a corrected transcript, and the
candidate's progress across finished interviews. Pure functions over sessions and feedback; the engine stores."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from engine.reports import AnswerPoint, ProgressPoint
from engine.session import Answer, Progress, Session
from engine.types import Feedback

# The parts of the score that judge what was said; delivery (pace, fillers, pauses) judges how, from the audio.
CONTENT_PARTS = ("content", "structure", "relevance")


def compare(before: Answer, after: Answer) -> dict[str, Any]:
    """What changed from one attempt at a question to the next, in the candidate's terms: the score and its parts,
    fillers, long pauses, pace, and key points newly covered or dropped (`before` may be a skip)."""
    old, new = before.feedback, after.feedback
    parts_before = dict(old.score_parts) if old else {}
    parts_after = dict(new.score_parts) if new else {}
    covered_before = _covered(old)
    covered_after = _covered(new)
    return {
        "attempt": after.attempt,
        "previous_attempt": before.attempt,
        "score": {"before": old.score if old else None, "after": new.score if new else None},
        "parts": {
            name: {"before": parts_before.get(name), "after": parts_after.get(name)}
            for name in dict.fromkeys([*parts_before, *parts_after])
        },
        "fillers": {"before": _fillers(old), "after": _fillers(new)},
        "pauses": {"before": _long_pauses(old), "after": _long_pauses(new)},
        "wpm": {"before": old.wpm if old else None, "after": new.wpm if new else None},
        "key_points_gained": [p for p in covered_after if p not in covered_before],
        "key_points_dropped": [p for p in covered_before if p not in covered_after],
    }


def corrected_feedback(heard: Feedback, reread: Feedback) -> Feedback:
    """Feedback for a transcript the candidate corrected: what was said is judged again on the corrected words
    (`reread`), how it was said stays as the audio showed it (`heard`: pace, pauses, fillers, delivery score)."""
    parts = {name: value for name, value in reread.score_parts.items() if name in CONTENT_PARTS}
    if "delivery" in heard.score_parts:
        parts["delivery"] = heard.score_parts["delivery"]
    ordered = {name: parts[name] for name in heard.score_parts if name in parts}
    ordered.update({name: value for name, value in parts.items() if name not in ordered})
    return replace(
        reread,
        score=sum(ordered.values()),
        score_parts=ordered,
        duration=heard.duration,
        wpm=heard.wpm,
        pace=heard.pace,
        fillers=dict(heard.fillers),
        unsure_words=(),  # the candidate has said what the words were
        delivery=heard.delivery,
    )


@dataclass(frozen=True)
class ProgressEntry:
    """One finished interview on the candidate's progress line."""

    session_id: str
    finished_at: float
    role_title: str
    company_name: str
    status: str
    score: int
    answered: int
    wpm: float | None
    fillers_per_100: float | None
    coverage: float | None  # share of the key points covered, over the answers judged

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "finished_at": self.finished_at,
            "role_title": self.role_title,
            "company_name": self.company_name,
            "status": self.status,
            "score": self.score,
            "answered": self.answered,
            "wpm": self.wpm,
            "fillers_per_100": self.fillers_per_100,
            "key_point_coverage": self.coverage,
        }

    def point(self) -> ProgressPoint:
        return ProgressPoint(
            when=datetime.fromtimestamp(self.finished_at, UTC),
            score=self.score,
            wpm=self.wpm,
            fillers_per_100=self.fillers_per_100,
            coverage=self.coverage,
        )


def progress(sessions: Iterable[Session], scores: dict[str, int]) -> list[ProgressEntry]:
    """The finished interviews with at least one answer, oldest first (one reopened for a retake still counts as
    finished); `scores` holds each one's overall score (from its report, so both say the same)."""
    entries = []
    for session in sessions:
        if not session.finished or not session.answered_count or session.session_id not in scores:
            continue
        counted = [a for a in session.counted() if a.source != "skipped" and a.feedback is not None]
        words = sum(a.feedback.word_count for a in counted if a.feedback)
        fillers = sum(sum(a.feedback.fillers.values()) for a in counted if a.feedback)
        voiced = [a.feedback.wpm for a in counted if a.feedback and a.feedback.wpm is not None]
        points = [p for a in counted if a.feedback for p in a.feedback.key_points]
        entries.append(
            ProgressEntry(
                session_id=session.session_id,
                finished_at=session.finished_at or session.updated_at,
                role_title=session.spec.role_title,
                company_name=session.spec.company_name,
                status=session.reopened or session.status,
                score=scores[session.session_id],
                answered=session.answered_count,
                wpm=round(sum(voiced) / len(voiced), 1) if voiced else None,
                fillers_per_100=round(100 * fillers / words, 1) if words else None,
                coverage=round(sum(bool(p.get("covered")) for p in points) / len(points), 3) if points else None,
            )
        )
    return sorted(entries, key=lambda e: e.finished_at)


def chart_points(progress: Progress) -> list[AnswerPoint]:
    """The report chart's data: per question reached, its best attempt's score, parts and delivery."""
    points = []
    for answer in progress.counted():
        feedback = answer.feedback if answer.source != "skipped" else None
        points.append(
            AnswerPoint(
                label=f"Q{progress.label(answer.index)}",
                score=feedback.score if feedback else None,
                parts=dict(feedback.score_parts) if feedback else {},
                wpm=feedback.wpm if feedback else None,
                fillers_per_100=_per_100(feedback) if feedback and answer.source == "voice" else None,
                long_pauses=_long_pauses(feedback) if answer.source == "voice" else None,
                retakes=len(progress.attempts(answer.index)) - 1,
            )
        )
    return points


def _covered(feedback: Feedback | None) -> list[str]:
    return [str(p.get("point", "")) for p in (feedback.key_points if feedback else ()) if p.get("covered")]


def _fillers(feedback: Feedback | None) -> int | None:
    return sum(feedback.fillers.values()) if feedback else None


def _per_100(feedback: Feedback) -> float | None:
    """Fillers per 100 words: the delivery analysis's count (it tells a filler "like" from a verb) when there is one."""
    measured = (feedback.delivery or {}).get("fillers_per_100")
    if isinstance(measured, int | float):
        return float(measured)
    return round(100 * sum(feedback.fillers.values()) / feedback.word_count, 1) if feedback.word_count else None


def _long_pauses(feedback: Feedback | None) -> int | None:
    """Silences of a second or more between words in a voice answer (the delivery analysis); None without one."""
    if feedback is None or not feedback.delivery:
        return None
    pauses = feedback.delivery.get("pauses") or {}
    count = pauses.get("count")
    return int(count) if isinstance(count, int) else None
