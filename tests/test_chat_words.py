"""The chat layer's text helpers: splitting long messages to fit a platform, ages and sizes in words."""

from __future__ import annotations

from adapters.chat import Words, megabytes, split_message
from adapters.chat.text import ago
from engine import errors


def test_split_message_prefers_paragraphs_then_lines_then_words() -> None:
    words = " ".join(f"word{n}" for n in range(2000))
    pieces = split_message(words, 4096)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces) == words  # cut between words, never inside one

    lines = "\n".join("line " + "x" * 70 for _ in range(150))
    pieces = split_message(lines, 4096)
    assert all(len(p) <= 4096 and p.startswith("line") for p in pieces)
    assert "\n".join(pieces) == lines

    blob = "y" * 10_000  # nothing to cut at: hard cuts, still nothing lost
    assert "".join(split_message(blob, 4096)) == blob
    assert split_message("short", 4096) == ["short"]


def test_ages_and_sizes_in_words() -> None:
    assert [ago(s) for s in (5, 300, 3 * 3600 + 5, 2 * 86400)] == ["just now", "5m ago", "3h ago", "2d ago"]
    assert megabytes(31 * 1024 * 1024) == "31.0 MB"
    # The engine's own message (what HTTP clients read) is unchanged; chats say it in the chat layer's words.
    specific = errors.AudioTooLarge(31 * 1024 * 1024, 20 * 1024 * 1024)
    assert specific.message == "The audio file is 31 MB; the limit is 20 MB."


def test_a_general_answer_is_called_too_general_not_off_topic() -> None:
    from engine.coaching.feedback import analyze_answer
    from engine.types import Question

    question = Question("beh-002", "behavioral", "Describe a situation where you had to meet a tight deadline.")
    vague = analyze_answer(question, "I always try my best and keep everyone happy.", job_terms=())
    assert vague.on_topic and vague.relevance is not None and vague.relevance["specificity"] == "low"
    lines = Words.feedback(vague).splitlines()
    assert any(line.startswith("🔎 Too general: the question asked about a time you had") for line in lines)
    assert not any("Off-topic" in line for line in lines)
    off = analyze_answer(question, "I enjoy hiking in the Alps and cooking Thai curries.", job_terms=())
    assert not off.on_topic and any(line.startswith("⚠️ Off-topic") for line in Words.feedback(off).splitlines())
