"""Agents' replies and notes sent again with the same client id (a console retrying after a lost
answer) are stored, logged and queued once; the retry gets the first copy with 200."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conversations.models import Message
from hub.db import Database
from hub.events.models import Event
from hub.outbox.models import OutboxItem
from tests.factories import api_key, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def _stored(db: Database, conversation_id: int) -> tuple[list[Message], list[OutboxItem], list[Event]]:
    with db.read() as s:
        messages = list(s.execute(select(Message).where(Message.conversation_id == conversation_id,
                                                        Message.direction != "in")).scalars())
        outbox = list(s.execute(select(OutboxItem).where(OutboxItem.conversation_id == conversation_id)).scalars())
        events = list(s.execute(select(Event).where(Event.conversation_id == conversation_id,
                                                    Event.type.in_(["message.created", "note.created"]))  # type: ignore[attr-defined]
                                .where(Event.actor_agent_id.is_not(None))).scalars())  # type: ignore[union-attr]
        return messages, outbox, events


@pytest.mark.parametrize("kind", ["messages", "notes"])
def test_a_send_retried_with_its_client_id_is_stored_and_queued_once(
    client: TestClient, db: Database, kind: str
) -> None:
    conv_id = int(inbound(client, api_key(db), email="retry@example.com")["conversation_id"])
    agent = login(client, db, "agent")
    body = {"text": "On it", "client_id": str(uuid.uuid4())}
    url = f"/api/v1/conversations/{conv_id}/{kind}"

    first = client.post(url, json=body, headers=agent.headers)
    assert first.status_code == 201, first.text
    again = client.post(url, json=body, headers=agent.headers)
    assert again.status_code == 200, again.text
    # The first copy, as it is now (its delivery may have moved on meanwhile).
    assert {k: again.json()[k] for k in ("id", "text", "direction", "client_id", "created_at")} == {
        k: first.json()[k] for k in ("id", "text", "direction", "client_id", "created_at")}
    assert first.json()["client_id"] == body["client_id"]

    messages, outbox, events = _stored(db, conv_id)
    assert [m.id for m in messages] == [first.json()["id"]]
    assert len(outbox) == (1 if kind == "messages" else 0)
    assert len(events) == 1


def test_client_ids_are_per_author_and_per_message(client: TestClient, db: Database) -> None:
    conv_id = int(inbound(client, api_key(db), email="two@example.com")["conversation_id"])
    other_conv = int(inbound(client, api_key(db), email="three@example.com")["conversation_id"])
    agent, colleague = login(client, db, "agent"), login(client, db, "agent")
    client_id = str(uuid.uuid4())
    url = f"/api/v1/conversations/{conv_id}"

    assert client.post(f"{url}/messages", json={"text": "a", "client_id": client_id},
                       headers=agent.headers).status_code == 201
    # Another agent's console drew the same id: theirs is another message.
    assert client.post(f"{url}/messages", json={"text": "b", "client_id": client_id},
                       headers=colleague.headers).status_code == 201
    # The same agent's id reused for another kind of message or another conversation: a client bug.
    wrong_kind = client.post(f"{url}/notes", json={"text": "c", "client_id": client_id}, headers=agent.headers)
    assert wrong_kind.status_code == 409, wrong_kind.text
    assert client_id in wrong_kind.json()["message"]
    elsewhere = client.post(f"/api/v1/conversations/{other_conv}/messages", json={"text": "d", "client_id": client_id},
                            headers=agent.headers)
    assert elsewhere.status_code == 409
    # Without a client id every request is a new message, as before.
    for _ in range(2):
        assert client.post(f"{url}/messages", json={"text": "e"}, headers=agent.headers).status_code == 201
    not_a_uuid = client.post(f"{url}/messages", json={"text": "f", "client_id": "abc"}, headers=agent.headers)
    assert not_a_uuid.status_code == 422

    messages, outbox, _ = _stored(db, conv_id)
    assert [m.text for m in messages] == ["a", "b", "e", "e"]
    assert len(outbox) == 4
    assert _stored(db, other_conv)[0] == []
