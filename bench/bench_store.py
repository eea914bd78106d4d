"""Benchmark of TinyDBStore: claiming a delivery id, answering and finishing, as stored sessions pile up.

Each size holds half its sessions active (partly answered) and half finished, plus ten delivery ids claimed per
session. Every operation is timed one at a time, interleaved, on a store opened over that history; "written" is what
the process handed to write() for one operation (/proc/self/io), so it shows whether a write grows with history.

Run: python bench/bench_store.py   (prints a table; takes about 20 seconds)
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.session import Answer, Session
from engine.store import TinyDBStore
from engine.store import tinydb as tinydb_module
from engine.types import Feedback, InterviewSpec, Question

SIZES = (100, 1_000, 10_000)  # stored sessions; half of them active
DELIVERIES_PER_SESSION = 10
OPERATIONS = 300  # of each kind, per size
WARM_UP = 20  # untimed rounds first
CATEGORIES = ("intro", "behavioral", "situational", "technical", "experience", "gap", "motivation", "closing")
WORDS = (
    *("we", "designed", "migrated", "the", "service", "latency", "dropped", "team", "python", "postgres"),
    *("queue", "retries", "customers", "ownership", "conflict", "deadline", "tradeoff", "cache", "rollout"),
)


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def answer(rng: random.Random, questions: list[Question], i: int, now: float) -> dict:
    return Answer(
        index=i,
        question=questions[i],
        source="voice",
        text=sentence(rng, 110),
        answered_at=now - 800 + i * 90,
        duration=48.0,
        audio_file=f"{i}.ogg",
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
    ).to_dict()


def session_doc(rng: random.Random, n: int, *, active: bool) -> dict:
    """A realistic interview: CV and JD text, 8 questions; finished with 8 answers, active with 4."""
    now = 1_700_000_000.0 + n * 60
    questions = [
        Question(id=f"{CATEGORIES[i]}-{i}", category=CATEGORIES[i], text=sentence(rng, 14) + "?") for i in range(8)
    ]
    answered = 4 if active else 8
    session = Session(
        platform="telegram",
        user_id=f"user-{n}",
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
        status="active" if active else "completed",
        position=answered,
        route={"chat_id": 100_000 + n},
        finished_at=None if active else now,
    )
    doc = session.to_dict()
    doc["answers"] = [answer(rng, questions, i, now) for i in range(answered)]
    return doc


def seed(folder: Path, rng: random.Random, size: int) -> list[dict]:
    """Write the history straight into the store's layout (as the store itself would), unsynced, then sync once.

    Returns the active sessions.
    """
    main = folder / "sessions.json"
    active_dir, archive_dir = folder / "sessions-active", folder / "sessions-archive"
    active_dir.mkdir(mode=0o700)
    archive_dir.mkdir(mode=0o700)
    active = []
    for n in range(size):
        doc = session_doc(rng, n, active=n % 2 == 0)
        doc[tinydb_module.REV] = n + 1
        key = (doc["platform"], doc["user_id"], doc["session_id"])
        target = active_dir if doc["status"] == "active" else archive_dir
        (target / tinydb_module.file_name(key)).write_bytes(tinydb_module._encode(doc))
        if doc["status"] == "active":
            active.append(doc)
    now = time.time()
    lines = (
        json.dumps({"p": "telegram", "id": str(900_000_000 + n), "t": now}, separators=(",", ":")) + "\n"
        for n in range(size * DELIVERIES_PER_SESSION)
    )
    main.with_name("sessions-deliveries.jsonl").write_text("".join(lines), encoding="utf-8")
    os.sync()  # so the measured fsyncs don't pay for the seeding's dirty pages
    return active


def written_bytes() -> int:
    """Bytes this process has passed to write() so far (Linux), or 0 where that is not known."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Bench:
    """One store over a seeded history, and the three operations on it."""

    def __init__(self, folder: Path, rng: random.Random, size: int) -> None:
        self.size = size
        active = seed(folder, rng, size)
        keys = [(doc["platform"], doc["user_id"], doc["session_id"]) for doc in active]
        self.new_answer = answer(rng, [Question(id="q", category="technical", text="?")] * 8, 0, 0.0)
        del active
        gc.collect()
        start = time.perf_counter()
        self.store = TinyDBStore(folder / "sessions.json")
        self.open_s = time.perf_counter() - start
        self.to_finish, self.to_answer = keys[::2], keys[1::2]
        self.operations: dict[str, Callable[[int], object]] = {
            "claim": lambda i: self.store.claim_delivery("telegram", str(800_000_000 + i)),
            "answer": lambda i: self.store.update(*self.to_answer[i % len(self.to_answer)], self.answer_fifth),
            "finish": lambda i: self.store.update(*self.to_finish[i % len(self.to_finish)], finish),
        }
        self.timings: dict[str, list[float]] = {name: [] for name in self.operations}
        self.written: dict[str, list[int]] = {name: [] for name in self.operations}

    def answer_fifth(self, doc: dict) -> dict:
        # The 5th answer, again and again: the document keeps its size, as history is what should grow here.
        doc["answers"] = [*doc["answers"][:4], {**self.new_answer, "index": 4}]
        doc["position"] = 5
        doc["updated_at"] += 60
        return doc

    def round(self, i: int, *, timed: bool) -> None:
        for name, operation in self.operations.items():
            before = written_bytes()
            start = time.perf_counter()
            operation(i)
            elapsed = (time.perf_counter() - start) * 1000
            if timed:
                self.timings[name].append(elapsed)
                self.written[name].append(written_bytes() - before)
        # Untimed: the finished session becomes active again, so the store keeps half its sessions active.
        self.store.update(*self.to_finish[i % len(self.to_finish)], resume)


def finish(doc: dict) -> dict:
    doc["status"] = "completed"
    doc["finished_at"] = doc["updated_at"] = doc["updated_at"] + 60
    return doc


def resume(doc: dict) -> dict:
    return doc | {"status": "active", "finished_at": None}


def main() -> None:
    rng = random.Random(7)
    sample = session_doc(rng, 0, active=False)
    print(f"one finished session: {len(json.dumps(sample).encode()) / 1024:.1f} KiB of JSON; an active one about half")
    with tempfile.TemporaryDirectory() as tmp:
        benches = []
        for size in SIZES:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            benches.append(Bench(folder, rng, size))
        # Round by round across the sizes, so whatever else the machine does hits every size alike.
        for i in range(WARM_UP + OPERATIONS):
            for bench in benches:
                bench.round(i, timed=i >= WARM_UP)
        for bench in benches:
            stats = bench.store.stats()
            assert (stats["active"], stats["archived"]) == (bench.size - bench.size // 2, bench.size // 2), stats
            bench.store.close()
    header = (
        f"{'stored':>7} {'active':>6} {'op':<7} {'n':>4} {'median ms':>10} {'p95 ms':>8} {'written':>10} {'open s':>7}"
    )
    print(header)
    print("-" * len(header))
    for bench in benches:
        for name, values in bench.timings.items():
            print(
                f"{bench.size:>7,} {bench.size - bench.size // 2:>6,} {name:<7} {len(values):>4} "
                f"{statistics.median(values):>10.2f} {p95(values):>8.2f} "
                f"{statistics.median(bench.written[name]) / 1024:>6.1f} KiB {bench.open_s:>7.2f}"
            )
    small, large = benches[0], benches[-1]
    ratios = ", ".join(f"{name} {p95(large.timings[name]) / p95(small.timings[name]):.2f}x" for name in small.timings)
    print(f"\np95 at {large.size:,} stored sessions against {small.size:,} (target: within 2x): {ratios}")


if __name__ == "__main__":
    main()
