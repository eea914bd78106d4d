"""Formatting that every surface shares: sizes, ages and durations, labels, shortening, message splitting."""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine import ABANDONED, ACTIVE, COMPLETED, ENDED

CATEGORY_LABELS = {
    "intro": "introduction",
    "behavioral": "behavioural",
    "situational": "situational",
    "technical": "technical",
    "experience": "experience",
    "gap": "skill gap",
    "motivation": "motivation",
    "closing": "closing",
    "follow-up": "follow-up",
    "interviewer": "interviewer's own",
}


ROUND_LABELS = {
    "full": "Full interview",
    "screening": "Screening call",
    "behavioral": "Behavioural",
    "technical": "Technical",
}


STATE_LABELS = {
    ACTIVE: "in progress",
    COMPLETED: "completed",
    ENDED: "ended early",
    ABANDONED: "closed after a long time without answers",
}


STAR_PARTS = ("situation", "task", "action", "result", "metrics")


STAR_LABELS = {"situation": "Situation", "task": "Task", "action": "Action", "result": "Result", "metrics": "Numbers"}


def megabytes(size: int) -> str:
    """Sizes as people read them, one convention everywhere: MiB, labelled MB, one decimal ("20.0 MB")."""
    return f"{size / 1024 / 1024:.1f} MB"


def limit_megabytes(size: int) -> str:
    """A limit without a pointless decimal: "20 MB", but "0.5 MB"."""
    value = f"{size / 1024 / 1024:.1f}"
    return f"{value.removesuffix('.0')} MB"


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


def category_label(category: str) -> str:
    """A question category as candidates read it ("skill gap")."""
    return CATEGORY_LABELS.get(category, category)


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters, cut with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


UNSURE_MARK = "(?)"


def mark_unsure(text: str, unsure: Iterable[str]) -> str:
    """The transcript with each word the recogniser was unsure of marked "word(?)", so the candidate sees where it
    may have misheard (and can correct it)."""
    doubtful = {word.lower() for word in unsure}
    if not doubtful:
        return text
    return re.sub(
        r"[^\W_]+(?:'[^\W_]+)?",
        lambda m: m.group(0) + UNSURE_MARK if m.group(0).lower() in doubtful else m.group(0),
        text,
    )


def counts(found: dict[str, int]) -> str:
    """ "um ×3, like ×1": most frequent first."""
    ordered = sorted(found.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{word} ×{n}" for word, n in ordered)


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
