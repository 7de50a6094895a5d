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


def test_spanish_login_explains_a_wrong_password_and_a_throttled_login(hub: Hub, new_page: Any) -> None:
    agent = hub.agent()
    page = new_page(None, locale="es-ES", path="/login")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_label("Correo electrónico").fill(agent.email)
    page.get_by_label("Contraseña").fill("not the password")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("alert")).to_have_text(
        "El correo y la contraseña no coinciden. Revísalos e inténtalo de nuevo.")
    for _ in range(10):  # the throttle's limit (settings.login_max_failures) and then some
        page.get_by_role("button", name="Entrar").click()
        if "Demasiados intentos" in (page.get_by_role("alert").text_content() or ""):
            break
        expect(page.get_by_role("button", name="Entrar")).to_be_enabled()
    expect(page.get_by_role("alert")).to_contain_text("Demasiados intentos fallidos. Vuelve a intentarlo en")
    expect(page).to_have_url(f"{hub.url}/login")
    assert page.errors == []


def test_signing_out_ends_the_session_and_returns_to_login(hub: Hub, new_page: Any) -> None:
    page = new_page(hub.agent(name="Sam"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{hub.url}/login")
    page.goto("/")
    expect(page).to_have_url(f"{hub.url}/login")
