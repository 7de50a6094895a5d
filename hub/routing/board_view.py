"""One routing transaction's copy of the board (`View`) and the committed state it starts from
(`Snapshot`): how it is brought up to date from the event log and changed as the router assigns.
See hub.routing.board for the whole picture."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlmodel import Session

from hub import jsontext
from hub.plain_sql import PlainSql, read_when
from hub.routing.board_sql import (
    ASSIGNED,
    EVENTS_AFTER_ROWS,
    LAST_EVENT,
    MEMBERS,
    OFFERED,
    ONLINE_AGENTS,
    SOME_AGENTS,
    SOME_MEMBERS,
    TEAMS,
)
from hub.routing.policy import AgentState
from hub.routing.settings import stored_settings

if TYPE_CHECKING:
    from hub.routing.board import Board

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

# (agent id, channel, is an offer): whom an open conversation takes a slot from.
Holder = tuple[int, str, bool]


def engine_of(session: Session) -> Any:
    """The database a session works on: its engine, also when it is bound to one connection (the
    ingest writer's pinned one), so sessions of either kind share one up-to-date view."""
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


@dataclass(frozen=True)
class TeamInfo:
    id: int
    name: str
    settings: dict[str, Any]


def _event_row(r: Sequence[Any]) -> tuple[Any, ...]:
    """An `EVENTS_AFTER_ROWS` row read in plain SQL as SQLAlchemy read it: the payload parsed (SQLite
    hands back text), the agent's `last_assigned_at` an aware UTC datetime."""
    payload = jsontext.loads(r[3]) if isinstance(r[3], str) else r[3]
    return (*r[:3], payload, *r[4:9], None if r[9] is None else read_when(r[9]))


def utc_text(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def holder_of(status: str, assignee_id: int | None, offered_to_id: int | None, channel: str) -> Holder | None:
    """The slot a conversation takes (same rule as `queries.loads`): an open conversation counts for
    its assignee; an offer counts for the agent it is offered to until someone is assigned."""
    if assignee_id is not None:
        return (assignee_id, channel, False) if status == "open" else None
    if offered_to_id is not None:
        return (offered_to_id, channel, True)
    return None


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
            self.bind is not engine_of(session)
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
        sql = PlainSql.of(session)
        sql.execute(EVENTS_AFTER_ROWS, (self.event_id, MAX_EVENTS + 1))
        self.apply(session, [_event_row(r) for r in sql.fetchall()], writes)

    def apply(self, session: Session, rows: Sequence[Sequence[Any]], writes: int) -> None:
        """Bring the view up to date with the events after `event_id` (each with its conversation
        as it is now: `EVENTS_AFTER_ROWS`' columns, the payload parsed and the time aware), read
        when this transaction had made `writes` event writes (`PlainSql.event_writes`)."""
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
        self.bind = engine_of(session)
        self.event_id = session.execute(LAST_EVENT).scalar_one_or_none() or 0
        self.rules = None
        self.loaded_at = time.monotonic()
        holders: dict[int, Holder] = {}
        loads: dict[int, dict[str, int]] = {}
        for rows, is_offer in ((session.execute(ASSIGNED).all(), False), (session.execute(OFFERED).all(), True)):
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
                      for tid, name, settings in session.execute(TEAMS)}

    def _read_agents(self, session: Session, ids: Sequence[int] | None) -> None:
        """Read these agents (None: every online one) again: presence, skills, capacity, teams."""
        if ids is None:
            rows = session.execute(ONLINE_AGENTS).all()
            members = session.execute(MEMBERS).all()
        else:
            rows = session.execute(SOME_AGENTS, {"ids": list(ids)}).all()
            members = session.execute(SOME_MEMBERS, {"ids": list(ids)}).all()
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
