"""Sending a failed reply again (POST .../messages/{id}/retry), against a real integrator endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.settings import Settings
from hub.db import Database
from hub.outbox.models import OutboxItem
from tests.channels.api.test_callbacks import Receiver, message, receiver, reply, settled
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, api_key, inbound, login

__all__ = ["receiver"]  # the integrator's endpoint, a fixture shared with the callback tests

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
REFUSED = (422, '{"error": "unknown customer 42"}', {})


@pytest.fixture
def settings(database_url: str, receiver: Receiver) -> Settings:
    return make_settings(database_url, api_channel={"callbacks": {"crm": receiver.url}})


def _failed_reply(client: TestClient, db: Database, receiver: Receiver) -> tuple[int, int, AgentLogin]:
    receiver.script.append(REFUSED)
    conv_id = int(inbound(client, api_key(db), source="crm")["conversation_id"])
    agent = login(client, db, "agent")
    message_id = reply(client, agent, conv_id, "this bounces first")
    done = wait_for(lambda: settled(client, agent, conv_id, message_id), what="the reply to fail")
    assert done["delivery_status"] == "failed"
    return conv_id, message_id, agent


def _retry(client: TestClient, agent: AgentLogin, conv_id: int, message_id: int) -> Any:
    return client.post(f"/api/v1/conversations/{conv_id}/messages/{message_id}/retry", headers=agent.headers)


def test_a_failed_reply_is_sent_again_and_shown_delivered(client: TestClient, db: Database,
                                                          receiver: Receiver) -> None:
    conv_id, message_id, agent = _failed_reply(client, db, receiver)
    resp = _retry(client, agent, conv_id, message_id)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["delivery_status"], resp.json()["delivery_error"]) == ("pending", None)

    done = wait_for(lambda: settled(client, agent, conv_id, message_id), what="the retried reply to be delivered")
    assert (done["delivery_status"], done["delivery_error"]) == ("delivered", None)
    assert [r.json["text"] for r in receiver.requests()] == ["this bounces first"] * 2
    with db.read() as s:
        [item] = s.execute(select(OutboxItem).where(OutboxItem.message_id == message_id)).scalars()
    assert (item.status, item.attempts) == ("sent", 1)  # counted from zero again
    contact_id = done["contact_id"]
    timeline = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=agent.headers).json()["items"]
    [retried] = [i for i in timeline if i["type"] == "delivery.retried"]
    assert retried["actor_agent_id"] == agent.id
    assert retried["data"]["message_id"] == message_id
    assert "unknown customer 42" in retried["data"]["previous_error"]
    # The thread shows it on the message, not as a line of its own.
    events = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["events"]
    assert "delivery.retried" not in {e["type"] for e in events}


def test_a_reply_failing_again_shows_the_new_reason_and_may_be_retried_again(client: TestClient, db: Database,
                                                                             receiver: Receiver) -> None:
    conv_id, message_id, agent = _failed_reply(client, db, receiver)
    receiver.script.append((422, '{"error": "still unknown"}', {}))
    assert _retry(client, agent, conv_id, message_id).status_code == 200
    done = wait_for(lambda: settled(client, agent, conv_id, message_id), what="the retried reply to fail")
    assert done["delivery_status"] == "failed"
    assert "still unknown" in done["delivery_error"]
    assert _retry(client, agent, conv_id, message_id).status_code == 200
    wait_for(lambda: message(client, agent, conv_id, message_id)["delivery_status"] == "delivered",
             what="the third try to be delivered")
    assert len(receiver.requests()) == 3


def test_only_a_failed_reply_of_that_conversation_is_sent_again(client: TestClient, db: Database,
                                                                receiver: Receiver) -> None:
    result = inbound(client, api_key(db), source="crm", email="fine@example.com")
    conv_id = int(result["conversation_id"])
    agent = login(client, db, "agent")
    message_id = reply(client, agent, conv_id, "arrives fine")
    wait_for(lambda: settled(client, agent, conv_id, message_id), what="the reply to be delivered")
    note = client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "a note"}, headers=agent.headers)
    customer = int(result["message_id"])

    resp = _retry(client, agent, conv_id, message_id)
    assert resp.status_code == 409
    assert resp.json() == {"error": "conflict", "reason": "not_retryable",
                           "message": "this reply is delivered: only a reply that failed can be sent again"}
    for other in (customer, int(note.json()["id"])):
        resp = _retry(client, agent, conv_id, other)
        assert (resp.status_code, resp.json()["message"]) == (409, "only an agent's reply to the customer can be "
                                                                   "sent again")
    other_conv = int(inbound(client, api_key(db), source="crm", email="else@example.com")["conversation_id"])
    assert _retry(client, agent, other_conv, message_id).status_code == 404
    assert _retry(client, agent, conv_id, 10**9).status_code == 404
    assert len(receiver.requests()) == 1  # nothing was sent twice
    assert message(client, agent, conv_id, message_id)["delivery_status"] == "delivered"


def test_a_failed_reply_keeps_why_as_a_stable_reason_with_the_foreign_servers_words(
        client: TestClient, db: Database, receiver: Receiver) -> None:
    """The console says the reason in the agent's language; only the integrator's words stay theirs."""
    conv_id, message_id, agent = _failed_reply(client, db, receiver)
    failed = message(client, agent, conv_id, message_id)
    assert failed["delivery_error"] == 'callback refused the reply with 422: {"error": "unknown customer 42"}'
    assert failed["metadata"]["delivery_reason"] == {
        "error": failed["delivery_error"], "reason": "callback_refused",
        "params": {"status": 422, "words": '{"error": "unknown customer 42"}'}}
