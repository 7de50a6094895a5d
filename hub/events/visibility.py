"""Who may see and do what: the one visibility rule, for routes, replay and live streaming alike.

The rule (DESIGN.md contract 8), in two modes (setting `visibility`):

- `company` (default): every agent may *read* every customer's whole history, every conversation
  included, and add internal notes wherever they may read (that is the collaboration). They reply
  and change status only where the work is theirs: assigned to them, or nobody's in their scope of
  work (their teams' queues, the shared team-less inbox), which they may also take for themselves;
  they hand back their own. Another agent's conversation, or another team's, is theirs to read and
  annotate only.
- `team`: teams are isolated completely: an agent reads (conversations, a contact's timeline,
  contact search) only what their *scope of work* holds: their own conversations, their teams',
  and the shared inbox. What they may do there is as in `company`.

Supervisors and admins read and do everything in both modes. Listing every customer at once is
for them; agents search with a real query.

The predicates are here, on `AgentScope`; `hub.access` raises the errors routes answer with, and
`hub.conversations.queries` turns the same rule into SQL filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hub.events.log import EventView

Visibility = Literal["company", "team"]
VISIBILITIES: tuple[Visibility, ...] = ("company", "team")


@dataclass(frozen=True)
class AgentScope:
    agent_id: int
    role: str
    team_ids: frozenset[int]
    visibility: Visibility = "company"

    @property
    def sees_everything(self) -> bool:
        return self.role in ("supervisor", "admin")

    @property
    def isolated(self) -> bool:
        """Whether this caller reads only their scope of work (`team` mode, plain agents)."""
        return self.visibility == "team" and not self.sees_everything

    def works_on(self, team_id: int | None, assignee_id: int | None) -> bool:
        """The scope of work: their own conversations, their teams', and the shared inbox."""
        if self.sees_everything or assignee_id == self.agent_id:
            return True
        return team_id is None or team_id in self.team_ids

    def can_see_conversation(self, team_id: int | None, assignee_id: int | None) -> bool:
        """May read it (messages, notes, events) and add internal notes to it."""
        return not self.isolated or self.works_on(team_id, assignee_id)

    def can_act(self, team_id: int | None, assignee_id: int | None) -> bool:
        """May reply to the customer and change the status: the work is theirs (assigned to them), or
        theirs to take (nobody's, in their scope of work: replying there is no more than taking it
        first would allow). Never another agent's conversation, nor another team's queue."""
        if self.sees_everything or assignee_id == self.agent_id:
            return True
        return assignee_id is None and self.works_on(team_id, None)

    def can_assign(self, team_id: int | None, assignee_id: int | None, *, to: int | None,
                   to_team: int | None) -> bool:
        """May give the conversation (`team_id`, `assignee_id` now) to agent `to` in `to_team`.
        Agents may take an unassigned one of their scope of work for themselves, or hand back their
        own (`to` None), without moving it to another team."""
        if self.sees_everything:
            return True
        if to_team != team_id:
            return False
        if to == self.agent_id:
            return assignee_id == self.agent_id or (assignee_id is None and self.works_on(team_id, None))
        return to is None and assignee_id == self.agent_id

    @property
    def can_list_contacts(self) -> bool:
        """May list every customer at once (agents search with a query)."""
        return self.sees_everything


def can_see(scope: AgentScope, event: EventView) -> bool:
    """Whether the agent's websocket receives this event.

    In both modes agents receive the events of their scope of work only (their own conversations,
    their teams', the shared inbox), not every conversation they may read: in `company` mode that
    would be the whole company's traffic on every console. A conversation they open outside their
    scope is read through the API (GET /api/v1/conversations/{id}); a note that @mentions them
    there reaches them live. Events of no conversation: an
    agent's own, presence, and company-wide ones (a contact's changes: in `team` mode, supervisors
    only, as contacts are isolated too).
    """
    if event.conversation_id is None:
        target = event.payload.get("agent_id")
        if scope.sees_everything or target == scope.agent_id or event.type.startswith("presence."):
            return True
        return target is None and not (scope.isolated and event.contact_id is not None)
    if scope.works_on(event.team_id, event.assignee_id):
        return True
    # A note that @mentions them, where they may read it (a colleague asking for help).
    if event.type == "note.created" and scope.agent_id in (event.payload.get("mentions") or ()):
        return scope.can_see_conversation(event.team_id, event.assignee_id)
    # A conversation that moved away still tells its previous owner, so their console drops it.
    prev_team = event.payload.get("from_team_id")
    prev_agent = event.payload.get("from_assignee_id")
    return prev_agent == scope.agent_id or (prev_team is not None and prev_team in scope.team_ids)


def can_see_customer_event(scope: AgentScope, event: EventView, contact_id: int | None) -> bool:
    """Whether an event of the customer whose sidebar the agent's console shows (`contact_id`, a
    contact they may read: `hub.access.check_contact`) reaches their socket beyond `can_see`: what
    the contact's API shows them (GET /api/v1/contacts/{id} and its timeline): the customer's own
    events, and those of the customer's conversations the agent may read, in any team."""
    if contact_id is None or event.contact_id != contact_id:
        return False
    return event.conversation_id is None or scope.can_see_conversation(event.team_id, event.assignee_id)
