"""Pure parsing of what users type: the one-line interview start, round types, commands.

Everything here is linear in the input (no backtracking regexes over user text), and shared by every surface,
so "/interview Head of Data at Scale at Google (AI)" means the same on Telegram and Slack.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import ROUND_TYPES

DEFAULT_INDUSTRY = "General"  # the engine plans no question around this placeholder
DEFAULT_ROUND = "full"
ROUND_ALIASES = {
    "full": "full",
    "screening": "screening",
    "screen": "screening",
    "phone": "screening",
    "behavioral": "behavioral",
    "behavioural": "behavioral",
    "behavior": "behavioral",
    "behaviour": "behavioral",
    "technical": "technical",
    "tech": "technical",
}
# Words that join role and company: "Backend Engineer at TechCorp", "Backend Engineer @ TechCorp".
_JOINERS = (" at ", " @ ")


@dataclass(frozen=True)
class OneLine:
    """The parts of a one-line start, before the engine validates them."""

    role: str
    company: str
    industry: str = DEFAULT_INDUSTRY
    round_type: str = DEFAULT_ROUND


def round_type(word: str) -> str | None:
    """The round type a word names ("Behavioural", "tech"), or None."""
    found = ROUND_ALIASES.get(word.strip().lower().rstrip(".,;:"))
    return found if found in ROUND_TYPES else None


def parse_one_line(text: str) -> OneLine | None:
    """`Role at Company (Industry) round`: industry and round type optional; None if there is no role/company.

    The last " at " splits role from company ("Head of Data at Scale at Google" is a role at Google); a round
    type may come last, with or without brackets before it; an unclosed bracket is part of the company.
    """
    words = text.split()
    if not words:
        return None
    round_name = DEFAULT_ROUND
    if len(words) > 1 and (found := round_type(words[-1])) is not None:
        rest = " ".join(words[:-1])
        # "Engineer at Technical" names a company: only take the word when something is left after " at ".
        if _split_role(rest) is not None:
            round_name, words = found, words[:-1]
    line = " ".join(words)
    industry = DEFAULT_INDUSTRY
    if line.endswith(")"):
        opening = line.rfind("(")
        if opening > 0:
            inside = line[opening + 1 : -1].strip()
            if "(" not in inside and ")" not in inside:
                industry = inside or DEFAULT_INDUSTRY
                line = line[:opening].rstrip()
    parts = _split_role(line)
    if parts is None:
        return None
    return OneLine(role=parts[0], company=parts[1], industry=industry, round_type=round_name)


def _split_role(line: str) -> tuple[str, str] | None:
    lowered = f" {line.lower()} "
    cut, width = max(((lowered.rfind(j), len(j)) for j in _JOINERS), key=lambda found: found[0])
    if cut < 0:
        return None
    padded = f" {line} "
    role, company = padded[:cut].strip(), padded[cut + width :].strip()
    if not role or not company:
        return None
    return role, company


def split_command(text: str) -> tuple[str, str]:
    """("repeat", "") from "/repeat@InterviewBot"; the first word without slash or bot name, and the rest."""
    head, _, rest = text.strip().partition(" ")
    name = head.lstrip("/").split("@", 1)[0].lower()
    return name, " ".join(rest.split())
