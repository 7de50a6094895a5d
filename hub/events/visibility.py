"""Who may see which event: one rule for replay and live streaming alike."""

from __future__ import annotations

from dataclasses import dataclass

from hub.events.log import EventView


@dataclass(frozen=True)
class AgentScope:
    agent_id: int
    role: str
    team_ids: frozenset[int]

    @property
    def sees_everything(self) -> bool:
        return self.role in ("supervisor", "admin")

    def can_see_conversation(self, team_id: int | None, assignee_id: int | None) -> bool:
        """Agents see their own conversations, their teams', and the shared (team-less) inbox."""
        if self.sees_everything or assignee_id == self.agent_id:
            return True
        return team_id is None or team_id in self.team_ids


def can_see(scope: AgentScope, event: EventView) -> bool:
    if event.conversation_id is None:
        target = event.payload.get("agent_id")
        return target is None or scope.sees_everything or target == scope.agent_id or event.type.startswith(
            "presence."
        )
    if scope.can_see_conversation(event.team_id, event.assignee_id):
        return True
    # A conversation that moved away still tells its previous owner, so their console drops it.
    prev_team = event.payload.get("from_team_id")
    prev_agent = event.payload.get("from_assignee_id")
    return prev_agent == scope.agent_id or (prev_team is not None and prev_team in scope.team_ids)
