"""Test data built through the hub's own actions (never raw inserts)."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import col

from hub.agents import actions as agent_actions
from hub.conversations.models import ThreadKey
from hub.db import Database
from hub.outbox.actions import do_enqueue
from hub.outbox.models import OutboxItem
from hub.ports import ContactRef, InboundMessage

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


@dataclass
class AgentLogin:
    id: int
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_agent(db: Database, role: str = "agent", *, teams: list[int] | None = None,
                 capacities: dict[str, int] | None = None) -> tuple[int, str]:
    email = f"{role}{next(_seq)}@test.example"
    with db.write() as s:
        agent = agent_actions.do_create_agent(s, email=email, name=f"{role.title()} {email}", role=role,
                                              password=PASSWORD, capacities=capacities)
        for team_id in teams or []:
            agent_actions.do_add_member(s, agent_actions.get_team(s, team_id), agent)
        assert agent.id is not None
        return agent.id, email


def login(client: TestClient, db: Database, role: str = "agent", *, teams: list[int] | None = None,
          capacities: dict[str, int] | None = None) -> AgentLogin:
    agent_id, email = create_agent(db, role, teams=teams, capacities=capacities)
    resp = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    client.cookies.clear()  # tests pass the bearer explicitly, so each call says who is asking
    return AgentLogin(agent_id, email, role, resp.json()["token"])


def create_team(db: Database, name: str | None = None) -> int:
    with db.write() as s:
        team = agent_actions.do_create_team(s, name or f"team-{next(_seq)}")
        assert team.id is not None
        return team.id


def api_key(db: Database) -> str:
    with db.write() as s:
        _, secret = agent_actions.do_create_api_key(s, name=f"key-{next(_seq)}", created_by=None)
        return secret


def inbound(client: TestClient, key: str, *, external_id: str | None = None, source: str = "crm",
            email: str | None = "customer@example.com", phone: str | None = None, text: str = "Hello",
            subject: str | None = None, name: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "source": source,
        "external_id": external_id or f"ext-{next(_seq)}",
        "contact": {k: v for k, v in {"email": email, "phone": phone, "name": name}.items() if v},
        "text": text,
    }
    if subject:
        body["subject"] = subject
    resp = client.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": key})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()  # type: ignore[no-any-return]


def api_message(external_id: str, email: str, text: str = "hi") -> InboundMessage:
    """An inbound message through the API channel (source "crm") from the customer with this email."""
    return InboundMessage(channel="api", source="crm", ingest_scope="api:crm", external_id=external_id,
                          contact=ContactRef(email=email), text=text)


# A 1x1 PNG: the smallest real picture, for attachment tests.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def queued(db: Database, channel: str, payload: dict[str, Any]) -> int:
    """An outbox item, committed: its id."""
    with db.write() as s:
        item = do_enqueue(s, channel=channel, payload=payload)
        s.flush()
        assert item.id is not None
        return item.id


def outbox_row(db: Database, item_id: int) -> OutboxItem:
    with db.read() as s:
        item = s.get(OutboxItem, item_id)
        assert item is not None
        return item


def thread_keys(db: Database, conversation_id: int) -> tuple[str, ...]:
    """The thread keys recorded for a conversation, in the order they were recorded."""
    with db.read() as s:
        return tuple(s.execute(select(col(ThreadKey.key)).where(col(ThreadKey.conversation_id) == conversation_id)
                               .order_by(col(ThreadKey.id))).scalars())
