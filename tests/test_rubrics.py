"""The rule grader: relevance and key points on hand-labelled answers, recogniser-style text, and the bench set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.coaching.feedback import analyze_answer, job_terms
from engine.coaching.questions import bank_questions
from engine.coaching.rubrics import grade_answer, normalise, rubric_for
from engine.types import InterviewSpec, Question

SET = Path(__file__).resolve().parent.parent / "bench" / "grading_set.json"
# A backend role with no JD: the job's only term is the title word "backend", as in the third example.
PAYCO = InterviewSpec(role_title="Senior Backend Engineer", company_name="PayCo", industry="Payments")
TERMS = job_terms(PAYCO)
BANK = {q["id"]: q for q in bank_questions()}


def bank(qid: str) -> Question:
    raw = BANK[qid]
    text = raw["text"].format(role=PAYCO.role_title, company=PAYCO.company_name, industry="payments")
    return Question(qid, raw["category"], text)


RETRY = bank("be-004")
SAY_NO = bank("beh-020")
MONOLITH = bank("be-006")
SLOW = bank("be-002")
K8S_HARDEST = Question(
    "exp-kubernetes",
    "experience",
    "Your CV mentions Kubernetes. Walk me through the hardest problem you solved with it.",
    skill="Kubernetes",
)
K8S_GAP = Question(
    "gap-kubernetes",
    "gap",
    "The role asks for Kubernetes, which your CV doesn't mention. How would you get up to speed?",
    skill="Kubernetes",
)

INCIDENT = (
    "One time our database went down on a Friday evening. I was on call, so I jumped on, looked at the logs and saw "
    "the disk was full. I cleared old backups, restarted the service and we were back up within forty minutes. "
    "Afterwards I wrote a postmortem and we added disk alerts."
)
SAID_NO = (
    "Last spring the head of sales asked if my team could build a custom export for one big client by Friday. We "
    "were in the middle of a security release, so I told her we couldn't take it on that week and explained that "
    "it would delay a fix every customer needed. Instead I offered a CSV export from the admin tool, and a proper "
    "version next sprint. She agreed, and the client was happy with it."
)
MIGRATION = (
    "Last year I moved our payment service out of the monolith into Python microservices. We pulled out billing "
    "first because it had to scale on its own, kept the rest together, and extracted one piece at a time."
)


def covered(question: Question, answer: str) -> list[int]:
    return [i for i, p in enumerate(grade_answer(question, answer).points) if p.covered]


# ----- the three examples ----------------------------------------------------------------------------


def test_a_kubernetes_and_aws_answer_to_the_retry_question_is_off_topic_and_capped():
    answer = "I have used Kubernetes a little bit on side projects, and AWS at work"
    feedback = analyze_answer(RETRY, answer, job_terms=TERMS)
    assert feedback.relevance is not None and feedback.relevance["on_topic"] is False
    reason = feedback.relevance["reason"]
    assert "make a payment endpoint safe to retry" in reason and "Kubernetes and AWS" in reason
    assert feedback.score <= 30 and feedback.score_parts["content"] == feedback.score_parts["relevance"] == 0
    assert feedback.tips[0].startswith("Answer the question asked: it asked how you would make a payment endpoint")
    assert feedback.grader == "rules"
    assert [p["covered"] for p in feedback.key_points] == [False] * 5
    assert feedback.key_points[0] == {
        "point": "an idempotency key sent by the client",
        "covered": False,
        "evidence": None,
    }


def test_an_unrelated_incident_story_does_not_answer_say_no_but_a_refusal_story_does():
    incident = analyze_answer(SAY_NO, INCIDENT, job_terms=TERMS)
    assert not incident.on_topic and incident.score <= 30
    assert "say no to a request" in incident.relevance["reason"]
    refusal = analyze_answer(SAY_NO, SAID_NO, job_terms=TERMS)
    assert refusal.on_topic and refusal.score > incident.score + 30
    points = {p["point"]: p for p in refusal.key_points}
    assert set(points) == {
        "the request, and who made it",
        "the refusal, said clearly",
        "how you explained it: capacity, priorities, risk",
        "an alternative you offered",
        "the outcome, and the relationship afterwards",
    }
    assert all(p["covered"] for p in points.values())
    assert points["the refusal, said clearly"]["evidence"] == "could not"
    assert "offered" in points["an alternative you offered"]["evidence"]


def test_backend_work_is_not_told_to_mention_backend():
    feedback = analyze_answer(MONOLITH, MIGRATION, job_terms=TERMS)
    assert TERMS == ["backend"] and feedback.relevant_terms == ()
    assert feedback.on_topic
    assert not any("mention backend" in tip for tip in feedback.tips)
    # An on-topic answer with nothing of the job's kind of work in it still gets the nudge.
    generic = "First I'd look at the dashboards to see when latency went up, then check what changed and profile it."
    nudged = analyze_answer(SLOW, generic, job_terms=TERMS)
    assert nudged.on_topic
    assert "Connect it to the job: mention backend where it's true for you." in nudged.tips


# ----- hand-labelled answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "answer", "on_topic", "points"),
    [
        (
            RETRY,
            "The client sends an idempotency key with each payment. We store the response under that key, and when "
            "a retry arrives with the same key we return the stored response instead of charging again. A unique "
            "constraint on the key stops two requests racing.",
            True,
            [0, 1, 2, 3],
        ),
        (RETRY, "I'd be careful and test it a lot so nobody gets charged twice.", True, []),
        (
            SAY_NO,
            "I said no to my manager once because we were already overloaded, and it worked out.",
            True,
            [0, 1, 2, 4],
        ),
        (
            SLOW,
            "I'd check the dashboards for when latency jumped, look at what was deployed then, profile the slowest "
            "endpoint and look for a slow query or a missing index.",
            True,
            [0, 1, 2, 3],
        ),
        (SLOW, "My favourite project was a gym booking app in Flutter with a Firebase backend.", False, []),
        (K8S_HARDEST, "I've used k8s for deployments, it's powerful but complex.", True, [1]),
        (
            K8S_HARDEST,
            "The hardest was a race condition in our Java payment code where two threads updated one balance.",
            False,
            [],
        ),
        (
            K8S_GAP,
            "I haven't run it in production, but I've used Docker a lot. I'd do the official tutorial, set up a "
            "small cluster at home, and pair with whoever knows our setup best in the first weeks.",
            True,
            [0, 1, 2, 3, 4],
        ),
        (K8S_GAP, "I'm really proud of the mentoring programme I started at my last company.", False, []),
    ],
)
def test_hand_labelled_answers(question: Question, answer: str, on_topic: bool, points: list[int]) -> None:
    grade = grade_answer(question, answer)
    assert grade.on_topic is on_topic, grade.reason
    assert covered(question, answer) == points


def test_a_story_that_never_names_the_topic_is_on_topic_through_its_key_points():
    persuade = bank("beh-008")
    answer = (
        "Our product manager wanted to build our own notification service and I thought we should use a vendor. I "
        "asked what worried him, which was mostly cost. So I showed him a comparison with real numbers and a quick "
        "prototype, and he agreed to try it for a quarter."
    )
    grade = grade_answer(persuade, answer)
    assert grade.on_topic and grade.coverage == 1.0
    assert grade.reason == "It addresses the question (it mentions “agreed”, “manager” and “worried”)."


# ----- recogniser output ---------------------------------------------------------------------------------------


def test_voice_transcripts_grade_like_typed_text():
    typed = (
        "The client sends an idempotency key. We can't charge twice: we store the response with the key, return "
        "the saved response on a retry, and a unique constraint stops races."
    )
    spoken = (
        "um the client sends an idem potency key we cant charge twice we store the response with the key return "
        "the saved response on a re try and a unique constraint stops races [unk]"
    )
    assert covered(RETRY, typed) == covered(RETRY, spoken) == [0, 1, 2, 3]
    assert grade_answer(RETRY, spoken).points[0].evidence == "idem potency"


def test_normalise_lowers_strips_punctuation_and_spells_out_contractions():
    assert normalise("I couldn't; we'd ship it — don't we? [unk] A/B, p95") == [
        *("i", "could", "not", "we", "would", "ship", "it", "do", "not", "we", "a", "b", "p95"),
    ]
    assert normalise("i couldnt do it im sure") == ["i", "could", "not", "do", "it", "i", "am", "sure"]


def test_an_empty_answer_is_judged_but_not_called_off_topic_in_words():
    grade = grade_answer(RETRY, "  [unk] ")
    assert not grade.on_topic and grade.reason == "There was no answer to judge." and grade.coverage == 0


def test_an_answer_in_another_language_is_not_judged_by_english_rubrics():
    deadline = bank("beh-002")
    korean = (
        "작년에 마감이 2주 남은 상황에서 제가 범위를 줄이고 팀과 매일 진행 상황을 공유했습니다. "
        "결국 이틀 일찍 출시했습니다."
    )
    assert not grade_answer(deadline, korean).judged
    feedback = analyze_answer(deadline, korean, job_terms=TERMS)
    assert feedback.relevance is None and feedback.key_points == () and feedback.on_topic
    assert feedback.score_parts["content"] > 0 and not any(
        tip.startswith("Answer the question") for tip in feedback.tips
    )
    # A few English words in an English answer are not enough to stop judging it.
    assert grade_answer(deadline, "We shipped on Friday, two days early, 정말 다행이었어요.").judged


# ----- rubrics for unknown questions ---------------------------------------------------------------------------


def test_a_question_without_a_rubric_falls_back_to_its_own_words():
    follow_up = Question("3a", "follow-up", "You mentioned a cache. How did you decide when to invalidate it?")
    assert rubric_for(follow_up).source == "fallback"
    assert grade_answer(follow_up, "We invalidated the cache entry whenever the order changed.").on_topic
    assert not grade_answer(follow_up, "I enjoy hiking at the weekend with my family.").on_topic
    # Old stored questions keep their bank rubric by id, whatever their text now says.
    assert rubric_for(Question("be-004", "technical", "An older wording of the question")).source == "bank"


def test_template_values_are_read_back_from_the_question_text():
    question = bank("mot-001")
    rubric = rubric_for(question)
    assert rubric.asks == "why you want to work at PayCo"
    assert grade_answer(question, "PayCo's product is what I use for my own shop.").on_topic


# ----- the bench set ------------------------------------------------------------------------------------------


def test_the_bench_set_is_large_enough_its_labels_fit_the_rubrics_and_the_targets_hold():
    items = json.loads(SET.read_text(encoding="utf-8"))["items"]
    assert len(items) >= 60 and {i["label"] for i in items} == {"strong", "partial", "vague", "off-topic"}
    off = on = caught = flagged = 0
    for item in items:
        qid = item["question_id"]
        category = BANK[qid]["category"] if qid in BANK else ("experience" if qid.startswith("exp-") else "gap")
        question = Question(qid, category, item["question"], skill=item.get("skill", ""))
        grade = grade_answer(question, item["answer"])
        assert all(0 <= n < len(grade.points) for n in item["covered"]), item["id"]
        assert item["on_topic"] == (item["label"] != "off-topic")
        if item["on_topic"]:
            on += 1
            flagged += not grade.on_topic
        else:
            off += 1
            caught += not grade.on_topic
    assert caught / off >= 0.9 and flagged / on <= 0.1
