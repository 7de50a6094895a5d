"""What a waiting customer is told: their place in their queue and an honest estimate of the wait.

The place is counted the way the router orders a queue (`hub.routing.policy.queue_order`: higher
priority first, then the longest waiting, then the lowest id) among the open, unassigned
conversations of the same team; conversations already being offered to an agent count as ahead.
A conversation on offer is first.

Every waiting customer's socket asks again every few seconds, so a queue is not counted per ask
(that cost grew with the square of the customers waiting): `Queues` keeps, per process, each
team's `Line` (its waiting conversations in the router's order, the ones on offer, the agents
online and the median wait), read by one query per team when first asked after it is `LINE_SECONDS`
old, and shared by every ask. An ask reads only its own conversation's row (so an assigned or
resolved conversation stops waiting at once) and finds its place in the line by bisection; the
others' places move up when the line is next read.

The estimate comes from the log: each `conversation.assigned` that gave a waiting conversation
to an agent carries `waited_from` (hub.events.types.conversations), so the time each customer of
a team waited is known. `AssignmentWaits` keeps the last hour of those per team, per process,
reading only the events appended since its last look (at most once per line read). The
estimate is that median wait, times the customers ahead per online agent of the team (never less
than the median); None (unknown) when nobody of the team was assigned in the last hour or no agent
of the team is online. The routing policy's skill rules are not taken into account.
"""

from __future__ import annotations

import bisect
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Text, cast, func, select
from sqlmodel import Session, col

from hub.agents.models import Agent, TeamMember
from hub.clock import utcnow
from hub.conversations.models import Conversation
from hub.db import table_of
from hub.events.models import Event
from hub.jsontext import loads
from hub.ports import QueueStatus
from hub.routing.settings import find_team

WINDOW = timedelta(hours=1)
# A process's first look reads at most this many of the latest events (an hour of a busy hub's
# assignments is far fewer; the log before them is not worth a scan).
FIRST_LOOK_EVENTS = 200_000
ASSIGNED = "conversation.assigned"
# How long a team's line is reused before it is read again (the widget asks every 15 s by default).
LINE_SECONDS = 1.0


class AssignmentWaits:
    """Per team (None: the shared inbox), the waits of the last hour's assignments, oldest first."""

    def __init__(self) -> None:
        self._after: int | None = None  # the last event id looked at
        self._waits: dict[int | None, deque[tuple[datetime, float]]] = {}
        self._lock = threading.Lock()

    def median(self, session: Session, team_id: int | None) -> float | None:
        """The median wait (seconds) of the team's customers assigned in the last hour, or None."""
        with self._lock:
            self._look(session)
            waits = self._waits.get(team_id)
            cutoff = utcnow() - WINDOW
            while waits and waits[0][0] < cutoff:
                waits.popleft()
            return statistics.median(w for _, w in waits) if waits else None

    def _look(self, session: Session) -> None:
        e = table_of(Event).c
        after = self._after
        if after is None:
            last = session.execute(select(func.max(e.id))).scalar_one_or_none() or 0
            after = max(0, int(last) - FIRST_LOOK_EVENTS)
        rows = session.execute(
            select(e.id, cast(e.payload, Text), e.created_at).where(e.id > after, e.type == ASSIGNED).order_by(e.id)
        ).all()
        cutoff = utcnow() - WINDOW
        for event_id, payload, created_at in rows:
            after = max(after, int(event_id))
            at = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
            data = loads(payload) if isinstance(payload, str) else payload
            since = data.get("waited_from")
            if at < cutoff or not since or data.get("assignee_id") is None:
                continue
            waited = (at - datetime.fromisoformat(since).astimezone(UTC)).total_seconds()
            self._waits.setdefault(data.get("team_id"), deque()).append((at, max(0.0, waited)))
        if self._after is None or rows:
            # Events commit in id order (hub.events.log), so nothing below the last id seen appears later.
            self._after = after


def agents_online(session: Session, team_id: int | None) -> int:
    """Active agents online in the team (None: anywhere)."""
    stmt = select(func.count()).select_from(Agent).where(col(Agent.active).is_(True), col(Agent.presence) == "online")
    if team_id is not None:
        stmt = stmt.where(col(Agent.id).in_(select(col(TeamMember.agent_id)).where(col(TeamMember.team_id) == team_id)))
    return int(session.execute(stmt).scalar_one())


def online_in_team(session: Session, team: str | None) -> int:
    """`agents_online` of a team named by its name or id (None: anywhere); 0 for no such team."""
    if team is None:
        return agents_online(session, None)
    found = find_team(session, team)
    return 0 if found is None or found.id is None else agents_online(session, found.id)


Place = tuple[int, datetime, int]  # (-priority, waiting since, id): `policy.queue_order`'s key


@dataclass(frozen=True)
class Line:
    """A team's queue as read at `read_at` (monotonic seconds)."""

    read_at: float
    order: list[Place]  # the waiting conversations not on offer, sorted
    offered: frozenset[int]  # conversation ids on offer to an agent: ahead of everyone
    online: int  # `agents_online`
    median: float | None  # `AssignmentWaits.median`


class Queues:
    """Per process: each team's (None: the shared inbox) `Line`, read again when `ttl` old."""

    def __init__(self, ttl: float = LINE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self.waits = AssignmentWaits()
        self._lines: dict[int | None, Line] = {}
        self._lock = threading.Lock()  # one read per team per ttl, however many ask at once

    def line(self, session: Session, team_id: int | None) -> Line:
        with self._lock:
            line = self._lines.get(team_id)
            if line is None or self.clock() - line.read_at >= self.ttl:
                line = self._lines[team_id] = self._read(session, team_id)
            return line

    def _read(self, session: Session, team_id: int | None) -> Line:
        c = Conversation
        same_team = col(c.team_id).is_(None) if team_id is None else col(c.team_id) == team_id
        rows = session.execute(
            select(col(c.id), col(c.priority), col(c.waiting_since), col(c.created_at), col(c.offered_to_id))
            .where(col(c.status) == "open", col(c.assignee_id).is_(None), same_team)
        ).all()
        order = sorted((-priority, waiting or created, cid) for cid, priority, waiting, created, offered in rows
                       if offered is None)
        offered = frozenset(cid for cid, *_, offered_to in rows if offered_to is not None)
        return Line(read_at=self.clock(), order=order, offered=offered, online=agents_online(session, team_id),
                    median=self.waits.median(session, team_id))


def queue_status(session: Session, conversation_id: int, queues: Queues) -> QueueStatus | None:
    """Where this conversation waits for an agent, or None when it is not waiting (it has an agent,
    or is not open)."""
    c = Conversation
    row = session.execute(
        select(col(c.status), col(c.assignee_id), col(c.offered_to_id), col(c.team_id), col(c.priority),
               col(c.waiting_since), col(c.created_at))
        .where(col(c.id) == conversation_id)
    ).one_or_none()
    if row is None:
        return None
    status, assignee_id, offered_to_id, team_id, priority, waiting, created = row
    if status != "open" or assignee_id is not None:
        return None
    line = queues.line(session, team_id)
    if offered_to_id is not None:
        position = 1
    else:
        ahead = bisect.bisect_left(line.order, (-priority, waiting or created, conversation_id))
        position = 1 + len(line.offered - {conversation_id}) + ahead
    online, median = line.online, line.median
    wait = None if median is None or online == 0 else median * max(1.0, position / online)
    return QueueStatus(conversation_id=conversation_id, position=position, wait_seconds=wait, agents_online=online)
