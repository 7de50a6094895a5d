"""The API channel's inbound route: other systems (forms, bots, a CRM) post customer messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from channels.lean_routes import JsonBodyRoute, not_running
from hub.ports import Attachment, BaseAdapter, ContactRef, InboundMessage


class InboundContact(BaseModel):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32, description="E.164, e.g. +15551234567")
    external_ref: str | None = Field(default=None, max_length=200, description="your id for this customer")
    name: str | None = Field(default=None, max_length=200)
    # Only for a new contact: a known customer's are changed by agents (PATCH /api/v1/contacts/{id}).
    tier: str | None = Field(default=None, max_length=32, description="a new contact's tier, e.g. vip "
                             "(routing rules match it); ignored for a known contact")
    language: str | None = Field(default=None, max_length=16, description="a new contact's language, a "
                                 "BCP-47 tag such as es or pt-BR; ignored for a known contact")

    @model_validator(mode="after")
    def _one_identity(self) -> InboundContact:
        if not (self.email or self.phone or self.external_ref):
            raise ValueError("the contact needs an email, a phone or an external_ref")
        return self


class InboundAttachment(BaseModel):
    url: str = Field(max_length=2000, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S",
                     description="http or https only (a console links it)")
    content_type: str | None = Field(default=None, max_length=200)
    filename: str | None = Field(default=None, max_length=500)
    # Bounded: a number beyond 64 bits cannot be written into the JSON the message is stored in (a 500).
    size: int | None = Field(default=None, ge=0, le=2**63 - 1, description="bytes")


class InboundIn(BaseModel):
    # At most 56: a customer's external_ref is stored under the identity kind "ref:api:<source>" (64).
    source: str = Field(min_length=1, max_length=56, pattern=r"^[A-Za-z0-9_.-]+$",
                        description="which system sends this (routing can match it; replies go to its callback)")
    external_id: str = Field(min_length=1, max_length=400, description="your id for this message: idempotency key")
    contact: InboundContact
    subject: str | None = Field(default=None, max_length=500)
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(default=None, max_length=1_000_000)
    attachments: list[InboundAttachment] = Field(default_factory=list, max_length=50)


def _api_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


class ApiKeyJsonRoute(JsonBodyRoute):
    """The key is checked before the body is read: without one, no 422 describes the body."""

    channel: BaseAdapter  # set by create_router's subclass: whose port checks the key

    async def guard(self, request: Request) -> Response | None:
        port = self.channel.port
        if port is None:
            return not_running(self.channel.channel)
        key = _api_key(request)
        if not key or not await port.check_api_key_async(key):
            return JSONResponse({"error": "unauthorized", "message": "send a valid API key in X-Api-Key"},
                                status_code=401)
        return None


class InboundApi:
    def __init__(self, channel: BaseAdapter) -> None:
        self.channel = channel

    async def post_inbound(self, body: InboundIn, request: Request) -> JSONResponse:
        """Answers only after the message is committed. Posting the same `external_id` again for the
        same `source` is a no-op that returns the first result (200 instead of 201)."""
        port = self.channel.port
        if port is None:  # stopped since the guard let it in
            return not_running(self.channel.channel)
        msg = InboundMessage(
            channel="api",
            source=body.source,
            ingest_scope=f"api:{body.source}",
            external_id=body.external_id,
            contact=ContactRef(email=body.contact.email, phone=body.contact.phone,
                               external_ref=body.contact.external_ref, name=body.contact.name,
                               tier=body.contact.tier, language=body.contact.language),
            text=body.text,
            html=body.html,
            subject=body.subject,
            attachments=tuple(Attachment(a.url, a.content_type, a.filename, a.size) for a in body.attachments),
        )
        result = await port.ingest_async(msg)
        payload: dict[str, Any] = {
            "message_id": result.message_id,
            "conversation_id": result.conversation_id,
            "contact_id": result.contact_id,
            "duplicate": not result.created,
        }
        return JSONResponse(payload, status_code=201 if result.created else 200)


def create_router(channel: BaseAdapter) -> APIRouter:
    """The inbound route, answered through `channel`'s port (once started)."""
    route_class = type("ApiKeyJsonRoute", (ApiKeyJsonRoute,), {"channel": channel})
    router = APIRouter(tags=["inbound (API channel)"], route_class=route_class)
    router.add_api_route(
        "/api/v1/inbound/messages", InboundApi(channel).post_inbound, methods=["POST"],
        summary="Post a customer message into the hub (API key)",
        responses={200: {"description": "already received (same source and external_id)"},
                   201: {"description": "stored"}, 401: {"description": "missing or wrong API key"}},
    )
    return router
