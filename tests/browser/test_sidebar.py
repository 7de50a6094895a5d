"""The customer sidebar follows what happens to its customer while their conversation is open: a
conversation resolved elsewhere, a new one arriving on another channel, a new name, a rating, an
opt-out, without a reload."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from hub.conversations.ratings import do_rate
from tests.browser.conftest import Hub, running_hub
from tests.channels.sms.twilio_side import ACCOUNT_SID, AUTH_TOKEN, inbound_params, sign, twilio_settings
from tests.fakes.twilio_api import FakeTwilioApi


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilioApi]:
    fake = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, cheap_hashing: None,
        twilio: FakeTwilioApi) -> Iterator[Hub]:
    """A hub with SMS (Twilio, faked) beside the API channel."""
    yield from running_hub(tmp_path_factory, sqlite_template, twilio=twilio_settings(twilio.url))


def _customer(hub: Hub, text: str, *, email: str, phone: str, name: str) -> dict[str, Any]:
    """A customer writes through the API channel with their email and phone (both become theirs)."""
    body = {"source": "crm", "external_id": f"m-{os.urandom(6).hex()}",
            "contact": {"email": email, "phone": phone, "name": name}, "text": text}
    resp = httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body, headers={"X-Api-Key": hub.api_key})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _texts(hub: Hub, phone: str, text: str) -> None:
    """The customer texts our number (Twilio's signed webhook)."""
    url = f"{hub.url}/channels/sms/twilio/inbound"
    params = inbound_params(from_=phone, body=text)
    resp = httpx.post(url, data=params, headers=sign(url, params))
    assert resp.status_code == 200, resp.text


def _ok(resp: httpx.Response) -> Any:
    assert resp.is_success, resp.text
    return resp.json()


def _phone() -> str:
    return "+1415555" + str(uuid.uuid4().int % 10_000).zfill(4)


def _other_conversations(page: Any) -> Any:
    return page.locator(".pane-customer .other-convs li")


def _conv_item(page: Any, conversation_id: int) -> Any:
    return page.locator(f'.pane-customer .other-convs a[href$="#/c/{conversation_id}"]')


def _timeline(page: Any) -> Any:
    return page.locator(".pane-customer .timeline li")


def test_the_sidebar_follows_its_customer_without_a_reload(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    team_a, team_b = hub.team(f"Front {uid}"), hub.team(f"Billing {uid}")
    ana = hub.agent(name=f"Ana Side {uid}", teams=[team_a])
    ben = hub.agent(name=f"Ben Side {uid}", teams=[team_b])
    boss = hub.agent("supervisor")
    email, phone = f"s-{uid}@example.com", _phone()
    first = _customer(hub, "My parcel is late", email=email, phone=phone, name=f"Gus {uid}")
    contact_id, open_conv = first["contact_id"], first["conversation_id"]
    # A second conversation of theirs, another team's and another agent's (another API source).
    body = {"source": "shop", "external_id": f"m-{uid}", "contact": {"email": email}, "text": "And my refund?"}
    other = _ok(httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body, headers={"X-Api-Key": hub.api_key}))
    other_conv = other["conversation_id"]
    assert other["contact_id"] == contact_id
    _ok(hub.api("POST", f"/api/v1/conversations/{open_conv}/assign", boss,
                json={"assignee_id": ana.id, "team_id": team_a}))
    _ok(hub.api("POST", f"/api/v1/conversations/{other_conv}/assign", boss,
                json={"assignee_id": ben.id, "team_id": team_b}))

    page = new_page(ana, path=f"/#/c/{open_conv}")
    expect(page.locator(".msg-in")).to_contain_text("My parcel is late")
    expect(_other_conversations(page)).to_have_count(2)
    expect(_conv_item(page, other_conv)).to_contain_text("Open")
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if f"/api/v1/contacts/{contact_id}" in r.url else None)

    # Ben resolves his conversation with the customer (another team's): Ana sees it resolved, and
    # the customer's rating of it on the timeline.
    _ok(hub.api("POST", f"/api/v1/conversations/{other_conv}/status", ben, json={"status": "resolved"}))
    expect(_conv_item(page, other_conv)).to_contain_text("Resolved")
    expect(_timeline(page).first).to_contain_text("Resolved")
    with hub.db.write() as s:
        do_rate(s, other_conv, contact_id, 4, "Quick, thanks")
    expect(_timeline(page).first).to_contain_text("Rated 4/5")

    # The customer texts in: a new SMS conversation on top of Ana's list; then STOP.
    _texts(hub, phone, "Texting you as well")
    expect(_other_conversations(page)).to_have_count(3)
    expect(_other_conversations(page).first).to_contain_text("SMS · Open")
    _texts(hub, phone, "STOP")
    expect(page.locator(".pane-customer .facts")).to_contain_text("Opted out of")
    expect(page.locator(".pane-customer .facts")).to_contain_text("SMS")

    # Renamed by a supervisor while Ana has the edit form open: the name follows, the form stays.
    page.locator(".pane-customer").get_by_role("button", name="Edit").click()
    expect(page.locator("#contact-name")).to_be_visible()
    _ok(hub.api("PATCH", f"/api/v1/contacts/{contact_id}", boss, json={"name": f"Gustavo {uid}"}))
    expect(page.locator(".pane-customer .customer-name")).to_have_text(f"Gustavo {uid}")
    expect(page.locator(".conv-header h2")).to_have_text(f"Gustavo {uid}")
    expect(page.locator("#contact-name")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()

    # None of this customer's news read them again: each was applied as it came.
    assert reads == []

    # What happened while Ana's network was down arrives when it is back.
    page.context.set_offline(True)
    expect(page.locator("body[data-connection=offline]")).to_have_count(1)
    _ok(hub.api("POST", f"/api/v1/conversations/{other_conv}/status", ben, json={"status": "open"}))
    page.context.set_offline(False)
    expect(_conv_item(page, other_conv)).to_contain_text("Open")
    expect(_other_conversations(page)).to_have_count(3)
    assert page.errors == []
