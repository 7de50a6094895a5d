"""Request dependencies: the hub, and who is asking (session cookie or bearer token)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request, WebSocket

from hub.agents.actions import agent_for_token, scope_of
from hub.agents.models import Agent
from hub.errors import Forbidden, Unauthorized
from hub.events.visibility import AgentScope
from hub.runtime import Hub

SESSION_COOKIE = "hub_session"


def get_hub(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Caller:
    agent_id: int
    email: str
    name: str
    role: str
    scope: AgentScope
    token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")


def token_from(headers: dict[str, str] | object, cookies: dict[str, str]) -> str | None:
    auth = getattr(headers, "get", lambda _k: None)("authorization")
    if auth and auth.lower().startswith("bearer "):
        return str(auth[7:].strip()) or None
    return cookies.get(SESSION_COOKIE)


def caller_for_token(hub: Hub, token: str | None) -> Caller | None:
    if not token:
        return None
    with hub.db.read() as s:
        agent: Agent | None = agent_for_token(s, token)
        if agent is None:
            return None
        return Caller(agent.id, agent.email, agent.name, agent.role, scope_of(s, agent), token)  # type: ignore[arg-type]


def current_caller(request: Request, hub: Hub = Depends(get_hub)) -> Caller:
    caller = caller_for_token(hub, token_from(request.headers, request.cookies))
    if caller is None:
        raise Unauthorized("log in first: send the session cookie or an Authorization: Bearer token")
    return caller


def require_role(*roles: str) -> Callable[[Caller], Caller]:
    def check(caller: Caller = Depends(current_caller)) -> Caller:
        if caller.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")
        return caller

    return check


require_admin = require_role("admin")
require_supervisor = require_role("supervisor", "admin")


def websocket_caller(ws: WebSocket, hub: Hub) -> Caller | None:
    return caller_for_token(hub, token_from(ws.headers, ws.cookies))
