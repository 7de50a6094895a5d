"""Replaying the event log onto a stale console arrives at what the API answers (as Zulip tests its
event system).

A random sequence of what customers and agents do runs against a real hub; at a random point a
supervisor's console state is read (inbox rows, the open conversation, the agent directory),
and at the end the events logged after that point are applied to it by `reduce`, a Python copy of
the console's handlers (agents_ui/static/js: inbox.js `apply`, conversation.js `apply`,
thread.js, directory.js `apply`, sidebar.js `reduce`). The result must equal a fresh read, except
where the console itself would read again (it refetches the inbox on `conversation.*` events, the
directory on `team.*`, the sidebar on a merge into its customer or a suggested match): there only what it updates in
place is compared.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import jsontext
from hub.db import Database
from hub.events import log
from hub.events.types import CATALOGUE
from hub.ports import ContactRef, InboundMessage
from tests.factories import AgentLogin, api_key, create_team, inbound, login

# thread.js EVENT_TYPES: the events a conversation's thread shows as lines.
THREAD_EVENTS = frozenset({
    "conversation.assigned", "conversation.transferred", "conversation.requeued", "conversation.escalated",
    "conversation.status_changed", "conversation.queued", "conversation.offered", "conversation.offer_withdrawn",
    "sla.at_risk", "sla.breached",
})
PREVIEW_CHARS = 160  # inbox.js `preview`, as hub.conversations.inbox
# Agents' fields the console's directory never shows: routing's touch of `last_assigned_at`
# appends no event (hub.routing.actions `_give`).
NOT_SHOWN = ("last_assigned_at",)
# A conversation's fields no event carries when only they change (a reply or a note touches
# `updated_at`, a first reply sets `first_response_at`, and `message.created` carries the message,
# not the conversation), which the console never shows either.
UNTRACKED = ("updated_at", "first_response_at")
# What a merge changes in inbox rows: the console reads the list again for it.
MOVED_BY_MERGE = ("contact_id", "contact_name")
TIMELINE_LIMIT = 50  # sidebar.js, as it reads GET /contacts/{id}/timeline
# sidebar.js reads its customer again for these (suggested matches, what a merge brought).
SIDEBAR_READS = frozenset({"contact.match_suggested", "contact.match_dismissed"})


def shown(conversation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conversation.items() if k not in UNTRACKED}


def preview(text: str | None) -> str:
    folded = " ".join((text or "").split())
    return folded if len(folded) <= PREVIEW_CHARS else folded[: PREVIEW_CHARS - 1] + "…"


@dataclass
class Console:
    """What a supervisor's console holds, as the API answered it."""

    rows: dict[int, dict[str, Any]]
    order: list[int]
    conversation: dict[str, Any]
    contact: dict[str, Any]
    messages: dict[int, dict[str, Any]]
    thread: dict[int, dict[str, Any]]
    agents: dict[int, dict[str, Any]]
    # sidebar.js: the open conversation's customer, their conversations (newest first), timeline
    customer: dict[str, Any]
    customer_conversations: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    refetch_inbox: bool = False
    reload_sidebar: bool = False
    reload_directory: bool = False
    reload_conversation: bool = False
    merged: bool = False
    unknown: list[str] = field(default_factory=list)


def read(client: TestClient, me: AgentLogin, conversation_id: int) -> Console:
    h = me.headers
    rows = client.get("/api/v1/conversations?view=all&limit=500", headers=h).json()["items"]
    conv = client.get(f"/api/v1/conversations/{conversation_id}?limit=200", headers=h).json()
    agents = client.get("/api/v1/agents", headers=h).json()["items"]
    contact_id = conv["contact"]["id"]
    # As sidebar.js: the timeline first, then the contact (at least as new).
    timeline = client.get(f"/api/v1/contacts/{contact_id}/timeline?limit={TIMELINE_LIMIT}", headers=h).json()["items"]
    customer = client.get(f"/api/v1/contacts/{contact_id}", headers=h).json()
    return Console(
        rows={r["id"]: r for r in rows}, order=[r["id"] for r in rows],
        conversation=conv["conversation"], contact=conv["contact"],
        messages={m["id"]: m for m in conv["messages"]}, thread={e["id"]: e for e in conv["events"]},
        agents={a["id"]: {k: v for k, v in a.items() if k not in NOT_SHOWN} for a in agents},
        customer={k: v for k, v in customer.items() if k != "conversations"},
        customer_conversations=customer["conversations"],
        # The socket's events carry no `private` (a console knows it from the type).
        timeline=[{k: v for k, v in e.items() if k != "private"} for e in timeline],
    )


def reduce(state: Console, event: dict[str, Any], me: int) -> None:
    """The console's handlers of one socket event, in the order app.js `dispatch` calls them."""
    kind, d, cid = event["type"], event["data"], event["conversation_id"]
    if kind not in CATALOGUE:
        state.unknown.append(kind)
    # directory.js
    if kind == "presence.changed" and d["agent_id"] in state.agents:
        state.agents[d["agent_id"]]["presence"] = d["presence"]
    elif kind == "agent.updated":
        state.agents[d["agent"]["id"]] = {k: v for k, v in d["agent"].items() if k not in NOT_SHOWN}
    elif kind.startswith("team."):
        state.reload_directory = True
    # inbox.js (no conversation selected in the list)
    item = state.rows.get(cid) if cid is not None else None
    if item is not None:
        item.update(d.get("conversation") or {})
        if kind == "message.created":
            m = d["message"]
            item["preview"] = preview(m["text"])
            if not m["automatic"]:
                item["last_direction"] = m["direction"]
                if m["direction"] == "in":
                    item["last_message_at"] = m["created_at"]
            item["unread"] = m["author_agent_id"] != me
    if kind == "contact.updated" and "name" in d["changes"]:
        for row in state.rows.values():
            if row["contact_id"] == d["contact_id"]:
                row["contact_name"] = d["changes"]["name"][1]
    mentions_me = kind == "note.created" and me in d["mentions"]
    if kind.startswith("conversation.") or kind == "contact.merged" or mentions_me or (
            kind == "message.created" and item is None):
        state.refetch_inbox = True
    elif item is not None and kind == "message.created":
        state.order.sort(key=lambda i: (state.rows[i]["last_message_at"] or "", i), reverse=True)
    reduce_sidebar(state, event)
    # conversation.js: the open conversation
    state.merged = state.merged or kind == "contact.merged"
    if kind == "contact.merged" and state.conversation["id"] in d["conversation_ids"]:
        state.reload_conversation = True
    if kind == "contact.updated" and d["contact_id"] == state.contact["id"]:
        state.contact.update({k: after for k, (_, after) in d["changes"].items()})
    if cid != state.conversation["id"]:
        return
    if kind in ("message.created", "note.created"):
        state.messages[d["message"]["id"]] = {**state.messages.get(d["message"]["id"], {}), **d["message"]}
        if d["message"]["direction"] == "in" and not d["message"]["automatic"]:
            state.conversation["last_message_at"] = d["message"]["created_at"]
    elif kind in ("delivery.status_changed", "delivery.retried"):
        state.messages[d["message"]["id"]] = {**state.messages.get(d["message"]["id"], {}), **d["message"]}
    elif kind == "delivery.retry_scheduled":
        state.messages[d["message_id"]]["delivery_error"] = f"retrying: {d['error']}"
    if kind in THREAD_EVENTS:
        state.thread[event["id"]] = event
    if d.get("conversation"):
        state.conversation = {**state.conversation, **d["conversation"]}


def reduce_sidebar(state: Console, event: dict[str, Any]) -> None:
    """sidebar.js `reduce`: an event of the sidebar's customer (the socket follows them)."""
    kind, d, me = event["type"], event["data"], state.customer["id"]
    if event["contact_id"] != me:
        return
    if all(e["id"] != event["id"] for e in state.timeline):
        state.timeline = sorted([*state.timeline, event], key=lambda e: -e["id"])[:TIMELINE_LIMIT]
    if kind == "contact.merged" or kind in SIDEBAR_READS:
        state.reload_sidebar = state.reload_sidebar or kind in SIDEBAR_READS or d["into_contact_id"] == me
        return
    if kind == "contact.updated":
        state.customer.update({k: after for k, (_, after) in d["changes"].items()})
    elif kind == "contact.opt_out_changed":
        channels = set(state.customer["opted_out_channels"]) | {d["channel"]} if d["opted_out"] \
            else set(state.customer["opted_out_channels"]) - {d["channel"]}
        state.customer["opted_out_channels"] = sorted(channels)
        state.customer["sms_opted_out"] = "sms" in channels
    convs = state.customer_conversations
    if (c := d.get("conversation")) and c["contact_id"] == me:
        known = next((x for x in convs if x["id"] == c["id"]), None)
        if known is not None:
            known.update(c)
        else:
            convs.append(dict(c))
            convs.sort(key=lambda x: -x["id"])
    if kind == "message.created" and d["message"]["direction"] == "in" and not d["message"]["automatic"]:
        for x in convs:
            if x["id"] == event["conversation_id"]:
                x["last_message_at"] = d["message"]["created_at"]


class World:
    """A hub with a team of two agents, a supervisor watching, and customers writing in."""

    def __init__(self, client: TestClient, db: Database, rng: random.Random) -> None:
        self.client, self.db, self.rng = client, db, rng
        self.team = create_team(db)
        self.boss = login(client, db, "supervisor")
        self.agents = [login(client, db, teams=[self.team], capacities={"api": 3}) for _ in range(2)]
        self.key = api_key(db)
        self.customers: list[str] = []
        self.conversations: list[int] = []
        self.contacts: list[int] = []

    def post(self, who: AgentLogin, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        resp = self.client.request(method, path, json=body, headers=who.headers)
        assert resp.status_code < 500, resp.text
        return resp.json() if resp.status_code < 300 else None

    def act(self) -> str:
        rng, boss = self.rng, self.boss
        # Weights: a merge re-reads the open conversation, so it comes rarely enough to leave most
        # runs' conversation pane to the events.
        weights = {"message": 6, "assign": 3, "reply": 3, "note": 2, "status": 3, "snooze": 1, "transfer": 1,
                   "presence": 2, "contact": 1, "merge": 0.3, "automatic": 1} if self.conversations else {"message": 1}
        action = rng.choices(list(weights), list(weights.values()))[0]
        conv = rng.choice(self.conversations) if self.conversations else None
        if action == "message":
            if not self.customers or rng.random() < 0.4:
                self.customers.append(f"c{len(self.customers)}@example.com")
            text = rng.choice(["Hello", "Where is my order?", "two\nlines  of   text", "x" * 200])
            # Another entry point now and then: a customer's second conversation (the sidebar lists both).
            source = rng.choice(["crm", "crm", "shop"])
            out = inbound(self.client, self.key, email=rng.choice(self.customers), text=text, source=source)
            if out["conversation_id"] not in self.conversations:
                self.conversations.append(out["conversation_id"])  # type: ignore[arg-type]
            if out["contact_id"] not in self.contacts:
                self.contacts.append(out["contact_id"])  # type: ignore[arg-type]
        elif action == "assign":
            who = rng.choice([None, *(a.id for a in self.agents)])
            self.post(boss, f"/api/v1/conversations/{conv}/assign", {"assignee_id": who})
        elif action == "reply":
            self.post(boss, f"/api/v1/conversations/{conv}/messages", {"text": rng.choice(["On it", "Done!"])})
        elif action == "note":
            mentions = rng.sample([boss.id, *(a.id for a in self.agents)], rng.randint(0, 2))
            self.post(boss, f"/api/v1/conversations/{conv}/notes", {"text": "see this", "mentions": mentions})
        elif action == "status":
            self.post(boss, f"/api/v1/conversations/{conv}/status",
                      {"status": rng.choice(["open", "pending", "resolved"])})
        elif action == "snooze":
            until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            self.post(boss, f"/api/v1/conversations/{conv}/status", {"status": "snoozed", "snoozed_until": until})
        elif action == "transfer":
            team = rng.choice([self.team, create_team(self.db)])
            self.post(boss, "/api/v1/supervisor/assign", {"conversation_ids": [conv], "team_id": team})
        elif action == "presence":
            agent = rng.choice(self.agents)
            self.post(agent, "/api/v1/agents/me/presence", {"presence": rng.choice(["online", "away", "offline"])})
        elif action == "contact":
            contact = rng.choice(self.contacts)
            self.post(boss, f"/api/v1/contacts/{contact}",
                      {"name": rng.choice(["Ann", "Bob", "Cy"]), "language": rng.choice(["en", "es", None])},
                      method="PATCH")
        elif action == "automatic":  # an out-of-office: shown, never work (nor a wait)
            source = rng.choice(["crm", "shop"])
            out = self.client.app.state.hub.ingest(InboundMessage(  # type: ignore[attr-defined]
                channel="api", source=source, ingest_scope=f"api:{source}", external_id=uuid.uuid4().hex,
                contact=ContactRef(email=rng.choice(self.customers)), text="I am away", needs_answer=False))
            if out.conversation_id not in self.conversations:
                self.conversations.append(out.conversation_id)
        elif action == "merge" and len(self.contacts) > 1:
            source, into = rng.sample(self.contacts, 2)
            if self.post(boss, f"/api/v1/contacts/{source}/merge", {"into": into}) is not None:
                self.contacts.remove(source)
        return action

    def events_after(self, event_id: int) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return [jsontext.loads(e.wire_json) for e in log.read_after(s, event_id, limit=10_000)]

    def head(self) -> int:
        with self.db.read() as s:
            return log.head_id(s)


def assert_caught_up(state: Console, fresh: Console) -> None:
    assert not state.unknown, f"uncatalogued event types: {state.unknown}"
    if not state.reload_conversation:
        assert shown(state.conversation) == shown(fresh.conversation)
        assert state.contact == fresh.contact
        assert state.messages == fresh.messages
        assert state.thread == fresh.thread
    if not state.reload_directory:
        assert state.agents == fresh.agents
    if not (state.reload_sidebar or state.reload_conversation):
        assert state.customer == fresh.customer
        assert [shown(c) for c in state.customer_conversations] == [shown(c) for c in fresh.customer_conversations]
        assert state.timeline == fresh.timeline
    in_place = (lambda row: {k: v for k, v in shown(row).items() if k not in MOVED_BY_MERGE}) if state.merged \
        else shown
    for cid, row in state.rows.items():
        if cid in fresh.rows:  # what the console updates in place, whether or not it also refetches
            assert in_place(row) == in_place(fresh.rows[cid]), f"inbox row {cid}"
    if not state.refetch_inbox:
        assert state.order == fresh.order
        assert state.rows.keys() == fresh.rows.keys()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_replaying_the_log_onto_a_stale_console_arrives_at_what_the_api_answers(
        client: TestClient, db: Database, seed: int) -> None:
    rng = random.Random(seed)
    world = World(client, db, rng)
    steps = 60
    snapshot_at = rng.randrange(5, steps - 5)
    done: list[str] = []
    for step in range(steps):
        done.append(world.act())
        if step == snapshot_at:
            # As the console: subscribe (remember where the log is), then read.
            cursor = world.head()
            opened = rng.choice(world.conversations)
            stale = read(client, world.boss, opened)
    # The end state with the log's head as of that read: routing may still be placing
    # conversations in the background (an agent just came online), so read until nothing moved.
    for _ in range(50):
        end = world.head()
        fresh = read(client, world.boss, opened)
        if world.head() == end:
            break
    else:
        pytest.fail("the event log never stood still for one read")
    events = [e for e in world.events_after(cursor) if e["id"] <= end]
    for event in events:
        reduce(stale, event, world.boss.id)
    assert events, "nothing happened after the snapshot"
    assert_caught_up(stale, fresh)
