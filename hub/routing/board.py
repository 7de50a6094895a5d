"""The routing board: every online agent's state (teams, skills, capacity, load), kept per process
and brought up to date from the event log inside each routing transaction.

Reading it from scratch (`queries.agent_states`) costs four queries over every agent and every
open conversation; routing did that for each conversation and each drain pass, and it was most of
the hub's CPU under load (bench/RESULTS.md, "Routing"). The board does it once, then follows the
log:

- A `Snapshot` is the state as of event id `event_id`, as committed. It is never changed in place.
- Each routing transaction works on its own `View`, a copy of the snapshot that `refresh()` brings
  up to date first, inside the transaction (which holds the write lock on PostgreSQL and is the one
  writer on SQLite, so nothing moves meanwhile), from the events appended since `event_id`:
  * an event about a conversation: read that conversation again; its slot moves from the agent it
    counted for to the one it counts for now. Whom a conversation counts for (its open assignee,
    or the agent it is offered to) only changes together with an event on that conversation
    (assign, requeue, transfer, offer, withdraw, status change, ingest's reopen), and an event
    names its conversation in `conversation_id`;
  * `presence.changed`, `agent.updated`, `team.member_added` / `_removed`: read that agent again;
  * `team.updated`: read the teams again; `routing.rules_changed`: read the database's routing
    rules again (when next needed); `contact.*` and `agent.session_ended`: nothing;
  * any other event without a conversation, too many events, another database, or a board older
    than `FULL_RELOAD_SECONDS`: read everything again.
  The router then changes the view as it assigns (`View.give`).
- When the transaction commits, its view becomes the process's snapshot (if no other transaction
  got there first, in which case it is dropped: the next refresh reads the same events again). A
  rolled back transaction's view is dropped. So nothing uncommitted outlives its transaction, and
  other processes' work reaches this one through their events, as it does the consoles.

Re-reading is idempotent (a conversation's slot is set from the database, never counted twice),
so a view may be refreshed any number of times in one transaction; the router does so at every
entry point, which also covers changes made earlier in the same transaction by other code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, bindparam, column, event, func, select, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col

from hub.agents.models import Agent, Team, TeamMember
from hub.conversations.models import Conversation
from hub.dbtypes import UTCDateTime
from hub.events.models import Event
from hub.plain_sql import PlainSql
from hub.routing.policy import AgentState
from hub.routing.settings import stored_settings

# Read everything again past this many events since the snapshot (a long idle spell while other
# nodes worked: one full read is cheaper than replaying them), and at least this often: a safety
# net for changes made outside the hub's actions (say, by hand in SQL), not a part of correctness.
MAX_EVENTS = 2_000
FULL_RELOAD_SECONDS = 60.0

AGENT_EVENTS = frozenset({"presence.changed", "agent.updated", "team.member_added", "team.member_removed"})
RULES_CHANGED = "routing.rules_changed"
# Events without a conversation that change nothing routing counts (a logout: the agent's presence
# and load stay as they are).
ROUTING_IGNORES = frozenset({"agent.session_ended"})
_VIEW = "hub_routing_view"

# (agent id, channel, is an offer): whom an open conversation takes a slot from.
Holder = tuple[int, str, bool]


def _engine_of(session: Session) -> Any:
    """The database a session works on: its engine, also when it is bound to one connection (the
    ingest writer's pinned one), so sessions of either kind share one up-to-date view."""
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


@dataclass(frozen=True)
class TeamInfo:
    id: int
    name: str
    settings: dict[str, Any]


def _utc_text(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def holder_of(status: str, assignee_id: int | None, offered_to_id: int | None, channel: str) -> Holder | None:
    """The slot a conversation takes (same rule as `queries.loads`): an open conversation counts for
    its assignee; an offer counts for the agent it is offered to until someone is assigned."""
    if assignee_id is not None:
        return (assignee_id, channel, False) if status == "open" else None
    if offered_to_id is not None:
        return (offered_to_id, channel, True)
    return None


# -- statements, built once ------------------------------------------------------------------------

# The events since the snapshot, each with its conversation as it is now (one round trip: on
# PostgreSQL this runs holding the write lock). Only agent and team events need their payload (an
# agent or team id); conversations' are big. Written once, read two ways: by `View.refresh`, and as
# one JSON value inside ingest's lookup statement (`BoardPrefetch`), which saves the round trip.
_EVENTS_AFTER_COLUMNS = ("e.id, e.type, e.conversation_id, CASE WHEN e.conversation_id IS NULL THEN e.payload END, "
                         "c.id, c.status, c.assignee_id, c.offered_to_id, c.channel, a.last_assigned_at")
_EVENTS_AFTER_FROM = (
    "FROM (SELECT id, type, conversation_id, payload FROM events WHERE id > {after} ORDER BY id LIMIT {limit}) e "
    "LEFT JOIN conversations c ON c.id = e.conversation_id "
    "LEFT JOIN agents a ON a.id = COALESCE(c.assignee_id, c.offered_to_id)"
)
_EVENTS_AFTER = text(
    f"SELECT {_EVENTS_AFTER_COLUMNS} {_EVENTS_AFTER_FROM.format(after=':after', limit=':limit')} ORDER BY e.id"
).columns(column("id"), column("type"), column("conversation_id"), column("payload", JSON), column("c_id"),
          column("status"), column("assignee_id"), column("offered_to_id"), column("channel"),
          column("last_assigned_at", UTCDateTime()))
# PostgreSQL: the same rows as one JSON array (the agent's `last_assigned_at` as ISO text); its
# parameters: after, limit.
_EVENTS_AFTER_JSON = (f"SELECT json_agg(json_build_array({_EVENTS_AFTER_COLUMNS}) ORDER BY e.id) "
                      f"{_EVENTS_AFTER_FROM.format(after='?::bigint', limit='?')}")
_LAST_EVENT = select(func.max(Event.id))
_ASSIGNED = select(col(Conversation.id), col(Conversation.assignee_id), col(Conversation.channel)).where(
    col(Conversation.assignee_id).is_not(None), col(Conversation.status) == "open"
)
_OFFERED = select(col(Conversation.id), col(Conversation.offered_to_id), col(Conversation.channel)).where(
    col(Conversation.offered_to_id).is_not(None), col(Conversation.assignee_id).is_(None)
)
_AGENT_COLUMNS = (
    col(Agent.id), col(Agent.presence), col(Agent.skills), col(Agent.capacities), col(Agent.last_assigned_at)
)
_ONLINE_AGENTS = select(*_AGENT_COLUMNS).where(
    col(Agent.active).is_(True), col(Agent.presence) == "online"
)
_SOME_AGENTS = _ONLINE_AGENTS.where(col(Agent.id).in_(bindparam("ids", expanding=True)))
_MEMBERS = select(col(TeamMember.team_id), col(TeamMember.agent_id))
_SOME_MEMBERS = _MEMBERS.where(col(TeamMember.agent_id).in_(bindparam("ids", expanding=True)))
_TEAMS = select(col(Team.id), col(Team.name), col(Team.settings))


@dataclass(frozen=True)
class Snapshot:
    bind: object  # the engine it was read from
    event_id: int
    loaded_at: float  # time.monotonic() of the last full read
    states: dict[int, AgentState]  # online, active agents
    loads: dict[int, dict[str, int]]  # every agent holding something, online or not
    holders: dict[int, Holder]  # conversation id -> the slot it takes
    offers: int  # how many holders are offers
    teams: dict[int, TeamInfo]
    rules: Any  # the routing rules read from the database (the router's to parse), or None: not read yet


class View:
    """One transaction's copy of the board. Outer dicts are copied; inner values are replaced, never
    changed in place, so the snapshot it came from stays as it was."""

    def __init__(self, board: Board, base: Snapshot | None, transaction: object) -> None:
        self.board = board
        self.base = base
        self.transaction = transaction
        self.bind: object = None
        self.event_id = -1
        self.loaded_at = 0.0
        self.states: dict[int, AgentState] = {}
        self.loads: dict[int, dict[str, int]] = {}
        self.holders: dict[int, Holder] = {}
        self.offers = 0
        self.teams: dict[int, TeamInfo] = {}
        self.rules: Any = None
        self._agents: list[AgentState] | None = None
        self._servable: set[int | None] | None | Literal[False] = False  # False: not worked out yet
        self.writes_seen: int | None = None  # `PlainSql.event_writes` when last brought up to date
        if base is not None:
            self.bind, self.event_id, self.loaded_at = base.bind, base.event_id, base.loaded_at
            self.states, self.loads = dict(base.states), dict(base.loads)
            self.holders, self.offers, self.teams = dict(base.holders), base.offers, dict(base.teams)
            self.rules = base.rules

    def snapshot(self) -> Snapshot:
        return Snapshot(self.bind, self.event_id, self.loaded_at, self.states, self.loads, self.holders,
                        self.offers, self.teams, self.rules)

    # -- reading -----------------------------------------------------------------------------

    def agents(self) -> list[AgentState]:
        """Online agents, for the policy."""
        if self._agents is None:
            self._agents = list(self.states.values())
        return self._agents

    def team_settings(self, session: Session, team_id: int | None) -> dict[str, Any]:
        team = self.team(session, team_id)
        return team.settings if team is not None else {}

    def team(self, session: Session, team_id: int | None) -> TeamInfo | None:
        if team_id is None:
            return None
        team = self.teams.get(team_id)
        if team is None:  # created since the last read (creating a team appends no event)
            self._read_teams(session)
            team = self.teams.get(team_id)
        return team

    def team_id_named(self, session: Session, name: str) -> int | None:
        """A team by name; a name of digits that no team has is taken as an id (as `find_team`)."""
        for _ in range(2):
            for team in self.teams.values():
                if team.name == name:
                    return team.id
            if name.isdigit() and int(name) in self.teams:
                return int(name)
            self._read_teams(session)  # perhaps created since (team names never change)
        return None

    def servable_teams(self) -> set[int | None] | None:
        """Queues that someone online has room for now (None in it: the shared inbox), or None
        when nobody online has room on any channel."""
        if self._servable is False:
            teams: set[int | None] = set()
            anyone = False
            for a in self.states.values():
                if any(n > a.load.get(ch, 0) for ch, n in a.capacity.items()):
                    anyone = True
                    teams |= a.team_ids
            self._servable = (teams | {None}) if anyone else None
        return self._servable

    # -- bringing it up to date ---------------------------------------------------------------

    def needs_full_read(self, session: Session) -> bool:
        return (
            self.bind is not _engine_of(session)
            or self.event_id < 0
            or time.monotonic() - self.loaded_at > self.board.full_reload_seconds
        )

    def refresh(self, session: Session) -> None:
        session.flush()  # this transaction's own changes, so far, are part of the picture
        if self.needs_full_read(session):
            self.load_all(session)
            return
        writes = PlainSql.of(session).event_writes
        if writes == self.writes_seen:
            # Read in this transaction, which has appended no event since: nothing moved (no one
            # else appends while it holds the write lock), so the log need not be read again.
            return
        rows = session.execute(_EVENTS_AFTER, {"after": self.event_id, "limit": MAX_EVENTS + 1}).all()
        self.apply(session, rows, writes)

    def apply(self, session: Session, rows: Sequence[Sequence[Any]], writes: int) -> None:
        """Bring the view up to date with the events after `event_id` (each with its conversation
        as it is now: `_EVENTS_AFTER`'s columns), read when this transaction had made `writes`
        event writes (`PlainSql.event_writes`)."""
        self.writes_seen = writes
        if not rows:
            return
        if len(rows) > MAX_EVENTS:
            self.load_all(session)
            return
        conversations: dict[int, tuple[Any, ...]] = {}
        agents: set[int] = set()
        teams = False
        for _id, kind, conversation_id, payload, *now in rows:
            if conversation_id is not None:
                conversations[conversation_id] = tuple(now)
            elif kind in AGENT_EVENTS:
                agents.add(int(payload["agent_id"]))
            elif kind == "team.updated":
                teams = True
            elif kind == RULES_CHANGED:
                self.rules = None
            elif not kind.startswith("contact.") and kind not in ROUTING_IGNORES:
                self.load_all(session)  # an event this board does not know: read everything
                return
        self.event_id = rows[-1][0]
        if teams:
            self._read_teams(session)
        for conv_id, (found, status, assignee_id, offered_to_id, channel, last_assigned_at) in conversations.items():
            self._moved(conv_id, None if found is None else holder_of(status, assignee_id, offered_to_id, channel),
                        last_assigned_at)
        if agents:
            self._read_agents(session, sorted(agents))

    def load_all(self, session: Session) -> None:
        self.writes_seen = PlainSql.of(session).event_writes
        self.bind = _engine_of(session)
        self.event_id = session.execute(_LAST_EVENT).scalar_one_or_none() or 0
        self.rules = None
        self.loaded_at = time.monotonic()
        holders: dict[int, Holder] = {}
        loads: dict[int, dict[str, int]] = {}
        for rows, is_offer in ((session.execute(_ASSIGNED).all(), False), (session.execute(_OFFERED).all(), True)):
            for conv_id, agent_id, channel in rows:
                holders[conv_id] = (agent_id, channel, is_offer)
                per_agent = loads.setdefault(agent_id, {})
                per_agent[channel] = per_agent.get(channel, 0) + 1
        self.holders, self.loads = holders, loads
        self.offers = sum(1 for h in holders.values() if h[2])
        self.states = {}
        self._read_agents(session, None)
        self._read_teams(session)

    def _read_teams(self, session: Session) -> None:
        self.teams = {tid: TeamInfo(tid, name, stored_settings(tid, settings))
                      for tid, name, settings in session.execute(_TEAMS)}

    def _read_agents(self, session: Session, ids: Sequence[int] | None) -> None:
        """Read these agents (None: every online one) again: presence, skills, capacity, teams."""
        if ids is None:
            rows = session.execute(_ONLINE_AGENTS).all()
            members = session.execute(_MEMBERS).all()
        else:
            rows = session.execute(_SOME_AGENTS, {"ids": list(ids)}).all()
            members = session.execute(_SOME_MEMBERS, {"ids": list(ids)}).all()
            for agent_id in ids:
                self.states.pop(agent_id, None)
        team_ids: dict[int, set[int]] = {}
        for team_id, agent_id in members:
            team_ids.setdefault(agent_id, set()).add(team_id)
        default = self.board.default_capacity
        for r in rows:
            self.states[r.id] = AgentState(
                id=r.id,
                presence=r.presence,
                team_ids=frozenset(team_ids.get(r.id, ())),
                skills=frozenset(r.skills or []),
                capacity={**default, **(r.capacities or {})},
                load=self.loads.get(r.id, {}),
                last_assigned_at=r.last_assigned_at,
            )
        self._agents, self._servable = None, False

    def _moved(self, conv_id: int, holder: Holder | None, last_assigned_at: datetime | None) -> None:
        """A conversation's slot is where the database says it is now (None: it takes none, or it
        is gone); `last_assigned_at` is that of the agent it is with."""
        self._set_holder(conv_id, holder)
        state = self.states.get(holder[0]) if holder is not None else None
        if state is not None and state.last_assigned_at != last_assigned_at:
            self.states[state.id] = replace(state, last_assigned_at=last_assigned_at)
            self._agents, self._servable = None, False

    # -- changing it --------------------------------------------------------------------------

    def _set_holder(self, conv_id: int, new: Holder | None) -> bool:
        old = self.holders.get(conv_id)
        if old == new:
            return False
        if old is not None:
            del self.holders[conv_id]
            self.offers -= old[2]
            self._add_load(old[0], old[1], -1)
        if new is not None:
            self.holders[conv_id] = new
            self.offers += new[2]
            self._add_load(new[0], new[1], 1)
        return True

    def _add_load(self, agent_id: int, channel: str, delta: int) -> None:
        load = dict(self.loads.get(agent_id, {}))
        n = load.get(channel, 0) + delta
        if n > 0:
            load[channel] = n
        else:
            load.pop(channel, None)
        self.loads[agent_id] = load
        state = self.states.get(agent_id)
        if state is not None:
            self.states[agent_id] = replace(state, load=load)
            self._agents, self._servable = None, False

    def give(self, conv_id: int, agent_id: int, channel: str, *, offer: bool, at: datetime) -> None:
        """The router gave this conversation to this agent (and set their `last_assigned_at`)."""
        self._set_holder(conv_id, (agent_id, channel, offer))
        state = self.states.get(agent_id)
        if state is not None:
            self.states[agent_id] = replace(state, last_assigned_at=at)
            self._agents, self._servable = None, False


class BoardPrefetch:
    """The board's refresh after event `after`, read by another statement (PostgreSQL): `sql` is a
    scalar subquery (`?` placeholders, `params`) answering the rows as JSON text, to be handed back
    through `arrived` with no event written since."""

    sql = _EVENTS_AFTER_JSON

    def __init__(self, board: Board, session: Session, after: int) -> None:
        self.board, self.session, self.after = board, session, after
        self.params = (after, MAX_EVENTS + 1)

    def arrived(self, rows: list[list[Any]]) -> None:
        self.board._prefetched(self.session, self.after, rows)


class Board:
    """The process's routing board (one per Router). Thread-safe."""

    def __init__(self, default_capacity: dict[str, int], *, full_reload_seconds: float = FULL_RELOAD_SECONDS) -> None:
        self.default_capacity = default_capacity
        self.full_reload_seconds = full_reload_seconds
        self._lock = threading.Lock()
        self._committed: Snapshot | None = None

    def view(self, session: Session) -> View:
        """This transaction's view, brought up to date. Call it holding the write lock."""
        view = self._view_of(session)
        view.refresh(session)
        return view

    def _current_view(self, session: Session) -> View | None:
        """This transaction's view, if it has one yet."""
        view: View | None = session.info.get(_VIEW)
        if view is None or view.transaction is not session.get_transaction() or view.board is not self:
            return None
        return view

    def _view_of(self, session: Session) -> View:
        view = self._current_view(session)
        if view is None:
            with self._lock:
                base = self._committed
            view = View(self, base, session.get_transaction())
            session.info[_VIEW] = view
        return view

    def prefetch(self, session: Session) -> BoardPrefetch | None:
        """The refresh this transaction's view would read next, for a caller that reads it together
        with its own statement (ingest's lookup); None if the view must read everything or has
        nothing to read. Holding the write lock."""
        session.flush()
        view = self._current_view(session)
        if view is None:
            # No view in this transaction yet: made only when rows come (most lookups bring none).
            with self._lock:
                base = self._committed
            if base is None or base.bind is not _engine_of(session) or (
                    time.monotonic() - base.loaded_at > self.full_reload_seconds):
                return None
            return BoardPrefetch(self, session, base.event_id)
        if view.needs_full_read(session) or PlainSql.of(session).event_writes == view.writes_seen:
            return None
        return BoardPrefetch(self, session, view.event_id)

    def _prefetched(self, session: Session, after: int, rows: list[list[Any]]) -> None:
        view = self._view_of(session)
        if view.event_id != after or view.needs_full_read(session):
            return  # moved meanwhile: its next refresh reads the log itself
        view.apply(session, [(*r[:9], None if r[9] is None else _utc_text(r[9])) for r in rows],
                   PlainSql.of(session).event_writes)

    def _promote(self, view: View) -> None:
        with self._lock:
            if self._committed is view.base:
                self._committed = view.snapshot()

    def forget(self) -> None:
        with self._lock:
            self._committed = None


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    view: View | None = session.info.pop(_VIEW, None)
    if view is not None:
        view.board._promote(view)


@event.listens_for(OrmSession, "after_rollback")
def _after_rollback(session: OrmSession) -> None:
    session.info.pop(_VIEW, None)

