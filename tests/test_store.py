"""Tests for TinyDBStore: persistence across processes, kill -9 safety, locking, threads, archive layout."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.errors import StoreLocked
from engine.session import Answer, Session
from engine.store import StoreCorrupt, TinyDBStore
from engine.store import tinydb as tinydb_module
from engine.types import Feedback, InterviewSpec, Question
from tests.durability import record_syncs

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("store_writer_child.py")
CHILD_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

QUESTIONS = [
    Question(id="intro-1", category="intro", text="Tell me about yourself."),
    Question(id="beh-1", category="behavioral", text="Describe a conflict you resolved."),
    Question(id="tech-1", category="technical", text="How would you design a rate limiter?", skill="python"),
]


def make_doc(
    user_id: str = "u1",
    session_id: str = "s1",
    *,
    platform: str = "telegram",
    status: str = "active",
    answers: int = 0,
    pending: list[dict] | None = None,
    updated_at: float = 1000.0,
    rev: int = 0,
) -> dict:
    """A document exactly as the engine produces it, via Session.to_dict(); `rev` as read back after that many saves."""
    session = Session(
        platform=platform,
        user_id=user_id,
        session_id=session_id,
        spec=InterviewSpec(
            role_title="Senior Backend Engineer",
            company_name="TechCorp Inc",
            industry="Technology",
            cv="Experienced Python developer with 5+ years. 파이썬 개발자",
            jd="Senior backend role requiring Python, Node.js",
            language="ko",
        ),
        seed=42,
        questions=list(QUESTIONS),
        created_at=updated_at - 100,
        updated_at=updated_at,
        name="김민수",
        status=status,
        position=answers,
        pending=list(pending or []),
        route={"chat_id": 12345},
        finished_at=updated_at if status != "active" else None,
        rev=rev,
    )
    for index in range(answers):
        session.answers.append(
            Answer(
                index=index,
                question=QUESTIONS[index],
                source="voice",
                text=f"안녕하세요 answer {index}",
                answered_at=updated_at - 50 + index,
                feedback=Feedback(score=60 + index, fillers={"um": 2}, tips=("Slow down.",), pace="good"),
                duration=20.0,
                audio_file=f"{session_id}/{index}.ogg",
            )
        )
    return session.to_dict()


def run_child(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHILD), *args], env=CHILD_ENV, capture_output=True, text=True, timeout=60, **kwargs
    )


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    path = None if request.param == "memory" else tmp_path / "db" / "sessions.json"
    opened = TinyDBStore(path)
    yield opened
    opened.close()


# -- the API, for the in-memory store the engine tests use and for the file store -----------------------------


def user_sessions(store: TinyDBStore, user_id: str) -> list[dict]:
    """A Telegram user's sessions, newest first, as the admin list sees them."""
    return [d for d in store.list_sessions() if d["platform"] == "telegram" and d["user_id"] == user_id]


def test_saved_session_reads_back_unchanged(store):
    doc = make_doc(answers=2)
    store.save(doc)
    assert store.get("telegram", "u1", "s1") == make_doc(answers=2, rev=1)
    assert Session.from_dict(store.get("telegram", "u1", "s1")).to_dict() == make_doc(answers=2, rev=1)
    assert store.get("telegram", "u1", "other") is None
    assert store.get("slack", "u1", "s1") is None


def test_save_replaces_the_same_session(store):
    store.save(make_doc(answers=0))
    store.save(make_doc(answers=2, updated_at=2000.0, rev=1))
    assert user_sessions(store, "u1") == [make_doc(answers=2, updated_at=2000.0, rev=2)]


def test_returned_documents_are_private_copies(store):
    store.save(make_doc(answers=1))
    got = store.get("telegram", "u1", "s1")
    got["answers"][0]["text"] = "changed"
    got["status"] = "ended"
    assert store.get("telegram", "u1", "s1") == make_doc(answers=1, rev=1)


def test_user_lookups(store):
    store.save(make_doc("u1", "old-done", status="completed", answers=3, updated_at=100.0))
    store.save(make_doc("u1", "active", updated_at=200.0))
    store.save(make_doc("u1", "newest-ended", status="ended", answers=1, updated_at=300.0))
    store.save(make_doc("u2", "other-user", updated_at=400.0))
    store.save(make_doc("u1", "other-platform", platform="slack", updated_at=500.0))

    assert store.active_for("telegram", "u1")["session_id"] == "active"
    assert store.latest_for("telegram", "u1")["session_id"] == "newest-ended"
    assert [d["session_id"] for d in user_sessions(store, "u1")] == ["newest-ended", "active", "old-done"]
    assert store.active_for("telegram", "nobody") is None
    assert store.latest_for("telegram", "nobody") is None
    assert user_sessions(store, "nobody") == []


def test_active_for_picks_the_newest_of_several_active(store):
    store.save(make_doc("u1", "a", updated_at=100.0))
    store.save(make_doc("u1", "b", updated_at=300.0))
    store.save(make_doc("u1", "c", updated_at=200.0))
    assert store.active_for("telegram", "u1")["session_id"] == "b"


def test_list_sessions(store):
    store.save(make_doc("u1", "done", status="completed", updated_at=100.0))
    store.save(make_doc("u2", "live", updated_at=200.0))
    store.save(make_doc("u3", "waiting", status="ended", pending=[{"audio": "x.ogg"}], updated_at=300.0))
    assert [d["session_id"] for d in store.list_sessions()] == ["waiting", "live", "done"]
    assert [d["session_id"] for d in store.list_sessions(include_finished=False)] == ["live"]


def test_update_is_a_read_modify_write_on_a_copy(store):
    store.save(make_doc(answers=1))

    def add_answer(doc):
        doc["answers"].append(make_doc(answers=2)["answers"][1])
        doc["position"] = 2
        return doc

    saved = store.update("telegram", "u1", "s1", add_answer)
    assert saved == make_doc(answers=2, rev=2) | {"position": 2}
    assert store.get("telegram", "u1", "s1") == saved

    def fail_halfway(doc):
        doc["status"] = "ended"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update("telegram", "u1", "s1", fail_halfway)
    assert store.get("telegram", "u1", "s1") == saved

    with pytest.raises(ValueError, match="key"):
        store.update("telegram", "u1", "s1", lambda doc: doc | {"session_id": "stolen"})
    assert store.get("telegram", "u1", "stolen") is None


def test_update_of_a_missing_session_returns_none_without_calling_fn(store):
    called = []
    assert store.update("telegram", "u1", "nope", lambda doc: called.append(doc) or doc) is None
    assert called == []


def test_pending_sessions(store):
    store.save(make_doc("u1", "idle"))
    store.save(make_doc("u2", "busy", pending=[{"audio_file": "busy/1.ogg", "received_at": 5.0}]))
    store.save(make_doc("u3", "ended-busy", status="ended", pending=[{"audio_file": "e/1.ogg"}]))
    assert sorted(d["session_id"] for d in store.pending_sessions()) == ["busy", "ended-busy"]

    store.update("telegram", "u3", "ended-busy", lambda doc: doc | {"pending": []})
    assert [d["session_id"] for d in store.pending_sessions()] == ["busy"]
    assert store.get("telegram", "u3", "ended-busy")["pending"] == []


def test_delete_user_removes_every_session(store):
    store.save(make_doc("u1", "live"))
    store.save(make_doc("u1", "done", status="completed", answers=3))
    store.save(make_doc("u2", "keep"))
    removed = store.delete_user("telegram", "u1")
    assert sorted(d["session_id"] for d in removed) == ["done", "live"]
    assert user_sessions(store, "u1") == []
    assert store.get("telegram", "u1", "done") is None
    assert store.get("telegram", "u2", "keep") is not None
    assert store.delete_user("telegram", "u1") == []


def test_claim_delivery(store):
    assert store.claim_delivery("telegram", "1001") is True
    assert store.claim_delivery("telegram", "1001") is False
    assert store.claim_delivery("slack", "1001") is True
    assert store.claim_delivery("telegram", "1002") is True


def test_stats_ping_close(store):
    store.save(make_doc("u1", "live"))
    store.save(make_doc("u2", "done", status="completed"))
    stats = store.stats()
    assert (stats["active"], stats["archived"]) == (1, 1)
    if store.path is not None:
        assert stats["main_bytes"] == folder_bytes(store.active_path) > 0  # no drafts yet: no main file
        assert stats["archive_bytes"] == folder_bytes(store.archive_path) > 0
        store.claim_delivery("telegram", "1")
        assert store.stats()["deliveries_bytes"] == store.deliveries_path.stat().st_size > 0
    assert store.ping() is True
    store.close()
    store.close()
    assert store.ping() is False
    with pytest.raises(RuntimeError, match="closed"):
        store.get("telegram", "u1", "live")


def test_in_memory_store_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with TinyDBStore(None) as memory:
        memory.save(make_doc(status="completed"))
        memory.claim_delivery("http", "x")
        assert memory.get("telegram", "u1", "s1")["status"] == "completed"
    assert list(tmp_path.iterdir()) == []


# -- files, processes and crashes -------------------------------------------------------------------------


def test_sessions_written_by_another_process_are_read_back(tmp_path):
    db = tmp_path / "data" / "sessions.json"
    docs = [
        make_doc("u1", "live", answers=2, updated_at=300.0),
        make_doc("u1", "done", status="completed", answers=3, updated_at=200.0),
        make_doc("u2", "waiting", status="ended", pending=[{"audio_file": "w/1.ogg"}], updated_at=100.0),
    ]
    docs_file = tmp_path / "docs.json"
    docs_file.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")

    result = run_child("save", str(db), str(docs_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["saved", "3"]

    saved = [{**doc, "rev": 1} for doc in docs]
    with TinyDBStore(db) as store:
        for doc in saved:
            assert store.get(doc["platform"], doc["user_id"], doc["session_id"]) == doc
        assert store.active_for("telegram", "u1") == saved[0]
        assert store.pending_sessions() == [saved[2]]
        assert [d["session_id"] for d in user_sessions(store, "u1")] == ["live", "done"]


def read_acks(proc: subprocess.Popen) -> list[list[str]]:
    out = proc.stdout.read()
    # A line cut short by the kill was never acknowledged.
    return [line.split() for line in out.split("\n")[:-1]]


def test_kill_9_never_loses_an_acknowledged_write_or_breaks_the_file(tmp_path):
    db = tmp_path / "sessions.json"
    rng = random.Random(20240611)
    expected: dict[str, dict] = {}  # session id -> what the child acknowledged
    kills_mid_run = 0
    for round_number in range(25):
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), "loop", str(db), str(round_number)],
            env=CHILD_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        time.sleep(rng.uniform(0, 0.15))
        proc.send_signal(signal.SIGKILL)
        acks = read_acks(proc)
        assert proc.wait(timeout=10) == -signal.SIGKILL, proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        kills_mid_run += bool(acks)

        round_deliveries = []
        for kind, session_id, *rest in acks:
            state = expected.setdefault(session_id, {"answers": 0, "finished": False})
            if kind == "answer":
                state["answers"] = int(rest[0])
            elif kind == "finish":
                state["finished"] = True
            elif kind == "delivery":
                round_deliveries.append(f"{session_id}-delivery")

        with TinyDBStore(db) as store:  # loads, or the test fails here
            for session_id, state in expected.items():
                doc = store.get("telegram", "crash-user", session_id)
                assert doc is not None, f"round {round_number}: acknowledged session {session_id} lost"
                texts = [answer["text"] for answer in doc["answers"]]
                # The write in flight at the kill may or may not have landed; every acknowledged one has.
                assert len(texts) >= state["answers"], (round_number, session_id, texts, state)
                assert texts == [f"{session_id} answer {n}" for n in range(1, len(texts) + 1)]
                if state["finished"]:
                    assert doc["status"] == "completed", (round_number, session_id)
            for delivery_id in round_deliveries:
                assert store.claim_delivery("telegram", delivery_id) is False, delivery_id
            finished = {sid for sid, state in expected.items() if state["finished"]}
            assert not finished & {d["session_id"] for d in store.list_sessions(include_finished=False)}
        assert not list(tmp_path.glob("*.tmp")), "leftover temp files survive a reopen"
    assert kills_mid_run >= 10, "the child was mostly killed before it wrote anything"
    assert sum(state["finished"] for state in expected.values()) >= 5


def test_second_open_is_refused_while_another_process_holds_the_store(tmp_path):
    db = tmp_path / "sessions.json"
    holder = subprocess.Popen(
        [sys.executable, str(CHILD), "hold", str(db)],
        env=CHILD_ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "ready\n", holder.stderr.read()
        with pytest.raises(StoreLocked) as refused:
            TinyDBStore(db)
        assert str(db) in refused.value.message
        assert f"pid {holder.pid}" in refused.value.message
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert holder.wait(timeout=10) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        for stream in (holder.stdin, holder.stdout, holder.stderr):
            stream.close()
    with TinyDBStore(db) as store:
        assert store.ping()


def test_second_open_in_the_same_process_is_refused_until_close(tmp_path):
    db = tmp_path / "sessions.json"
    first = TinyDBStore(db)
    with pytest.raises(StoreLocked, match="already open in this process") as refused:
        TinyDBStore(db)
    assert str(db) in refused.value.message
    first.save(make_doc())
    first.close()
    with TinyDBStore(db) as second:
        assert second.get("telegram", "u1", "s1") == make_doc(rev=1)


def test_many_threads_lose_no_update(tmp_path):
    db = tmp_path / "sessions.json"
    store = TinyDBStore(db)
    store.save(make_doc("shared", "shared"))
    for n in range(100):
        store.save(make_doc(f"user-{n}", f"s-{n}"))
    start = threading.Barrier(110)
    errors: list[BaseException] = []

    def bump(n: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                store.update("telegram", f"user-{n}", f"s-{n}", lambda d: d | {"position": d["position"] + 1})
        except BaseException as exc:
            errors.append(exc)

    def append(n: int) -> None:
        try:
            start.wait()
            for k in range(10):
                store.update(
                    "telegram",
                    "shared",
                    "shared",
                    lambda d, k=k: d | {"answers": [*d["answers"], {"text": f"{n}-{k}"}]},
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(n,)) for n in range(100)]
    threads += [threading.Thread(target=append, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store.close()

    with TinyDBStore(db) as reopened:
        assert all(reopened.get("telegram", f"user-{n}", f"s-{n}")["position"] == 3 for n in range(100))
        texts = [a["text"] for a in reopened.get("telegram", "shared", "shared")["answers"]]
        assert sorted(texts) == sorted(f"{n}-{k}" for n in range(10) for k in range(10))


def folder_session_ids(folder: Path) -> set[str]:
    """The sessions with a file in one of the store's folders."""
    return {json.loads(path.read_bytes())["session_id"] for path in folder.glob("*.json")}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*.json"))


def test_finished_sessions_move_to_the_archive_folder_one_file_each(tmp_path):
    db = tmp_path / "sessions.json"
    with TinyDBStore(db) as store:
        assert store.active_path == tmp_path / "sessions-active"
        assert store.archive_path == tmp_path / "sessions-archive"
        store.save(make_doc("u1", "live", answers=1))
        for n in range(20):
            store.save(make_doc(f"user-{n}", f"done-{n}", answers=2))
            store.update("telegram", f"user-{n}", f"done-{n}", lambda d: d | {"status": "completed"})
        assert folder_session_ids(store.active_path) == {"live"}
        assert folder_session_ids(store.archive_path) == {f"done-{n}" for n in range(20)}
        assert (store.archive_path / tinydb_module.file_name(("telegram", "user-3", "done-3"))).is_file()
        assert not db.exists(), "nothing but drafts goes to the main file"
        assert store.stats()["archived"] == 20
        assert store.get("telegram", "user-3", "done-3")["status"] == "completed"
        assert store.latest_for("telegram", "user-3")["session_id"] == "done-3"
        assert len(store.list_sessions()) == 21

        # A finished session that is resumed comes back to the active folder.
        store.update("telegram", "user-3", "done-3", lambda d: d | {"status": "active"})
        assert folder_session_ids(store.active_path) == {"live", "done-3"}
        assert "done-3" not in folder_session_ids(store.archive_path)
        assert store.active_for("telegram", "user-3")["session_id"] == "done-3"

    with TinyDBStore(db) as store:
        assert store.get("telegram", "user-5", "done-5") == make_doc("user-5", "done-5", answers=2, rev=2) | {
            "status": "completed"
        }
        store.save(make_doc("user-5", "live-5"))
        assert len(store.delete_user("telegram", "user-5")) == 2
    with TinyDBStore(db) as store:
        assert [d for d in store.list_sessions() if d["user_id"] == "user-5"] == []
    assert "done-5" not in folder_session_ids(tmp_path / "sessions-archive")


def test_session_files_are_readable_by_the_owner_only(tmp_path):
    with TinyDBStore(tmp_path / "sessions.json") as store:
        store.save(make_doc("u1", "live"))
        store.save(make_doc("u2", "done", status="completed"))
        store.claim_delivery("telegram", "1")
    for path in [*tmp_path.glob("sessions-*/*.json"), tmp_path / "sessions-deliveries.jsonl"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (tmp_path / "sessions-active", tmp_path / "sessions-archive"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_custom_archive_path(tmp_path):
    db = tmp_path / "a" / "sessions.json"
    archive = tmp_path / "b" / "old.json"
    with TinyDBStore(db, archive_path=archive) as store:
        store.save(make_doc(status="ended"))
        assert store.archive_path == tmp_path / "b" / "old"  # a .json name from the first layout names the folder
    assert folder_session_ids(tmp_path / "b" / "old") == {"s1"}
    with TinyDBStore(db, archive_path=archive) as store:
        assert store.get("telegram", "u1", "s1")["status"] == "ended"
    with TinyDBStore(db, archive_path=tmp_path / "b" / "old") as store:  # or name the folder itself
        assert store.get("telegram", "u1", "s1")["status"] == "ended"


def test_claim_delivery_survives_reopen_and_is_forgotten_by_age(tmp_path):
    db = tmp_path / "sessions.json"
    with TinyDBStore(db) as store:
        assert all(store.claim_delivery("telegram", str(n), claimed_at=100.0 + n) for n in range(8))
    with TinyDBStore(db) as store:
        assert [store.claim_delivery("telegram", str(n)) for n in range(8)] == [False] * 8
        assert store.purge_deliveries(claimed_before=103.0) == 3
        assert store.purge_deliveries(claimed_before=103.0) == 0
    with TinyDBStore(db) as store:
        # The old ids are gone from the file too; the newer ones are still remembered.
        assert [store.claim_delivery("telegram", str(n)) for n in range(8)] == [True] * 3 + [False] * 5
    assert len((tmp_path / "sessions-deliveries.jsonl").read_bytes().splitlines()) == 8


def test_a_delivery_line_torn_by_a_crash_is_dropped_and_the_log_stays_usable(tmp_path):
    db = tmp_path / "sessions.json"
    log = tmp_path / "sessions-deliveries.jsonl"
    with TinyDBStore(db) as store:
        store.claim_delivery("telegram", "1")
    log.write_bytes(log.read_bytes() + b'{"p":"telegram","id":"2","t":1')  # the claim of "2" never returned
    with TinyDBStore(db) as store:
        assert store.claim_delivery("telegram", "1") is False
        assert store.claim_delivery("telegram", "2") is True
        assert store.claim_delivery("telegram", "3") is True
    assert [json.loads(line)["id"] for line in log.read_bytes().splitlines()] == ["1", "2", "3"]


def test_the_inbox_survives_a_reopen_and_a_torn_last_line_is_dropped(tmp_path):
    db = tmp_path / "sessions.json"
    log = tmp_path / "sessions-deliveries.jsonl"
    with TinyDBStore(db) as store:
        assert store.inbox_put("telegram", "1", {"update_id": 1, "message": {"text": "first"}}, received_at=5.0)
        assert store.inbox_put("telegram", "2", {"update_id": 2}, received_at=6.0)
        store.inbox_done("telegram", "2")
        assert store.inbox_put("slack", "Ev1", {"event_id": "Ev1"}, received_at=7.0)
    # A crash cut the arrival of update 3 short: its put never returned, so nobody acknowledged it.
    log.write_bytes(log.read_bytes() + b'{"p":"telegram","id":"3","t":8.0,"in":{"update_')
    with TinyDBStore(db) as store:
        assert store.inbox_pending("telegram") == [("1", {"update_id": 1, "message": {"text": "first"}})]
        assert store.inbox_pending("slack") == [("Ev1", {"event_id": "Ev1"})]
        assert store.inbox_put("telegram", "2", {"update_id": 2}) is False  # handled before the reopen
        assert store.inbox_put("telegram", "3", {"update_id": 3}) is True  # Telegram sends it again: new
        store.inbox_done("telegram", "1")
    with TinyDBStore(db) as store:
        assert store.inbox_pending("telegram") == [("3", {"update_id": 3})]
        assert store.inbox_put("telegram", "1", {"update_id": 1}) is False
        assert store.purge_deliveries(claimed_before=time.time() + 1) == 2  # ids 1 and 2; update 3 given up too
    with TinyDBStore(db) as store:
        assert store.inbox_pending("telegram") == [] and store.inbox_pending("slack") == []
    assert log.read_bytes() == b""


def test_a_failed_delivery_append_leaves_no_half_line(tmp_path, monkeypatch):
    db = tmp_path / "sessions.json"
    log = tmp_path / "sessions-deliveries.jsonl"
    store = TinyDBStore(db)
    store.claim_delivery("telegram", "1")
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, data[:5])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        store.claim_delivery("telegram", "2")
    monkeypatch.undo()
    assert store.claim_delivery("telegram", "2") is True  # not remembered as claimed, and the file is whole
    store.close()
    assert [json.loads(line)["id"] for line in log.read_bytes().splitlines()] == ["1", "2"]


def test_a_corrupt_file_is_reported_not_replaced(tmp_path):
    db = tmp_path / "sessions.json"
    with TinyDBStore(db) as store:
        store.save(make_doc())
        store.put_draft("telegram", "u2", {"step": "role"}, saved_at=1.0)
    good = db.read_bytes()
    db.write_text('{"sessions": {"1": {"platform": "telegram", "user_', encoding="utf-8")
    with pytest.raises(StoreCorrupt) as corrupt:
        TinyDBStore(db)
    assert str(db) in corrupt.value.message
    assert db.read_text(encoding="utf-8").startswith('{"sessions": {"1"'), "the damaged file was overwritten"

    db.write_bytes(b"")
    with pytest.raises(StoreCorrupt, match="empty"):
        TinyDBStore(db)

    db.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(StoreCorrupt, match="not a TinyDB database"):
        TinyDBStore(db)

    # The failed opens released the lock: once repaired, the store opens.
    db.write_bytes(good)
    with TinyDBStore(db) as store:
        assert store.get("telegram", "u1", "s1") == make_doc(rev=1)


def test_a_corrupt_session_file_is_reported_not_replaced(tmp_path):
    db = tmp_path / "sessions.json"
    with TinyDBStore(db) as store:
        store.save(make_doc())
    session_file = next((tmp_path / "sessions-active").glob("*.json"))
    good = session_file.read_bytes()
    session_file.write_bytes(good[: len(good) // 2])
    with pytest.raises(StoreCorrupt) as corrupt:
        TinyDBStore(db)
    assert str(session_file) in corrupt.value.message
    assert session_file.read_bytes() == good[: len(good) // 2]
    # A session under another session's name (a hand-made copy) is refused the same way.
    session_file.write_bytes(json.dumps(make_doc("u1", "other")).encode())
    with pytest.raises(StoreCorrupt, match="file name"):
        TinyDBStore(db)
    session_file.write_bytes(good)
    with TinyDBStore(db) as store:
        assert store.get("telegram", "u1", "s1") == make_doc(rev=1)


def test_a_corrupt_archive_is_reported(tmp_path):
    db = tmp_path / "sessions.json"
    archive = tmp_path / "sessions-archive.json"
    archive.write_bytes(b"\x00\x00\x00")
    with pytest.raises(StoreCorrupt) as corrupt:
        TinyDBStore(db)
    assert str(archive) in corrupt.value.message


def test_a_leftover_temp_file_is_ignored_and_removed(tmp_path):
    db = tmp_path / "sessions.json"
    with TinyDBStore(db) as store:
        store.save(make_doc())
    leftovers = [tmp_path / ".sessions.json.abc123.tmp", tmp_path / "sessions-active" / ".0123abcd.json.x1.tmp"]
    for leftover in leftovers:
        leftover.write_text('{"sessions": {"1": {"half', encoding="utf-8")
    with TinyDBStore(db) as store:
        assert store.get("telegram", "u1", "s1") == make_doc(rev=1)
    assert not any(leftover.exists() for leftover in leftovers)


def test_a_failed_write_changes_nothing(tmp_path, monkeypatch):
    db = tmp_path / "sessions.json"
    store = TinyDBStore(db)
    store.save(make_doc(answers=1))
    real_replace = os.replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.update("telegram", "u1", "s1", lambda d: d | {"position": 9})
    with pytest.raises(OSError, match="No space"):
        store.save(make_doc("u2", "s2"))
    monkeypatch.setattr(os, "replace", real_replace)

    assert store.get("telegram", "u1", "s1") == make_doc(answers=1, rev=1)
    assert store.get("telegram", "u2", "s2") is None
    store.save(make_doc("u3", "s3"))
    store.close()
    assert not list(tmp_path.glob("*.tmp"))
    with TinyDBStore(db) as reopened:
        assert [d["session_id"] for d in reopened.list_sessions()] == ["s1", "s3"]


def test_a_move_whose_removal_fails_keeps_the_newer_copy(tmp_path, monkeypatch, caplog):
    db = tmp_path / "sessions.json"
    store = TinyDBStore(db)
    store.save(make_doc(answers=2))
    real_unlink = os.unlink

    def active_copy_stays(path, *args, **kwargs):
        if Path(path).parent.name == "sessions-active":
            raise OSError(5, "Input/output error")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", active_copy_stays)
    finished = make_doc(answers=3, status="completed", rev=2)
    with caplog.at_level("ERROR", logger="engine.store.tinydb"):
        store.save(
            {**finished, "rev": 1}
        )  # the archive copy is durable: that is a save, whatever became of the old copy
    assert "older copy" in caplog.text
    monkeypatch.undo()
    assert folder_session_ids(tmp_path / "sessions-active") == {"s1"}
    assert store.get("telegram", "u1", "s1") == finished
    assert user_sessions(store, "u1") == [finished]
    assert store.active_for("telegram", "u1") is None
    store.close()

    with TinyDBStore(db, read_only=True) as snapshot:  # a snapshot picks the newer copy without repairing
        assert snapshot.list_sessions() == [finished]
    with TinyDBStore(db) as reopened:
        assert reopened.list_sessions() == [finished]
        assert folder_session_ids(tmp_path / "sessions-active") == set()


def test_a_crash_between_the_two_folders_keeps_the_copy_written_last(tmp_path):
    """A kill between writing the archive copy and removing the active one: REV says which copy is current."""
    db = tmp_path / "sessions.json"
    name = tinydb_module.file_name(("telegram", "u1", "s1"))
    with TinyDBStore(db) as store:
        store.save(make_doc(answers=2))
        active_copy = (tmp_path / "sessions-active" / name).read_bytes()
        store.save(make_doc(answers=3, status="completed", rev=1))
    (tmp_path / "sessions-active" / name).write_bytes(active_copy)  # as if the removal never happened
    with TinyDBStore(db) as store:
        assert store.list_sessions() == [make_doc(answers=3, status="completed", rev=2)]
        assert store.active_for("telegram", "u1") is None
    assert not (tmp_path / "sessions-active" / name).exists()

    # And the other way round: resumed (archive -> active), killed before the archive copy went.
    with TinyDBStore(db) as store:
        archived_copy = (tmp_path / "sessions-archive" / name).read_bytes()
        store.update("telegram", "u1", "s1", lambda d: d | {"status": "active"})
    (tmp_path / "sessions-archive" / name).write_bytes(archived_copy)
    with TinyDBStore(db) as store:
        assert store.active_for("telegram", "u1")["status"] == "active"
    assert not (tmp_path / "sessions-archive" / name).exists()


def test_read_only_snapshot_beside_the_running_writer(tmp_path):
    db = tmp_path / "sessions.json"
    writer = TinyDBStore(db)
    writer.save(make_doc("u1", "live", answers=1))
    writer.save(make_doc("u2", "done", status="completed", answers=3))
    files_before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}

    snapshot = TinyDBStore(db, read_only=True)  # the writer holds the lock; reading needs none
    assert [d["session_id"] for d in snapshot.list_sessions(include_finished=False)] == ["live"]
    assert snapshot.get("telegram", "u2", "done") == make_doc("u2", "done", status="completed", answers=3, rev=1)
    with pytest.raises(RuntimeError, match="read-only"):
        snapshot.save(make_doc("u3", "new"))
    with pytest.raises(RuntimeError, match="read-only"):
        snapshot.claim_delivery("telegram", "1")
    assert snapshot.ping()
    snapshot.close()
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == files_before

    writer.update("telegram", "u1", "live", lambda d: d | {"status": "ended"})
    with TinyDBStore(db, read_only=True) as later:
        assert later.list_sessions(include_finished=False) == []
    writer.close()


def test_read_only_open_of_a_missing_database_is_empty_and_creates_nothing(tmp_path):
    with TinyDBStore(tmp_path / "none" / "sessions.json", read_only=True) as snapshot:
        assert snapshot.list_sessions() == []
    assert list(tmp_path.iterdir()) == []


def test_set_up_drafts_survive_a_restart_and_go_with_forget(tmp_path):
    path = tmp_path / "sessions.json"
    with TinyDBStore(path) as store:
        store.put_draft("telegram", "7", {"step": "company", "role": "Data Engineer"}, saved_at=1.0)
        store.put_draft("telegram", "7", {"step": "industry", "role": "Data Engineer", "company": "Acme"}, saved_at=2.0)
        store.put_draft("telegram", "8", {"step": "role"}, saved_at=3.0)
    with TinyDBStore(path) as store:
        assert store.get_draft("telegram", "7") == {"step": "industry", "role": "Data Engineer", "company": "Acme"}
        assert store.get_draft("slack", "7") is None
        store.delete_draft("telegram", "8")
        assert store.get_draft("telegram", "8") is None
        store.save(make_doc("7", "s1", platform="telegram"))
        assert len(store.delete_user("telegram", "7")) == 1
        assert store.get_draft("telegram", "7") is None


def test_each_write_syncs_the_temp_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    # The kill -9 test cannot see this order (the page cache outlives the process); a power cut would.
    db = tmp_path / "sessions.json"
    store = TinyDBStore(db)
    calls = record_syncs(monkeypatch)
    store.save(make_doc())
    saved = list(calls)
    calls.clear()
    store.claim_delivery("telegram", "1")
    claimed = list(calls)
    monkeypatch.undo()
    store.close()
    assert saved == [
        ("fsync", "file"),
        ("replace", tinydb_module.file_name(("telegram", "u1", "s1"))),
        ("fsync", "folder"),
    ]
    # The delivery log (created, and its name synced, on open) is appended to: each claim syncs its line.
    assert claimed == [("fsync", "file")]


def test_a_folder_sync_failing_after_the_rename_does_not_report_a_written_save_as_failed(tmp_path, monkeypatch, caplog):
    db = tmp_path / "sessions.json"
    store = TinyDBStore(db)

    def folder_sync_fails(folder):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(tinydb_module, "fsync_dir", folder_sync_fails)
    with caplog.at_level("ERROR", logger="engine.store.tinydb"):
        store.save(make_doc(answers=1))  # the file is already replaced: this write happened
    assert "could not be synced" in caplog.text and "Input/output error" in caplog.text
    assert store.get("telegram", "u1", "s1") == make_doc(answers=1, rev=1)
    monkeypatch.undo()
    store.close()
    with TinyDBStore(db) as reopened:
        assert reopened.get("telegram", "u1", "s1") == make_doc(answers=1, rev=1)
