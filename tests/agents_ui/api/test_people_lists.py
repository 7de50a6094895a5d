"""What the console's @mention picker and "assign to a colleague" read: agents and teams."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.db import Database
from tests.agents_ui.api.test_inbox import statements
from tests.factories import create_agent, create_team, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def test_an_agent_lists_colleagues_with_presence_and_teams_and_no_secrets(client: TestClient, db: Database) -> None:
    support, sales = create_team(db), create_team(db)
    agent = login(client, db, "agent", teams=[support])
    colleague, _ = create_agent(db, "agent", teams=[support, sales])
    client.post("/api/v1/agents/me/presence", json={"presence": "away"}, headers=agent.headers)

    items = {a["id"]: a for a in client.get("/api/v1/agents", headers=agent.headers).json()["items"]}
    assert items[agent.id]["presence"] == "away"
    assert items[colleague]["team_ids"] == [support, sales]
    assert {"id", "name", "presence", "active", "role"} <= set(items[colleague])
    text = str(items)
    assert "argon2" not in text and "password" not in text and "token" not in text

    teams = {t["id"]: t for t in client.get("/api/v1/teams", headers=agent.headers).json()["items"]}
    assert teams[support]["member_ids"] == [agent.id, colleague]
    assert teams[sales]["member_ids"] == [colleague]


def test_listing_agents_and_teams_costs_the_same_statements_however_many(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    client.get("/api/v1/agents", headers=agent.headers)  # the caller is cached from here on
    with statements(db) as few:
        client.get("/api/v1/agents", headers=agent.headers)
        client.get("/api/v1/teams", headers=agent.headers)
    for _ in range(5):
        create_agent(db, "agent", teams=[create_team(db)])
    with statements(db) as many:
        client.get("/api/v1/agents", headers=agent.headers)
        client.get("/api/v1/teams", headers=agent.headers)
    assert len(many) == len(few) == 4, many
