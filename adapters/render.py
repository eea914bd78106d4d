"""Platform-neutral plain-text rendering of engine results, shared by the Telegram and Slack adapters.

Everything here returns plain text with light emphasis (emoji, bullets, capitalised headings) that both
platforms show as is: no Markdown, no HTML. Platform markup and escaping stay in each adapter.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from engine.coaching.feedback import PART_MAX
from engine.errors import EngineError
from engine.service import AnswerResult
from engine.session import ACTIVE, COMPLETED, Session
from engine.types import Feedback, Question, Report, SessionSummary

CATEGORY_LABELS = {
    "intro": "introduction",
    "behavioral": "behavioural",
    "situational": "situational",
    "technical": "technical",
    "experience": "experience",
    "gap": "skill gap",
    "motivation": "motivation",
    "closing": "closing",
}
ROUND_LABELS = {
    "full": "Full interview",
    "screening": "Screening call",
    "behavioral": "Behavioural",
    "technical": "Technical",
}
STAR_PARTS = ("situation", "task", "action", "result", "metrics")
STAR_LABELS = {"situation": "Situation", "task": "Task", "action": "Action", "result": "Result", "metrics": "Numbers"}
FIELD_LABELS = {
    "role_title": "role",
    "company_name": "company",
    "industry": "industry",
    "cv": "CV",
    "jd": "job description",
    "round_type": "round type",
    "language": "language",
    "text": "answer",
    "retry": "",
}
DEFAULT_ERROR = "Sorry, something went wrong on my side. Please try again in a moment; your interview is safe."
# Codes whose engine message, when it is not the generic default, carries specifics worth showing (limits,
# the language that has no model, why a recording was lost).
_SPECIFIC_CODES = {
    "audio_too_large", "audio_too_long", "audio_invalid", "speech_unavailable", "transcription_failed",
    "session_conflict",
}  # fmt: skip
_ERROR_WORDS = {
    "session_not_found": "There's no interview running. Send /interview to start one.",
    "session_in_progress": "You already have an interview in progress. Resume it or end it first.",
    "session_conflict": "A session with that id already exists with different settings.",
    "session_completed": "That interview is already finished. Send /report for its report or /interview "
    "to start a new one.",
    "audio_error": "I couldn't use that audio. Please record your answer again; the question is still open.",
    "audio_invalid": "I couldn't read that audio (the file may be damaged or not audio at all). Please record a "
    "new voice note; the question is still open.",
    "audio_empty": "That recording was empty. Please record your answer again; the question is still open.",
    "audio_too_large": "That recording is too large. Please keep your answer shorter; the question is still open.",
    "audio_too_long": "That recording is too long. Please keep your answer shorter; the question is still open.",
    "audio_silent": "I couldn't hear anything in that recording. Check your microphone and try again; the "
    "question is still open.",
    "speech_unavailable": "Voice answers aren't available right now. Please type your answer instead.",
    "transcription_failed": "Speech recognition failed this time. Your recording is kept: send /retry to try it "
    "again, or type your answer.",
    "shutting_down": "I'm restarting right now. Your answer is saved, and I'll send the feedback as soon as I'm back.",
    "store_locked": DEFAULT_ERROR,
}


def ago(seconds: float) -> str:
    """A short, human age such as "just now", "5m ago", "3h ago" or "2d ago"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def duration(seconds: float) -> str:
    """m:ss, the way voice notes show their length."""
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def round_label(round_type: str) -> str:
    """A round type as candidates read it ("Full interview")."""
    return ROUND_LABELS.get(round_type, round_type.capitalize())


def question_text(question: Question, number: int, total: int) -> str:
    """ "Question 3 of 8 (behavioural):" and the question on the next line."""
    category = CATEGORY_LABELS.get(question.category, question.category)
    return f"❓ Question {number} of {total} ({category}):\n{question.text}"


def current_question_text(session: Session) -> str:
    """The question the session is waiting for, numbered; or a note that it is finished."""
    question = session.current_question
    if question is None:
        return "This interview is finished. Send /report for the report."
    return question_text(question, session.position + 1, session.total)


def feedback_text(feedback: Feedback) -> str:
    """Score, pace, fillers, STAR, terms and tips: each line only when it says something."""
    lines = [f"Score: {feedback.score}/100"]
    if feedback.score_parts:
        parts = ", ".join(
            f"{name} {value}/{PART_MAX[name]}" if name in PART_MAX else f"{name} {value}"
            for name, value in feedback.score_parts.items()
        )
        lines[0] += f" ({parts})"
    if feedback.wpm is not None:
        pace = f"Pace: {feedback.wpm:.0f} words/min"
        if feedback.pace:
            pace += f" ({feedback.pace})"
        lines.append(pace)
    lines.append(f"Length: {feedback.word_count} words" + ("" if feedback.length == "ok" else f" ({feedback.length})"))
    if feedback.fillers:
        lines.append("Filler words: " + _counts(feedback.fillers))
    else:
        lines.append("Filler words: none 👍")
    if feedback.hedges:
        lines.append("Hedging: " + _counts(feedback.hedges))
    if feedback.star:
        shown = [part for part in STAR_PARTS if part in feedback.star]
        marks = "  ".join(f"{'✅' if feedback.star[part] else '▫️'} {STAR_LABELS[part]}" for part in shown)
        lines.append(f"STAR: {marks}")
    if feedback.relevant_terms:
        lines.append("Job terms you used: " + ", ".join(feedback.relevant_terms))
    if feedback.unsure_words:
        lines.append("I wasn't sure I heard: " + ", ".join(feedback.unsure_words))
    if feedback.tips:
        lines.append("Tips:")
        lines.extend(f"• {tip}" for tip in feedback.tips)
    return "\n".join(lines)


def answer_text(result: AnswerResult) -> str:
    """What the candidate said (transcript for voice) and the feedback on it."""
    answer = result.answer
    if answer.source == "skipped":
        return f"⏭ Skipped question {answer.index + 1}."
    if answer.source == "voice":
        length = f" ({duration(answer.duration)})" if answer.duration else ""
        head = f"🎙 I heard{length}:\n“{answer.text}”"
    else:
        head = "✍️ Typed answer received."
    if result.feedback is None:
        return head
    return f"{head}\n\n{feedback_text(result.feedback)}"


def report_text(report: Report) -> str:
    """The end-of-interview summary: overall score, each question, strengths, improvements, delivery."""
    state = {COMPLETED: "completed", "ended": "ended early", ACTIVE: "in progress"}.get(report.status, report.status)
    lines = [
        f"📋 Interview report: {report.role_title} at {report.company_name}",
        f"Status: {state}",
        f"Overall score: {report.overall_score}/100",
        f"Answered {report.answered} of {report.total}" + (f", skipped {report.skipped}" if report.skipped else ""),
    ]
    if report.per_question:
        lines += ["", "Per question:"]
        for item in report.per_question:
            category = CATEGORY_LABELS.get(item.category, item.category)
            score = "skipped" if item.source == "skipped" or item.score is None else f"{item.score}/100"
            via = {"voice": " 🎙", "text": " ✍️"}.get(item.source, "")
            lines.append(f"{item.index + 1}. ({category}) {_shorten(item.question, 80)}: {score}{via}")
    if report.strengths:
        lines += ["", "Strengths:", *(f"• {s}" for s in report.strengths)]
    if report.improvements:
        lines += ["", "To improve:", *(f"• {s}" for s in report.improvements)]
    delivery = []
    if report.average_wpm is not None:
        delivery.append(f"Average pace: {report.average_wpm:.0f} words/min")
    if report.total_fillers:
        delivery.append(f"Filler words: {report.total_fillers} ({_counts(report.filler_breakdown)})")
    elif report.answered:
        delivery.append("Filler words: none 👍")
    if report.top_words:
        delivery.append("Words you used most: " + ", ".join(f"{w} ({n})" for w, n in report.top_words))
    if delivery:
        lines += ["", *delivery]
    return "\n".join(lines)


def status_text(session: Session, *, now: float | None = None) -> str:
    """Where an interview stands: what it is for, progress, the open question, how long since the last move."""
    now = time.time() if now is None else now
    spec = session.spec
    skipped = sum(1 for a in session.answers if a.source == "skipped")
    state = {ACTIVE: "in progress", COMPLETED: "completed", "ended": "ended early"}.get(session.status, session.status)
    lines = [
        f"📌 {spec.role_title} at {spec.company_name} ({spec.industry})",
        f"Round: {round_label(spec.round_type)} · language: {spec.language}",
        f"Status: {state}",
        f"Progress: {session.answered_count} answered"
        + (f", {skipped} skipped" if skipped else "")
        + f" of {session.total}",
        f"Started {ago(now - session.created_at)}, last activity {ago(now - session.updated_at)}",
    ]
    if session.pending:
        lines.append(f"Voice answers still being processed: {len(session.pending)}")
    if session.current_question is not None:
        lines.append(f"Waiting for your answer to question {session.position + 1}. Send /repeat to see it again.")
    return "\n".join(lines)


def sessions_text(
    rows: Sequence[SessionSummary],
    *,
    title: str,
    offset: int = 0,
    total: int | None = None,
    now: float | None = None,
) -> str:
    """The admin table: one line per session (who, role, progress, last activity, stale flag)."""
    now = time.time() if now is None else now
    total = len(rows) if total is None else total
    if not rows:
        return f"{title}: none."
    shown = f"{offset + 1}-{offset + len(rows)} of {total}" if total > len(rows) else str(total)
    lines = [f"{title} ({shown}):"]
    for number, row in enumerate(rows, start=offset + 1):
        who = f"{row.name} ({row.platform}:{row.user_id})" if row.name else f"{row.platform}:{row.user_id}"
        parts = [
            who,
            f"{_shorten(row.role_title, 40)} at {_shorten(row.company_name, 30)}",
            row.round_type,
            f"{row.answered}/{row.total} answered",
            f"last active {ago(now - row.updated_at)}",
        ]
        if row.status != ACTIVE:
            parts.append(row.status)
        if row.stale:
            parts.append("⚠️ stale")
        lines.append(f"{number}. " + " · ".join(parts))
    return "\n".join(lines)


def help_text(prefix: str = "/") -> str:
    """The commands, one line each, written with the platform's command prefix."""
    p = prefix
    return "\n".join(
        [
            "🎤 Mock interview coach: I ask interview questions, you answer with a voice note (or by typing), "
            "and I give feedback on each answer and a report at the end.",
            "",
            f"{p}interview: set up and start an interview (or in one line: {p}interview Senior Backend Engineer "
            "at TechCorp (Technology))",
            f"{p}status: where your interview stands",
            f"{p}repeat: show the current question again",
            f"{p}skip: skip the current question",
            f"{p}retry: transcribe your last voice answer again after a failure",
            f"{p}end: end the interview now and get the report",
            f"{p}report: the report of your latest interview",
            f"{p}language [code]: the language your voice answers are transcribed in (e.g. {p}language en-us)",
            f"{p}forget: delete all your interviews and recordings",
            f"{p}help: this list",
        ]
    )


def error_message(exc: EngineError) -> str:
    """Friendly words for each engine error code; unknown codes get a polite generic apology."""
    if exc.code == "invalid_input":
        fields = getattr(exc, "fields", {}) or {}
        problems = "; ".join(f"{FIELD_LABELS.get(name, name)} {problem}".strip() for name, problem in fields.items())
        return f"That didn't work: {problems or exc.message}."
    if exc.code in _SPECIFIC_CODES and exc.message != type(exc).default_message:
        return exc.message
    return _ERROR_WORDS.get(exc.code, DEFAULT_ERROR)


def split_message(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph break, else a line break, else a space."""
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        # A paragraph or line break counts only in the second half, so pieces are not needlessly short.
        for separator, earliest in (("\n\n", limit // 2), ("\n", limit // 2), (" ", 1)):
            cut = window.rfind(separator, 0, limit + 1)
            if cut >= earliest:
                break
            cut = -1
        if cut <= 0:
            cut = limit  # one unbroken run longer than a message: cut it hard
            piece, rest = rest[:cut], rest[cut:]
        else:
            piece, rest = rest[:cut], rest[cut:].lstrip("\n ")
        if piece.strip():
            pieces.append(piece.rstrip())
    if rest.strip():
        pieces.append(rest)
    return pieces


def _counts(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{word} ×{n}" for word, n in ordered)


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
