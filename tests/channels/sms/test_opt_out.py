"""STOP, START and HELP: an opted-out customer is marked, the agent sees it, replies are refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.db import Database
from tests.channels.sms.conftest import Poster
from tests.channels.sms.test_inbound import conversation
from tests.channels.sms.test_outbound import reply, start_conversation, wait_status
from tests.fakes.twilio_api import FakeTwilioApi


def test_stop_opts_out_refuses_replies_and_start_opts_back_in(
        client: TestClient, db: Database, twilio_api: FakeTwilioApi, text_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in, body="Where is my parcel?")
    assert text_in(body="Stop").status_code == 200

    view = conversation(client, agent, conv_id)
    assert view["contact"]["opted_out_channels"] == ["sms"]
    assert view["contact"]["sms_opted_out"] is True  # the field clients read before opt-outs were per channel
    assert view["messages"][-1]["text"] == "Stop"  # the agent sees the customer's own words too
    timeline = client.get(f"/api/v1/contacts/{view['contact']['id']}/timeline", headers=agent.headers).json()
    [opt_out] = [e for e in timeline["items"] if e["type"] == "contact.opt_out_changed"]
    data = opt_out["data"]
    assert (data["channel"], data["opted_out"], data["reason"]) == ("sms", True, "STOP")

    resp = client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "Sorry!"}, headers=agent.headers)
    assert resp.status_code == 409
    assert "opted out of messages on this channel" in resp.json()["message"]
    assert twilio_api.attempts == 0

    assert text_in(body="start").status_code == 200
    assert conversation(client, agent, conv_id)["contact"]["sms_opted_out"] is False
    sent = reply(client, agent, conv_id, "Welcome back")
    wait_status(client, agent, conv_id, sent["id"], "queued")
    assert [s.body for s in twilio_api.sent] == ["Welcome back"]


@pytest.mark.parametrize("body", ["UNSUBSCRIBE", "cancel", " Quit! ", "opt out", "STOPALL", "End", "Revoke"])
def test_stop_synonyms_opt_out(client: TestClient, db: Database, text_in: Poster, body: str) -> None:
    agent, conv_id = start_conversation(client, db, text_in, body=body)
    assert conversation(client, agent, conv_id)["contact"]["sms_opted_out"] is True


def test_a_sentence_containing_stop_is_just_a_message(client: TestClient, db: Database, text_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in, body="Please don't stop the subscription")
    assert conversation(client, agent, conv_id)["contact"]["sms_opted_out"] is False


def test_help_is_stored_and_changes_nothing(client: TestClient, db: Database, text_in: Poster) -> None:
    agent, conv_id = start_conversation(client, db, text_in, body="HELP")
    view = conversation(client, agent, conv_id)
    assert [m["text"] for m in view["messages"]] == ["HELP"]
    assert view["contact"]["sms_opted_out"] is False


def test_twilios_advanced_opt_out_verdict_is_honoured(client: TestClient, db: Database, text_in: Poster) -> None:
    """An admin's custom keyword in Twilio's Advanced Opt-Out arrives with OptOutType=STOP."""
    agent, conv_id = start_conversation(client, db, text_in, body="ARRET", OptOutType="STOP")
    assert conversation(client, agent, conv_id)["contact"]["sms_opted_out"] is True


def test_a_failure_after_the_stop_was_stored_is_retried_and_still_opts_out(
        client: TestClient, db: Database, text_in: Poster, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = client.app.state.hub  # type: ignore[attr-defined]
    real = hub.set_opt_out_async

    async def broken(*_: object, **__: object) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(hub, "set_opt_out_async", broken)
    assert text_in(sid="SM" + "5" * 32, body="STOP").status_code == 500  # Twilio will retry
    monkeypatch.setattr(hub, "set_opt_out_async", real)
    assert text_in(sid="SM" + "5" * 32, body="STOP").status_code == 200
    agent, conv_id = start_conversation(client, db, text_in, body="one more")
    view = conversation(client, agent, conv_id)
    assert view["contact"]["sms_opted_out"] is True
    assert [m["text"] for m in view["messages"]] == ["STOP", "one more"]
