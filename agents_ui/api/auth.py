"""Login and logout: a session cookie for the browser and the same token as a bearer for tools."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from agents_ui.api.schemas import LoginIn
from agents_ui.deps import SESSION_COOKIE, Caller, current_caller, forget_caller, get_hub
from hub.agents.actions import agent_dict, authenticate, do_create_token, do_revoke_token, team_ids_of
from hub.errors import TooManyRequests, Unauthorized
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", summary="Log in with email and password")
def login(body: LoginIn, request: Request, response: Response, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Sets the `hub_session` cookie and returns the same token for `Authorization: Bearer`."""
    throttle = request.app.state.login_throttle
    account = f"acct:{body.email.strip().lower()}"
    client = f"ip:{request.client.host if request.client else '?'}"
    wait = throttle.retry_after(account, client)
    if wait > 0:
        raise TooManyRequests(f"too many failed logins; try again in {int(wait) + 1} seconds")
    settings = request.app.state.settings
    try:
        with hub.db.write() as s:
            agent = authenticate(s, body.email, body.password)
            token = do_create_token(s, agent, timedelta(hours=settings.session_ttl_hours))
            info = agent_dict(agent, team_ids_of(s, agent.id))  # type: ignore[arg-type]
    except Unauthorized:
        throttle.failed(account, client)
        raise
    throttle.succeeded(account)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.cookie_secure,
        max_age=settings.session_ttl_hours * 3600,
    )
    return {"token": token, "token_type": "bearer", "agent": info}


@router.post("/logout", summary="End this session")
def logout(response: Response, caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        do_revoke_token(s, caller.token, agent_id=caller.agent_id)
    forget_caller(hub, token=caller.token)
    response.delete_cookie(SESSION_COOKIE)
    return {"ok": True}
