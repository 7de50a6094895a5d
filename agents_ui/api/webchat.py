"""The web chat's widgets as admins see them on the console's settings page: what each is for and
the one line a site owner pastes (README, "Web chat"). Read from the running channel's adapter;
the widgets themselves are configured in the settings file (`[[webchat.widgets]]`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends

from agents_ui.deps import Caller, get_hub, require_admin
from hub.runtime import Hub

CHANNEL = "webchat"
router = APIRouter(prefix="/api/v1/admin/webchat", tags=["channels"])


@router.get("/widgets", summary="The web chat widgets and the snippet that puts each on a site (admins)")
def list_widgets(_: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    adapter = hub.adapters.get(CHANNEL)
    embeds = getattr(adapter, "embeds", None)
    items = [asdict(e) for e in embeds()] if embeds else []
    return {"enabled": adapter is not None, "items": items}
