"""Inbound items the hub kept raw because they could not be parsed or ingested (admins): a list
without the bytes, and each one as a download. A download is never rendered by the browser: it is
an attachment, typed message/rfc822 or application/octet-stream only, with nosniff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from agents_ui.deps import Caller, get_hub, require_admin
from hub.raw_payloads import get_raw, list_raw
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/admin/raw-payloads", tags=["raw payloads"])


@router.get("", summary="Inbound items kept raw (unparseable or refused), newest first")
def list_payloads(before: int | None = Query(None, ge=1, le=2**63 - 1, description="page: ids below this"),
                  limit: int = Query(50, ge=1, le=200),
                  _: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.read() as s:
        items = list_raw(s, before_id=before, limit=limit)
    return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}


@router.get("/{raw_id}/raw", summary="Download one kept item as received (truncated at the size cap)",
            response_class=Response, responses={200: {"content": {"message/rfc822": {},
                                                                   "application/octet-stream": {}}}})
def download(raw_id: int, _: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> Response:
    with hub.db.read() as s:
        row = get_raw(s, raw_id)
        payload, content_type = row.payload, row.content_type
    extension = "eml" if content_type == "message/rfc822" else "bin"
    return Response(payload, media_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="raw-{raw_id}.{extension}"',
        "X-Content-Type-Options": "nosniff"})
