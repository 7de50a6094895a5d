"""The composition root: builds the hub from settings and assembles the web application."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from agents_ui import docs, nul_bytes, pages, ws
from agents_ui.api import (
    agents,
    api_keys,
    attachments,
    auth,
    canned,
    contacts,
    conversations,
    events,
    raw_payloads,
    routing,
    supervisor,
    teams,
)
from agents_ui.api import (
    channels as channels_api,
)
from agents_ui.api import delivery as delivery_api
from agents_ui.api import mailboxes as mailboxes_api
from agents_ui.api import message_html as message_html_api
from agents_ui.api import outreach as outreach_api
from agents_ui.api import webchat as webchat_api
from agents_ui.api.channels import ChannelOut, channels_out
from agents_ui.api_headers import RAW_API_HEADERS, ApiHeaders
from agents_ui.clients import ClientAddresses
from agents_ui.errors import error_body, install_error_handlers
from agents_ui.limits import BodySizeLimit
from agents_ui.origin import OriginCheck
from channels.lean_routes import LeanRoute
from channels.webchat import files as webchat_files
from config.channels import build_channels
from config.fast_lane import FastLane
from config.openapi import install_openapi
from config.secrets import derive_key, hub_secret
from config.settings import Settings, load_settings
from hub.agents.login import Logins, PasswordChecks
from hub.agents.throttle import LoginThrottle
from hub.attachments.files import AttachmentFiles
from hub.blobs import DiskBlobStore
from hub.channel_accounts.crypto import SecretBox
from hub.db import Database
from hub.routing.config import RoutingConfig
from hub.routing.rules import rule_from_dict
from hub.runtime import Hub, HubOptions

logger = logging.getLogger(__name__)


def build_hub(settings: Settings, *, run_workers: bool | None = None) -> Hub:
    db = Database(settings.database_url)
    options = HubOptions(
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        reopen_window=timedelta(days=settings.reopen_window_days),
        poll_interval=settings.poll_interval_seconds,
        replay_limit=settings.replay_limit,
        delivery_max_attempts=settings.delivery_max_attempts,
        delivery_lease=timedelta(seconds=settings.delivery_lease_seconds),
        run_workers=settings.workers_in_web if run_workers is None else run_workers,
        visibility=settings.visibility,
        files=AttachmentFiles(DiskBlobStore(settings.attachments_dir), settings.attachment_max_bytes),
        routing=RoutingConfig(
            rules=[rule_from_dict(r) for r in settings.routing.rules],
            default_capacity=settings.routing.default_capacity,
            sticky_wait=timedelta(seconds=settings.routing.sticky_wait_seconds),
            pass_cooldown=timedelta(seconds=settings.routing.pass_cooldown_seconds),
            presence_grace=timedelta(seconds=settings.routing.presence_grace_seconds),
            sla_boost=settings.routing.sla_boost,
            release_on_offline=tuple(settings.routing.release_on_offline),
            offer_channels=tuple(settings.routing.offer_channels),
        ),
        raw_payload_max_bytes=settings.raw_payload_max_bytes,
        secret_box=SecretBox(derive_key(hub_secret(settings), "channel-secrets")),
    )
    return Hub(db, options)


class HubApp(FastAPI):
    """FastAPI, with the fast lane (config/fast_lane.py) in front when one is set; a NUL character
    in the query string or path is refused ahead of both (agents_ui/nul_bytes.py)."""

    fast_lane: FastLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and (reason := nul_bytes.refusal(scope)) is not None:
            await nul_bytes.refuse(reason, scope, receive, send)
            return
        lane = self.fast_lane
        if lane is not None and (handler := lane.handler_for(scope)) is not None:
            scope["app"] = self
            await lane.serve(handler, scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        """At startup (the first call): middleware added after `create_app` is checked too."""
        if self.fast_lane is not None:
            self.fast_lane.check_stack(self.user_middleware)
        return super().build_middleware_stack()


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> FastAPI:
    """The hub's app. `freeze_heap` (the `serve` command): once started, everything alive so far
    (modules, models, the app) is moved out of the garbage collector's sight (`gc.freeze`). A full
    collection walked all of it: 80-130 ms pauses of every thread, a few a minute under load,
    which were the tail of routing's latency (bench/RESULTS.md)."""
    settings = settings or load_settings()
    hub = build_hub(settings)
    channels = build_channels(settings, hub)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            await channels.start(hub)
            if freeze_heap:
                gc.collect()
                gc.freeze()
            yield
        finally:
            await channels.stop()
            await hub.stop()
            logins.close()
            hub.db.dispose()

    app = HubApp(
        title="Contact hub",
        version="0.1.0",
        description="Omnichannel, collaborative contact-center hub: conversations from email, SMS, web "
        "chat, voice callbacks and the API, routed live to agents. Agents authenticate with the session "
        "cookie or `Authorization: Bearer <token>` from `/api/v1/auth/login`; integrators with `X-Api-Key`.",
        lifespan=lifespan,
        # Served by agents_ui/docs.py from the hub's own copies of the assets (FastAPI's load a CDN's).
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": settings.opentelemetry, "metrics": settings.opentelemetry,
                   "logs": settings.opentelemetry},
    )
    app.state.hub = hub
    app.state.settings = settings
    app.state.channel_tasks = channels.tasks  # agents_ui.api.channels lists them
    app.state.accounts_changed = channels.accounts_changed  # agents_ui.api.mailboxes, after a change
    app.state.client_addresses = ClientAddresses(settings.trusted_proxies)
    app.state.logins = logins = Logins(
        hub,
        LoginThrottle(settings.login_max_failures, settings.login_window_seconds,
                      max_entries=settings.login_throttle_entries),
        PasswordChecks(settings.login_verify_slots, settings.login_verify_queue),
        timedelta(hours=settings.session_ttl_hours),
    )
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers (no database access)")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], response_model=Readiness,
             summary="Readiness: the database answers (503 only when it does not); each channel's inbound tasks "
                     "are listed, and one restarting does not make the hub unready")
    def readyz() -> JSONResponse | Readiness:
        try:
            with hub.db.read() as s:
                s.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "message": f"database: {exc.__class__.__name__}"},
                                status_code=503)
        # A channel restarting is shown, not fatal: a load balancer taking every node out of service
        # because a mailbox is down would stop SMS and the console too.
        return Readiness(status="ok", database=hub.db.dialect, channels=channels_out(channels.states()))

    # Routes are matched in order: the channels' (the high-volume inbound ones) first (measured:
    # matching through every agent route before them was a tenth of the CPU of an inbound message).
    app.router.routes.extend(channels.routes())
    for router in (ws.router, auth.router, conversations.router, delivery_api.router, message_html_api.router,
                   attachments.router, canned.router, contacts.router, outreach_api.router,
                   outreach_api.sources_router, agents.router, teams.router, api_keys.router, routing.router,
                   supervisor.router, channels_api.router, mailboxes_api.router, webchat_api.router, events.router,
                   raw_payloads.router, pages.router, docs.router):
        add_routes(app, router)
    install_openapi(app)
    upload_limits = {attachments.UPLOAD_PATH: attachments.upload_body_limit(settings.attachment_max_bytes)}
    if settings.webchat.enabled and settings.webchat.widgets:  # its route answers each widget's own limit
        widest = max(w.max_file_bytes for w in settings.webchat.widgets)
        upload_limits[webchat_files.UPLOAD_PATH] = (widest + 1, error_body(  # the widget's shape: max_bytes
            "too_large", "the file is too large", reason="file_too_large", params={"max_bytes": widest},
            max_bytes=widest))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, per_path=upload_limits)
    # Added last, so it runs first: a cross-site request is refused before its body is read. The
    # lean routes (the inbound API, Twilio's webhooks) take their own credentials and never the
    # session cookie; exempt, they answer the same whether the fast lane or the stack serves them.
    lean_paths = frozenset(route.path for route in app.router.routes if isinstance(route, LeanRoute))
    app.add_middleware(OriginCheck, public_url=settings.public_url, allowed_origins=settings.allowed_origins,
                       exempt_paths=lean_paths)
    app.add_middleware(ApiHeaders)  # outermost: the refusals of the two above carry its headers too
    if not settings.opentelemetry:  # with tracing on, every request goes through the traced stack
        app.fast_lane = FastLane(settings.max_body_bytes, app.exception_handlers, RAW_API_HEADERS)
        app.fast_lane.add_routes(app.router.routes)
        app.fast_lane.check_stack(app.user_middleware)
    return app


class Readiness(BaseModel):
    status: Literal["ok"]
    database: str = Field(description="sqlite or postgresql")
    channels: list[ChannelOut] = Field(description="the channels that are on, with their inbound tasks' states")


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes straight into the app's own list.

    Our routers carry their prefix and tags already, so `include_router` would add nothing but
    FastAPI's lazy included-router layer, which re-walks every included router's routes on each
    request (~4 % of an inbound message's CPU samples in py-spy). The schema served is the same.
    Routers are therefore listed flat in `create_app`, never included into one another.
    """
    app.router.routes.extend(router.routes)

