"""Router's upkeep, run by the routing service and on presence changes: agents who leave (their
chats go back to the queues), escalation of conversations that waited too long, and the SLA watch
(a mixin of hub.routing.actions.Router)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from hub.agents.actions import do_set_presence
from hub.agents.models import Agent, Team
from hub.clock import utcnow
from hub.conversations.actions import do_assign
from hub.conversations.models import Conversation
from hub.conversations.schemas import conversation_dict
from hub.events import log
from hub.events.types import SlaAtRisk, SlaBreached
from hub.routing import queries, sla
from hub.routing.deadlines import team_settings
from hub.routing.offers import OfferActions
from hub.routing.settings import find_team, stored_settings

_TEAM_SETTINGS = select(col(Team.id), col(Team.settings)).order_by(col(Team.id))


class UpkeepActions(OfferActions):
    def release_agent(self, session: Session, agent_id: int, *, reason: str) -> int:
        """An agent went offline: their chats (not email/SMS) go back to the queue for others."""
        log.lock(session)
        convs = session.execute(
            select(Conversation).where(
                col(Conversation.assignee_id) == agent_id,
                col(Conversation.status) == "open",
                col(Conversation.channel).in_(self.config.release_on_offline),
            )
        ).scalars().all()
        now = utcnow()
        for conv in convs:
            conv.waiting_since = now
            do_assign(session, conv, assignee_id=None, team_id=conv.team_id, actor_agent_id=None,
                      reason=reason, event_type="conversation.requeued")
        offered = session.execute(
            select(Conversation).where(col(Conversation.offered_to_id) == agent_id)
        ).scalars().all()
        for conv in offered:
            self.withdraw_offer(session, conv, reason=reason)
        return len(convs)

    def offline_silent_consoles(self, session: Session) -> list[int]:
        """Agents whose console stopped its heartbeat longer than the grace period ago."""
        cutoff = utcnow() - self.config.presence_grace
        silent = session.execute(
            select(Agent).where(
                col(Agent.console_connected).is_(True),
                col(Agent.presence) != "offline",
                col(Agent.last_seen_at) < cutoff,
            )
        ).scalars().all()
        out = []
        for agent in silent:
            agent.console_connected = False
            do_set_presence(session, agent, "offline")
            self.release_agent(session, agent.id, reason="console_disconnected")
            out.append(agent.id)
        return out

    def escalate_due(self, session: Session) -> int:
        """Escalate every team's conversations that waited too long (one transaction; the routing
        service escalates team by team instead, `escalating_teams` then `escalate_team`)."""
        return sum(self.escalate_team(session, team_id) for team_id in self.escalating_teams(session))

    def escalating_teams(self, session: Session) -> list[int]:
        return [tid for tid, settings in session.execute(_TEAM_SETTINGS)
                if settings and settings.get("escalate_after_seconds")]

    def escalate_team(self, session: Session, team_id: int) -> int:
        log.lock(session)
        team = session.get(Team, team_id)
        if team is None:
            return 0
        s = stored_settings(team.id, team.settings)
        after = s.get("escalate_after_seconds")
        if not after:
            return 0
        target = find_team(session, s["overflow_team"]) if s.get("overflow_team") is not None else None
        target_id = target.id if target is not None and target.id != team.id else None
        skill = s.get("overflow_skill")
        if target_id is None and not skill:
            return 0
        now = utcnow()
        due = session.execute(
            select(Conversation).where(
                queries.waiting_filter(),
                col(Conversation.team_id) == team.id,
                col(Conversation.queued_at) <= now - timedelta(seconds=float(after)),
            ).limit(200)
        ).scalars().all()
        for conv in due:
            conv.escalation_level += 1
            conv.queued_at = now
            conv.routing_skill = skill or conv.routing_skill
            do_assign(session, conv, assignee_id=None, team_id=target_id if target_id else None,
                      actor_agent_id=None, reason=f"waited over {after}s in {team.name}",
                      event_type="conversation.escalated")
        return len(due)

    def check_sla(self, session: Session) -> int:
        """Raise the priority of conversations nearing a breach, and record breaches."""
        now = utcnow()
        changed = 0
        rows = session.execute(
            select(Conversation).where(
                col(Conversation.status).in_(("open", "pending")),
                col(Conversation.sla_state) != "breached",
                (col(Conversation.first_response_due_at).is_not(None))
                | (col(Conversation.next_response_due_at).is_not(None))
                | (col(Conversation.resolution_due_at).is_not(None)),
            ).limit(1000)
        ).scalars().all()
        warn_cache: dict[int | None, timedelta] = {}
        for conv in rows:
            deadlines = [d for d in (
                conv.first_response_due_at if conv.first_response_at is None else None,
                conv.next_response_due_at,
                conv.resolution_due_at,
            ) if d is not None]
            if not deadlines:
                continue
            due = min(deadlines)
            if conv.team_id not in warn_cache:
                warn_cache[conv.team_id] = sla.warn_before(team_settings(session, conv.team_id).get("sla"))
            state = "breached" if now >= due else "at_risk" if now >= due - warn_cache[conv.team_id] else "ok"
            if state == conv.sla_state or state == "ok":
                continue
            log.lock(session)
            if conv.sla_state == "ok":
                conv.priority += self.config.sla_boost
            conv.sla_state = state
            conv.updated_at = now
            sla_event = SlaBreached if state == "breached" else SlaAtRisk
            log.append(session, sla_event(conversation_id=conv.id, contact_id=conv.contact_id,
                                          due_at=due.isoformat(), priority=conv.priority,
                                          conversation=conversation_dict(conv)))
            changed += 1
        return changed
