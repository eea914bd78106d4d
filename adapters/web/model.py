"""What the report pages show, worked out from the engine's session and report: plain values for the templates.

Nothing here touches HTML: the templates escape every string (autoescape), and the charts escape their own labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.chat.text import STAR_LABELS, STATE_LABELS, category_label, counts, duration, round_label
from adapters.web.charts import (
    Chart,
    DeliveryPoint,
    Moment,
    ScorePoint,
    Window,
    filler_chart,
    pace_chart,
    score_chart,
    timeline_chart,
    trend_chart,
)
from engine import (
    FAST_WPM,
    PART_MAX,
    SLOW_WPM,
    Answer,
    Feedback,
    ProgressEntry,
    Report,
    SessionView,
    TeamLine,
    TeamReport,
    compare_attempts,
    on_five,
)

# Fillers that are fillers wherever they stand: marked in transcripts stored before filler positions were kept.
_SOUNDS = frozenset({"um", "umm", "ummm", "uhm", "uh", "uhh", "er", "erm", "hmm", "hmmm"})
_WORD = re.compile(r"[^\w']+")
MAX_MOMENTS = 8  # "hear it again" buttons per answer: the first few moments show the pattern


@dataclass(frozen=True)
class Token:
    """One word of a transcript with what to mark on it."""

    text: str
    unsure: bool = False
    filler: bool = False
    pause_after: float | None = None  # seconds of silence after it, when a long pause followed
    pause_at: float | None = None  # where that pause fell in the recording


@dataclass(frozen=True)
class Figure:
    """One delivery figure: its name, its value in words, and whether it needs the candidate's attention."""

    name: str
    value: str
    flag: bool = False


@dataclass(frozen=True)
class Seek:
    """A moment worth hearing again: a button that plays the recording from `at`."""

    at: float
    label: str


@dataclass(frozen=True)
class Point:
    """A key point of the rubric: covered (with the candidate's words as evidence) or missed."""

    text: str
    covered: bool
    evidence: str


@dataclass(frozen=True)
class AttemptView:
    """One attempt at one question, as the page shows it."""

    attempt: int
    counts: bool  # the attempt the report counts (the best), when there are several
    source: str  # voice, text, skipped
    score: int | None
    parts: tuple[tuple[str, int, int], ...]  # (name, points, out of)
    recording_id: str  # the player's element id
    recording_url: str | None
    length: str  # m:ss of a voice answer
    tokens: tuple[Token, ...]  # the transcript (voice: as heard, marked; corrected: as heard before correction)
    text: str  # the answer as it counts (typed, or corrected)
    corrected: bool
    unsure_count: int
    filler_count: int
    points: tuple[Point, ...]
    relevance: str
    off_topic: bool
    star: tuple[tuple[str, bool], ...]
    follow_up: str
    tips: tuple[str, ...]
    figures: tuple[Figure, ...]
    timeline: Chart | None
    moments: tuple[Seek, ...]
    changes: tuple[str, ...]  # against the attempt before, for a retake
    grader: str


@dataclass(frozen=True)
class TeamNote:
    """What a teammate said about an answer: a rating's comment or a comment in the thread or group."""

    who: str
    text: str


@dataclass(frozen=True)
class TeamAnswerView:
    """A team interview's answer as the teammates rated it, beside the bot's score (both on the 1-5 scale)."""

    count: int
    overall: float | None
    parts: tuple[tuple[str, float], ...]  # content, structure, delivery averages where raters gave them
    bot: float | None
    notes: tuple[TeamNote, ...]


@dataclass(frozen=True)
class TeamView:
    """A team interview's side of the report: where it ran, who rated, and where the team and the bot disagree."""

    place: str
    interviewer: str
    raters: int
    team_overall: float | None
    bot_overall: float
    disagreements: tuple[tuple[str, float, str], ...]  # (answer label, points apart, which side liked it more)


@dataclass(frozen=True)
class QuestionView:
    index: int
    label: str
    category: str
    text: str
    spoken_url: str | None
    attempts: tuple[AttemptView, ...]
    team: TeamAnswerView | None = None


@dataclass(frozen=True)
class ReportView:
    """The whole report page."""

    role: str
    company: str
    industry: str
    round: str
    status: str
    started: datetime
    finished: datetime | None
    overall: int
    parts: tuple[tuple[str, int, int], ...]
    answered: int
    skipped: int
    total: int
    summary: str
    strengths: tuple[str, ...]
    improvements: tuple[str, ...]
    average_wpm: float | None
    fillers: str
    top_words: tuple[tuple[str, int], ...]
    charts: tuple[Chart, ...]
    questions: tuple[QuestionView, ...]
    team: TeamView | None = None


@dataclass(frozen=True)
class ProgressView:
    """The progress page: every finished interview, oldest first, and the trends."""

    entries: tuple[ProgressEntry, ...]
    labels: tuple[str, ...]
    charts: tuple[Chart, ...]
    current: str  # the session the link was made for


def report_view(
    session: SessionView,
    report: Report,
    *,
    recording_url: Any,
    spoken_url: Any,
    speaks: bool,
    team: TeamReport | None = None,
) -> ReportView:
    """The report page of one session. `recording_url(index, attempt)` and `spoken_url(index)` build the links; a
    team interview's `team` report puts the teammates' ratings and comments beside the bot's."""
    team_lines = {line.index: line for line in team.lines} if team is not None else {}
    counted = [a for a in session.counted() if a.source != "skipped" and a.feedback is not None]
    questions = []
    for index in sorted({a.index for a in session.answers}):
        attempts = session.attempts(index)
        best = max(
            attempts, key=lambda a: (a.feedback.score if a.feedback and a.source != "skipped" else -1, a.attempt)
        )
        views = []
        previous: Answer | None = None
        for answer in attempts:
            views.append(
                _attempt(session, answer, previous, counts=answer is best and len(attempts) > 1, url=recording_url)
            )
            previous = answer
        question = session.questions[index]
        questions.append(
            QuestionView(
                index=index,
                label=session.label(index),
                category=category_label(question.category),
                text=question.text,
                spoken_url=spoken_url(index) if speaks else None,
                attempts=tuple(views),
                team=_team_answer(team_lines[index]) if index in team_lines else None,
            )
        )
    score_points = [
        ScorePoint(
            f"Q{item.label or item.index + 1}",
            item.score if item.source != "skipped" else None,
            _parts_of(session, item.index),
            item.attempts,
        )
        for item in report.per_question
    ]
    delivery_points = [_delivery_point(session, a) for a in session.counted()]
    charts = [score_chart(score_points)] if score_points else []
    if any(p.wpm is not None for p in delivery_points):
        charts += [pace_chart(delivery_points, SLOW_WPM, FAST_WPM), filler_chart(delivery_points)]
    return ReportView(
        role=session.spec.role_title,
        company=session.spec.company_name,
        industry=session.spec.industry,
        round=round_label(session.spec.round_type),
        status=STATE_LABELS.get(session.status, session.status),
        started=_when(session.created_at),
        finished=_when(session.finished_at) if session.finished_at else None,
        overall=report.overall_score,
        parts=_average_parts(counted),
        answered=report.answered,
        skipped=report.skipped,
        total=report.total,
        summary=report.summary,
        strengths=report.strengths,
        improvements=report.improvements,
        average_wpm=report.average_wpm,
        fillers=counts(report.filler_breakdown) if report.total_fillers else "",
        top_words=report.top_words,
        charts=tuple(charts),
        questions=tuple(questions),
        team=_team_view(team) if team is not None else None,
    )


def _team_view(report: TeamReport) -> TeamView:
    gaps = ((line.label, line.gap or 0.0) for line in report.disagreements)
    wide = tuple((label, abs(gap), f"the {'team' if gap > 0 else 'bot'} liked it more") for label, gap in gaps)
    return TeamView(
        place=report.place,
        interviewer=report.interviewer_name or report.interviewer,
        raters=report.raters,
        team_overall=report.team_overall,
        bot_overall=on_five(report.bot_overall),
        disagreements=wide,
    )


def _team_answer(line: TeamLine) -> TeamAnswerView:
    score = line.team
    parts = tuple(
        (name, value)
        for name, value in (("content", score.content), ("structure", score.structure), ("delivery", score.delivery))
        if value is not None
    )
    notes = [TeamNote(r.rater_name or "A teammate", r.comment) for r in line.rating_comments]
    notes += [
        TeamNote(c.author_name or "A teammate", c.text if c.text or not c.voice else "(a voice note)")
        for c in line.comments
    ]
    return TeamAnswerView(score.count, score.overall, parts, line.bot_on_five, tuple(notes))


def progress_view(entries: Sequence[ProgressEntry], current: str) -> ProgressView:
    """The candidate's interviews over time, with a trend chart per figure."""
    labels = tuple(f"#{n} {_when(e.finished_at):%d %b}" for n, e in enumerate(entries, start=1))
    charts = (
        trend_chart("trend-score", "Overall score", labels, [e.score for e in entries], unit="points", top=100),
        trend_chart(
            "trend-pace", "Average pace", labels, [e.wpm for e in entries], unit="wpm", band=(SLOW_WPM, FAST_WPM)
        ),
        trend_chart(
            "trend-fillers", "Fillers per 100 words", labels, [e.fillers_per_100 for e in entries], unit="per 100 words"
        ),
        trend_chart(
            "trend-coverage",
            "Key points covered",
            labels,
            [round(e.coverage * 100) if e.coverage is not None else None for e in entries],
            unit="%",
            top=100,
        ),
    )
    return ProgressView(tuple(entries), labels, charts, current)


def _attempt(session: SessionView, answer: Answer, previous: Answer | None, *, counts: bool, url: Any) -> AttemptView:
    feedback = answer.feedback if answer.source != "skipped" else None
    delivery = (feedback.delivery if feedback else None) or {}
    tokens = _tokens(answer, feedback, delivery) if answer.source == "voice" else ()
    key = f"{answer.index}-{answer.attempt}"
    recording = url(answer.index, answer.attempt) if answer.source == "voice" and answer.audio_file else None
    points = tuple(
        Point(str(p.get("point", "")), bool(p.get("covered")), str(p.get("evidence") or ""))
        for p in (feedback.key_points if feedback else ())
    )
    relevance = feedback.relevance if feedback and feedback.relevance else {}
    pauses = [_moment(m) for m in delivery.get("pause_marks") or ()]
    fillers = [_moment(m) for m in delivery.get("filler_marks") or ()]
    windows = [
        Window(float(w.get("start", 0)), float(w.get("end", 0)), float(w.get("wpm", 0)), w.get("pace"))
        for w in delivery.get("pace_windows") or ()
    ]
    timeline = None
    if windows:
        timeline = timeline_chart(
            f"timeline-{key}", windows, pauses, fillers, float(answer.duration or 0.0), SLOW_WPM, FAST_WPM
        )
    moments = [
        Seek(w.start, f"{w.pace.capitalize()} stretch, {w.wpm:.0f} wpm") for w in windows if w.pace in ("slow", "fast")
    ]
    moments += [Seek(p.at, f"{p.seconds:.1f} s pause after “{p.word}”") for p in pauses]
    moments = sorted(moments, key=lambda m: m.at)[:MAX_MOMENTS]
    return AttemptView(
        attempt=answer.attempt,
        counts=counts,
        source=answer.source,
        score=feedback.score if feedback else None,
        parts=tuple(
            (name, feedback.score_parts.get(name, 0), PART_MAX[name])
            for name in PART_MAX
            if feedback and name in feedback.score_parts
        ),
        recording_id=f"rec-{key}",
        recording_url=recording,
        length=duration(answer.duration) if answer.duration else "",
        tokens=tokens,
        text=answer.text,
        corrected=answer.corrected,
        unsure_count=sum(t.unsure for t in tokens),
        filler_count=sum(t.filler for t in tokens),
        points=points,
        relevance=str(relevance.get("reason") or ""),
        off_topic=bool(feedback and not feedback.on_topic),
        star=tuple((STAR_LABELS.get(k, k), bool(v)) for k, v in (feedback.star if feedback else {}).items()),
        follow_up=feedback.follow_up if feedback else "",
        tips=feedback.tips if feedback else (),
        figures=_figures(feedback, delivery),
        timeline=timeline,
        moments=tuple(moments),
        changes=_changes(previous, answer) if previous is not None else (),
        grader="the model" if feedback and feedback.grader == "llm" else "the rules",
    )


def _tokens(answer: Answer, feedback: Feedback | None, delivery: Mapping[str, Any]) -> tuple[Token, ...]:
    """The words as the recogniser heard them, with unsure words, fillers and long pauses marked where they fell."""
    heard = answer.original_text or answer.text
    words = heard.split()
    unsure = {w.lower() for w in (feedback.unsure_words if feedback else ())}
    fillers: set[int] = set()
    marked = "filler_marks" in delivery
    for mark in delivery.get("filler_marks") or ():
        index, size = int(mark.get("index", -1)), int(mark.get("size", 1))
        first = str(mark.get("word", "")).split()[:1]
        if 0 <= index < len(words) and (not first or _plain(words[index]) == _plain(first[0])):
            fillers.update(range(index, min(index + size, len(words))))
    pauses = {
        int(m.get("index", -1)): (float(m.get("seconds", 0)), float(m.get("at", 0)))
        for m in delivery.get("pause_marks") or ()
    }
    tokens = []
    for n, word in enumerate(words):
        pause = pauses.get(n)
        tokens.append(
            Token(
                text=word,
                unsure=_plain(word) in unsure or word.lower() in unsure,
                filler=n in fillers or (not marked and _plain(word) in _SOUNDS),
                pause_after=pause[0] if pause else None,
                pause_at=pause[1] if pause else None,
            )
        )
    return tuple(tokens)


def _figures(feedback: Feedback | None, delivery: Mapping[str, Any]) -> tuple[Figure, ...]:
    """The delivery figures in the candidate's words, flagged where a coach would say something."""
    if feedback is None:
        return ()
    figures = []
    if feedback.wpm is not None:
        off = not SLOW_WPM <= feedback.wpm <= FAST_WPM
        figures.append(Figure("Pace", f"{feedback.wpm:.0f} words per minute", off))
    articulation = delivery.get("articulation_wpm")
    if articulation is not None:
        figures.append(Figure("Speaking rate without pauses", f"{articulation:.0f} words per minute"))
    pauses = delivery.get("pauses") or {}
    if pauses.get("count") is not None and feedback.delivery:
        longest = pauses.get("longest_seconds") or 0
        figures.append(Figure("Long pauses", f"{pauses.get('count')} (longest {longest:.1f} s)", longest >= 2.5))
    delay = delivery.get("response_delay_seconds")
    if delay is not None:
        figures.append(Figure("Before the first word", f"{delay:.1f} s", delay >= 4))
    filler_total = sum(feedback.fillers.values())
    if feedback.word_count:
        value = f"{filler_total}" + (f" ({counts(feedback.fillers)})" if filler_total else "")
        figures.append(Figure("Fillers", value, filler_total * 100 / feedback.word_count >= 5))
    pitch = delivery.get("pitch_variation_semitones")
    if pitch is not None:
        figures.append(Figure("Pitch variation", f"{pitch:.1f} semitones", bool(delivery.get("monotone"))))
    unsure = delivery.get("unsure_share")
    if unsure is not None:
        figures.append(Figure("Words the recogniser was unsure of", f"{unsure:.0%}", unsure >= 0.2))
    if feedback.word_count:
        figures.append(Figure("Words", str(feedback.word_count)))
    return tuple(figures)


def _changes(before: Answer, after: Answer) -> tuple[str, ...]:
    """What a retake changed, in plain words (engine.compare_attempts)."""
    diff = compare_attempts(before, after)
    lines = []
    old, new = diff["score"]["before"], diff["score"]["after"]
    if old is not None and new is not None:
        lines.append(f"Score {old} → {new} ({new - old:+d})")
    fillers = diff["fillers"]
    if fillers["before"] is not None and fillers["after"] is not None:
        lines.append(f"Fillers {fillers['before']} → {fillers['after']}")
    pauses = diff["pauses"]
    if pauses["before"] is not None and pauses["after"] is not None:
        lines.append(f"Long pauses {pauses['before']} → {pauses['after']}")
    wpm = diff["wpm"]
    if wpm["before"] is not None and wpm["after"] is not None:
        lines.append(f"Pace {wpm['before']:.0f} → {wpm['after']:.0f} wpm")
    lines += [f"Now covered: {p}" for p in diff["key_points_gained"]]
    lines += [f"No longer covered: {p}" for p in diff["key_points_dropped"]]
    return tuple(lines)


def _parts_of(session: SessionView, index: int) -> dict[str, int]:
    answers = session.attempts(index)
    scored = [a for a in answers if a.feedback and a.source != "skipped"]
    if not scored:
        return {}
    best = max(scored, key=lambda a: (a.feedback.score if a.feedback else -1, a.attempt))
    return dict(best.feedback.score_parts) if best.feedback else {}


def _average_parts(counted: Sequence[Answer]) -> tuple[tuple[str, int, int], ...]:
    """Each part of the score averaged over the answers that count, out of its maximum."""
    parts = []
    for name, most in PART_MAX.items():
        values = [a.feedback.score_parts[name] for a in counted if a.feedback and name in a.feedback.score_parts]
        if values:
            parts.append((name, round(sum(values) / len(values)), most))
    return tuple(parts)


def _delivery_point(session: SessionView, answer: Answer) -> DeliveryPoint:
    feedback = answer.feedback if answer.source == "voice" else None
    delivery = (feedback.delivery if feedback else None) or {}
    fillers = delivery.get("fillers_per_100")
    if fillers is None and feedback is not None and feedback.word_count:
        fillers = round(100 * sum(feedback.fillers.values()) / feedback.word_count, 1)
    pauses = (delivery.get("pauses") or {}).get("count")
    return DeliveryPoint(
        label=f"Q{session.label(answer.index)}",
        wpm=feedback.wpm if feedback else None,
        fillers_per_100=float(fillers) if fillers is not None else None,
        long_pauses=int(pauses) if pauses is not None else None,
    )


def _moment(mark: Mapping[str, Any]) -> Moment:
    return Moment(float(mark.get("at", 0)), float(mark.get("seconds", 0)), str(mark.get("word", "")))


def _plain(word: str) -> str:
    return _WORD.sub("", word.lower())


def _when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
