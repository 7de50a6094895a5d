"""Login and logout: a session cookie for the browser and the same token as a bearer for tools."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from agents_ui.api.schemas import LoginIn
from agents_ui.deps import SESSION_COOKIE, Caller, current_caller, forget_caller, get_hub
from hub.agents.actions import do_revoke_token
from hub.agents.login import Logins
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", summary="Log in with email and password")
async def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
    """Sets the `hub_session` cookie and returns the same token for `Authorization: Bearer`.
    Too many failures answer 429, too many logins at once 503, both with `Retry-After`."""
    logins: Logins = request.app.state.logins
    address = request.app.state.client_addresses.of(request.scope)
    session = await logins.log_in(body.email, body.password, address=address)
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE, session.token, httponly=True, samesite="lax", secure=settings.session_cookie_secure,
        max_age=settings.session_ttl_hours * 3600,
    )
    return {"token": session.token, "token_type": "bearer", "agent": session.agent}


@router.post("/logout", summary="End this session")
def logout(request: Request, response: Response, caller: Caller = Depends(current_caller),
           hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        do_revoke_token(s, caller.token, agent_id=caller.agent_id)
    forget_caller(hub, token=caller.token)
    # With the attributes it was set with, so that the browser's cookie is the one replaced.
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax",
                           secure=request.app.state.settings.session_cookie_secure)
    return {"ok": True}
