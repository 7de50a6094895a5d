"""The inbox as the console reads it: rows with what they show, views, unread marks, counts."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlmodel import Session

from config.app import create_app
from hub.conversations import inbox
from hub.conversations.models import Conversation
from hub.db import WRITE_LOCK_KEY, Database
from hub.ports import ContactRef, InboundMessage
from tests.agents_ui.api.test_conversations import ingest, move
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def rows(client: TestClient, who: AgentLogin, query: str = "") -> list[dict[str, object]]:
    resp = client.get(f"/api/v1/conversations?{query}", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]  # type: ignore[no-any-return]


def row_ids(client: TestClient, who: AgentLogin, query: str = "") -> list[object]:
    return [r["id"] for r in rows(client, who, query)]


def by_id(client: TestClient, who: AgentLogin, conv_id: int, query: str = "view=all") -> dict[str, object]:
    [row] = [r for r in rows(client, who, query) if r["id"] == conv_id]
    return row


def test_a_row_shows_the_customer_name_and_the_last_message_but_never_a_note(client: TestClient,
                                                                                db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key, email="ines@example.com", name="Inés Row", text="Where is my parcel?")[
        "conversation_id"])
    agent = login(client, db, "agent")
    row = by_id(client, agent, conv_id)
    assert (row["contact_name"], row["preview"], row["last_direction"]) == ("Inés Row", "Where is my parcel?", "in")
    assert row["offered_to_id"] is None and row["channel"] == "api"

    client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "It left today."},
                headers=agent.headers)
    client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "SECRET internal remark"},
                headers=agent.headers)
    row = by_id(client, agent, conv_id)
    assert (row["preview"], row["last_direction"]) == ("It left today.", "out")
    assert all("SECRET" not in str(r["preview"]) for r in rows(client, agent, "view=all"))


def test_a_long_message_is_cut_to_160_characters_with_its_whitespace_folded(client: TestClient,
                                                                            db: Database) -> None:
    key = api_key(db)
    text = "word\n\n   " * 100
    conv_id = int(inbound(client, key, email="long@example.com", text=text)["conversation_id"])
    preview = str(by_id(client, login(client, db, "agent"), conv_id)["preview"])
    assert len(preview) == 160 and preview.startswith("word word") and "\n" not in preview


@pytest.mark.parametrize("visibility", ["company", "team"])
def test_views_list_mine_my_teams_unassigned_and_mentions_and_hide_other_teams(database_url: str,
                                                                                visibility: str) -> None:
    """The views hold the agent's scope of work in both visibility modes; the mentions view what they
    may read: in `company` mode (any agent reads everything) a colleague of another team may ask
    for their help there, in `team` mode another team's conversation stays closed to them."""
    with TestClient(create_app(make_settings(database_url, visibility=visibility))) as client:
        _check_views(client, client.app.state.hub.db, open_company=visibility == "company")  # type: ignore[attr-defined]


def _check_views(client: TestClient, db: Database, *, open_company: bool) -> None:
    key = api_key(db)
    mine, other = create_team(db), create_team(db)
    agent = login(client, db, "agent", teams=[mine])
    colleague = login(client, db, "agent", teams=[mine])
    sup = login(client, db, "supervisor")
    shared = int(inbound(client, key, email="shared@example.com")["conversation_id"])
    team_queue = int(inbound(client, key, email="queue@example.com")["conversation_id"])
    assigned_to_me = int(inbound(client, key, email="me@example.com")["conversation_id"])
    colleagues = int(inbound(client, key, email="col@example.com")["conversation_id"])
    other_team = int(inbound(client, key, email="other@example.com")["conversation_id"])
    move(db, team_queue, team_id=mine)
    move(db, assigned_to_me, team_id=mine, assignee_id=agent.id)
    move(db, colleagues, team_id=mine, assignee_id=colleague.id)
    move(db, other_team, team_id=other)
    client.post(f"/api/v1/conversations/{colleagues}/notes", json={"text": "can you look?", "mentions": [agent.id]},
                headers=colleague.headers)
    client.post(f"/api/v1/conversations/{other_team}/notes", json={"text": "fyi", "mentions": [agent.id]},
                headers=sup.headers)

    assert row_ids(client, agent, "view=mine") == [assigned_to_me]
    assert row_ids(client, agent, "view=teams") == [colleagues, assigned_to_me, team_queue]
    assert row_ids(client, agent, "view=unassigned") == [team_queue, shared]
    assert row_ids(client, agent, "view=mentions") == ([other_team, colleagues] if open_company else [colleagues])
    assert row_ids(client, agent, "view=all") == [colleagues, assigned_to_me, team_queue, shared]
    assert other_team not in row_ids(client, agent, f"view=all&team_id={other}")
    assert row_ids(client, sup, "view=all") == [other_team, colleagues, assigned_to_me, team_queue, shared]
    assert row_ids(client, sup, "view=teams") == []

    counts = client.get("/api/v1/conversations/counts", headers=agent.headers).json()
    assert counts == {"mine": 1, "teams": 3, "unassigned": 2, "mentions": 2 if open_company else 1, "all": None}
    sup_counts = client.get("/api/v1/conversations/counts", headers=sup.headers).json()
    assert sup_counts == {"mine": 0, "teams": 0, "unassigned": 3, "mentions": 0, "all": 5}


def test_views_show_open_and_pending_work_unless_a_status_is_asked_for(client: TestClient, db: Database) -> None:
    key = api_key(db)
    sup = login(client, db, "supervisor")
    open_, pending, resolved = (int(inbound(client, key, email=f"s{i}@example.com")["conversation_id"])
                                for i in range(3))
    for conv_id, status in ((pending, "pending"), (resolved, "resolved")):
        client.post(f"/api/v1/conversations/{conv_id}/status", json={"status": status}, headers=sup.headers)
    assert row_ids(client, sup, "view=all") == [pending, open_]
    assert row_ids(client, sup, "view=all&status=resolved") == [resolved]
    assert client.get("/api/v1/conversations/counts", headers=sup.headers).json()["all"] == 2


def test_rows_are_ordered_by_latest_activity(client: TestClient, db: Database) -> None:
    key = api_key(db)
    sup = login(client, db, "supervisor")
    old = int(inbound(client, key, email="old@example.com")["conversation_id"])
    new = int(inbound(client, key, email="new@example.com")["conversation_id"])
    assert row_ids(client, sup, "view=all") == [new, old]
    inbound(client, key, email="old@example.com", text="me again")
    assert row_ids(client, sup, "view=all") == [old, new]
    assert row_ids(client, sup) == [new, old]  # without a view: newest conversation first, as before


def automatic(client: TestClient, email: str, text: str = "I am out of the office until Monday.") -> int:
    """An out-of-office from this customer, as a channel hands it over (`needs_answer` False)."""
    result = client.app.state.hub.ingest(InboundMessage(  # type: ignore[attr-defined]
        channel="api", source="crm", ingest_scope="api:crm", external_id=uuid.uuid4().hex,
        contact=ContactRef(email=email), text=text, needs_answer=False))
    return int(result.conversation_id)


# What a row's wait (inbox.js `renderRow`) and its place in the list count from, and the SLA clocks.
WAIT_FIELDS = ("status", "waiting_since", "last_message_at", "last_direction")
CLOCKS = ("first_response_due_at", "next_response_due_at", "resolution_due_at", "sla_state", "waiting_since")


def clocks(db: Database, conv_id: int) -> tuple[object, ...]:
    with db.read() as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        return tuple(getattr(conv, name) for name in CLOCKS)


def test_an_automatic_reply_is_shown_but_leaves_the_wait_the_order_and_the_clocks_as_they_were(
        client: TestClient, db: Database) -> None:
    key = api_key(db)
    sup = login(client, db, "supervisor")
    waiting = int(inbound(client, key, email="waits@example.com", text="Where is my parcel?")["conversation_id"])
    answered = int(inbound(client, key, email="answered@example.com", text="Can I pay by card?")["conversation_id"])
    client.post(f"/api/v1/conversations/{answered}/messages", json={"text": "Yes, you can."}, headers=sup.headers)
    latest = int(inbound(client, key, email="latest@example.com")["conversation_id"])
    for conv_id in (waiting, answered, latest):
        client.post(f"/api/v1/conversations/{conv_id}/read", headers=sup.headers)
    before = {c: by_id(client, sup, c) for c in (waiting, answered)}
    before_clocks = {c: clocks(db, c) for c in (waiting, answered)}
    assert [before[c]["last_direction"] for c in (waiting, answered)] == ["in", "out"]
    order = row_ids(client, sup, "view=all")
    assert order == [latest, answered, waiting]

    # Each customer's out-of-office (an answer to ours, say) joins their conversation.
    assert automatic(client, "waits@example.com") == waiting
    assert automatic(client, "answered@example.com") == answered

    assert row_ids(client, sup, "view=all") == order  # nothing jumps to the top
    for conv_id in (waiting, answered):
        row = by_id(client, sup, conv_id)
        # Shown, and new to the agent ...
        assert (row["preview"], row["unread"]) == ("I am out of the office until Monday.", True)
        # ... but the customer waits as before: since their own message, or not at all.
        assert {f: row[f] for f in WAIT_FIELDS} == {f: before[conv_id][f] for f in WAIT_FIELDS}
        assert clocks(db, conv_id) == before_clocks[conv_id]
    # In the thread, marked as what it is.
    thread = client.get(f"/api/v1/conversations/{answered}", headers=sup.headers).json()["messages"]
    assert [(m["direction"], m["automatic"]) for m in thread] == [("in", False), ("out", False), ("in", True)]


def test_an_automatic_mail_that_starts_a_conversation_shows_no_wait(client: TestClient, db: Database) -> None:
    sup = login(client, db, "supervisor")
    conv_id = automatic(client, "newsletter@example.com", "Our spring catalogue")
    assert conv_id not in row_ids(client, sup, "view=all")  # not work: it starts resolved
    row = by_id(client, sup, conv_id, "view=all&status=resolved")
    assert (row["status"], row["waiting_since"], row["last_direction"]) == ("resolved", None, None)
    assert row["preview"] == "Our spring catalogue"


def test_unread_is_per_agent_until_they_read_and_a_customer_writes_again(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key, email="u@example.com")["conversation_id"])
    ana, ben = login(client, db, "agent"), login(client, db, "agent")
    assert by_id(client, ana, conv_id)["unread"] is True

    resp = client.post(f"/api/v1/conversations/{conv_id}/read", headers=ana.headers)
    assert resp.status_code == 200, resp.text
    assert by_id(client, ana, conv_id)["unread"] is False
    assert by_id(client, ben, conv_id)["unread"] is True

    inbound(client, key, email="u@example.com", text="hello?")
    assert by_id(client, ana, conv_id)["unread"] is True
    client.post(f"/api/v1/conversations/{conv_id}/read", headers=ana.headers)
    # Their own reply does not mark it unread for them; a colleague's does, a note does not.
    client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "here"}, headers=ana.headers)
    assert by_id(client, ana, conv_id)["unread"] is False
    client.post(f"/api/v1/conversations/{conv_id}/read", headers=ben.headers)
    client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "n"}, headers=ana.headers)
    assert by_id(client, ben, conv_id)["unread"] is False
    client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "and more"}, headers=ana.headers)
    assert by_id(client, ben, conv_id)["unread"] is True


def test_marking_read_needs_a_conversation_the_agent_may_see(client: TestClient, db: Database) -> None:
    key = api_key(db)
    other = create_team(db)
    conv_id = int(inbound(client, key, email="x@example.com")["conversation_id"])
    move(db, conv_id, team_id=other)
    agent = login(client, db, "agent")
    # Any agent may read another team's conversation (`company` visibility, the default), so mark it
    # read; in `team` visibility they get 403 (tests/agents_ui/test_permissions.py).
    assert client.post(f"/api/v1/conversations/{conv_id}/read", headers=agent.headers).status_code == 200
    assert client.post("/api/v1/conversations/987654/read", headers=agent.headers).status_code == 404
    assert client.post(f"/api/v1/conversations/{conv_id}/read").status_code == 401


def test_bad_inbox_queries_get_a_clear_4xx(client: TestClient, db: Database) -> None:
    sup = login(client, db, "supervisor")
    for query in ("view=everything", "limit=501", "view=mine&before=10", "assignee=bob"):
        resp = client.get(f"/api/v1/conversations?{query}", headers=sup.headers)
        assert resp.status_code == 422, (query, resp.status_code)
        assert resp.json()["error"] == "invalid" and resp.json()["message"]


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Statements run by request handlers (FastAPI runs them in AnyIO's worker threads; the hub's
    own background work, which shares the engine, runs elsewhere)."""
    seen: list[str] = []

    def count(*args: object) -> None:
        if threading.current_thread().name.startswith("AnyIO worker thread"):
            seen.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_page_of_rows_costs_the_same_few_statements_however_many_rows(client: TestClient, db: Database) -> None:
    sup = login(client, db, "supervisor")
    first = [ingest(client, channel="sms", source="+15550000000", phone=f"+1555000{i:04d}") for i in range(2)]
    client.get("/api/v1/conversations?view=all", headers=sup.headers)  # the caller is cached from here on
    with statements(db) as few:
        assert row_ids(client, sup, "view=all") == first[::-1]
    more = [ingest(client, channel="sms", source="+15550000000", phone=f"+1555100{i:04d}") for i in range(40)]
    with statements(db) as many:
        assert len(rows(client, sup, "view=all&limit=500")) == 42
    assert len(many) == len(few) == 2, many
    assert more


class _CountedLock:
    """The SQLite write lock, counting the threads waiting for it."""

    def __init__(self, lock: Any) -> None:
        self.lock, self.waiting = lock, 0

    def __enter__(self) -> None:
        self.waiting += 1
        self.lock.acquire()
        self.waiting -= 1

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _someone_waits_for_the_write_lock(db: Database, sqlite_lock: _CountedLock) -> bool:
    if not db.is_postgres:
        return sqlite_lock.waiting > 0
    with db.engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :k "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            {"k": WRITE_LOCK_KEY}).scalar_one())


def test_two_agents_reading_at_once_tell_the_customer_once(client: TestClient, db: Database,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The first read holds its transaction open, after marking, until the second read has got as
    far (it too found the message unseen) or waits for the write lock: either way one receipt."""
    key = api_key(db)
    conv_id = int(inbound(client, key, email="twice@example.com")["conversation_id"])
    ana, ben = login(client, db, "agent"), login(client, db, "agent")
    sqlite_lock = db._sqlite_writer = _CountedLock(db._sqlite_writer)  # type: ignore[assignment]
    real, marks = inbox.do_mark_read, []

    def held_open(s: Session, agent_id: int, conversation_id: int) -> int:
        marks.append(agent_id)
        upto = real(s, agent_id, conversation_id)
        if len(marks) == 1:
            wait_for(lambda: len(marks) > 1 or _someone_waits_for_the_write_lock(db, sqlite_lock),
                     what="the second read to catch up or wait")
        return upto

    monkeypatch.setattr(inbox, "do_mark_read", held_open)
    answers: list[int] = []
    readers = [threading.Thread(target=lambda who=who: answers.append(
        client.post(f"/api/v1/conversations/{conv_id}/read", headers=who.headers).status_code)) for who in (ana, ben)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert answers == [200, 200]
    with db.read() as s:
        told = s.execute(text("SELECT count(*) FROM events WHERE type = 'receipt.agent_read' "
                              "AND conversation_id = :c"), {"c": conv_id}).scalar_one()
    assert told == 1
    assert by_id(client, ana, conv_id)["unread"] is False and by_id(client, ben, conv_id)["unread"] is False
