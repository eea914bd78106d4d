"""Benchmark of TinyDBStore: the cost of one answer write as finished sessions pile up, archive vs one file.

Run: python bench/bench_store.py   (prints a table; takes about a minute)
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tinydb import TinyDB

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.session import Answer, Session
from engine.store import TinyDBStore
from engine.types import Feedback, InterviewSpec, Question

SIZES = (100, 1_000, 10_000)
WRITES = 50
NAIVE_WRITES_AT_10K = 10  # each one rewrites the whole history; keeps the run under two minutes
CATEGORIES = ("intro", "behavioral", "situational", "technical", "experience", "gap", "motivation", "closing")
WORDS = (
    *("we", "designed", "migrated", "the", "service", "latency", "dropped", "team", "python", "postgres"),
    *("queue", "retries", "customers", "ownership", "conflict", "deadline", "tradeoff", "cache", "rollout"),
)


class SingleFileStore(TinyDBStore):
    """The naive layout: finished sessions stay in the file that every answer rewrites."""

    def _belongs_in_archive(self, doc: dict) -> bool:
        return False


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def session_doc(rng: random.Random, n: int, *, status: str = "completed", answers: int = 8) -> dict:
    """A realistic finished interview: CV and JD text, 8 questions, 8 voice answers with feedback."""
    now = 1_700_000_000.0 + n * 60
    questions = [
        Question(id=f"{CATEGORIES[i]}-{i}", category=CATEGORIES[i], text=sentence(rng, 14) + "?") for i in range(8)
    ]
    session = Session(
        platform="telegram",
        user_id=f"user-{n % 700}",
        session_id=f"session-{n}",
        spec=InterviewSpec(
            role_title="Senior Backend Engineer",
            company_name="TechCorp Inc",
            industry="Technology",
            cv=sentence(rng, 180),
            jd=sentence(rng, 120),
        ),
        seed=n,
        questions=questions,
        created_at=now - 900,
        updated_at=now,
        name=f"Candidate {n}",
        status=status,
        position=answers,
        route={"chat_id": 100_000 + n},
        finished_at=now if status != "active" else None,
    )
    for i in range(answers):
        session.answers.append(
            Answer(
                index=i,
                question=questions[i],
                source="voice",
                text=sentence(rng, 110),
                answered_at=now - 800 + i * 90,
                duration=48.0,
                audio_file=f"session-{n}/{i}.ogg",
                feedback=Feedback(
                    score=rng.randint(40, 95),
                    score_parts={"length": 20, "structure": 25, "relevance": 15, "delivery": 12},
                    word_count=110,
                    duration=48.0,
                    wpm=137.5,
                    pace="good",
                    fillers={"um": rng.randint(0, 4), "like": rng.randint(0, 3)},
                    hedges={"i think": 1},
                    relevant_terms=("python", "postgres", "queue"),
                    star={"situation": True, "task": True, "action": True, "result": False},
                    unsure_words=("postgres",),
                    tips=("Finish with the result and a number.", "Cut the fillers: pause instead."),
                ),
            )
        )
    return session.to_dict()


def seed(path: Path, docs: list[dict]) -> None:
    """Write the history in one go, as a plain TinyDB file (the store's own format)."""
    db = TinyDB(str(path))
    db.table("sessions").insert_multiple(docs)
    db.close()


def time_answer_writes(store: TinyDBStore, active: dict, writes: int) -> list[float]:
    """Each write is what one answer costs: update() of the active session, adding or replacing an answer."""
    all_answers = active["answers"]
    timings = []
    for i in range(writes):
        count = i % len(all_answers) + 1

        def answer(doc: dict, count: int = count) -> dict:
            doc["answers"] = all_answers[:count]
            doc["position"] = count
            doc["updated_at"] += 1
            return doc

        start = time.perf_counter()
        store.update(active["platform"], active["user_id"], active["session_id"], answer)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_layout(folder: Path, layout: str, history: list[dict], active: dict, writes: int) -> dict:
    path = folder / f"{layout}-{len(history)}.json"
    archive = folder / f"{layout}-{len(history)}-archive.json"
    seed(archive if layout == "archive" else path, history)
    store_class = TinyDBStore if layout == "archive" else SingleFileStore
    start = time.perf_counter()
    store = store_class(path, archive_path=archive)
    open_ms = (time.perf_counter() - start) * 1000
    store.save(active)
    timings = time_answer_writes(store, active, writes)
    main_bytes = store.stats()["main_bytes"]
    store.close()
    for file in (path, archive):
        file.unlink(missing_ok=True)
    return {"open_ms": open_ms, "timings": timings, "main_bytes": main_bytes}


def time_claims(folder: Path) -> tuple[float, float, int]:
    """claim_delivery runs once per incoming message; measure it with the id list full (5000 kept)."""
    with TinyDBStore(folder / "claims.json") as store:
        for n in range(TinyDBStore.DELIVERY_IDS_KEPT):
            store.claim_delivery("telegram", str(900_000_000 + n))
        timings = []
        for n in range(WRITES):
            start = time.perf_counter()
            store.claim_delivery("telegram", str(950_000_000 + n))
            timings.append((time.perf_counter() - start) * 1000)
        size = store.stats()["main_bytes"]
    return statistics.median(timings), p95(timings), size


def main() -> None:
    rng = random.Random(7)
    active = session_doc(rng, -1, status="active")
    active["session_id"] = "the-active-one"
    doc_kib = len(json.dumps(active, ensure_ascii=False).encode()) / 1024
    print(f"one finished session: {doc_kib:.1f} KiB of JSON (CV, JD, 8 questions, 8 answers with feedback)")
    header = (
        f"{'finished':>9} {'layout':<12} {'writes':>6} {'median ms':>10} {'p95 ms':>8} {'main file':>12} {'open ms':>9}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in SIZES:
            history = [session_doc(rng, n) for n in range(size)]
            for layout in ("archive", "single-file"):
                writes = NAIVE_WRITES_AT_10K if layout == "single-file" and size >= 10_000 else WRITES
                result = run_layout(folder, layout, history, active, writes)
                timings = result["timings"]
                print(
                    f"{size:>9,} {layout:<12} {writes:>6} {statistics.median(timings):>10.2f} "
                    f"{p95(timings):>8.2f} {result['main_bytes'] / 1024:>9,.0f} KiB {result['open_ms']:>9.0f}"
                )
        median, high, size = time_claims(folder)
        print(
            f"\nclaim_delivery with {TinyDBStore.DELIVERY_IDS_KEPT} ids kept: median {median:.2f} ms, "
            f"p95 {high:.2f} ms, main file {size / 1024:.0f} KiB"
        )


if __name__ == "__main__":
    main()
