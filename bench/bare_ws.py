"""The bare websocket endpoint idle widget sockets are measured against (bench/widget_sockets.py).

A FastAPI app with one websocket route, `/ws/widget`, that speaks just enough of the widget's
handshake for the same client to hold it: accept, read the hello, answer `{"type": "welcome"}`,
then read frames (answering a ping with a pong) until the client goes. No auth, no feed, no state.
Served by the same stack as `hub serve` (uvicorn, websockets-sansio, the same frame size cap).

Run: `python -m uvicorn --factory bench.bare_ws:create_app --ws websockets-sansio`.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect


def create_app() -> FastAPI:
    app = FastAPI(title="Bare websocket", telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws/widget")
    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
            await ws.send_text(json.dumps({"type": "welcome", "token": None}))
            while True:
                if json.loads(await ws.receive_text()).get("type") == "ping":
                    await ws.send_text('{"type":"pong"}')
        except WebSocketDisconnect:
            pass

    return app
