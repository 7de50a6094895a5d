"""Remote images in a customer's email load only when the agent asks, never before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Hub
from tests.browser.outside import Outside
from tests.conftest import wait_for


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    server = Outside()
    yield server
    server.stop()


def test_a_remote_image_is_fetched_only_after_show_images(hub: Hub, outside: Outside, new_page: Any) -> None:
    pixel = f"/open-{uuid.uuid4().hex[:8]}.gif"
    ana, boss = hub.agent(name="Ana Images"), hub.agent("supervisor")
    body = {"source": "crm", "external_id": uuid.uuid4().hex, "text": "Our spring offer",
            "contact": {"email": f"i-{uuid.uuid4().hex[:8]}@example.com", "name": "Ivy Images"},
            "html": f'<p>Our <b>spring</b> offer</p><img alt="tracker" src="{outside.url(pixel)}">'}
    resp = httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body, headers={"X-Api-Key": hub.api_key})
    assert resp.status_code == 201, resp.text
    conv = resp.json()["conversation_id"]
    assert hub.api("POST", f"/api/v1/conversations/{conv}/assign", boss, json={"assignee_id": ana.id}).is_success

    page = new_page(ana, path=f"/#/c/{conv}")
    page.get_by_role("button", name="Show the formatted version").click()
    frame = page.frame_locator("iframe.html-frame")
    expect(frame.locator("b")).to_have_text("spring")  # the frame's document is there, its image not
    expect(frame.locator("img")).not_to_have_attribute("src", outside.url(pixel))
    expect(page.locator(".images-blocked")).to_contain_text("Remote images are hidden")
    assert outside.fetched(pixel) == 0

    page.get_by_role("button", name="Show images").click()
    expect(frame.locator("img")).to_have_attribute("src", outside.url(pixel))
    wait_for(lambda: outside.fetched(pixel) == 1, what="the image to be fetched")
    expect(page.locator("iframe.html-frame")).to_have_attribute("sandbox", "")
    assert outside.fetched(pixel) == 1
    assert page.errors == []
