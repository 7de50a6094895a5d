"""Canned responses: rendered for the conversation's customer and the agent, in the customer's language."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from hub.contacts.models import Contact
from hub.conversations.canned import CannedResponses, language_of
from hub.db import Database
from tests.agents_ui.api.test_conversations import move
from tests.conftest import make_settings
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def set_language(db: Database, contact_id: int, language: str | None) -> None:
    with db.write() as s:
        contact = s.get(Contact, contact_id)
        assert contact is not None
        contact.language = language


def test_responses_address_the_customer_by_name_and_are_signed_by_the_agent(client: TestClient,
                                                                          db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key, email="m@example.com", name="María López")["conversation_id"])
    agent = login(client, db, "agent")
    resp = client.get(f"/api/v1/canned?conversation_id={conv_id}", headers=agent.headers)
    assert resp.status_code == 200, resp.text
    items = {i["name"]: i for i in resp.json()["items"]}
    assert {"greeting", "follow_up", "closing", "more_info"} <= set(items)
    me = client.get("/api/v1/agents/me", headers=agent.headers).json()["name"].split()[0]
    assert items["greeting"]["title"] == "Greeting"
    assert items["greeting"]["text"].startswith(f"Hello María, this is {me}.")
    assert "{{" not in str(items) and "{#" not in str(items)


@pytest.mark.parametrize("language, title", [("es", "Saludo"), ("es-MX", "Saludo"), ("fr", "Greeting"),
                                             (None, "Greeting")])
def test_the_customers_language_picks_the_variant_with_english_as_fallback(
    client: TestClient, db: Database, language: str | None, title: str
) -> None:
    key = api_key(db)
    created = inbound(client, key, email="lang@example.com", name="Ana")
    set_language(db, int(created["contact_id"]), language)
    agent = login(client, db, "agent")
    items = {i["name"]: i for i in client.get(f"/api/v1/canned?conversation_id={created['conversation_id']}",
                                              headers=agent.headers).json()["items"]}
    assert items["greeting"]["title"] == title


@pytest.mark.parametrize("visibility, outsider_gets", [("company", 200), ("team", 403)])
def test_canned_responses_follow_the_conversation_visibility_rule(database_url: str, visibility: str,
                                                                  outsider_gets: int) -> None:
    """Whoever may read the conversation (hub/events/visibility.py): any agent, or in `team`
    visibility only its team's."""
    with TestClient(create_app(make_settings(database_url, visibility=visibility))) as client:
        db = client.app.state.hub.db  # type: ignore[attr-defined]
        _check_visibility(client, db, outsider_gets)


def _check_visibility(client: TestClient, db: Database, outsider_gets: int) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key, email="v@example.com")["conversation_id"])
    move(db, conv_id, team_id=create_team(db))
    outsider = login(client, db, "agent", teams=[create_team(db)])
    resp = client.get(f"/api/v1/canned?conversation_id={conv_id}", headers=outsider.headers)
    assert resp.status_code == outsider_gets
    assert client.get("/api/v1/canned?conversation_id=999999", headers=outsider.headers).status_code == 404
    assert client.get("/api/v1/canned", headers=outsider.headers).status_code == 422


def test_a_template_cannot_reach_past_its_fields_and_a_broken_one_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ok.en.j2").write_text("{# title: Fine #}\nHi {{ contact.first_name }}")
    (tmp_path / "escape.en.j2").write_text("{{ contact.__class__.__mro__[1].__subclasses__() }}")
    (tmp_path / "typo.en.j2").write_text("{{ contact.nmae }}")
    (tmp_path / "unclosed.en.j2").write_text("{% if x %}")
    (tmp_path / "notes.txt").write_text("not a template")
    with caplog.at_level(logging.WARNING):
        items = CannedResponses(tmp_path).render(language="en", contact={"first_name": "Zoe"}, agent={})
    assert [(i.name, i.title, i.text) for i in items] == [("ok", "Fine", "Hi Zoe")]
    assert {"escape.en.j2", "typo.en.j2", "unclosed.en.j2"} <= {r.args[0] for r in caplog.records}  # type: ignore[index]


def test_language_tags_reduce_to_their_primary_subtag() -> None:
    assert [language_of(t) for t in ("es-MX", "ES_es", "pt", " ", None)] == ["es", "es", "pt", "en", "en"]
