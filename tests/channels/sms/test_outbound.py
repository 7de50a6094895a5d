"""Agents' replies leave through the real `twilio` client (pointed at a local fake of Twilio's API)
from where the customer wrote to, and their delivery status follows Twilio's status callbacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.db import Database
from hub.delivery import actions as delivery_actions
from hub.outbox.models import OutboxItem
from tests.channels.sms.conftest import Poster
from tests.channels.sms.test_inbound import conversation, sms_conversations
from tests.channels.sms.twilio_side import CUSTOMER, NUMBER, SERVICE_SID, status_url
from tests.conftest import wait_for
from tests.factories import AgentLogin, login
from tests.fakes.twilio_api import FakeTwilioApi


def start_conversation(client: TestClient, db: Database, text_in: Poster, **fields: Any) -> tuple[AgentLogin, int]:
    assert text_in(**fields).status_code == 200
    agent = login(client, db)
    [conv] = sms_conversations(client, agent)
    return agent, conv["id"]


def reply(client: TestClient, agent: AgentLogin, conversation_id: int, text: str) -> dict[str, Any]:
    resp = client.post(f"/api/v1/conversations/{conversation_id}/messages", json={"text": text}, headers=agent.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def message_in_api(client: TestClient, agent: AgentLogin, conversation_id: int, message_id: int) -> dict[str, Any]:
    messages = conversation(client, agent, conversation_id)["messages"]
    return next(m for m in messages if m["id"] == message_id)


def wait_status(client: TestClient, agent: AgentLogin, conversation_id: int, message_id: int, status: str,
                timeout: float = 10.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        m = message_in_api(client, agent, conversation_id, message_id)
        return m if m["delivery_status"] == status else None

    return wait_for(check, timeout=timeout, what=f"message {message_id} to be {status}")  # type: ignore[no-any-return]


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff is seconds in production; these tests are about what is retried, not how long after."""
    monkeypatch.setattr(delivery_actions, "backoff", lambda attempts, **_: timedelta(milliseconds=50))


def test_a_reply_goes_out_from_our_number_and_follows_status_callbacks(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster, status_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in, body="Is my order shipped?")
    sent = reply(client, agent, conv_id, "Yes, it left this morning.")
    assert sent["delivery_status"] == "pending"

    queued = wait_status(client, agent, conv_id, sent["id"], "queued")
    [sms] = twilio_api.sent
    assert (sms.to, sms.from_, sms.messaging_service_sid) == (CUSTOMER, NUMBER, None)
    assert sms.body == "Yes, it left this morning."
    assert sms.status_callback == status_url()
    assert queued["provider_id"] == sms.sid

    status_in(sms.sid, "sent")
    assert message_in_api(client, agent, conv_id, sent["id"])["delivery_status"] == "sent"
    status_in(sms.sid, "delivered")
    assert message_in_api(client, agent, conv_id, sent["id"])["delivery_status"] == "delivered"
    # Twilio's callbacks can arrive out of order: a late "sent" never takes "delivered" back.
    status_in(sms.sid, "sent")
    final = message_in_api(client, agent, conv_id, sent["id"])
    assert (final["delivery_status"], final["delivery_error"]) == ("delivered", None)


def test_undelivered_shows_twilios_code_and_what_it_means(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster, status_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in)
    sent = reply(client, agent, conv_id, "Hello?")
    wait_status(client, agent, conv_id, sent["id"], "queued")
    status_in(twilio_api.sent[0].sid, "undelivered", error_code=30003)
    m = message_in_api(client, agent, conv_id, sent["id"])
    assert m["delivery_status"] == "undelivered"
    assert m["delivery_error"] == "[30003] Unreachable destination handset"


def test_a_status_callback_that_overtakes_the_send_is_applied_when_the_message_appears(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster, status_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in)
    early_sid = "SM" + "e" * 32
    twilio_api.use_sid(early_sid)
    status_in(early_sid, "delivered")  # the hub has no message with this SID yet: kept for later

    sent = reply(client, agent, conv_id, "This one was fast")
    m = wait_status(client, agent, conv_id, sent["id"], "delivered")
    assert m["provider_id"] == early_sid


def test_replies_to_a_messaging_service_leave_through_the_service(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in, service=SERVICE_SID, to="+15017120000")
    assert conversation(client, agent, conv_id)["conversation"]["source"] == SERVICE_SID
    sent = reply(client, agent, conv_id, "Answering through the pool")
    wait_status(client, agent, conv_id, sent["id"], "queued")  # Twilio's "accepted", in the hub's words
    [sms] = twilio_api.sent
    assert (sms.messaging_service_sid, sms.from_, sms.to) == (SERVICE_SID, None, CUSTOMER)


def test_transient_failures_are_retried_until_twilio_takes_the_message_once(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster, status_in: Poster,
        quick_retries: None) -> None:
    twilio_api.fail_next(1, 500)
    twilio_api.fail_next(1, 429, code=20429, message="Too Many Requests")
    agent, conv_id = start_conversation(client, db, text_in)
    sent = reply(client, agent, conv_id, "Third time lucky")

    wait_status(client, agent, conv_id, sent["id"], "queued")
    status_in(twilio_api.sent[0].sid, "delivered")
    m = message_in_api(client, agent, conv_id, sent["id"])
    assert (m["delivery_status"], m["delivery_error"]) == ("delivered", None)
    assert twilio_api.attempts == 3
    assert len(twilio_api.sent) == 1

    # Each failed attempt is on the customer's timeline, with Twilio's answer.
    contact_id = m["contact_id"]
    events = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=agent.headers).json()["items"]
    retries = sorted((e["data"]["attempts"], e["data"]["error"]) for e in events
                     if e["type"] == "delivery.retry_scheduled")
    assert retries == [(1, "Twilio answered HTTP 500: Internal Server Error"), (2, "[20429] Too Many Requests")]


def test_an_unreachable_twilio_is_a_transient_error(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in)
    twilio_api.stop()  # nothing listens on the API port any more
    sent = reply(client, agent, conv_id, "Anyone?")

    def retrying() -> dict[str, Any] | None:
        m = message_in_api(client, agent, conv_id, sent["id"])
        return m if (m["delivery_error"] or "").startswith("retrying:") else None

    m = wait_for(retrying, what="a scheduled retry")
    assert "Twilio unreachable" in m["delivery_error"]
    assert m["delivery_status"] == "pending"


def test_an_invalid_number_fails_at_once_with_twilios_reason_and_is_not_retried(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster) -> None:
    twilio_api.fail_next(1, 400, code=21211, message="Invalid 'To' Phone Number")
    agent, conv_id = start_conversation(client, db, text_in)
    sent = reply(client, agent, conv_id, "Hello")
    m = wait_status(client, agent, conv_id, sent["id"], "failed")
    assert m["delivery_error"] == "[21211] Invalid 'To' Phone Number"
    assert twilio_api.attempts == 1
    with db.read() as s:
        [item] = s.execute(select(OutboxItem).where(OutboxItem.message_id == sent["id"])).scalars().all()
    assert (item.status, item.attempts) == ("failed", 1)  # nothing left for the worker to retry


def test_twilio_saying_the_recipient_unsubscribed_marks_the_contact_opted_out(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster) -> None:
    twilio_api.fail_next(1, 400, code=21610, message="Attempt to send to unsubscribed recipient")
    agent, conv_id = start_conversation(client, db, text_in)
    sent = reply(client, agent, conv_id, "Hello")
    m = wait_status(client, agent, conv_id, sent["id"], "failed")
    assert m["delivery_error"] == "[21610] Attempt to send to unsubscribed recipient"
    assert wait_for(lambda: conversation(client, agent, conv_id)["contact"]["sms_opted_out"], what="the opt-out")
    resp = client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "again"}, headers=agent.headers)
    assert resp.status_code == 409
