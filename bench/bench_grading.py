"""How well the rule grader judges content, against answers labelled by hand (bench/grading_set.json).

Prints, for each split of the set (three fresh batches, the last written blind; held-out; tuned-on) and for all
of it: off-topic recall (off-topic answers the grader calls off-topic) and false-positive rate (answers that
address the question but are called off-topic), and
key-point agreement with the labels (per point, over the answers labelled on topic: accuracy, Cohen's kappa,
precision and recall of "covered"), then the mean score per kind of answer and the highest off-topic score.

Run: python bench/bench_grading.py [--show-misses]   (a second or two; exits 1 when a target is missed)

With [llm] enabled in the configuration ($INTERVIEW_BOT_CONFIG or ./config.toml, key in LLM_API_KEY), the model
grader is measured too, one call per answer (an answer whose call fails or whose reply is invalid twice counts with
the rules' verdict, as the bot would keep it; the number of such fallbacks is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import load_config, resolve_config_path
from engine.coaching.feedback import analyze_answer, job_terms
from engine.coaching.llm import LlmConfig, LlmGrader
from engine.coaching.questions import bank_questions
from engine.coaching.rubrics import Grade, PointResult, grade_answer, rubric_for
from engine.types import InterviewSpec, Question

SET = Path(__file__).resolve().parent / "grading_set.json"
SPEC = InterviewSpec(role_title="Senior Backend Engineer", company_name="PayCo", industry="FinTech")
TARGET_RECALL = 0.90
TARGET_FALSE_POSITIVES = 0.10
OFF_TOPIC_CAP = 30
LABELS = ("strong", "partial", "vague", "off-topic")
# Graders to compare; an LLM grader can be added here with the same signature.
GRADERS: dict[str, Callable[[Question, str], Grade]] = {"rules": grade_answer}


class LlmBench:
    """The model grader as a plain function of (question, answer), on one event loop of its own."""

    def __init__(self, config: LlmConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.grader = self.loop.run_until_complete(self._make(config))
        self.fallbacks = 0

    @staticmethod
    async def _make(config: LlmConfig) -> LlmGrader:
        return LlmGrader(config)

    def __call__(self, question: Question, answer: str) -> Grade:
        rule = analyze_answer(question, answer, job_terms=job_terms(SPEC))
        feedback = self.loop.run_until_complete(self.grader.grade(question, answer, SPEC, rule, voice=False))
        if feedback is None:
            self.fallbacks += 1
            return grade_answer(question, answer)
        relevance = feedback.relevance or {}
        return Grade(
            on_topic=bool(relevance.get("on_topic", True)),
            reason=str(relevance.get("reason", "")),
            asks=rubric_for(question).asks,
            strength=0.0,
            points=tuple(PointResult(p["point"], bool(p["covered"]), p["evidence"]) for p in feedback.key_points),
        )


def add_llm_grader() -> LlmBench | None:
    """Add the model grader to GRADERS when [llm] is configured; nothing is sent anywhere otherwise."""
    config = load_config(resolve_config_path(None, os.environ)).llm
    if not config.configured:
        print("llm grader: not configured ([llm] enabled and model), measuring the rules only")
        return None
    bench = LlmBench(config)
    GRADERS["llm"] = bench
    return bench


@dataclass(frozen=True)
class Item:
    id: str
    split: str
    question: Question
    answer: str
    label: str
    on_topic: bool
    covered: frozenset[int]


def load() -> list[Item]:
    categories = {q["id"]: q["category"] for q in bank_questions()}
    items = []
    for raw in json.loads(SET.read_text(encoding="utf-8"))["items"]:
        qid = raw["question_id"]
        category = categories.get(qid) or ("experience" if qid.startswith("exp-") else "gap")
        question = Question(qid, category, raw["question"], skill=raw.get("skill", ""))
        items.append(
            Item(
                raw["id"],
                raw["split"],
                question,
                raw["answer"],
                raw["label"],
                raw["on_topic"],
                frozenset(raw["covered"]),
            )
        )
    return items


def ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.1%} ({numerator}/{denominator})" if denominator else "n/a"


def kappa(pairs: list[tuple[bool, bool]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    p_label = sum(a for a, _ in pairs) / n
    p_grader = sum(b for _, b in pairs) / n
    expected = p_label * p_grader + (1 - p_label) * (1 - p_grader)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def evaluate(items: list[Item], grades: dict[str, Grade]) -> dict[str, float]:
    off = [i for i in items if not i.on_topic]
    on = [i for i in items if i.on_topic]
    caught = sum(not grades[i.id].on_topic for i in off)
    flagged = sum(not grades[i.id].on_topic for i in on)
    pairs = [(n in i.covered, p.covered) for i in on for n, p in enumerate(grades[i.id].points)]
    true_pos = sum(a and b for a, b in pairs)
    print(f"  off-topic recall      {ratio(caught, len(off))}")
    by_label = ", ".join(
        f"{label} {sum(not grades[i.id].on_topic for i in on if i.label == label)}/{sum(i.label == label for i in on)}"
        for label in LABELS[:-1]
    )
    print(f"  false positives       {ratio(flagged, len(on))}: {by_label}")
    print(
        f"  key points            agreement {ratio(sum(a == b for a, b in pairs), len(pairs))}, "
        f"kappa {kappa(pairs):.2f}, precision {ratio(true_pos, sum(b for _, b in pairs))}, "
        f"recall {ratio(true_pos, sum(a for a, _ in pairs))}"
    )
    return {
        "recall": caught / len(off) if off else 1.0,
        "false_positives": flagged / len(on) if on else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-misses", action="store_true", help="list every relevance and key-point disagreement")
    args = parser.parse_args()
    items = load()
    terms = job_terms(SPEC)
    llm = add_llm_grader()
    ok = True
    for name, grade in GRADERS.items():
        grades = {i.id: grade(i.question, i.answer) for i in items}
        questions = len({i.question.id for i in items})
        print(f"grader: {name}   ({len(items)} answers to {questions} questions)")
        results = {}
        for split, title in (
            ("fresh3", "fresh questions, third batch, written blind, scored once untouched"),
            ("fresh2", "fresh questions, second batch (led to one general change)"),
            ("fresh", "fresh questions, first batch (led to one general change)"),
            ("test", "held-out questions"),
            ("dev", "questions the cues were tuned on"),
            ("", "all"),
        ):
            chosen = [i for i in items if not split or i.split == split]
            off = sum(not i.on_topic for i in chosen)
            print(f"{title}: {len(chosen)} answers, {off} off-topic")
            results[split] = evaluate(chosen, grades)
        if name == "rules":
            scores: dict[str, list[int]] = {label: [] for label in LABELS}
            judged_off: list[int] = []
            for item in items:
                feedback = analyze_answer(item.question, item.answer, job_terms=terms)
                scores[item.label].append(feedback.score)
                if not feedback.on_topic:
                    judged_off.append(feedback.score)
            print(
                "scores (mean, min-max): "
                + "; ".join(f"{label} {statistics.mean(s):.0f} ({min(s)}-{max(s)})" for label, s in scores.items() if s)
            )
            top = max(judged_off, default=0)
            print(f"highest score of an answer judged off-topic: {top} (cap {OFF_TOPIC_CAP})")
            ok = ok and top <= OFF_TOPIC_CAP
        every = results[""]
        met = every["recall"] >= TARGET_RECALL and every["false_positives"] <= TARGET_FALSE_POSITIVES
        print(
            f"target (all answers): recall >= {TARGET_RECALL:.0%} with false positives <= "
            f"{TARGET_FALSE_POSITIVES:.0%}: {'met' if met else 'MISSED'}"
        )
        ok = ok and met
        if args.show_misses:
            show_misses(items, grades)
    if llm is not None:
        print(f"llm: {llm.fallbacks} of {len(items)} answers fell back to the rules; status {llm.grader.status()}")
    return 0 if ok else 1


def show_misses(items: list[Item], grades: dict[str, Grade]) -> None:
    for item in items:
        grade = grades[item.id]
        if grade.on_topic != item.on_topic:
            kind = "missed off-topic" if item.on_topic is False else "false positive"
            print(
                f"\n[{item.split}] {item.id} {kind} (strength {grade.strength:.1f}; {grade.evidence})\n  {item.answer}"
            )
        elif item.on_topic:
            wrong = [
                ("+" if n in item.covered else "-") + p.point + (f" [{p.evidence}]" if p.evidence else "")
                for n, p in enumerate(grade.points)
                if (n in item.covered) != p.covered
            ]
            if wrong:
                print(f"\n[{item.split}] {item.id} key points (+ labelled only, - grader only): " + " | ".join(wrong))


if __name__ == "__main__":
    sys.exit(main())
