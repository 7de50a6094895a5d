"""SLA deadlines of a conversation (first response, next response, resolution), set from its
team's stored settings and business hours when it is routed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from hub.agents.models import Team
from hub.conversations.models import Conversation
from hub.routing import sla
from hub.routing.settings import stored_settings


def team_settings(session: Session, team_id: int | None) -> dict[str, Any]:
    if team_id is None:
        return {}
    team = session.get(Team, team_id)
    return stored_settings(team_id, team.settings) if team is not None else {}



def set_sla_deadlines(session: Session, conv: Conversation, now: datetime,
                      settings: dict[str, Any] | None = None) -> None:
    if settings is None:
        settings = team_settings(session, conv.team_id)
    targets = sla.targets_for(settings.get("sla"), conv.priority)
    if not targets:
        return
    hours = sla.parse_business_hours(settings.get("business_hours"))
    if conv.first_response_at is None and "first_response" in targets and conv.first_response_due_at is None:
        conv.first_response_due_at = sla.add_business_seconds(now, targets["first_response"], hours)
    if "resolution" in targets and conv.resolution_due_at is None:
        conv.resolution_due_at = sla.add_business_seconds(now, targets["resolution"], hours)


def set_next_response_deadline(session: Session, conv: Conversation, now: datetime,
                               settings: dict[str, Any] | None = None) -> None:
    if conv.first_response_at is None or conv.next_response_due_at is not None:
        return
    if settings is None:
        settings = team_settings(session, conv.team_id)
    targets = sla.targets_for(settings.get("sla"), conv.priority)
    if "next_response" in targets:
        hours = sla.parse_business_hours(settings.get("business_hours"))
        conv.next_response_due_at = sla.add_business_seconds(now, targets["next_response"], hours)
