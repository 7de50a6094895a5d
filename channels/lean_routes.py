"""Leaner FastAPI routes for the channels' high-volume endpoints (inbound messages, webhooks).

On every request FastAPI resolves an endpoint's parameters through its dependency machinery. For
the endpoints every customer message goes through, that machinery was the largest share of the
hub's CPU per message after group commit (bench/RESULTS.md). These route classes keep the
declared signature, so the OpenAPI schema is unchanged, but call the endpoint directly:

- `JsonBodyRoute`, for `async def endpoint(body: SomeModel, request: Request)`: parses the body
  straight from bytes with pydantic's `model_validate_json`. Bad input raises the
  RequestValidationError FastAPI would raise, so clients get the same 422. A subclass may set a
  `guard` (say, the API key check), answered before the body is read: a caller who may not post
  learns nothing about what the body should be.
- `RequestRoute`, for `async def endpoint(request: Request) -> Response`.

Both are `LeanRoute`s: a handler that needs nothing from the framework but the request, so the
application may also serve it from its fast lane (config/fast_lane.py), ahead of the middleware.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def not_running(channel: str) -> JSONResponse:
    """The answer to a request that arrives before its channel started, or after it stopped."""
    return JSONResponse({"error": "unavailable", "message": f"the {channel} channel is not running (the hub is "
                                                             "starting or stopping): retry"}, status_code=503)


class LeanRoute(APIRoute):
    """A route whose handler takes the request alone and returns the whole response."""

    def get_route_handler(self) -> Handler:
        raise NotImplementedError


class JsonBodyRoute(LeanRoute):
    """For endpoints declared exactly as `async def endpoint(body: SomeModel, request: Request)`."""

    async def guard(self, request: Request) -> Response | None:
        """The refusal to answer before the body is read, or None to go on."""
        return None

    def get_route_handler(self) -> Handler:
        endpoint = self.endpoint
        model = typing.get_type_hints(endpoint)["body"]
        assert isinstance(model, type) and issubclass(model, BaseModel), "the body must be a pydantic model"
        guard = self.guard

        async def handler(request: Request) -> Response:
            if (refusal := await guard(request)) is not None:
                return refusal
            raw = await request.body()
            try:
                body = model.model_validate_json(raw or b"null")
            except ValidationError as exc:
                raise RequestValidationError(
                    [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)],
                    body=raw,
                ) from None
            response: Response = await endpoint(body, request)
            return response

        return handler


class RequestRoute(LeanRoute):
    """For endpoints declared exactly as `async def endpoint(request: Request) -> Response`."""

    def get_route_handler(self) -> Handler:
        endpoint: Handler = self.endpoint
        return endpoint
