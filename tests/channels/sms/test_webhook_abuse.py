"""Unsigned or oversized posts to Twilio's webhooks cost the hub almost nothing, and only the
public URL (plus a trusted proxy's forwarded one) can make a signature valid."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from channels.sms import webhooks
from config.app import create_app
from tests.channels.sms.twilio_side import PUBLIC_URL, inbound_params, inbound_url, sign, twilio_settings
from tests.conftest import make_settings
from tests.factories import login

PATH = "/channels/sms/twilio/inbound"


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the webhook parsed a form body and computed an HMAC."""
    counts = {"parsed": 0, "signed": 0, "parsed_on_loop": 0}
    real_parse, real_sign = webhooks.parse_form, RequestValidator.compute_signature

    def parse(text: str) -> list[tuple[str, str]]:
        counts["parsed"] += 1
        try:
            asyncio.get_running_loop()
            counts["parsed_on_loop"] += 1
        except RuntimeError:  # a worker thread
            pass
        return real_parse(text)

    def compute(self: RequestValidator, url: str, params: Any) -> str:
        counts["signed"] += 1
        return real_sign(self, url, params)

    monkeypatch.setattr(webhooks, "parse_form", parse)
    monkeypatch.setattr(RequestValidator, "compute_signature", compute)
    return counts


def stored_sms(client: TestClient) -> int:
    agent = login(client, client.app.state.hub.db, "supervisor")  # type: ignore[attr-defined]
    resp = client.get("/api/v1/conversations", params={"channel": "sms"}, headers=agent.headers)
    return len(resp.json()["items"])


def test_a_huge_unsigned_form_is_refused_before_it_is_parsed(client: TestClient, work: dict[str, int]) -> None:
    """The probe's 1 MB form of ~150,000 fields (within the hub's general 1 MB body limit)."""
    body = "&".join(f"f{i}=x" for i in range(150_000))[:999_000].encode()
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post(PATH, content=body, headers=form).status_code == 403  # no signature: not read
    resp = client.post(PATH, content=body, headers={**form, "X-Twilio-Signature": "Zm9yZ2Vk"})
    assert resp.status_code == 413
    assert resp.json()["error"] == "too_large"
    assert "65536 bytes" in resp.json()["message"]
    assert work["parsed"] == work["signed"] == 0


def test_a_chunked_body_over_the_cap_is_refused_too(client: TestClient, work: dict[str, int]) -> None:
    body = b"Body=" + b"x" * 70_000
    resp = client.post(PATH, content=iter([body[:40_000], body[40_000:]]), headers={
        "X-Twilio-Signature": "Zm9yZ2Vk", "content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 413
    assert work["parsed"] == work["signed"] == 0


def test_too_many_fields_in_a_small_body_are_refused_before_parsing(client: TestClient,
                                                                    work: dict[str, int]) -> None:
    body = "&".join(["a=b"] * 10_000)  # 40 KB: under the byte cap, far over Twilio's few dozen fields
    resp = client.post(PATH, content=body, headers={
        "X-Twilio-Signature": "Zm9yZ2Vk", "content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 413
    assert "fields" in resp.json()["message"]
    assert work["parsed"] == work["signed"] == 0


def test_without_a_signature_the_body_is_not_even_parsed(client: TestClient, work: dict[str, int]) -> None:
    resp = client.post(PATH, data=inbound_params())
    assert resp.status_code == 403
    assert work["parsed"] == work["signed"] == 0


def test_a_forged_host_or_forwarded_header_adds_no_url_to_check(client: TestClient, work: dict[str, int]) -> None:
    """Each signature is checked against the public URL only (with and without its port): at most
    two HMACs, whatever the headers say. A URL the attacker chose is never the one signed."""
    params = inbound_params()
    forged = sign("https://evil.example/channels/sms/twilio/inbound", params)
    work["signed"] = 0
    resp = client.post(PATH, data=params, headers={
        **forged, "Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    assert resp.status_code == 403
    assert work["signed"] <= 2
    assert stored_sms(client) == 0


def test_the_403_does_not_tell_the_public_url(database_url: str, twilio_api: Any) -> None:
    public = "https://support.internal-name.example.com"
    settings = make_settings(database_url, public_url=public, twilio=twilio_settings(twilio_api.url))
    with TestClient(create_app(settings)) as client:
        resp = client.post(PATH, data=inbound_params(), headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
        assert resp.status_code == 403
        assert "X-Twilio-Signature" in resp.json()["message"]
        assert "internal-name" not in resp.text


@pytest.fixture
def proxied(database_url: str, twilio_api: Any) -> Iterator[TestClient]:
    """A hub whose public URL was left at its default, behind a proxy at 10.0.0.2 that it trusts."""
    settings = make_settings(database_url, public_url="http://127.0.0.1:8000", trusted_proxies=["10.0.0.0/24"],
                             twilio=twilio_settings(twilio_api.url))
    with TestClient(create_app(settings), base_url="http://10.0.0.7:8000", client=("10.0.0.2", 40000)) as client:
        yield client


def forwarded(params: dict[str, str]) -> dict[str, str]:
    return {**sign("https://sms.example.org/channels/sms/twilio/inbound", params),
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.org"}


def test_a_trusted_proxys_forwarded_url_is_checked(proxied: TestClient) -> None:
    params = inbound_params()
    assert proxied.post(PATH, data=params, headers=forwarded(params)).status_code == 200
    assert stored_sms(proxied) == 1


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(database_url: str, twilio_api: Any) -> None:
    settings = make_settings(database_url, public_url="http://127.0.0.1:8000", trusted_proxies=["10.0.0.0/24"],
                             twilio=twilio_settings(twilio_api.url))
    with TestClient(create_app(settings), client=("192.0.2.9", 40000)) as client:
        params = inbound_params()
        assert client.post(PATH, data=params, headers=forwarded(params)).status_code == 403
        assert stored_sms(client) == 0


def test_a_genuine_webhook_is_parsed_on_the_loop_and_a_large_one_on_a_thread(
        client: TestClient, work: dict[str, int]) -> None:
    """The longest text Twilio sends (1,600 characters, here all accented: 9.6 KB encoded) is
    accepted; at that size it is decoded off the event loop. An everyday text stays on it."""
    for text, on_loop in (("Hello", 1), ("é" * 1600, 0)):
        params = inbound_params(body=text)
        assert len(urlencode(params)) < 65_536
        work["parsed_on_loop"] = 0
        resp = client.post(PATH, data=params, headers=sign(inbound_url(PUBLIC_URL), params))
        assert resp.status_code == 200, resp.text
        assert work["parsed_on_loop"] == on_loop
    assert stored_sms(client) == 1


def test_a_body_that_is_not_a_form_is_refused_unread(client: TestClient, work: dict[str, int]) -> None:
    """Twilio posts forms only: a multipart or JSON body is never handed to a parser."""
    resp = client.post(PATH, files={"Body": ("a.txt", b"x" * 1000)}, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
    assert resp.status_code == 415
    assert "application/x-www-form-urlencoded" in resp.json()["message"]
    assert work["parsed"] == work["signed"] == 0
