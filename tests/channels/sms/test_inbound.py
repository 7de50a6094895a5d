"""A customer texts the hub's Twilio number: signed webhooks only, stored exactly once, acked after commit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from hub.db import Database
from hub.runtime import Hub
from tests.channels.sms.conftest import Poster
from tests.channels.sms.twilio_side import (
    AUTH_TOKEN,
    CUSTOMER,
    NUMBER,
    inbound_params,
    inbound_url,
    new_sid,
    sign,
    twilio_settings,
)
from tests.conftest import make_settings
from tests.factories import AgentLogin, login


def sms_conversations(client: TestClient, agent: AgentLogin) -> list[dict[str, Any]]:
    resp = client.get("/api/v1/conversations", params={"channel": "sms"}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]  # type: ignore[no-any-return]


def conversation(client: TestClient, agent: AgentLogin, conversation_id: int) -> dict[str, Any]:
    resp = client.get(f"/api/v1/conversations/{conversation_id}", headers=agent.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_a_signed_mms_becomes_a_conversation_for_the_e164_contact(client: TestClient, db: Database,
                                                                  text_in: Poster) -> None:
    resp = text_in(from_="+1 (415) 555-0123", body="My order is broken, photos attached", media=[
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", "video/mp4"),
    ])
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/xml")
    assert "<Response/>" in resp.text

    agent = login(client, db)
    [conv] = sms_conversations(client, agent)
    assert conv["source"] == NUMBER
    assert conv["status"] == "open"
    full = conversation(client, agent, conv["id"])
    assert full["contact"]["phone"] == CUSTOMER
    [message] = full["messages"]
    assert message["direction"] == "in"
    assert message["text"] == "My order is broken, photos attached"
    assert message["attachments"] == [
        {"url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "content_type": "image/jpeg",
         "kind": "image"},
        {"url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", "content_type": "video/mp4",
         "kind": "file"},
    ]


def test_the_same_customer_continues_the_conversation(client: TestClient, db: Database, text_in: Poster) -> None:
    assert text_in(body="first").status_code == 200
    assert text_in(body="second").status_code == 200
    agent = login(client, db)
    [conv] = sms_conversations(client, agent)
    assert [m["text"] for m in conversation(client, agent, conv["id"])["messages"]] == ["first", "second"]


@pytest.mark.parametrize("headers", [
    {},
    {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    sign(inbound_url(), inbound_params(sid="SMother"), AUTH_TOKEN),  # valid, but for other fields
    sign(inbound_url(), inbound_params(sid="SMunsigned"), "someone-elses-token"),
], ids=["missing", "garbage", "other-fields", "other-token"])
def test_unsigned_or_wrongly_signed_webhooks_get_403_and_store_nothing(
        client: TestClient, db: Database, headers: dict[str, str]) -> None:
    resp = client.post(inbound_url(), data=inbound_params(sid="SMunsigned"), headers=headers)
    assert resp.status_code == 403
    assert "X-Twilio-Signature" in resp.json()["message"]
    assert sms_conversations(client, login(client, db, "supervisor")) == []


def test_twilio_retries_of_one_message_sid_store_one_message(client: TestClient, db: Database,
                                                             text_in: Poster) -> None:
    sid = new_sid()
    assert text_in(sid=sid, body="once").status_code == 200
    assert text_in(sid=sid, body="once").status_code == 200
    with ThreadPoolExecutor(8) as pool:  # retries overlapping each other
        assert {r.status_code for r in pool.map(lambda _: text_in(sid=sid, body="once"), range(8))} == {200}
    agent = login(client, db)
    [conv] = sms_conversations(client, agent)
    assert [m["text"] for m in conversation(client, agent, conv["id"])["messages"]] == ["once"]


@pytest.mark.parametrize("public_url", ["https://support.example.com", "https://example.com/helpdesk"])
def test_signatures_hold_behind_a_reverse_proxy(database_url: str, twilio_api: Any, public_url: str) -> None:
    """Twilio calls the public URL; the proxy hands the request to us on another scheme, host and port."""
    settings = make_settings(database_url, public_url=public_url, twilio=twilio_settings(twilio_api.url))
    with TestClient(create_app(settings), base_url="http://10.0.0.7:8000") as client:
        params = inbound_params(body="through the proxy")
        resp = client.post("/channels/sms/twilio/inbound", data=params, headers=sign(inbound_url(public_url), params))
        assert resp.status_code == 200, resp.text
        hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
        assert len(sms_conversations(client, login(client, hub.db))) == 1


def test_an_internal_error_answers_5xx_and_twilios_retry_stores_it_once(
        client: TestClient, db: Database, text_in: Poster, monkeypatch: pytest.MonkeyPatch) -> None:
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    real_ingest = hub.ingest_async

    async def database_down(_: Any) -> Any:
        raise ConnectionError("database is restarting")

    monkeypatch.setattr(hub, "ingest_async", database_down)
    sid = new_sid()
    resp = text_in(sid=sid, body="are you there?")
    assert resp.status_code == 500
    agent = login(client, db)
    assert sms_conversations(client, agent) == []

    monkeypatch.setattr(hub, "ingest_async", real_ingest)
    assert text_in(sid=sid, body="are you there?").status_code == 200
    [conv] = sms_conversations(client, agent)
    assert [m["text"] for m in conversation(client, agent, conv["id"])["messages"]] == ["are you there?"]


def test_a_signed_webhook_without_a_sender_is_a_clear_400(client: TestClient, db: Database) -> None:
    params = inbound_params(from_="")
    resp = client.post(inbound_url(), data=params, headers=sign(inbound_url(), params))
    assert resp.status_code == 400
    assert "From" in resp.json()["message"]


def test_a_text_the_database_cannot_store_is_a_400_not_a_retry(
        client: TestClient, db: Database, text_in: Poster) -> None:
    """A NUL character (PostgreSQL refuses it in text, so SQLite must too): Twilio is told 400, not
    5xx, since sending the same message again can never succeed; nothing is half-written, and the
    next text is fine."""
    resp = text_in(sid=new_sid(), body="before\x00after")
    assert resp.status_code == 400, resp.text
    assert "NUL" in resp.json()["message"]
    assert text_in(sid=new_sid(), body="a normal text").status_code == 200
    agent = login(client, db)
    [conv] = sms_conversations(client, agent)
    texts = [m["text"] for m in conversation(client, agent, conv["id"])["messages"]]
    assert texts == ["a normal text"]


def test_without_twilio_settings_the_sms_channel_is_off(database_url: str) -> None:
    """The registry (config/channels.py) enables SMS only with Twilio's credentials: its webhooks
    are not served, and /readyz does not list it."""
    with TestClient(create_app(make_settings(database_url))) as client:
        params = inbound_params()
        resp = client.post(inbound_url(), data=params, headers=sign(inbound_url(), params))
        assert resp.status_code == 404
        assert client.post("/channels/sms/twilio/status", data={}).status_code == 404
        assert "sms" not in {c["channel"] for c in client.get("/readyz").json()["channels"]}
