"""Answer feedback and the end-of-interview report, on real answers and hand-built sessions."""

from __future__ import annotations

import pytest

from engine.coaching.feedback import analyze_answer, build_report, job_terms
from engine.session import Answer, Session
from engine.types import InterviewSpec, Question, Transcript, Word

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
    assert poor.tips[0].startswith("Give more detail: 18 words is short")


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


def test_report_scores_an_answer_stored_without_feedback():
    answers = [Answer(0, DEADLINE, "text", GOOD_STAR, 1000.0, feedback=None)]
    report = build_report(make_session(answers, [DEADLINE]))
    assert report.overall_score == analyze_answer(DEADLINE, GOOD_STAR, job_terms=TERMS).score > 0
