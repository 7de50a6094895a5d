"""Who may call what: every route of the app against every kind of caller, as one table.

The callers: nobody logged in, a plain agent of the conversation's team, a plain agent of another
team, a supervisor and an admin. The conversation used lives in the first agent's team, unassigned.
A test below fails when the app grows a route this table does not list, so a new route cannot ship
without its permissions being stated here.

The table runs in both visibility modes (hub/events/visibility.py): `company` (the default: every
agent reads everything and adds notes anywhere; replies and changes status on their own work and on
what is nobody's in their teams) and `team` (teams isolated); a row's `team` lists where the
second differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from config.settings import Settings
from hub.agents import actions as agent_actions
from hub.attachments.models import StoredAttachment
from hub.conversations import actions as conv_actions
from hub.conversations.models import Message
from hub.db import Database
from hub.outbox.models import OutboxItem
from hub.ports import RawPayload
from hub.raw_payloads import do_keep_raw
from tests.conftest import make_settings
from tests.factories import api_key, create_agent, create_team, inbound

ANON, OUTSIDER, AGENT, SUPERVISOR, ADMIN = "anonymous", "agent of another team", "agent", "supervisor", "admin"
ACTORS = (ANON, OUTSIDER, AGENT, SUPERVISOR, ADMIN)
_seq = itertools.count(1)


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def settings(database_url: str, visibility: str) -> Settings:
    """With the SMS channel on, so its webhooks show their own guard (Twilio's signature)."""
    return make_settings(database_url, visibility=visibility,
                         twilio={"account_sid": "AC" + "0" * 32, "auth_token": "twilio-secret",
                                 "numbers": ["+15550001111"]})


@dataclass
class World:
    """The people and things the table's requests refer to."""

    client: TestClient
    db: Database
    ids: dict[str, int]  # actor -> agent id
    team_a: int
    team_b: int
    team_c: int
    victim: int  # an agent the admin routes change
    victim_email: str
    conversation_id: int
    contact_id: int
    api_key: str

    def headers(self, actor: str) -> dict[str, str]:
        """A fresh session per request, so logging out in one row does not affect the next."""
        if actor == ANON:
            return {}
        with self.db.write() as s:
            token = agent_actions.do_create_token(s, agent_actions.get_agent(s, self.ids[actor]), timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}

    def new_api_key_id(self) -> int:
        with self.db.write() as s:
            key, _ = agent_actions.do_create_api_key(s, name=f"k{next(_seq)}", created_by=None)
            assert key.id is not None
            return key.id

    def new_contact_id(self) -> int:
        """A customer of the shared inbox (any agent may read them), new for each request."""
        return int(inbound(self.client, self.api_key, email=f"someone{next(_seq)}@example.com")["contact_id"])

    def new_failed_reply_id(self) -> int:
        """A reply in the conversation whose delivery failed for good, new for each request."""
        with self.db.write() as s:
            msg = Message(conversation_id=self.conversation_id, contact_id=self.contact_id, channel="api",
                          direction="out", author_agent_id=self.ids[ADMIN], text="bounced",
                          delivery_status="failed", delivery_error="refused")
            s.add(msg)
            s.flush()
            s.add(OutboxItem(channel="api", message_id=msg.id, conversation_id=self.conversation_id,
                             status="failed", attempts=8, last_error="refused"))
            assert msg.id is not None
            return msg.id

    def new_html_message_id(self) -> int:
        """A customer's message with a formatted version in the conversation."""
        with self.db.write() as s:
            msg = Message(conversation_id=self.conversation_id, contact_id=self.contact_id, channel="api",
                          direction="in", text="offer", html="<p>offer</p>")
            s.add(msg)
            s.flush()
            assert msg.id is not None
            return msg.id

    def new_raw_payload_id(self) -> int:
        with self.db.write() as s:
            row = do_keep_raw(s, RawPayload("api", "crm", "unparseable", b"\x00raw"))
            assert row.id is not None
            return row.id

    def new_attachment_id(self) -> int:
        """A file carried by a customer's message in the conversation."""
        files = self.client.app.state.hub.options.files  # type: ignore[attr-defined]
        key = files.store.put(b"%PDF-1.7\n")
        message_id = self.new_html_message_id()  # (its own write: never inside another one)
        with self.db.write() as s:
            row = StoredAttachment(blob_key=key, content_type="application/pdf", filename="offer.pdf", size=9,
                                   message_id=message_id)
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def new_mailbox_id(self) -> int:
        resp = self.client.post("/api/v1/admin/mailboxes", json=mailbox_body(), headers=self.headers(ADMIN))
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    def new_rule_id(self) -> int:
        resp = self.client.post("/api/v1/routing/rules", json={"name": f"r{next(_seq)}"}, headers=self.headers(ADMIN))
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])


Value = Any | Callable[[World, str], Any]


def mailbox_body(w: World | None = None, actor: str = "") -> dict[str, Any]:
    # SMTP where nothing listens: "test connection" answers quickly that it is unreachable.
    return {"address": f"box{next(_seq)}@example.com", "smtp": {"host": "127.0.0.1", "port": 9, "security": "none"}}


@dataclass(frozen=True)
class Row:
    method: str
    route: str  # as the app declares it
    expect: dict[str, int]
    url: Value = None  # defaults to the route with the world's ids filled in
    body: Value = None
    auth: Callable[[World, str], dict[str, str]] | None = None  # defaults to the actor's session
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    team: dict[str, int] | None = None  # the expectations in `team` visibility, when they differ

    def expected(self, visibility: str) -> dict[str, int]:
        return self.team if visibility == "team" and self.team is not None else self.expect


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)


def logged_in(status: int, *, other_team: int | None = None) -> dict[str, int]:
    return {ANON: 401, OUTSIDER: other_team or status, AGENT: status, SUPERVISOR: status, ADMIN: status}


def in_team(status: int) -> dict[str, int]:
    """The agent of another team gets 403."""
    return logged_in(status, other_team=403)


def moved_to_b(status: int, refused: int) -> dict[str, int]:
    """In `team` visibility, after the rows that move the conversation to the outsider's team: now
    the agent of the first team is the one who cannot see it."""
    return {ANON: 401, OUTSIDER: status, AGENT: refused, SUPERVISOR: status, ADMIN: status}


def supervisors(status: int) -> dict[str, int]:
    return {ANON: 401, OUTSIDER: 403, AGENT: 403, SUPERVISOR: status, ADMIN: status}


def admins(status: int) -> dict[str, int]:
    return {ANON: 401, OUTSIDER: 403, AGENT: 403, SUPERVISOR: 403, ADMIN: status}


def _fill(route: str, w: World) -> str:
    return route.format(conversation_id=w.conversation_id, contact_id=w.contact_id, agent_id=w.victim,
                        team_id=w.team_c)


TABLE: list[Row] = [
    Row("GET", "/healthz", everyone(200)),
    Row("GET", "/readyz", everyone(200)),
    Row("POST", "/api/v1/auth/login", everyone(200), body=lambda w, a: {"email": w.victim_email,
                                                                          "password": "correct horse battery"},
        why="public: the credentials are in the body"),
    Row("POST", "/api/v1/auth/logout", logged_in(200)),
    # Conversations
    Row("GET", "/api/v1/conversations", logged_in(200)),
    Row("GET", "/api/v1/conversations/counts", logged_in(200)),
    Row("GET", "/api/v1/conversations/{conversation_id}", logged_in(200), team=in_team(200)),
    Row("POST", "/api/v1/conversations/{conversation_id}/read", logged_in(200), team=in_team(200)),
    Row("GET", "/api/v1/canned", logged_in(200), team=in_team(200),
        url=lambda w, a: f"/api/v1/canned?conversation_id={w.conversation_id}"),
    Row("POST", "/api/v1/conversations/{conversation_id}/messages", in_team(201), body={"text": "reply"}),
    Row("POST", "/api/v1/conversations/{conversation_id}/messages/{message_id}/retry", in_team(200),
        url=lambda w, a: f"/api/v1/conversations/{w.conversation_id}/messages/{w.new_failed_reply_id()}/retry",
        why="sending a failed reply again: whoever may reply"),
    Row("GET", "/api/v1/conversations/{conversation_id}/messages/{message_id}/html", logged_in(200),
        team=in_team(200),
        url=lambda w, a: f"/api/v1/conversations/{w.conversation_id}/messages/{w.new_html_message_id()}/html",
        why="an email's formatted version: whoever may read the conversation"),
    Row("POST", "/api/v1/conversations/{conversation_id}/notes", logged_in(201), team=in_team(201),
        body={"text": "note"}),
    Row("POST", "/api/v1/conversations/{conversation_id}/status", in_team(200), body={"status": "pending"}),
    Row("POST", "/api/v1/conversations/{conversation_id}/assign", in_team(200),
        body=lambda w, a: {"assignee_id": w.ids.get(a)}, why="taking it oneself (nobody's, or their own)"),
    Row("POST", "/api/v1/conversations/{conversation_id}/assign", supervisors(200) | {AGENT: 403},
        body=lambda w, a: {"assignee_id": w.victim}, why="giving it to someone else"),
    Row("POST", "/api/v1/conversations/{conversation_id}/assign", supervisors(200) | {AGENT: 403},
        body=lambda w, a: {"assignee_id": w.ids.get(a), "team_id": w.team_b}, why="moving it to another team"),
    Row("POST", "/api/v1/conversations/{conversation_id}/accept", logged_in(409),
        team=moved_to_b(409, 404),
        why="nothing is offered to anyone here: refused as 'not offered to you'; 404 to who cannot see it"),
    Row("POST", "/api/v1/conversations/{conversation_id}/decline", logged_in(409),
        team=moved_to_b(409, 404),
        why="nothing is offered to anyone here: refused as 'not offered to you'; 404 to who cannot see it"),
    # Contacts: anyone logged in opens the customer (DESIGN.md: the whole relationship), except
    # across teams in `team` visibility; listing them all is for supervisors, agents search.
    Row("GET", "/api/v1/contacts", supervisors(200) | {OUTSIDER: 422, AGENT: 422}, why="every customer"),
    Row("GET", "/api/v1/contacts", logged_in(200), url="/api/v1/contacts?q=customer", why="a search"),
    Row("GET", "/api/v1/contacts/{contact_id}", logged_in(200), team=moved_to_b(200, 403)),
    Row("GET", "/api/v1/contacts/{contact_id}/timeline", logged_in(200), team=moved_to_b(200, 403)),
    Row("PATCH", "/api/v1/contacts/{contact_id}", logged_in(200), team=moved_to_b(200, 403), body={"language": "es"},
        why="name and language: whoever may read the contact"),
    Row("PATCH", "/api/v1/contacts/{contact_id}", supervisors(200), body={"tier": "vip"},
        why="the tier raises routing priority: supervisors"),
    Row("POST", "/api/v1/contacts/{contact_id}/merge", logged_in(200),
        url=lambda w, a: f"/api/v1/contacts/{w.new_contact_id()}/merge", body=lambda w, a: {"into": w.contact_id},
        why="a shared-inbox customer into the conversation's: agents who may read both (the first merge brings a "
            "shared-inbox conversation along; a refusal in team mode: test_contact_merge.py)"),
    Row("POST", "/api/v1/contacts/{contact_id}/dismiss-match", logged_in(404),
        url=lambda w, a: f"/api/v1/contacts/{w.new_contact_id()}/dismiss-match",
        body=lambda w, a: {"other": w.contact_id},
        why="whoever may read both customers; nothing was suggested here, so 404 after the access check (a "
            "suggested pair, and who may not in team mode: tests/agents_ui/api/test_contact_merge.py)"),
    # Agents
    Row("GET", "/api/v1/agents/me", logged_in(200)),
    Row("POST", "/api/v1/agents/me/presence", logged_in(200), body={"presence": "away"}),
    Row("GET", "/api/v1/agents", logged_in(200)),
    Row("POST", "/api/v1/agents", admins(201),
        body=lambda w, a: {"email": f"new{next(_seq)}@test.example", "name": "New", "password": "long enough"}),
    Row("PATCH", "/api/v1/agents/{agent_id}", admins(200), body={"name": "Renamed"}),
    # Teams and queues
    Row("GET", "/api/v1/teams", logged_in(200)),
    Row("POST", "/api/v1/teams", admins(201), body=lambda w, a: {"name": f"team {next(_seq)}"}),
    Row("POST", "/api/v1/teams/{team_id}/members", admins(200), body=lambda w, a: {"agent_id": w.victim}),
    Row("DELETE", "/api/v1/teams/{team_id}/members/{agent_id}", admins(200)),
    Row("PUT", "/api/v1/teams/{team_id}/settings", admins(200), body={"offer_timeout_seconds": 30}),
    # Integrators' keys
    Row("GET", "/api/v1/api-keys", admins(200)),
    Row("POST", "/api/v1/api-keys", admins(201), body={"name": "integration"}),
    Row("DELETE", "/api/v1/api-keys/{key_id}", admins(200),
        url=lambda w, a: f"/api/v1/api-keys/{w.new_api_key_id()}"),
    # Inbound items kept raw (hub/raw_payloads.py)
    Row("GET", "/api/v1/admin/raw-payloads", admins(200)),
    Row("GET", "/api/v1/admin/raw-payloads/{raw_id}/raw", admins(200),
        url=lambda w, a: f"/api/v1/admin/raw-payloads/{w.new_raw_payload_id()}/raw"),
    # Routing and supervision
    Row("GET", "/api/v1/routing/rules", supervisors(200)),
    Row("POST", "/api/v1/routing/rules", admins(201), body={"name": "vip first", "priority": 5}),
    Row("DELETE", "/api/v1/routing/rules/{rule_id}", admins(200),
        url=lambda w, a: f"/api/v1/routing/rules/{w.new_rule_id()}"),
    Row("GET", "/api/v1/admin/channels", admins(200), why="the channels that are on and their tasks' states"),
    Row("GET", "/api/v1/admin/mailboxes", admins(200), why="mail servers and who signs in there"),
    Row("POST", "/api/v1/admin/mailboxes", admins(201), body=mailbox_body),
    Row("PUT", "/api/v1/admin/mailboxes/{mailbox_id}", admins(200), body=mailbox_body,
        url=lambda w, a: f"/api/v1/admin/mailboxes/{w.new_mailbox_id()}"),
    Row("DELETE", "/api/v1/admin/mailboxes/{mailbox_id}", admins(204),
        url=lambda w, a: f"/api/v1/admin/mailboxes/{w.new_mailbox_id()}"),
    Row("POST", "/api/v1/admin/mailboxes/{mailbox_id}/check", admins(200),
        url=lambda w, a: f"/api/v1/admin/mailboxes/{w.new_mailbox_id()}/check"),
    Row("GET", "/api/v1/admin/webchat/widgets", admins(200),
        why="which sites may embed each widget and which team answers it"),
    Row("GET", "/api/v1/supervisor/queues", supervisors(200)),
    Row("GET", "/api/v1/supervisor/agents", supervisors(200)),
    Row("POST", "/api/v1/supervisor/assign", supervisors(200),
        body=lambda w, a: {"conversation_ids": [w.conversation_id], "team_id": w.team_a}),
    Row("GET", "/api/v1/events/catalogue", logged_in(200), why="the schema of what every console receives"),
    Row("GET", "/api/v1/channels/{channel}/sources", logged_in(200), url="/api/v1/channels/api/sources",
        why="where any agent may write from (email: the mailboxes' addresses and names, no secret)"),
    # Channels: their own credentials, never an agent's session
    Row("POST", "/api/v1/inbound/messages", everyone(401),
        body=lambda w, a: {"source": "crm", "external_id": f"x{next(_seq)}", "contact": {"email": "p@example.com"},
                           "text": "hi"},
        why="an agent's session token is not an API key"),
    Row("POST", "/api/v1/inbound/messages", everyone(201), auth=lambda w, a: {"X-Api-Key": w.api_key},
        body=lambda w, a: {"source": "crm", "external_id": f"y{next(_seq)}", "contact": {"email": "p@example.com"},
                           "text": "hi"},
        why="with an API key, whoever else is logged in"),
    Row("POST", "/channels/sms/twilio/inbound", everyone(403), body=None,
        why="only requests signed by Twilio (X-Twilio-Signature)"),
    Row("POST", "/channels/sms/twilio/status", everyone(403), body=None,
        why="only requests signed by Twilio (X-Twilio-Signature)"),
    Row("POST", "/api/v1/sms/segments", everyone(200), body={"text": "hello"},
        why="public by design: a pure computation on the posted text (channels/sms/api.py)"),
    # Attachments (the supervisors' bulk assign above gave the conversation back to team A)
    Row("POST", "/api/v1/attachments", logged_in(201), extra={"files": {"file": ("a.png", b"\x89PNG\r\n\x1a\n",
                                                                                  "image/png")}},
        why="any agent uploads a file of their own, for a reply"),
    Row("GET", "/api/v1/attachments/{attachment_id}", logged_in(200), team=logged_in(200, other_team=404),
        url=lambda w, a: f"/api/v1/attachments/{w.new_attachment_id()}",
        why="whoever may read a conversation where a message carries it; 404 to anyone else"),
    Row("GET", "/widget/config/{widget_id}", everyone(200), url="/widget/config/demo",
        why="a web chat widget's public settings and words, for visitors (no secret)"),
    Row("GET", "/widget/config/{widget_id}", everyone(404), url="/widget/config/nope", why="no such widget"),
    # Last: the conversation an agent starts puts the customer in their scope of work. (By now, in `team` mode,
    # the customer has conversations in both teams; the refusal is GET /contacts/{id}'s check, hub.access.)
    Row("POST", "/api/v1/contacts/{contact_id}/conversations", logged_in(201),
        body={"channel": "api", "source": "crm", "text": "We have news about your order"},
        why="an agent writes first to a customer they may read (email in practice; api here)"),
]


@pytest.fixture
def world(client: TestClient, db: Database) -> World:
    team_a, team_b, team_c = create_team(db), create_team(db), create_team(db)
    ids = {
        OUTSIDER: create_agent(db, "agent", teams=[team_b])[0],
        AGENT: create_agent(db, "agent", teams=[team_a])[0],
        SUPERVISOR: create_agent(db, "supervisor")[0],
        ADMIN: create_agent(db, "admin")[0],
    }
    victim, victim_email = create_agent(db, "agent", teams=[team_a])
    key = api_key(db)
    result = inbound(client, key, email="customer@example.com")
    conv_id = int(result["conversation_id"])
    with db.write() as s:
        conv_actions.do_assign(s, conv_actions.get_conversation(s, conv_id), assignee_id=None, team_id=team_a,
                               actor_agent_id=None, reason="test")
    return World(client, db, ids, team_a, team_b, team_c, victim, victim_email, conv_id, int(result["contact_id"]),
                 key)


def _value(v: Value, w: World, actor: str) -> Any:
    return v(w, actor) if callable(v) else v


def test_every_route_answers_each_caller_as_the_table_says(world: World, visibility: str) -> None:
    client = world.client
    wrong: list[str] = []
    for row in TABLE:
        for actor in ACTORS:
            url = _value(row.url, world, actor) or _fill(row.route, world)
            headers = row.auth(world, actor) if row.auth else world.headers(actor)
            body = _value(row.body, world, actor)
            client.cookies.clear()
            resp = client.request(row.method, url, json=body, headers=headers, **row.extra)
            expected = row.expected(visibility)[actor]
            if resp.status_code != expected:
                wrong.append(f"{row.method} {row.route} [{row.why or '-'}] as {actor}: {resp.status_code}, "
                             f"expected {expected}: {resp.text[:160]}")
            elif resp.status_code in (401, 403) and not resp.json().get("message"):
                wrong.append(f"{row.method} {row.route} as {actor}: {resp.status_code} without a message")
    assert wrong == [], "\n".join(wrong)


def test_refusals_say_why(world: World, visibility: str) -> None:
    client = world.client
    resp = client.get("/api/v1/conversations")
    assert resp.status_code == 401
    assert resp.json() == {"error": "unauthorized",
                           "message": "log in first: send the session cookie or an Authorization: Bearer token"}
    resp = client.get(f"/api/v1/conversations/{world.conversation_id}", headers=world.headers(OUTSIDER))
    if visibility == "team":
        assert resp.json() == {"error": "forbidden", "reason": "conversation_forbidden",
                               "message": "this conversation belongs to a team you are not in"}
    resp = client.post(f"/api/v1/conversations/{world.conversation_id}/messages", json={"text": "hi"},
                       headers=world.headers(OUTSIDER))
    assert resp.json() == {"error": "forbidden", "message": "this conversation belongs to a team you are not in"
                           if visibility == "team" else "this conversation is another agent's or another team's "
                           "work: add an internal note, or ask a supervisor to assign it to you",
                           "reason": "conversation_forbidden" if visibility == "team" else "conversation_not_yours"}
    resp = client.get("/api/v1/contacts", params={"q": "%"}, headers=world.headers(AGENT))
    assert resp.json() == {"error": "invalid", "message": "search for a customer with at least 2 characters "
                           "(listing every customer is for supervisors)"}
    resp = client.post("/api/v1/teams", json={"name": "x"}, headers=world.headers(SUPERVISOR))
    assert resp.json() == {"error": "forbidden", "message": "this needs the admin role"}


def test_refused_writes_change_nothing(world: World, visibility: str) -> None:
    client = world.client
    conv = world.conversation_id
    for actor in (ANON, OUTSIDER):
        h = world.headers(actor)
        client.post(f"/api/v1/conversations/{conv}/messages", json={"text": "sneaky reply"}, headers=h)
        client.post(f"/api/v1/conversations/{conv}/notes", json={"text": "sneaky note"}, headers=h)
        client.post(f"/api/v1/conversations/{conv}/status", json={"status": "resolved"}, headers=h)
        client.post(f"/api/v1/conversations/{conv}/assign", json={"assignee_id": world.ids.get(actor)}, headers=h)
    for actor in (AGENT, SUPERVISOR):
        h = world.headers(actor)
        client.post("/api/v1/agents", json={"email": "x@y.z", "name": "X", "password": "long enough"}, headers=h)
        client.patch(f"/api/v1/agents/{world.victim}", json={"role": "admin"}, headers=h)
        client.post("/api/v1/teams", json={"name": "rogue"}, headers=h)
        client.post(f"/api/v1/teams/{world.team_b}/members", json={"agent_id": world.ids[AGENT]}, headers=h)
    admin = world.headers(ADMIN)
    body = client.get(f"/api/v1/conversations/{conv}", headers=admin).json()
    # Only the note of an agent of another team, and only where every agent may read (`company`).
    assert [m["text"] for m in body["messages"]] == ["Hello"] + (["sneaky note"] if visibility == "company" else [])
    assert (body["conversation"]["status"], body["conversation"]["assignee_id"]) == ("open", None)
    agents = {a["id"]: a for a in client.get("/api/v1/agents", headers=admin).json()["items"]}
    assert agents[world.victim]["role"] == "agent"
    assert "x@y.z" not in {a["email"] for a in agents.values()}
    assert world.team_b not in agents[world.ids[AGENT]]["team_ids"]
    assert "rogue" not in {t["name"] for t in client.get("/api/v1/teams", headers=admin).json()["items"]}


def test_the_agent_websocket_needs_a_session(world: World) -> None:
    client = world.client
    for headers in ({}, {"Authorization": "Bearer hub_forged"}, {"X-Api-Key": world.api_key}):
        with client.websocket_connect("/ws/agent", headers=headers) as ws, \
                pytest.raises(WebSocketDisconnect) as refused:
            ws.receive_json()
        assert refused.value.code == 1008
    for actor in (OUTSIDER, AGENT, SUPERVISOR, ADMIN):
        with client.websocket_connect("/ws/agent", headers=world.headers(actor)) as ws:
            ws.send_json({"type": "resume", "last_event_id": 0})
            assert ws.receive_json()["type"] == "ready"


def test_the_table_lists_every_route_of_the_app(client: TestClient) -> None:
    declared = {(method.upper(), path) for path, ops in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
                for method in ops}
    listed = {(row.method, row.route) for row in TABLE}
    assert declared - listed == set(), "routes without a row in the permission table"
    assert listed - declared == set(), "rows for routes the app no longer has"
