"""/docs and /redoc render the API's documentation from the hub alone (offline: no CDN)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORT, Hub


def open_offline(browser: Any, hub: Hub, path: str) -> tuple[Any, list[str], list[str]]:
    """The page, the requests it made outside the hub (refused, as with no network), and what the
    console logged as errors (a CSP refusal among them)."""
    context = browser.new_context(viewport=VIEWPORT, base_url=hub.url)
    outside: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == urlsplit(hub.url).netloc:
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(path)
    return page, outside, errors


@pytest.mark.parametrize("path, shown", [("/docs", "List conversations: the inbox"),
                                         ("/redoc", "inbound (API channel)")])
def test_the_api_docs_render_with_nothing_loaded_from_outside_the_hub(browser: Any, hub: Hub, path: str,
                                                                      shown: str) -> None:
    page, outside, errors = open_offline(browser, hub, path)
    expect(page.get_by_text(shown).first).to_be_visible(timeout=20_000)
    assert outside == []
    # Redoc 3 always shows Redocly's logo from cdn.redoc.ly in its sidebar; the policy blocks it (so
    # nothing is fetched) and Redoc hides the image on that error. Anything else refused or missing fails.
    # The page may still be fetching (a favicon, the logo) when its text shows: wait until it is done.
    page.wait_for_load_state("networkidle")
    refused = [e for e in errors if "Content Security Policy" in e or "Failed to load" in e]
    assert [e for e in refused if "https://cdn.redoc.ly/redoc/logo-mini" not in e] == []
    page.context.close()


def test_the_docs_pages_carry_a_policy_that_allows_only_the_hubs_scripts(hub: Hub) -> None:
    for path in ("/docs", "/redoc"):
        resp = httpx.get(f"{hub.url}{path}")
        assert resp.status_code == 200
        assert "script-src 'self';" in resp.headers["content-security-policy"]
        assert "cdn" not in resp.text.lower() and "<script>" not in resp.text


def test_swagger_ui_offers_to_authorize_with_each_scheme(browser: Any, hub: Hub) -> None:
    """The schema declares bearer, the session cookie and X-Api-Key (config/openapi.py)."""
    page, _, _ = open_offline(browser, hub, "/docs")
    authorize = page.locator("button.authorize").first
    expect(authorize).to_be_visible(timeout=20_000)
    authorize.click()
    for scheme in ("bearer", "cookie", "apiKey"):
        expect(page.get_by_text(f"{scheme} (").first).to_be_visible()
    page.context.close()
