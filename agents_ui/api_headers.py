"""`nosniff` and `no-store` on every API answer (agents_ui.errors.API_HEADERS).

One pure ASGI middleware for the whole stack, outside the others, so refusals they answer (a body
over the limit, a cross-site request) carry the headers too; the fast lane (config/fast_lane.py)
adds the same to its answers. The console's pages and static files set their own headers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents_ui.errors import API_HEADERS

API_PREFIXES = ("/api/", "/channels/", "/healthz", "/readyz")
RAW_API_HEADERS = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in API_HEADERS.items()]


def app_path(scope: Scope) -> str:
    """The request's path within the app (without a mount's root_path)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def is_api_path(scope: Scope) -> bool:
    return app_path(scope).startswith(API_PREFIXES)


class ApiHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api_path(scope):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in RAW_API_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
