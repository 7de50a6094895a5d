"""A message's formatted version as the console's frame loads it: sanitized, under its own policy,
remote images only when asked for."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from hub.db import Database
from tests.factories import AgentLogin, api_key, login

_seq = itertools.count(1)
HTML = ('<p>Our <b>offer</b></p><img alt="logo" src="https://tracker.example/open.gif?u=7">'
        '<img src="cid:part1"><script>window.__pwned=1</script>')


def _email(client: TestClient, db: Database, html: str | None = HTML) -> dict[str, Any]:
    body: dict[str, Any] = {"source": "crm", "external_id": f"h-{next(_seq)}",
                            "contact": {"email": "html@example.com"}, "text": "Our offer"}
    if html is not None:
        body["html"] = html
    resp = client.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": api_key(db)})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _frame(client: TestClient, agent: AgentLogin, conv: Any, message: Any, query: str = "") -> Any:
    return client.get(f"/api/v1/conversations/{conv}/messages/{message}/html{query}", headers=agent.headers)


def test_the_frame_holds_the_sanitized_html_and_no_remote_image_can_load(client: TestClient, db: Database) -> None:
    sent = _email(client, db)
    agent = login(client, db, "agent")
    resp = _frame(client, agent, sent["conversation_id"], sent["message_id"])
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert '<img alt="logo" data-remote-src="https://tracker.example/open.gif?u=7">' in resp.text
    assert ' src="https://' not in resp.text and "<script" not in resp.text
    policy = resp.headers["content-security-policy"]
    assert "img-src 'self' data:;" in policy  # neither http: nor https:
    assert "default-src 'none'" in policy and "sandbox" in policy and "frame-ancestors 'self'" in policy
    # Nothing runs; the document keeps the hub's origin only for the console to read its height.
    assert policy.endswith("; sandbox allow-same-origin") and "allow-scripts" not in policy
    assert resp.headers["referrer-policy"] == "no-referrer"


def test_asked_for_its_images_the_frame_loads_them_and_its_policy_allows_them(client: TestClient,
                                                                              db: Database) -> None:
    sent = _email(client, db)
    agent = login(client, db, "agent")
    resp = _frame(client, agent, sent["conversation_id"], sent["message_id"], "?images=show")
    assert resp.status_code == 200
    assert '<img alt="logo" src="https://tracker.example/open.gif?u=7">' in resp.text
    assert '<img src="cid:part1">' in resp.text
    assert "data-remote-src" not in resp.text
    assert "img-src 'self' data: http: https:;" in resp.headers["content-security-policy"]
    assert "sandbox" in resp.headers["content-security-policy"]


def test_a_message_without_html_or_of_another_conversation_has_no_frame(client: TestClient, db: Database) -> None:
    sent = _email(client, db)
    plain = _email(client, db, html=None)
    agent = login(client, db, "agent")
    conv = sent["conversation_id"]
    assert _frame(client, agent, conv, plain["message_id"]).status_code == 404
    assert _frame(client, agent, conv, 10**9).status_code == 404
    resp = _frame(client, agent, conv, sent["message_id"], "?images=all")
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid"
    assert client.get(f"/api/v1/conversations/{conv}/messages/{sent['message_id']}/html").status_code == 401
