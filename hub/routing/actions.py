"""Routing writes: place a conversation in a queue, assign it atomically, drain the queues. The
Router also offers/accepts and requeues (hub.routing.offers), releases agents who leave, escalates
and watches SLAs (hub.routing.upkeep); its settings are hub.routing.config.RoutingConfig.

Atomicity (DESIGN.md contract 6). Every automatic routing decision runs inside one transaction
that first takes the cluster-wide, transaction-scoped event-log lock (hub.events.log.lock) on
PostgreSQL; on SQLite the write transaction is already exclusive. Loads are then read and the claim
written in that same transaction, so two nodes routing at once can never both see free capacity
for the same slot, nor give one conversation to two agents. Routing reuses the event-log lock
rather than a lock of its own: with a single lock there is no lock order to get wrong (two locks
taken in opposite orders by presence changes and routing deadlocked PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col

from hub.agents.models import Agent
from hub.clock import utcnow
from hub.contacts.actions import created_facts, created_in_transaction
from hub.contacts.models import Contact
from hub.conversations.actions import assignment
from hub.conversations.models import Conversation, Message
from hub.conversations.schemas import conversation_dict
from hub.db import WRITE_LOCK_HELD
from hub.events import log
from hub.events.types import Offered, Queued
from hub.routing import policy, queries, sla
from hub.routing.board import Board, BoardPrefetch
from hub.routing.board_view import View
from hub.routing.config import RoutingConfig
from hub.routing.deadlines import set_next_response_deadline, set_sla_deadlines
from hub.routing.decision import Decision, write
from hub.routing.models import RoutingRule
from hub.routing.rules import Facts, Rule, first_match, rule_from_dict
from hub.routing.upkeep import UpkeepActions

_DB_RULES = select(
    col(RoutingRule.name), col(RoutingRule.match), col(RoutingRule.team_id), col(RoutingRule.priority),
    col(RoutingRule.skill),
).order_by(col(RoutingRule.position), col(RoutingRule.id))
_FIRST_TEXT = (
    select(col(Message.text)).where(col(Message.conversation_id) == bindparam("conv"))
    .order_by(col(Message.id)).limit(1)
)
_LAST_AGENT = (
    select(col(Conversation.last_agent_id))
    .where(col(Conversation.contact_id) == bindparam("contact"), col(Conversation.id) != bindparam("conv"),
           col(Conversation.last_agent_id).is_not(None))
    .order_by(col(Conversation.id).desc())
    .limit(1)
)
_WAITING_COLUMNS = (
    col(Conversation.id), col(Conversation.channel), col(Conversation.team_id), col(Conversation.priority),
    col(Conversation.waiting_since), col(Conversation.created_at), col(Conversation.last_agent_id),
    col(Conversation.routing_skill), col(Conversation.passed_agent_ids), col(Conversation.passed_at),
)


def _waiting_heads(where: Any) -> Any:
    return (
        select(*_WAITING_COLUMNS)
        .where(queries.waiting_filter(), where)
        .order_by(col(Conversation.priority).desc(), col(Conversation.waiting_since), col(Conversation.id))
        .limit(bindparam("limit"))
    )


# The heads of some teams' queues, and of the shared inbox: two statements, because with
# `team_id IS NULL OR team_id IN (...)` SQLite walks every waiting conversation (a backlog nobody
# serves too) instead of searching the queue index.
_WAITING_IN_TEAMS = _waiting_heads(col(Conversation.team_id).in_(bindparam("teams", expanding=True)))
_WAITING_TEAMLESS = _waiting_heads(col(Conversation.team_id).is_(None))

class Router(UpkeepActions):
    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        # Agent states and teams, kept up to date from the event log (hub.routing.board).
        self.board = Board(config.default_capacity)
        self._rule_rows: list[Any] | None = None
        self._db_rule_list: list[Rule] = []

    def _db_rules(self, session: Session, view: View) -> list[Rule]:
        """Rules from the database, kept on the board: every change appends `routing.rules_changed`
        (agents_ui/api/routing.py), after which the board reads them again. Parsed again only when
        they changed."""
        if view.rules is not None:
            return view.rules
        rows = list(session.execute(_DB_RULES).all())
        if rows != self._rule_rows:
            parsed = [
                rule_from_dict({"name": name, "match": match, "team_id": team_id, "priority": priority,
                                "skill": skill})
                for name, match, team_id, priority, skill in rows
            ]
            self._rule_rows, self._db_rule_list = rows, parsed
        view.rules = self._db_rule_list
        return self._db_rule_list

    # -- placing and assigning -------------------------------------------------------------

    def on_routable(self, session: Session, conv: Conversation) -> None:
        """Route a conversation that is written (created, reopened or set open without an agent),
        and write what was decided (the route hook of ingest and of status changes)."""
        write(session, self.decide(session, conv))

    def board_prefetch(self, session: Session) -> BoardPrefetch | None:
        """See `Board.prefetch`: ingest's lookup reads the board's refresh with its own statement
        (only in a transaction holding the write lock; else None, and the board reads for itself)."""
        if session.info.get(WRITE_LOCK_HELD) is not session.get_transaction():
            return None
        return self.board.prefetch(session)

    def restarts_clock(self, session: Session, team_id: int | None, priority: int) -> bool:
        """Whether `set_next_response_deadline` would set a deadline for a conversation of this team
        and priority (ingest asks before routing a message that follows an agent's reply), from the
        board's team settings. Holding the write lock."""
        if team_id is None:
            return False
        log.lock(session)
        settings = self.board.view(session).team_settings(session, team_id)
        return "next_response" in sla.targets_for(settings.get("sla"), priority)

    def decide(self, session: Session, conv: Conversation, *, first_text: str | None = None) -> Decision:
        """Route a conversation: its team, priority and deadlines, and the agent it is given or
        offered to, set on the entity; the events and the agents' touches returned, for the caller
        to write (`write`, or ingest with a first conversation's rows). `first_text`: its first
        message's text, if that message is not written yet."""
        log.lock(session)
        view = self.board.view(session)  # flushes this transaction's changes so far
        decision = Decision()
        # What follows only reads rows already flushed; its own changes are written once, at the
        # commit, instead of at every query (each flush costs more than the rows it writes).
        with session.no_autoflush:
            now = utcnow()
            if conv.queued_at is None and conv.team_id is None:
                self._apply_rules(session, view, conv, decision, first_text)
            if conv.queued_at is None:
                conv.queued_at = now
            settings = view.team_settings(session, conv.team_id)
            set_sla_deadlines(session, conv, now, settings)
            set_next_response_deadline(session, conv, now, settings)
            if conv.assignee_id is not None:
                # A reopened conversation stays with its agent if they are still there to take it.
                agent = session.get(Agent, conv.assignee_id)
                if agent is not None and agent.presence != "offline" and agent.active:
                    return decision
                decision.events.append(assignment(conv, assignee_id=None, team_id=conv.team_id, actor_agent_id=None,
                                                  reason="agent_unavailable", event_type="conversation.requeued"))
            self._try_assign(session, view, conv, now, decision)
        return decision

    def _apply_rules(self, session: Session, view: View, conv: Conversation, decision: Decision,
                     first_text: str | None = None) -> None:
        created = created_facts(session, conv.contact_id)
        if created is not None:  # a new contact's, perhaps not written yet: no need to load it
            tier, language = created
        else:
            contact = session.get(Contact, conv.contact_id)
            tier, language = (contact.tier, contact.language) if contact is not None else ("standard", None)
        rules = [*self.config.rules, *self._db_rules(session, view)]
        text = conv.subject or ""
        if any(r.keywords for r in rules):  # the first message only matters to keyword rules
            first = first_text if first_text is not None else (
                session.execute(_FIRST_TEXT, {"conv": conv.id}).scalar_one_or_none())
            text = " ".join(p for p in (conv.subject, first) if p)
        facts = Facts(
            channel=conv.channel,
            source=conv.source,
            tier=tier,
            language=language,
            text=text,
        )
        rule = first_match(rules, facts)
        if tier == "vip":
            conv.priority += self.config.sla_boost
        if conv.last_agent_id is None and not created_in_transaction(session, conv.contact_id):
            # (A contact created in this transaction has no earlier conversation to look at.)
            conv.last_agent_id = session.execute(
                _LAST_AGENT, {"contact": conv.contact_id, "conv": conv.id}
            ).scalar_one_or_none()
        if rule is None:
            return
        conv.team_id = rule.team_id if rule.team_id is not None else (
            view.team_id_named(session, rule.team) if rule.team else None
        )
        conv.priority += rule.priority
        conv.routing_skill = rule.skill
        assert conv.id is not None
        decision.events.append(Queued(conversation_id=conv.id, contact_id=conv.contact_id,
                                      rule=rule.name, team_id=conv.team_id, priority=conv.priority,
                                      skill=conv.routing_skill, conversation=conversation_dict(conv)))

    def _sticky_until(self, conv: Conversation) -> datetime | None:
        if conv.last_agent_id is None:
            return None
        return (conv.waiting_since or conv.created_at) + self.config.sticky_wait

    def _try_assign(self, session: Session, view: View, conv: Conversation, now: datetime,
                    decision: Decision) -> None:
        if conv.status != "open" or conv.assignee_id is not None or conv.offered_to_id is not None:
            return
        excluded = self._excluded(conv.passed_agent_ids, conv.passed_at, now)
        work = queries.work_of(conv, self._sticky_until(conv), excluded)
        choice = policy.choose(work, view.agents(), now)
        if choice is not None:
            self._give(session, view, conv, choice, now, decision)

    def _give(self, session: Session, view: View, conv: Conversation, agent_id: int, now: datetime,
              decision: Decision) -> None:
        assert conv.id is not None
        agent = session.identity_map.get(identity_key(Agent, agent_id))
        if agent is not None:
            agent.last_assigned_at = now
        else:
            decision.touched[agent_id] = now
        decision.assignee_id = agent_id
        offer_timeout = view.team_settings(session, conv.team_id).get("offer_timeout_seconds")
        if offer_timeout and conv.channel in self.config.offer_channels:
            conv.offered_to_id = agent_id
            conv.offer_expires_at = now + timedelta(seconds=float(offer_timeout))
            conv.updated_at = now
            decision.offer = True
            decision.events.append(Offered(conversation_id=conv.id, contact_id=conv.contact_id, agent_id=agent_id,
                                           expires_at=conv.offer_expires_at.isoformat(),
                                           conversation=conversation_dict(conv)))
            view.give(conv.id, agent_id, conv.channel, offer=True, at=now)
            return
        decision.events.append(assignment(conv, assignee_id=agent_id, team_id=conv.team_id, actor_agent_id=None,
                                          reason="auto"))
        view.give(conv.id, agent_id, conv.channel, offer=False, at=now)

    def drain(self, session: Session, *, limit: int = 200) -> int:
        """Assign waiting conversations while anyone has room; returns how many were placed."""
        return self.drain_pass(session, limit=limit)[0]

    def drain_pass(self, session: Session, *, limit: int = 200,
                   only: Collection[int | None] | None = None) -> tuple[int, bool]:
        """One pass over the heads of the queues someone has room for (of these queues `only`, None
        in it: the shared inbox): (placed, whether the queues may hold more than this pass looked at)."""
        log.lock(session)
        view = self.board.view(session)
        # Only queues someone online has room for: a backlog nobody can serve costs nothing here,
        # and a pass with nobody free reads no queue at all.
        teams = view.servable_teams()
        if teams is None:
            return 0, False
        if only is not None:
            teams = teams & set(only)
        real = [t for t in teams if t is not None]
        heads: list[Any] = []
        more = False
        queues: list[tuple[Any, dict[str, Any]]] = []
        if real:
            queues.append((_WAITING_IN_TEAMS, {"teams": real, "limit": limit}))
        if None in teams:
            queues.append((_WAITING_TEAMLESS, {"limit": limit}))
        for stmt, params in queues:
            rows = session.execute(stmt, params).all()
            heads += rows
            more = more or len(rows) == limit
        if not heads:
            return 0, False
        now = utcnow()
        sticky = self.config.sticky_wait
        works = [
            policy.Work(
                conversation_id=r.id, channel=r.channel, team_id=r.team_id, priority=r.priority,
                waiting_since=r.waiting_since or r.created_at, last_agent_id=r.last_agent_id,
                skill=r.routing_skill,
                sticky_until=(r.waiting_since or r.created_at) + sticky if r.last_agent_id is not None else None,
                excluded=self._excluded(r.passed_agent_ids, r.passed_at, now),
            )
            for r in heads
        ]
        placements = policy.plan(works, view.agents(), now)
        if placements:
            convs = {
                c.id: c for c in session.execute(
                    select(Conversation).where(col(Conversation.id).in_([c for c, _ in placements]))
                ).scalars()
            }
            placed = Decision()
            for conv_id, agent_id in placements:
                self._give(session, view, convs[conv_id], agent_id, now, placed)
            write(session, placed)
        return len(placements), more
