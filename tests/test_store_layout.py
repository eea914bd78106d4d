"""TinyDBStore's layout: what each operation writes does not grow with history, and a first-layout database migrates.

Costs are measured in bytes written to the store's files (new or replaced files count whole, appends count what they
add), not in time, so the tests are exact and quick.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from engine.store import TinyDBStore
from engine.store import tinydb as tinydb_module

REV = tinydb_module.REV
CV = "Python developer, eight years of PostgreSQL, queues and on-call. " * 60  # about 4 KB, like a real CV


def session(user_id: str, session_id: str, *, status: str = "active", answers: int = 2, **extra: Any) -> dict:
    return {
        "platform": "telegram",
        "user_id": user_id,
        "session_id": session_id,
        "status": status,
        "spec": {"role_title": "Backend Engineer", "cv": CV},
        "position": answers,
        "answers": [{"index": n, "text": f"answer {n} " * 80} for n in range(answers)],
        "pending": [],
        "created_at": 1000.0,
        "updated_at": 2000.0,
        "finished_at": None if status == "active" else 2000.0,
        **extra,
    }


FileState = tuple[int, int, int]


def files(root: Path) -> dict[Path, FileState]:
    """Every file of the store under root (the lock aside): inode, size, modification time."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith(".lock"):
            info = path.stat()
            found[path] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return found


def written(before: dict[Path, FileState], after: dict[Path, FileState]) -> tuple[int, set[str]]:
    """Bytes written between two listings, and what changed: "+name" written, "-name" removed."""
    total = 0
    changed = set()
    for path, (inode, size, mtime) in after.items():
        old = before.get(path)
        if old is None or old[0] != inode:
            total += size  # created, or replaced by a rename
        elif old != (inode, size, mtime):
            assert size > old[1], f"{path} was changed in place, not appended to"
            total += size - old[1]
        else:
            continue
        changed.add(f"+{path.parent.name}/{path.name}" if path.parent.name.startswith("sessions-") else f"+{path.name}")
    changed |= {f"-{path.parent.name}/{path.name}" for path in before.keys() - after.keys()}
    return total, changed


def populated(root: Path, *, active: int, finished: int, deliveries: int) -> TinyDBStore:
    store = TinyDBStore(root / "sessions.json")
    for n in range(active):
        store.save(session(f"user-{n}", f"live-{n}"))
    for n in range(finished):
        store.save(session(f"done-user-{n}", f"done-{n}", status="completed", answers=8))
    for n in range(deliveries):
        store.claim_delivery("telegram", str(10_000_000 + n))
    store.put_draft("telegram", "drafting", {"step": "cv", "cv": CV}, saved_at=1.0)
    return store


def costs(root: Path, *, active: int, finished: int, deliveries: int) -> dict[str, tuple[int, set[str]]]:
    """Bytes written, and the files touched, by one claim, one answer and one finish on a store of that size."""
    store = populated(root, active=active, finished=finished, deliveries=deliveries)
    found = {}

    def measure(name: str, operation) -> None:
        before = files(root)
        operation()
        found[name] = written(before, files(root))

    measure("claim", lambda: store.claim_delivery("telegram", "99999999"))
    measure("answer", lambda: store.update("telegram", "user-0", "live-0", lambda d: d | {"position": 3}))
    measure("finish", lambda: store.update("telegram", "user-0", "live-0", lambda d: d | {"status": "completed"}))
    store.close()
    return found


def test_claiming_answering_and_finishing_write_the_same_bytes_at_any_history(tmp_path: Path) -> None:
    small = costs(tmp_path / "small", active=5, finished=5, deliveries=10)
    large = costs(tmp_path / "large", active=300, finished=600, deliveries=3000)
    for operation in ("claim", "answer", "finish"):
        small_bytes, small_files = small[operation]
        large_bytes, large_files = large[operation]
        assert small_files == large_files, operation
        # The revision stamp grows by a digit or two; nothing else may.
        assert small_bytes > 0 and large_bytes <= small_bytes + 8, (operation, small_bytes, large_bytes)
    name = tinydb_module.file_name(("telegram", "user-0", "live-0"))
    assert large["claim"][1] == {"+sessions-deliveries.jsonl"}
    assert large["claim"][0] < 100  # one line
    assert large["answer"][1] == {f"+sessions-active/{name}"}
    assert large["finish"][1] == {f"+sessions-archive/{name}", f"-sessions-active/{name}"}


def test_a_read_only_snapshot_and_a_reopen_do_not_rewrite_anything(tmp_path: Path) -> None:
    store = populated(tmp_path, active=3, finished=3, deliveries=3)
    before = files(tmp_path)
    with TinyDBStore(tmp_path / "sessions.json", read_only=True) as snapshot:
        assert len(snapshot.list_sessions()) == 6
    store.close()
    with TinyDBStore(tmp_path / "sessions.json") as reopened:
        assert len(reopened.list_sessions()) == 6
    assert files(tmp_path) == before


# ----- the first layout ------------------------------------------------------------------------------------------


def first_layout(root: Path, *, archive_name: str = "sessions-archive.json") -> dict[str, dict]:
    """A database as the first layout wrote it: every unfinished session, the delivery ids and the drafts in the
    main file, finished sessions in the archive file; one session caught by a crash in both, the newer in the archive.
    """
    live = session("u1", "live", _store_rev=7)
    pending = session("u2", "ended-pending", status="ended", pending=[{"id": "p1", "failed": True}], _store_rev=5)
    done = session("u3", "done", status="completed", answers=8, _store_rev=3)
    moved_old = session("u4", "moved", answers=2, _store_rev=8)
    moved_new = session("u4", "moved", status="completed", answers=3, _store_rev=9)
    main = {
        "sessions": {"1": live, "2": pending, "3": moved_old},
        "deliveries": {
            "1": {"platform": "telegram", "ids": ["501", "502"]},
            "2": {"platform": "slack", "ids": ["Ev1"]},
        },
        "drafts": {"1": {"platform": "telegram", "user_id": "u9", "data": {"step": "company"}, "saved_at": 5.0}},
    }
    archive = {"sessions": {"1": done, "2": moved_new}}
    (root / "sessions.json").write_text(json.dumps(main), encoding="utf-8")
    (root / archive_name).write_text(json.dumps(archive), encoding="utf-8")
    public = {doc["session_id"]: {k: v for k, v in doc.items() if k != REV} for doc in (live, pending, done, moved_new)}
    return public


def check_migrated_content(store: TinyDBStore, expected: dict[str, dict]) -> None:
    for doc in expected.values():
        assert store.get("telegram", doc["user_id"], doc["session_id"]) == doc
    assert [d["session_id"] for d in store.list_sessions(include_finished=False)] == ["live"]
    assert [d["session_id"] for d in store.pending_sessions()] == ["ended-pending"]
    assert store.get_draft("telegram", "u9") == {"step": "company"}


def test_a_first_layout_database_is_migrated_on_open(tmp_path: Path) -> None:
    expected = first_layout(tmp_path)
    with TinyDBStore(tmp_path / "sessions.json") as store:
        check_migrated_content(store, expected)
        assert store.claim_delivery("telegram", "502") is False  # the ids already seen stay seen
        assert store.claim_delivery("slack", "Ev1") is False
        assert store.claim_delivery("telegram", "503") is True
        # The revision counter carries on past every migrated copy, so new writes win over them.
        store.update("telegram", "u1", "live", lambda d: d | {"position": 1})
    assert not (tmp_path / "sessions-archive.json").exists()
    assert set(json.loads((tmp_path / "sessions.json").read_text())) == {"drafts"}
    active = {p.name for p in (tmp_path / "sessions-active").glob("*.json")}
    archived = {p.name for p in (tmp_path / "sessions-archive").glob("*.json")}
    name = tinydb_module.file_name
    # Finished with a failed answer still pending stays active-side until it is settled, as before.
    assert active == {name(("telegram", "u1", "live")), name(("telegram", "u2", "ended-pending"))}
    assert archived == {name(("telegram", "u3", "done")), name(("telegram", "u4", "moved"))}
    with TinyDBStore(tmp_path / "sessions.json") as reopened:
        assert reopened.get("telegram", "u1", "live")["position"] == 1
        assert reopened.get("telegram", "u4", "moved") == expected["moved"]


def test_a_migration_interrupted_by_a_crash_finishes_on_the_next_open(tmp_path: Path, monkeypatch) -> None:
    expected = first_layout(tmp_path)
    real_write = tinydb_module._FolderShelf.write
    calls = []

    def crash_on_the_third(self, key, doc):
        calls.append(key)
        if len(calls) == 3:
            raise KeyboardInterrupt  # stands in for kill -9: nothing after this point runs
        real_write(self, key, doc)

    monkeypatch.setattr(tinydb_module._FolderShelf, "write", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        TinyDBStore(tmp_path / "sessions.json")
    monkeypatch.undo()
    assert (tmp_path / "sessions-archive.json").exists()  # the old files stay until every session is across
    with TinyDBStore(tmp_path / "sessions.json") as store:
        check_migrated_content(store, expected)
        assert store.claim_delivery("telegram", "501") is False
    assert not (tmp_path / "sessions-archive.json").exists()


def test_a_read_only_snapshot_reads_a_first_layout_database_without_migrating_it(tmp_path: Path) -> None:
    expected = first_layout(tmp_path)
    before = files(tmp_path)
    with TinyDBStore(tmp_path / "sessions.json", read_only=True) as snapshot:
        check_migrated_content(snapshot, expected)
        assert len(snapshot.list_sessions()) == 4
    assert files(tmp_path) == before


def test_a_configured_archive_file_of_the_first_layout_is_migrated_into_a_folder_of_that_name(tmp_path: Path) -> None:
    expected = first_layout(tmp_path, archive_name="old.json")
    with TinyDBStore(tmp_path / "sessions.json", archive_path=tmp_path / "old.json") as store:
        check_migrated_content(store, expected)
        assert store.archive_path == tmp_path / "old"
    assert not (tmp_path / "old.json").exists()
    assert len(list((tmp_path / "old").glob("*.json"))) == 2


def test_forgetting_a_user_that_fails_part_way_leaves_a_consistent_store_and_can_be_repeated(tmp_path, monkeypatch):
    store = TinyDBStore(tmp_path / "sessions.json")
    store.save(session("u1", "live"))
    store.save(session("u1", "done", status="completed"))
    store.save(session("u2", "other"))
    real_unlink = os.unlink

    def archive_fails(path, *args, **kwargs):
        if Path(path).parent.name == "sessions-archive":
            raise OSError(5, "Input/output error")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", archive_fails)
    with pytest.raises(OSError):
        store.delete_user("telegram", "u1")
    monkeypatch.undo()
    assert sorted(d["session_id"] for d in store.list_sessions()) == ["done", "other"]  # what is left, readable
    assert store.latest_for("telegram", "u1")["session_id"] == "done"
    assert [d["session_id"] for d in store.delete_user("telegram", "u1")] == ["done"]
    assert [d["session_id"] for d in store.list_sessions()] == ["other"]
    store.close()
    with TinyDBStore(tmp_path / "sessions.json") as reopened:
        assert [d["session_id"] for d in reopened.list_sessions()] == ["other"]


def test_a_file_where_the_archive_folder_goes_is_refused_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "archive").write_text(json.dumps({"sessions": {}}), encoding="utf-8")
    with pytest.raises(tinydb_module.StoreCorrupt, match=r"rename it to archive\.json"):
        TinyDBStore(tmp_path / "sessions.json", archive_path=tmp_path / "archive")
    (tmp_path / "archive").rename(tmp_path / "archive.json")
    with TinyDBStore(tmp_path / "sessions.json", archive_path=tmp_path / "archive") as store:
        assert store.list_sessions() == []
    assert (tmp_path / "archive").is_dir() and not (tmp_path / "archive.json").exists()
