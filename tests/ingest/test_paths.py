"""Ingest's three paths write the same thing (hub.ingest.entry), on SQLite and PostgreSQL.

A known customer writing again into an open conversation that needs no routing takes the plain-SQL
path (hub.ingest.known); a first conversation is written whole (hub.ingest.first); everything else
takes the ORM path (hub.ingest.orm). Each test proves
which path ran (a recorder around both), then checks what a user would see: the message row, the
conversation's clock, the `message.created` event consoles receive, redeliveries, errors as
SQLAlchemy raises them, and when the route hook runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import select, text
from sqlmodel import Session

from hub.agents.actions import do_set_presence
from hub.agents.models import Agent, Team
from hub.clock import utcnow
from hub.contacts.models import Contact, ContactIdentity
from hub.conversations import actions
from hub.conversations.models import Conversation, Message
from hub.conversations.replies import do_reply
from hub.conversations.sanitize import clean_inbound, sanitize_html
from hub.db import Database
from hub.errors import Invalid
from hub.events.models import Event
from hub.events.types import CATALOGUE
from hub.ingest import entry
from hub.ingest.entry import do_ingest
from hub.ingest.lookup import Lookup
from hub.ports import Attachment, ContactRef, InboundMessage, IngestResult
from hub.routing.actions import Router as RoutingRouter
from hub.routing.config import RoutingConfig
from hub.routing.decision import Decision
from hub.routing.rules import rule_from_dict
from hub.routing.settings import TeamSettings, do_set_team_settings
from hub.runtime import Hub, HubOptions
from tests.conftest import wait_for
from tests.factories import create_agent, create_team

_seq = itertools.count(1)
ID_KEYS = ("id", "conversation_id", "contact_id")


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@dataclass
class Paths:
    """External ids of the messages each path wrote."""

    orm: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    # a first conversation, written whole (`ingest_first`, or a batch's run of them: `write_new`)
    new: list[str] = field(default_factory=list)
    # a new customer's message into a conversation a thread key names, with a batch's run (`write_new`)
    joined: list[str] = field(default_factory=list)
    runs: list[list[str]] = field(default_factory=list)  # the runs `write_new` wrote together

    def of(self, external_id: str) -> str:
        took = [name for name, ids in (("orm", self.orm), ("sql", self.sql), ("new", self.new),
                                       ("joined", self.joined)) if external_id in ids]
        assert len(took) == 1, f"{external_id}: orm={self.orm} sql={self.sql} new={self.new} joined={self.joined}"
        return took[0]


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    recorded = Paths()
    orm, write, new, many = entry.ingest_orm, entry.write_known, entry.ingest_first, entry.write_new

    def record_orm(session: Session, sql: Any, msg: InboundMessage, *args: Any, **kw: Any) -> IngestResult:
        recorded.orm.append(msg.external_id)
        return orm(session, sql, msg, *args, **kw)

    def record_sql(session: Session, sql: Any, batch: list[Any], *args: Any) -> list[IngestResult]:
        recorded.sql.extend(msg.external_id for msg, _, _ in batch)
        return write(session, sql, batch, *args)

    def record_new(session: Session, sql: Any, msg: InboundMessage, *args: Any, **kw: Any) -> IngestResult:
        recorded.new.append(msg.external_id)
        return new(session, sql, msg, *args, **kw)

    def record_many(session: Session, sql: Any, items: list[Any], *args: Any, **kw: Any) -> list[IngestResult]:
        for item in items:
            (recorded.new if item.into is None else recorded.joined).append(item.msg.external_id)
        recorded.runs.append([item.msg.external_id for item in items])
        return many(session, sql, items, *args, **kw)

    monkeypatch.setattr(entry, "ingest_orm", record_orm)
    monkeypatch.setattr(entry, "write_new", record_many)
    monkeypatch.setattr(entry, "ingest_first", record_new)
    monkeypatch.setattr(entry, "write_known", record_sql)
    return recorded


class Router:
    """Routing that queues what it is given (as the real one does with no agent free)."""

    def __init__(self, *, next_response_target: bool = False) -> None:
        self.calls: list[int] = []
        self.next_response_target = next_response_target  # whether every team has that SLA target

    def on_routable(self, session: Session, conv: Conversation) -> None:
        self.decide(session, conv)

    def decide(self, session: Session, conv: Conversation, *, first_text: str | None = None) -> Decision:
        assert conv.id is not None
        self.calls.append(conv.id)
        if conv.queued_at is None:
            conv.queued_at = utcnow()
        return Decision()

    def board_prefetch(self, session: Session) -> None:
        return None

    def restarts_clock(self, session: Session, team_id: int | None, priority: int) -> bool:
        return self.next_response_target


def message(email: str | None = "ann@example.com", *, phone: str | None = None, ref: str | None = None,
            name: str | None = None, external_id: str | None = None, source: str = "crm",
            **fields: Any) -> InboundMessage:
    return InboundMessage(
        channel="api", source=source, ingest_scope="api:crm", external_id=external_id or f"m-{next(_seq)}",
        contact=ContactRef(email=email, phone=phone, external_ref=ref, name=name), **fields,
    )


def ingest(db: Database, msg: InboundMessage, *, route: Any = None,
           reopen_window: timedelta = timedelta(days=7)) -> IngestResult:
    with db.write() as s:
        return do_ingest(s, msg, route=route, reopen_window=reopen_window)


def conversation(db: Database, conversation_id: int) -> Conversation:
    with db.read() as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        return conv


def stored(db: Database, message_id: int) -> Message:
    with db.read() as s:
        row = s.get(Message, message_id)
        assert row is not None
        return row


def events(db: Database, conversation_id: int, after: int = 0) -> list[Event]:
    with db.read() as s:
        stmt = select(Event).where(Event.conversation_id == conversation_id,  # type: ignore[arg-type]
                                   Event.id > after)  # type: ignore[arg-type, operator]
        return list(s.execute(stmt.order_by(Event.id)).scalars())  # type: ignore[arg-type]


def last_event_id(db: Database) -> int:
    with db.read() as s:
        return int(s.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one())


def raw_columns(db: Database, message_id: int, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column as the database holds it (SQLite: the text SQLAlchemy would have written), but
    those naming this message, its conversation or its contact."""
    with db.read() as s:
        row = s.execute(text("SELECT * FROM messages WHERE id = :id"), {"id": message_id}).mappings().one()
    mine = ("id", "conversation_id", "contact_id", "external_id", *leave_out)
    return {k: v for k, v in row.items() if k not in mine}


def without_ids(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<id>" if k in ID_KEYS else v) for k, v in payload["message"].items()}


# -- the plain-SQL path writes what the ORM path writes -------------------------------------------


def test_a_second_message_takes_the_sql_path_and_looks_exactly_like_an_orm_one(
    database: Database, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    wakes: list[int] = []
    database.on_events_committed = lambda: wakes.append(1)
    ann = ingest(database, message("ann@example.com", name="Ann"))
    bob = ingest(database, message("bob@example.com", name="Bob"))
    assert len(paths.new) == 2 and paths.orm == paths.sql == []  # new contacts: written whole

    received = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))
    raw_html = ('<p onclick="steal()">Hi <b>there</b><script>alert(1)</script>'
                '<img alt="logo" src="https://track.example/p.gif?u=1"></p>')
    rich: dict[str, Any] = {
        "text": "Where is my order? — ünïcödé ✓", "html": raw_html, "subject": "Order 42",
        "attachments": (Attachment(url="https://files.example/a.pdf", content_type="application/pdf",
                                   filename="a.pdf", size=1234), Attachment(url="https://files.example/b.png")),
        "received_at": received,
    }
    before = {r.conversation_id: conversation(database, r.conversation_id) for r in (ann, bob)}
    head = last_event_id(database)
    wakes.clear()

    # Cleaned before the writer, as Hub.ingest does: every path stores what it is given.
    fast_msg = clean_inbound(message("ann@example.com", **rich))
    fast = ingest(database, fast_msg)
    with monkeypatch.context() as m:  # the same kind of message, forced through the ORM
        m.setattr(entry, "_takes_plain_path", lambda *a, **k: False)
        slow_msg = clean_inbound(message("bob@example.com", **rich))
        slow = ingest(database, slow_msg)
    assert paths.of(fast_msg.external_id) == "sql"
    assert paths.of(slow_msg.external_id) == "orm"
    assert wakes == [1, 1]  # each commit woke the live fan-out

    assert (fast.conversation_id, fast.contact_id, fast.created) == (ann.conversation_id, ann.contact_id, True)
    assert (slow.conversation_id, slow.contact_id, slow.created) == (bob.conversation_id, bob.contact_id, True)

    # The message rows.
    rows = {"sql": stored(database, fast.message_id), "orm": stored(database, slow.message_id)}
    expected_html = sanitize_html(raw_html, block_remote_images=True)
    assert expected_html is not None and "script" not in expected_html and "onclick" not in expected_html
    assert '<img alt="logo" data-remote-src="https://track.example/p.gif?u=1">' in expected_html
    for path, row in rows.items():
        assert row.direction == "in", path
        assert row.channel == "api", path
        assert row.text == rich["text"], path
        assert row.html == expected_html, path
        assert row.subject == "Order 42", path
        assert row.attachments == [
            {"url": "https://files.example/a.pdf", "content_type": "application/pdf", "filename": "a.pdf",
             "size": 1234, "kind": "file"},
            {"url": "https://files.example/b.png", "kind": "file"},  # no type given: not shown inline
        ], path
        assert row.created_at == received, path  # the provider's time, not ours
        assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0), path
        assert row.ingest_scope == "api:crm", path
        assert (row.author_agent_id, row.provider_id, row.delivery_status, row.delivery_error) == (None,) * 4
    assert rows["sql"].external_id == fast_msg.external_id
    assert rows["orm"].external_id == slow_msg.external_id
    assert (rows["sql"].conversation_id, rows["sql"].contact_id) == (ann.conversation_id, ann.contact_id)
    # Byte for byte as stored (on SQLite the datetime text must sort like SQLAlchemy's).
    assert raw_columns(database, fast.message_id) == raw_columns(database, slow.message_id)

    # The conversations: the clock moved, nothing else changed.
    for result in (fast, slow):
        old, new = before[result.conversation_id], conversation(database, result.conversation_id)
        assert new.last_message_at is not None and new.last_message_at > (old.last_message_at or old.created_at)
        assert new.updated_at > old.updated_at
        assert new.last_message_at == new.updated_at
        unchanged = {k: v for k, v in old.model_dump().items() if k not in ("last_message_at", "updated_at")}
        assert {k: v for k, v in new.model_dump().items() if k in unchanged} == unchanged

    # The event consoles receive: one message.created each, equal but for the ids.
    fast_events = events(database, fast.conversation_id, head)
    slow_events = events(database, slow.conversation_id, head)
    assert [e.type for e in fast_events] == [e.type for e in slow_events] == ["message.created"]
    fe, se = fast_events[0], slow_events[0]
    assert (fe.contact_id, fe.actor_agent_id, fe.private) == (ann.contact_id, None, False)
    assert (se.contact_id, se.actor_agent_id, se.private) == (bob.contact_id, None, False)
    assert fe.payload.keys() == se.payload.keys() == {"message"}
    assert list(fe.payload["message"]) == list(se.payload["message"])
    assert without_ids(fe.payload) == without_ids(se.payload)
    assert {k: fe.payload["message"][k] for k in ID_KEYS} == {
        "id": fast.message_id, "conversation_id": fast.conversation_id, "contact_id": fast.contact_id}
    assert {k: se.payload["message"][k] for k in ID_KEYS} == {
        "id": slow.message_id, "conversation_id": slow.conversation_id, "contact_id": slow.contact_id}
    assert datetime.fromisoformat(fe.payload["message"]["created_at"]) == received
    assert fe.created_at.tzinfo is not None and abs(fe.created_at - utcnow()) < timedelta(minutes=5)


def test_a_message_without_received_at_is_stamped_now_on_the_sql_path(database: Database, paths: Paths) -> None:
    first = ingest(database, message())
    start = utcnow()
    second_msg = message(text="again")
    second = ingest(database, second_msg)
    assert paths.of(second_msg.external_id) == "sql"
    row = stored(database, second.message_id)
    conv = conversation(database, first.conversation_id)
    assert start <= row.created_at <= utcnow()
    assert conv.last_message_at == row.created_at  # the same "now" for the message and the conversation
    (event,) = events(database, first.conversation_id, after=last_event_id(database) - 1)
    assert datetime.fromisoformat(event.payload["message"]["created_at"]) == row.created_at


def test_one_transaction_mixing_both_paths_keeps_every_event_in_order(database: Database, paths: Paths) -> None:
    """What a group-commit batch does: a new customer (`ingest_first`), then their second message (SQL) and a
    redelivery, all before the commit; the plain-SQL writes see the ORM's and come after them."""
    msgs = [message("cara@example.com", text="one"), message("cara@example.com", text="two")]
    with database.write() as s:
        results = [do_ingest(s, m) for m in msgs]
        again = do_ingest(s, msgs[1])
    assert [paths.of(m.external_id) for m in msgs] == ["new", "sql"]
    assert again == IngestResult(results[1].message_id, results[1].conversation_id, results[1].contact_id, False)
    assert results[0].conversation_id == results[1].conversation_id
    evs = events(database, results[0].conversation_id)
    assert [(e.type, e.payload.get("message", {}).get("text")) for e in evs] == [
        ("conversation.created", None), ("message.created", "one"), ("message.created", "two")]


# -- a first conversation is written whole, as the ORM path writes it ------------------------------


def _normalized(value: Any) -> Any:
    """An event payload with ids and times blanked: what two conversations' events share."""
    if isinstance(value, dict):
        return {k: "<id>" if k in ID_KEYS + ("assignee_id",) and v is not None else _normalized(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return value
        return "<time>"
    return value


def test_a_first_conversation_is_routed_then_written_whole_exactly_as_the_orm_path_writes_it(
    database: Database, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new customer's first message: contact, identities, the conversation as routing left it
    (team from a keyword rule on the not yet written message, priority, SLA deadlines, assignee),
    the message, and every event in order, the same as through the ORM, on both databases."""
    team_id = create_team(database, "Refunds")
    with database.write() as s:
        team = s.get(Team, team_id)
        assert team is not None
        team.settings = {"sla": {"default": {"first_response": 600, "resolution": 86400}}}
    agent_ids = [create_agent(database, teams=[team_id])[0] for _ in range(2)]
    with database.write() as s:
        for agent_id in agent_ids:
            agent = s.get(Agent, agent_id)
            assert agent is not None
            do_set_presence(s, agent, "online")
    router = RoutingRouter(RoutingConfig(
        rules=[rule_from_dict({"name": "refunds", "team": "Refunds", "priority": 3,
                               "match": {"keywords": ["refund"]}})],
        default_capacity={"api": 1}))
    wakes: list[int] = []
    database.on_events_committed = lambda: wakes.append(1)
    head = last_event_id(database)

    whole_msg = message("dan@example.com", name="Dan", phone="+14155550101", text="I want a REFUND", subject="Order 7",
                        html="<p>I want a <b>REFUND</b></p>")
    whole = ingest(database, whole_msg, route=router)  # on PostgreSQL: the board read by the lookup
    with monkeypatch.context() as m:
        m.setattr(entry, "_starts_first_conversation", lambda *a, **k: False)
        orm_msg = message("eve@example.com", name="Eve", phone="+14155550102", text="I want a REFUND",
                          subject="Order 7", html="<p>I want a <b>REFUND</b></p>")
        orm = ingest(database, orm_msg, route=router)
    assert (paths.of(whole_msg.external_id), paths.of(orm_msg.external_id)) == ("new", "orm")
    assert wakes == [1, 1]
    assert whole.created and orm.created

    with database.read() as s:
        contacts = [s.get(Contact, r.contact_id) for r in (whole, orm)]
        identities = [sorted((i.kind, i.address) for i in s.execute(
            select(ContactIdentity).where(ContactIdentity.contact_id == r.contact_id)).scalars())  # type: ignore[arg-type]
            for r in (whole, orm)]
        agents = {a.id: a for a in s.execute(select(Agent)).scalars()}
    assert identities == [[("email", "dan@example.com"), ("phone", "+14155550101")],
                          [("email", "eve@example.com"), ("phone", "+14155550102")]]
    dumps = [c.model_dump() for c in contacts if c is not None]
    assert [(d.pop("name"), d.pop("email"), d.pop("phone")) for d in dumps] == [
        ("Dan", "dan@example.com", "+14155550101"), ("Eve", "eve@example.com", "+14155550102")]
    for d in dumps:
        assert d.pop("id") is not None and d.pop("created_at") == d.pop("updated_at")
    assert dumps[0] == dumps[1]

    convs = [conversation(database, r.conversation_id) for r in (whole, orm)]
    assert {c.assignee_id for c in convs} == set(agent_ids)  # one each (capacity 1)
    time_fields = ("created_at", "updated_at", "last_message_at", "queued_at", "first_response_due_at",
                   "resolution_due_at")
    shapes = []
    for conv in convs:
        d = conv.model_dump()
        assert d.pop("assignee_id") == d.pop("last_agent_id") is not None
        times = {k: d.pop(k) for k in time_fields}
        d.pop("id"), d.pop("contact_id")
        assert times["first_response_due_at"] - times["queued_at"] == timedelta(seconds=600)
        assert times["resolution_due_at"] - times["queued_at"] == timedelta(seconds=86400)
        assert times["last_message_at"] <= times["queued_at"] <= times["updated_at"]
        assert abs(times["updated_at"] - times["created_at"]) < timedelta(seconds=5)
        shapes.append(d)
    assert shapes[0] == shapes[1]
    assert shapes[0]["team_id"] == team_id and shapes[0]["priority"] == 3 and shapes[0]["status"] == "open"
    assert shapes[0]["waiting_since"] is None and shapes[0]["routing_skill"] is None
    for conv in convs:
        assigned_at = agents[conv.assignee_id].last_assigned_at
        assert assigned_at is not None and abs(assigned_at - conv.updated_at) < timedelta(seconds=1)

    with database.read() as s:  # every column of the two conversations as stored, ids and times aside
        raw = [s.execute(text("SELECT * FROM conversations WHERE id = :id"), {"id": c.id}).mappings().one()
               for c in convs]
    variable = {"id", "contact_id", "assignee_id", "last_agent_id", *time_fields}
    assert {k: v for k, v in raw[0].items() if k not in variable} == {
        k: v for k, v in raw[1].items() if k not in variable}
    # Times as stored: the same type and shape (on SQLite, SQLAlchemy's text, which must sort alike).
    for key in time_fields:
        a, b = raw[0][key], raw[1][key]
        assert type(a) is type(b) and (len(a) == len(b) if isinstance(a, str) else True), key
    assert raw_columns(database, whole.message_id, leave_out=("created_at", "text")) == raw_columns(
        database, orm.message_id, leave_out=("created_at", "text"))

    evs = [events(database, r.conversation_id, head) for r in (whole, orm)]
    assert [e.type for e in evs[0]] == [e.type for e in evs[1]] == [
        "conversation.created", "message.created", "conversation.queued", "conversation.assigned"]
    for a, b in zip(*evs, strict=True):
        assert _normalized(a.payload) == _normalized(b.payload), a.type
        agents_only = CATALOGUE[a.type].AUDIENCE == "agents"  # conversation.queued
        assert (a.actor_agent_id, a.private, b.actor_agent_id, b.private) == (None, agents_only, None, agents_only)
    assert [e.contact_id for e in evs[0]] == [whole.contact_id] * 4
    assert evs[0][0].payload["conversation"]["id"] == whole.conversation_id
    assert evs[0][1].payload["message"]["id"] == whole.message_id
    assert evs[0][3].payload["assignee_id"] == convs[0].assignee_id


class _Refusing(Exception):
    pass


class _RefusingRouter(Router):
    def decide(self, session: Session, conv: Conversation, *, first_text: str | None = None) -> Decision:
        raise _Refusing


def test_routing_that_fails_writes_nothing_of_the_first_conversation(database: Database, paths: Paths) -> None:
    """A first conversation is routed before anything of it is written: if its routing fails,
    nothing of it (contact, conversation, events) is in the transaction that goes on."""
    with database.write() as s:
        with pytest.raises(_Refusing):
            do_ingest(s, message("kit@example.com"), route=_RefusingRouter())
        kept = do_ingest(s, message("lou@example.com"))
    assert [e.type for e in events(database, kept.conversation_id)] == ["conversation.created", "message.created"]
    with database.read() as s:
        assert s.execute(text("SELECT count(*) FROM contacts")).scalar_one() == 1  # kit's never written
        assert s.execute(text("SELECT count(*) FROM events WHERE type = 'conversation.queued'")).scalar_one() == 0


def test_a_known_customer_on_a_new_entry_point_starts_a_conversation_written_whole(
    database: Database, paths: Paths
) -> None:
    first = ingest(database, message("fay@example.com", source="crm"))
    other_msg = message("fay@example.com", source="shop")
    other = ingest(database, other_msg)
    assert [paths.of(m) for m in paths.new] == ["new", "new"] and other_msg.external_id in paths.new
    assert other.contact_id == first.contact_id and other.conversation_id != first.conversation_id
    with database.read() as s:
        assert s.execute(text("SELECT count(*) FROM contacts")).scalar_one() == 1
    assert [e.type for e in events(database, other.conversation_id)] == ["conversation.created", "message.created"]


def test_conversation_and_contact_ids_are_drawn_only_for_first_conversations(database: Database, paths: Paths) -> None:
    """On PostgreSQL the lookup draws a first conversation's ids: messages into existing
    conversations, redeliveries and replies in threads must not use any up (ids stay dense)."""
    first = ingest(database, message("gus@example.com"))
    again = [message("gus@example.com", text=f"more {i}") for i in range(3)]
    for m in again:
        ingest(database, m)
    ingest(database, again[0])  # a redelivery
    ingest(database, message("gus@example.com", thread_keys=("<unknown@example.com>",)))
    second = ingest(database, message("hal@example.com"))
    assert paths.of(again[0].external_id) == "sql"
    assert (second.conversation_id, second.contact_id) == (first.conversation_id + 1, first.contact_id + 1)
    # A known customer with a new phone number on a new entry point: the ORM path (an identity to
    # hold apart in a contact of its own, which takes the next contact id) takes the conversation id
    # the lookup drew for it.
    phone_msg = message("gus@example.com", phone="+14155550199", source="shop")
    third = ingest(database, phone_msg)
    assert paths.of(phone_msg.external_id) == "orm"
    assert (third.conversation_id, third.contact_id) == (second.conversation_id + 1, first.contact_id)
    fourth = ingest(database, message("ivan@example.com"))
    assert (fourth.conversation_id, fourth.contact_id) == (third.conversation_id + 1, second.contact_id + 2)


# -- redelivery, errors and races ------------------------------------------------------------------


def test_a_redelivery_on_the_sql_path_returns_the_first_copy(database: Database, paths: Paths) -> None:
    ingest(database, message())
    second = message(text="second")
    first_time = ingest(database, second)
    head = last_event_id(database)
    again = ingest(database, message(external_id=second.external_id, text="second, edited by the provider"))
    assert paths.of(second.external_id) == "sql"
    assert first_time.created and not again.created
    assert (again.message_id, again.conversation_id, again.contact_id) == (
        first_time.message_id, first_time.conversation_id, first_time.contact_id)
    assert stored(database, first_time.message_id).text == "second"
    assert last_event_id(database) == head  # nothing new for consoles
    with database.read() as s:
        count = s.execute(text("SELECT count(*) FROM messages WHERE external_id = :x"), {"x": second.external_id})
        assert count.scalar_one() == 1


def test_nul_in_text_on_postgres_raises_sqlalchemys_data_error(postgres_url: str, paths: Paths) -> None:
    db = Database(postgres_url)
    try:
        first = ingest(db, message())
        before = conversation(db, first.conversation_id)
        bad = message(text="a\x00b")
        with pytest.raises(sqlalchemy.exc.DataError):  # as the API's handlers expect, not psycopg.DataError
            ingest(db, bad)
        assert paths.of(bad.external_id) == "sql"
        # Rolled back as a whole: the conversation did not move, and the next message goes through.
        assert conversation(db, first.conversation_id).last_message_at == before.last_message_at
        ok = ingest(db, message(text="ab"))
        assert ok.created and ok.conversation_id == first.conversation_id
    finally:
        db.dispose()


def test_a_duplicate_lost_race_on_the_sql_path_raises_integrity_error_and_the_hub_resolves_it(
    database: Database, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(database, message())
    dup = message(text="twice")
    winner = ingest(database, dup)
    # The race: another writer committed the same message after this one looked for it.
    lookup = entry.lookup

    def lookup_missing_stored(*args: Any) -> Lookup:
        return dataclasses.replace(lookup(*args), stored={})

    monkeypatch.setattr(entry, "lookup", lookup_missing_stored)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        ingest(database, dup)
    assert paths.sql.count(dup.external_id) == 2  # both attempts took the SQL path
    # Through the hub's port, the loser's retry finds the first copy.
    hub = Hub(database, HubOptions(run_workers=False))
    try:
        result = hub.ingest(dup)
    finally:
        hub.writer.close()
    assert result == IngestResult(winner.message_id, winner.conversation_id, winner.contact_id, created=False)


def test_a_real_concurrent_duplicate_on_postgres_surfaces_as_integrity_error(postgres_url: str,
                                                                             paths: Paths) -> None:
    db = Database(postgres_url)
    try:
        first = ingest(db, message())
        dup = message(text="racing")
        outcome: list[BaseException | IngestResult] = []
        with db.engine.connect() as other:
            # Another process's writer inserts the same key and has not committed yet.
            other.execute(text(
                "INSERT INTO messages (conversation_id, contact_id, channel, direction, text, attachments, "
                "ingest_scope, external_id, created_at) VALUES (:c, :k, 'api', 'in', 'racing', '[]', "
                ":scope, :xid, now())"), {"c": first.conversation_id, "k": first.contact_id,
                                           "scope": dup.ingest_scope, "xid": dup.external_id})

            def run() -> None:
                try:
                    outcome.append(ingest(db, dup))
                except BaseException as exc:
                    outcome.append(exc)

            t = threading.Thread(target=run, daemon=True)
            t.start()
            wait_for(lambda: _waiting_on_a_transaction(db), what="the ingest to wait on the other insert")
            other.commit()
        t.join(timeout=10)
        assert not t.is_alive()
        assert paths.of(dup.external_id) == "sql"
        assert len(outcome) == 1 and isinstance(outcome[0], sqlalchemy.exc.IntegrityError), outcome
    finally:
        db.dispose()


def _waiting_on_a_transaction(db: Database) -> bool:
    with db.read() as s:
        n = s.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"))
        return bool(n.scalar_one())


# -- what the SQL path leaves to the ORM -----------------------------------------------------------


def test_a_new_unverified_identity_goes_through_the_orm_and_is_held_apart(database: Database,
                                                                          paths: Paths) -> None:
    """A known email with a new phone (issue 13): the message is the email's customer's, the phone
    is not attached to them (a later text from it would have landed in their history) but held in
    a contact of its own, suggested as a match on both timelines (hub.contacts.matches)."""
    first = ingest(database, message("dan@example.com"))
    with_phone = message("dan@example.com", phone="+14155550123", text="my number")
    second = ingest(database, with_phone)
    assert paths.of(with_phone.external_id) == "orm"
    assert (second.contact_id, second.conversation_id) == (first.contact_id, first.conversation_id)
    with database.read() as s:
        contact = s.get(Contact, first.contact_id)
        assert contact is not None and contact.phone is None
        owners = dict(s.execute(select(ContactIdentity.kind, ContactIdentity.contact_id)).all())  # type: ignore[call-overload]
        held = owners["phone"]
        assert held != first.contact_id and owners["email"] == first.contact_id
        suggested = s.execute(select(Event.contact_id, Event.payload).where(
            Event.type == "contact.match_suggested").order_by(Event.id)).all()  # type: ignore[arg-type]
    assert [c for c, _ in suggested] == [held, first.contact_id]
    assert {(p["contact_id"], p["candidate_id"]) for _, p in suggested} == {(held, first.contact_id)}
    by_phone = message(None, phone="+1 415 555 0123", text="from my phone")
    third = ingest(database, by_phone)
    assert third.contact_id == held and third.conversation_id != first.conversation_id


def test_a_new_identity_verified_by_the_channel_is_attached(database: Database, paths: Paths) -> None:
    """A channel that proves both addresses (`ContactRef.verified`) joins the new one to the customer;
    proving only the new one is not enough (the known one might be typed in by anyone)."""
    first = ingest(database, message("eli@example.com"))
    half = message("eli@example.com", phone="+14155550124")
    half = dataclasses.replace(half, contact=dataclasses.replace(half.contact, verified=frozenset({"phone"})))
    ingest(database, half)
    both = message("eli@example.com", phone="+14155550125")
    both = dataclasses.replace(both, contact=dataclasses.replace(both.contact, verified=frozenset({"email", "phone"})))
    second = ingest(database, both)
    assert paths.of(both.external_id) == "orm"
    assert second.contact_id == first.contact_id
    with database.read() as s:
        owners = dict(s.execute(select(ContactIdentity.address, ContactIdentity.contact_id)).all())  # type: ignore[call-overload]
        contact = s.get(Contact, first.contact_id)
        assert contact is not None and contact.phone == "+14155550125"
    assert owners["+14155550125"] == first.contact_id
    assert owners["+14155550124"] not in (None, first.contact_id)


@pytest.mark.parametrize("status", ["resolved", "pending", "snoozed"])
def test_a_message_into_a_closed_conversation_reopens_it_through_the_orm(
    database: Database, paths: Paths, status: str
) -> None:
    route = Router()
    first = ingest(database, message("eve@example.com"), route=route)
    with database.write() as s:
        conv = actions.get_conversation(s, first.conversation_id)
        until = utcnow() + timedelta(hours=1) if status == "snoozed" else None
        actions.do_set_status(s, conv, status, agent_id=None, snoozed_until=until)
    head = last_event_id(database)
    msg = message("eve@example.com", text="still broken")
    second = ingest(database, msg, route=route)
    assert paths.of(msg.external_id) == "orm"
    assert second.conversation_id == first.conversation_id
    conv = conversation(database, first.conversation_id)
    assert (conv.status, conv.resolved_at, conv.snoozed_until) == ("open", None, None)
    evs = events(database, first.conversation_id, head)
    assert [e.type for e in evs] == ["conversation.status_changed", "message.created"]
    assert {k: evs[0].payload[k] for k in ("from", "to", "reason")} == {
        "from": status, "to": "open", "reason": "customer_message"}
    assert route.calls == [first.conversation_id, first.conversation_id]  # new, then reopened


def test_a_message_after_the_reopen_window_starts_a_new_conversation(database: Database, paths: Paths) -> None:
    first = ingest(database, message("fay@example.com"))
    with database.write() as s:
        actions.do_set_status(s, actions.get_conversation(s, first.conversation_id), "resolved", agent_id=None)
    msg = message("fay@example.com", text="new problem")
    second = ingest(database, msg, reopen_window=timedelta(0))
    assert paths.of(msg.external_id) == "orm"
    assert second.contact_id == first.contact_id and second.conversation_id != first.conversation_id
    assert conversation(database, first.conversation_id).status == "resolved"
    assert [e.type for e in events(database, second.conversation_id)] == ["conversation.created", "message.created"]


def test_a_nameless_contact_gets_a_name_through_the_orm(database: Database, paths: Paths) -> None:
    first = ingest(database, message(None, ref="cust-7"))
    with database.read() as s:
        contact = s.get(Contact, first.contact_id)
        assert contact is not None and contact.name == ""
    still_nameless = message(None, ref="cust-7", text="no name yet")
    named = message(None, ref="cust-7", name="  Carla Diaz ", text="it's Carla")
    renamed = message(None, ref="cust-7", name="Someone Else", text="not a rename")
    results = [ingest(database, m) for m in (still_nameless, named, renamed)]
    assert [paths.of(m.external_id) for m in (still_nameless, named, renamed)] == ["sql", "orm", "sql"]
    assert {r.contact_id for r in results} == {first.contact_id}
    assert {r.conversation_id for r in results} == {first.conversation_id}
    with database.read() as s:
        contact = s.get(Contact, first.contact_id)
        assert contact is not None and contact.name == "Carla Diaz"  # a name, once given, is kept


# -- the route hook --------------------------------------------------------------------------------


def test_a_waiting_conversation_is_not_routed_again_but_a_new_one_is(database: Database, paths: Paths) -> None:
    route = Router()
    first_msg = message("ivy@example.com", text="help")
    first = ingest(database, first_msg, route=route)
    assert paths.of(first_msg.external_id) == "new"
    assert route.calls == [first.conversation_id]
    waiting = conversation(database, first.conversation_id)
    assert waiting.queued_at is not None and waiting.assignee_id is None

    more = [message("ivy@example.com", text=f"hello? {i}") for i in range(3)]
    results = [ingest(database, m, route=route) for m in more]
    assert [paths.of(m.external_id) for m in more] == ["sql"] * 3
    assert route.calls == [first.conversation_id]  # not routed again
    assert {r.conversation_id for r in results} == {first.conversation_id}
    assert conversation(database, first.conversation_id).queued_at == waiting.queued_at  # keeps its place

    other = ingest(database, message("jon@example.com"), route=route)
    assert route.calls == [first.conversation_id, other.conversation_id]


def test_an_open_conversation_never_queued_is_routed_by_the_next_message(database: Database, paths: Paths) -> None:
    first = ingest(database, message("kim@example.com"))  # stored while routing was off
    route = Router()
    msg = message("kim@example.com", text="anyone?")
    second = ingest(database, msg, route=route)
    assert paths.of(msg.external_id) == "orm"
    assert route.calls == [first.conversation_id] and second.conversation_id == first.conversation_id
    assert conversation(database, first.conversation_id).queued_at is not None


@pytest.mark.parametrize("target", [True, False])
def test_assigned_conversations_route_only_to_restart_the_next_response_clock(
    database: Database, paths: Paths, target: bool
) -> None:
    """After an agent's reply the customer's next message is routed (restarting the clock) only
    when the team has a next-response target; without one it takes the plain path, every time."""
    route = Router(next_response_target=target)
    first = ingest(database, message("lea@example.com"), route=route)
    agent_id, _ = create_agent(database)
    with database.write() as s:
        actions.do_assign(s, actions.get_conversation(s, first.conversation_id), assignee_id=agent_id,
                          team_id=None, actor_agent_id=None, reason="test")
    before_reply = message("lea@example.com", text="are you there?")
    ingest(database, before_reply, route=route)
    assert paths.of(before_reply.external_id) == "sql"
    assert route.calls == [first.conversation_id]

    with database.write() as s:
        do_reply(s, actions.get_conversation(s, first.conversation_id), agent_id=agent_id, text="Yes!")
    after_reply = [message("lea@example.com", text="thanks, one more thing"), message("lea@example.com", text="hi?")]
    for msg in after_reply:
        ingest(database, msg, route=route)
    if target:  # the fake's clock never restarts, so both are routed
        assert [paths.of(m.external_id) for m in after_reply] == ["orm", "orm"]
        assert route.calls == [first.conversation_id] * 3
    else:
        assert [paths.of(m.external_id) for m in after_reply] == ["sql", "sql"]
        assert route.calls == [first.conversation_id]


@pytest.mark.parametrize("sla", [{"default": {"next_response": 600}}, {"default": {"first_response": 600}}, None])
def test_the_real_router_restarts_the_next_response_clock_only_for_a_team_with_that_target(
    database: Database, paths: Paths, sla: dict[str, Any] | None
) -> None:
    team_id = create_team(database, "Care")
    route = RoutingRouter(RoutingConfig())
    first = ingest(database, message("noa@example.com"), route=route)  # the board is read now
    if sla is not None:  # reaches the board through its event
        with database.write() as s:
            do_set_team_settings(s, team_id, TeamSettings.model_validate({"sla": sla}), actor_agent_id=None)
    agent_id, _ = create_agent(database, teams=[team_id])
    with database.write() as s:
        actions.do_assign(s, actions.get_conversation(s, first.conversation_id), assignee_id=agent_id,
                          team_id=team_id, actor_agent_id=None, reason="test")
        do_reply(s, actions.get_conversation(s, first.conversation_id), agent_id=agent_id, text="Hello")
    msg = message("noa@example.com", text="thanks")
    ingest(database, msg, route=route)
    due = conversation(database, first.conversation_id).next_response_due_at
    if sla is not None and "next_response" in sla["default"]:
        assert paths.of(msg.external_id) == "orm"
        assert due is not None and timedelta(seconds=590) < due - utcnow() <= timedelta(seconds=600)
        again = message("noa@example.com", text="and another")
        ingest(database, again, route=route)  # the clock runs: nothing to restart
        assert paths.of(again.external_id) == "sql"
    else:
        assert paths.of(msg.external_id) == "sql" and due is None


def test_without_a_route_hook_an_unqueued_open_conversation_takes_the_sql_path(
    database: Database, paths: Paths
) -> None:
    first = ingest(database, message("max@example.com"))
    msg = message("max@example.com", text="again")
    assert ingest(database, msg).conversation_id == first.conversation_id
    assert paths.of(msg.external_id) == "sql"



# -- a batch at once (group commit) -------------------------------------------------------------------


def test_a_batch_writes_known_customers_together_and_the_rest_in_order(database: Database, paths: Paths) -> None:
    """do_ingest_many: known customers' messages are looked up and written together; a message in
    the batch twice is one message; an old one redelivered is a no-op; from the first message that
    needs another path, its customer's later messages go one by one, in order, behind it, while
    other customers' messages are still written together."""
    ann1 = ingest(database, message("ann@example.com"))
    bob1 = ingest(database, message("bob@example.com"))
    dan1 = ingest(database, message(None, ref="dan-1", text="d0"))  # nameless
    old = message("bob@example.com")
    old_result = ingest(database, old)
    first_ann, first_bob = message("ann@example.com", text="a1"), message("bob@example.com", text="b1")
    batch = [
        first_ann,
        first_bob,
        first_ann,  # the same message twice in one batch
        old,  # already stored
        message("cy@example.com", text="c1"),  # a new customer: written whole, alone
        message("ann@example.com", text="a2"),  # not held up by cy: written with a1 and b1
        message("cy@example.com", text="c2"),  # behind c1: cy is known by then
        message(None, ref="dan-1", name="Dan", text="d1"),  # a name to fill in: the ORM
        message(None, ref="dan-1", text="d2"),  # behind d1
    ]
    with database.write() as s:
        results = entry.do_ingest_many(s, batch)

    assert [r.created for r in results] == [True, True, False, False, True, True, True, True, True]
    assert [paths.of(batch[i].external_id) for i in (5, 7)] == ["sql", "orm"]
    assert results[5].message_id < results[4].message_id  # written before cy's, with the batch
    assert results[7].conversation_id == results[8].conversation_id == dan1.conversation_id
    assert results[2] == IngestResult(results[0].message_id, ann1.conversation_id, ann1.contact_id, created=False)
    assert results[3] == IngestResult(old_result.message_id, old_result.conversation_id, old_result.contact_id,
                                      created=False)
    assert results[1].conversation_id == bob1.conversation_id
    assert results[5].conversation_id == ann1.conversation_id
    assert results[6].conversation_id == results[4].conversation_id != ann1.conversation_id
    assert paths.of(first_ann.external_id) == "sql" and paths.of(first_bob.external_id) == "sql"
    assert paths.of(batch[4].external_id) == "new"
    # Each conversation reads in the order its messages arrived, and consoles get one event each.
    with database.read() as s:
        for conv_id, texts in ((ann1.conversation_id, ["", "a1", "a2"]), (results[4].conversation_id, ["c1", "c2"]),
                               (dan1.conversation_id, ["d0", "d1", "d2"])):
            rows = s.execute(select(Message.text).where(Message.conversation_id == conv_id)  # type: ignore[arg-type]
                             .order_by(Message.id)).scalars().all()  # type: ignore[arg-type]
            assert list(rows) == texts
    created = [e.payload["message"]["id"] for e in events(database, ann1.conversation_id)
               if e.type == "message.created"]
    assert created == [ann1.message_id, results[0].message_id, results[5].message_id]


def test_a_batch_writes_new_customers_and_first_conversations_in_runs_routed_in_order(
    database: Database, paths: Paths
) -> None:
    """Messages that start a conversation (a new customer's, a known one's on a new entry point) and
    a new address writing into an open thread are written together, a run at a time, in the
    batch's order: a message that needs the ORM ends a run, and one behind a message of the run
    (the same sender, a key it names) waits for it. Routing still runs once per new conversation,
    in the order of the messages."""
    router = Router()
    # Queued, so a message into it needs no routing.
    ann = ingest(database, message("ann@example.com", own_thread_keys=("<ann-1@example>",)), route=router)
    bob = ingest(database, message("bob@example.com"), route=router)
    dan = ingest(database, message(None, ref="dan-2", text="d0"), route=router)  # nameless
    router.calls.clear()
    batch = [
        message("eve@example.com", text="e1", own_thread_keys=("<eve-1@example>",)),  # new: run 1
        message("fay@example.com", text="f1"),  # new: run 1
        message("col@example.com", text="k1", thread_keys=("<ann-1@example>",)),  # a colleague in ann's thread
        message("bob@example.com", source="shop", text="b-shop"),  # bob on a new entry point: run 1
        message(None, ref="dan-2", name="Dan", text="d1"),  # a name to fill in: the ORM, ends run 1
        message("gil@example.com", text="g1"),  # new: run 2
        message("eve@example.com", text="e2"),  # behind e1
        message("hal@example.com", text="h1", thread_keys=("<eve-1@example>",)),  # names e1's key: behind it
        message("ann@example.com", text="a2"),  # behind the colleague, in ann's thread
    ]
    with database.write() as s:
        results = entry.do_ingest_many(s, batch, route=router)

    assert all(isinstance(r, IngestResult) and r.created for r in results)
    ok = [r for r in results if isinstance(r, IngestResult)]
    ids = [m.external_id for m in batch]
    assert paths.runs == [ids[0:4], [ids[5]]]
    assert [paths.of(i) for i in ids] == ["new", "new", "joined", "new", "orm", "new", "sql", "orm", "sql"]
    # Routed once per new conversation, in the batch's order; the colleague's thread is not routed.
    assert router.calls == [ok[0].conversation_id, ok[1].conversation_id, ok[3].conversation_id,
                            ok[5].conversation_id]
    assert ok[2].conversation_id == ok[8].conversation_id == ann.conversation_id
    assert ok[2].contact_id not in (ann.contact_id, bob.contact_id, ok[0].contact_id, ok[1].contact_id)
    assert ok[3].contact_id == bob.contact_id and ok[3].conversation_id != bob.conversation_id
    assert ok[4].conversation_id == dan.conversation_id
    assert ok[6].conversation_id == ok[7].conversation_id == ok[0].conversation_id
    # New contacts numbered in the order their messages came, as one by one.
    assert ok[0].contact_id < ok[1].contact_id < ok[2].contact_id < ok[5].contact_id
    with database.read() as s:
        for conv_id, texts in ((ann.conversation_id, ["", "k1", "a2"]), (ok[0].conversation_id, ["e1", "e2", "h1"])):
            rows = s.execute(select(Message.text).where(Message.conversation_id == conv_id)  # type: ignore[arg-type]
                             .order_by(Message.id)).scalars().all()  # type: ignore[arg-type]
            assert list(rows) == texts
        name = s.execute(select(Contact.name).where(Contact.id == ok[2].contact_id)).scalar_one()  # type: ignore[arg-type]
        assert name == "col@example.com"
    assert [e.type for e in events(database, ok[0].conversation_id)] == [
        "conversation.created", "message.created", "message.created", "message.created"]
    thread = events(database, ann.conversation_id, after=0)
    assert [e.payload["message"]["text"] for e in thread if e.type == "message.created"] == ["", "k1", "a2"]


def test_a_run_of_first_conversations_is_routed_one_after_another_on_the_board(
    database: Database, paths: Paths
) -> None:
    """Routing a run's conversations before any is written: the one agent with room for one takes
    the first; the second waits in the queue (the board counts the first already)."""
    agent_id, _ = create_agent(database, capacities={"api": 1})
    with database.write() as s:
        agent = s.get(Agent, agent_id)
        assert agent is not None
        do_set_presence(s, agent, "online")
    batch = [message("ida@example.com"), message("jon@example.com")]
    with database.write() as s:
        results = entry.do_ingest_many(s, batch, route=RoutingRouter(RoutingConfig()))
    assert paths.runs == [[m.external_id for m in batch]]
    first, second = (conversation(database, r.conversation_id) for r in results if isinstance(r, IngestResult))
    assert first.assignee_id == agent_id
    assert second.assignee_id is None and second.queued_at is not None


def test_a_batch_of_new_customers_is_one_transaction_and_a_bad_contact_fails_alone(database: Database) -> None:
    """Nothing known yet (no contact ids to look conversations up with) is still one batch; a
    message whose contact is invalid gets its error and nothing of it is written."""
    batch = [message("new1@example.com"), message(None, phone="not a number"), message("new2@example.com")]
    with database.write() as s:
        results = entry.do_ingest_many(s, batch)
    assert isinstance(results[1], Invalid)
    assert isinstance(results[0], IngestResult) and results[0].created
    assert isinstance(results[2], IngestResult) and results[2].created
    assert results[0].contact_id != results[2].contact_id
    with database.read() as s:
        stored_ids = s.execute(select(Message.external_id)).scalars().all()
    assert sorted(stored_ids) == sorted([batch[0].external_id, batch[2].external_id])


def test_a_batch_of_only_bad_contacts_writes_nothing_and_answers_each(database: Database) -> None:
    """No identity to look up at all: each message gets its own error, nothing is written."""
    batch = [message(None, phone="not a number"), message("not an email")]
    with database.write() as s:
        results = entry.do_ingest_many(s, batch)
    assert all(isinstance(r, Invalid) for r in results), results
    with database.read() as s:
        assert s.execute(select(Message.id)).first() is None
