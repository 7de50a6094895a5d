"""Admin settings: agents, teams and their settings, API keys, web chat snippets and routing rules, from
the browser."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Hub

NO_API_ROOM = {"api": 0}


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {v['nodes'][0]['target']})"
            for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


def _admin(hub: Hub) -> Any:
    return hub.agent("admin", name=f"Root {uuid.uuid4().hex[:6]}", capacities=NO_API_ROOM)


def test_an_admin_creates_an_agent_and_a_team_and_the_new_agent_signs_in(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    page = new_page(_admin(hub), path="/#/settings/agents")
    page.get_by_text("Add an agent").click()
    form = page.locator("details.st-create form")
    form.get_by_label("Email address").fill(f"nora-{uid}@example.com")
    form.get_by_label("Name").fill(f"Nora {uid}")
    form.get_by_label("Role").select_option("supervisor")
    form.get_by_label("Password").fill("a long enough secret")
    # A blank capacity means the hub's default, which the field shows in grey.
    expect(form.get_by_label("SMS capacity")).to_have_attribute("placeholder", "5")
    form.get_by_label("Chat capacity").fill("4")
    form.get_by_label("Skills").fill("billing, spanish")
    form.get_by_role("button", name="Create agent").click()
    expect(form.get_by_role("status")).to_have_text(f"Nora {uid} can now sign in.")
    row = page.locator(".st-table tr").filter(has_text=f"nora-{uid}@example.com")
    expect(row).to_contain_text("Supervisor")
    expect(row).to_contain_text("Chat 4")
    expect(row).to_contain_text("billing, spanish")

    page.get_by_role("link", name="Teams").click()
    expect(page).to_have_url(f"{hub.url}/#/settings/teams")
    page.get_by_text("Create a team").click()
    page.locator("details.st-create").get_by_label("Name").fill(f"Night shift {uid}")
    page.get_by_role("button", name="Create team").click()
    page.get_by_role("button", name=f"Manage Night shift {uid}").click()
    page.get_by_label("Add a member").select_option(label=f"Nora {uid}")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".st-members")).to_contain_text(f"Nora {uid}")
    expect(page.locator(".st-table tr").filter(has_text=f"Night shift {uid}")).to_contain_text("1")
    assert page.errors == []

    # The new agent signs in with what the admin typed, and lands in the console as a supervisor.
    login = new_page(None, path="/login")
    login.get_by_label("Email").fill(f"nora-{uid}@example.com")
    login.get_by_label("Password").fill("a long enough secret")
    login.get_by_role("button", name="Sign in").click()
    expect(login.locator(".me")).to_have_text(f"Nora {uid}")
    expect(login.get_by_role("link", name="Supervisor")).to_be_visible()


def test_agent_forms_catch_bad_input_and_show_the_servers_refusal(hub: Hub, new_page: Any) -> None:
    taken = hub.agent(name=f"Taken {uuid.uuid4().hex[:6]}")
    page = new_page(_admin(hub), path="/#/settings/agents")
    page.get_by_text("Add an agent").click()
    form = page.locator("details.st-create form")
    form.get_by_label("Email address").fill("not an email")
    form.get_by_role("button", name="Create agent").click()
    expect(form.get_by_role("status")).to_have_text("Enter a valid email address.")
    expect(form.get_by_label("Email address")).to_be_focused()

    form.get_by_label("Email address").fill(taken.email)
    form.get_by_label("Name").fill("Someone")
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Create agent").click()
    expect(form.get_by_role("status")).to_have_text("The password needs at least 8 characters.")
    form.get_by_label("Password").fill("long enough now")
    form.get_by_label("SMS capacity").fill("-2")
    form.get_by_role("button", name="Create agent").click()
    expect(form.get_by_role("status")).to_have_text("A capacity is a whole number from 0 to 1000.")
    form.get_by_label("SMS capacity").fill("")
    form.get_by_role("button", name="Create agent").click()
    expect(form.get_by_role("status")).to_have_text(f"An agent with the email {taken.email} exists already.")

    # Editing: deactivate and reset the password; the old password stops working.
    page.get_by_role("button", name=f"Edit {taken.name}").click()
    editor = page.locator(".st-editor")
    editor.get_by_label("Active").uncheck()
    editor.get_by_role("button", name="Save").click()
    expect(editor.get_by_role("status").first).to_have_text("Saved.")
    expect(page.locator(".st-table tr").filter(has_text=taken.email)).to_contain_text("Deactivated")
    editor.get_by_label("New password").fill("brand new password")
    editor.get_by_role("button", name="Reset password").click()
    expect(editor.get_by_role("status").last).to_have_text(f"{taken.name}'s password was changed.")
    assert page.errors == []


def test_team_settings_are_validated_and_saved(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    admin = _admin(hub)
    team = hub.team(f"Support {uid}")
    page = new_page(admin, path="/#/settings/teams")
    page.get_by_role("button", name=f"Manage Support {uid}").click()
    page.get_by_label("Chat offer timeout (seconds)").fill("45")
    page.get_by_label("First response (minutes)").fill("15")
    page.get_by_label("Warn before a breach (minutes)").fill("5")
    page.get_by_label("Time zone").fill("Europe/Madrid")
    page.get_by_label("Monday").fill("09:00-14:00, 17:00-16:00")
    page.get_by_role("button", name="Save").click()
    status = page.locator(".st-card form").last.get_by_role("status")
    expect(status).to_have_text("“17:00-16:00” is not a span like 09:00-17:00 that ends after it starts.")
    page.get_by_label("Monday").fill("09:00-14:00, 16:00-19:00")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Save").click()
    expect(status).to_contain_text("Unknown time zone")
    page.get_by_label("Time zone").fill("Europe/Madrid")
    page.get_by_role("button", name="Save").click()
    expect(status).to_have_text("Saved.")

    teams = hub.api("GET", "/api/v1/teams", admin).json()["items"]
    saved = next(t for t in teams if t["id"] == team)["settings"]
    assert saved == {
        "offer_timeout_seconds": 45,
        "sla": {"default": {"first_response": 900}, "warn_before": 300},
        "business_hours": {"timezone": "Europe/Madrid", "days": {"mon": ["09:00-14:00", "16:00-19:00"]}},
    }
    assert page.errors == []


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    page = new_page(_admin(hub), path="/#/settings/api-keys")
    page.get_by_label("Name").fill(f"CRM {uid}")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("alert")).to_have_text(f"Copy the key for CRM {uid} now: it will not be shown again.")
    secret = page.get_by_label("Secret key").input_value()

    def send() -> int:
        return httpx.post(f"{hub.url}/api/v1/inbound/messages", headers={"X-Api-Key": secret}, json={
            "source": "crm", "external_id": uuid.uuid4().hex, "contact": {"email": f"k-{uid}@example.com"},
            "text": "hello"}).status_code

    assert send() in (200, 201)
    page.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_label("Secret key")).to_have_count(0)
    row = page.locator(".st-table tr").filter(has_text=f"CRM {uid}")
    row.get_by_role("button", name=f"Revoke CRM {uid}", exact=True).click()
    row.get_by_role("button", name=f"Revoke CRM {uid} for good?").click()
    expect(page.locator(".st-msg").first).to_have_text(f"Key CRM {uid} revoked: it no longer works.")
    expect(row).to_contain_text("Revoked")
    assert send() == 401
    assert page.errors == []


def test_the_web_chat_tab_shows_the_line_to_paste_for_each_widget(hub: Hub, new_page: Any) -> None:
    page = new_page(_admin(hub), path="/#/settings/mailboxes")
    page.get_by_role("link", name="Web chat").click()
    expect(page).to_have_url(f"{hub.url}/#/settings/webchat")
    card = page.locator(".st-card").filter(has_text="Demo shop (demo)")
    snippet = f'<script src="{hub.url}/widget/loader.js" data-widget="demo" async></script>'
    expect(card.get_by_label("Snippet", exact=True)).to_have_value(snippet)
    expect(card.get_by_label("Snippet", exact=True)).not_to_be_editable()
    expect(card).to_contain_text("Any agent")
    expect(card).to_contain_text("Not required")
    card.get_by_role("button", name="Copy the snippet of Demo shop").click()
    # Headless browsers may refuse the clipboard: then the page says to copy by hand.
    expect(card.get_by_role("status")).to_have_text(re.compile(r"^(Copied\.|Select the line and copy it by hand\.)$"))
    demo = card.get_by_role("link", name="Try it on the demo page")
    expect(demo).to_have_attribute("href", f"{hub.url}/widget/demo")
    assert httpx.get(f"{hub.url}/widget/demo").status_code == 200
    page.screenshot(path="/tmp/webchat-settings.png", full_page=True)
    assert page.errors == []


def test_routing_rules_are_added_and_deleted(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    team = hub.team(f"Refunds {uid}")
    admin = _admin(hub)
    page = new_page(admin, path="/#/settings/routing")
    form = page.locator(".st-card form")
    form.get_by_label("Name").fill(f"refunds {uid}")
    form.get_by_label("Team").select_option(str(team))
    form.get_by_label("Priority").fill("500")
    form.get_by_role("button", name="Add rule").click()
    expect(form.get_by_role("status")).to_have_text("The priority is a whole number from -100 to 100.")
    form.get_by_label("Priority").fill("5")
    form.get_by_label("API").check()
    form.get_by_label("Keywords").fill("refund, money back")
    form.get_by_role("button", name="Add rule").click()
    expect(form.get_by_role("status")).to_have_text(f"Rule refunds {uid} added.")
    row = page.locator(".st-table tr").filter(has_text=f"refunds {uid}")
    expect(row).to_contain_text("Channels: API · Keywords: refund, money back")
    expect(row).to_contain_text(f"Refunds {uid}")

    # A new customer writing about a refund now lands in that team's queue.
    conv_id = hub.customer_says("I want a refund", email=f"r-{uid}@example.com")["conversation_id"]
    assert hub.api("GET", f"/api/v1/conversations/{conv_id}", admin).json()["conversation"]["team_id"] == team

    row.get_by_role("button", name=f"Delete rule refunds {uid}").click()
    row.get_by_role("button", name=f"Delete refunds {uid}?").click()
    expect(page.get_by_text(f"Rule refunds {uid} deleted.")).to_be_visible()
    expect(page.locator(".st-table tr").filter(has_text=f"refunds {uid}")).to_have_count(0)
    assert page.errors == []


def test_settings_pages_have_no_serious_accessibility_violations(hub: Hub, new_page: Any) -> None:
    hub.agent(name="Someone Else")
    page = new_page(_admin(hub), path="/#/settings/agents")
    expect(page.locator(".st-table")).to_be_visible()
    page.get_by_role("button", name="Edit Someone Else").click()
    page.get_by_text("Add an agent").click()
    assert serious_violations(page) == []
    team = f"Audit {uuid.uuid4().hex[:6]}"
    hub.team(team)
    page.get_by_role("link", name="Teams").click()
    page.get_by_role("button", name=f"Manage {team}").click()
    expect(page.get_by_label("Time zone")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Audit key")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("Secret key")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("link", name="Routing rules").click()
    expect(page.get_by_role("button", name="Add rule")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("link", name="Web chat").click()
    expect(page.get_by_label("Snippet", exact=True)).to_be_visible()
    assert serious_violations(page) == []
