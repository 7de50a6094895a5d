"""Routing rules kept in the database (admins add and remove them; rules from config come first)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from hub.errors import Invalid, NotFound
from hub.events import log
from hub.events.types import RulesChanged
from hub.routing.models import RoutingRule
from hub.routing.settings import find_team


def rule_dict(r: RoutingRule) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "position": r.position, "match": r.match, "team_id": r.team_id,
            "priority": r.priority, "skill": r.skill}


def list_rules(session: Session) -> list[RoutingRule]:
    return list(session.execute(select(RoutingRule).order_by(col(RoutingRule.position), col(RoutingRule.id))).scalars())


def do_create_rule(session: Session, *, name: str, position: int, match: dict[str, Any], team: int | str | None,
                   priority: int, skill: str | None, actor_agent_id: int | None) -> RoutingRule:
    """`team` by id or name (None: the rule sets no team); an unknown one is refused (422)."""
    found = find_team(session, team) if team is not None else None
    if team is not None and found is None:
        raise Invalid(f"team: no team {team!r}")
    rule = RoutingRule(name=name, position=position, match=match, team_id=found.id if found else None,
                       priority=priority, skill=skill)
    session.add(rule)
    session.flush()
    # Routing boards keep the rules until this event says they changed (hub/routing/board.py).
    log.append(session, RulesChanged(actor_agent_id=actor_agent_id, created=rule_dict(rule)))
    return rule


def do_delete_rule(session: Session, rule_id: int, *, actor_agent_id: int | None) -> None:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"routing rule {rule_id} does not exist")
    session.delete(rule)
    log.append(session, RulesChanged(actor_agent_id=actor_agent_id, deleted=rule_id))
