"""The SessionStore protocol's promises, checked against every store: TinyDBStore (on files), MemoryStore and
RedisStore (on a real redis-server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Comment, InterviewSpec, Rating, Session, Team, errors, space_id
from engine.store import MemoryStore, RedisStore, SessionStore, TinyDBStore
from tests.redis_support import prefix


@pytest.fixture(params=["tinydb", "memory", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    opened: SessionStore
    if request.param == "tinydb":
        opened = TinyDBStore(tmp_path / "sessions.json")
    elif request.param == "memory":
        opened = MemoryStore()
    else:
        opened = RedisStore(request.getfixturevalue("redis_server").url, prefix=prefix())
    yield opened
    opened.close()


def doc(user_id: str, session_id: str, *, status: str = "active", updated_at: float = 1.0, **extra: Any) -> dict:
    return {
        "platform": "telegram",
        "user_id": user_id,
        "session_id": session_id,
        "status": status,
        "position": 0,
        "answers": [],
        "pending": [],
        "route": {"chat_id": 7},
        "created_at": 1.0,
        "updated_at": updated_at,
        **extra,
    }


def test_save_and_get_round_trip_through_copies(store: SessionStore) -> None:
    original = doc("u1", "s1")
    assert store.save(original) == 1  # the first revision
    original["route"]["chat_id"] = 99  # the caller's object is not the stored one
    got = store.get("telegram", "u1", "s1")
    assert got == doc("u1", "s1", rev=1)
    assert got is not None
    got["route"]["chat_id"] = 42  # nor is what the store hands out
    assert store.get("telegram", "u1", "s1") == doc("u1", "s1", rev=1)
    assert store.get("telegram", "u1", "nope") is None
    assert store.get("slack", "u1", "s1") is None
    assert store.save(doc("u1", "s1", position=3, rev=1)) == 2  # same key: replaced
    assert store.get("telegram", "u1", "s1")["position"] == 3  # type: ignore[index]
    with pytest.raises(ValueError):
        store.save({"platform": "telegram", "user_id": "u1"})


def test_active_and_latest_and_finished_sessions_stay_readable(store: SessionStore) -> None:
    assert store.active_for("telegram", "u1") is None and store.latest_for("telegram", "u1") is None
    store.save(doc("u1", "old", status="completed", updated_at=1.0, finished_at=1.0))
    store.save(doc("u1", "current", updated_at=2.0))
    assert store.active_for("telegram", "u1")["session_id"] == "current"  # type: ignore[index]
    assert store.latest_for("telegram", "u1")["session_id"] == "current"  # type: ignore[index]
    store.save(doc("u1", "current", status="ended", updated_at=3.0, finished_at=3.0, rev=1))
    assert store.active_for("telegram", "u1") is None
    assert store.latest_for("telegram", "u1")["status"] == "ended"  # type: ignore[index]
    # Finished sessions are still there to read, by key and in the full list.
    assert store.get("telegram", "u1", "old")["status"] == "completed"  # type: ignore[index]
    store.save(doc("u2", "other", updated_at=4.0))
    assert [d["session_id"] for d in store.list_sessions()] == ["other", "current", "old"]
    assert [d["session_id"] for d in store.list_sessions(include_finished=False)] == ["other"]
    assert store.stats()["active"] == 1


def test_delete_user_removes_sessions_and_draft_of_that_user_only(store: SessionStore) -> None:
    store.save(doc("u1", "a", status="completed", updated_at=1.0))
    store.save(doc("u1", "b", updated_at=2.0))
    store.save(doc("u2", "c"))
    store.put_draft("telegram", "u1", {"step": "role"}, saved_at=1.0)
    removed = store.delete_user("telegram", "u1")
    assert sorted(d["session_id"] for d in removed) == ["a", "b"]
    assert store.latest_for("telegram", "u1") is None and store.get_draft("telegram", "u1") is None
    assert [d["session_id"] for d in store.list_sessions()] == ["c"]
    assert store.delete_user("telegram", "u1") == []


def test_delete_session_removes_that_one_session_from_every_read(store: SessionStore) -> None:
    space = space_id(-100, 7)
    store.save(doc(space, "first", status="ended", updated_at=1.0, finished_at=1.0))
    store.save(doc(space, "second", updated_at=2.0, pending=[{"id": "p1", "audio_file": "a.ogg"}]))
    store.save(doc("u2", "c", updated_at=3.0))
    removed = store.delete_session("telegram", space, "second")
    assert removed is not None and removed["session_id"] == "second" and removed["pending"][0]["id"] == "p1"
    assert store.get("telegram", space, "second") is None and store.active_for("telegram", space) is None
    assert [d["session_id"] for d in store.sessions_for("telegram", space)] == ["first"]
    assert [d["session_id"] for d in store.list_sessions()] == ["c", "first"]
    assert store.list_sessions(include_finished=False)[0]["session_id"] == "c" and store.pending_sessions() == []
    assert store.delete_session("telegram", space, "second") is None
    assert store.delete_session("telegram", space, "first") is not None
    assert store.latest_for("telegram", space) is None and len(store.list_sessions()) == 1
    store.save(doc(space, "second"))  # the key is free again: a new session there starts from revision 1
    assert store.get("telegram", space, "second")["rev"] == 1  # type: ignore[index]


def test_space_sessions_are_the_team_interviews_of_one_platform(store: SessionStore) -> None:
    store.save(doc(space_id(-100, 7), "old", status="ended", updated_at=1.0, finished_at=1.0))
    store.save(doc(space_id(-100), "new", updated_at=3.0))
    store.save(doc("u1", "own", updated_at=2.0))  # a person's own interview
    store.save({**doc(space_id("C1", "1.2"), "slack-one"), "platform": "slack"})
    assert [d["session_id"] for d in store.space_sessions("telegram")] == ["new", "old"]
    assert [d["session_id"] for d in store.space_sessions("slack")] == ["slack-one"]
    assert store.space_sessions("http") == []


def test_drafts_are_kept_copied_replaced_and_purged(store: SessionStore) -> None:
    assert store.get_draft("telegram", "u1") is None
    draft = {"step": "company", "fields": {"role": "Data Engineer"}}
    store.put_draft("telegram", "u1", draft, saved_at=10.0)
    draft["fields"]["role"] = "changed"
    assert store.get_draft("telegram", "u1") == {"step": "company", "fields": {"role": "Data Engineer"}}
    store.put_draft("telegram", "u1", {"step": "industry"}, saved_at=20.0)
    store.put_draft("slack", "u1", {"step": "role"}, saved_at=5.0)
    assert store.get_draft("telegram", "u1") == {"step": "industry"}
    assert store.purge_drafts(saved_before=15.0) == 1  # only slack's, saved at 5
    assert store.get_draft("slack", "u1") is None and store.get_draft("telegram", "u1") is not None
    store.delete_draft("telegram", "u1")
    store.delete_draft("telegram", "u1")  # nothing left: harmless
    assert store.get_draft("telegram", "u1") is None


def test_a_delivery_is_claimed_once_per_platform(store: SessionStore) -> None:
    assert store.claim_delivery("telegram", "555") is True
    assert store.claim_delivery("telegram", "555") is False
    assert store.claim_delivery("slack", "555") is True


def test_the_inbox_holds_an_update_until_it_is_done_and_a_redelivery_after_that_is_ignored(
    store: SessionStore,
) -> None:
    voice = {"update_id": 7, "message": {"voice": {"file_id": "f1"}, "text": "é\nline"}}
    assert store.inbox_pending("telegram") == []
    assert store.inbox_put("telegram", "7", voice, received_at=10.0) is True
    assert store.inbox_put("telegram", "7", voice) is False  # redelivered while still in the inbox
    assert store.inbox_put("telegram", "8", {"update_id": 8}, received_at=11.0) is True
    assert store.inbox_put("slack", "7", {"event_id": "7"}) is True  # per platform
    pending = store.inbox_pending("telegram")
    assert pending == [("7", voice), ("8", {"update_id": 8})]  # oldest first
    pending[0][1]["message"] = {}  # a copy: the caller's changes do not reach the store
    assert store.inbox_pending("telegram")[0] == ("7", voice)
    store.inbox_done("telegram", "7", done_at=12.0)
    assert store.inbox_pending("telegram") == [("8", {"update_id": 8})]
    assert store.inbox_put("telegram", "7", voice) is False  # handled: a redelivery is a duplicate
    assert store.claim_delivery("telegram", "7") is False
    store.inbox_done("telegram", "7")  # twice is harmless
    # A claimed id is never taken into the inbox; entries never handled are given up with the old ids.
    assert store.claim_delivery("telegram", "9") is True
    assert store.inbox_put("telegram", "9", {"update_id": 9}) is False
    assert store.purge_deliveries(claimed_before=11.5) == 0  # nothing claimed that long ago
    assert store.inbox_pending("telegram") == []  # telegram 8, received at 11, is given up
    assert [i for i, _ in store.inbox_pending("slack")] == ["7"]
    assert store.inbox_orphans("slack") == []  # its own entry: this store's process is alive


def test_pending_sessions_are_those_with_saved_voice_answers(store: SessionStore) -> None:
    entry = {"id": "p1", "audio_file": "x/p1.ogg", "failed": False}
    store.save(doc("u1", "idle"))
    store.save(doc("u2", "busy", updated_at=2.0, pending=[entry]))
    # Finished while an answer was still being transcribed: still pending, so recovery can settle it.
    store.save(doc("u3", "ended-busy", status="ended", updated_at=3.0, pending=[entry]))
    assert [d["session_id"] for d in store.pending_sessions()] == ["ended-busy", "busy"]
    assert store.stats()["pending"] == 2
    store.save(doc("u2", "busy", updated_at=4.0, rev=1))
    assert [d["session_id"] for d in store.pending_sessions()] == ["ended-busy"]


def test_ping_and_close(store: SessionStore) -> None:
    assert store.ping() is True
    store.close()
    assert store.ping() is False
    with pytest.raises(RuntimeError):
        store.get("telegram", "u1", "s1")
    store.close()  # twice is harmless


def test_delivery_ids_are_forgotten_by_age_only(store: SessionStore) -> None:
    assert store.claim_delivery("telegram", "1", claimed_at=100.0) is True
    assert store.claim_delivery("telegram", "2", claimed_at=200.0) is True
    assert store.claim_delivery("slack", "1", claimed_at=50.0) is True
    assert store.claim_delivery("telegram", "1", claimed_at=300.0) is False  # a redelivery keeps the first time
    assert store.purge_deliveries(claimed_before=150.0) == 2  # telegram 1 and slack 1
    assert store.purge_deliveries(claimed_before=150.0) == 0
    assert store.claim_delivery("telegram", "2") is False
    assert store.claim_delivery("telegram", "1") is True  # forgotten, so new again
    assert store.claim_delivery("slack", "1") is True
    # Without claimed_at a claim is stamped now, so a cutoff in the past keeps it.
    assert store.purge_deliveries(claimed_before=1000.0) == 1  # only telegram 2, claimed at 200
    assert store.claim_delivery("telegram", "1") is False


def test_idle_sessions_are_active_ones_untouched_since_the_cutoff(store: SessionStore) -> None:
    store.save(doc("u1", "old", updated_at=10.0))
    store.save(doc("u2", "older", updated_at=5.0))
    store.save(doc("u3", "recent", updated_at=50.0))
    store.save(doc("u4", "old-but-done", status="completed", updated_at=1.0, finished_at=1.0))
    store.save(doc("u5", "old-and-pending", updated_at=2.0, pending=[{"id": "p1", "failed": True}]))
    assert [d["session_id"] for d in store.idle_sessions(updated_before=20.0)] == [
        "old-and-pending",
        "older",
        "old",
    ]
    assert store.idle_sessions(updated_before=2.0) == []
    store.save(doc("u1", "old", updated_at=60.0, rev=1))
    assert [d["session_id"] for d in store.idle_sessions(updated_before=20.0)] == ["old-and-pending", "older"]
    idle = store.idle_sessions(updated_before=20.0)[0]
    assert idle == doc("u5", "old-and-pending", updated_at=2.0, pending=[{"id": "p1", "failed": True}], rev=1)


def test_created_since_counts_every_session_of_that_user_whatever_its_status(store: SessionStore) -> None:
    for n, status in enumerate(("completed", "ended", "abandoned", "active")):
        store.save(doc("u1", f"s{n}", status=status, created_at=100.0 + n, updated_at=200.0 - n))
    store.save(doc("u2", "other", created_at=150.0))
    store.save({**doc("u1", "slack-one", created_at=150.0), "platform": "slack"})
    assert store.created_since("telegram", "u1", since=101.0) == [101.0, 102.0, 103.0]
    assert store.created_since("telegram", "u1", since=0.0) == [100.0, 101.0, 102.0, 103.0]
    assert store.created_since("telegram", "nobody", since=0.0) == []
    store.delete_user("telegram", "u1")
    assert store.created_since("telegram", "u1", since=0.0) == []


def test_abandoned_sessions_are_finished_ones(store: SessionStore) -> None:
    store.save(doc("u1", "s1", updated_at=5.0))
    store.save(doc("u1", "s1", status="abandoned", updated_at=5.0, finished_at=40.0, rev=1))
    assert store.active_for("telegram", "u1") is None
    assert store.latest_for("telegram", "u1")["status"] == "abandoned"  # type: ignore[index]
    assert store.list_sessions(include_finished=False) == []
    assert store.idle_sessions(updated_before=100.0) == []
    assert (store.stats()["active"], store.stats()["archived"]) == (0, 1)


def test_sessions_for_lists_one_users_sessions_newest_first_whatever_their_status(store: SessionStore) -> None:
    assert store.sessions_for("telegram", "u1") == []
    store.save(doc("u1", "first", status="completed", updated_at=1.0, finished_at=1.0))
    store.save(doc("u1", "second", status="ended", updated_at=3.0, finished_at=3.0))
    store.save(doc("u1", "third", updated_at=2.0))
    store.save(doc("u2", "other", status="completed", updated_at=4.0, finished_at=4.0))
    store.save(doc("u1", "slack-one", updated_at=5.0, platform="slack"))
    assert [d["session_id"] for d in store.sessions_for("telegram", "u1")] == ["second", "third", "first"]
    listed = store.sessions_for("telegram", "u1")
    listed[0]["status"] = "changed"  # a copy: the store's own is untouched
    assert store.get("telegram", "u1", "second")["status"] == "ended"  # type: ignore[index]


def test_a_save_from_a_stale_copy_is_refused_and_changes_nothing(store: SessionStore) -> None:
    """Compare-and-set: two savers that read the same revision cannot both write; the second is told so."""
    store.save(doc("u1", "s1"))
    first, second = store.get("telegram", "u1", "s1"), store.get("telegram", "u1", "s1")
    assert first is not None and second is not None
    assert store.save({**first, "position": 1}) == 2
    with pytest.raises(errors.SessionChanged):
        store.save({**second, "position": 7})  # read at revision 1: another saver got there first
    assert store.get("telegram", "u1", "s1")["position"] == 1  # type: ignore[index]
    with pytest.raises(errors.SessionChanged):
        store.save(doc("u1", "s1"))  # a "new" session over a stored one
    store.delete_user("telegram", "u1")
    with pytest.raises(errors.SessionChanged):
        store.save({**first, "rev": 2})  # a copy of a session deleted meanwhile is not brought back
    assert store.get("telegram", "u1", "s1") is None


def test_a_team_interviews_people_ratings_and_comments_come_back_as_saved(store: SessionStore) -> None:
    """A team interview is held by a space (a key with colons in it) and carries the team's part: what teammates
    rated and said must read back whole, or the team report loses it after a restart."""
    rated = Rating(0, "UM", 4.0, content=4, structure=3, delivery=5, comment="Clear, 명확", at=5.5, delivery_id="d1")
    said = (Comment(0, "UM", "Say what the queue was for", at=7.0), Comment(-1, "UP", "", voice=True))
    ratings = (rated, Rating(0, "UI", 2.0))
    team = Team("UC", "Cand", "UI", "Ivy", "#backend", accepted=True, ratings=ratings, comments=said)
    space = space_id("C1", "1700000000.000100")
    spec = InterviewSpec("Dev", "Acme", "IT")
    session = Session("slack", space, "s1", spec, seed=1, questions=[], created_at=1.0, updated_at=1.0, team=team)
    assert store.save(session.to_dict()) == 1
    got = store.get("slack", space, "s1")
    assert got is not None and Session.from_dict(got).team == team
    latest = store.latest_for("slack", space)
    assert latest is not None and Session.from_dict(latest).team == team
    # Found by its candidate in the full list (how /end and /report reach it from a private chat).
    assert [d["team"]["candidate"] for d in store.list_sessions()] == ["UC"]
