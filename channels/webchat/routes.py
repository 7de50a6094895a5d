"""The web chat's routes: the widget's files, its public config, the demo page, the visitor socket.

CORS is answered here, per widget, on the routes a host page fetches (the config): the fast lane
refuses app-wide middleware (config/fast_lane.py), and only these routes want it. The scripts are
loaded with `<script src>`, which needs no CORS.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocketDisconnect

from channels.webchat.files import ACCEPTED, add_file_routes
from channels.webchat.socket import CLOSE_TOO_MANY, VisitorSocket

if TYPE_CHECKING:
    from channels.webchat.adapter import WebchatChannel

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
I18N = HERE / "i18n"
LANGUAGES = ("en", "es")
SCRIPTS = ("loader.js", "widget.js", "widget-files.js", "widget-rating.js")
# The demo page: the hub's own strict policy (no inline script or style); blob: for the pictures the
# widget fetches with the visitor's token (channels/webchat/files.py).
DEMO_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
NOT_FOUND = {"error": "not_found", "message": "no such widget"}


@functools.cache
def texts(lang: str) -> dict[str, str]:
    return dict(json.loads((I18N / f"{lang}.json").read_text("utf-8")))


@functools.cache
def static_file(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def pick_language(asked: str | None) -> str:
    lang = (asked or "").lower()[:2]
    return lang if lang in LANGUAGES else LANGUAGES[0]


def router_for(channel: WebchatChannel) -> APIRouter:
    router = APIRouter(tags=["web chat"])
    add_file_routes(router, channel)

    @router.get("/widget/config/{widget_id}", summary="A widget's public settings and words (CORS: its allowed "
                "origins)", responses={404: {"description": "No such widget"}})
    def widget_config(widget_id: str, request: Request, lang: str | None = None) -> Response:
        widget = channel.widgets.get(widget_id)
        if widget is None:
            return JSONResponse(NOT_FOUND, status_code=404)
        language = pick_language(lang)
        words = texts(language)
        body = {"id": widget.id, "name": widget.name, "colour": widget.colour, "lang": language,
                "greeting": widget.greeting.get(language) or words["greeting"],
                "prechat_fields": widget.prechat_fields, "prechat_required": widget.prechat_required,
                "identity": widget.identity_secret is not None, "require_identity": widget.require_identity,
                "files": {"max_bytes": widget.max_file_bytes, "types": sorted(ACCEPTED)},
                "texts": words}
        headers = {"Cache-Control": "no-cache", "Vary": "Origin", "X-Content-Type-Options": "nosniff"}
        origin = channel.allowed_origin(widget, request.headers.get("origin"), request.headers.get("host"))
        if origin is not None:
            headers["Access-Control-Allow-Origin"] = origin
        return JSONResponse(body, headers=headers)

    @router.get("/widget/{name}", include_in_schema=False)  # files and a page, not an API
    def widget_file(name: str, request: Request, lang: str | None = None) -> Response:
        if name == "demo" and channel.settings.demo_page and channel.widgets:
            language = pick_language(lang or request.headers.get("accept-language"))
            page = static_file("demo.html").decode()
            base = str(request.base_url).rstrip("/")
            values = {"lang": language, "widget": next(iter(channel.widgets)), "base": base,
                      **{k: html.escape(v) for k, v in texts(language).items() if k.startswith("demo_")}}
            for key, value in values.items():
                page = page.replace("{" + key + "}", value)
            return Response(page, media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": DEMO_CSP, "X-Content-Type-Options": "nosniff"})
        if name not in SCRIPTS:
            return JSONResponse({"error": "not_found", "message": "no such file"}, status_code=404)
        # Any site may load the scripts (they hold nothing secret); a host page with COEP needs CORP.
        return Response(static_file(name), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff",
                                 "Cross-Origin-Resource-Policy": "cross-origin"})

    @router.websocket("/ws/widget")
    async def visitor_socket(ws: WebSocket, widget: str = "") -> None:
        found = channel.widgets.get(widget)
        port = channel.port
        if found is None or port is None:
            await ws.close(1008, "no such widget" if found is None else "the web chat is not running: retry")
            return
        if channel.allowed_origin(found, ws.headers.get("origin"), ws.headers.get("host")) is None:
            await ws.close(1008, "this widget is not allowed on this site")
            return
        address = channel.addresses.of(ws.scope)
        if channel.connections.take(address) > 0:
            await ws.close(CLOSE_TOO_MANY, "too many connections: wait a minute")
            return
        await ws.accept()
        try:
            await VisitorSocket(channel, ws, found, port, address).run()
        except WebSocketDisconnect:
            pass

    return router
