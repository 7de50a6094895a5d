"""The agent console as people use it: work arriving live, answering, notes that reach a
colleague, surviving a dropped network and a restarted hub, and customer text that never runs."""

from __future__ import annotations

import re
import uuid
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import Agent, Hub
from tests.conftest import wait_for


def _email() -> str:
    return f"c-{uuid.uuid4().hex[:8]}@example.com"


def _give(hub: Hub, conversation_id: int, agent: Agent) -> None:
    boss = hub.agent("supervisor")
    resp = hub.api("POST", f"/api/v1/conversations/{conversation_id}/assign", boss, json={"assignee_id": agent.id})
    assert resp.status_code == 200, resp.text


def _row(page: Any, name: str) -> Any:
    return page.locator(".row-item", has=page.locator(".row-name", has_text=name))


def test_a_customer_message_appears_live_in_the_right_agents_inbox(hub: Hub, new_page: Any) -> None:
    ana, ben = hub.agent(name="Ana Live"), hub.agent(name="Ben Live")
    ana_page, ben_page = new_page(ana), new_page(ben)
    for page in (ana_page, ben_page):
        expect(page.locator(".list-state")).to_contain_text("No conversations waiting")
    first = hub.customer_says("Where is my parcel?", email=(email := _email()), name="Dora Live")
    _give(hub, first["conversation_id"], ana)
    row = _row(ana_page, "Dora Live")
    expect(row).to_contain_text("Where is my parcel?")
    expect(row.locator(".unread-dot")).to_have_count(1)
    expect(ana_page.locator('.view[data-view="mine"] .count')).to_have_text("1")
    expect(ana_page).to_have_title("(1) Contact hub")  # the unread count in the tab title
    hub.customer_says("It was due on Monday.", email=email)
    expect(row).to_contain_text("It was due on Monday.")
    expect(_row(ben_page, "Dora Live")).to_have_count(0)
    expect(ben_page.locator('.view[data-view="mine"] .count')).to_have_text("0")
    assert ana_page.errors == [] and ben_page.errors == []


def test_reply_note_with_mention_reaches_the_colleague_then_resolve(hub: Hub, new_page: Any) -> None:
    ana, ben = hub.agent(name="Ana Reply"), hub.agent(name="Ben Mention")
    conv = hub.customer_says("Can I change my address?", email=_email(), name="Eve Reply")["conversation_id"]
    _give(hub, conv, ana)
    ben_page = new_page(ben, path="/#/inbox/mentions")
    expect(ben_page.locator(".list-state")).to_contain_text("No conversations waiting")
    page = new_page(ana, path=f"/#/c/{conv}")
    expect(page.locator(".msg-in")).to_contain_text("Can I change my address?")

    page.keyboard.press("r")
    page.keyboard.type("/greet")  # a canned response, rendered for this customer and agent
    expect(page.locator("#composer-popup [role=option]").first).to_contain_text("Greeting")
    page.keyboard.press("Enter")
    expect(page.locator("#composer-text")).to_have_value(re.compile(r"Eve.*\S", re.S))
    page.locator("#composer-text").fill("Yes, send me the new one.")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-out")).to_contain_text("Yes, send me the new one.")

    page.get_by_role("tab", name="Note").click()
    box = page.locator("#composer-text")
    box.type("Please check this @Mention")
    expect(page.get_by_role("option", name="Ben Mention")).to_be_visible()
    page.keyboard.press("Enter")
    expect(box).to_have_value("Please check this @Ben Mention ")
    box.type("thanks")
    page.get_by_role("button", name="Send", exact=True).click()
    note = page.locator(".msg-note")
    expect(note).to_contain_text("Please check this @Ben Mention thanks")
    expect(note).to_contain_text("Internal note")

    # Ben's console shows it live: the conversation in his Mentions view, and a polite announcement.
    expect(_row(ben_page, "Eve Reply")).to_have_count(1)
    expect(ben_page.locator("#live")).to_have_text("Ana Reply mentioned you in a note")

    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".conv-title .status")).to_have_text("Resolved")
    expect(page.locator(".event").last).to_contain_text("Ana Reply set the status to Resolved")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    assert page.errors == [] and ben_page.errors == []


def _texts(page: Any) -> list[str]:
    return page.locator(".msg-in .text").all_text_contents()  # type: ignore[no-any-return]


def test_network_drop_and_hub_restart_lose_and_duplicate_nothing(hub: Hub, new_page: Any) -> None:
    ana = hub.agent(name="Ana Offline")
    email = _email()
    conv = hub.customer_says("one", email=email, name="Finn Offline")["conversation_id"]
    _give(hub, conv, ana)
    page = new_page(ana, path=f"/#/c/{conv}")
    expect(page.locator(".msg-in")).to_have_count(1)
    page.context.set_offline(True)
    expect(page.locator(".banner")).to_have_text("Reconnecting…")
    hub.customer_says("two", email=email)
    hub.customer_says("three", email=email)
    page.context.set_offline(False)
    expect(page.locator(".banner")).to_have_text("Back online, caught up")
    expect(page.locator(".msg-in")).to_have_count(3)
    assert _texts(page) == ["one", "two", "three"]

    hub.stop()
    expect(page.locator(".banner")).to_have_text("Reconnecting…", timeout=15000)
    hub.start()
    hub.customer_says("four", email=email)
    expect(page.locator(".banner")).to_have_text("Back online, caught up", timeout=20000)
    expect(page.locator(".msg-in")).to_have_count(4)
    hub.customer_says("five", email=email)
    expect(page.locator(".msg-in")).to_have_count(5)
    assert _texts(page) == ["one", "two", "three", "four", "five"]
    expect(_row(page, "Finn Offline")).to_contain_text("five")
    assert page.errors == []


HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


def test_hostile_text_in_every_field_is_shown_as_text_and_never_runs(hub: Hub, new_page: Any) -> None:
    ana = hub.agent(name=f"Ana {HOSTILE}")
    body = {"source": "crm", "external_id": uuid.uuid4().hex, "subject": f"Subject {HOSTILE}",
            "contact": {"email": _email(), "name": f"Name {HOSTILE}"}, "text": f"Text {HOSTILE}",
            "html": f"<p>Html</p>{HOSTILE}",
            "attachments": [{"url": "javascript:window.__pwned=1", "filename": f"file {HOSTILE}"}]}
    import httpx

    resp = httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body, headers={"X-Api-Key": hub.api_key})
    assert resp.status_code == 422  # a javascript: link never gets in (channels/api/webhooks.py: http(s) only)
    body["attachments"] = [{"url": "https://files.example/report.pdf", "filename": f"file {HOSTILE}"}]
    resp = httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body, headers={"X-Api-Key": hub.api_key})
    assert resp.status_code in (200, 201), resp.text
    conv = resp.json()["conversation_id"]
    _give(hub, conv, ana)
    page = new_page(ana)
    expect(_row(page, "Name <img")).to_contain_text(f"Text {HOSTILE}")
    _row(page, "Name <img").locator("a").click()
    expect(page.locator(".conv-title h2")).to_have_text(f"Name {HOSTILE}")
    expect(page.locator(".msg-in .text")).to_have_text(f"Text {HOSTILE}")
    expect(page.locator(".msg-in .subject")).to_have_text(f"Subject {HOSTILE}")
    attachment = page.locator(".attachments li")
    expect(attachment).to_have_text(f"file {HOSTILE}")
    expect(attachment.locator("a")).to_have_attribute("href", "https://files.example/report.pdf")
    page.get_by_role("button", name="Show the formatted version").click()
    expect(page.locator("iframe.html-frame")).to_have_attribute("sandbox", "allow-same-origin")
    page.locator("#composer-text").fill(f"Reply {HOSTILE}")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-out .text")).to_have_text(f"Reply {HOSTILE}")
    expect(page.locator(".msg-out .msg-author")).to_have_text(f"Ana {HOSTILE}")
    expect(page.locator(".customer-name")).to_have_text(f"Name {HOSTILE}")
    expect(page.locator(".me")).to_have_text(f"Ana {HOSTILE}")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x'], script:not([src])").count() == 0
    assert page.errors == []


def _serious(page: Any) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def test_login_inbox_and_conversation_pass_axe(hub: Hub, new_page: Any) -> None:
    login = new_page(None, path="/login")
    assert _serious(login) == []
    ana = hub.agent(name="Ana Axe")
    conv = hub.customer_says("Accessible?", email=_email(), name="Gus Axe")["conversation_id"]
    _give(hub, conv, ana)
    page = new_page(ana)
    expect(_row(page, "Gus Axe")).to_have_count(1)
    assert _serious(page) == []
    page.goto(f"/#/c/{conv}")
    expect(page.locator(".msg-in")).to_have_count(1)
    expect(page.locator(".timeline li").first).to_be_visible()
    assert _serious(page) == []


def test_a_session_ended_elsewhere_takes_the_console_to_login_with_a_notice(hub: Hub, new_page: Any) -> None:
    page = new_page(hub.agent(name="Ana Expired"))
    expect(page.locator("#presence")).to_have_value("online")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "hub_session")
    import httpx

    assert httpx.post(f"{hub.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # The hub closes the socket of an ended session; the console asks the API why and gets a 401.
    expect(page).to_have_url(f"{hub.url}/login?expired=1")
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Please sign in again.")


def _watch_sockets(page: Any) -> list[Any]:
    """The page's agent sockets from now on; its API cannot say the session ended (an unreachable
    API), so only the socket's close code can take the agent to the login page."""
    sockets: list[Any] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.route("**/api/v1/**", lambda route: route.abort())
    return sockets


def _log_out(hub: Hub, page: Any) -> None:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "hub_session")
    import httpx

    assert httpx.post(f"{hub.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_socket_closing_with_session_ended_goes_to_login_without_reconnecting(hub: Hub, new_page: Any) -> None:
    page = new_page(hub.agent(name="Ana Closed"))
    expect(page.locator("#presence")).to_have_value("online")
    sockets = _watch_sockets(page)
    _log_out(hub, page)  # the hub closes the socket with 4401
    expect(page).to_have_url(f"{hub.url}/login?expired=1")
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Please sign in again.")
    assert sockets == []  # not one attempt to reconnect


def test_a_session_ended_while_offline_goes_to_login_when_the_socket_is_refused(hub: Hub, new_page: Any) -> None:
    page = new_page(hub.agent(name="Ana Asleep"))
    expect(page.locator("#presence")).to_have_value("online")
    page.context.set_offline(True)
    expect(page.locator("body")).to_have_attribute("data-connection", "offline")
    sockets = _watch_sockets(page)
    _log_out(hub, page)
    page.context.set_offline(False)  # the socket comes back without a session: 1008
    expect(page).to_have_url(f"{hub.url}/login?expired=1")
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Please sign in again.")
    assert len(sockets) == 1
    assert page.errors == []


def test_keyboard_moves_through_the_list_and_drafts_survive_switching_and_reload(hub: Hub, new_page: Any) -> None:
    ana = hub.agent(name="Ana Keys")
    page = new_page(ana)
    expect(page.locator("#presence")).to_have_value("online")
    for name in ("Hana Keys", "Ivan Keys"):
        _give(hub, hub.customer_says(f"Hello from {name}", email=_email(), name=name)["conversation_id"], ana)
    expect(page.locator(".row-item")).to_have_count(2)
    page.locator("body").click(position={"x": 700, "y": 400})
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator(".conv-title h2")).to_have_text("Ivan Keys")  # newest first
    page.keyboard.press("r")
    page.keyboard.type("Half-written answer")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator(".conv-title h2")).to_have_text("Hana Keys")
    expect(page.locator("#composer-text")).to_have_value("")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    expect(page.locator("#composer-text")).to_have_value("Half-written answer")
    page.reload()
    expect(page.locator("#composer-text")).to_have_value("Half-written answer")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    page.get_by_role("button", name="In 1 hour").click()
    expect(page.locator(".conv-title .status")).to_have_text("Snoozed")
    page.get_by_role("button", name="Hand back to the queue").click()
    expect(page.locator(".conv-meta")).to_contain_text("Assignee: Nobody")
    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator(".conv-meta")).to_contain_text("Assignee: Ana Keys")
    page.keyboard.press("e")
    expect(page.locator(".conv-title .status")).to_have_text("Resolved")
    assert page.errors == []


def test_rows_move_up_with_new_messages_and_the_language_switch_is_remembered(hub: Hub, new_page: Any) -> None:
    ana = hub.agent(name="Ana Order")
    page = new_page(ana)
    expect(page.locator("#presence")).to_have_value("online")
    emails = {name: _email() for name in ("Jon Order", "Kim Order")}
    for name, email in emails.items():
        _give(hub, hub.customer_says(f"First from {name}", email=email, name=name)["conversation_id"], ana)
    names = page.locator(".row-name")
    expect(names).to_have_text(["Kim Order", "Jon Order"])
    page.mouse.move(5, 5)  # not pointing at the list
    hub.customer_says("Jon again", email=emails["Jon Order"])
    expect(names).to_have_text(["Jon Order", "Kim Order"])
    expect(page.locator(".row-item").first).to_contain_text("Jon again")

    page.get_by_label("Language").select_option("es")
    expect(page.get_by_role("link", name="Mías")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert page.errors == []


def test_a_refused_presence_change_says_why_and_the_select_shows_the_hubs_presence(hub: Hub, new_page: Any) -> None:
    """The hub takes a few presence changes a second per agent (agents_ui/presence.py); the answer
    beyond (its 429, as the hub words it) is shown in the console's language, and the select goes
    back to the presence the hub holds instead of showing one that was never set."""
    ana = hub.agent(name="Ana Toggles")
    page = new_page(ana)
    expect(page.locator("#presence")).to_have_value("online")
    page.route("**/api/v1/agents/me/presence", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "1"}, content_type="application/json",
        body='{"error": "too_many_requests", "message": "too many presence changes; try again in 0.4 seconds"}'))
    page.locator("#presence").select_option("away")
    expect(page.locator(".banner")).to_have_text("Too many presence changes. Try again in 1 second.")
    expect(page.locator("#presence")).to_have_value("online")
    page.unroute("**/api/v1/agents/me/presence")
    page.locator("#presence").select_option("away")
    wait_for(lambda: hub.api("GET", "/api/v1/agents/me", ana).json()["presence"] == "away", what="away")
    expect(page.locator("#presence")).to_have_value("away")
    assert page.errors == []
