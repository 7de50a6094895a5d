"""Integrators' API keys (admins). The secret is shown once, at creation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlmodel import col

from agents_ui.api.schemas import ApiKeyIn
from agents_ui.deps import Caller, get_hub, require_admin
from hub.agents import actions
from hub.agents.models import ApiKey
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


def key_dict(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "created_at": k.created_at.isoformat(),
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


@router.get("", summary="List API keys")
def list_keys(_: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.read() as s:
        return {"items": [key_dict(k) for k in s.execute(select(ApiKey).order_by(col(ApiKey.id))).scalars()]}


@router.post("", status_code=201, summary="Create an API key; the secret is returned only now")
def create_key(body: ApiKeyIn, caller: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        key, secret = actions.do_create_api_key(s, name=body.name, created_by=caller.agent_id)
        return {**key_dict(key), "key": secret}


@router.delete("/{key_id}", summary="Revoke an API key")
def revoke_key(key_id: int, _: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        out = key_dict(actions.do_revoke_api_key(s, key_id))
    hub.forget_api_keys()
    return out
