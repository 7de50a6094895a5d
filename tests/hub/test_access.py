"""The hub's permission checks (hub/access.py, check_keeps_an_admin): the errors the API and the
socket answer with, asked of the hub directly."""

from __future__ import annotations

import pytest

from hub import access
from hub.agents import actions as agents
from hub.contacts.models import Contact
from hub.conversations.models import Conversation
from hub.db import Database
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.events.visibility import AgentScope
from tests.factories import create_agent, create_team

TEAM, OTHER, ME, SOMEONE = 1, 2, 10, 11


def scope(role: str = "agent", visibility: str = "company") -> AgentScope:
    return AgentScope(ME, role, frozenset({TEAM}), visibility)  # type: ignore[arg-type]


def conv(team_id: int | None, assignee_id: int | None) -> Conversation:
    return Conversation(id=5, contact_id=7, channel="api", source="crm", team_id=team_id, assignee_id=assignee_id)


def test_another_teams_conversation_is_read_in_company_mode_and_refused_in_team_mode() -> None:
    theirs = conv(OTHER, SOMEONE)
    assert access.check_read(scope(), theirs) is theirs
    assert access.check_note(scope(), theirs) is theirs
    with pytest.raises(Forbidden):
        access.check_read(scope(visibility="team"), theirs)
    with pytest.raises(Forbidden):
        access.check_note(scope(visibility="team"), theirs)
    assert access.check_read(scope("supervisor", "team"), theirs) is theirs


@pytest.mark.parametrize(("team_id", "assignee_id", "allowed"), [
    (TEAM, None, True), (None, None, True), (OTHER, ME, True),  # their queue, the shared inbox, their own
    (TEAM, SOMEONE, False), (OTHER, None, False),  # a teammate's, another team's queue
])
def test_replying_needs_the_work_to_be_theirs_or_theirs_to_take(team_id: int | None, assignee_id: int | None,
                                                               allowed: bool) -> None:
    c = conv(team_id, assignee_id)
    if allowed:
        assert access.check_act(scope(), c) is c
    else:
        with pytest.raises(Forbidden, match="add an internal note"):
            access.check_act(scope(), c)
    assert access.check_act(scope("supervisor"), c) is c


def test_agents_take_unassigned_work_or_hand_back_their_own_and_nothing_else() -> None:
    access.check_assign(scope(), conv(TEAM, None), to=ME, to_team=TEAM)  # take
    access.check_assign(scope(), conv(TEAM, ME), to=None, to_team=TEAM)  # hand back
    refused = [
        (conv(TEAM, SOMEONE), ME, TEAM),  # a teammate's
        (conv(TEAM, None), SOMEONE, TEAM),  # give to a colleague
        (conv(TEAM, ME), ME, OTHER),  # move to another team
        (conv(OTHER, None), ME, OTHER),  # another team's queue
    ]
    for c, to, to_team in refused:
        with pytest.raises(Forbidden, match="hand back their own"):
            access.check_assign(scope(), c, to=to, to_team=to_team)
        access.check_assign(scope("supervisor"), c, to=to, to_team=to_team)
    with pytest.raises(Forbidden, match="team you are not in"):  # not even readable: the read refusal
        access.check_assign(scope(visibility="team"), conv(OTHER, SOMEONE), to=ME, to_team=OTHER)


def test_an_offer_of_an_unreadable_conversation_is_not_found() -> None:
    access.check_offer(scope(visibility="team"), conv(TEAM, None))
    with pytest.raises(NotFound):
        access.check_offer(scope(visibility="team"), conv(OTHER, None))


def test_only_supervisors_change_a_tier() -> None:
    access.check_contact_changes(scope(), {"name", "language"})
    with pytest.raises(Forbidden, match="tier"):
        access.check_contact_changes(scope(), {"name", "tier"})
    access.check_contact_changes(scope("supervisor"), {"tier"})


def test_listing_every_contact_is_for_supervisors_and_searches_are_literal() -> None:
    assert access.contact_search_text(scope("supervisor"), None) is None
    assert access.contact_search_text(scope("supervisor"), "  ") is None
    assert access.contact_search_text(scope(), " 5% ") == "5%"
    for short in (None, "", "a", " a "):
        with pytest.raises(Invalid, match="at least 2"):
            access.contact_search_text(scope(), short)


def test_a_contact_outside_an_isolated_agents_work_is_refused(database_url: str) -> None:
    db = Database(database_url)
    try:
        other_team = create_team(db)
        with db.write() as s:
            contact = Contact(name="Ana")
            s.add(contact)
            s.flush()
            assert contact.id is not None
            s.add(Conversation(contact_id=contact.id, channel="api", source="crm", team_id=other_team))
            contact_id = contact.id
        with db.read() as s:
            assert access.check_contact(s, scope(), contact_id).id == contact_id
            teamless = AgentScope(ME, "agent", frozenset(), "team")
            with pytest.raises(Forbidden):
                access.check_contact(s, teamless, contact_id)
            with pytest.raises(NotFound):
                access.check_contact(s, scope(), contact_id + 1)
    finally:
        db.dispose()


def test_the_last_active_admin_stays_one(database_url: str) -> None:
    db = Database(database_url)
    try:
        admin_id, _ = create_agent(db, "admin")
        with db.read() as s:
            admin = agents.get_agent(s, admin_id)
            for change in ({"role": "agent", "active": None}, {"role": None, "active": False},
                           {"role": "supervisor", "active": True}):
                with pytest.raises(Conflict, match="last active admin"):
                    agents.check_keeps_an_admin(s, admin, **change)  # type: ignore[arg-type]
            agents.check_keeps_an_admin(s, admin, role="admin", active=True)  # no change
        create_agent(db, "admin")
        with db.read() as s:
            agents.check_keeps_an_admin(s, agents.get_agent(s, admin_id), role="agent", active=None)
    finally:
        db.dispose()
