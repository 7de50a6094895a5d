"""The served OpenAPI schema says how each route authenticates and which errors it answers, in
the hub's one error shape, so /docs gets an Authorize button and clients can rely on it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from tests.conftest import make_settings

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema does not depend on the database: read once, from an app that is not started (with
    SMS on, so that its channel's routes are served)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'hub.db'}"
    settings = make_settings(url, twilio={"account_sid": "AC" + "0" * 32, "auth_token": "t",
                                          "numbers": ["+15550001111"]})
    resp = TestClient(create_app(settings)).get("/openapi.json")
    assert resp.status_code == 200
    return resp.json()  # type: ignore[no-any-return]


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_the_three_ways_to_authenticate_are_declared(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert (schemes["cookie"]["type"], schemes["cookie"]["in"], schemes["cookie"]["name"]) == (
        "apiKey", "cookie", "hub_session")
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-Api-Key")


def test_each_operation_says_how_it_authenticates(schema: dict[str, Any]) -> None:
    public = {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/v1/auth/login"),
              ("POST", "/api/v1/sms/segments"), ("POST", "/channels/sms/twilio/inbound"),
              ("POST", "/channels/sms/twilio/status"), ("GET", "/widget/config/{widget_id}")}
    for method, path, op in operations(schema):
        assert "security" in op, (method, path)
        if (method, path) in public:
            assert op["security"] == [], (method, path)
        elif path == "/api/v1/inbound/messages":
            assert op["security"] == [{"apiKey": []}]
        else:
            assert op["security"] == [{"bearer": []}, {"cookie": []}], (method, path)


def test_error_answers_are_documented_in_the_one_error_shape(schema: dict[str, Any]) -> None:
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"error", "message"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for method, path, op in operations(schema):
        for status, answer in op["responses"].items():
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
                assert answer["description"], (method, path, status)


@pytest.mark.parametrize(("method", "path", "statuses"), [
    ("POST", "/api/v1/teams", {"401", "403", "409", "413", "422"}),
    ("GET", "/api/v1/conversations/{conversation_id}", {"401", "403", "404", "422"}),
    ("POST", "/api/v1/conversations/{conversation_id}/accept", {"401", "403", "404", "409"}),
    ("GET", "/api/v1/agents/me", {"401"}),
    ("POST", "/api/v1/inbound/messages", {"401", "413", "422"}),
    ("POST", "/api/v1/auth/login", {"401", "413", "422", "429"}),
    ("POST", "/channels/sms/twilio/inbound", {"400", "403", "413", "415", "503"}),
    ("GET", "/readyz", {"503"}),
    ("POST", "/api/v1/conversations/{conversation_id}/messages", {"200", "201", "409"}),  # 200: a client_id again
    ("POST", "/api/v1/conversations/{conversation_id}/notes", {"200", "201"}),
])
def test_routes_document_the_answers_they_give(schema: dict[str, Any], method: str, path: str,
                                                statuses: set[str]) -> None:
    documented = set(schema["paths"][path][method.lower()]["responses"])
    assert statuses <= documented, statuses - documented


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/agents/me/presence"])
def test_a_429_documents_retry_after(schema: dict[str, Any], path: str) -> None:
    answer = schema["paths"][path]["post"]["responses"]["429"]
    assert "Retry-After" in answer["headers"]


def test_twilios_webhooks_document_their_form_and_signature(schema: dict[str, Any]) -> None:
    op = schema["paths"]["/channels/sms/twilio/inbound"]["post"]
    assert "application/x-www-form-urlencoded" in op["requestBody"]["content"]
    assert any(p["name"] == "X-Twilio-Signature" for p in op["parameters"])
    assert "text/xml" in op["responses"]["200"]["content"]
