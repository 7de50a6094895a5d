"""Request dependencies: the hub, and who is asking (session cookie or bearer token)."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from hub.agents.actions import token_owner
from hub.clock import utcnow
from hub.errors import Forbidden, Unauthorized
from hub.events.visibility import AgentScope
from hub.runtime import Hub

SESSION_COOKIE = "hub_session"
# A token's caller (agent, role, teams) is remembered this long per process, as API keys are
# (`Hub.check_api_key`): agents' consoles call in bursts, and reading the token, the agent and their
# teams cost more than the rest of a status change. Logout, password, role, activity and team
# changes made through this node forget the agent's entries at once (`forget_caller`); other nodes
# and the CLI take effect within this many seconds.
CALLER_CACHE_SECONDS = 5.0
CALLER_CACHE_SIZE = 10_000


# Dependencies that need no I/O are `async def`: FastAPI runs a plain `def` dependency in its
# thread pool, and those hops (two per request, before the endpoint's own) were a tenth of the
# CPU of an agent's status change (bench/RESULTS.md).
async def get_hub(request: Request) -> Hub:
    return request.app.state.hub


@dataclass(frozen=True)
class Caller:
    agent_id: int
    email: str
    name: str
    role: str
    scope: AgentScope
    token: str


def token_from(headers: dict[str, str] | object, cookies: dict[str, str]) -> str | None:
    auth = getattr(headers, "get", lambda _k: None)("authorization")
    if auth and auth.lower().startswith("bearer "):
        return str(auth[7:].strip()) or None
    return cookies.get(SESSION_COOKIE)


class CallerCache:
    """Callers by token, each kept until CALLER_CACHE_SECONDS after it was read or its token
    expires, whichever is first. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, datetime, Caller]] = {}
        # Bumped by every forget: a caller read before a forget is not remembered after it (the
        # read may have seen the token or the agent as they were before the change).
        self.generation = 0

    def get(self, token: str) -> Caller | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        read_at, expires_at, caller = entry
        if time.monotonic() - read_at >= CALLER_CACHE_SECONDS or expires_at <= utcnow():
            with self._lock:
                if self._entries.get(token) is entry:
                    del self._entries[token]
            return None
        return caller

    def put(self, caller: Caller, expires_at: datetime, read_at: float, generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= CALLER_CACHE_SIZE:
                self._entries.clear()
            self._entries[caller.token] = (read_at, expires_at, caller)

    def forget_token(self, token: str) -> None:
        with self._lock:
            self.generation += 1
            self._entries.pop(token, None)

    def forget_agent(self, agent_id: int) -> None:
        with self._lock:
            self.generation += 1
            for token in [t for t, (_, _, c) in self._entries.items() if c.agent_id == agent_id]:
                del self._entries[token]


_caches: weakref.WeakKeyDictionary[Hub, CallerCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def caller_cache(hub: Hub) -> CallerCache:
    cache = _caches.get(hub)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(hub, CallerCache())
    return cache


def forget_caller(hub: Hub, *, agent_id: int | None = None, token: str | None = None) -> None:
    """Call once a change to who a token's caller is (logout, password, role, activity, teams) has
    committed: this node stops using the old caller at once. (Not before the commit: a request
    reading the token meanwhile would remember the old caller again.)"""
    cache = caller_cache(hub)
    if token is not None:
        cache.forget_token(token)
    if agent_id is not None:
        cache.forget_agent(agent_id)


def caller_for_token(hub: Hub, token: str | None) -> Caller | None:
    if not token:
        return None
    cache = caller_cache(hub)
    caller = cache.get(token)
    if caller is not None:
        return caller
    read_at, generation = time.monotonic(), cache.generation
    found = read_caller(hub, token)
    if found is None:
        return None
    caller, expires_at = found
    cache.put(caller, expires_at, read_at, generation)
    return caller


def read_caller(hub: Hub, token: str) -> tuple[Caller, datetime] | None:
    """The token's caller as the database has it now, and when the token expires (no cache: an
    open websocket re-checks its session with this, also when the change was made on another node)."""
    with hub.db.read() as s:
        owner = token_owner(s, token)
    if owner is None:
        return None
    caller = Caller(owner.agent_id, owner.email, owner.name, owner.role,
                    AgentScope(owner.agent_id, owner.role, owner.team_ids, hub.options.visibility), token)
    return caller, owner.expires_at


async def current_caller(request: Request, hub: Hub = Depends(get_hub)) -> Caller:
    token = token_from(request.headers, request.cookies)
    # A remembered caller is answered here; reading the token from the database takes a thread.
    caller = caller_cache(hub).get(token) if token else None
    if caller is None:
        caller = await run_in_threadpool(caller_for_token, hub, token)
    if caller is None:
        raise Unauthorized("log in first: send the session cookie or an Authorization: Bearer token")
    return caller


def require_role(*roles: str) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: Caller = Depends(current_caller)) -> Caller:
        if caller.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")
        return caller

    return check


require_admin = require_role("admin")
require_supervisor = require_role("supervisor", "admin")

