"""A question written for the ear: what the voice should say, and in pieces it can say one at a time."""

from __future__ import annotations

import re
import unicodedata

# Longer pieces are split at a comma or a space: the model's memory and time grow with its input, and a
# sentence this long is rare enough that a pause in it does not hurt.
MAX_PIECE_CHARS = 300

# "Question 3/8: ", "Question 3 of 8 -", "(3/8)" and "3/8." at the start: the chat shows progress, the voice skips it.
_PROGRESS = re.compile(
    r"^\s*(?:(?:question|q)\s*\d+\s*(?:/|of)\s*\d+|\(\s*\d+\s*(?:/|of)\s*\d+\s*\)|\d+\s*/\s*\d+)\s*[:.)\-–—]*\s*",
    re.IGNORECASE,
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()]+", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SLACK_LINK = re.compile(r"<[^>|]+\|([^>]*)>|<(?:https?|mailto):[^>]*>")
_EMPHASIS = re.compile(r"[*`~]+")
# An underscore between letters joins a name (snake_case): say it as two words. Anywhere else it is emphasis.
_UNDERSCORE_IN_WORD = re.compile(r"(?<=[^\W_])_(?=[^\W_])")
_BULLET = re.compile(r"^\s*(?:[-•·‣▪◦]|\d+[.)])\s+", re.MULTILINE)
_HEADING = re.compile(r"^\s*#{1,6}\s*", re.MULTILINE)
_ACRONYM = r"[A-Z][A-Z0-9]{0,5}"
# Abbreviations Piper reads letter by letter or not at all. Acronyms said as letters (CV, API) are fine as they are.
_ABBREVIATIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\be\.\s?g\.,?(?=\s|$)", re.IGNORECASE), "for example,"),
    (re.compile(r"\bi\.\s?e\.,?(?=\s|$)", re.IGNORECASE), "that is,"),
    (re.compile(r"\bvs\.?(?=\s)", re.IGNORECASE), "versus"),
    (re.compile(r"\bw/o\b", re.IGNORECASE), "without"),
    (re.compile(r"\bw/(?=\s)", re.IGNORECASE), "with"),
)
# "etc." ends its sentence when a capital or the end follows; otherwise its full stop was only the abbreviation's.
_ETC_END = re.compile(r"\betc\.(?=\s*$|\s+[A-Z\"'(])")
_ETC = re.compile(r"\betc\.?(?=\W|$)")
_SLASH_ACRONYMS = re.compile(rf"\b({_ACRONYM})/({_ACRONYM})\b")  # CI/CD, TCP/IP: said as one term
_SLASH_WORDS = re.compile(r"(?<=[^\W\d_])\s*/\s*(?=[^\W\d_])")  # frontend/backend: "frontend or backend"
_AND_OR = re.compile(r"\band\s*/\s*or\b", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_REPEATED_PUNCT = re.compile(r"([,;:])(?:\s*[,;:])+")
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;:]?\s*\)")
_SPACES = re.compile(r"[ \t\u00a0]+")
# A sentence ends at . ! ? (perhaps inside quotes) before a space and anything but a small letter ("Acme Inc. and").
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]]))\s+(?=[^a-z])")


def for_the_ear(text: str) -> str:
    """The question as the voice should say it: no markdown, links or progress prefix, abbreviations spelt out.

    A chat message is written for the eye; read aloud, "e.g." and "*Question 3/8*" sound wrong, and a URL is noise.
    """
    text = unicodedata.normalize("NFC", text)
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _SLACK_LINK.sub(lambda m: m.group(1) or "", text)
    text = _URL.sub("", text)
    text = _HEADING.sub("", text)
    text = _BULLET.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _UNDERSCORE_IN_WORD.sub(" ", text).replace("_", "")
    text = "".join(ch for ch in text if not _is_pictograph(ch))
    text = _lines_to_sentences(text)
    text = _PROGRESS.sub("", text)
    for pattern, spoken in _ABBREVIATIONS:
        text = pattern.sub(spoken, text)
    text = _ETC_END.sub("and so on.", text)
    text = _ETC.sub("and so on", text)
    text = _AND_OR.sub("and or", text)
    text = _SLASH_ACRONYMS.sub(r"\1 \2", text)
    text = _SLASH_WORDS.sub(" or ", text)
    text = re.sub(r"\s*&\s*", " and ", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    text = re.sub(r",(?=[.!?])", "", text)
    return text.strip(" ,;:-–—")


def _is_pictograph(ch: str) -> bool:
    """Emoji and other pictures: Piper either skips them or reads their names, neither of which helps."""
    return unicodedata.category(ch) == "So" or ch in "\ufe0f\u200d"


def _lines_to_sentences(text: str) -> str:
    """One line each for bullets or paragraphs: each becomes a sentence, so the voice pauses between them."""
    lines = [line.strip() for line in text.splitlines()]
    spoken = []
    for line in lines:
        if not line:
            continue
        if line[-1] not in ".!?:;,…":
            line += "."
        spoken.append(line)
    return " ".join(spoken)


def split_sentences(text: str, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """The text in pieces of at most max_chars, at sentence ends first, then at commas, then at spaces.

    Each piece is synthesised on its own, so a long question costs memory in proportion to one sentence, never to
    the whole text, and nothing is ever refused for its length.
    """
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = sentence.strip()
        if sentence:
            pieces.extend(_split_long(sentence, max_chars))
    return pieces


def _split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    window = sentence[: max_chars + 1]
    cut = max(window.rfind(", "), window.rfind("; "), window.rfind(": "))
    if cut > max_chars // 3:
        cut += 1  # keep the comma with the first half
    else:
        cut = window.rfind(" ")
        if cut <= 0:
            cut = max_chars  # one enormous word: cut it anyway
    head, tail = sentence[:cut].strip(), sentence[cut:].strip()
    return [head, *_split_long(tail, max_chars)] if tail else [head]
