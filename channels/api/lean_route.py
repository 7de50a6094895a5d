"""A leaner FastAPI route for the API channel's one high-volume endpoint.

On every request FastAPI resolves an endpoint's parameters through its dependency machinery: read
the body, `json.loads` it, validate the dict, collect the other parameters, then call. For
`POST /api/v1/inbound/messages` that was the largest share of the hub's CPU per message left
after group commit (bench/RESULTS.md). `JsonBodyRoute` keeps the declared signature, so the
OpenAPI schema is unchanged, but at run time parses the body straight from bytes with pydantic's
`model_validate_json` and calls the endpoint as `endpoint(body, request)`. Bad input raises the
RequestValidationError FastAPI would raise, so clients get the same 422.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError


class JsonBodyRoute(APIRoute):
    """For endpoints declared exactly as `async def endpoint(body: SomeModel, request: Request)`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        model = typing.get_type_hints(endpoint)["body"]
        assert isinstance(model, type) and issubclass(model, BaseModel), "the body must be a pydantic model"

        async def handler(request: Request) -> Response:
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
