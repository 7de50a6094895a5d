"""Routing rules changed through the API apply to the next conversation routed in this process,
though the routing board keeps the rules between conversations (routing.rules_changed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from hub.db import Database
from tests.conftest import make_settings
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


def rules(client: TestClient, headers: dict[str, str]) -> list[dict[str, object]]:
    return client.get("/api/v1/routing/rules", headers=headers).json()["items"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("body", "says"), [
    ({"name": "es", "teem": "Soporte ES"}, "teem: Extra inputs are not permitted"),
    ({"name": "es", "match": {"chanel": ["sms"]}}, "match.chanel: Extra inputs are not permitted"),
    ({"name": "es", "team": "Nobody"}, "team: no team 'Nobody'"),
    ({"name": "es", "team_id": 999}, "team: no team 999"),
    ({"name": "es", "team": "Soporte ES", "team_id": 1}, "give the team once"),
    ({"name": "es", "position": 10**30}, "position"),
    ({"name": "es", "team": True}, "team"),  # found by the schema fuzzer: `true` was taken as team 1
])
def test_a_rule_with_unknown_fields_or_an_unknown_team_is_refused(client: TestClient, db: Database,
                                                                  body: dict[str, object], says: str) -> None:
    admin = login(client, db, "admin")
    create_team(db, "Soporte ES")
    resp = client.post("/api/v1/routing/rules", headers=admin.headers, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid"
    assert says in resp.json()["message"]
    assert rules(client, admin.headers) == []


def test_the_api_takes_a_rules_team_by_name_or_by_id(client: TestClient, db: Database) -> None:
    admin = login(client, db, "admin")
    key = api_key(db)
    spanish, billing = create_team(db, "Soporte ES"), create_team(db, "Billing")
    for name, team in (("es", "Soporte ES"), ("billing", billing)):
        resp = client.post("/api/v1/routing/rules", headers=admin.headers,
                           json={"name": name, "team": team, "match": {"source": [name]}})
        assert resp.status_code == 201, resp.text
    assert [(r["name"], r["team_id"]) for r in rules(client, admin.headers)] == [("es", spanish), ("billing", billing)]
    conv_id = inbound(client, key, source="es", email="es@example.com")["conversation_id"]
    assert team_of(client, admin.headers, conv_id) == spanish


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Config rules naming their teams by id: a number, or digits no team has as its name."""
    return make_settings(database_url, routing={"rules": [
        {"name": "by number", "team": 1, "match": {"source": ["one"]}},
        {"name": "by digits", "team": "2", "match": {"source": ["two"]}},
    ]})


def test_config_rules_take_a_team_by_id_too(client: TestClient, db: Database) -> None:
    admin = login(client, db, "admin")
    key = api_key(db)
    first, second = create_team(db, "First"), create_team(db, "Second")
    assert (first, second) == (1, 2)  # a fresh database
    one = inbound(client, key, source="one", email="one@example.com")["conversation_id"]
    two = inbound(client, key, source="two", email="two@example.com")["conversation_id"]
    assert (team_of(client, admin.headers, one), team_of(client, admin.headers, two)) == (first, second)
