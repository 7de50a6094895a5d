"""The routing board (hub.routing.board) always agrees with the database.

Two routers stand for two processes on one database. After every step of a random mix of what
changes agents' loads and states (new, resolved and reopened conversations, offers, accepts,
declines, transfers, presence, capacity, skills and team changes, drains, a rolled back
transaction), each router's board, brought up to date in a new transaction, must equal what
`queries.agent_states` reads from scratch. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hub.agents import actions as agents
from hub.agents.models import Agent
from hub.conversations.actions import do_assign, do_set_status
from hub.conversations.models import Conversation
from hub.db import Database
from hub.events import log
from hub.events.types import AgentUpdated, TeamUpdated
from hub.ingest.entry import do_ingest
from hub.plain_sql import PlainSql
from hub.ports import ContactRef, InboundMessage
from hub.routing import queries
from hub.routing.actions import Router
from hub.routing.config import RoutingConfig
from hub.routing.rules import rule_from_dict

CAPACITY = {"api": 2, "webchat": 1}


class Boom(Exception):
    pass


def _routers() -> list[Router]:
    rules = [rule_from_dict({"name": "a", "team": "A", "match": {"source": ["a"]}}),
             rule_from_dict({"name": "b", "team": "B", "match": {"source": ["b"]}})]
    return [Router(RoutingConfig(rules=rules, default_capacity=dict(CAPACITY), sticky_wait=timedelta(0)))
            for _ in range(2)]


def _fresh(session: Any, router: Router) -> dict[int, tuple[Any, ...]]:
    return {
        a.id: (a.presence, a.team_ids, a.skills, a.capacity, {k: v for k, v in a.load.items() if v},
               a.last_assigned_at)
        for a in queries.agent_states(session, router.config.default_capacity)
    }


def _check(db: Database, routers: list[Router], step: str) -> None:
    for n, router in enumerate(routers):
        with db.write() as s:
            view = router.board.view(s)
            got = {a.id: (a.presence, a.team_ids, a.skills, a.capacity, dict(a.load), a.last_assigned_at)
                   for a in view.agents()}
            assert got == _fresh(s, router), f"router {n} disagrees with the database after {step}"
            all_ids = list(s.execute(select(Agent.id)).scalars())
            held = {k: v for k, v in queries.loads(s, all_ids).items() if v}
            assert {k: v for k, v in view.loads.items() if v} == held, f"router {n}: loads after {step}"


@pytest.mark.parametrize("seed", [1, 2])
def test_board_agrees_with_the_database_through_a_random_day(database_url: str, seed: int) -> None:
    rng = random.Random(seed)
    db = Database(database_url)
    routers = _routers()
    try:
        with db.write() as s:
            team_a, team_b = agents.do_create_team(s, "A"), agents.do_create_team(s, "B")
            team_ids = [team_a.id, team_b.id]
            ids = []
            for i in range(5):
                agent = agents.do_create_agent(s, email=f"board{i}@test.example", name=f"Agent {i}", role="agent",
                                               password="correct horse battery")
                agents.do_add_member(s, team_a if i % 2 else team_b, agent)
                agents.do_set_presence(s, agent, "online")
                ids.append(agent.id)
        _check(db, routers, "setup")
        contacts = 0

        def ingest(router: Router, email: str) -> None:
            with db.write() as s:
                do_ingest(s, InboundMessage(
                    channel=rng.choice(["api", "webchat"]), source=rng.choice(["a", "b", "x"]),
                    ingest_scope="api:test", external_id=f"m{rng.random()}", contact=ContactRef(email=email),
                    text="hello"), route=router)  # the router as hook: on PostgreSQL, the lookup reads the board

        def some_conversation(s: Any, **where: Any) -> Conversation | None:
            stmt = select(Conversation)
            for key, value in where.items():
                col = getattr(Conversation, key.removesuffix("__not"))
                stmt = stmt.where(col.is_not(None) if key.endswith("__not") else col == value)
            rows = list(s.execute(stmt).scalars())
            return rng.choice(rows) if rows else None

        for step in range(70):
            router = rng.choice(routers)
            op = rng.choice(["new", "new", "new", "again", "resolve", "resolve", "presence", "capacity", "member",
                             "offers", "accept", "decline", "transfer", "drain", "rollback"])
            if op == "new":
                contacts += 1
                ingest(router, f"c{contacts}@test.example")
            elif op == "again" and contacts:  # a reply: reopens a resolved conversation with its agent
                ingest(router, f"c{rng.randint(1, contacts)}@test.example")
            elif op == "resolve":
                with db.write() as s:
                    conv = some_conversation(s, status="open", assignee_id__not=True)
                    if conv is not None:
                        do_set_status(s, conv, "resolved", agent_id=conv.assignee_id, route=router.on_routable)
            elif op == "presence":
                with db.write() as s:
                    agent = s.get(Agent, rng.choice(ids))
                    assert agent is not None
                    presence = rng.choice(["online", "online", "away", "offline"])
                    if agents.do_set_presence(s, agent, presence) and presence == "offline":
                        router.release_agent(s, agent.id, reason="agent_offline")  # type: ignore[arg-type]
            elif op == "capacity":  # what the admin API does: change the agent, append agent.updated
                with db.write() as s:
                    agent = s.get(Agent, rng.choice(ids))
                    assert agent is not None
                    agent.capacities = {"api": rng.randint(0, 3)}
                    agent.skills = rng.choice([[], ["billing"]])
                    log.append(s, AgentUpdated(actor_agent_id=None, agent_id=agent.id, agent={}))  # type: ignore[arg-type]
            elif op == "member":
                with db.write() as s:
                    team = agents.get_team(s, rng.choice(team_ids))
                    agent = s.get(Agent, rng.choice(ids))
                    assert agent is not None
                    if rng.random() < 0.5:
                        agents.do_add_member(s, team, agent)
                    else:
                        agents.do_remove_member(s, team, agent)
            elif op == "offers":  # what the team settings API does
                with db.write() as s:
                    team = agents.get_team(s, rng.choice(team_ids))
                    team.settings = {"offer_timeout_seconds": 60} if rng.random() < 0.7 else {}
                    log.append(s, TeamUpdated(actor_agent_id=None, team_id=team.id, settings=team.settings))  # type: ignore[arg-type]
            elif op in ("accept", "decline"):
                with db.write() as s:
                    conv = some_conversation(s, offered_to_id__not=True)
                    if conv is not None:
                        if op == "accept":
                            router.accept_offer(s, conv, conv.offered_to_id)  # type: ignore[arg-type]
                        else:
                            router.withdraw_offer(s, conv, reason="declined")
            elif op == "transfer":  # what a supervisor's bulk transfer does (to a team, off any offer)
                with db.write() as s:
                    conv = some_conversation(s, status="open")
                    if conv is not None:
                        conv.offered_to_id = None
                        conv.offer_expires_at = None
                        conv.queued_at = None
                        do_assign(s, conv, assignee_id=None, team_id=rng.choice(team_ids), actor_agent_id=None,
                                  reason="supervisor", event_type="conversation.transferred")
                        router.on_routable(s, conv)
            elif op == "drain":
                with db.write() as s:
                    router.drain(s)
            elif op == "rollback":  # work that never commits must not stay on any board
                with pytest.raises(Boom), db.write() as s:
                    contacts += 1
                    do_ingest(s, InboundMessage(channel="api", source="a", ingest_scope="api:test",
                                                external_id=f"lost{step}",
                                                contact=ContactRef(email=f"c{contacts}@test.example"), text="hi"),
                              route=router)
                    router.drain(s)
                    raise Boom
            _check(db, routers, f"step {step} ({op})")
    finally:
        db.dispose()


def test_automatic_routing_never_exceeds_capacity_with_two_routers(database_url: str) -> None:
    db = Database(database_url)
    routers = _routers()
    try:
        with db.write() as s:
            team = agents.do_create_team(s, "A")
            agents.do_create_team(s, "B")
            for i in range(3):
                agent = agents.do_create_agent(s, email=f"cap{i}@test.example", name=f"Agent {i}", role="agent",
                                               password="correct horse battery")
                agents.do_add_member(s, team, agent)
                agents.do_set_presence(s, agent, "online")
        for i in range(12):  # room for 6 (3 agents x 2 on the API channel)
            with db.write() as s:
                do_ingest(s, InboundMessage(channel="api", source="a", ingest_scope="api:test", external_id=f"e{i}",
                                            contact=ContactRef(email=f"cap{i}@customers.example"), text="hi"),
                          route=routers[i % 2])
            with db.write() as s:
                routers[(i + 1) % 2].drain(s)
        with db.read() as s:
            rows = s.execute(select(Conversation.assignee_id, Conversation.status)).all()
        per_agent: dict[int, int] = {}
        for assignee_id, status in rows:
            if assignee_id is not None and status == "open":
                per_agent[assignee_id] = per_agent.get(assignee_id, 0) + 1
        assert sum(per_agent.values()) == 6
        assert max(per_agent.values()) == 2
    finally:
        db.dispose()


def test_a_pinned_connection_shares_the_board_without_a_full_reload(database_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest writer's sessions are bound to its pinned connection, everyone else's to the
    engine: both are the same database, so alternating between them must not reread everything."""
    from hub.routing.board_view import View

    db = Database(database_url)
    router = _routers()[0]
    reloads: list[object] = []
    load_all = View.load_all

    def counting(self: View, session: Any) -> None:
        reloads.append(session)
        load_all(self, session)

    monkeypatch.setattr(View, "load_all", counting)
    try:
        with db.write() as s:
            router.board.view(s)
        assert len(reloads) == 1  # the first view reads everything
        with db.pinned():
            for _ in range(3):
                with db.write() as s:
                    router.board.view(s)
        with db.write() as s:
            router.board.view(s)
        assert len(reloads) == 1, "the board was reread from scratch when the bind changed"
    finally:
        db.dispose()


def _board_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The board's own reads of the log (`EVENTS_AFTER_ROWS`, through hub.plain_sql), as they happen."""
    seen: list[str] = []
    execute_raw = PlainSql.execute_raw

    def _seen(self: PlainSql, statement: str, params: Any) -> None:
        if statement.lstrip().startswith("SELECT e.id, e.type"):
            seen.append(statement)
        execute_raw(self, statement, params)

    monkeypatch.setattr(PlainSql, "execute_raw", _seen)
    return seen


def _one_agent(db: Database) -> int:
    with db.write() as s:
        team = agents.do_create_team(s, "A")
        agents.do_create_team(s, "B")
        agent = agents.do_create_agent(s, email="solo@test.example", name="Solo", role="agent",
                                       password="correct horse battery", capacities={"api": 1})
        agents.do_add_member(s, team, agent)
        agents.do_set_presence(s, agent, "online")
        assert agent.id is not None
        return agent.id


def _message(n: int) -> InboundMessage:
    return InboundMessage(channel="api", source="a", ingest_scope="api:test", external_id=f"solo{n}",
                          contact=ContactRef(email=f"solo{n}@customers.example"), text="hi")


def test_the_log_is_read_again_in_a_transaction_only_after_it_appended_events(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(database_url)
    router = _routers()[0]
    try:
        agent_id = _one_agent(db)
        with db.write() as s:
            waiting = do_ingest(s, _message(1))  # no routing: it waits, unassigned
        reads = _board_reads(monkeypatch)
        with db.write() as s:
            router.board.view(s)
            first = len(reads)
            router.board.view(s)
            assert len(reads) == first  # nothing written since: not read again
            conv = s.get(Conversation, waiting.conversation_id)
            assert conv is not None
            do_assign(s, conv, assignee_id=agent_id, team_id=conv.team_id, actor_agent_id=None, reason="supervisor")
            view = router.board.view(s)
            assert len(reads) == first + 1  # an event was appended: read again, and the agent is full
            assert dict(view.states[agent_id].load) == {"api": 1}
            another = do_ingest(s, _message(2), route=router)
        with db.read() as s:
            conv = s.get(Conversation, another.conversation_id)
            assert conv is not None and conv.assignee_id is None  # never above capacity
    finally:
        db.dispose()


def test_a_first_conversation_gets_the_slot_a_resolve_freed_with_the_board_read_by_the_lookup(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL ingest's lookup reads the board's refresh for a first conversation (one
    round trip less); on SQLite the board reads it itself. Either way the freed slot is seen."""
    db = Database(database_url)
    router = _routers()[0]
    try:
        agent_id = _one_agent(db)
        with db.write() as s:
            first = do_ingest(s, _message(1), route=router)
        with db.write() as s:
            conv = s.get(Conversation, first.conversation_id)
            assert conv is not None and conv.assignee_id == agent_id
            do_set_status(s, conv, "resolved", agent_id=agent_id)
        reads = _board_reads(monkeypatch)
        with db.write() as s:
            second = do_ingest(s, _message(2), route=router)
        assert len(reads) == (0 if db.is_postgres else 1)
        with db.read() as s:
            conv = s.get(Conversation, second.conversation_id)
            assert conv is not None and conv.assignee_id == agent_id
        _check(db, [router], "the second conversation")
    finally:
        db.dispose()


def test_two_new_customers_in_one_transaction_never_put_the_agent_above_capacity(database_url: str) -> None:
    """A group-commit batch: the first new customer takes the only free slot (the board learns it
    in memory, its events are written after routing), the second waits; on PostgreSQL the second's
    lookup reads the board's refresh, which must not lose the first assignment."""
    db = Database(database_url)
    router = _routers()[0]
    try:
        agent_id = _one_agent(db)
        with db.write() as s:  # the board's first read, in a transaction of its own
            router.board.view(s)
        with db.write() as s:
            first = do_ingest(s, _message(1), route=router)
            second = do_ingest(s, _message(2), route=router)
        with db.read() as s:
            assignees = [s.get(Conversation, r.conversation_id).assignee_id  # type: ignore[union-attr]
                         for r in (first, second)]
        assert assignees == [agent_id, None]
        _check(db, [router], "two new customers in one transaction")
    finally:
        db.dispose()
