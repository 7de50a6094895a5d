"""The routing loop of one process: drains queues when capacity may have freed, and runs the
timers (offer timeouts, silent consoles, escalation, SLA).

It follows the event log like a console does, so a resolution or a presence change on any node
triggers a drain here too; a periodic tick covers the timers. Every pass is its own transaction
under the router lock (see hub.routing.actions), so passes on several nodes are safe.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from sqlalchemy import select
from sqlmodel import col

from hub.agents.models import Team
from hub.db import Database
from hub.events.fanout import EventBus
from hub.events.log import EventView
from hub.routing.actions import Router
from hub.tasks import cancel_and_wait

logger = logging.getLogger(__name__)
_TEAM_IDS = select(col(Team.id)).order_by(col(Team.id))

# Events after which someone may have room, or a waiting conversation may now fit somewhere.
# (New conversations are routed inside their own ingest transaction: no drain needed for them.)
DRAIN_ON = {
    "conversation.status_changed",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.requeued",
    "conversation.escalated",
    "conversation.offer_withdrawn",
    "presence.changed",
    "agent.updated",
    "team.updated",
    "team.member_added",
}


def may_free_room(event: EventView) -> bool:
    if event.type == "conversation.assigned":
        # An automatic assignment of a waiting conversation frees nothing; a hand-over does.
        return event.payload.get("from_assignee_id") is not None
    return event.type in DRAIN_ON


class RoutingService:
    def __init__(self, db: Database, bus: EventBus, router: Router, *, tick: float = 1.0,
                 coalesce: float = 0.05) -> None:
        self.db = db
        self.coalesce = coalesce
        self.bus = bus
        self.router = router
        self.tick = tick
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="routing")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        sub = self.bus.subscribe(max_pending=1_000_000)
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        try:
            while True:
                timeout = max(0.0, next_tick - loop.time())
                need_drain = False
                try:
                    batch = await asyncio.wait_for(sub.get(), timeout=timeout)
                    need_drain = any(may_free_room(ev) for ev in batch)
                    # Coalesce whatever else is already queued into this one pass.
                    while not sub.queue.empty():
                        more = await sub.get()  # always take it: `or` would skip the await and spin
                        need_drain = need_drain or any(may_free_room(ev) for ev in more)
                    if need_drain and self.coalesce > 0:
                        # Room may have freed: wait a moment, so that resolves arriving together
                        # cost one pass (a drain is a write transaction even when nothing waits).
                        await asyncio.sleep(self.coalesce)
                        while not sub.queue.empty():
                            await sub.get()
                except TimeoutError:
                    pass
                if sub.overflowed.is_set():
                    self.bus.unsubscribe(sub)
                    sub = self.bus.subscribe(max_pending=1_000_000)
                    need_drain = True
                try:
                    if loop.time() >= next_tick:
                        next_tick = loop.time() + self.tick
                        await asyncio.to_thread(self.timers)
                        need_drain = True
                    if need_drain:
                        await asyncio.to_thread(self.drain_all)
                except Exception:
                    logger.exception("routing pass failed; will retry")
        finally:
            self.bus.unsubscribe(sub)

    def drain_all(self) -> int:
        """Drain every queue; if that fails, drain them one at a time, so that a queue whose
        routing fails (logged) leaves the others served."""
        try:
            return self._drain(None)
        except Exception:
            logger.exception("routing drain failed; draining queue by queue")
        with self.db.read() as s:
            queues: list[int | None] = [*s.execute(_TEAM_IDS).scalars(), None]
        total = 0
        for queue in queues:
            try:
                total += self._drain([queue])
            except Exception:
                logger.exception("routing drain failed for %s; the other queues go on",
                                 "the shared inbox" if queue is None else f"team {queue}")
        return total

    def _drain(self, only: list[int | None] | None) -> int:
        total = 0
        while True:
            with self.db.write() as s:
                placed, more = self.router.drain_pass(s, only=only)
            total += placed
            if placed == 0 or not more:
                return total

    def timers(self) -> None:
        """Each timer in its own transaction, escalation one team at a time: a failure is logged and
        the others still run (one team's failure used to stop the queues of every team)."""
        steps = [("offer timeouts", self.router.expire_offers),
                 ("silent consoles", self.router.offline_silent_consoles)]
        try:
            with self.db.read() as s:
                teams = self.router.escalating_teams(s)
        except Exception:
            logger.exception("routing timer failed: reading the teams to escalate")
            teams = []
        steps += [(f"escalation of team {team_id}", partial(self.router.escalate_team, team_id=team_id))
                  for team_id in teams]
        steps.append(("SLA watch", self.router.check_sla))
        for name, step in steps:
            try:
                with self.db.write() as s:
                    step(s)
            except Exception:
                logger.exception("routing timer failed: %s; the others go on", name)
