"""Per-question rubrics (data/rubrics.json) and the rule grader: which key points an answer covers, and whether it
addresses the question at all.

Cues match words, not characters: the answer is lower-cased, stripped of punctuation, its contractions expanded and
its words lightly stemmed, and a long cue word also matches two or three recognised words written as one ("idem
potent" is "idempotent"), so a voice transcript grades like typed text. Only the rubric's topic cues decide
relevance (the question's own subject, never the job in general); key points count as covered only in an answer
that is on topic.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from engine.coaching.questions import (
    DATA_DIR,
    all_skills,
    bank_questions,
    extract_skills,
    question_templates,
    skill_info,
    skill_mentions,
)
from engine.types import Question

__all__ = ["GRADER", "Grade", "KeyPoint", "PointResult", "Rubric", "grade_answer", "normalise", "rubric_for"]

logger = logging.getLogger(__name__)

GRADER = "rules"
ON_TOPIC_WEIGHT = 1.0  # topical evidence an answer needs before it counts as addressing the question
WEAK_WEIGHT = 0.5  # a '~' cue: a word the subject shares with everyday talk
SKILL_WEIGHT = 2.0  # naming the very skill a skill question asks about
# Covering this many key points with the question's own cues (not shared ones) also shows the answer is on topic,
# however it is worded: a persuasion story need not say "persuade". Off-topic answers cover at most two.
POINTS_ON_TOPIC = 3
POINT_WEIGHT = 0.5  # what each such key point adds to the strength of a topical answer
SPECIFIC_WORDS = 2  # content words of its own that make an answer without the topic an answer to something else
MAX_GAP = 3  # words a lone '*' in a cue may skip
JOIN_MIN = 5  # cue words this long also match a run of two or three recognised words ("dead line", "roll back")
MAX_EVIDENCE = 3
PLACEHOLDERS = ("role", "company", "industry", "skill")
SPECIALS = frozenset({"skill", "related_skill", "any_skill"})
# What a question reads as when its text could not be matched to its template (an old stored question).
_DEFAULT_VALUES = {"role": "", "company": "the company", "industry": "", "skill": "the skill"}


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_NUMBER_WORDS = _wordset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand
    thousands million millions billion billions dozen half twice"""
)
_NUMBER_RE = re.compile(r"\d+(?:st|nd|rd|th|s|k|m|x|ms|pc)?")
_UNK = re.compile(r"\[unk\]|<unk>", re.IGNORECASE)
_APOSTROPHES = re.compile(r"[’‘`´]")
_CONTRACTIONS = (
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\bi'm\b"), "i am"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
    (re.compile(r"'s\b"), ""),
)
# Recognisers and hurried typists drop the apostrophe; "id", "ill" and "well" stay words.
_BARE_CONTRACTIONS = {
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "cannot": "can not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "isnt": "is not",
    "wasnt": "was not",
    "werent": "were not",
    "arent": "are not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "wont": "will not",
    "im": "i am",
    "ive": "i have",
    "youre": "you are",
    "theyre": "they are",
    "weve": "we have",
}
_WORD_RE = re.compile(r"[^\W_]+")
_STOP = _wordset(
    """a about after again all also am an and any are as at be because been before being both but by can could
    did do does doing down during each few for from further had has have having he her here him his how i if in
    into is it its me more most my no nor not now of off on once only or other our out over own same she should
    so some such than that the their them then there these they this those through to too under until up us very
    was we were what when where which while who whom why will with would you your yours tell describe walk give
    example time times happened handle approach like just really thing things way lot did make made get got"""
)


def normalise(text: str) -> list[str]:
    """The words of `text` as the grader sees them: lower case, no punctuation, contractions spelled out."""
    lowered = _APOSTROPHES.sub("'", _UNK.sub(" ", text)).lower()
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    words: list[str] = []
    for word in _WORD_RE.findall(lowered.replace("'", "")):
        words.extend(_BARE_CONTRACTIONS.get(word, word).split())
    return words


def _stem(word: str) -> str:
    """A light stemmer, applied alike to cues and answers: retry/retries/retried, use/used/using, plan/planned,
    prioritise/prioritize meet; it never needs to be a real word."""
    w = word
    if len(w) >= 5 and w.endswith(("ies", "ied")):
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif len(w) >= 4 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ys")):
        w = w[:-1]
    if len(w) >= 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) >= 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiouslz":
        w = w[:-1]
    if len(w) >= 3 and w.endswith("e") and w != "one":
        w = w[:-1]
    if len(w) >= 5 and w.endswith(("is", "ys")):
        w = w[:-1] + "z"
    if len(w) >= 4 and w.endswith("y") and w[-2] not in "aeiou":
        w = w[:-1] + "i"
    return w


def _is_number(word: str) -> bool:
    return word in _NUMBER_WORDS or bool(_NUMBER_RE.fullmatch(word))


# ----- cues --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    kind: str  # "word" (compared as stems), "prefix" (the word as spoken starts with it), "num", "gap"
    value: str = ""
    size: int = 0  # letters in the cue word: long ones may also match a split word

    def matches(self, word: str) -> bool:
        if self.kind == "prefix":
            return word.startswith(self.value)
        if self.kind == "num":
            return _is_number(word)
        return _stem(word) == self.value


@dataclass(frozen=True)
class Cue:
    """One phrase to look for; `special` cues look for skills through the lexicon instead of words."""

    text: str
    terms: tuple[_Term, ...] = ()
    weight: float = 1.0
    special: str = ""
    shared: bool = False  # from a shared group: common to many questions, so no sign of this one's subject


def _parse(text: str) -> tuple[_Term, ...]:
    terms: list[_Term] = []
    for piece in text.split():
        if piece == "*":
            terms.append(_Term("gap"))
        elif piece == "#num":
            terms.append(_Term("num"))
        elif piece.endswith("*"):
            words = normalise(piece[:-1])
            terms += [_Term("word", _stem(w), len(w)) for w in words[:-1]]
            if words:
                terms.append(_Term("prefix", words[-1], len(words[-1])))
        else:
            terms += [_Term("word", _stem(w), len(w)) for w in normalise(piece)]
    while terms and terms[0].kind == "gap":
        terms.pop(0)
    while terms and terms[-1].kind == "gap":
        terms.pop()
    return tuple(terms)


class _Text:
    """An answer's words, indexed so that each cue is looked up rather than tried at every position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = normalise(text)
        self.stems = [_stem(w) for w in self.words]
        self.by_stem: dict[str, list[tuple[int, int]]] = {}
        self.joined_by_stem: dict[str, list[tuple[int, int]]] = {}
        raw: list[tuple[str, int, int]] = []
        joined: list[tuple[str, int, int]] = []
        for i, word in enumerate(self.words):
            self.by_stem.setdefault(self.stems[i], []).append((i, 1))
            raw.append((word, i, 1))
            for size in (2, 3):
                if i + size <= len(self.words):
                    glued = "".join(self.words[i : i + size])
                    self.joined_by_stem.setdefault(_stem(glued), []).append((i, size))
                    joined.append((glued, i, size))
        self.raw = sorted(raw)
        self.joined = sorted(joined)
        self.numbers = [(i, 1) for i, w in enumerate(self.words) if _is_number(w)]
        self._offsets = [0]  # character offsets already converted to word positions, ascending
        self._positions = [0]

    def _starts(self, term: _Term) -> list[tuple[int, int]]:
        """Where the first word of a cue occurs: (position, words it spans)."""
        if term.kind == "num":
            return self.numbers
        if term.kind == "word":
            found = list(self.by_stem.get(term.value, ()))
            if term.size >= JOIN_MIN:
                found += self.joined_by_stem.get(term.value, ())
            return found
        found = []
        for table, allowed in ((self.raw, True), (self.joined, term.size >= JOIN_MIN)):
            if not allowed:
                continue
            i = bisect.bisect_left(table, (term.value, -1, 0))
            while i < len(table) and table[i][0].startswith(term.value):
                found.append((table[i][1], table[i][2]))
                i += 1
        return found

    def _spans(self, term: _Term, at: int) -> Iterator[int]:
        """How many words `term` takes when it matches at position `at`."""
        if at >= len(self.words):
            return
        if self.stems[at] == term.value if term.kind == "word" else term.matches(self.words[at]):
            yield 1
        if term.size >= JOIN_MIN and term.kind != "num":
            for size in (2, 3):
                if at + size <= len(self.words) and term.matches("".join(self.words[at : at + size])):
                    yield size

    def _rest(self, terms: Sequence[_Term], at: int) -> int | None:
        if not terms:
            return at
        term = terms[0]
        if term.kind == "gap":
            for skip in range(MAX_GAP + 1):
                end = self._rest(terms[1:], at + skip)
                if end is not None:
                    return end
            return None
        for size in self._spans(term, at):
            end = self._rest(terms[1:], at + size)
            if end is not None:
                return end
        return None

    def find(self, terms: Sequence[_Term]) -> tuple[int, int] | None:
        """The first place the cue's words occur, as (start, end) word positions, or None."""
        if not terms:
            return None
        for start, size in sorted(self._starts(terms[0])):
            end = self._rest(terms[1:], start + size)
            if end is not None:
                return start, end
        return None

    def words_between(self, start: int, end: int) -> str:
        return " ".join(self.words[start:end])

    def position(self, char_offset: int) -> int:
        """The word position of a character offset at a word boundary (where skill mentions start)."""
        i = bisect.bisect_right(self._offsets, char_offset) - 1
        if self._offsets[i] == char_offset:
            return self._positions[i]
        # Count only the words since the nearest known offset: an answer full of skills stays linear.
        position = self._positions[i] + len(normalise(self.text[self._offsets[i] : char_offset]))
        self._offsets.insert(i + 1, char_offset)
        self._positions.insert(i + 1, position)
        return position


# ----- rubrics -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPoint:
    """What a strong answer covers, in plain words, with the cues that show it is there."""

    point: str
    cues: tuple[Cue, ...]


@dataclass(frozen=True)
class Rubric:
    """A question's rubric, with its template's placeholders filled in."""

    asks: str  # completes "The question asked ..."
    points: tuple[KeyPoint, ...]
    topic: tuple[Cue, ...]
    skill: str = ""
    source: str = "bank"  # "bank", "template" or "fallback"


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / "rubrics.json").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _bank_texts() -> dict[str, str]:
    return {q["id"]: q["text"] for q in bank_questions()}


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    seen: set[str] = set()
    for name in PLACEHOLDERS:
        marker = re.escape("{" + name + "}")
        while marker in pattern:
            group = f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
            pattern = pattern.replace(marker, group, 1)
            seen.add(name)
    return re.compile(pattern, re.DOTALL)


def _read_back(template: str, text: str) -> dict[str, str] | None:
    """The values the planner put into `template` to make `text`, or None when the text is not from it."""
    match = _template_regex(template).fullmatch(text.strip())
    return {k: v.strip() for k, v in match.groupdict().items()} if match else None


def _content_words(text: str) -> set[str]:
    return {_stem(w) for w in normalise(text) if len(w) >= 4 and w not in _STOP}


def _closest_template(templates: Iterable[str], text: str) -> str:
    """The template a question was made from: an exact read-back, else the one sharing most words with it."""
    candidates = list(templates)
    for template in candidates:
        if _read_back(template, text) is not None:
            return template
    words = _content_words(text)
    return max(candidates, key=lambda t: len(words & _content_words(t)))


def rubric_for(question: Question) -> Rubric:
    """The rubric for a planned question: the bank's by id, a template's for skill questions, else a fallback."""
    return _rubric(question.id, question.category, question.text, question.skill)


@lru_cache(maxsize=1024)
def _rubric(qid: str, category: str, text: str, skill: str) -> Rubric:
    data = _data()
    values = dict(_DEFAULT_VALUES)
    source = "bank"
    raw: dict[str, Any]
    if qid in data["questions"]:
        raw = data["questions"][qid]
        values.update(_read_back(_bank_texts().get(qid, ""), text) or {})
    elif category in ("experience", "gap"):
        template = _closest_template(question_templates()[category], text)
        raw = data[f"{category}_templates"][template]
        values.update(_read_back(template, text) or {})
        source = "template"
    else:
        raw = data["fallback"].get(category) or data["fallback"]["default"]
        source = "fallback"
    if skill:
        info = skill_info(skill)
        values["skill"] = info.phrase if info else skill
    asks = _fill(raw.get("asks", ""), values) if source != "fallback" else f"“{text.strip()}”"
    topic = _cues(raw.get("topic", ()), values)
    if source == "fallback":
        # Without a written rubric, the question's own words say what it is about.
        topic += [Cue(word, (_Term("word", word, len(word)),)) for word in sorted(_content_words(text))]
    points = tuple(KeyPoint(_fill(p["point"], values), tuple(_cues(p["cues"], values))) for p in raw["points"])
    return Rubric(asks=asks, points=points, topic=tuple(topic), skill=skill, source=source)


def _fill(text: str, values: dict[str, str]) -> str:
    for name in PLACEHOLDERS:
        text = text.replace("{" + name + "}", values.get(name, ""))
    return re.sub(r"\s{2,}", " ", text).strip()


def _cues(raw: Iterable[str], values: dict[str, str], weight: float = 1.0, depth: int = 0) -> list[Cue]:
    cues: list[Cue] = []
    for text in raw:
        own = weight
        if text.startswith("~"):
            own, text = weight * WEAK_WEIGHT, text[1:]
        if text.startswith("@"):
            name = text[1:]
            if name in SPECIALS:
                weighted = own * (SKILL_WEIGHT if name == "skill" else 1.0)
                cues.append(Cue(text, weight=weighted, special=name, shared=depth > 0 or name == "related_skill"))
            elif depth < 3:
                cues += _cues(_data()["shared"][name], values, own, depth + 1)
            continue
        if any("{" + name + "}" in text for name in PLACEHOLDERS):
            placeholders = [n for n in PLACEHOLDERS if "{" + n + "}" in text]
            if any(not values.get(n) or values[n] == _DEFAULT_VALUES[n] for n in placeholders):
                continue  # a name the question text did not give: nothing to look for
            text = _fill(text, values)
        terms = _parse(text)
        if terms:
            cues.append(Cue(text, terms, own, shared=depth > 0))
    return cues


# ----- grading -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointResult:
    """One key point as judged in one answer: covered or not, and the answer's words that showed it."""

    point: str
    covered: bool
    evidence: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "covered": self.covered, "evidence": self.evidence}


@dataclass(frozen=True)
class Grade:
    """The grader's verdict on one answer."""

    on_topic: bool
    reason: str
    asks: str
    strength: float  # topic cues found, plus POINT_WEIGHT for each key point its own cues show
    points: tuple[PointResult, ...]
    evidence: tuple[str, ...] = ()  # the topical words found, strongest first
    judged: bool = True  # False for an answer in another language: the rubrics are written in English
    general: bool = False  # on topic only for want of anything specific: no topic cue, but nothing else said either

    @property
    def coverage(self) -> float:
        return sum(p.covered for p in self.points) / len(self.points) if self.points else 0.0

    def relevance(self) -> dict[str, Any]:
        if self.general:
            return {"on_topic": True, "reason": self.reason, "specificity": "low"}
        return {"on_topic": self.on_topic, "reason": self.reason}

    def key_points(self) -> tuple[dict[str, Any], ...]:
        return tuple(p.to_dict() for p in self.points)


@dataclass(frozen=True)
class _Hit:
    weight: float
    evidence: str
    position: int
    span: tuple[int, int] | None  # word positions, for cues made of words


def _related(skill: str) -> tuple[frozenset[str], frozenset[str]]:
    """(names of other lexicon skills sharing a domain with `skill`, those domains)."""
    info = skill_info(skill) if skill else None
    if info is None:
        return frozenset(), frozenset()
    domains = frozenset(d for d in info.domains if d != "general")
    names = frozenset(s.name for s in all_skills() if s.name != info.name and domains & set(s.domains))
    return names, domains


@lru_cache(maxsize=256)
def _domain_cues(domains: frozenset[str]) -> tuple[Cue, ...]:
    terms = _data()["domain_terms"]
    return tuple(_cues([t for d in sorted(domains) for t in terms.get(d, ())], {}, WEAK_WEIGHT))


def _hits(cue: Cue, text: _Text, mentions: list[tuple[str, int, int]], skill: str) -> list[_Hit]:
    """Where one cue is found in the answer (the first place for a word cue; every skill for a skill cue)."""
    if not cue.special:
        span = text.find(cue.terms)
        if span is None:
            return []
        return [_Hit(cue.weight, text.words_between(*span), span[0], span)]
    if cue.special == "skill" and skill and skill_info(skill) is None:
        # A skill the lexicon does not know: look for its name as words.
        return _hits(Cue(skill, _parse(skill), cue.weight), text, mentions, "")
    hits: list[_Hit] = []
    related, domains = _related(skill) if cue.special == "related_skill" else (frozenset(), frozenset())
    for name, start, end in mentions:
        wanted = (
            name == skill if cue.special == "skill" else name in related if cue.special == "related_skill" else True
        )
        if wanted:
            hits.append(_Hit(cue.weight, text.text[start:end].lower(), text.position(start), None))
    if cue.special == "related_skill":
        for domain_cue in _domain_cues(domains):
            hits += _hits(domain_cue, text, mentions, skill)
    return hits


def _tally(hits: list[_Hit]) -> tuple[float, list[str]]:
    """Total topical weight, counting each stretch of the answer and each word once, and the words found."""
    used: set[int] = set()
    seen: set[str] = set()
    total = 0.0
    evidence: list[str] = []
    for hit in sorted(hits, key=lambda h: (-h.weight, h.position)):
        if hit.evidence in seen:
            continue
        if hit.span is not None:
            positions = set(range(*hit.span))
            if positions & used:
                continue
            used |= positions
        seen.add(hit.evidence)
        total += hit.weight
        evidence.append(hit.evidence)
    return total, evidence


def grade_answer(question: Question, answer: str) -> Grade:
    """Judge one answer against its question's rubric: relevance first, then each key point."""
    rubric = rubric_for(question)
    text = _Text(answer)
    if not text.words:
        points = tuple(PointResult(p.point, False, None) for p in rubric.points)
        return Grade(False, "There was no answer to judge.", rubric.asks, 0.0, points)
    if sum(word.isascii() for word in text.words) * 2 < len(text.words):
        # Mostly another script (a Korean voice answer): English cues can say nothing about it, least of all that
        # it is off-topic.
        points = tuple(PointResult(p.point, False, None) for p in rubric.points)
        return Grade(True, "Not judged: the rubrics are in English.", rubric.asks, 0.0, points, judged=False)
    mentions = skill_mentions(answer)
    topical = [hit for cue in rubric.topic for hit in _hits(cue, text, mentions, rubric.skill)]
    weight, evidence = _tally(topical)
    found_by_point = [
        [(cue, hit) for cue in p.cues for hit in _hits(cue, text, mentions, rubric.skill)] for p in rubric.points
    ]
    specific = sum(any(not cue.shared for cue, _ in found) for found in found_by_point)
    on_topic = weight >= ON_TOPIC_WEIGHT or specific >= POINTS_ON_TOPIC
    # No sign of the topic, but nothing else said either ("I'd keep everyone happy"): a vague answer to this
    # question, not an answer to another one.
    general = not on_topic and not _says_something_else(text, question.text, answer)
    strength = weight + POINT_WEIGHT * specific
    results: list[PointResult] = []
    for point, pairs in zip(rubric.points, found_by_point, strict=True):
        # An answer to another question covers none of this one's points, whatever words it shares with them.
        found = [hit for _, hit in pairs] if on_topic else []
        shown: list[str] = []
        used: set[int] = set()
        for hit in sorted(found, key=lambda h: (h.position, -(h.span[1] - h.span[0]) if h.span else 0)):
            positions = set(range(*hit.span)) if hit.span else set()
            if hit.evidence in shown or positions & used:
                continue
            used |= positions
            shown.append(hit.evidence)
        results.append(PointResult(point.point, bool(shown), ", ".join(shown[:MAX_EVIDENCE]) or None))
    if general:
        reason = f"The question asked {rubric.asks}, and the answer names nothing specific."
    elif on_topic:
        # The topic's own words first, then the words that covered key points.
        shown_words: list[str] = []
        for word in [*evidence, *(p.evidence.split(", ")[0] for p in results if p.evidence)]:
            if word not in shown_words:
                shown_words.append(word)
        reason = f"It addresses the question (it mentions {_join([f'“{e}”' for e in shown_words[:3]])})."
    else:
        reason = f"The question asked {rubric.asks}; I couldn't find that in this answer."
        named = [info.phrase if (info := skill_info(name)) else name for name in extract_skills(answer)]
        if named:
            reason += f" It talks about {_join(named[:3])} instead."
    logger.debug(
        "graded question=%s source=%s on_topic=%s strength=%.1f covered=%d/%d",
        question.id,
        rubric.source,
        on_topic,
        strength,
        sum(p.covered for p in results),
        len(results),
    )
    return Grade(on_topic or general, reason, rubric.asks, strength, tuple(results), tuple(evidence), general=general)


@lru_cache(maxsize=1)
def _generic_words() -> frozenset[str]:
    return frozenset(_stem(word) for word in _data()["generic_words"])


def _says_something_else(text: _Text, question: str, answer: str) -> bool:
    """Whether an answer without the question's topic says something specific of its own: a number, a named
    skill, or two content words that are neither everyday generic words nor the question's own."""
    if any(_NUMBER_RE.fullmatch(word) or word in _NUMBER_WORDS for word in text.words) or extract_skills(answer):
        return True
    own = _content_words(answer) - _generic_words() - _content_words(question)
    return len(own) >= SPECIFIC_WORDS


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
