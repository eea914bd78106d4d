"""The optional LLM grader: the [llm] config, and grading one answer against its rubric with any OpenAI-compatible
chat completions endpoint, falling back to the rule feedback on anything slow, failed or invalid."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, replace
from typing import Any

from engine.coaching.feedback import CONTENT_FLOOR, OFF_TOPIC_CAP, PART_MAX, STAR_CATEGORIES
from engine.coaching.rubrics import Rubric, rubric_for
from engine.types import Feedback, InterviewSpec, Question

logger = logging.getLogger(__name__)

GRADER = "llm"
MAX_TIPS = 3
MAX_TIP_CHARS = 300
MAX_REASON_CHARS = 300
MAX_FOLLOW_UP_CHARS = 300
MIN_FOLLOW_UP_CHARS = 12
MAX_DOCUMENT_CHARS = 6000  # of the CV and of the job description: enough to judge fit, bounded in cost
SPECIFICITY_SHARE = {"low": 0.4, "medium": 0.7, "high": 1.0}  # of the relevance part, for an answer on topic
STAR_PARTS = ("situation", "task", "action", "result")


@dataclass(frozen=True)
class LlmConfig:
    """[llm]: an optional model that grades answers after the rule feedback was sent. Off unless enabled."""

    enabled: bool = False
    base_url: str = ""  # any OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1; empty: OpenAI's
    model: str = ""
    api_key: str = ""  # better from LLM_API_KEY
    timeout_seconds: float = 20.0  # per call; the repair attempt gets its own
    max_followups: int = 2  # follow-up questions the model may add per interview; 0: none

    @property
    def configured(self) -> bool:
        return self.enabled and bool(self.model)


SYSTEM_PROMPT = """You grade one answer in a mock job interview against the question's rubric.
The answer is what the candidate said, as an offline speech recogniser transcribed it (or, when marked, what they \
typed). A transcript has no punctuation or capitals and may contain misheard, split or missing words: read it for \
what the candidate meant, but never credit anything they did not say, and never invent facts, numbers or actions.
For each key point of the rubric (by its index), decide whether the answer covers it. When it does, quote as \
evidence the candidate's own words, copied exactly from the answer (a short phrase); when it does not, evidence is \
null.
Decide whether the answer addresses the question at all (on_topic) and say why in one sentence (relevance_reason).
Rate specificity: low (generic claims), medium (some concrete detail), high (concrete actions, names, numbers).
For behavioural questions, say which STAR parts (situation, task, action, result) the answer has; otherwise all false.
Give one to three short, concrete tips addressed to the candidate ("you"), about what to add or change.
When the answer is thin or vague, propose one short follow-up question (follow_up) that an interviewer would ask \
next to probe it: about what the candidate said, never naming or hinting at the missing key points. Otherwise, and \
when the answer is off-topic, follow_up is an empty string.
Reply with the JSON object only."""

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["on_topic", "relevance_reason", "key_points", "specificity", "star", "tips", "follow_up"],
    "properties": {
        "on_topic": {"type": "boolean"},
        "relevance_reason": {"type": "string"},
        "key_points": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["index", "covered", "evidence"],
                "properties": {
                    "index": {"type": "integer"},
                    "covered": {"type": "boolean"},
                    "evidence": {"type": ["string", "null"]},
                },
            },
        },
        "specificity": {"type": "string", "enum": list(SPECIFICITY_SHARE)},
        "star": {
            "type": "object",
            "additionalProperties": False,
            "required": list(STAR_PARTS),
            "properties": {part: {"type": "boolean"} for part in STAR_PARTS},
        },
        "tips": {"type": "array", "items": {"type": "string"}},
        "follow_up": {"type": "string"},
    },
}
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "answer_grade", "strict": True, "schema": RESPONSE_SCHEMA},
}


SUMMARY_PROMPT = """You write the closing summary of a mock job interview for the candidate, addressed to them \
("you"), in two to four sentences: what they did well and the one or two things to work on first.
Answers were transcribed by an offline speech recogniser (unless marked typed) and may contain recognition errors; \
never mention or credit anything the candidate did not say.
Reply with the JSON object only."""
SUMMARY_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "interview_summary",
        "strict": True,
        "schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["summary"],
            "properties": {"summary": {"type": "string"}},
        },
    },
}
MAX_SUMMARY_CHARS = 1200
MAX_SUMMARY_ANSWER_CHARS = 2000


class InvalidReply(ValueError):
    """The model's reply is not JSON, or not the grade the schema asks for; the message says what is wrong."""


def build_messages(question: Question, answer: str, spec: InterviewSpec, *, voice: bool) -> list[dict[str, str]]:
    """Everything the endpoint receives: the question, its rubric, the answer, and the CV and job description
    only when the candidate gave them. Nothing else about the candidate (no name, id, role or company)."""
    rubric = rubric_for(question)
    lines = [
        f"Question ({question.category}): {question.text}",
        f"The question asks {rubric.asks}.",
        "Key points of a strong answer:",
        *(f"{n}. {point.point}" for n, point in enumerate(rubric.points)),
    ]
    if question.category in STAR_CATEGORIES:
        lines.append("This is a behavioural question: judge STAR (situation, task, action, result).")
    if spec.cv:
        lines += ["", "The candidate's CV:", spec.cv[:MAX_DOCUMENT_CHARS]]
    if spec.jd:
        lines += ["", "The job description:", spec.jd[:MAX_DOCUMENT_CHARS]]
    source = "speech recogniser transcript, may contain recognition errors" if voice else "typed by the candidate"
    lines += ["", f"The answer ({source}):", answer]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


def summary_messages(answers: list[tuple[Question, str, str, int]]) -> list[dict[str, str]]:
    """What the endpoint receives for a summary: each answered question, how it was answered (voice or typed), the
    answer's text and its score. Nothing about the candidate besides their answers."""
    lines = []
    for number, (question, source, text, score) in enumerate(answers, 1):
        how = "typed" if source == "text" else "spoken"
        lines += [f"Question {number}: {question.text}", f"Answer ({how}, scored {score}/100):"]
        lines += [text[:MAX_SUMMARY_ANSWER_CHARS], ""]
    return [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": "\n".join(lines).strip()}]


def parse_summary(content: str | None) -> str:
    """The summary from the model's JSON reply; InvalidReply when it is not there."""
    if not content:
        raise InvalidReply("the reply was empty")
    try:
        data = json.loads(re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip()))
    except ValueError as exc:
        raise InvalidReply(f"the reply is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("summary"), str) or not data["summary"].strip():
        raise InvalidReply("summary must be a non-empty string")
    return str(data["summary"]).strip()[:MAX_SUMMARY_CHARS]


def _squash(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def parse_reply(content: str | None, points: int) -> dict[str, Any]:
    """The model's JSON reply checked against the schema and the rubric; InvalidReply says what is wrong."""
    if not content:
        raise InvalidReply("the reply was empty")
    text = content.strip()
    if text.startswith("```"):  # some local servers wrap JSON in a fence despite response_format
        text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidReply(f"the reply is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidReply("the reply is not a JSON object")
    data.setdefault("follow_up", "")  # optional in practice: a model that leaves it out proposes none
    missing = [key for key in RESPONSE_SCHEMA["required"] if key not in data]
    if missing:
        raise InvalidReply(f"missing keys: {', '.join(missing)}")
    if not isinstance(data["on_topic"], bool):
        raise InvalidReply("on_topic must be true or false")
    if not isinstance(data["relevance_reason"], str):
        raise InvalidReply("relevance_reason must be a string")
    if data["specificity"] not in SPECIFICITY_SHARE:
        raise InvalidReply("specificity must be low, medium or high")
    star = data["star"]
    if not isinstance(star, dict) or any(not isinstance(star.get(part), bool) for part in STAR_PARTS):
        raise InvalidReply("star must have situation, task, action and result as true or false")
    tips = data["tips"]
    if not isinstance(tips, list) or not all(isinstance(t, str) and t.strip() for t in tips) or not tips:
        raise InvalidReply("tips must be a list of one to three non-empty strings")
    if not isinstance(data["follow_up"], str):
        raise InvalidReply("follow_up must be a string (empty for none)")
    key_points = data["key_points"]
    if not isinstance(key_points, list):
        raise InvalidReply("key_points must be a list")
    seen: dict[int, dict[str, Any]] = {}
    for item in key_points:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("index"), int)
            or isinstance(item.get("index"), bool)
            or not isinstance(item.get("covered"), bool)
            or not (item.get("evidence") is None or isinstance(item.get("evidence"), str))
        ):
            raise InvalidReply("each key point needs index (integer), covered (boolean) and evidence (string or null)")
        seen[item["index"]] = item
    if sorted(seen) != list(range(points)) or len(key_points) != points:
        raise InvalidReply(f"key_points must judge each of the {points} key points once, by index 0 to {points - 1}")
    return data


def llm_feedback(rule: Feedback, question: Question, answer: str, data: dict[str, Any]) -> Feedback:
    """The rule feedback with its content judged by the model: key points, relevance, STAR, tips and the score's
    content and relevance parts. Evidence the answer does not contain is not believed: that point counts as missed."""
    rubric = rubric_for(question)
    said = f" {_squash(answer)} "
    by_index = {item["index"]: item for item in data["key_points"]}
    on_topic = bool(data["on_topic"])
    points: list[dict[str, Any]] = []
    for n, point in enumerate(rubric.points):
        item = by_index[n]
        evidence = (item["evidence"] or "").strip()
        covered = on_topic and bool(item["covered"]) and bool(evidence)
        if covered and f" {_squash(evidence)} " not in said:
            logger.info("llm evidence not found in the answer, point counted as missed: %r", evidence[:80])
            covered = False
        points.append({"point": point.point, "covered": covered, "evidence": evidence if covered else None})
    coverage = sum(bool(p["covered"]) for p in points) / len(points) if points else 0.0
    parts = dict(rule.score_parts)
    if on_topic:
        parts["content"] = round(PART_MAX["content"] * (CONTENT_FLOOR + (1 - CONTENT_FLOOR) * coverage))
        parts["relevance"] = round(PART_MAX["relevance"] * SPECIFICITY_SHARE[data["specificity"]])
    else:
        parts["content"] = parts["relevance"] = 0
        form = parts.get("structure", 0) + parts.get("delivery", 0)
        if form > OFF_TOPIC_CAP:
            parts["structure"] = round(parts.get("structure", 0) * OFF_TOPIC_CAP / form)
            parts["delivery"] = OFF_TOPIC_CAP - parts["structure"]
    star = dict(rule.star)
    if star:  # behavioural questions only; "metrics" stays the rules' count of numbers
        star.update({part: bool(data["star"][part]) for part in STAR_PARTS})
    tips = tuple(t.strip()[:MAX_TIP_CHARS] for t in data["tips"][:MAX_TIPS])
    relevance = {
        "on_topic": on_topic,
        "reason": data["relevance_reason"].strip()[:MAX_REASON_CHARS],
        "specificity": data["specificity"],
    }
    return replace(
        rule,
        follow_up=follow_up_question(data["follow_up"], rubric) if on_topic else "",
        score=sum(parts.values()),
        score_parts=parts,
        star=star,
        tips=tips,
        relevance=relevance,
        key_points=tuple(points),
        grader=GRADER,
    )


def follow_up_question(text: str, rubric: Rubric) -> str:
    """The model's follow-up as it will be asked, or "" when it proposed none or one that gives the answer away
    (it names a key point in so many words) or is not a question."""
    question = " ".join(text.split())[:MAX_FOLLOW_UP_CHARS]
    if len(question) < MIN_FOLLOW_UP_CHARS:
        return ""
    if not question.endswith("?"):
        question = question.rstrip(".!") + "?"
    asked = f" {_squash(question)} "
    for point in rubric.points:
        if len(_squash(point.point).split()) >= 3 and f" {_squash(point.point)} " in asked:
            logger.info("llm follow-up dropped: it names a key point (%r)", point.point[:80])
            return ""
    return question


class LlmGrader:
    """Grades answers with the configured model; never raises: None means "keep the rule feedback"."""

    def __init__(self, config: LlmConfig, *, clock: Any = time.monotonic) -> None:
        from openai import AsyncOpenAI  # imported only when [llm] is on

        self.config = config
        # Our own timeout bounds each call; the client's retries would multiply it, so there are none.
        self._client = AsyncOpenAI(
            api_key=config.api_key or "not-needed",  # local servers (Ollama, llama.cpp) take any key
            base_url=config.base_url or None,
            timeout=config.timeout_seconds,
            max_retries=0,
        )
        self._clock = clock
        self._last: dict[str, Any] = {"last_call": None, "last_error": None, "latency_ms": None}
        self._calls = 0
        self._failures = 0

    def status(self) -> dict[str, Any]:
        """For /healthz: configured, and how the last call went (ok or error, and how long it took)."""
        return {
            "configured": True,
            "model": self.config.model,
            "calls": self._calls,
            "failures": self._failures,
            **self._last,
        }

    @property
    def max_followups(self) -> int:
        return self.config.max_followups

    async def close(self) -> None:
        await self._client.close()

    async def grade(
        self, question: Question, answer: str, spec: InterviewSpec, rule: Feedback, *, voice: bool
    ) -> Feedback | None:
        """The model's feedback for one answer, or None on a timeout, an error or a reply invalid twice."""
        points = len(rubric_for(question).points)
        data = await self._ask(
            build_messages(question, answer, spec, voice=voice), RESPONSE_FORMAT, lambda c: parse_reply(c, points)
        )
        if data is None:
            return None
        try:
            return llm_feedback(rule, question, answer, data)
        except Exception:
            logger.exception("llm reply could not be turned into feedback")
            return None

    async def summarize(self, answers: list[tuple[Question, str, str, int]]) -> str | None:
        """A short written summary of a finished interview (question, source, answer, score per answered
        question), or None on a timeout, an error or a reply invalid twice."""
        if not answers:
            return None
        summary: str | None = await self._ask(summary_messages(answers), SUMMARY_FORMAT, parse_summary)
        return summary

    async def _ask(self, messages: list[dict[str, Any]], response_format: dict[str, Any], parse: Any) -> Any:
        """One call, plus one repair attempt when the reply does not parse; None when neither gives a valid one."""
        for attempt in (1, 2):
            content = await self._call(messages, response_format)
            if content is None:
                return None
            try:
                return parse(content)
            except InvalidReply as exc:
                logger.warning("llm reply invalid (attempt %d): %s", attempt, exc)
                self._note(ok=False, error=f"invalid reply: {exc}")
                messages = [
                    *messages,
                    {"role": "assistant", "content": content[:4000]},
                    {
                        "role": "user",
                        "content": f"That reply was not valid: {exc}. Reply again with only the JSON object "
                        "that follows the schema.",
                    },
                ]
        return None

    async def _call(self, messages: list[dict[str, Any]], response_format: dict[str, Any]) -> str | None:
        started = self._clock()
        self._calls += 1
        # Plain dicts for messages and the schema: the client's TypedDict overloads add nothing here.
        create: Any = self._client.chat.completions.create
        try:
            response = await asyncio.wait_for(
                create(model=self.config.model, messages=messages, response_format=response_format, temperature=0),
                self.config.timeout_seconds,
            )
            content = response.choices[0].message.content if response.choices else None
        except TimeoutError:
            self._note(ok=False, error=f"timed out after {self.config.timeout_seconds:g} s", started=started)
            logger.warning("llm call timed out after %.1f s", self.config.timeout_seconds)
            return None
        except Exception as exc:  # the openai client's errors, and anything a strange server provokes
            self._note(ok=False, error=f"{type(exc).__name__}: {str(exc)[:200]}", started=started)
            logger.warning("llm call failed: %s: %s", type(exc).__name__, exc)
            return None
        self._note(ok=True, started=started)
        return content

    def _note(self, *, ok: bool, error: str = "", started: float | None = None) -> None:
        if not ok:
            self._failures += 1
        latency = round((self._clock() - started) * 1000, 1) if started is not None else self._last["latency_ms"]
        self._last = {"last_call": "ok" if ok else "error", "last_error": None if ok else error, "latency_ms": latency}
