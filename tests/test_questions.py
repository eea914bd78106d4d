"""The question planner and the skills matcher, on real job descriptions and CVs."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from engine.coaching.questions import (
    ROUND_TYPES,
    bank_questions,
    extract_skills,
    infer_domains,
    job_terms,
    plan_questions,
    question_templates,
    skill_info,
)
from engine.coaching.rubrics import rubric_for
from engine.errors import InvalidInput
from engine.types import InterviewSpec, Question

DATA = Path(__file__).resolve().parent.parent / "engine" / "coaching" / "data"
CATEGORIES = {"intro", "behavioral", "situational", "technical", "experience", "gap", "motivation", "closing"}

BACKEND = InterviewSpec(
    role_title="Senior Backend Engineer",
    company_name="TechCorp Inc",
    industry="Technology",
    cv=(
        "Backend developer with six years of Python and Django. Designed PostgreSQL schemas for a payments "
        "platform, containerised services with Docker and mentored two junior engineers."
    ),
    jd=(
        "We are hiring a Senior Backend Engineer to build our payments APIs. You will work with Python, Node.js "
        "and PostgreSQL, deploy to Kubernetes on AWS, and own CI/CD for your services."
    ),
)
DATA_SCIENTIST = InterviewSpec(
    role_title="Data Scientist",
    company_name="Northwind Health",
    industry="Healthcare",
    jd="Build forecasting models in Python with pandas and scikit-learn; present findings in Tableau.",
)
SALES = InterviewSpec(role_title="Account Executive", company_name="Acme Inc.", industry="FinTech")
SPECS = (BACKEND, DATA_SCIENTIST, SALES, InterviewSpec("Office Wizard", "Globex", "Retail"))


def plan(spec: InterviewSpec, round_type: str = "full", seed: int = 1):
    return plan_questions(dataclasses.replace(spec, round_type=round_type), seed)


def by_category(questions) -> Counter[str]:
    return Counter(q.category for q in questions)


# ----- tailoring -------------------------------------------------------------------------------------------


def test_full_round_asks_about_shared_skills_and_probes_the_gaps():
    shared = {"Python", "PostgreSQL"}  # in the JD and the CV
    missing = {"Node.js", "Kubernetes", "AWS", "CI/CD"}  # in the JD only
    seen_experience, seen_gap = set(), set()
    for seed in range(60):
        questions = plan(BACKEND, seed=seed)
        assert len(questions) == 8
        for q in questions:
            if q.category == "experience":
                assert q.skill in shared and q.skill in q.text
                assert q.id == f"exp-{q.skill.lower()}"
                seen_experience.add(q.skill)
            elif q.category == "gap":
                assert q.skill in missing and q.skill in q.text and "CV" in q.text
                seen_gap.add(q.skill)
            else:
                assert q.skill == ""
    # Over many interviews each shared skill gets asked about, and the gaps rotate through the JD's top skills.
    assert seen_experience == shared
    assert len(seen_gap) >= 2


def test_experience_and_gap_questions_read_naturally():
    questions = [q for seed in range(30) for q in plan(BACKEND, "technical", seed)]
    texts = {q.text for q in questions if q.category in ("experience", "gap")}
    assert "Tell me about a project where you used Python. What was your part in it, and what did you learn?" in texts
    assert "The role asks for Kubernetes, which your CV doesn't mention. How would you get up to speed?" in texts
    gap_ids = {q.id for q in questions if q.category == "gap"}
    assert gap_ids <= {"gap-nodejs", "gap-kubernetes", "gap-aws"}


def test_common_noun_skills_are_lower_case_inside_sentences():
    spec = InterviewSpec(
        "Machine Learning Engineer",
        "Initech",
        "Insurance",
        cv="I trained deep learning models in PyTorch.",
        jd="Experience with machine learning and deep learning.",
    )
    texts = [q.text for seed in range(20) for q in plan(spec, "technical", seed) if q.category == "experience"]
    assert texts and all("machine learning" in t or "deep learning" in t for t in texts)
    assert not any("Machine learning" in t or "Deep learning" in t for t in texts)


def test_role_company_and_industry_are_filled_in():
    texts = " ".join(q.text for seed in range(40) for q in plan(BACKEND, seed=seed))
    assert "TechCorp Inc" in texts and "Senior Backend Engineer" in texts
    # A plain industry name reads as a common noun; no template placeholder survives.
    assert "technology industry" in texts
    assert "{" not in texts and "}" not in texts
    sales = " ".join(q.text for seed in range(40) for q in plan(SALES, seed=seed))
    assert "FinTech industry" in sales
    assert "Acme Inc. or the team?" in sales and "Inc.." not in sales


def test_no_cv_means_no_gap_questions_and_no_jd_skills_uses_the_cv():
    no_cv = dataclasses.replace(BACKEND, cv="")
    for seed in range(20):
        assert not {"gap", "experience"} & set(by_category(plan(no_cv, "technical", seed)))
    cv_only = dataclasses.replace(BACKEND, jd="", role_title="Software Engineer")
    skills = {q.skill for seed in range(20) for q in plan(cv_only, "technical", seed) if q.category == "experience"}
    assert skills and skills <= {"Python", "Django", "PostgreSQL", "Docker"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (BACKEND, ["backend"]),
        (DATA_SCIENTIST, ["data", "ml"]),
        (InterviewSpec("iOS Developer", "A", "B"), ["mobile"]),
        (InterviewSpec("Product Manager", "A", "B"), ["product"]),
        (InterviewSpec("Customer Success Manager", "A", "B"), ["sales"]),
        (InterviewSpec("Software Engineer", "A", "B", jd="React, TypeScript and CSS, tested with Jest."), ["frontend"]),
        (InterviewSpec("Office Wizard", "A", "B"), ["general"]),
    ],
)
def test_domain_comes_from_the_title_then_the_jd(spec, expected):
    assert infer_domains(spec) == expected


def test_technical_questions_come_from_the_jobs_domains():
    for seed in range(30):
        ids = [q.id for q in plan(DATA_SCIENTIST, "technical", seed) if q.category == "technical"]
        assert ids and all(i.startswith(("data-", "ml-")) for i in ids)
        sales_ids = [q.id for q in plan(SALES, "technical", seed)]
        assert sum(i.startswith("sales-") for i in sales_ids) >= 4


# ----- round mixes -----------------------------------------------------------------------------------------


def test_full_round_mix():
    for seed in range(30):
        questions = plan(BACKEND, "full", seed)
        counts = by_category(questions)
        assert questions[0].category == "intro" and questions[-1].category == "closing"
        assert questions[-2].category == "motivation"
        assert counts["behavioral"] == 1 and counts["situational"] == 1
        assert counts["experience"] + counts["gap"] + counts["technical"] == 3
        assert counts["experience"] >= 1 and counts["gap"] == 1


def test_screening_round_mix():
    for seed in range(30):
        backend = [q.category for q in plan(BACKEND, "screening", seed)]
        assert backend == ["intro", "motivation", "experience", "closing"]
        # Without shared skills the role question is a technical one for the domain.
        sales = [q.category for q in plan(SALES, "screening", seed)]
        assert sales == ["intro", "motivation", "technical", "closing"]


def test_behavioral_round_mix():
    for seed in range(30):
        counts = by_category(plan(BACKEND, "behavioral", seed))
        assert counts == Counter({"behavioral": 3, "intro": 1, "situational": 1})


def test_technical_round_mix():
    for seed in range(30):
        questions = plan(BACKEND, "technical", seed)
        counts = by_category(questions)
        assert len(questions) == 5 and set(counts) <= {"experience", "gap", "technical"}
        assert counts["experience"] == 2 and counts["gap"] == 1
        assert questions[0].category == "experience"
        assert len(plan(SALES, "technical", seed)) == 5


def test_round_type_is_case_and_space_tolerant():
    assert plan(BACKEND, " Technical ", 3) == plan(BACKEND, "technical", 3)


def test_unknown_round_type_lists_the_valid_ones():
    with pytest.raises(InvalidInput) as info:
        plan(BACKEND, "marathon")
    assert info.value.fields == {
        "round_type": "unknown round type 'marathon'; choose one of: full, screening, behavioral, technical"
    }
    assert set(ROUND_TYPES) >= {"full", "screening", "behavioral", "technical"}


def test_no_question_twice_in_any_plan():
    for spec in SPECS:
        for round_type in ROUND_TYPES:
            for seed in range(150):
                questions = plan(spec, round_type, seed)
                assert len({q.id for q in questions}) == len(questions)
                assert len({q.text for q in questions}) == len(questions)
                assert all(q.category in CATEGORIES for q in questions)


def test_plans_are_deterministic_per_seed_and_vary_across_seeds():
    assert plan(BACKEND, seed=42) == plan(BACKEND, seed=42)
    assert plan(DATA_SCIENTIST, "behavioral", 7) == plan(DATA_SCIENTIST, "behavioral", 7)
    distinct = {tuple(q.id for q in plan(BACKEND, seed=s)) for s in range(10)}
    assert len(distinct) >= 8


# ----- the bank and the lexicon ----------------------------------------------------------------------------


def test_bank_is_large_and_well_formed():
    bank = bank_questions()
    assert len(bank) >= 80
    assert len({q["id"] for q in bank}) == len(bank) == len({q["text"] for q in bank})
    assert {q["category"] for q in bank} == {"intro", "behavioral", "situational", "technical", "motivation", "closing"}
    domains = Counter(q["domain"] for q in bank if q["category"] == "technical")
    for domain in (
        "backend",
        "frontend",
        "data",
        "devops",
        "mobile",
        "ml",
        "security",
        "product",
        "design",
        "sales",
        "general",
    ):
        assert domains[domain] >= 5, domain
    placeholders = {p for q in bank for p in re.findall(r"\{(\w+)\}", q["text"])}
    assert placeholders <= {"role", "company", "industry"}


def test_lexicon_has_at_least_200_skills_with_the_tricky_ones():
    skills = json.loads((DATA / "skills.json").read_text(encoding="utf-8"))["skills"]
    names = {s["name"] for s in skills}
    assert len(skills) >= 200
    assert {"Node.js", "C++", "C#", "Machine learning", "CI/CD", ".NET", "React Native", "PostgreSQL", "Go"} <= names


# ----- the skills matcher ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Senior backend role requiring Python, Node.js, Kubernetes and PostgreSQL.",
            ["Python", "Node.js", "Kubernetes", "PostgreSQL"],
        ),
        ("Strong C++ and C# skills; .NET Core a plus.", ["C++", "C#", ".NET"]),
        ("Built APIs in ASP.NET and nodejs, later moved them to Node.", ["ASP.NET", "Node.js"]),
        ("We run CI/CD on GitHub Actions, with ci-cd checks and continuous integration.", ["CI/CD", "GitHub Actions"]),
        ("JavaScript only, no Java.", ["JavaScript", "Java"]),
        ("Expert in javascript.", ["JavaScript"]),
        ("PYTHON, python3 and Python.", ["Python"]),
        ("Used postgres and Postgres daily.", ["PostgreSQL"]),
        ("Machine-learning pipelines and MACHINE LEARNING research.", ["Machine learning"]),
        ("Shipped apps with React Native and a web client in React.", ["React Native", "React"]),
        ("Our apps use k8s and Docker Compose.", ["Kubernetes", "Docker"]),
        ("Linux/Docker on AWS.", ["Linux", "Docker", "AWS"]),
    ],
)
def test_extract_skills(text, expected):
    assert extract_skills(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Go to the store and get some good coffee; let's go.",
        "The team did a good job and we are going to keep going.",
        "Good work, go team!",
        "Our R&D group reports to the C-level.",
        "I had to react quickly when the spark of an idea came.",
        "The notion of a quick sketch helped us excel.",
        "Each node in the cluster restarted.",
        "Here, swift delivery matters.",
    ],
)
def test_english_words_are_not_mistaken_for_skills(text):
    assert extract_skills(text) == []


def test_short_skill_names_match_in_context():
    assert extract_skills("We write services in Go and some Rust.") == ["Go", "Rust"]
    assert extract_skills("i used golang for our api") == ["Go"]
    assert extract_skills("Skills:\nGo, Python, R\nC") == ["Go", "Python", "R", "C"]
    assert extract_skills("Analysis in R and Python; tooling in C.") == ["R", "Python", "C"]
    assert extract_skills("Go-to-market plans") == ["Go-to-market"]


def test_job_terms_are_the_jobs_skills_and_title_words():
    terms = job_terms(BACKEND)
    assert terms[:5] == ["Python", "Node.js", "PostgreSQL", "Kubernetes", "AWS"]
    assert "CI/CD" in terms and "backend" in terms
    assert not {"senior", "engineer", "Senior", "Engineer"} & set(terms)
    assert job_terms(SALES) == ["account"]
    # A title word inside a skill is not a second term ("customer" would match any answer about customers).
    assert job_terms(InterviewSpec("Customer Success Manager", "A", "B")) == ["Customer success"]
    assert set(job_terms(DATA_SCIENTIST)) == {"Time series", "Python", "Pandas", "scikit-learn", "Tableau", "data"}


def test_full_round_always_asks_why_this_company():
    spec = InterviewSpec("Product Designer", "Lumen Health", "Healthcare")
    for seed in range(40):
        motivation = [q for q in plan_questions(spec, seed) if q.category == "motivation"]
        assert len(motivation) == 1 and "Lumen Health" in motivation[0].text


def test_a_placeholder_industry_never_appears_in_a_question():
    for round_type in ROUND_TYPES:
        for seed in range(40):
            spec = InterviewSpec("Backend Engineer", "TechCorp", "General", round_type=round_type)
            assert not any("general industry" in q.text.lower() for q in plan_questions(spec, seed))


# ----- rubrics ----------------------------------------------------------------------------------------------


def test_every_bank_question_and_template_has_a_rubric_with_three_to_six_points():
    bank = bank_questions()
    assert len(bank) >= 100
    for raw in bank:
        text = raw["text"].format(role="Data Analyst", company="Globex", industry="retail")
        rubric = rubric_for(Question(raw["id"], raw["category"], text))
        assert rubric.source == "bank", raw["id"]
        assert 3 <= len(rubric.points) <= 6, raw["id"]
        assert all(p.point and p.cues for p in rubric.points), raw["id"]
        assert rubric.topic and rubric.asks and "{" not in rubric.asks, raw["id"]
        if raw["category"] == "behavioral":
            # Behavioural questions carry their own topic besides STAR: a story about something else is no answer.
            assert len(rubric.topic) >= 5 and not any(c.shared for c in rubric.topic), raw["id"]
    templates = question_templates()
    for skill in ("Python", "Kubernetes", "Machine learning", "A/B testing", "Figma", "Negotiation", "COBOL"):
        for category, texts in templates.items():
            for template in texts:
                text = template.format(skill=skill, role="Data Analyst")
                rubric = rubric_for(Question(f"{category[:3]}-x", category, text, skill=skill))
                assert rubric.source == "template" and 3 <= len(rubric.points) <= 6, (skill, template)
                assert "{" not in rubric.asks and "{" not in " ".join(p.point for p in rubric.points)
                # Skill questions are built from the skill: it (through any lexicon alias) and its neighbours in the
                # same field make the topic, and an experience answer is expected to say how the skill was used.
                assert {"skill", "related_skill"} <= {c.special for c in rubric.topic}, template
                if category == "experience":
                    assert any(c.special == "skill" for p in rubric.points for c in p.cues), template


def test_every_planned_question_gets_its_own_rubric():
    for spec in SPECS:
        for round_type in ROUND_TYPES:
            for seed in range(15):
                for q in plan(spec, round_type, seed):
                    rubric = rubric_for(q)
                    assert rubric.source in ("bank", "template"), q
                    assert "{" not in rubric.asks and "}" not in rubric.asks, q
                    if q.skill:
                        skill = skill_info(q.skill)
                        assert skill is not None and skill.phrase in rubric.asks, q
