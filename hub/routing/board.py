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

Here: the `Board` and its committed snapshot; the view is hub.routing.board_view, the statements
hub.routing.board_sql.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from hub.plain_sql import PlainSql
from hub.routing.board_sql import EVENTS_AFTER_JSON
from hub.routing.board_view import FULL_RELOAD_SECONDS, MAX_EVENTS, Snapshot, View, engine_of, utc_text

_VIEW = "hub_routing_view"


class BoardPrefetch:
    """The board's refresh after event `after`, read by another statement (PostgreSQL): `sql` is a
    scalar subquery (`?` placeholders, `params`) answering the rows as JSON text, to be handed back
    through `arrived` with no event written since."""

    sql = EVENTS_AFTER_JSON

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
            if base is None or base.bind is not engine_of(session) or (
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
        view.apply(session, [(*r[:9], None if r[9] is None else utc_text(r[9])) for r in rows],
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
