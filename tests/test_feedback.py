"""Answer feedback and the end-of-interview report, on real answers and hand-built sessions."""

from __future__ import annotations

import json

import pytest

from adapters.chat.words import Words
from engine.coaching.feedback import analyze_answer, build_report, job_terms
from engine.session import Answer, Session
from engine.types import Feedback, InterviewSpec, Question, Transcript, Word

SPEC = InterviewSpec(
    role_title="Senior Backend Engineer",
    company_name="TechCorp Inc",
    industry="Technology",
    cv="Experienced Python developer with 5+ years of PostgreSQL and Docker.",
    jd="Senior backend role requiring Python, Node.js, Kubernetes and PostgreSQL.",
)
TERMS = job_terms(SPEC)
DEADLINE = Question(
    "beh-002", "behavioral", "Describe a situation where you had to meet a tight deadline. What did you do?"
)
EXPERIENCE = Question("exp-python", "experience", "Tell me about a project where you used Python.", skill="Python")
TECHNICAL = Question(
    "be-002", "technical", "A service that was fast last month now responds slowly. How would you find the cause?"
)
INTRO = Question("int-001", "intro", "Tell me about yourself and what brings you to the role at TechCorp Inc.")

GOOD_STAR = (
    "In my last role our checkout service was timing out under load two weeks before Black Friday. My task was to "
    "cut latency before the sale started. I profiled the Python code, moved the hot queries to PostgreSQL indexes "
    "and added a caching layer, and I kept the product team updated every morning. As a result p95 latency dropped "
    "by 60 percent and we handled twice the usual traffic without a single outage."
)
POOR_STAR = "I'm a hard worker and I always try my best to communicate well with everyone on the team."
RAMBLING = (
    "So, um, basically I was, like, you know, kind of the person who, uh, handled the deployments, and like we "
    "just sort of did it. I mean, um, it was fine."
)


def timed(text: str, wpm: float, *, lead: float = 2.0, tail: float = 3.0, conf: float = 0.95) -> Transcript:
    """A transcript of `text` spoken at `wpm`, with silence before and after, as Vosk would report it."""
    words = text.lower().replace(",", "").replace(".", "").split()
    step = 60.0 / wpm
    timed_words = tuple(Word(w, lead + i * step, lead + (i + 1) * step - 0.05, conf) for i, w in enumerate(words))
    return Transcript(" ".join(words), timed_words, duration=lead + len(words) * step + tail)


# ----- fillers and hedges ----------------------------------------------------------------------------------


def test_fillers_are_counted_in_a_rambling_answer():
    feedback = analyze_answer(INTRO, RAMBLING, job_terms=TERMS)
    assert feedback.fillers == {
        "um": 2,
        "like": 2,
        "basically": 1,
        "i mean": 1,
        "kind of": 1,
        "so": 1,
        "sort of": 1,
        "uh": 1,
        "you know": 1,
    }
    assert any("11 filler words" in tip and "pause" in tip for tip in feedback.tips)


def test_like_and_so_as_real_words_are_not_fillers():
    text = (
        "I like Python and would like to learn Rust. It looks like a good fit for things like parsers, so I "
        "started a side project. What kind of team do you know how to build? I think so."
    )
    feedback = analyze_answer(INTRO, text, job_terms=TERMS)
    assert feedback.fillers == {}
    assert feedback.hedges == {"i think": 1}


def test_one_repeated_filler_is_named_with_its_count():
    text = (
        "Um, I led the migration, um, to Kubernetes and um, it took, um, about three months, um, but um we "
        "got there in the end with no downtime."
    )
    feedback = analyze_answer(TECHNICAL, text, job_terms=TERMS)
    assert feedback.fillers == {"um": 6}
    assert "You said 'um' 6 times; pause silently instead of filling the gap." in feedback.tips


def test_hedges_are_counted_and_flagged():
    text = (
        "I think I would maybe look at the logs first, and probably check the database. I'm not sure, but "
        "perhaps it might be the cache. I guess I would ask the team."
    )
    feedback = analyze_answer(TECHNICAL, text, job_terms=TERMS)
    assert feedback.hedges == {
        "i guess": 1,
        "i think": 1,
        "i'm not sure": 1,
        "maybe": 1,
        "might": 1,
        "perhaps": 1,
        "probably": 1,
    }
    assert any(tip.startswith("Sound more certain: you hedged 7 times") for tip in feedback.tips)


# ----- pace and voice answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("wpm", "pace"), [(90, "slow"), (140, "good"), (200, "fast")])
def test_pace_comes_from_speaking_time(wpm, pace):
    transcript = timed(GOOD_STAR, wpm)
    feedback = analyze_answer(DEADLINE, transcript.text, job_terms=TERMS, transcript=transcript)
    assert feedback.pace == pace
    # Leading and trailing silence does not count: the rate is the one the words were spoken at.
    assert feedback.wpm == pytest.approx(wpm, rel=0.02)
    assert feedback.duration == pytest.approx(transcript.duration, abs=0.01)


def test_fast_speech_gets_a_slow_down_tip_and_costs_delivery():
    fast = timed(GOOD_STAR, 200)
    good = timed(GOOD_STAR, 140)
    fast_feedback = analyze_answer(DEADLINE, fast.text, job_terms=TERMS, transcript=fast)
    good_feedback = analyze_answer(DEADLINE, good.text, job_terms=TERMS, transcript=good)
    assert fast_feedback.tips[0] == "Slow down: 200 words per minute; aim for 130–160."
    assert fast_feedback.score_parts["delivery"] < good_feedback.score_parts["delivery"]
    assert not any("words per minute" in tip for tip in good_feedback.tips)
    slow = timed(GOOD_STAR, 80)
    slow_feedback = analyze_answer(DEADLINE, slow.text, job_terms=TERMS, transcript=slow)
    assert any(tip.startswith("Pick up the pace a little: 80 words per minute") for tip in slow_feedback.tips)


def test_text_answers_have_no_timing_but_voice_answers_do():
    text_feedback = analyze_answer(DEADLINE, GOOD_STAR, job_terms=TERMS)
    assert text_feedback.duration is None and text_feedback.wpm is None and text_feedback.pace is None
    transcript = timed(GOOD_STAR, 150)
    voice_feedback = analyze_answer(DEADLINE, transcript.text, job_terms=TERMS, transcript=transcript)
    assert voice_feedback.pace == "good" and voice_feedback.wpm and voice_feedback.duration
    # The same words at a good pace score the same typed or spoken.
    assert voice_feedback.word_count == text_feedback.word_count
    assert voice_feedback.score == text_feedback.score


def test_words_the_recogniser_was_unsure_of_are_listed_once_in_order():
    words = (
        Word("we", 0.0, 0.2, 1.0),
        Word("migrated", 0.2, 0.7, 0.4),
        Word("to", 0.7, 0.8, 0.9),
        Word("kubernetes", 0.8, 1.4, 0.3),
        Word("migrated", 1.5, 2.0, 0.5),
        Word("[unk]", 2.0, 2.2, 0.1),
    )
    transcript = Transcript("we migrated to kubernetes migrated [unk]", words, duration=2.5)
    feedback = analyze_answer(TECHNICAL, transcript.text, job_terms=TERMS, transcript=transcript)
    assert feedback.unsure_words == ("migrated", "kubernetes")
    assert feedback.word_count == 5
    assert feedback.relevant_terms == ("Kubernetes",)


# ----- structure, relevance, length and score --------------------------------------------------------------


def test_star_signals_on_a_good_and_a_poor_behavioural_answer():
    good = analyze_answer(DEADLINE, GOOD_STAR, job_terms=TERMS)
    poor = analyze_answer(DEADLINE, POOR_STAR, job_terms=TERMS)
    assert good.star == {"situation": True, "task": True, "action": True, "result": True, "metrics": True}
    assert poor.star == {"situation": False, "task": False, "action": False, "result": False, "metrics": False}
    assert good.score >= poor.score + 40
    assert good.length == "ok" and poor.length == "short"
    assert "Close with the result, ideally a number (time saved, % improved, customers helped)." in poor.tips
    # A platitude says nothing about the deadline: asking for something specific comes first, then the length.
    assert poor.relevance is not None and poor.relevance["specificity"] == "low"
    assert poor.relevance["reason"].startswith("The question asked about a time you had")
    assert poor.score_parts["relevance"] == 5 and poor.score <= 30
    assert poor.tips[0].startswith("Be specific: it asked about a time you had")
    assert poor.tips[1].startswith("Give more detail: 18 words is short")


def test_a_result_without_a_number_asks_for_one():
    text = (
        "When I joined my last team the release process was manual and slow. My goal was to automate it. I "
        "wrote a deployment pipeline and documented it for everyone. In the end releases became routine and "
        "the team stopped dreading Fridays."
    )
    feedback = analyze_answer(DEADLINE, text, job_terms=TERMS)
    assert feedback.star["result"] and not feedback.star["metrics"]
    assert any(tip.startswith("Put a number on the result") for tip in feedback.tips)


def test_star_is_only_judged_on_behavioural_and_situational_questions():
    assert analyze_answer(TECHNICAL, GOOD_STAR, job_terms=TERMS).star == {}
    situational = Question(
        "sit-005", "situational", "You find a serious flaw the day before a launch. What would you do?"
    )
    text = (
        "If the flaw could hurt customers, my first priority would be to tell my manager straight away. I would "
        "then estimate the fix, and if it takes more than a day I'd propose delaying the launch so that we ship "
        "something safe."
    )
    star = analyze_answer(situational, text, job_terms=TERMS).star
    assert star["situation"] and star["task"] and star["action"] and star["result"]


def test_job_terms_are_found_through_aliases_and_word_boundaries():
    text = (
        "I moved our reports from MySQL to Postgres, wrote the backend in python and deployed it on k8s. Our "
        "JavaScript frontend stayed as it was."
    )
    feedback = analyze_answer(TECHNICAL, text, job_terms=["Java", *TERMS])
    assert feedback.relevant_terms == ("Python", "Kubernetes", "PostgreSQL", "backend")


def test_an_experience_answer_that_never_names_the_skill_is_told_so():
    text = (
        "I built a reporting service for the finance team. It pulled data every night, and I made it twice as "
        "fast by batching the queries, which saved the analysts an hour a day."
    )
    feedback = analyze_answer(EXPERIENCE, text, job_terms=TERMS)
    assert "Python" not in feedback.relevant_terms
    assert "Name Python explicitly and say what you did with it." in feedback.tips
    named = analyze_answer(
        EXPERIENCE, text.replace("a reporting service", "a Python reporting service"), job_terms=TERMS
    )
    assert named.relevant_terms == ("Python",)
    assert named.score > feedback.score


def test_very_long_answers_are_flagged():
    long_text = " ".join([GOOD_STAR] * 6)
    feedback = analyze_answer(DEADLINE, long_text, job_terms=TERMS)
    assert feedback.word_count > 350 and feedback.length == "long"
    assert any(tip.startswith(f"Tighten it: {feedback.word_count} words is long") for tip in feedback.tips)
    # Three and a half minutes of speech is long even in few words.
    transcript = timed(GOOD_STAR, 20)
    spoken = analyze_answer(DEADLINE, transcript.text, job_terms=TERMS, transcript=transcript)
    assert spoken.duration > 180 and spoken.length == "long"


def test_empty_answer_still_gets_feedback():
    for text in ("", "   \n "):
        feedback = analyze_answer(DEADLINE, text, job_terms=TERMS)
        assert feedback.score == 0 and feedback.word_count == 0 and feedback.length == "short"
        assert len(feedback.tips) == 1 and "didn't catch an answer" in feedback.tips[0]
    silent = Transcript("", (), duration=4.0)
    feedback = analyze_answer(DEADLINE, "", job_terms=TERMS, transcript=silent)
    assert feedback.score == 0 and feedback.duration == 4.0 and feedback.wpm is None


@pytest.mark.parametrize(
    "text",
    [
        GOOD_STAR,
        POOR_STAR,
        RAMBLING,
        "Yes.",
        "Python.",
        " ".join([RAMBLING] * 20),
        "I think maybe, um, I'm not sure, like, probably Kubernetes? I guess.",
    ],
)
@pytest.mark.parametrize("question", [DEADLINE, EXPERIENCE, TECHNICAL, INTRO])
def test_score_is_the_sum_of_its_parts_and_there_are_one_to_three_tips(text, question):
    feedback = analyze_answer(question, text, job_terms=TERMS)
    assert set(feedback.score_parts) == {"content", "structure", "delivery", "relevance"}
    assert sum(feedback.score_parts.values()) == feedback.score
    assert 0 <= feedback.score <= 100
    assert 1 <= len(feedback.tips) <= 3 and len(set(feedback.tips)) == len(feedback.tips)


def test_feedback_survives_the_store_round_trip():
    transcript = timed(GOOD_STAR, 150)
    feedback = analyze_answer(DEADLINE, transcript.text, job_terms=TERMS, transcript=transcript)
    assert type(feedback).from_dict(feedback.to_dict()) == feedback
    stored = json.loads(json.dumps(feedback.to_dict()))
    assert Feedback.from_dict(stored) == feedback
    assert stored["grader"] == "rules" and stored["relevance"]["on_topic"] is True
    assert stored["key_points"][0] == {
        "point": "the deadline and why it was tight",
        "covered": True,
        "evidence": ANY_TEXT,
    }
    assert {tuple(p) for p in stored["key_points"]} == {("point", "covered", "evidence")}


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()

# What the store held before content grading existed: no relevance, key points or grader.
OLD_FEEDBACK = {
    "score": 61,
    "score_parts": {"content": 25, "structure": 17, "delivery": 12, "relevance": 7},
    "word_count": 64,
    "duration": None,
    "wpm": None,
    "pace": None,
    "fillers": {"um": 2},
    "hedges": {},
    "relevant_terms": ["Python"],
    "star": {"situation": True, "task": False, "action": True, "result": True, "metrics": False},
    "length": "ok",
    "unsure_words": [],
    "tips": ["Make your goal clear: what were you responsible for, and what did success look like?"],
}


def test_old_stored_feedback_still_loads_shows_and_reports():
    feedback = Feedback.from_dict(OLD_FEEDBACK)
    assert feedback.score == 61 and feedback.relevance is None and feedback.key_points == ()
    assert feedback.grader == "rules" and feedback.on_topic
    assert Feedback.from_dict(feedback.to_dict()) == feedback
    shown = Words.feedback(feedback)
    assert shown.startswith("Score: 61/100") and "Off-topic" not in shown and "key points" not in shown.lower()
    answer = Answer.from_dict(
        {
            "index": 0,
            "question": DEADLINE.to_dict(),
            "source": "text",
            "text": GOOD_STAR,
            "answered_at": 1000.0,
            "feedback": OLD_FEEDBACK,
        }
    )
    assert answer.feedback == feedback
    report = build_report(make_session([answer], [DEADLINE]))
    assert report.overall_score == 61 and not any("off-topic" in line for line in report.improvements)


def test_the_content_score_comes_from_key_points_not_length():
    retry = Question(
        "be-004",
        "technical",
        "How would you make a payment endpoint safe to retry, so that a customer is never charged twice?",
    )
    rambling = " ".join(
        ["Payments are critical, so I would be very careful not to charge customers twice, and test it a lot."] * 6
    )
    precise = (
        "The client sends an idempotency key; we store the response under it and return the stored response on a "
        "retry, with a unique constraint against races."
    )
    long_feedback = analyze_answer(retry, rambling, job_terms=TERMS)
    short_feedback = analyze_answer(retry, precise, job_terms=TERMS)
    assert long_feedback.on_topic and long_feedback.word_count > 3 * short_feedback.word_count
    assert short_feedback.score_parts["content"] > long_feedback.score_parts["content"] + 15
    assert sum(p["covered"] for p in short_feedback.key_points) == 4
    assert any(tip.startswith("Cover what interviewers listen for here:") for tip in long_feedback.tips)


def test_an_off_topic_answer_is_capped_however_well_it_is_delivered():
    say_no = Question(
        "beh-020", "behavioral", "Describe a time you had to say no to a request. How did you handle the conversation?"
    )
    feedback = analyze_answer(say_no, GOOD_STAR, job_terms=TERMS)
    assert not feedback.on_topic and feedback.star["result"]
    assert feedback.score == 30 and sum(feedback.score_parts.values()) == 30
    assert feedback.score_parts["content"] == feedback.score_parts["relevance"] == 0


def test_chat_feedback_shows_relevance_and_key_points_in_a_few_lines():
    retry = Question(
        "be-004",
        "technical",
        "How would you make a payment endpoint safe to retry, so that a customer is never charged twice?",
    )
    off = Words.feedback(
        analyze_answer(retry, "I have used Kubernetes a little on side projects, and AWS at work.", job_terms=TERMS)
    )
    lines = off.splitlines()
    assert lines[1].startswith("⚠️ Off-topic: the question asked how you would make a payment endpoint safe to retry")
    assert lines[2].startswith("🎯 Interviewers listen for: an idempotency key sent by the client; storing the result")
    partial = Words.feedback(
        analyze_answer(
            retry,
            "Every payment carries an idempotency key from the client, so a retry is recognised.",
            job_terms=TERMS,
        )
    )
    assert "Off-topic" not in partial
    assert "✅ You covered (1 of 5): an idempotency key sent by the client" in partial
    assert "➕ You could add: storing the result against the key; returning the stored result on a retry" in partial
    empty = Words.feedback(analyze_answer(retry, "", job_terms=TERMS))
    assert "Off-topic" not in empty and "listen for" not in empty


# ----- the report ------------------------------------------------------------------------------------------


def make_session(answers: list[Answer], questions: list[Question], *, status: str = "completed") -> Session:
    return Session(
        platform="telegram",
        user_id="1001",
        session_id="s-1",
        spec=SPEC,
        seed=7,
        questions=questions,
        created_at=1000.0,
        updated_at=2000.0,
        status=status,
        position=len(answers),
        answers=answers,
    )


def test_report_figures_on_a_hand_built_session():
    questions = [INTRO, DEADLINE, EXPERIENCE, TECHNICAL]
    voice = timed(GOOD_STAR, 140)
    voice_feedback = analyze_answer(DEADLINE, voice.text, job_terms=TERMS, transcript=voice)
    text_answer = "Um, I built our billing API in Python, um, and like, you know, I basically kept PostgreSQL tidy."
    text_feedback = analyze_answer(EXPERIENCE, text_answer, job_terms=TERMS)
    intro_text = "I'm a backend engineer. I build payment systems in Python; payment systems are my favourite."
    intro_feedback = analyze_answer(INTRO, intro_text, job_terms=TERMS)
    answers = [
        Answer(0, INTRO, "text", intro_text, 1001.0, intro_feedback),
        Answer(1, DEADLINE, "voice", voice.text, 1002.0, voice_feedback, duration=voice.duration),
        Answer(2, EXPERIENCE, "text", text_answer, 1003.0, text_feedback),
        Answer(3, TECHNICAL, "skipped", "", 1004.0),
    ]
    report = build_report(make_session(answers, questions))

    assert (report.answered, report.skipped, report.total, report.status) == (3, 1, 4, "completed")
    expected = (intro_feedback.score + voice_feedback.score + text_feedback.score) / 4  # the skip counts as 0
    assert report.overall_score == int(expected + 0.5)
    assert [(q.index, q.source, q.score) for q in report.per_question] == [
        (0, "text", intro_feedback.score),
        (1, "voice", voice_feedback.score),
        (2, "text", text_feedback.score),
        (3, "skipped", None),
    ]
    assert report.per_question[1].question == DEADLINE.text and report.per_question[1].category == "behavioral"
    assert report.average_wpm == pytest.approx(140, rel=0.02)  # the one voice answer
    assert report.total_fillers == 5
    assert report.filler_breakdown == {"um": 2, "basically": 1, "like": 1, "you know": 1}
    assert report.top_words[:2] == (("python", 3), ("payment", 2))
    assert all(count >= 2 for _, count in report.top_words) and len(report.top_words) <= 5
    assert "Used STAR structure (1 of 1 behavioural answers)" in report.strengths
    assert "Good pace (140 words per minute on average)" in report.strengths
    assert "Mentioned Python, PostgreSQL and backend" in report.strengths
    # Two short answers outrank one skip and one filler-heavy answer (a tie, broken by the fixed order).
    assert report.improvements == (
        "Give fuller answers (short: 2 of 3); aim for 1–2 minutes with a concrete example.",
        "Answer every question (skipped: 1); even a short attempt is useful practice.",
        "Cut filler words: 5 in total, most often 'um' (2).",
    )
    assert report.to_dict()["per_question"][3]["score"] is None


def test_most_frequent_issue_leads_the_improvements():
    questions = [DEADLINE, EXPERIENCE, TECHNICAL]
    short_answers = ["We did it together.", "I used it a bit.", "I'd check the logs."]
    answers = [
        Answer(i, q, "text", t, 1000.0 + i, analyze_answer(q, t, job_terms=TERMS))
        for i, (q, t) in enumerate(zip(questions, short_answers, strict=True))
    ]
    report = build_report(make_session(answers, questions))
    assert report.improvements[0].startswith("Give fuller answers (short: 3 of 3)")
    assert report.average_wpm is None and report.strengths == ()


def test_report_for_an_interview_ended_before_any_answer():
    report = build_report(make_session([], [INTRO, DEADLINE, TECHNICAL], status="ended"))
    assert report.overall_score == 0 and report.answered == 0 and report.skipped == 0 and report.total == 3
    assert report.status == "ended" and report.per_question == () and report.average_wpm is None
    assert report.total_fillers == 0 and report.filler_breakdown == {} and report.top_words == ()
    assert report.strengths == ()
    assert report.improvements == ("Finish the interview: you reached 0 of 3 questions before ending it.",)


def test_report_counts_off_topic_answers_and_praises_covered_key_points():
    say_no = Question(
        "beh-020", "behavioral", "Describe a time you had to say no to a request. How did you handle the conversation?"
    )
    story = (
        "Last spring the head of sales asked if my team could build a custom export by Friday. We were in the middle "
        "of a security release, so I told her we couldn't take it on that week and explained that it would delay a "
        "fix every customer needed. Instead I offered a CSV export and a proper version next sprint. She agreed, and "
        "the client was happy with it."
    )
    off_topic = [(DEADLINE, POOR_STAR), (say_no, GOOD_STAR)]
    answers = [
        Answer(i, q, "text", t, 1000.0 + i, analyze_answer(q, t, job_terms=TERMS)) for i, (q, t) in enumerate(off_topic)
    ]
    report = build_report(make_session(answers, [q for q, _ in off_topic]))
    assert "Answer the question that was asked (off-topic: 1 of 2); start with what it asks." in report.improvements
    assert "Be specific (general answers: 1 of 2); give a real example with what you did." in report.improvements
    good = [Answer(0, say_no, "text", story, 1000.0, analyze_answer(say_no, story, job_terms=TERMS))]
    report = build_report(make_session(good, [say_no]))
    assert "Covered what interviewers listen for (5 of 5 key points)" in report.strengths


def test_report_scores_an_answer_stored_without_feedback():
    answers = [Answer(0, DEADLINE, "text", GOOD_STAR, 1000.0, feedback=None)]
    report = build_report(make_session(answers, [DEADLINE]))
    assert report.overall_score == analyze_answer(DEADLINE, GOOD_STAR, job_terms=TERMS).score > 0
