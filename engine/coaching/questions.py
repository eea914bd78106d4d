"""Interview planning: the skills lexicon matcher and the question planner for each round type."""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.errors import InvalidInput
from engine.types import InterviewSpec, Question

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
# The bank and the templated questions are written in English: the English voice speaks them, whatever language the
# candidate answers in (that one is the recogniser's).
QUESTION_LANGUAGE = "en-us"
ROUND_TYPES: tuple[str, ...] = ("full", "screening", "behavioral", "technical")
# Placeholder industries (the one-line /interview form defaults to "General"): no question is built around them.
GENERIC_INDUSTRIES = frozenset({"general", "other", "any", "n/a", "none", "-"})
DOMAINS = ("backend", "frontend", "data", "devops", "mobile", "ml", "security", "product", "design", "sales", "general")

# Ordinary aliases: not glued to a word, nor to the '+', '#' or '@' of another token; a dot only counts as a
# boundary when it is not inside a word ("asp.net" holds no ".net", "node.js" no "js", but "...Python" is Python).
_LEFT = r"(?<![\w#+@])(?<!\w\.)"
_RIGHT = r"(?![\w+#])(?!\.\w)"
# Exact-case aliases are short English words (Go, C, R, Swift): stricter, so "Go-to-market", "C-level", "R&D"
# and "Go's" stay plain English.
_STRICT_LEFT = r"(?<![\w#+@&'’.-])"
_STRICT_RIGHT = r"(?![\w+#&'’-])(?!\.\w)"
_LIST_FOLLOWER = re.compile(r"[ \t]*(?:[,/:(]|$|\n)")

# Role-title words that say nothing about the job's subject (seniority, generic job nouns, glue words).
_TITLE_FILLER = frozenset(
    (
        "a",
        "an",
        "and",
        "the",
        "of",
        "for",
        "in",
        "at",
        "to",
        "with",
        "senior",
        "sr",
        "junior",
        "jr",
        "lead",
        "principal",
        "staff",
        "head",
        "chief",
        "intern",
        "trainee",
        "associate",
        "assistant",
        "ii",
        "iii",
        "iv",
        "mid",
        "level",
        "entry",
        "graduate",
        "engineer",
        "engineering",
        "developer",
        "programmer",
        "specialist",
        "manager",
        "officer",
        "representative",
        "executive",
        "consultant",
        "analyst",
        "scientist",
        "administrator",
        "coordinator",
        "director",
        "architect",
        "expert",
        "professional",
        "member",
        "team",
        "remote",
        "hybrid",
        "contract",
        "contractor",
        "freelance",
        "full",
        "time",
        "part",
        "designer",
        "researcher",
        "writer",
    )
)

# Title phrases mapped to domains; the title is the strongest signal of what the job is about.
_TITLE_DOMAINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"back[\s-]?end|server[\s-]?side|\bapi\b|platform engineer", ("backend",)),
    (r"front[\s-]?end|web developer|ui engineer|javascript", ("frontend",)),
    (r"full[\s-]?stack", ("backend", "frontend")),
    (r"data scien", ("data", "ml")),
    (r"machine learning|\bml\b|\bai\b|deep learning|\bnlp\b|computer vision|mlops", ("ml", "data")),
    (r"\bdata\b|analytics|\bbi\b|business intelligence|statistic", ("data",)),
    (r"devops|\bsre\b|site reliability|\bcloud\b|infrastructure|platform|systems? admin|release", ("devops",)),
    (r"\bios\b|android|mobile|flutter|react native", ("mobile",)),
    (r"security|secops|penetration|\bsoc\b|cyber", ("security",)),
    (r"product (?:manager|owner|lead|director)|\bpm\b|\bpo\b", ("product",)),
    (r"design|\bux\b|\bui\b|researcher", ("design",)),
    (
        r"sales|account (?:executive|manager)|business development|customer|support|success|marketing|\bsdr\b|\bbdr\b",
        ("sales",),
    ),
)


@dataclass(frozen=True)
class Skill:
    """One lexicon entry (engine/coaching/data/skills.json)."""

    name: str
    aliases: tuple[str, ...]
    exact: tuple[str, ...]
    domains: tuple[str, ...]
    common: bool  # a common noun ("machine learning"): lower-cased inside sentences

    @property
    def phrase(self) -> str:
        """The name as it reads mid-sentence: "machine learning", but "Python" and "UX design" unchanged."""
        if self.common and len(self.name) > 1 and self.name[1].islower():
            return self.name[0].lower() + self.name[1:]
        return self.name


def _atoms(alias: str) -> list[str]:
    """Regex pieces of one alias: a space matches any run of spaces or hyphens, a hyphen is optional."""
    return [r"[\s-]+" if ch == " " else r"[\s-]?" if ch == "-" else re.escape(ch) for ch in alias]


def _alias_key(text: str) -> str:
    """What identifies a matched alias: "Machine-Learning" and "machine learning" share a key."""
    return re.sub(r"[\s-]+", "", text.lower())


def _trie_regex(aliases: list[str]) -> str:
    """One regex for many aliases, factored by shared prefixes: a flat alternation of a thousand aliases tried at
    every position is a hundred times slower. Longer continuations are tried first, so "spark streaming" wins over
    "spark" and "c++17" over "c++"."""
    trie: dict[str, Any] = {}
    for alias in aliases:
        node = trie
        for atom in _atoms(alias):
            node = node.setdefault(atom, {})
        node[""] = {}

    def depth(node: dict[str, Any]) -> int:
        return max((1 + depth(child) for atom, child in node.items() if atom), default=0)

    def build(node: dict[str, Any]) -> str:
        branches = sorted(((atom, child) for atom, child in node.items() if atom), key=lambda b: (-depth(b[1]), b[0]))
        if not branches:
            return ""
        alternatives = [atom + build(child) for atom, child in branches]
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, Skill], re.Pattern[str], dict[str, str], dict[str, str]]:
    """Skills by lower-cased name, the matcher, and the skill owning each alias key (loose) or exact alias."""
    data = json.loads((DATA_DIR / "skills.json").read_text(encoding="utf-8"))
    skills: dict[str, Skill] = {}
    loose: dict[str, str] = {}
    exact: dict[str, str] = {}
    for raw in data["skills"]:
        skill = Skill(
            name=raw["name"],
            aliases=tuple(a.lower() for a in raw.get("aliases", ())),
            exact=tuple(raw.get("exact", ())),
            domains=tuple(raw.get("domains", ("general",))),
            common=bool(raw.get("common", False)),
        )
        skills[skill.name.lower()] = skill
        for alias in skill.aliases:
            owner = loose.setdefault(_alias_key(alias), skill.name)
            if owner != skill.name:
                raise ValueError(f"skills.json: alias '{alias}' of {skill.name} also belongs to {owner}")
        for alias in skill.exact:
            exact[alias] = skill.name
    loose_aliases = [a for s in skills.values() for a in s.aliases]
    # Case-insensitive aliases come first: at any position they are at least as long as an exact one.
    pattern = (
        f"{_LEFT}(?P<loose>(?i:{_trie_regex(loose_aliases)})){_RIGHT}"
        f"|{_STRICT_LEFT}(?P<exact>{_trie_regex(list(exact))}){_STRICT_RIGHT}"
    )
    return skills, re.compile(pattern), loose, exact


def skill_info(name: str) -> Skill | None:
    """The lexicon entry for a canonical skill name (any case), or None for a plain word."""
    return _lexicon()[0].get(name.lower())


def extract_skills(text: str) -> list[str]:
    """Canonical skill names found in `text`, in order of first appearance, without duplicates.

    Aliases match case-insensitively on word boundaries ("java" never inside "javascript"; "C++", "C#", ".NET",
    "CI/CD" and "node.js" keep their punctuation). Short names that are also English words (Go, C, R, Swift, Spark,
    Node, Excel...) match only capitalised, and not as the first word of a sentence or line unless a comma, slash,
    colon or bracket follows (a skills list); lower-case forms need context ("golang", "go developer", "apache
    spark"). So a lower-cased voice transcript finds "golang" but never the verb "go".
    """
    found: list[str] = []
    for name, _, _ in _find_skills(text):
        if name not in found:
            found.append(name)
    return found


def skill_mentions(text: str) -> list[tuple[str, int, int]]:
    """Every skill mention in `text`, in order: (canonical name, start, end), with the same rules as extract_skills."""
    return list(_find_skills(text))


def all_skills() -> list[Skill]:
    """Every lexicon entry, in file order."""
    return list(_lexicon()[0].values())


def _find_skills(text: str) -> Iterator[tuple[str, int, int]]:
    """Every skill mention in `text`: (canonical name, start, end)."""
    if not text:
        return
    _, pattern, loose, exact = _lexicon()
    for match in pattern.finditer(text):
        if match.group("loose") is not None:
            yield loose[_alias_key(match.group("loose"))], match.start(), match.end()
        elif not _starts_sentence(text, match.start()) or _LIST_FOLLOWER.match(text, match.end()):
            yield exact[match.group("exact")], match.start(), match.end()


def _starts_sentence(text: str, start: int) -> bool:
    """True at the start of the text, a sentence or a line (list bullets ignored)."""
    i = start - 1
    while i >= 0 and text[i] in " \t-•*·":
        i -= 1
    return i < 0 or text[i] in ".!?\n"


def job_skills(spec: InterviewSpec) -> list[str]:
    """Skills the job asks for: the role title's first (it names the job), then the job description's."""
    return _unique(extract_skills(spec.role_title) + extract_skills(spec.jd))


def job_terms(spec: InterviewSpec) -> list[str]:
    """Words that make an answer relevant to this job: the job's skills plus the subject words of the role title."""
    terms = job_skills(spec)
    seen = {t.lower() for t in terms}
    title = spec.role_title
    # Words already inside a skill ("Customer Success Manager" names Customer success) are not terms of their own.
    for _, start, end in reversed(list(_find_skills(title))):
        title = title[:start] + " " + title[end:]
    for word in re.findall(r"[\w+#.'-]+", title.lower()):
        word = word.strip(".'-")
        if len(word) < 2 or word in _TITLE_FILLER or word in seen:
            continue
        seen.add(word)
        terms.append(word)
    return terms


def title_domains(title: str) -> list[str]:
    """The domains a role title names ("Senior Backend Engineer": backend), strongest first; none for a vague one."""
    lowered = title.lower()
    domains: list[str] = []
    for phrase, named in _TITLE_DOMAINS:
        if re.search(phrase, lowered):
            domains += [d for d in named if d not in domains]
    return domains


def infer_domains(spec: InterviewSpec) -> list[str]:
    """The job's domains, strongest first: title phrases decide; otherwise the JD's skills vote (two votes needed)."""
    domains = title_domains(spec.role_title)
    if domains:
        return domains
    votes: dict[str, int] = {}
    for name in job_skills(spec):
        skill = skill_info(name)
        for domain in skill.domains if skill else ():
            if domain != "general":
                votes[domain] = votes.get(domain, 0) + 1
    ranked = sorted(votes, key=lambda d: (-votes[d], DOMAINS.index(d)))
    strong = [d for d in ranked if votes[d] >= 2][:2]
    return strong or ["general"]


@lru_cache(maxsize=1)
def _bank() -> dict[str, Any]:
    return json.loads((DATA_DIR / "questions.json").read_text(encoding="utf-8"))


def bank_questions() -> list[dict[str, Any]]:
    """Every question in the bank, in file order (the stable order that sampling relies on)."""
    return list(_bank()["questions"])


def question_templates() -> dict[str, list[str]]:
    """The templated questions' texts by category: "experience" (tool templates, then practice ones) and "gap"."""
    bank = _bank()
    experience = bank["experience_templates"]
    return {"experience": [*experience["tool"], *experience["practice"]], "gap": list(bank["gap_templates"])}


def skill_slug(name: str) -> str:
    """A stable id fragment for a skill: "C++" -> "cpp", ".NET" -> "dotnet", "Node.js" -> "nodejs", "CI/CD" -> "ci-cd".

    Ids are stored with sessions, so this must never change for an existing skill name.
    """
    slug = name.lower().replace("++", "pp").replace("#", "sharp")
    slug = re.sub(r"(?<=\w)\.(?=\w)", "", re.sub(r"^\.", "dot", slug))
    return re.sub(r"[^a-z0-9]+", "-", slug).strip("-")


def _industry_phrase(industry: str) -> str:
    """'Technology' reads as 'the technology industry'; 'FinTech', 'SaaS' and 'AI' keep their capitals."""
    words = industry.split()
    if words and all(w.istitle() and not w.isupper() for w in words):
        return industry.lower()
    return industry


class _Planner:
    """Draws questions for one plan without repeating an id or a text."""

    def __init__(self, spec: InterviewSpec, rng: random.Random) -> None:
        self.rng = rng
        self.values = {
            "role": spec.role_title.strip().rstrip("."),
            "company": spec.company_name.strip(),
            "industry": _industry_phrase(spec.industry.strip().rstrip(".")),
        }
        self.used_ids: set[str] = set()
        self.used_texts: set[str] = set()
        bank = bank_questions()
        # "someone outside the general industry" reads badly: without a real industry, skip questions about it.
        if spec.industry.strip().casefold() in GENERIC_INDUSTRIES:
            bank = [q for q in bank if "{industry}" not in q["text"]]
        self.bank = bank

    def fill(self, template: str, **extra: str) -> str:
        text = template.format_map({**self.values, **extra})
        # A value ending in a full stop ("Acme Inc.") must not double the sentence's own full stop.
        return text.replace("..", ".")

    def take(self, qid: str, category: str, text: str, skill: str = "") -> Question | None:
        key = text.casefold()
        if qid in self.used_ids or key in self.used_texts:
            return None
        self.used_ids.add(qid)
        self.used_texts.add(key)
        return Question(id=qid, category=category, text=text, skill=skill)

    def draw(self, n: int, category: str, domains: tuple[str, ...] = (), focus: str = "") -> list[Question]:
        """Up to n unused bank questions of a category, drawn at random; domains are tried in order, then general."""
        picked: list[Question] = []
        groups = [d for d in domains if d != "general"] + ["general"] if category == "technical" else [""]
        pools = []
        for domain in groups:
            pool = [
                q
                for q in self.bank
                if q["category"] == category
                and (not domain or q.get("domain") == domain)
                and (not focus or q.get("focus") == focus)
            ]
            pools.append(self.rng.sample(pool, len(pool)))
        # Round-robin over the job's domains so a "data + ml" role hears both, general only when they run out.
        order = []
        specific, general = pools[:-1], pools[-1]
        for i in range(max((len(p) for p in specific), default=0)):
            order += [p[i] for p in specific if i < len(p)]
        order += general
        for raw in order:
            if len(picked) == n:
                break
            question = self.take(raw["id"], raw["category"], self.fill(raw["text"]))
            if question is not None:
                picked.append(question)
        return picked

    def experience(self, skills: list[str], n: int) -> list[Question]:
        templates = _bank()["experience_templates"]
        picked: list[Question] = []
        for name in self._choose(skills, n):
            skill = skill_info(name)
            kind = "practice" if skill and skill.common else "tool"
            text = self.fill(self.rng.choice(templates[kind]), skill=skill.phrase if skill else name)
            question = self.take(f"exp-{skill_slug(name)}", "experience", text, skill=name)
            if question is not None:
                picked.append(question)
        return picked

    def gap(self, skills: list[str], n: int) -> list[Question]:
        picked: list[Question] = []
        for name in self._choose(skills, n):
            skill = skill_info(name)
            text = self.fill(self.rng.choice(_bank()["gap_templates"]), skill=skill.phrase if skill else name)
            question = self.take(f"gap-{skill_slug(name)}", "gap", text, skill=name)
            if question is not None:
                picked.append(question)
        return picked

    def _choose(self, skills: list[str], n: int) -> list[str]:
        """n skills from the most important few (listed first in the JD), kept in that order."""
        top = skills[: max(n, 3)]
        chosen = set(self.rng.sample(top, min(n, len(top))))
        return [s for s in top if s in chosen]


def tailoring(spec: InterviewSpec) -> tuple[list[str], list[str]]:
    """(experience skills, gap skills): job skills the CV shows, and job skills it lacks (only when a CV is given).

    Without any skills in the job description, the CV's own skills prompt experience questions instead.
    """
    cv_skills = extract_skills(spec.cv)
    wanted = job_skills(spec)
    if not wanted:
        return cv_skills, []
    have = set(cv_skills)
    shared = [s for s in wanted if s in have]
    missing = [s for s in wanted if s not in have] if spec.cv.strip() else []
    return shared, missing


def plan_questions(spec: InterviewSpec, seed: int) -> list[Question]:
    """The questions for one interview; the same spec and seed always give the same plan.

    Mixes: full (8) = intro, experience, behavioural, technical, situational, gap, motivation, closing (missing
    experience or gap slots become technical questions); screening (4) = intro, motivation, one experience or role
    question, closing; behavioral (5) = intro, three behavioural, one situational; technical (5) = experience,
    technical and gap questions, technical filling whatever the CV and JD do not.
    """
    round_type = (spec.round_type or "full").strip().lower()
    if round_type not in ROUND_TYPES:
        raise InvalidInput(
            {"round_type": f"unknown round type '{round_type}'; choose one of: {', '.join(ROUND_TYPES)}"}
        )
    planner = _Planner(spec, random.Random(seed))
    domains = tuple(infer_domains(spec))
    shared, missing = tailoring(spec)

    if round_type == "screening":
        role = planner.experience(shared, 1) or planner.draw(1, "technical", domains)
        plan = planner.draw(1, "intro") + planner.draw(1, "motivation") + role + planner.draw(1, "closing")
    elif round_type == "behavioral":
        intro = planner.draw(1, "intro")
        behavioral = planner.draw(3, "behavioral")
        plan = intro + behavioral[:2] + planner.draw(1, "situational") + behavioral[2:]
    elif round_type == "technical":
        experience = planner.experience(shared, 2)
        gap = planner.gap(missing, 1)
        technical = planner.draw(5 - len(experience) - len(gap), "technical", domains)
        plan = _interleave(experience, technical, gap)
    else:
        experience = planner.experience(shared, 1 if missing else 2)
        gap = planner.gap(missing, 1)
        technical = planner.draw(3 - len(experience) - len(gap), "technical", domains)
        role = _interleave(experience, technical, gap)
        plan = (
            planner.draw(1, "intro")
            + role[:1]
            + planner.draw(1, "behavioral")
            + role[1:2]
            + planner.draw(1, "situational")
            + role[2:]
            # The full round always asks "why us": the company is what the candidate is preparing for.
            + planner.draw(1, "motivation", focus="company")
            + planner.draw(1, "closing")
        )
    logger.debug("planned round=%s domains=%s questions=%s", round_type, domains, [q.id for q in plan])
    return plan


def _interleave(experience: list[Question], technical: list[Question], gap: list[Question]) -> list[Question]:
    """Alternate experience, technical, gap, technical...: a confident start, and no two tailored questions in a row."""
    queues = {"experience": list(experience), "technical": list(technical), "gap": list(gap)}
    ordered: list[Question] = []
    while any(queues.values()):
        for kind in ("experience", "technical", "gap", "technical"):
            if queues[kind]:
                ordered.append(queues[kind].pop(0))
    return ordered


def _unique(items: list[str]) -> list[str]:
    unique: list[str] = []
    for item in items:
        if item not in unique:
            unique.append(item)
    return unique
