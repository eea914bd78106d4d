"""Answer feedback: a deterministic, explainable analysis of each answer, and the end-of-interview report."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from engine.coaching.questions import extract_skills, job_terms, skill_info, skill_mentions, title_domains
from engine.coaching.rubrics import GRADER, Grade, grade_answer
from engine.session import ENDED, Answer, Session
from engine.speech.delivery import FAST_WPM, SLOW_WPM, UNSURE_CONF, Delivery, DeliveryNote, ranked_notes
from engine.types import Feedback, Question, QuestionScore, Report, Transcript

__all__ = ["analyze_answer", "build_report", "job_terms"]

logger = logging.getLogger(__name__)

STAR_CATEGORIES = ("behavioral", "situational")
TERM_CATEGORIES = ("technical", "experience", "gap")
LONG_WORDS = 350
LONG_SECONDS = 180.0
MIN_WORDS_FOR_PACE = 10  # fewer words say nothing reliable about speaking rate
PART_MAX = {"content": 35, "structure": 25, "delivery": 25, "relevance": 15}
OFF_TOPIC_CAP = 30  # an answer that does not address the question never scores above this
CONTENT_FLOOR = 0.2  # share of the content part an on-topic answer earns before covering any key point
# Where each kind of delivery note ranks among the tips (engine.speech.delivery.ranked_notes): a long silence or a flat
# voice is as noticeable to an interviewer as a missing result; a slow or fast stretch in an answer of good pace less.
_DELIVERY_SEVERITY = {"pause": 65, "voice": 60, "pace": 52, "delay": 45, "clarity": 30}


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_UNK = re.compile(r"\[unk\]|<unk>", re.IGNORECASE)
_WORD = re.compile(r"\w+(?:'\w+)*")
_TOKEN = re.compile(r"\w+(?:'\w+)*|[.,!?;:]")
_SENTENCE_PUNCT = frozenset(".!?;:")

# Spoken variants folded into one filler name.
_SINGLE_FILLERS = {
    "um": "um",
    "umm": "um",
    "ummm": "um",
    "uhm": "um",
    "hmm": "hmm",
    "hmmm": "hmm",
    "uh": "uh",
    "uhh": "uh",
    "er": "er",
    "erm": "er",
    "basically": "basically",
    "actually": "actually",
    "literally": "literally",
}
_HEDGE_PHRASES = {
    ("i", "think"): "i think",
    ("i", "guess"): "i guess",
    ("i", "suppose"): "i suppose",
    ("maybe",): "maybe",
    ("probably",): "probably",
    ("perhaps",): "perhaps",
    ("might",): "might",
    ("i'm", "not", "sure"): "i'm not sure",
    ("im", "not", "sure"): "i'm not sure",
    ("i", "am", "not", "sure"): "i'm not sure",
    ("not", "sure"): "i'm not sure",
}
# "like" is a verb or a preposition after these ("I like", "would like", "looks like", "things like").
_LIKE_NOT_FILLER_AFTER = _wordset(
    "i you we they he she would i'd we'd you'd they'd don't didn't doesn't do does did not really also "
    "look looks looked feel feels felt seem seems seemed sound sounds sounded something anything nothing "
    "things stuff more less much exactly very people just"
)
_SUBJECTS = _wordset("i we you they he she it it's there that's this")
_INTENSIFIERS = _wordset("really super so totally just literally basically very um uh")
_YOU_KNOW_NOT_AFTER = _wordset("do did don't didn't if as would could should will might whether let to make")
_YOU_KNOW_NOT_BEFORE = _wordset(
    "how that the about it this him her them a an which where who whether when why me us each everyone "
    "everything exactly"
)
# "what kind of", "this sort of": a real noun, not a filler.
_KIND_OF_NOT_AFTER = _wordset(
    "what which this that the a an any some every each these those one same different other no all "
    "new right wrong first only"
)

_STAR_PATTERNS = {
    "situation": (
        r"\b(when|while) (i|we) (was|were|worked|joined|had|led|started|moved)\b",
        r"\b(at|in) (my|our) (last|previous|current|old|first|former) \w+",
        r"\b(last|this|that) (year|quarter|month|summer|spring|autumn|fall|winter|sprint|week)\b",
        r"\bin (19|20)\d\d\b",
        r"\b(a few|two|three|several) (years|months|weeks) ago\b",
        r"\bthe (situation|context|background|problem|issue|challenge|project) (was|is|were)\b",
        r"\bthere (was|were)\b",
        r"\bwe were\b",
        r"\bi was (working|leading|part of|on a|on the|a |an |the )",
        r"\bif (the|a|my|our|this|that|someone|a customer|i|we)\b",
    ),
    "task": (
        r"\bmy (task|job|role|goal|responsibility|aim|objective|priority|first priority) (was|is|would be)\b",
        r"\bi was (responsible|in charge|asked|tasked|expected|supposed|hired|brought in)\b",
        r"\b(responsible for|in charge of|my responsibility)\b",
        r"\b(i|we) (needed|had|wanted) to\b",
        r"\bthe (goal|aim|objective|target|deadline|task|priority) (was|is|would be)\b",
        r"\bi('d| would)? need to\b",
        r"\bmy (first )?priority\b",
        r"\bmake sure\b",
    ),
    "action": (
        r"\bi (\w+ly )?(?!needed\b|wanted\b|hoped\b|liked\b|loved\b|enjoyed\b|learned\b|learnt\b)\w+ed\b",
        r"\bi (\w+ly )?(built|wrote|led|made|ran|set up|took|spoke|met|gave|found|brought|began|chose|drove|sent|"
        r"put|got|did|broke|taught|sat down|went|kept|held|rewrote|rebuilt|dug|split|cut|shipped|"
        r"reached out|paid|began|sought)\b",
        r"\b(i would|i'd|i will|i'll) (first |then |also |probably |start by )?\w+",
        r"\b(first|then|next|after that),? i\b",
        r"\bso i\b",
        r"\b(my approach|what i did)\b",
    ),
    "result": (
        r"\bas a result\b",
        r"\bresult(ed|s)?\b",
        r"\bin the end\b",
        r"\boutcome\b",
        r"\bwhich (led|meant|helped|allowed|saved|cut|reduced|increased|improved)\b",
        r"\b(we|i|it|this|that|the team|they) (\w+ly )?(reduced|increased|cut|saved|improved|delivered|shipped|"
        r"launched|grew|doubled|halved|tripled|won|hit|met|exceeded|finished|beat|recovered|closed|retained|"
        r"dropped|fell|rose|went down|went up)\b",
        r"\b(dropped|fell|rose|grew|went down|went up) (by|from|to)\b",
        r"\bended up\b",
        r"\b(eventually|ultimately|finally)\b",
        r"\bimpact\b",
        r"\bi (learned|learnt)\b",
        r"\blesson\b",
        r"\b(so that|that way)\b",
        r"\bsuccess(ful|fully)?\b",
    ),
}
_STAR_RE = {part: re.compile("|".join(patterns)) for part, patterns in _STAR_PATTERNS.items()}
_NUMBER_RE = re.compile(
    r"\d|%|\bper ?cent\b|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|million|millions|billion|"
    r"half|twice|doubled|halved|tripled)\b"
)
_REASON_RE = re.compile(r"\b(because|since|so that|which means|which meant|that's why|the reason|in order to|due to)\b")
_SIGNPOST_RE = re.compile(
    r"\b(first|firstly|second|secondly|then|next|after that|finally|lastly|overall|in short|to sum up|"
    r"in summary|the main|the key|my approach)\b"
)
_EXAMPLE_RE = re.compile(
    r"\b(for example|for instance|such as|e\.g\.|when i|at my|in my (last|previous|current|old)|one time|"
    r"recently|last year|a project)\b"
)

# Words too common to say anything about an answer ("most used words" and question overlap skip them).
STOP_WORDS = _wordset(
    """a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during
    each few for from further get got had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    just let's lot lots me more most much mustn't my myself no nor not now of off on once one only or other
    ought our ours ourselves out over own really same shan't she she'd she'll she's should shouldn't so some
    something such than that that's the their theirs them themselves then there there's these they they'd
    they'll they're they've thing things think this those through to too under until up us very was wasn't we
    we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why
    why's will with won't would wouldn't yeah yes you you'd you'll you're you've your yours yourself yourselves
    okay ok well went go going gonna want wanted make made also even still quite way like know mean sort kind
    tell describe walk give example time times did work worked"""
)
_FILLER_WORDS = frozenset(_SINGLE_FILLERS) | {"like", "so", "know", "mean", "sort", "kind"}
_HEDGE_WORDS = frozenset({"maybe", "probably", "perhaps", "might", "guess", "suppose", "sure"})


@dataclass(frozen=True)
class _Tip:
    severity: int  # higher first; only the top three reach the candidate
    text: str


def analyze_answer(
    question: Question, text: str, *, job_terms: Sequence[str], transcript: Transcript | None = None
) -> Feedback:
    """Score one answer out of 100 and give one to three concrete tips.

    The content is judged against the question's rubric (engine.coaching.rubrics): whether the answer addresses the
    question at all (relevance) and which of its key points it covers. score = content (35: key points covered, for
    an answer on topic; length does not count) + structure (25: STAR parts for behavioural and situational
    questions, otherwise reasons, signposts and examples) + delivery (25: fillers, hedges and, for voice, pace;
    scaled down for very short answers) + relevance (15: how clearly the answer is about the question's subject).
    An off-topic answer earns no content or relevance points and never scores above 30; an answer mostly in another
    language is not judged by the English rubrics and keeps the form-based content and relevance parts (length,
    numbers, named specifics; job terms). Voice answers (a
    transcript) also get duration, words per minute over the speaking time (first word start to last word end) and
    pace; typed answers have none of those. Pace is always reported but only costs points or earns a tip from ten
    words up. An empty answer scores 0 with one tip. A voice answer's delivery analysis (Transcript.delivery: pauses,
    pace per stretch, pitch...) is carried into Feedback.delivery and its notes compete for the tips; it never scores.
    """
    clean = _UNK.sub(" ", text.replace("’", "'")).strip()
    lowered = clean.lower()
    words = _WORD.findall(lowered)
    word_count = len(words)
    star_question = question.category in STAR_CATEGORIES
    short_limit = 40 if star_question else 20

    duration = wpm = pace = None
    unsure: tuple[str, ...] = ()
    delivery = None
    notes: list[DeliveryNote] = []
    if transcript is not None:
        duration = round(transcript.duration, 2)
        wpm = _words_per_minute(transcript, word_count)
        pace = None if wpm is None else "slow" if wpm < SLOW_WPM else "fast" if wpm > FAST_WPM else "good"
        unsure = _unsure_words(transcript)
        if transcript.delivery is not None:
            delivery = dict(transcript.delivery)
            notes = ranked_notes(Delivery.from_dict(delivery))

    fillers, hedges = _count_fillers_and_hedges(lowered)
    terms = list(job_terms)
    if question.skill and question.skill.lower() not in {t.lower() for t in terms}:
        terms.append(question.skill)
    used_terms = _terms_used(clean, terms)
    star = {part: bool(pattern.search(lowered)) for part, pattern in _STAR_RE.items()} if star_question else {}
    has_number = bool(_NUMBER_RE.search(lowered))
    if star:
        star["metrics"] = has_number

    grade = grade_answer(question, clean)

    if word_count < short_limit:
        length = "short"
    elif word_count > LONG_WORDS or (duration or 0) > LONG_SECONDS:
        length = "long"
    else:
        length = "ok"

    parts = _score_parts(
        lowered,
        words,
        grade,
        length=length,
        has_number=has_number,
        named=bool(used_terms or extract_skills(clean)),
        used_terms=used_terms,
        terms=terms,
        short_limit=short_limit,
        star=star,
        fillers=fillers,
        hedges=hedges,
        pace=pace,
        wpm=wpm,
    )
    tips = _tips(
        question,
        word_count,
        length=length,
        duration=duration,
        wpm=wpm,
        pace=pace,
        fillers=fillers,
        hedges=hedges,
        star=star,
        has_number=has_number,
        used_terms=used_terms,
        terms=terms,
        unsure=unsure,
        grade=grade,
        job_related=bool(used_terms) or _job_related(clean, terms),
        delivery_notes=notes,
    )
    return Feedback(
        score=sum(parts.values()),
        score_parts=parts,
        word_count=word_count,
        duration=duration,
        wpm=wpm,
        pace=pace,
        fillers=fillers,
        hedges=hedges,
        relevant_terms=tuple(used_terms),
        star=star,
        length=length,
        unsure_words=unsure,
        tips=tips,
        relevance=grade.relevance() if grade.judged else None,
        key_points=grade.key_points() if grade.judged else (),
        grader=GRADER,
        delivery=delivery,
    )


def _words_per_minute(transcript: Transcript, word_count: int) -> float | None:
    """Speaking rate over the time actually spoken: leading and trailing silence do not make anyone slow."""
    timed = [w for w in transcript.words if not _UNK.fullmatch(w.word.strip())]
    if timed:
        seconds = timed[-1].end - timed[0].start
        count = len(timed)
    else:
        seconds = transcript.duration
        count = word_count
    if count == 0 or seconds <= 0:
        return None
    return round(count * 60.0 / seconds, 1)


def _unsure_words(transcript: Transcript) -> tuple[str, ...]:
    unsure: list[str] = []
    for word in transcript.words:
        if word.conf < UNSURE_CONF and not _UNK.fullmatch(word.word.strip()) and word.word not in unsure:
            unsure.append(word.word)
    return tuple(unsure)


def _count_fillers_and_hedges(lowered: str) -> tuple[dict[str, int], dict[str, int]]:
    """Count filler words and hedging phrases; ambiguous words ("like", "so", "kind of") only where they fill."""
    tokens = _TOKEN.findall(lowered)
    fillers: Counter[str] = Counter()
    hedges: Counter[str] = Counter()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        prev = tokens[i - 1] if i > 0 else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        hedge = _match_hedge(tokens, i)
        if hedge:
            key, size = hedge
            hedges[key] += 1
            i += size
            continue
        if token in _SINGLE_FILLERS:
            fillers[_SINGLE_FILLERS[token]] += 1
        elif token == "like" and _like_is_filler(prev, nxt):
            fillers["like"] += 1
        elif token == "so" and (not prev or prev in _SENTENCE_PUNCT):
            fillers["so"] += 1
        elif token == "you" and nxt == "know" and prev not in _YOU_KNOW_NOT_AFTER:
            after = tokens[i + 2] if i + 2 < len(tokens) else ""
            if after not in _YOU_KNOW_NOT_BEFORE:
                fillers["you know"] += 1
                i += 2
                continue
        elif token in ("kind", "sort") and nxt == "of" and prev not in _KIND_OF_NOT_AFTER:
            fillers[f"{token} of"] += 1
            i += 2
            continue
        elif token == "i" and nxt == "mean" and prev != "what":
            fillers["i mean"] += 1
            i += 2
            continue
        i += 1
    return _ranked(fillers), _ranked(hedges)


def _match_hedge(tokens: list[str], i: int) -> tuple[str, int] | None:
    for size in (4, 3, 2, 1):
        key = _HEDGE_PHRASES.get(tuple(tokens[i : i + size]))
        if key:
            return key, size
    return None


def _like_is_filler(prev: str, nxt: str) -> bool:
    """ "It was, like, huge" and "and like we just" fill; "I like", "looks like" and "things like" do not."""
    if prev in _LIKE_NOT_FILLER_AFTER:
        return False
    if nxt == "," or (prev in (",", "") and (nxt in _SUBJECTS or nxt in _SENTENCE_PUNCT)):
        return True
    return prev in ("and", "so", "but", "um", "uh", "was", "like", ",") and (nxt in _SUBJECTS or nxt in _INTENSIFIERS)


def _ranked(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _terms_used(text: str, terms: Sequence[str]) -> list[str]:
    """Job terms the answer mentions: skills through their aliases ("postgres" is PostgreSQL), words as words."""
    skills_found = {s.lower() for s in extract_skills(text)}
    used: list[str] = []
    for term in terms:
        if skill_info(term) is not None:
            hit = term.lower() in skills_found
        else:
            hit = bool(re.search(rf"(?<!\w){re.escape(term)}(?:s|es)?(?!\w)", text, re.IGNORECASE))
        if hit and term not in used:
            used.append(term)
    return used


def _job_related(text: str, terms: Sequence[str]) -> bool:
    """Whether an answer is about the job's kind of work without naming its terms: a payment service moved to Python
    microservices is backend work, so a backend engineer is not told to "mention backend"."""
    domains: set[str] = set()
    for term in terms:
        info = skill_info(term)
        domains.update(info.domains if info else title_domains(term))
    domains.discard("general")
    for name, _, _ in skill_mentions(text):
        info = skill_info(name)
        if info and domains & set(info.domains):
            return True
    return False


def _score_parts(
    lowered: str,
    words: list[str],
    grade: Grade,
    *,
    length: str,
    has_number: bool,
    named: bool,
    used_terms: list[str],
    terms: list[str],
    short_limit: int,
    star: dict[str, bool],
    fillers: dict[str, int],
    hedges: dict[str, int],
    pace: str | None,
    wpm: float | None,
) -> dict[str, int]:
    word_count = len(words)
    if word_count == 0:
        return dict.fromkeys(PART_MAX, 0)
    # Very short answers earn delivery credit only in proportion to what was said.
    size = min(1.0, word_count / short_limit)

    if not grade.judged:
        # An answer the rubric cannot read (another language) keeps the form-based parts it always had: length for
        # the question type, numbers and named specifics; job terms used.
        ideal_min = 80 if star else 40
        length_points = 15 if length == "long" else round(25 * min(1.0, word_count / ideal_min))
        content = length_points + (5 if has_number else 0) + (5 if named else 0)
        relevance = min(10, 4 * len(used_terms)) if terms else round(5 * size)
    elif grade.on_topic:
        content = round(PART_MAX["content"] * (CONTENT_FLOOR + (1 - CONTENT_FLOOR) * grade.coverage))
        # One clear topical cue earns 10 of 15; three or more, all of it; none (a general answer), a third.
        relevance = min(PART_MAX["relevance"], 10 + int(2.5 * (grade.strength - 1) + 0.5))
        if grade.general:
            relevance = PART_MAX["relevance"] // 3
    else:
        content = relevance = 0

    if star:
        structure = 5 * star["situation"] + 4 * star["task"] + 8 * star["action"] + 8 * star["result"]
    else:
        structure = (
            9 * bool(_REASON_RE.search(lowered))
            + 8 * bool(_SIGNPOST_RE.search(lowered))
            + 8 * bool(_EXAMPLE_RE.search(lowered))
        )

    penalty = min(12, round(sum(fillers.values()) * 100 / word_count * 1.2))
    penalty += min(6, 2 * max(0, sum(hedges.values()) - 1))
    if pace in ("slow", "fast") and wpm is not None and word_count >= MIN_WORDS_FOR_PACE:
        distance = SLOW_WPM - wpm if pace == "slow" else wpm - FAST_WPM
        penalty += min(8, 3 + round(distance / 10))
    delivery = max(0, round(PART_MAX["delivery"] * size - penalty))

    if not grade.on_topic and structure + delivery > OFF_TOPIC_CAP:
        # Form alone cannot lift an answer to another question: scale it down to the cap, parts still adding up.
        structure = round(structure * OFF_TOPIC_CAP / (structure + delivery))
        delivery = OFF_TOPIC_CAP - structure

    return {"content": content, "structure": structure, "delivery": delivery, "relevance": relevance}


def _tips(
    question: Question,
    word_count: int,
    *,
    length: str,
    duration: float | None,
    wpm: float | None,
    pace: str | None,
    fillers: dict[str, int],
    hedges: dict[str, int],
    star: dict[str, bool],
    has_number: bool,
    used_terms: list[str],
    terms: list[str],
    unsure: tuple[str, ...],
    grade: Grade,
    job_related: bool,
    delivery_notes: Sequence[DeliveryNote] = (),
) -> tuple[str, ...]:
    """The three most useful things to change, most important first; never none.

    Delivery notes (voice answers) compete with the other tips, except where a tip already says the same: a whole
    answer too slow or fast needs no slow or fast stretch named, and the unsure-word tip covers clarity.
    """
    if word_count == 0:
        return ("I didn't catch an answer. Give it a go: even three or four sentences are good practice.",)
    tips: list[_Tip] = []
    missed = [p.point for p in grade.points if not p.covered] if grade.judged else []
    if not grade.on_topic:
        tips.append(_Tip(95, f"Answer the question asked: it asked {grade.asks}. Start there, then give an example."))
    elif grade.general:
        tips.append(
            _Tip(
                90,
                f"Be specific: it asked {grade.asks}. Give one real example: what you did, how, and what came of it.",
            )
        )
    elif missed and grade.coverage < 0.5:
        tips.append(_Tip(68, f"Cover what interviewers listen for here: {_join(missed[:2])}."))
    elif missed:
        tips.append(_Tip(40, f"To make it complete, also cover: {missed[0]}."))
    if length == "short":
        if star:
            tips.append(
                _Tip(
                    90,
                    f"Give more detail: {word_count} words is short for this question; aim for 1–2 "
                    "minutes that walk through the situation, your task, what you did and the result.",
                )
            )
        else:
            tips.append(
                _Tip(
                    90, f"Say a little more: {word_count} words is brief; add your reasoning and one concrete example."
                )
            )
    elif length == "long":
        spoken = f" ({duration / 60:.1f} minutes)" if duration and duration > LONG_SECONDS else ""
        tips.append(
            _Tip(
                75,
                f"Tighten it: {word_count} words{spoken} is long; lead with your main point and aim "
                "for under two minutes.",
            )
        )
    covered: set[str] = set()
    if pace in ("slow", "fast") and wpm is not None and word_count >= MIN_WORDS_FOR_PACE:
        covered.add("pace")
        if pace == "fast":
            tips.append(_Tip(80, f"Slow down: {wpm:.0f} words per minute; aim for 130–160."))
        else:
            tips.append(_Tip(78, f"Pick up the pace a little: {wpm:.0f} words per minute; aim for 130–160."))
    total_fillers = sum(fillers.values())
    if total_fillers >= 3 or (total_fillers >= 2 and total_fillers * 100 / word_count >= 5):
        top, top_count = next(iter(fillers.items()))
        if top_count == total_fillers:
            text = f"You said '{top}' {top_count} times; pause silently instead of filling the gap."
        else:
            listed = ", ".join(f"'{k}' {n}" for k, n in list(fillers.items())[:3])
            text = f"You used {total_fillers} filler words ({listed}); pause silently instead of filling the gap."
        tips.append(_Tip(70 + min(total_fillers, 9), text))
    total_hedges = sum(hedges.values())
    if total_hedges >= 2:
        listed = ", ".join(f"'{_display(k)}'" for k in list(hedges)[:3])
        tips.append(
            _Tip(
                55,
                f"Sound more certain: you hedged {total_hedges} times ({listed}); state what you did "
                "and what you know.",
            )
        )
    if star:
        if not star["result"]:
            tips.append(_Tip(66, "Close with the result, ideally a number (time saved, % improved, customers helped)."))
        elif not has_number:
            tips.append(_Tip(45, "Put a number on the result (for example 'cut response time by 40%') so it sticks."))
        if not star["action"]:
            tips.append(
                _Tip(
                    64,
                    "Say what you did yourself: use 'I' and concrete verbs (I built, I led, I decided), not only 'we'.",
                )
            )
        if not star["situation"]:
            tips.append(_Tip(50, "Open with a sentence of context: where you were and what was at stake."))
        if not star["task"]:
            tips.append(
                _Tip(42, "Make your goal clear: what were you responsible for, and what did success look like?")
            )
    if question.skill and question.skill not in used_terms:
        skill = skill_info(question.skill)
        tips.append(
            _Tip(62, f"Name {skill.phrase if skill else question.skill} explicitly and say what you did with it.")
        )
    elif question.category in TERM_CATEGORIES and terms and not job_related and grade.on_topic:
        tips.append(_Tip(35, f"Connect it to the job: mention {_join(terms[:3], 'or')} where it's true for you."))
    if len(unsure) >= 3 and len(unsure) >= 0.1 * word_count:
        covered.add("clarity")
        tips.append(
            _Tip(
                30,
                f"Some words were hard to make out ({', '.join(unsure[:3])}); speak a little more "
                "clearly or closer to the microphone.",
            )
        )
    tips.extend(_Tip(_DELIVERY_SEVERITY.get(n.kind, 30), n.text) for n in delivery_notes if n.kind not in covered)
    if not tips:
        if star:
            text = "Strong answer: keep this situation, task, action and result shape for your other stories."
        elif has_number:
            text = "Good answer: clear and specific. Keep this style for the rest of the interview."
        else:
            text = "Good answer: to make it memorable, add one concrete example with a number."
        tips.append(_Tip(0, text))
    tips.sort(key=lambda t: -t.severity)
    return tuple(t.text for t in tips[:3])


def _display(phrase: str) -> str:
    return re.sub(r"\bi\b", "I", phrase.replace("i'm", "I'm"))


def _join(items: Sequence[str], word: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


# ----- the report ---------------------------------------------------------------------------------------------


def build_report(session: Session) -> Report:
    """Summarise a session, finished or not (an interview ended before any answer still has a report).

    overall_score is the mean score over the questions the candidate reached: each answered question counts its
    score and each skipped one counts 0; questions never reached (the interview ended early) do not count. With no
    question reached it is 0. per_question lists the reached questions in order (skipped: score None).
    """
    terms = job_terms(session.spec)
    answers = session.counted()  # a retaken question counts its best attempt
    per_question: list[QuestionScore] = []
    answered: list[tuple[Answer, Feedback]] = []
    for answer in answers:
        feedback = None
        if answer.source != "skipped":
            # Stored answers always carry feedback; recomputing keeps an old or hand-made record reportable.
            feedback = answer.feedback or analyze_answer(answer.question, answer.text, job_terms=terms)
            answered.append((answer, feedback))
        per_question.append(
            QuestionScore(
                index=answer.index,
                question=answer.question.text,
                category=answer.question.category,
                source=answer.source,
                score=feedback.score if feedback else None,
                label=session.label(answer.index),
                attempts=len(session.attempts(answer.index)),
            )
        )
    skipped = len(answers) - len(answered)
    reached = len(answers)
    overall = int(sum(f.score for _, f in answered) / reached + 0.5) if reached else 0

    voice_wpm = [f.wpm for a, f in answered if a.source == "voice" and f.wpm is not None]
    average_wpm = round(sum(voice_wpm) / len(voice_wpm), 1) if voice_wpm else None
    filler_totals: Counter[str] = Counter()
    for _, feedback in answered:
        filler_totals.update(feedback.fillers)

    report = Report(
        session_id=session.session_id,
        role_title=session.spec.role_title,
        company_name=session.spec.company_name,
        status=session.status,
        overall_score=overall,
        answered=len(answered),
        skipped=skipped,
        total=session.total,
        per_question=tuple(per_question),
        strengths=_strengths(answered, average_wpm, filler_totals),
        improvements=_improvements(session, answered, skipped, terms, filler_totals),
        average_wpm=average_wpm,
        total_fillers=sum(filler_totals.values()),
        filler_breakdown=_ranked(filler_totals),
        top_words=_top_words([a.text for a, _ in answered]),
        summary=session.summary,
    )
    logger.debug(
        "report session=%s overall=%d answered=%d skipped=%d", session.session_id, overall, len(answered), skipped
    )
    return report


def _strengths(
    answered: list[tuple[Answer, Feedback]], average_wpm: float | None, fillers: Counter[str]
) -> tuple[str, ...]:
    strengths: list[str] = []
    feedbacks = [f for _, f in answered]
    star = [f for f in feedbacks if f.star]
    structured = [f for f in star if f.star.get("situation") and f.star.get("action") and f.star.get("result")]
    if structured and len(structured) * 2 >= len(star):
        strengths.append(f"Used STAR structure ({len(structured)} of {len(star)} behavioural answers)")
    if average_wpm is not None and SLOW_WPM <= average_wpm <= FAST_WPM:
        strengths.append(f"Good pace ({average_wpm:.0f} words per minute on average)")
    mentioned: Counter[str] = Counter()
    for feedback in feedbacks:
        mentioned.update(feedback.relevant_terms)
    if mentioned:
        # Counter.most_common keeps first-seen order among equal counts.
        strengths.append("Mentioned " + _join([t for t, _ in mentioned.most_common(4)]))
    graded = [f for f in feedbacks if f.key_points]
    covered = sum(bool(p.get("covered")) for f in graded for p in f.key_points)
    listened_for = sum(len(f.key_points) for f in graded)
    if graded and all(f.on_topic for f in graded) and covered * 10 >= listened_for * 6:
        strengths.append(f"Covered what interviewers listen for ({covered} of {listened_for} key points)")
    if any(f.star.get("metrics") and f.star.get("result") for f in star):
        strengths.append("Backed results with numbers")
    words = sum(f.word_count for f in feedbacks)
    if words >= 60 and sum(fillers.values()) * 100 / words < 2:
        strengths.append("Few filler words")
    if len(feedbacks) >= 2 and all(f.length == "ok" for f in feedbacks):
        strengths.append("Well-sized answers")
    return tuple(strengths[:4])


def _improvements(
    session: Session,
    answered: list[tuple[Answer, Feedback]],
    skipped: int,
    terms: list[str],
    fillers: Counter[str],
) -> tuple[str, ...]:
    """The three issues seen most often (ties in the order below), each with its figures."""
    feedbacks = [f for _, f in answered]
    n = len(feedbacks)
    issues: list[tuple[int, str]] = []

    def add(count: int, text: str) -> None:
        if count:
            issues.append((count, text))

    add(skipped, f"Answer every question (skipped: {skipped}); even a short attempt is useful practice.")
    off_topic = sum(not f.on_topic for f in feedbacks)
    add(off_topic, f"Answer the question that was asked (off-topic: {off_topic} of {n}); start with what it asks.")
    general = sum(f.on_topic and (f.relevance or {}).get("specificity") == "low" for f in feedbacks)
    add(general, f"Be specific (general answers: {general} of {n}); give a real example with what you did.")
    short = sum(f.length == "short" for f in feedbacks)
    add(short, f"Give fuller answers (short: {short} of {n}); aim for 1–2 minutes with a concrete example.")
    star = [f for f in feedbacks if f.star]
    no_result = sum(not f.star.get("result") for f in star)
    add(
        no_result, f"End behavioural answers with the result, ideally a number (missing in {no_result} of {len(star)})."
    )
    voice = [f for a, f in answered if a.source == "voice" and f.wpm is not None]
    fast = sum(f.pace == "fast" and f.word_count >= MIN_WORDS_FOR_PACE for f in voice)
    slow = sum(f.pace == "slow" and f.word_count >= MIN_WORDS_FOR_PACE for f in voice)
    add(fast, f"Slow down: over {FAST_WPM} words per minute in {fast} of {len(voice)} voice answers; aim for 130–160.")
    add(
        slow,
        f"Speak a little faster: under {SLOW_WPM} words per minute in {slow} of {len(voice)} voice answers; "
        "aim for 130–160.",
    )
    heavy = sum(sum(f.fillers.values()) >= 3 for f in feedbacks)
    if heavy:
        top, top_count = fillers.most_common(1)[0]
        add(heavy, f"Cut filler words: {sum(fillers.values())} in total, most often '{top}' ({top_count}).")
    hedge_totals: Counter[str] = Counter()
    for feedback in feedbacks:
        hedge_totals.update(feedback.hedges)
    hedgy = sum(sum(f.hedges.values()) >= 2 for f in feedbacks)
    if hedgy:
        listed = _join([f"'{_display(h)}'" for h, _ in hedge_totals.most_common(2)], "or")
        add(hedgy, f"Sound more certain: cut phrases like {listed} and say what you did and know.")
    long = sum(f.length == "long" for f in feedbacks)
    add(long, f"Keep answers tighter (long: {long} of {n}); lead with your main point and aim for under two minutes.")
    mentioned = {t for f in feedbacks for t in f.relevant_terms}
    unused = [t for t in terms if t not in mentioned]
    untied = sum(
        a.question.category in TERM_CATEGORIES
        and f.on_topic
        and not f.relevant_terms
        and not _job_related(a.text, terms)
        for a, f in answered
    )
    if unused:
        add(untied, f"Tie answers to the job: mention {_join(unused[:3])} where it's true for you.")
    reached = n + skipped
    if session.status == ENDED and reached < session.total:
        add(1, f"Finish the interview: you reached {reached} of {session.total} questions before ending it.")
    order = {text: i for i, (_, text) in enumerate(issues)}
    issues.sort(key=lambda issue: (-issue[0], order[issue[1]]))
    return tuple(text for _, text in issues[:3])


def _top_words(texts: Sequence[str], limit: int = 5) -> tuple[tuple[str, int], ...]:
    """The candidate's most repeated words (at least twice), leaving out stop words, fillers and hedges."""
    counts: Counter[str] = Counter()
    for text in texts:
        for word in _WORD.findall(_UNK.sub(" ", text.replace("’", "'")).lower()):
            if (
                len(word) >= 3
                and not word.isdigit()
                and word not in STOP_WORDS
                and word not in _FILLER_WORDS
                and word not in _HEDGE_WORDS
            ):
                counts[word] += 1
    return tuple((w, c) for w, c in counts.most_common() if c >= 2)[:limit]
