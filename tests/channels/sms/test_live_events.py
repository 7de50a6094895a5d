"""What the agent's console sees live on its websocket while Twilio talks to a running hub."""

from __future__ import annotations

from typing import Any

import httpx

from channels.sms.settings import INBOUND_PATH, STATUS_PATH
from tests.channels.sms.twilio_side import inbound_params, inbound_url, sign, status_url
from tests.conftest import LiveServer, wait_for
from tests.factories import PASSWORD, create_agent
from tests.fakes.twilio_api import FakeTwilioApi
from tests.wsclient import AgentSocket


def test_the_agent_sees_the_text_its_reply_status_and_an_opt_out_live(
        live_server: LiveServer, twilio_api: FakeTwilioApi) -> None:
    _, email = create_agent(live_server.app.state.hub.db)
    http = httpx.Client(base_url=live_server.url, timeout=10)
    token = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}

    def twilio_posts(path: str, signed_url: str, params: dict[str, str]) -> None:
        # Signed for the public URL, delivered to the server's own address: as behind a proxy.
        resp = http.post(path, data=params, headers=sign(signed_url, params))
        assert resp.status_code == 200, resp.text

    with AgentSocket(live_server.ws_url, token) as ws:
        ws.wait_ready()
        twilio_posts(INBOUND_PATH, inbound_url(), inbound_params(body="Can I change my delivery address?"))
        created = ws.wait_for_frame(lambda f: f.get("type") == "message.created", what="the customer's text")
        assert created["data"]["message"]["text"] == "Can I change my delivery address?"
        conv_id = created["conversation_id"]

        resp = http.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "Sure, which one?"},
                         headers=auth)
        assert resp.status_code == 201, resp.text
        message_id = resp.json()["id"]
        [sms] = wait_for(lambda: twilio_api.sent, what="the reply at Twilio")

        def status_frame(status: str) -> Any:
            return lambda f: (f.get("type") == "delivery.status_changed" and f["data"]["message_id"] == message_id
                              and f["data"]["status"] == status)

        ws.wait_for_frame(status_frame("queued"), what="queued")
        twilio_posts(STATUS_PATH, status_url(), twilio_api.status_params(sms.sid, "sent"))
        ws.wait_for_frame(status_frame("sent"), what="sent")
        twilio_posts(STATUS_PATH, status_url(), twilio_api.status_params(sms.sid, "delivered"))
        delivered = ws.wait_for_frame(status_frame("delivered"), what="delivered")
        assert delivered["data"]["message"]["delivery_status"] == "delivered"

        twilio_posts(INBOUND_PATH, inbound_url(), inbound_params(body="STOP"))
        opt_out = ws.wait_for_frame(lambda f: f.get("type") == "contact.opt_out_changed", what="the opt-out")
        assert opt_out["data"]["opted_out"] is True
    http.close()
