"""Opening a conversation in the console: messages paged from the latest, its other events inline."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.db import Database
from tests.agents_ui.api.test_conversations import move
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def test_the_thread_carries_assignments_and_status_changes_as_wire_events_but_no_message_events(
    client: TestClient, db: Database
) -> None:
    key = api_key(db)
    team = create_team(db)
    conv_id = int(inbound(client, key, email="t@example.com", text="hi")["conversation_id"])
    agent = login(client, db, "agent", teams=[team])
    move(db, conv_id, team_id=team, assignee_id=agent.id)
    h = agent.headers
    client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "note"}, headers=h)
    client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "reply"}, headers=h)
    client.post(f"/api/v1/conversations/{conv_id}/status", json={"status": "resolved"}, headers=h)

    body = client.get(f"/api/v1/conversations/{conv_id}", headers=h).json()
    assert [m["text"] for m in body["messages"]] == ["hi", "note", "reply"]
    assert body["next_before"] is None
    types = [e["type"] for e in body["events"]]
    assert "conversation.assigned" in types and types[-1] == "conversation.status_changed"
    assert not {"message.created", "note.created"} & set(types)
    last = body["events"][-1]
    assert set(last) == {"id", "type", "conversation_id", "contact_id", "actor_agent_id", "at", "data"}
    assert last["conversation_id"] == conv_id and last["actor_agent_id"] == agent.id
    assert last["data"]["to"] == "resolved"
    assert [e["id"] for e in body["events"]] == sorted(e["id"] for e in body["events"])


def test_a_long_thread_opens_on_its_latest_messages_and_pages_back_showing_each_event_once(
    client: TestClient, db: Database
) -> None:
    key = api_key(db)
    team = create_team(db)
    sup = login(client, db, "supervisor")
    conv_id = int(inbound(client, key, email="long@example.com", text="m0")["conversation_id"])
    for i in range(1, 25):
        inbound(client, key, email="long@example.com", text=f"m{i}")
        if i == 7:
            move(db, conv_id, team_id=team)  # between m7 and m8: on the page holding m8

    pages, events, before = [], [], None
    while True:
        url = f"/api/v1/conversations/{conv_id}?limit=10" + (f"&before={before}" if before else "")
        body = client.get(url, headers=sup.headers).json()
        pages.append([m["text"] for m in body["messages"]])
        events.append([(e["id"], e["type"]) for e in body["events"]])
        before = body["next_before"]
        if before is None:
            break
    assert pages == [[f"m{i}" for i in range(15, 25)], [f"m{i}" for i in range(5, 15)],
                     [f"m{i}" for i in range(5)]]
    every = [e for page in events for e in page]
    assert len(every) == len(set(every))
    assert [t for _, t in events[1]].count("conversation.assigned") == 1
    assert "conversation.assigned" not in [t for page in (events[0], events[2]) for _, t in page]


def test_bad_paging_gets_a_clear_4xx(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key, email="b@example.com")["conversation_id"])
    sup = login(client, db, "supervisor")
    for query in ("limit=0", "limit=501", "before=abc"):
        resp = client.get(f"/api/v1/conversations/{conv_id}?{query}", headers=sup.headers)
        assert resp.status_code == 422 and resp.json()["message"], query
