"""Routing rules changed through the API apply to the next conversation routed in this process,
though the routing board keeps the rules between conversations (routing.rules_changed)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.db import Database
from tests.factories import api_key, create_team, inbound, login


def team_of(client: TestClient, headers: dict[str, str], conv_id: object) -> object:
    resp = client.get(f"/api/v1/conversations/{conv_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["conversation"]["team_id"]


def test_a_rule_added_or_deleted_applies_to_the_next_conversation(client: TestClient, db: Database) -> None:
    admin = login(client, db, "admin")
    key = api_key(db)
    team = create_team(db, "Billing")
    # Routed before any rule exists: the board now holds "no database rules".
    first = inbound(client, key, source="billing", email="a@example.com")["conversation_id"]
    assert team_of(client, admin.headers, first) is None

    resp = client.post("/api/v1/routing/rules", headers=admin.headers,
                       json={"name": "billing", "match": {"source": ["billing"]}, "team_id": team})
    assert resp.status_code == 201, resp.text
    second = inbound(client, key, source="billing", email="b@example.com")["conversation_id"]
    assert team_of(client, admin.headers, second) == team

    assert client.delete(f"/api/v1/routing/rules/{resp.json()['id']}", headers=admin.headers).status_code == 200
    third = inbound(client, key, source="billing", email="c@example.com")["conversation_id"]
    assert team_of(client, admin.headers, third) is None
