"""The fast lane: the few endpoints every customer message goes through, served ahead of the stack.

Between uvicorn and an endpoint, FastAPI and Starlette run about ten layers per request (error
middleware, telemetry, two body limits, exception middleware, exit stacks, the router's matching,
the request/response wrapper). For `POST /api/v1/inbound/messages` and Twilio's webhooks that was
a third of the hub's CPU per message (bench/RESULTS.md), for nothing those handlers use.

So the application (`config.app.HubApp`) hands a request straight to its route's handler when:
- it is an HTTP `POST` to the exact path of a `channels.lean_routes.LeanRoute` (a handler that
  takes the request alone and returns the whole response), and
- it declares a `Content-Length` within the body limit.

Anything else (a chunked or oversized body, another method, another path) takes the full stack,
which answers it exactly as before. What the stack would have done that these handlers can see is
done here too: `scope["app"]` is set, an exception is answered by the application's own
exception handlers (the JSON errors of agents_ui/errors.py), an unexpected one with its 500, and
the headers the stack adds to every API answer (agents_ui/api_headers.py) are added.
The routes stay FastAPI routes: the OpenAPI schema documents them as before.

What the lane does not reproduce must not be in the stack: `check_stack` (run by `HubApp` when it
builds its middleware, at startup) refuses any middleware but ours as configured in `create_app`
(a `CORSMiddleware` added for the whole app would be missing from the lane's answers). A
middleware that never changes a lean route's answer (one scoped to other paths, say web chat's
CORS) says so with a class attribute `leaves_lean_routes_alone = True`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from agents_ui.api_headers import RAW_API_HEADERS, ApiHeaders, is_api_path
from agents_ui.limits import BodySizeLimit
from agents_ui.origin import OriginCheck
from channels.lean_routes import Handler, LeanRoute

logger = logging.getLogger(__name__)


class FastLane:
    def __init__(self, max_body_bytes: int, exception_handlers: dict[Any, Any],
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.max_body_bytes = max_body_bytes
        self.exception_handlers = exception_handlers
        self.headers = headers or []  # added to every answer, unless the handler set them
        self.handlers: dict[str, Handler] = {}

    def add_routes(self, routes: list[Any]) -> None:
        """Every lean POST route without path parameters."""
        for route in routes:
            if isinstance(route, LeanRoute) and route.methods == {"POST"} and not route.param_convertors:
                self.handlers[route.path] = route.get_route_handler()

    def check_stack(self, middleware: Sequence[Middleware]) -> None:
        """Raises RuntimeError naming each middleware whose effect on a lean route's answer the
        lane does not reproduce (the lane would answer without it)."""
        unsafe = [m for m in middleware if not self.reproduces(m)]
        if unsafe:
            raise RuntimeError(
                f"the fast lane (config/fast_lane.py) does not reproduce {', '.join(map(repr, unsafe))}: "
                f"{', '.join(sorted(self.handlers))} would answer without it. Scope it to the routes that "
                "need it and mark its class `leaves_lean_routes_alone = True`, teach FastLane what it does "
                "(with a lane-versus-stack test in tests/config/test_fast_lane.py), or set `app.fast_lane = None`")

    def reproduces(self, entry: Middleware) -> bool:
        cls, kwargs = entry.cls, cast(dict[str, Any], entry.kwargs)  # typed `object` by Starlette
        if getattr(cls, "leaves_lean_routes_alone", False) is True:
            return True
        if cls is ApiHeaders:  # the lane adds the same headers to every answer
            lean_scopes = ({"type": "http", "path": path} for path in self.handlers)
            return set(RAW_API_HEADERS) <= set(self.headers) and all(map(is_api_path, lean_scopes))
        if cls is BodySizeLimit:  # the lane serves only bodies the stack's limit lets through
            return int(kwargs.get("max_bytes", 0)) >= self.max_body_bytes
        if cls is OriginCheck:  # lean routes take no cookie: exempt from the Origin check
            return set(self.handlers) <= set(kwargs.get("exempt_paths", ()))
        return False

    def handler_for(self, scope: Scope) -> Handler | None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        handler = self.handlers.get(path)
        if handler is None:
            return None
        for name, value in scope["headers"]:
            if name == b"content-length":
                return handler if value.isdigit() and int(value) <= self.max_body_bytes else None
        return None

    async def serve(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:
            response = await self._answer_error(request, exc)
        if self.headers:
            present = {name for name, _ in response.raw_headers}
            response.raw_headers.extend(h for h in self.headers if h[0] not in present)
        await response(scope, receive, send)

    async def _answer_error(self, request: Request, exc: Exception) -> Response:
        for cls in type(exc).__mro__:
            answer = self.exception_handlers.get(cls)
            if answer is not None:
                break
        else:  # without even an `Exception` handler: Starlette's plain 500, logged
            logger.exception("unhandled error")
            return JSONResponse({"error": "internal", "message": "Internal Server Error"}, status_code=500)
        if inspect.iscoroutinefunction(answer):
            response: Response = await answer(request, exc)
        else:
            response = await run_in_threadpool(answer, request, exc)
        return response
