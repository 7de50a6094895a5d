"""Team settings are typed: refused at the PUT with a clear 422; and a team whose stored settings
routing cannot use, or whose timer fails, costs neither its inbound messages nor the other teams
their queues."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.agents.actions import get_team
from hub.conversations.models import Conversation
from hub.db import Database
from hub.events import log
from hub.events.types import TeamUpdated
from hub.routing.actions import Router
from tests.conftest import wait_for
from tests.factories import AgentLogin, api_key, create_team, inbound, login
from tests.hub.routing.test_flow import assignee, conv, events_of, online

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def admin(client: TestClient, db: Database) -> AgentLogin:
    return login(client, db, "admin")


def put_settings(client: TestClient, admin: AgentLogin, team: int, body: object) -> Any:
    return client.put(f"/api/v1/teams/{team}/settings", headers=admin.headers, json=body)


def stored(client: TestClient, admin: AgentLogin, team: int) -> dict[str, Any]:
    teams = client.get("/api/v1/teams", headers=admin.headers).json()["items"]
    return next(t for t in teams if t["id"] == team)["settings"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("body", "says"), [
    ({"sla": {"default": {"first_response": "soon"}}}, "sla.default.first_response"),
    ({"sla": {"warn_before": "x"}}, "sla.warn_before"),
    ({"sla": {"default": {"first_response": -5}}}, "greater than 0"),
    ({"sla": {"urgent": {"first_response": 60}}}, "priority such as '10'"),
    ({"sla": {"10": {"first_response": 0}}}, "priority 10: first_response"),
    ({"sla": {"default": {"first_reply": 60}}}, "first_reply"),
    ({"offer_timeout_seconds": 0}, "offer_timeout_seconds"),
    ({"escalate_after_seconds": True}, "escalate_after_seconds"),
    ({"escalate_after_seconds": 1e300}, "escalate_after_seconds"),
    ({"business_hours": {"timezone": "Mars/Olympus", "days": {"mon": ["09:00-17:00"]}}}, "unknown time zone"),
    ({"business_hours": {"days": {"someday": ["09:00-17:00"]}}}, "days are mon"),
    ({"business_hours": {"days": {"mon": ["17:00-09:00"]}}}, "ends before it starts"),
    ({"business_hours": {"days": {"mon": ["all day"]}}}, "a span is like 09:00-17:00"),
    ({"business_hours": {"days": {}}}, "at least one open span"),
    ({"overflow_team": "Nobody"}, "overflow_team: no team 'Nobody'"),
    ({"overflow_team": 999_999}, "overflow_team: no team 999999"),
    ({"overflow_tem": "Tier2"}, "overflow_tem"),
])
def test_settings_routing_cannot_use_are_refused_with_a_clear_422(
        client: TestClient, db: Database, admin: AgentLogin, body: dict[str, Any], says: str) -> None:
    team = create_team(db)
    assert put_settings(client, admin, team, {"offer_timeout_seconds": 30}).status_code == 200
    resp = put_settings(client, admin, team, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid"
    assert says in resp.json()["message"]
    assert stored(client, admin, team) == {"offer_timeout_seconds": 30}  # left as it was


def test_a_team_cannot_overflow_into_itself(client: TestClient, db: Database, admin: AgentLogin) -> None:
    team = create_team(db, "Loop")
    resp = put_settings(client, admin, team, {"escalate_after_seconds": 60, "overflow_team": "Loop"})
    assert resp.status_code == 422
    assert "cannot overflow into itself" in resp.json()["message"]


def test_good_settings_are_stored_and_the_overflow_team_is_taken_by_id_or_name(
        client: TestClient, db: Database, admin: AgentLogin) -> None:
    team, tier2 = create_team(db), create_team(db, "Tier2")
    body = {
        "offer_timeout_seconds": 45,
        "escalate_after_seconds": 600,
        "overflow_team": tier2,
        "sla": {"default": {"first_response": 900}, "10": {"first_response": 60}, "warn_before": 120},
        "business_hours": {"timezone": "Europe/Madrid", "days": {"monday": ["09:00-14:00", "16:00-24:00"]}},
    }
    resp = put_settings(client, admin, team, body)
    assert resp.status_code == 200, resp.text
    assert stored(client, admin, team) == {**body, "business_hours": {
        "timezone": "Europe/Madrid", "days": {"mon": ["09:00-14:00", "16:00-24:00"]}}}
    assert put_settings(client, admin, team, {**body, "overflow_team": "Tier2"}).status_code == 200
    assert stored(client, admin, team)["overflow_team"] == "Tier2"


def write_raw_settings(db: Database, team_id: int, settings: dict[str, Any]) -> None:
    """Settings as a hub before typed settings (or a hand-written SQL update) could leave them."""
    with db.write() as s:
        team = get_team(s, team_id)
        team.settings = settings
        log.append(s, TeamUpdated(actor_agent_id=None, team_id=team_id, settings=settings))


def test_unusable_stored_settings_fail_neither_inbound_messages_nor_other_teams_queues(
        client: TestClient, db: Database, admin: AgentLogin) -> None:
    broken, tier1, tier2 = create_team(db, "Broken"), create_team(db, "Tier1"), create_team(db, "Tier2")
    write_raw_settings(db, broken, {"sla": {"default": {"first_response": "soon"}, "warn_before": "x"},
                                    "escalate_after_seconds": "later", "overflow_team": "Tier2"})
    assert put_settings(client, admin, tier1, {"escalate_after_seconds": 0.3, "overflow_team": "Tier2"}
                        ).status_code == 200
    key = api_key(db)
    for team, source in ((broken, "broken"), (tier1, "tier1")):
        resp = client.post("/api/v1/routing/rules", headers=admin.headers,
                           json={"name": source, "team_id": team, "match": {"source": [source]}})
        assert resp.status_code == 201, resp.text

    to_broken = inbound(client, key, email="b@example.com", source="broken")  # stored, not a 500
    assert conv(client, admin, to_broken["conversation_id"])["team_id"] == broken
    expert = login(client, db, teams=[tier2])
    online(client, expert)
    waiting = inbound(client, key, email="t@example.com", source="tier1")
    wait_for(lambda: assignee(client, admin, waiting["conversation_id"]) == expert.id, what="escalated past Broken")
    assert conv(client, admin, waiting["conversation_id"])["team_id"] == tier2
    assert conv(client, admin, to_broken["conversation_id"])["team_id"] == broken  # its settings are ignored


def test_a_team_whose_escalation_fails_does_not_stop_the_others(
        client: TestClient, db: Database, admin: AgentLogin, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    failing, tier1, tier2 = create_team(db, "Failing"), create_team(db, "Tier1"), create_team(db, "Tier2")
    for team in (failing, tier1):
        assert put_settings(client, admin, team, {"escalate_after_seconds": 0.3, "overflow_team": "Tier2"}
                            ).status_code == 200
        client.post("/api/v1/routing/rules", headers=admin.headers,
                    json={"name": f"to {team}", "team_id": team, "match": {"source": [f"s{team}"]}})
    escalate_team = Router.escalate_team

    def fail_for_one(self: Router, session: Any, team_id: int) -> int:
        if team_id == failing:
            raise RuntimeError("this team's escalation broke")
        return escalate_team(self, session, team_id)

    monkeypatch.setattr(Router, "escalate_team", fail_for_one)
    key = api_key(db)
    stuck = inbound(client, key, email="f@example.com", source=f"s{failing}")
    moves = inbound(client, key, email="m@example.com", source=f"s{tier1}")
    wait_for(lambda: conv(client, admin, moves["conversation_id"])["team_id"] == tier2, what="Tier1 escalated")
    wait_for(lambda: "this team's escalation broke" in caplog.text, what="the failure logged")
    assert "conversation.escalated" not in [t for t, _ in events_of(db, stuck["conversation_id"])]


def test_a_queue_whose_routing_fails_does_not_keep_the_others_waiting(
        client: TestClient, db: Database, admin: AgentLogin, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    failing, working = create_team(db, "Failing"), create_team(db, "Working")
    for team in (failing, working):
        client.post("/api/v1/routing/rules", headers=admin.headers,
                    json={"name": f"to {team}", "team_id": team, "match": {"source": [f"s{team}"]}})
    give = Router._give

    def fail_for_one(self: Router, session: Any, view: Any, conversation: Any, *rest: Any) -> None:
        if conversation.team_id == failing:
            raise RuntimeError("this queue's routing broke")
        give(self, session, view, conversation, *rest)

    monkeypatch.setattr(Router, "_give", fail_for_one)
    key = api_key(db)
    # Both wait (nobody is online), the failing team's conversation first in line.
    stuck = inbound(client, key, email="f@example.com", source=f"s{failing}")
    served = inbound(client, key, email="w@example.com", source=f"s{working}")
    agent = login(client, db, teams=[failing, working])
    online(client, agent)  # a drain follows: it places both, and one of them fails
    wait_for(lambda: assignee(client, admin, served["conversation_id"]) == agent.id, what="Working's queue served")
    assert "this queue's routing broke" in caplog.text
    assert assignee(client, admin, stuck["conversation_id"]) is None


OFFICE = {"timezone": "Europe/Madrid", "days": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}


def test_a_long_sla_in_office_hours_gets_its_deadline_and_costs_no_inbound_message(
        client: TestClient, db: Database, admin: AgentLogin) -> None:
    """Half a year of office hours (40 a week) is about two and a half years away: the team's
    messages are stored and routed with that deadline, not refused while routing."""
    team = create_team(db, "Slow")
    half_year = 180 * 86400
    assert put_settings(client, admin, team, {"business_hours": OFFICE, "sla": {"default": {"resolution": half_year}}}
                        ).status_code == 200
    resp = client.post("/api/v1/routing/rules", headers=admin.headers,
                       json={"name": "slow", "team_id": team, "match": {"source": ["slow"]}})
    assert resp.status_code == 201, resp.text
    sent = inbound(client, api_key(db), email="s@example.com", source="slow")  # stored, not a 500
    with db.read() as s:
        stored_conv = s.get(Conversation, sent["conversation_id"])
        assert stored_conv is not None and stored_conv.team_id == team
        due = stored_conv.resolution_due_at
        assert due is not None
        weeks = half_year / (40 * 3600)
        assert abs((due - stored_conv.created_at).days - weeks * 7) <= 7


def test_an_sla_target_these_business_hours_never_reach_is_refused_with_a_clear_422(
        client: TestClient, db: Database, admin: AgentLogin) -> None:
    team = create_team(db)
    body = {"business_hours": {"days": {"mon": ["09:00-09:01"]}}, "sla": {"10": {"resolution": 10 * 365 * 86400}}}
    resp = put_settings(client, admin, team, body)
    assert resp.status_code == 422, resp.text
    assert "sla.10.resolution" in resp.json()["message"] and "business hours" in resp.json()["message"]
