"""The served OpenAPI schema, completed: each operation's error answers and how it authenticates.

FastAPI documents a route's success and (for routes with parameters) a 422 in its own shape. The
hub answers errors in one shape (agents_ui/errors.py) with statuses FastAPI cannot see: 401 and
403 from the auth dependencies, 404 from path ids, 409 from the hub's conflicts, 413 from the body
limit, 429 from the login throttle. They are derived here from what each route depends on and
takes, plus a short table for what only the route's code knows. The security schemes (bearer,
the `hub_session` cookie, `X-Api-Key`) give `/docs` its Authorize button.

Imports from both sides of the app (the agents' auth dependencies and the channels' route
classes) is why this lives in the composition root.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from agents_ui.deps import SESSION_COOKIE, current_caller, require_role
from agents_ui.errors import REASONS
from agents_ui.origin import UNSAFE_METHODS
from channels.api.webhooks import ApiKeyJsonRoute
from channels.lean_routes import LeanRoute
from channels.sms.settings import INBOUND_PATH, STATUS_PATH

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code: invalid, unauthorized, forbidden, not_found, ..."},
        "reason": {"type": "string", "description": "a finer stable code, to show a translated sentence (left "
                   "out when there is none: then `error` is the reason). One of: " + "; ".join(
                       f"`{code}`: {meaning}" for code, meaning in REASONS.items())},
        "params": {"type": "object", "additionalProperties": {"type": ["string", "integer"]},
                   "description": "the values the reason's sentence needs (left out when none): field, max, "
                                  "min, address, max_bytes, type, retry_after (seconds, with 429 and 503)"},
        "message": {"type": "string", "description": "what is wrong, in plain words (English: for logs and "
                    "developers; show people the reason, translated)"},
        "details": {"type": "array", "items": {"type": "string"}, "description": "each problem (422 only)"},
    },
}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "an agent's token from POST /api/v1/auth/login (`token`)"},
    "cookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
               "description": "the session cookie POST /api/v1/auth/login sets (browsers; writes must come "
                              "from the hub's own origin)"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
               "description": "an API key from POST /api/v1/api-keys (the inbound API)"},
}
AGENT_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
WHY = {
    400: "the request cannot be understood",
    401: "not authenticated: no or a wrong token, cookie or key",
    403: "not allowed for this caller (or a cross-site write with the session cookie: agents_ui/origin.py)",
    404: "does not exist (or is not visible to this caller)",
    409: "conflicts with the current state",
    413: "the body is too large",
    415: "the body is not of the type this route takes",
    422: "invalid input: the message names each problem",
    429: "too many attempts: wait as many seconds as Retry-After says",
    503: "not available: the database does not answer (readyz), or the channel is not running (the hub is "
         "starting or stopping) or not configured",
}
# What only a route's own code knows (method, path) -> statuses.
EXTRA: dict[tuple[str, str], set[int]] = {
    ("GET", "/readyz"): {503},
    ("POST", "/api/v1/auth/login"): {401, 429},
    ("POST", "/api/v1/agents/me/presence"): {429},  # agents_ui/presence.py: a few changes a second
    ("POST", "/api/v1/agents"): {409},
    ("PATCH", "/api/v1/agents/{agent_id}"): {409},
    ("POST", "/api/v1/teams"): {409},
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): {409},
    # only a failed reply of an agent can be sent again (hub/delivery/actions.py: do_retry_delivery)
    ("POST", "/api/v1/conversations/{conversation_id}/messages/{message_id}/retry"): {409},
    ("POST", "/api/v1/conversations/{conversation_id}/accept"): {409},
    ("POST", "/api/v1/conversations/{conversation_id}/decline"): {409},
    ("POST", "/api/v1/conversations/{conversation_id}/assign"): {409},
    ("POST", "/api/v1/supervisor/assign"): {404, 409},
    ("GET", "/api/v1/canned"): {403, 404},  # the conversation named in the query
    ("POST", "/api/v1/routing/rules"): {404},  # the team named in the body
    ("POST", "/api/v1/contacts/{contact_id}/conversations"): {404, 409},  # a channel that is off; opted out
    ("POST", "/api/v1/admin/mailboxes"): {409},  # the address is taken
    ("PUT", "/api/v1/admin/mailboxes/{mailbox_id}"): {409},
    ("POST", "/api/v1/admin/mailboxes/{mailbox_id}/check"): {409},  # the email channel is not running here
}
_TWILIO = {INBOUND_PATH, STATUS_PATH}


def install_openapi(app: FastAPI) -> None:
    """`app.openapi()` (and so `/openapi.json`) serves the completed schema, built once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI keeps it as app.openapi_schema
            complete(schema, app.routes)
            return schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to serve a custom schema


def complete(schema: dict[str, Any], routes: Iterable[Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _document(operation, route, method)
    # FastAPI's own 422 shape is answered nowhere (agents_ui/errors.py answers every 422).
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)


def _document(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    statuses, security = _statuses_and_security(route, method)
    operation["security"] = security
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        answer = responses.setdefault(str(status), {"description": WHY[status]})
        answer["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        if answer.get("description") == "Validation Error":
            answer["description"] = WHY[422]
        if status == 429:
            answer.setdefault("headers", {}).setdefault(
                "Retry-After", {"schema": {"type": "integer"}, "description": "seconds to wait"})
    if route.path in _TWILIO:
        _document_twilio(operation)


def _statuses_and_security(route: APIRoute, method: str) -> tuple[set[int], list[dict[str, list[str]]]]:
    calls = set(_calls(route.dependant))
    statuses: set[int] = set()
    security: list[dict[str, list[str]]] = []
    if current_caller in calls:
        statuses.add(401)
        security = AGENT_SECURITY
        if any(getattr(c, "__qualname__", "").startswith(require_role.__qualname__) for c in calls):
            statuses.add(403)
    if isinstance(route, ApiKeyJsonRoute):
        statuses.add(401)
        security = [{"apiKey": []}]
    if route.dependant.path_params:
        statuses.add(404)
        if current_caller in calls:
            statuses.add(403)  # another team's conversation or contact
    if method in UNSAFE_METHODS:
        statuses |= {403, 413}  # the Origin check and the body limit stand before every write
    if route.body_field is not None:
        statuses.add(422)
    if route.dependant.path_params or route.dependant.query_params:
        statuses.add(422)
    if isinstance(route, LeanRoute):
        statuses.add(503)  # channels.lean_routes.not_running: before its channel starts, after it stops
    if route.path in _TWILIO:
        statuses |= {400, 403, 413, 415}
    statuses |= EXTRA.get((method, route.path), set())
    return statuses, security


def _calls(dependant: Dependant) -> Iterable[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _document_twilio(operation: dict[str, Any]) -> None:
    """Twilio's webhooks read the request themselves (channels/sms/webhooks.py): say what they take."""
    operation.setdefault("parameters", []).append({
        "name": "X-Twilio-Signature", "in": "header", "required": True, "schema": {"type": "string"},
        "description": "Twilio's signature of the public URL and the fields (a missing or wrong one: 403)",
    })
    operation["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "additionalProperties": {"type": "string"}}}}}
    operation["responses"]["200"] = {"description": "stored: an empty TwiML answer",
                                     "content": {"text/xml": {"schema": {"type": "string"}}}}
