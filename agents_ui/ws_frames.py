"""What the agent websocket accepts from a console: bounded frames, parsed safely. (Presence
frames are throttled with the REST route: agents_ui/presence.py.)"""

from __future__ import annotations

from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from hub import jsontext

# A console's frames are a few dozen bytes; this leaves room for anything the protocol may grow.
# Checked before parsing; `hub serve` also gives uvicorn this limit (in bytes), so a larger frame
# is refused by the protocol layer before it is buffered.
MAX_FRAME_CHARS = 64 * 1024


class FrameTooLarge(Exception):
    pass


async def receive_frame(ws: WebSocket) -> dict[str, Any] | None:
    """The next frame as a JSON object; None for anything else (not JSON, nested too deep, not an
    object). orjson parses (it refuses nesting past 1,024 levels with a ValueError, where `json`
    raised RecursionError) and reads integers beyond 64 bits as floats."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    data = message.get("text")
    if data is None:
        data = message.get("bytes") or b""
    if len(data) > MAX_FRAME_CHARS:
        raise FrameTooLarge
    try:
        frame = jsontext.loads(data)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None
