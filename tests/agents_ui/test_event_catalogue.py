"""The event catalogue as the API serves it, and the console's words for every event it shows."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from agents_ui.pages import I18N_DIR, STATIC_DIR
from hub.db import Database
from hub.events.types import CATALOGUE
from tests.factories import login

# sidebar.js `timelineText`: the types it words with keys of their own; every other type of a
# contact's timeline is `timeline.<type>`.
TIMELINE_OWN_KEYS = {"message.created": "timeline.message", "note.created": "timeline.note",
                     "delivery.status_changed": "timeline.delivery", "conversation.rated": "timeline.rated"}


def _texts(lang: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in sorted((I18N_DIR / lang).glob("*.json")):
        out.update(json.loads(f.read_text()))
    return out


def test_any_agent_reads_every_event_type_with_its_audience_ids_and_data_schema(client: TestClient,
                                                                                db: Database) -> None:
    agent = login(client, db)
    resp = client.get("/api/v1/events/catalogue", headers=agent.headers)
    assert resp.status_code == 200
    items = {item["type"]: item for item in resp.json()["items"]}
    assert set(items) == set(CATALOGUE)
    note = items["note.created"]
    assert note["audience"] == "agents"
    assert note["columns"] == ["conversation_id", "contact_id", "actor_agent_id"]
    assert note["data"]["properties"]["mentions"] == {"type": "array", "items": {"type": "integer"}}
    assert set(note["data"]["required"]) == {"message", "mentions"}
    status = items["conversation.status_changed"]
    assert status["audience"] == "public"
    assert "reason" not in status["data"]["required"] and "from" in status["data"]["required"]
    assert items["presence.changed"]["columns"] == ["actor_agent_id"]
    schema = client.get("/openapi.json").json()
    assert "/api/v1/events/catalogue" in schema["paths"]


def _contact_timeline_types() -> set[str]:
    """Every type written with a contact id: a contact's timeline (GET /contacts/{id}/timeline) shows it."""
    return {name for name, cls in CATALOGUE.items() if "contact_id" in {c for c, _ in cls._COLUMN_FIELDS}}


def test_every_event_a_customer_timeline_shows_has_english_and_spanish_words() -> None:
    sidebar = (STATIC_DIR / "js" / "sidebar.js").read_text()
    for type_, key in TIMELINE_OWN_KEYS.items():
        assert f"'{type_}'" in sidebar and f"'{key}'" in sidebar, f"sidebar.js no longer words {type_} as {key}"
    assert "`timeline.${e.type}`" in sidebar, "sidebar.js no longer looks up timeline.<type>"
    for lang in ("en", "es"):
        texts = _texts(lang)
        missing = sorted(t for t in _contact_timeline_types() if TIMELINE_OWN_KEYS.get(t, f"timeline.{t}") not in texts)
        assert not missing, f"{lang}: no timeline text for {missing}"


def test_every_event_a_conversation_thread_shows_is_catalogued_and_worded() -> None:
    thread = (STATIC_DIR / "js" / "thread.js").read_text()
    listed = re.search(r"const EVENT_TYPES = new Set\(\[(.*?)\]\)", thread, re.S)
    assert listed, "thread.js: EVENT_TYPES not found"
    shown = set(re.findall(r"'([a-z_.]+)'", listed.group(1)))
    assert shown, "thread.js shows no events: the pattern is stale"
    assert shown <= set(CATALOGUE), f"not in the catalogue: {sorted(shown - set(CATALOGUE))}"
    en, es = _texts("en"), _texts("es")
    for type_ in shown:
        case = re.search(rf"case '{re.escape(type_)}':\s*\n\s*return (.*?);\n", thread, re.S)
        assert case, f"thread.js describes no {type_}"
        for key in re.findall(r"t\('([a-z_.]+)'", case.group(1)):
            assert key in en and key in es, f"{type_}: {key} missing in en or es"
