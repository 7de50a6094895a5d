"""Logging in without holding the write lock: read the agent, check the password in a bounded pool
of threads, then write only the session row through the hub's writer.

Checking the password (argon2, ~0.45 s of one core) inside a write transaction held the hub-wide
write lock: 20 parallel failed logins made one inbound message wait 5-14 s (issue 13)."""

from __future__ import annotations

import asyncio
import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from hub.agents.actions import agent_dict, do_open_session, get_agent_by_email, team_ids_of
from hub.agents.passwords import digest, new_secret, verify_password
from hub.agents.throttle import LoginThrottle
from hub.clock import utcnow
from hub.errors import Busy, TooManyRequests, Unauthorized

if TYPE_CHECKING:
    from hub.runtime import Hub


class PasswordChecks:
    """At most `slots` verifications at once (argon2-cffi releases the GIL, so each takes a core),
    at most `queue` more waiting; beyond that `Busy` at once, so a burst of logins costs bounded
    threads and memory, and never the event loop."""

    def __init__(self, slots: int = 0, queue: int = 32) -> None:
        self.slots = slots or os.cpu_count() or 1
        self.queue = queue
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="password-check")
        self._pending = 0  # running and waiting, until each has really finished
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return max(0, self._pending - self.slots)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            if self._pending >= self.slots + self.queue:
                raise Busy("too many logins at once; try again in a moment")
            self._pending += 1
        try:
            done: Future[bool] = self._pool.submit(verify_password, password_hash, password)
        except BaseException:
            self._done(None)
            raise
        # Counted down when the check has really finished (or was dropped before it began), not
        # when a caller that went away stops waiting for it.
        done.add_done_callback(self._done)
        return await asyncio.wrap_future(done)

    def _done(self, _: object) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        """Stops the threads; a fresh pool (threads start at the first check) serves a restart."""
        old, self._pool = self._pool, ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="password-check")
        old.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class _Found:
    agent_id: int
    password_hash: str
    active: bool
    info: dict[str, object]


@dataclass(frozen=True)
class LoggedIn:
    token: str
    agent: dict[str, object]


class Logins:
    def __init__(self, hub: Hub, throttle: LoginThrottle, checks: PasswordChecks, ttl: timedelta) -> None:
        self.hub, self.throttle, self.checks, self.ttl = hub, throttle, checks, ttl

    async def log_in(self, email: str, password: str, *, address: str) -> LoggedIn:
        """A new session for the agent with this email and password; `Unauthorized` whether the
        email is unknown, the password wrong or the agent deactivated, after the same work."""
        account = email.strip().lower()
        wait = self.throttle.attempt(account, address)
        if wait > 0:
            raise TooManyRequests(f"too many failed logins; try again in {math.ceil(wait)} seconds",
                                  retry_after=wait)
        found = await asyncio.to_thread(self._find, account)
        # An unknown email is checked against a dummy hash (verify_password): the same time as a
        # known one, so answers' timing does not tell which emails have accounts.
        ok = await self.checks.verify(found.password_hash if found else None, password)
        if found is None or not ok or not found.active:
            self.throttle.failed(account, address)
            raise Unauthorized("wrong email or password")
        token = new_secret("hub")
        opened = await self.hub.write_async(partial(
            do_open_session, agent_id=found.agent_id, password_hash=found.password_hash,
            token_hash=digest(token), expires_at=utcnow() + self.ttl,
        ))
        if not opened:  # deactivated, or a new password, while this one was being checked
            raise Unauthorized("wrong email or password")
        self.throttle.succeeded(account, address)
        return LoggedIn(token, found.info)

    def _find(self, email: str) -> _Found | None:
        with self.hub.db.read() as s:
            agent = get_agent_by_email(s, email)
            if agent is None:
                return None
            assert agent.id is not None
            return _Found(agent.id, agent.password_hash, agent.active, agent_dict(agent, team_ids_of(s, agent.id)))

    def close(self) -> None:
        self.checks.close()
