"""Remote images in a customer's email load only when the agent asks, never before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Agent, Hub
from tests.browser.outside import Outside
from tests.browser.test_settings import serious_violations
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
    # "Show images" beside the framed mail (axe cannot look inside the frame, which runs no script:
    # the mail is the sender's markup, its `frame-tested` is "incomplete", not a violation).
    assert serious_violations(page) == []

    expect(page.get_by_role("button", name="Show images")).to_be_focused()  # where the formatted button was
    page.keyboard.press("Enter")
    expect(frame.locator("img")).to_have_attribute("src", outside.url(pixel))
    expect(page.locator("iframe.html-frame")).to_be_focused()
    wait_for(lambda: outside.fetched(pixel) == 1, what="the image to be fetched")
    expect(page.locator("iframe.html-frame")).to_have_attribute("sandbox", "allow-same-origin")
    assert outside.fetched(pixel) == 1
    assert page.errors == []


def _html_mail(hub: Hub, html: str, name: str, ana: Agent) -> int:
    boss = hub.agent("supervisor")
    body = {"source": "crm", "external_id": uuid.uuid4().hex, "text": "see the formatted version",
            "contact": {"email": f"f-{uuid.uuid4().hex[:8]}@example.com", "name": name}, "html": html}
    resp = httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body, headers={"X-Api-Key": hub.api_key})
    assert resp.status_code == 201, resp.text
    conv = int(resp.json()["conversation_id"])
    assert hub.api("POST", f"/api/v1/conversations/{conv}/assign", boss, json={"assignee_id": ana.id}).is_success
    return conv


def _gap_below(page: Any, last: Any) -> float:
    """Pixels between the end of the frame's content and the frame's bottom edge."""
    frame_box = page.locator("iframe.html-frame").bounding_box()
    box = last.bounding_box()
    return float(frame_box["y"] + frame_box["height"] - (box["y"] + box["height"]))


def test_the_email_frame_is_as_tall_as_its_content_and_a_huge_one_opens_on_request(hub: Hub,
                                                                                      new_page: Any) -> None:
    ana = hub.agent(name="Ana Frames")
    conv = _html_mail(hub, "<p>Short and <b>sweet</b>.</p>", "Sam Short", ana)
    page = new_page(ana, path=f"/#/c/{conv}")
    page.get_by_role("button", name="Show the formatted version").click()
    last = page.frame_locator("iframe.html-frame").locator("p")
    expect(last).to_have_text("Short and sweet.")
    wait_for(lambda: 0 <= _gap_below(page, last) < 30, what="the frame to shrink to its one line")
    expect(page.locator(".frame-more")).to_be_hidden()

    # A narrower pane wraps a long line onto more lines: the frame follows.
    conv = _html_mail(hub, "<p>" + "A sentence that wraps. " * 40 + "The end.</p>", "Wes Wrap", ana)
    page.goto(f"/#/c/{conv}")
    page.get_by_role("button", name="Show the formatted version").click()
    last = page.frame_locator("iframe.html-frame").locator("p")
    expect(last).to_contain_text("The end.")
    wait_for(lambda: 0 <= _gap_below(page, last) < 30, what="the frame to fit the paragraph")
    wide = page.locator("iframe.html-frame").bounding_box()["height"]
    page.set_viewport_size({"width": 800, "height": 800})
    wait_for(lambda: page.locator("iframe.html-frame").bounding_box()["height"] > wide
             and 0 <= _gap_below(page, last) < 30, what="the frame to grow with the wrapped lines")
    page.set_viewport_size({"width": 1280, "height": 800})

    paragraphs = "".join(f"<p>Paragraph {i} of a long newsletter.</p>" for i in range(1, 61))
    conv = _html_mail(hub, paragraphs, "Lena Long", ana)
    page.goto(f"/#/c/{conv}")
    page.get_by_role("button", name="Show the formatted version").click()
    last = page.frame_locator("iframe.html-frame").locator("p").last
    expect(last).to_have_text("Paragraph 60 of a long newsletter.")
    more = page.get_by_role("button", name="Show the whole message")
    expect(more).to_be_visible()  # capped: the thread stays readable
    assert serious_violations(page) == []
    more.scroll_into_view_if_needed()
    page.screenshot(path="/tmp/email-frame-capped-en.png")
    assert _gap_below(page, last) < 0  # the end is below the fold of the frame
    more.click()
    wait_for(lambda: 0 <= _gap_below(page, last) < 30, what="the frame to grow to its whole content")
    expect(page.get_by_role("button", name="Show less")).to_have_attribute("aria-expanded", "true")
    page.locator("iframe.html-frame").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/email-frame-en.png")
    assert page.errors == []
