"""Every error leaves as JSON with a clear message: {"error": code, "message": text}, and where
known {"reason": finer code, "params": {...}}.

`error` is the kind (invalid, not_found, conflict, ...); `reason` a finer stable code (left out
when there is none: the kind's code is the reason) and `params` the values a sentence about it
needs (`field`, `max`, `address`, `max_bytes`, `retry_after`; left out when none): clients
translate those, never the `message`, which is English for people reading logs (the console:
agents_ui/static/js/api.js `explain`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import Scope

from hub.errors import HubError
from hub.ports import AttachmentRefused, RejectedMessage

logger = logging.getLogger(__name__)


# On every API answer: a browser must not guess another type for it (a JSON body holding customer
# text rendered as HTML), and nothing may keep a copy of it (it holds customers' data).
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


# Every `reason` an answer may carry besides the kinds' own codes (`invalid`, `not_found`, `forbidden`,
# `conflict`, `too_large`, `too_many_requests`, ...), with its params: the OpenAPI schema lists
# them (config/openapi.py) and the console has a sentence for each (tests/agents_ui/test_errors.py).
REASONS = {
    "required": "a field is missing (field)",
    "empty": "a text is empty (field)",
    "too_short": "a text is too short (field, min)",
    "too_long": "a text is too long (field, max: characters)",
    "too_many": "a list has too many items (field, max)",
    "email_invalid": "not a valid email address (field, address)",
    "json_invalid": "the body is not valid JSON",
    "nul_character": "a text holds a NUL character",
    "unstorable": "a value cannot be stored (a number out of range)",
    "file_too_large": "the file is over the limit (max_bytes)",
    "file_type_refused": "files of this type are not taken (type)",
    "conversation_not_found": "no such conversation, or not visible to the caller",
    "conversation_forbidden": "the conversation belongs to a team the caller is not in",
    "conversation_not_yours": "another agent's or team's conversation: the caller may add notes only",
    "assign_not_allowed": "agents take unassigned conversations of their teams or hand back their own",
    "offer_gone": "the conversation is no longer offered to the caller",
    "opted_out": "the customer opted out of messages on this channel",
    "not_retryable": "only a reply that failed can be sent again",
    "client_id_reused": "this client_id was used for another message",
    "snooze_past": "snoozed_until is not in the future",
    "email_taken": "an agent has this email address already (address)",
    "team_taken": "a team has this name already (name)",
}


def error_body(code: str, message: str, *, reason: str | None = None, params: Mapping[str, object] | None = None,
               **extra: object) -> dict[str, object]:
    finer = {"reason": reason} if reason and reason != code else {}
    return {"error": code, **finer, **({"params": dict(params)} if params else {}), "message": message, **extra}


# pydantic's words for the commonest mistakes, in plainer ones (its own for everything else).
_PLAIN = {
    "missing": "is required",
    "string_type": "must be a text (a JSON string)",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list (a JSON array)",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
}
_BODY_OBJECT = "the body must be a JSON object, sent with Content-Type: application/json"


def problem(err: Mapping[str, Any]) -> str:
    """One validation error in plain words, naming the field (`contact.email: ...`)."""
    kind = err.get("type")
    loc = tuple(err.get("loc", ()))
    if kind == "json_invalid":
        # FastAPI: "JSON decode error" with the decoder's words in ctx and the offset in loc;
        # pydantic (the inbound API): "Invalid JSON: <its words>". Both read the same.
        detail = (err.get("ctx") or {}).get("error") or str(err.get("msg", "")).removeprefix("Invalid JSON: ")
        offset = next((p for p in loc[1:] if isinstance(p, int)), None)
        return f"invalid JSON: {detail}" + (f" (at character {offset})" if offset is not None else "")
    where = ".".join(str(p) for p in loc if p != "body")
    if not where and loc[:1] in (("body",), ()) and kind in ("missing", "dict_type", "model_type",
                                                             "model_attributes_type"):
        return _BODY_OBJECT
    words = _PLAIN.get(str(kind), str(err.get("msg")))
    return f"{where}: {words}" if where else words


# pydantic's error types -> the reason clients translate (with the field and the limit as params).
_REASONS = {
    "missing": "required",
    "string_too_long": "too_long",
    "too_long": "too_many",  # a list
    "email": "email_invalid",
    "json_invalid": "json_invalid",
    "nul_character": "nul_character",
}


def reason(err: Mapping[str, Any]) -> tuple[str, dict[str, object]]:
    """The stable reason of one validation error and its params (`field`, `max`, `min`, `address`)."""
    kind = str(err.get("type"))
    ctx = err.get("ctx") or {}
    field = ".".join(str(p) for p in err.get("loc", ()) if p != "body" and not isinstance(p, int))
    params: dict[str, object] = {"field": field} if field and kind != "json_invalid" else {}
    if kind == "string_too_short":
        found = "empty" if ctx.get("min_length") == 1 else "too_short"
        return found, {**params, "min": ctx.get("min_length")} if found == "too_short" else params
    if "max_length" in ctx:
        params["max"] = ctx["max_length"]
    if "address" in ctx:
        params["address"] = ctx["address"]
    return _REASONS.get(kind, "invalid"), params


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """Every method some route of `app` serves at this path."""
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(_: Request, exc: HubError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        params = dict(exc.params)
        if exc.retry_after is not None:
            params["retry_after"] = max(1, math.ceil(exc.retry_after))
        return JSONResponse(error_body(exc.code, exc.message, reason=exc.reason, params=params), status_code=exc.status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = [problem(err) for err in errors]
        first, params = reason(errors[0]) if errors else ("invalid", {})
        return JSONResponse(
            error_body("invalid", "; ".join(problems) or "invalid request", reason=first, params=params,
                       details=problems), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if status == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a JSON body that is not even text (bytes that are not UTF-8): the
            # same 422 as any other invalid JSON, as the inbound API answers it.
            problems = ["invalid JSON: the body is not UTF-8 text"]
            return JSONResponse(error_body("invalid", problems[0], reason="json_invalid", details=problems),
                                status_code=422)
        if status == 400:  # Starlette's answer to a body it cannot read (broken multipart): invalid input
            problems = [f"the request body cannot be read: {exc.detail}"]
            return JSONResponse(error_body("invalid", problems[0], details=problems), status_code=422)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(status, "error")
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if status == 405:
            # Starlette names the methods of the first route on this path only; a path served by
            # several routes (GET and POST /api/v1/agents) allows all of theirs.
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope)) or headers.get("Allow", "")
            if message == HTTPStatus(405).phrase:
                message = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
        elif status == 404 and message == HTTPStatus(404).phrase:
            message = f"there is nothing at {request.method} {request.url.path}"
        return JSONResponse(error_body(code, message), status_code=status, headers=headers or None)

    @app.exception_handler(RejectedMessage)
    async def _rejected(_: Request, exc: RejectedMessage) -> JSONResponse:
        if isinstance(exc, AttachmentRefused):
            body = error_body("invalid", str(exc), reason="file_type_refused", params={"type": exc.content_type})
        else:
            body = error_body("invalid", str(exc))
        return JSONResponse(body, status_code=422)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
        # The database refused a value the client sent: on PostgreSQL a number beyond the column's
        # range or a NUL character in text, on SQLite an integer beyond 64 bits. That is bad input,
        # not a crash; the transaction was rolled back, so nothing was half-written.
        logger.info("refused a value the database cannot store: %s", exc.__class__.__name__)
        return JSONResponse(
            error_body("invalid", "a value in this request cannot be stored: a number is out of range "
                       "or a text contains a NUL character", reason="unstorable"),
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        # Answered outside the middleware that adds API_HEADERS (Starlette's outermost layer).
        return JSONResponse(
            error_body("internal", "the hub hit an internal error; nothing was lost, try again"), status_code=500,
            headers=API_HEADERS,
        )
