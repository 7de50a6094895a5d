"""A reply that failed: its reason, a button to send it again, and its status following live."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Hub, running_hub
from tests.browser.outside import Outside
from tests.browser.test_settings import serious_violations


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    server = Outside()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, cheap_hashing: None,
        outside: Outside) -> Iterator[Hub]:
    """Replies on API source `crm` go to the outside server."""
    yield from running_hub(tmp_path_factory, sqlite_template,
                           api_channel={"callbacks": {"crm": outside.url("/hub-replies")}})


def test_a_failed_reply_shows_why_and_is_sent_again_with_one_click(hub: Hub, outside: Outside, new_page: Any) -> None:
    ana, boss = hub.agent(name="Ana Retry"), hub.agent("supervisor")
    conv = hub.customer_says("Did you get my form?", email=f"r-{uuid.uuid4().hex[:8]}@example.com",
                             name="Rita Retry")["conversation_id"]
    assert hub.api("POST", f"/api/v1/conversations/{conv}/assign", boss, json={"assignee_id": ana.id}).is_success
    page = new_page(ana, path=f"/#/c/{conv}")
    expect(page.locator(".msg-in")).to_contain_text("Did you get my form?")
    with outside.lock:
        outside.script.append((422, '{"error": "unknown customer 42"}'))
    sent_before = outside.posted()
    page.locator("#composer-text").fill("Yes, it arrived")
    page.keyboard.press("Enter")

    foot = page.locator(".msg-out .msg-foot")
    expect(foot.locator(".delivery")).to_have_text("Failed")
    expect(foot.locator(".delivery-error")).to_contain_text("unknown customer 42")
    retry = foot.get_by_role("button", name="Send again")
    assert serious_violations(page) == []  # the failed reply, its reason and "Send again"
    retry.focus()
    page.keyboard.press("Enter")
    expect(foot.locator(".delivery")).to_have_text("Delivered")  # from the socket, no reload
    # The button gave way to the status: focus is there, not lost at the top of the page.
    expect(foot.locator(".delivery")).to_be_focused()
    expect(foot.get_by_role("button", name="Send again")).to_have_count(0)
    expect(foot.locator(".delivery-error")).to_have_count(0)
    assert outside.posted() == sent_before + 2
    assert page.errors == []


def test_a_reply_failing_again_shows_the_new_reason_live(hub: Hub, outside: Outside, new_page: Any) -> None:
    ana = hub.agent(name="Ana Again")
    conv = hub.customer_says("Hello?", email=f"a-{uuid.uuid4().hex[:8]}@example.com", name="Abe Again")
    conv_id = conv["conversation_id"]
    boss = hub.agent("supervisor")
    assert hub.api("POST", f"/api/v1/conversations/{conv_id}/assign", boss, json={"assignee_id": ana.id}).is_success
    with outside.lock:
        outside.script.extend([(422, '{"error": "first refusal"}'), (422, '{"error": "second refusal"}')])
    assert hub.api("POST", f"/api/v1/conversations/{conv_id}/messages", ana, json={"text": "Hi Abe"}).is_success
    page = new_page(ana, path=f"/#/c/{conv_id}")
    foot = page.locator(".msg-out .msg-foot")
    expect(foot.locator(".delivery-error")).to_contain_text("first refusal")
    foot.get_by_role("button", name="Send again").click()
    expect(foot.locator(".delivery-error")).to_contain_text("second refusal")
    expect(foot.get_by_role("button", name="Send again")).to_be_enabled()
    assert page.errors == []


def test_a_spanish_console_says_why_in_spanish_and_keeps_the_foreign_words(
        hub: Hub, outside: Outside, new_page: Any) -> None:
    """What an agent found wrong: the reason of a failed reply read in English ("callback
    refused the reply with 422") inside a Spanish console."""
    ana, boss = hub.agent(name="Ana Motivo"), hub.agent("supervisor")
    conv = hub.customer_says("¿Llegó?", email=f"m-{uuid.uuid4().hex[:8]}@example.com")["conversation_id"]
    assert hub.api("POST", f"/api/v1/conversations/{conv}/assign", boss, json={"assignee_id": ana.id}).is_success
    with outside.lock:
        outside.script.append((422, '{"error": "cliente desconocido"}'))
    assert hub.api("POST", f"/api/v1/conversations/{conv}/messages", ana, json={"text": "Sí"}).is_success
    page = new_page(ana, locale="es-ES", path=f"/#/c/{conv}")
    foot = page.locator(".msg-out .msg-foot")
    expect(foot.locator(".delivery")).to_have_text("Falló")
    expect(foot.locator(".delivery-error")).to_have_text(
        'Motivo: el sistema detrás de este canal lo rechazó (422): {"error": "cliente desconocido"}')
    assert page.errors == []
