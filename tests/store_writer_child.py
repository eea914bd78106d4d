"""A separate process for tests/test_store.py: saves sessions, holds the store's lock, or writes until killed.

Usage (with the project root on PYTHONPATH):
    store_writer_child.py save DB DOCS_JSON   save every document in DOCS_JSON, print "saved N", exit
    store_writer_child.py hold DB             open the store, print "ready", close when stdin gets a line
    store_writer_child.py loop DB ROUND       write forever, printing "ack ..." after each write returns
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from engine.session import Answer, Session
from engine.store import TinyDBStore
from engine.types import Feedback, InterviewSpec, Question

QUESTIONS = [Question(id=f"q{i}", category="behavioral", text=f"Question {i}?") for i in range(3)]


def new_session(session_id: str) -> Session:
    now = time.time()
    return Session(
        platform="telegram",
        user_id="crash-user",
        session_id=session_id,
        spec=InterviewSpec(role_title="Backend Engineer", company_name="TechCorp", industry="Technology"),
        seed=7,
        questions=list(QUESTIONS),
        created_at=now,
        updated_at=now,
        name="Crash Test",
    )


def answer_text(session_id: str, number: int) -> str:
    return f"{session_id} answer {number}"


def add_answer(doc: dict) -> dict:
    number = len(doc["answers"]) + 1
    answer = Answer(
        index=number - 1,
        question=QUESTIONS[number - 1],
        source="voice",
        text=answer_text(doc["session_id"], number),
        answered_at=time.time(),
        feedback=Feedback(score=70, word_count=40, tips=("Use the STAR structure.",)),
        duration=12.5,
    )
    doc["answers"].append(answer.to_dict())
    doc["position"] = number
    doc["updated_at"] = time.time()
    return doc


def finish(doc: dict) -> dict:
    doc["status"] = "completed"
    doc["finished_at"] = doc["updated_at"] = time.time()
    return doc


def ack(*parts: object) -> None:
    sys.stdout.write(" ".join(str(part) for part in parts) + "\n")
    sys.stdout.flush()


def write_loop(store: TinyDBStore, round_number: int) -> None:
    """Each step is one write; it is acknowledged only after the store call returned."""
    index = 0
    while True:
        session_id = f"r{round_number}-{index}"
        store.save(new_session(session_id).to_dict())
        ack("save", session_id)
        for number in range(1, len(QUESTIONS) + 1):
            store.update("telegram", "crash-user", session_id, add_answer)
            ack("answer", session_id, number)
        store.update("telegram", "crash-user", session_id, finish)
        ack("finish", session_id)
        if store.claim_delivery("telegram", f"{session_id}-delivery"):
            ack("delivery", session_id)
        index += 1


def main(argv: list[str]) -> int:
    mode, db = argv[1], Path(argv[2])
    with TinyDBStore(db) as store:
        if mode == "save":
            docs = json.loads(Path(argv[3]).read_text(encoding="utf-8"))
            for doc in docs:
                store.save(doc)
            ack("saved", len(docs))
        elif mode == "hold":
            ack("ready")
            sys.stdin.readline()
        elif mode == "loop":
            ack("ready")
            write_loop(store, int(argv[3]))
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
