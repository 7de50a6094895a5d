"""The one visibility rule (hub/events/visibility.py) as an over-curious agent meets it, in both
modes: `company` (the default: every agent reads every customer's whole history and adds notes
anywhere; replies and status changes on their own work only) and `team` (teams isolated: the
conversation, the contact's timeline and contact search alike)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from hub.conversations import actions as conv_actions
from hub.db import Database
from tests.conftest import make_settings
from tests.factories import AgentLogin, api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def settings(database_url: str, visibility: str) -> Settings:
    return make_settings(database_url, visibility=visibility)


@dataclass
class Story:
    """Fay's billing dispute lives in the billing team, with an internal note; Gus's question in
    the support team. The curious agent is in support only."""

    fay: int
    fay_conv: int
    gus: int
    gus_conv: int
    billing_agent: AgentLogin
    curious: AgentLogin
    supervisor: AgentLogin


def move(db: Database, conversation_id: int, *, team_id: int | None, assignee_id: int | None = None) -> None:
    with db.write() as s:
        conv_actions.do_assign(s, conv_actions.get_conversation(s, conversation_id), assignee_id=assignee_id,
                               team_id=team_id, actor_agent_id=None, reason="test")


@pytest.fixture
def story(client: TestClient, db: Database) -> Story:
    key = api_key(db)
    billing, support = create_team(db), create_team(db)
    billing_agent = login(client, db, "agent", teams=[billing])
    fay = inbound(client, key, email="fay@example.com", name="Fay Dunaway", text="billing dispute")
    gus = inbound(client, key, email="gus@example.com", name="Gus Grissom", text="where is my parcel")
    move(db, int(fay["conversation_id"]), team_id=billing, assignee_id=billing_agent.id)
    move(db, int(gus["conversation_id"]), team_id=support)
    resp = client.post(f"/api/v1/conversations/{fay['conversation_id']}/notes",
                       json={"text": "refund approved, do not mention it"}, headers=billing_agent.headers)
    assert resp.status_code == 201, resp.text
    return Story(int(fay["contact_id"]), int(fay["conversation_id"]), int(gus["contact_id"]),
                 int(gus["conversation_id"]), billing_agent, login(client, db, "agent", teams=[support]),
                 login(client, db, "supervisor"))


def texts(items: list[dict[str, object]]) -> list[str]:
    return [str((i["data"].get("message") or {}).get("text"))  # type: ignore[attr-defined]
            for i in items if i["type"] in ("message.created", "note.created")]


def test_reading_another_teams_customer(client: TestClient, story: Story, visibility: str) -> None:
    h = story.curious.headers
    conv = client.get(f"/api/v1/conversations/{story.fay_conv}", headers=h)
    contact = client.get(f"/api/v1/contacts/{story.fay}", headers=h)
    timeline = client.get(f"/api/v1/contacts/{story.fay}/timeline", headers=h)
    if visibility == "company":
        assert conv.status_code == 200, conv.text
        assert [m["text"] for m in conv.json()["messages"]] == ["billing dispute", "refund approved, do not mention it"]
        assert [c["id"] for c in contact.json()["conversations"]] == [story.fay_conv]
        assert texts(timeline.json()["items"]) == ["refund approved, do not mention it", "billing dispute"]
    else:
        # Before the rule was one, the timeline showed this conversation's messages and notes anyway.
        for resp in (conv, contact, timeline):
            assert resp.status_code == 403, resp.text
    # Their own team's customer, in both modes; the supervisor reads everything.
    assert client.get(f"/api/v1/conversations/{story.gus_conv}", headers=h).status_code == 200
    assert texts(client.get(f"/api/v1/contacts/{story.gus}/timeline", headers=h).json()["items"]) == [
        "where is my parcel"]
    resp = client.get(f"/api/v1/contacts/{story.fay}/timeline", headers=story.supervisor.headers)
    assert "refund approved, do not mention it" in texts(resp.json()["items"])


def test_a_customer_with_conversations_in_two_teams(client: TestClient, db: Database, story: Story,
                                                    visibility: str) -> None:
    """In `team` mode the contact is visible through the conversations of the agent's teams only."""
    key = api_key(db)
    again = inbound(client, key, email="fay@example.com", source="shop", text="and my parcel?")
    conv_id = int(again["conversation_id"])
    support_team = client.get(f"/api/v1/conversations/{story.gus_conv}",
                              headers=story.supervisor.headers).json()["conversation"]["team_id"]
    move(db, conv_id, team_id=support_team)
    h = story.curious.headers
    contact = client.get(f"/api/v1/contacts/{story.fay}", headers=h).json()
    timeline = texts(client.get(f"/api/v1/contacts/{story.fay}/timeline", headers=h).json()["items"])
    if visibility == "company":
        assert [c["id"] for c in contact["conversations"]] == [conv_id, story.fay_conv]
        assert timeline == ["and my parcel?", "refund approved, do not mention it", "billing dispute"]
    else:
        assert [c["id"] for c in contact["conversations"]] == [conv_id]
        assert timeline == ["and my parcel?"]


def test_notes_wherever_they_may_read_replies_and_status_on_their_own_work(client: TestClient, db: Database,
                                                                           story: Story, visibility: str) -> None:
    h = story.curious.headers
    url = f"/api/v1/conversations/{story.fay_conv}"
    note = client.post(f"{url}/notes", json={"text": "this customer also wrote to support"}, headers=h)
    assert note.status_code == (201 if visibility == "company" else 403), note.text
    for path, body in (("messages", {"text": "Hello from support"}), ("status", {"status": "resolved"}),
                       ("assign", {"assignee_id": story.curious.id})):
        resp = client.post(f"{url}/{path}", json=body, headers=h)
        assert resp.status_code == 403, (path, resp.text)
    conv = client.get(url, headers=story.supervisor.headers).json()
    assert (conv["conversation"]["status"], conv["conversation"]["assignee_id"]) == ("open", story.billing_agent.id)
    assert [m["direction"] for m in conv["messages"]] == ["in", "note"] + (["note"] if visibility == "company" else [])

    # Their own team's conversation, nobody's yet: theirs to take, so theirs to answer.
    own = f"/api/v1/conversations/{story.gus_conv}"
    assert client.post(f"{own}/messages", json={"text": "on it"}, headers=h).status_code == 201
    assert client.post(f"{own}/status", json={"status": "pending"}, headers=h).status_code == 200
    # Once a supervisor gives it to a teammate, it is the teammate's: notes only (and no taking it).
    team_id = client.get(own, headers=h).json()["conversation"]["team_id"]
    teammate = login(client, db, "agent", teams=[team_id])
    resp = client.post(f"{own}/assign", json={"assignee_id": teammate.id}, headers=story.supervisor.headers)
    assert resp.status_code == 200, resp.text
    for path, body in (("messages", {"text": "me again"}), ("status", {"status": "resolved"}),
                       ("assign", {"assignee_id": story.curious.id})):
        assert client.post(f"{own}/{path}", json=body, headers=h).status_code == 403, path
    assert client.post(f"{own}/notes", json={"text": "I answered before"}, headers=h).status_code == 201
    assert client.post(f"{own}/messages", json={"text": "hello"}, headers=teammate.headers).status_code == 201


def test_the_inbox_lists_the_scope_of_work_in_both_modes(client: TestClient, story: Story) -> None:
    """Reading everything does not flood the inbox: lists hold the agent's own, their teams' and
    the shared inbox's conversations."""
    items = client.get("/api/v1/conversations", headers=story.curious.headers).json()["items"]
    assert [c["id"] for c in items] == [story.gus_conv]


def test_contact_search_needs_a_real_query_and_wildcards_are_literal(client: TestClient, db: Database,
                                                                   story: Story, visibility: str) -> None:
    key = api_key(db)
    ann = int(inbound(client, key, email="ann_lee@example.com")["contact_id"])
    annx = int(inbound(client, key, email="annxlee@example.com")["contact_id"])
    h = story.curious.headers

    def search(q: str | None, headers: dict[str, str] = h) -> object:
        resp = client.get("/api/v1/contacts", params={"q": q} if q is not None else {}, headers=headers)
        return [c["id"] for c in resp.json()["items"]] if resp.status_code == 200 else resp.status_code

    for q in (None, "", " ", "%", "_", "a"):
        assert search(q) == 422, q  # listing every customer is for supervisors
    assert search("%%") == []  # no customer has two percent signs
    assert search("n_l", story.supervisor.headers) == [ann]  # `_` is an underscore, not any character
    assert search(None, story.supervisor.headers)[:2] == [annx, ann]  # type: ignore[index]
    # Fay is billing's customer: in `team` mode support's agent does not find her.
    assert search("fay") == ([story.fay] if visibility == "company" else [])
    assert search("gus") == [story.gus]
    # ann and annx wrote to nobody's team yet (the shared inbox): every agent works on it.
    assert search("lee@") == [annx, ann]
