"""Signing in, in English and Spanish, and the messages a person sees when it goes wrong."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Hub
from tests.factories import PASSWORD


def test_an_agent_signs_in_in_english_and_reaches_the_console(hub: Hub, new_page: Any) -> None:
    agent = hub.agent(name="Ana Agent")
    page = new_page(None, path="/")
    expect(page).to_have_url(f"{hub.url}/login")
    expect(page.get_by_role("heading", name="Contact hub")).to_be_visible()
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{hub.url}/")
    expect(page.get_by_role("link", name="Mine")).to_be_visible()
    expect(page.locator(".me")).to_have_text("Ana Agent")
    assert page.errors == []
