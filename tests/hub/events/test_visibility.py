"""The visibility rule itself (hub/events/visibility.py), case by case, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub import jsontext
from hub.events.log import EventView
from hub.events.visibility import AgentScope, can_see

TEAM, OTHER, ME, SOMEONE = 1, 2, 10, 11


def scope(visibility: str, role: str = "agent") -> AgentScope:
    return AgentScope(ME, role, frozenset({TEAM}), visibility)  # type: ignore[arg-type]


def event(type_: str, *, conversation_id: int | None = 5, contact_id: int | None = 7, team_id: int | None = None,
          assignee_id: int | None = None, **payload: object) -> EventView:
    return EventView(1, type_, conversation_id, contact_id, None, False, jsontext.dumps(payload),
                     datetime.now(UTC), team_id, assignee_id)


@pytest.mark.parametrize("visibility", ["company", "team"])
def test_what_an_agent_may_do_where(visibility: str) -> None:
    s = scope(visibility)
    company = visibility == "company"
    # (team, assignee) -> read and note, reply and status, take it
    cases = {
        (TEAM, None): (True, True, True),  # their team's queue
        (None, None): (True, True, True),  # the shared inbox
        (TEAM, ME): (True, True, True),  # their own
        (OTHER, ME): (True, True, True),  # their own, in another team
        (TEAM, SOMEONE): (True, False, False),  # a teammate's
        (OTHER, None): (company, False, False),  # another team's queue
        (OTHER, SOMEONE): (company, False, False),  # another team's agent's
    }
    for (team, assignee), (read, act, take) in cases.items():
        assert s.can_see_conversation(team, assignee) is read, (team, assignee)
        assert s.can_act(team, assignee) is act, (team, assignee)
        assert s.can_assign(team, assignee, to=ME, to_team=team) is take, (team, assignee)
    # Handing back their own; never giving it away or moving it to another team.
    assert s.can_assign(TEAM, ME, to=None, to_team=TEAM)
    assert not s.can_assign(TEAM, SOMEONE, to=None, to_team=TEAM)
    assert not s.can_assign(TEAM, ME, to=SOMEONE, to_team=TEAM)
    assert not s.can_assign(TEAM, None, to=ME, to_team=OTHER)
    assert not s.can_list_contacts
    boss = scope(visibility, "supervisor")
    assert boss.can_see_conversation(OTHER, SOMEONE) and boss.can_act(OTHER, SOMEONE) and boss.can_list_contacts
    assert boss.can_assign(OTHER, SOMEONE, to=ME, to_team=TEAM)


@pytest.mark.parametrize("visibility", ["company", "team"])
def test_the_socket_sends_the_scope_of_work_in_both_modes(visibility: str) -> None:
    """Reading everything (company) does not put everything on every console."""
    s = scope(visibility)
    assert can_see(s, event("message.created", team_id=TEAM))
    assert can_see(s, event("message.created", team_id=None))
    assert can_see(s, event("message.created", team_id=OTHER, assignee_id=ME))
    assert not can_see(s, event("message.created", team_id=OTHER))
    # A conversation moving away still tells its previous team, so their consoles drop it.
    assert can_see(s, event("conversation.assigned", team_id=OTHER, from_team_id=TEAM))
    # A note mentioning them outside their scope: live wherever they may read it.
    mention = event("note.created", team_id=OTHER, mentions=[ME])
    assert can_see(s, mention) is (visibility == "company")
    assert not can_see(s, event("note.created", team_id=OTHER, mentions=[SOMEONE]))
    # A customer's changes: everyone's in company mode, supervisors' only in team mode.
    contact_event = event("contact.updated", conversation_id=None, contact_id=7)
    assert can_see(s, contact_event) is (visibility == "company")
    assert can_see(scope(visibility, "supervisor"), contact_event)
    # An agent's own events and presence, in both modes; another agent's private ones, not.
    assert can_see(s, event("agent.updated", conversation_id=None, contact_id=None, agent_id=ME))
    assert can_see(s, event("presence.changed", conversation_id=None, contact_id=None, agent_id=SOMEONE))
    assert not can_see(s, event("agent.updated", conversation_id=None, contact_id=None, agent_id=SOMEONE))
