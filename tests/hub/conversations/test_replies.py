"""An agent's reply, written in plain SQL (hub.conversations.replies), on SQLite and PostgreSQL.

What a user notices is checked against the rows as read back afresh through the ORM: the message
the API answers with is the message stored, every column; the outbox row the delivery worker sends
(the agent's name, the customer's last message to quote); the conversation's clocks, in the
database and on the entity later work in the transaction sees; the `message.created` event
consoles get; a retry with the same client id, and a customer who opted out; the conversation, read in
the reply's first statement for the access check, as stored (refused or missing: nothing written).
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from hub.agents.models import Agent
from hub.contacts.models import Contact
from hub.contacts.opt_outs import do_set_opt_out
from hub.conversations import actions
from hub.conversations.agent_messages import check_reply
from hub.conversations.models import Conversation, Message
from hub.conversations.schemas import conversation_dict, message_dict
from hub.db import Database
from hub.errors import Conflict, Forbidden, NotFound
from hub.events.models import Event
from hub.outbox.models import OutboxItem
from hub.ports import ContactRef, InboundMessage
from hub.runtime import Hub
from tests.factories import create_agent

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
_seq = itertools.count(1)


def _customer_writes(hub: Hub, text: str = "Where is my order?") -> int:
    n = next(_seq)
    return hub.ingest(InboundMessage(channel="api", source="crm", ingest_scope="api:crm", external_id=f"r-{n}",
                                     contact=ContactRef(email=f"r{n}@example.com", name="Rosa Díaz"),
                                     text=text)).conversation_id


def _anyone(conv: Conversation) -> Conversation:
    return conv


def _fresh(db: Database, model: type, key: object) -> object:
    with db.read() as s:
        return s.get(model, key)


def test_a_reply_stores_what_the_api_answers_queues_it_and_records_its_event(hub: Hub, database: Database) -> None:
    conv_id = _customer_writes(hub, "Where is my order? ünïcödé")
    agent_id, _ = create_agent(database)
    before = _fresh(database, Conversation, conv_id)
    assert isinstance(before, Conversation)
    checked: list[tuple[Conversation, dict[str, object]]] = []
    with database.write() as s:
        msg, created = check_reply(s, conv_id, may_act=lambda c: checked.append((c, conversation_dict(c))),
                                   agent_id=agent_id, text="On its way", html="<p>On its way</p>",
                                   client_id="5b7f8a2e-1111-4222-8333-944445555666", cc=["boss@example.com"])
        [(conv, as_checked)] = checked
        assert s.get(Conversation, conv_id) is conv  # read with the reply's context, in the session as if loaded
        answered, entity = message_dict(msg), conversation_dict(conv)
        assert s.get(Message, msg.id) is msg  # later work in the transaction finds it
    assert as_checked == conversation_dict(before)  # the access check saw the conversation as stored
    assert created
    stored = _fresh(database, Message, answered["id"])
    assert isinstance(stored, Message)
    assert message_dict(stored) == answered
    assert (stored.direction, stored.author_agent_id, stored.delivery_status, stored.subject) == \
        ("out", agent_id, "pending", None)
    assert stored.meta == {"cc": ["boss@example.com"]} and stored.attachments == []

    row = _fresh(database, Conversation, conv_id)
    assert isinstance(row, Conversation)
    assert conversation_dict(row) == entity
    assert row.first_response_at is not None and row.last_agent_id == agent_id and row.next_response_due_at is None

    with database.read() as s:
        item = s.execute(select(OutboxItem).where(OutboxItem.message_id == stored.id)).scalar_one()  # type: ignore[arg-type]
        customer = s.execute(select(Message).where(Message.conversation_id == conv_id,  # type: ignore[arg-type]
                                                   Message.direction == "in")).scalar_one()  # type: ignore[arg-type]
        contact = s.get(Contact, customer.contact_id)
        event = s.execute(select(Event).where(Event.type == "message.created",  # type: ignore[arg-type]
                                              Event.actor_agent_id == agent_id)).scalar_one()  # type: ignore[arg-type]
        agent = s.get(Agent, agent_id)
    assert contact is not None and agent is not None
    assert (item.channel, item.conversation_id, item.status, item.attempts, item.lease_until) == \
        ("api", conv_id, "pending", 0, None)
    assert item.payload == {
        "source": "crm", "text": "On its way", "html": "<p>On its way</p>", "subject": None, "attachments": [],
        "metadata": {"contact_id": customer.contact_id, "agent_name": agent.name, "cc": ["boss@example.com"],
                     "quoted": {"at": customer.created_at.isoformat(), "name": "Rosa Díaz",
                                "text": "Where is my order? ünïcödé"}},
    }
    assert event.conversation_id == conv_id and event.payload["message"] == answered


def test_a_retry_with_the_same_client_id_answers_the_first_copy_and_queues_nothing(
    hub: Hub, database: Database
) -> None:
    conv_id = _customer_writes(hub)
    agent_id, _ = create_agent(database)
    key = "0f0f0f0f-1111-4222-8333-944445555666"
    with database.write() as s:
        first, _ = check_reply(s, conv_id, may_act=_anyone, agent_id=agent_id, text="Hello", client_id=key)
    with database.write() as s:
        again, created = check_reply(s, conv_id, may_act=_anyone, agent_id=agent_id, text="Hello",
                                     client_id=key)
    assert not created and again.id == first.id
    with database.read() as s:
        assert len(s.execute(select(OutboxItem)).scalars().all()) == 1


def test_a_customer_who_opted_out_gets_no_reply_and_nothing_is_written(hub: Hub, database: Database) -> None:
    conv_id = _customer_writes(hub)
    agent_id, _ = create_agent(database)
    with database.write() as s:
        conv = actions.get_conversation(s, conv_id)
        contact = s.get(Contact, conv.contact_id)
        assert contact is not None
        do_set_opt_out(s, contact, "api", True, "STOP")
    with pytest.raises(Conflict), database.write() as s:
        check_reply(s, conv_id, may_act=_anyone, agent_id=agent_id, text="Hello")
    with database.read() as s:
        assert s.execute(select(Message).where(Message.direction == "out")).first() is None  # type: ignore[arg-type]
        assert s.execute(select(OutboxItem)).first() is None


def test_a_reply_after_orm_changes_to_its_conversation_in_the_same_transaction_keeps_both(
    hub: Hub, database: Database
) -> None:
    """As outreach does: the conversation assigned through the ORM, then the reply, in one transaction."""
    conv_id = _customer_writes(hub)
    agent_id, _ = create_agent(database)
    checked: list[Conversation] = []
    with database.write() as s:
        conv = actions.get_conversation(s, conv_id)
        actions.do_assign(s, conv, assignee_id=agent_id, team_id=None, actor_agent_id=agent_id, reason="taken")
        check_reply(s, conv_id, may_act=lambda c: checked.append(c), agent_id=agent_id, text="Mine now")
        assert checked == [conv]  # the session's own entity, with the assignment
        entity = conversation_dict(conv)
    row = _fresh(database, Conversation, conv_id)
    assert isinstance(row, Conversation)
    assert row.assignee_id == agent_id and row.first_response_at is not None
    assert conversation_dict(row) == entity


def test_a_reply_the_access_check_refuses_or_to_no_conversation_writes_nothing(hub: Hub, database: Database) -> None:
    conv_id = _customer_writes(hub)
    agent_id, _ = create_agent(database)

    def refuse(conv: Conversation) -> None:
        raise Forbidden("another agent's work")

    with pytest.raises(Forbidden), database.write() as s:
        check_reply(s, conv_id, may_act=refuse, agent_id=agent_id, text="Hello")
    with pytest.raises(NotFound), database.write() as s:
        check_reply(s, conv_id + 10**6, may_act=_anyone, agent_id=agent_id, text="Hello")
    with database.read() as s:
        assert s.execute(select(Message).where(Message.direction == "out")).first() is None  # type: ignore[arg-type]
        assert s.execute(select(OutboxItem)).first() is None
