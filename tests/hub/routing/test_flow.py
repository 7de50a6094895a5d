"""Routing as agents and supervisors see it, through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from config.settings import Settings
from hub.db import Database
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, api_key, create_team, inbound, login


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        routing={
            "default_capacity": {"api": 2, "webchat": 2},
            "sticky_wait_seconds": 0,
            "presence_grace_seconds": 0.6,
            "release_on_offline": ["api"],
        },
    )


@pytest.fixture
def admin(client: TestClient, db: Database) -> AgentLogin:
    return login(client, db, "admin")


def online(client: TestClient, who: AgentLogin) -> None:
    assert (
        client.post("/api/v1/agents/me/presence", json={"presence": "online"}, headers=who.headers).status_code == 200
    )


def conv(client: TestClient, admin: AgentLogin, conv_id: object) -> dict[str, Any]:
    resp = client.get(f"/api/v1/conversations/{conv_id}", headers=admin.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["conversation"]  # type: ignore[no-any-return]


def assignee(client: TestClient, admin: AgentLogin, conv_id: object) -> object:
    return conv(client, admin, conv_id)["assignee_id"]


def events_of(db: Database, conv_id: object) -> list[tuple[str, dict[str, Any]]]:
    from sqlalchemy import select

    from hub.events.models import Event

    with db.read() as s:
        rows = s.execute(select(Event).where(Event.conversation_id == conv_id).order_by(Event.id)).scalars()  # type: ignore[arg-type]
        return [(e.type, e.payload) for e in rows]


def test_new_conversation_goes_at_once_to_an_online_agent(client: TestClient, db: Database, admin: AgentLogin) -> None:
    ana = login(client, db)
    online(client, ana)
    c = inbound(client, api_key(db), email="x@example.com")
    assert assignee(client, admin, c["conversation_id"]) == ana.id  # assigned within the ingest transaction
    kinds = [(t, p.get("reason")) for t, p in events_of(db, c["conversation_id"])]
    assert ("conversation.assigned", "auto") in kinds


def test_queue_drains_when_an_agent_comes_online(client: TestClient, db: Database, admin: AgentLogin) -> None:
    key = api_key(db)
    c = inbound(client, key, email="wait@example.com")
    assert assignee(client, admin, c["conversation_id"]) is None
    ana = login(client, db)
    online(client, ana)
    wait_for(lambda: assignee(client, admin, c["conversation_id"]) == ana.id, what="queued conversation assigned")


def test_capacity_holds_and_resolving_frees_a_slot(client: TestClient, db: Database, admin: AgentLogin) -> None:
    ana = login(client, db)
    online(client, ana)
    key = api_key(db)
    convs = [inbound(client, key, email=f"c{i}@example.com")["conversation_id"] for i in range(3)]
    owners = [assignee(client, admin, c) for c in convs]
    assert owners == [ana.id, ana.id, None]  # capacity 2 on the api channel
    r = client.post(f"/api/v1/conversations/{convs[0]}/status", json={"status": "resolved"}, headers=ana.headers)
    assert r.status_code == 200
    wait_for(lambda: assignee(client, admin, convs[2]) == ana.id, what="third conversation assigned after resolve")


def test_longest_idle_agent_with_lowest_load_is_chosen(client: TestClient, db: Database, admin: AgentLogin) -> None:
    ana, ben = login(client, db), login(client, db)
    online(client, ana)
    online(client, ben)
    key = api_key(db)
    first = assignee(client, admin, inbound(client, key, email="a1@example.com")["conversation_id"])
    second = assignee(client, admin, inbound(client, key, email="a2@example.com")["conversation_id"])
    assert {first, second} == {ana.id, ben.id}  # the second goes to the one who got nothing yet


def test_rule_sends_keywords_to_a_team_and_only_its_members_get_it(
    client: TestClient, db: Database, admin: AgentLogin
) -> None:
    billing = create_team(db, "Billing")
    r = client.post(
        "/api/v1/routing/rules",
        headers=admin.headers,
        json={"name": "billing", "match": {"keywords": ["invoice"]}, "team_id": billing, "priority": 3},
    )
    assert r.status_code == 201, r.text
    outsider = login(client, db)
    online(client, outsider)
    key = api_key(db)
    c = inbound(client, key, email="inv@example.com", text="My INVOICE is wrong")
    data = conv(client, admin, c["conversation_id"])
    assert data["team_id"] == billing and data["priority"] == 3 and data["assignee_id"] is None
    member = login(client, db, teams=[billing])
    online(client, member)
    wait_for(lambda: assignee(client, admin, c["conversation_id"]) == member.id, what="billing member assigned")
    # The outsider may read it (company visibility) but not answer it: it is the member's work.
    resp = client.post(f"/api/v1/conversations/{c['conversation_id']}/messages", json={"text": "hi"},
                       headers=outsider.headers)
    assert resp.status_code == 403


def test_returning_customer_goes_back_to_their_agent(client: TestClient, db: Database, admin: AgentLogin) -> None:
    ana = login(client, db)
    online(client, ana)
    key = api_key(db)
    first = inbound(client, key, email="loyal@example.com", source="web")
    assert assignee(client, admin, first["conversation_id"]) == ana.id
    client.post(f"/api/v1/conversations/{first['conversation_id']}/messages", json={"text": "hi"}, headers=ana.headers)
    ben = login(client, db)
    online(client, ben)  # ben is now the idler, lower-load agent...
    again = inbound(client, key, email="loyal@example.com", source="shop")  # another entry point: new conversation
    assert again["conversation_id"] != first["conversation_id"]
    assert assignee(client, admin, again["conversation_id"]) == ana.id  # ...but the customer returns to ana


def test_supervisor_bulk_transfer_requeues_into_the_team_and_can_exceed_capacity(
    client: TestClient, db: Database, admin: AgentLogin
) -> None:
    sup = login(client, db, "supervisor")
    key = api_key(db)
    convs = [inbound(client, key, email=f"b{i}@example.com")["conversation_id"] for i in range(3)]
    vip = create_team(db, "VIP")
    member = login(client, db, teams=[vip])
    r = client.post(
        "/api/v1/supervisor/assign",
        headers=sup.headers,
        json={"conversation_ids": convs, "assignee_id": member.id, "note": "VIP account"},
    )
    assert r.status_code == 200, r.text
    assert [assignee(client, admin, c) for c in convs] == [member.id] * 3  # above the capacity of 2: supervisor's call
    r = client.post(
        "/api/v1/supervisor/assign", headers=sup.headers, json={"conversation_ids": convs[:2], "team_id": vip}
    )
    assert r.status_code == 200
    assert [conv(client, admin, c)["team_id"] for c in convs[:2]] == [vip, vip]
    types = [t for t, _ in events_of(db, convs[0])]
    assert "conversation.transferred" in types
    notes = [p.get("note") for t, p in events_of(db, convs[0]) if t.startswith("conversation.")]
    assert "VIP account" in notes
    # Back in the VIP queue; the member still holds one, so capacity 2 lets routing give back just one.
    assert [assignee(client, admin, c) for c in convs] == [None, None, member.id]
    online(client, member)
    wait_for(lambda: [assignee(client, admin, c) for c in convs[:2]].count(member.id) == 1, what="one routed back")
    assert [assignee(client, admin, c) for c in convs[:2]].count(None) == 1


def test_agents_cannot_use_supervisor_views(client: TestClient, db: Database) -> None:
    ana = login(client, db)
    for path in ("/api/v1/supervisor/queues", "/api/v1/supervisor/agents"):
        assert client.get(path, headers=ana.headers).status_code == 403
        assert client.get(path).status_code == 401
    r = client.post("/api/v1/supervisor/assign", headers=ana.headers, json={"conversation_ids": [1], "team_id": 1})
    assert r.status_code == 403


def test_supervisor_sees_queues_and_agent_load(client: TestClient, db: Database, admin: AgentLogin) -> None:
    sup = login(client, db, "supervisor")
    support = create_team(db, "Support")
    ana = login(client, db, teams=[support])
    online(client, ana)
    key = api_key(db)
    for i in range(3):
        inbound(client, key, email=f"q{i}@example.com")
    queues = {q["name"]: q for q in client.get("/api/v1/supervisor/queues", headers=sup.headers).json()["items"]}
    assert queues["Shared inbox"]["waiting"] == 1
    assert queues["Shared inbox"]["longest_wait_seconds"] >= 0
    assert queues["Support"]["agents_online"] == 1
    agents = {a["id"]: a for a in client.get("/api/v1/supervisor/agents", headers=sup.headers).json()["items"]}
    assert agents[ana.id]["load"] == {"api": 2}
    assert agents[ana.id]["capacity"]["api"] == 2
    assert agents[ana.id]["presence"] == "online"


def test_going_offline_hands_chats_to_others(client: TestClient, db: Database, admin: AgentLogin) -> None:
    ana = login(client, db)
    online(client, ana)
    c = inbound(client, api_key(db), email="chat@example.com")
    assert assignee(client, admin, c["conversation_id"]) == ana.id
    ben = login(client, db)
    online(client, ben)
    client.post("/api/v1/agents/me/presence", json={"presence": "offline"}, headers=ana.headers)
    wait_for(lambda: assignee(client, admin, c["conversation_id"]) == ben.id, what="chat handed over to ben")
    assert "conversation.requeued" in [t for t, _ in events_of(db, c["conversation_id"])]


def test_silent_console_goes_offline_after_the_grace_period(
    client: TestClient, db: Database, admin: AgentLogin
) -> None:
    ana = login(client, db)
    with client.websocket_connect("/ws/agent", headers=ana.headers) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "presence", "presence": "online"})
        c = inbound(client, api_key(db), email="gone@example.com")
        wait_for(lambda: assignee(client, admin, c["conversation_id"]) == ana.id, what="assigned to ana")
    # The console closed without a word; after the grace period ana is offline and the chat queued.
    wait_for(lambda: assignee(client, admin, c["conversation_id"]) is None, what="chat requeued", timeout=10)
    me = client.get("/api/v1/agents/me", headers=ana.headers).json()
    assert me["presence"] == "offline"


def test_offered_chat_must_be_accepted(client: TestClient, db: Database, admin: AgentLogin) -> None:
    team = create_team(db, "Chat")
    r = client.put(f"/api/v1/teams/{team}/settings", headers=admin.headers, json={"offer_timeout_seconds": 60})
    assert r.status_code == 200
    client.post("/api/v1/routing/rules", headers=admin.headers, json={"name": "all", "team_id": team})
    ana = login(client, db, teams=[team])
    online(client, ana)
    hub = client.app.state.hub  # type: ignore[attr-defined]
    # Offers are for live chat: ingest a webchat message through the hub's port.
    from hub.ports import ContactRef, InboundMessage

    result = hub.ingest(
        InboundMessage(
            channel="webchat",
            source="site",
            ingest_scope="widget",
            external_id="w1",
            contact=ContactRef(email="visitor@example.com"),
            text="hello?",
        )
    )
    data = conv(client, admin, result.conversation_id)
    assert data["assignee_id"] is None
    assert "conversation.offered" in [t for t, _ in events_of(db, result.conversation_id)]
    other = login(client, db, teams=[team])
    assert (
        client.post(f"/api/v1/conversations/{result.conversation_id}/accept", headers=other.headers).status_code == 409
    )
    assert client.post(f"/api/v1/conversations/{result.conversation_id}/accept", headers=ana.headers).status_code == 200
    assert assignee(client, admin, result.conversation_id) == ana.id


def test_unanswered_offer_times_out_and_goes_to_the_next_agent(
    client: TestClient, db: Database, admin: AgentLogin
) -> None:
    team = create_team(db, "Chat")
    client.put(f"/api/v1/teams/{team}/settings", headers=admin.headers, json={"offer_timeout_seconds": 0.3})
    client.post("/api/v1/routing/rules", headers=admin.headers, json={"name": "all", "team_id": team})
    ana = login(client, db, teams=[team])
    online(client, ana)
    ben = login(client, db, teams=[team])
    online(client, ben)
    from hub.ports import ContactRef, InboundMessage

    hub = client.app.state.hub  # type: ignore[attr-defined]
    result = hub.ingest(
        InboundMessage(
            channel="webchat",
            source="site",
            ingest_scope="widget",
            external_id="w2",
            contact=ContactRef(email="v2@example.com"),
            text="anyone?",
        )
    )
    wait_for(
        lambda: any(t == "conversation.offer_withdrawn" for t, _ in events_of(db, result.conversation_id)),
        what="offer timed out",
    )
    wait_for(
        lambda: len([1 for t, _ in events_of(db, result.conversation_id) if t == "conversation.offered"]) >= 2,
        what="offered again",
    )
    offers = [p["agent_id"] for t, p in events_of(db, result.conversation_id) if t == "conversation.offered"]
    assert offers[:2] == [ana.id, ben.id]  # both idle: ana first (lower id); after her timeout, ben is the longer idle


def test_waiting_too_long_escalates_to_the_overflow_team(client: TestClient, db: Database, admin: AgentLogin) -> None:
    first = create_team(db, "Tier1")
    overflow = create_team(db, "Tier2")
    client.put(
        f"/api/v1/teams/{first}/settings",
        headers=admin.headers,
        json={"escalate_after_seconds": 0.3, "overflow_team": "Tier2"},
    )
    client.post("/api/v1/routing/rules", headers=admin.headers, json={"name": "all", "team_id": first})
    expert = login(client, db, teams=[overflow])
    online(client, expert)
    c = inbound(client, api_key(db), email="esc@example.com")
    wait_for(lambda: assignee(client, admin, c["conversation_id"]) == expert.id, what="escalated and assigned")
    data = conv(client, admin, c["conversation_id"])
    assert data["team_id"] == overflow
    assert "conversation.escalated" in [t for t, _ in events_of(db, c["conversation_id"])]


def test_sla_nearing_breach_raises_priority_and_tells_supervisors(
    client: TestClient, db: Database, admin: AgentLogin
) -> None:
    team = create_team(db, "Support")
    client.put(
        f"/api/v1/teams/{team}/settings",
        headers=admin.headers,
        json={"sla": {"default": {"first_response": 2.0}, "warn_before": 1.9}},
    )
    client.post("/api/v1/routing/rules", headers=admin.headers, json={"name": "all", "team_id": team})
    c = inbound(client, api_key(db), email="sla@example.com")
    data = conv(client, admin, c["conversation_id"])
    assert data["priority"] == 0
    wait_for(lambda: conv(client, admin, c["conversation_id"])["priority"] == 10, what="priority raised")
    wait_for(lambda: "sla.breached" in [t for t, _ in events_of(db, c["conversation_id"])], what="breach recorded")
    assert "sla.at_risk" in [t for t, _ in events_of(db, c["conversation_id"])]
    sup = login(client, db, "supervisor")
    queues = {q["name"]: q for q in client.get("/api/v1/supervisor/queues", headers=sup.headers).json()["items"]}
    assert queues["Support"]["sla_at_risk"] == 1


@pytest.fixture
def restarted(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def test_waiting_conversations_survive_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as c1:
        db = c1.app.state.hub.db  # type: ignore[attr-defined]
        admin = login(c1, db, "admin")
        conv_id = inbound(c1, api_key(db), email="persist@example.com")["conversation_id"]
        agent_id, email = None, None
        from tests.factories import create_agent

        agent_id, email = create_agent(db)
    with TestClient(create_app(settings)) as c2:
        db2 = c2.app.state.hub.db  # type: ignore[attr-defined]
        token = c2.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).json()[
            "token"
        ]
        c2.post("/api/v1/agents/me/presence", json={"presence": "online"}, headers={"Authorization": f"Bearer {token}"})
        wait_for(lambda: assignee(c2, admin, conv_id) == agent_id, what="assigned after restart")
        assert db2 is not None


def hand_back(client: TestClient, who: AgentLogin, conv_id: object) -> int:
    return client.post(f"/api/v1/conversations/{conv_id}/assign", headers=who.headers,
                       json={"assignee_id": None, "note": "not my area"}).status_code


def test_an_agent_hands_a_conversation_back_and_someone_else_gets_it(
        client: TestClient, db: Database, admin: AgentLogin) -> None:
    ana = login(client, db)
    online(client, ana)
    ben = login(client, db)
    online(client, ben)
    c = inbound(client, api_key(db), email="back@example.com")
    conv_id = c["conversation_id"]
    first = assignee(client, admin, conv_id)
    holder, other = (ana, ben) if first == ana.id else (ben, ana)
    assert hand_back(client, other, conv_id) == 403  # not theirs to hand back
    assert hand_back(client, holder, conv_id) == 200
    wait_for(lambda: assignee(client, admin, conv_id) == other.id, what="the other agent to get it")
    requeued = [p for t, p in events_of(db, conv_id) if t == "conversation.requeued"]
    assert requeued and requeued[-1]["reason"] == "handed_back" and requeued[-1]["note"] == "not my area"
    assert requeued[-1]["from_assignee_id"] == holder.id


def test_a_lone_agent_is_not_given_back_what_they_passed_on_until_the_cooldown_ends(
        client: TestClient, db: Database, admin: AgentLogin) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from hub.clock import utcnow
    from hub.conversations.models import Conversation

    hub = client.app.state.hub  # type: ignore[attr-defined]
    ana = login(client, db)
    online(client, ana)
    conv_id = inbound(client, api_key(db), email="lone@example.com")["conversation_id"]
    assert assignee(client, admin, conv_id) == ana.id
    assert hand_back(client, ana, conv_id) == 200
    with db.write() as s:  # a drain pass, as the one the hand-back triggers: nobody else is there
        placed, _ = hub.router.drain_pass(s)
    assert placed == 0 and assignee(client, admin, conv_id) is None
    long_ago = utcnow() - timedelta(hours=1)
    with db.write() as s:  # time passes: the cooldown is over
        s.execute(update(Conversation).where(Conversation.id == conv_id)  # type: ignore[arg-type]
                  .values(passed_at=long_ago, passed_agent_ids={str(ana.id): long_ago.timestamp()}))
    wait_for(lambda: assignee(client, admin, conv_id) == ana.id, what="the routing tick to give it back to ana")


def test_a_declined_chat_goes_to_the_next_agent_and_never_straight_back(
        client: TestClient, db: Database, admin: AgentLogin) -> None:
    from hub.ports import ContactRef, InboundMessage

    team = create_team(db, "Chat")
    client.put(f"/api/v1/teams/{team}/settings", headers=admin.headers, json={"offer_timeout_seconds": 60})
    client.post("/api/v1/routing/rules", headers=admin.headers, json={"name": "all", "team_id": team})
    ana = login(client, db, teams=[team])
    online(client, ana)
    hub = client.app.state.hub  # type: ignore[attr-defined]
    result = hub.ingest(InboundMessage(channel="webchat", source="site", ingest_scope="widget", external_id="w-dec",
                                       contact=ContactRef(email="decline@example.com"), text="hi"))
    conv_id = result.conversation_id

    def offers() -> list[int]:
        return [p["agent_id"] for t, p in events_of(db, conv_id) if t == "conversation.offered"]

    assert offers() == [ana.id]
    assert client.post(f"/api/v1/conversations/{conv_id}/decline", headers=ana.headers).status_code == 200
    with db.write() as s:  # ana is alone: the drain after her decline offers it to nobody
        placed, _ = hub.router.drain_pass(s)
    assert placed == 0 and offers() == [ana.id]
    ben = login(client, db, teams=[team])
    online(client, ben)  # someone else comes online: the queue drains to them
    wait_for(lambda: offers() == [ana.id, ben.id], what="the chat to be offered to ben")
