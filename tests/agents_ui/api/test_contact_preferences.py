"""A contact's tier and language can be set (API, inbound API for a new contact, CLI), so routing
rules that match them work: the VIP boost and the Spanish rule of config/hub.toml (issue 13, Low)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from hub.db import Database
from tests.conftest import make_settings
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def test_a_supervisor_sets_tier_and_language_and_the_timeline_says_so(client: TestClient, db: Database) -> None:
    contact = inbound(client, api_key(db), email="rosa@example.com", name="Rosa")["contact_id"]
    sup = login(client, db, "supervisor")
    resp = client.patch(f"/api/v1/contacts/{contact}", json={"tier": " VIP ", "language": "es-mx"},
                        headers=sup.headers)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["tier"], resp.json()["language"], resp.json()["name"]) == ("vip", "es-MX", "Rosa")
    items = client.get(f"/api/v1/contacts/{contact}/timeline", headers=sup.headers).json()["items"]
    [updated] = [i for i in items if i["type"] == "contact.updated"]
    assert updated["data"]["changes"] == {"tier": ["standard", "vip"], "language": [None, "es-MX"]}
    assert updated["actor_agent_id"] == sup.id
    # Setting the same again records nothing; null clears the language.
    client.patch(f"/api/v1/contacts/{contact}", json={"tier": "vip"}, headers=sup.headers)
    resp = client.patch(f"/api/v1/contacts/{contact}", json={"language": None}, headers=sup.headers)
    assert (resp.json()["tier"], resp.json()["language"]) == ("vip", None)
    items = client.get(f"/api/v1/contacts/{contact}/timeline", headers=sup.headers).json()["items"]
    assert len([i for i in items if i["type"] == "contact.updated"]) == 2


def test_agents_set_name_and_language_but_not_the_tier_and_bad_values_are_refused(client: TestClient,
                                                                                  db: Database) -> None:
    contact = inbound(client, api_key(db), email="lu@example.com")["contact_id"]
    agent = login(client, db, "agent")
    url = f"/api/v1/contacts/{contact}"
    resp = client.patch(url, json={"name": "Lu Wang", "language": "zh-hant-tw"}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["name"], resp.json()["language"]) == ("Lu Wang", "zh-Hant-TW")
    resp = client.patch(url, json={"tier": "vip"}, headers=agent.headers)
    assert (resp.status_code, resp.json()["message"]) == (403, "only supervisors change a customer's tier")
    sup = login(client, db, "supervisor")
    for body, says in (({"language": "Spanish"}, "BCP-47"), ({"language": "es_MX"}, "BCP-47"),
                       ({"tier": "very important"}, "tier"), ({"tier": None}, "tier"), ({"name": " "}, "name"),
                       ({"colour": "red"}, "colour"), ({"language": "x" * 17}, "language"),
                       ({"name": "Lu\x00"}, "name: must not contain a NUL character")):
        resp = client.patch(url, json=body, headers=sup.headers)
        assert resp.status_code == 422, (body, resp.text)
        assert says in resp.json()["message"], (body, resp.json())
    assert client.patch("/api/v1/contacts/987654", json={"name": "x"}, headers=sup.headers).status_code == 404
    body = client.get(url, headers=sup.headers).json()
    assert (body["name"], body["tier"], body["language"]) == ("Lu Wang", "standard", "zh-Hant-TW")


def test_the_inbound_api_sets_a_new_contacts_tier_and_language_only(client: TestClient, db: Database) -> None:
    key = api_key(db)
    sup = login(client, db, "supervisor")
    body = {"source": "crm", "external_id": "t-1", "text": "hola",
            "contact": {"email": "ana@example.com", "tier": "gold", "language": "es"}}
    resp = client.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": key})
    assert resp.status_code == 201, resp.text
    contact = client.get(f"/api/v1/contacts/{resp.json()['contact_id']}", headers=sup.headers).json()
    assert (contact["tier"], contact["language"]) == ("gold", "es")
    # A known customer's tier is not an API message's to change.
    again = {**body, "external_id": "t-2", "contact": {"email": "ana@example.com", "tier": "vip", "language": "en"}}
    assert client.post("/api/v1/inbound/messages", json=again, headers={"X-Api-Key": key}).status_code == 201
    contact = client.get(f"/api/v1/contacts/{contact['id']}", headers=sup.headers).json()
    assert (contact["tier"], contact["language"]) == ("gold", "es")
    bad = {**body, "external_id": "t-3", "contact": {"email": "new@example.com", "language": "spanish please"}}
    resp = client.post("/api/v1/inbound/messages", json=bad, headers={"X-Api-Key": key})
    assert resp.status_code == 422, resp.text
    assert "BCP-47" in resp.json()["message"]
    assert client.get("/api/v1/contacts", params={"q": "new@"}, headers=sup.headers).json()["items"] == []


@pytest.fixture
def routed(database_url: str) -> Iterator[TestClient]:
    """config/hub.toml's Spanish example, on."""
    settings = make_settings(database_url, routing={"rules": [
        {"name": "spanish", "team": "Support ES", "match": {"language": ["es"]}}]})
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_spanish_contact_routes_by_the_language_rule_and_a_vip_gets_the_boost(routed: TestClient) -> None:
    db: Database = routed.app.state.hub.db  # type: ignore[attr-defined]
    key = api_key(db)
    spanish = create_team(db, "Support ES")
    sup = login(routed, db, "supervisor")

    def conv(result: dict[str, object]) -> dict[str, object]:
        url = f"/api/v1/conversations/{result['conversation_id']}"
        return routed.get(url, headers=sup.headers).json()["conversation"]  # type: ignore[no-any-return]

    # A new contact that says so through the inbound API.
    new = inbound(routed, key, email="pilar@example.com")
    assert conv(new)["team_id"] is None
    body = {"source": "crm", "external_id": "es-1", "text": "hola", "contact": {"email": "jose@example.com",
                                                                               "language": "es-MX"}}
    resp = routed.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": key})
    assert conv(resp.json())["team_id"] == spanish
    # A known contact set by an agent: their next conversation goes to the Spanish team, with the
    # VIP boost a supervisor gave them.
    base = conv(inbound(routed, key, email="pilar@example.com", source="web"))["priority"]
    resp = routed.patch(f"/api/v1/contacts/{new['contact_id']}", json={"language": "es", "tier": "vip"},
                        headers=sup.headers)
    assert resp.status_code == 200, resp.text
    later = conv(inbound(routed, key, email="pilar@example.com", source="shop"))
    assert later["team_id"] == spanish
    assert later["priority"] == base + 10  # routing.sla_boost
