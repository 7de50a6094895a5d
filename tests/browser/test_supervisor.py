"""The supervisor board: queues, agents and conversations kept live, and bulk reassignment.

The hub is shared by the module's tests: every agent here who could be routed API conversations
either has no room for them (capacity 0) or ends offline, so routing never moves a test's
conversations behind its back.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Hub
from tests.browser.test_settings import serious_violations

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "supervisor.png"
NO_API_ROOM = {"api": 0}


def _row(page: Any, conversation_id: int) -> Any:
    return page.locator(f'.sv-convtable tr[data-id="{conversation_id}"]')


def _inbox_row(page: Any, name: str) -> Any:
    return page.locator(".rows .row-name").filter(has_text=name)


def test_the_board_shows_queues_agents_and_waits_with_no_serious_accessibility_violation(
        hub: Hub, new_page: Any, tmp_path: Path) -> None:
    # First in the module, on a hub of its own data only: this is also docs/screenshots/supervisor.png.
    support = hub.team("Support")
    sales = hub.team("Sales")
    admin = hub.agent("admin", name="Alex Admin", capacities=NO_API_ROOM)
    staff = [hub.agent(name=name, teams=[team], capacities={"api": room})
             for name, team, room in (("Lucía Pérez", support, 3), ("Marco Rossi", support, 2),
                                      ("Aisha Khan", support, 2), ("Tom Baker", sales, 2))]
    for agent, presence in zip(staff, ("online", "online", "away", "offline"), strict=True):
        hub.api("POST", "/api/v1/agents/me/presence", agent, json={"presence": presence})
    rule = hub.api("POST", "/api/v1/routing/rules", admin,
                   json={"name": "invoices", "match": {"keywords": ["invoice"]}, "team_id": sales}).json()
    boss = hub.agent("supervisor", name="Sam Rivera", capacities=NO_API_ROOM)
    for i, name in enumerate(("Jordan Lee", "Priya Shah", "Ana Gómez", "Wei Chen", "Olivia Brown", "Noah Smith",
                              "Emma Wilson", "Liam Garcia")):
        text = "My invoice shows the wrong amount" if i >= 6 else "I cannot sign in to my account"
        hub.customer_says(text, email=f"shot{i}@example.com", name=name)

    board = new_page(boss, path="/#/supervisor")
    queues = board.locator(".sv-queues tbody tr")
    expect(queues.filter(has_text="Sales").locator("td").first).to_have_text("2")
    expect(queues.filter(has_text="Shared inbox").locator("td").first).to_have_text("1")
    lucia = board.locator(".sv-agents tbody tr").filter(has_text="Lucía Pérez")
    expect(lucia).to_contain_text("Online")
    expect(lucia).to_contain_text("API 3/3")
    expect(board.locator(".sv-agents tbody tr").filter(has_text="Aisha Khan")).to_contain_text("Away")
    rows = board.locator(".sv-convtable tbody tr")
    expect(rows).to_have_count(8)
    # Those waiting come first, the longest wait at the top.
    expect(rows.nth(0)).to_contain_text("Noah Smith")
    expect(rows.nth(0)).to_contain_text("Unassigned")
    # The longest wait ticks on by itself.
    wait = queues.filter(has_text="Sales").locator(".sv-clock")
    before = wait.inner_text()
    expect(wait).not_to_have_text(before)

    assert serious_violations(board) == []
    board.set_viewport_size({"width": 1280, "height": 1150})  # the whole board: the shell scrolls inside
    # Like test_screenshots.py: the README's copy is rewritten only when asked (HUB_SCREENSHOTS=1), so a
    # test run leaves the checkout as it found it.
    shot = SCREENSHOT if os.environ.get("HUB_SCREENSHOTS") else tmp_path / SCREENSHOT.name
    shot.parent.mkdir(parents=True, exist_ok=True)
    board.screenshot(path=str(shot))
    assert board.errors == []
    hub.api("DELETE", f"/api/v1/routing/rules/{rule['id']}", admin)
    for agent in staff:
        hub.api("POST", "/api/v1/agents/me/presence", agent, json={"presence": "offline"})


def test_a_bulk_reassignment_on_the_board_is_seen_live_by_two_agents_and_the_supervisor(
        hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    ana = hub.agent(name=f"Ana {uid}", capacities=NO_API_ROOM)
    ben = hub.agent(name=f"Ben {uid}", capacities=NO_API_ROOM)
    boss = hub.agent("supervisor", name=f"Sam {uid}", capacities=NO_API_ROOM)
    names = [f"Customer {n} {uid}" for n in ("Uno", "Dos", "Tres")]
    convs = [hub.customer_says("Where is my order?", email=f"c{i}-{uid}@example.com", name=name)["conversation_id"]
             for i, name in enumerate(names)]

    board = new_page(boss, path="/#/supervisor")
    ana_page = new_page(ana, path="/#/inbox/mine")
    ben_page = new_page(ben, path="/#/inbox/unassigned")
    for conv in convs:
        expect(_row(board, conv)).to_contain_text("Unassigned")
    for name in names:
        expect(_inbox_row(ben_page, name)).to_be_visible()
    expect(ana_page.locator(".rows")).to_be_visible()
    expect(_inbox_row(ana_page, names[0])).to_have_count(0)

    # Live: a customer who writes while the board is open appears on it without a reload.
    late = hub.customer_says("Hello?", email=f"late-{uid}@example.com", name=f"Late {uid}")["conversation_id"]
    expect(_row(board, late)).to_contain_text(f"Late {uid}")

    board.get_by_label(f"Select conversation #{convs[0]} with {names[0]}").check()
    board.get_by_label(f"Select conversation #{convs[1]} with {names[1]}").check()
    expect(board.locator(".sv-count")).to_have_text("2 selected")
    board.get_by_label("Assign to").select_option(str(ana.id))
    board.get_by_role("button", name="Apply").click()

    expect(board.locator(".sv-status")).to_have_text(f"2 conversations assigned to Ana {uid}.")
    expect(_row(board, convs[0])).to_contain_text(f"Ana {uid}")
    expect(_row(board, convs[1])).to_contain_text(f"Ana {uid}")
    expect(_row(board, convs[2])).to_contain_text("Unassigned")
    expect(board.locator(".sv-count")).to_have_text("0 selected")
    # Ana's inbox gains both and Ben's unassigned view loses them, live.
    expect(_inbox_row(ana_page, names[0])).to_be_visible()
    expect(_inbox_row(ana_page, names[1])).to_be_visible()
    expect(_inbox_row(ben_page, names[0])).to_have_count(0)
    expect(_inbox_row(ben_page, names[1])).to_have_count(0)
    expect(_inbox_row(ben_page, names[2])).to_be_visible()
    for page in (board, ana_page, ben_page):
        assert page.errors == []


def test_the_board_transfers_to_a_team_and_says_what_is_missing(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    team = hub.team(f"Billing {uid}")
    cleo = hub.agent(name=f"Cleo {uid}", teams=[team], capacities={"api": 0, "sms": 2})
    hub.api("POST", "/api/v1/agents/me/presence", cleo, json={"presence": "away"})
    boss = hub.agent("supervisor", name=f"Sam {uid}", capacities=NO_API_ROOM)
    conv = hub.customer_says("My bill is wrong", email=f"t-{uid}@example.com", name=f"Tina {uid}")["conversation_id"]

    board = new_page(boss, path="/#/supervisor")
    queue = board.locator(".sv-queues tbody tr").filter(has_text=f"Billing {uid}")
    expect(queue.locator("td").first).to_have_text("0")
    cleo_row = board.locator(".sv-agents tbody tr").filter(has_text=f"Cleo {uid}")
    expect(cleo_row).to_contain_text("Away")
    expect(cleo_row).to_contain_text("SMS 0/2")

    board.get_by_role("button", name="Apply").click()
    expect(board.locator(".sv-status")).to_have_text("Select at least one conversation first.")
    board.get_by_label(f"Select conversation #{conv} with Tina {uid}").check()
    board.get_by_role("button", name="Apply").click()
    expect(board.locator(".sv-status")).to_have_text("Choose an agent, a queue, or both.")

    board.get_by_label("Transfer to").select_option(str(team))
    board.get_by_role("button", name="Apply").click()
    expect(board.locator(".sv-status")).to_have_text(f"1 conversation transferred to Billing {uid}.")
    expect(_row(board, conv)).to_contain_text(f"Billing {uid}")
    expect(queue.locator("td").first).to_have_text("1")
    assert board.errors == []


def test_the_board_says_when_a_part_cannot_load_and_recovers_on_retry(hub: Hub, new_page: Any) -> None:
    boss = hub.agent("supervisor", name=f"Sam {uuid.uuid4().hex[:6]}", capacities=NO_API_ROOM)
    page = new_page(None, path="/login")
    page.context.add_cookies([{"name": "hub_session", "value": hub.token(boss), "url": hub.url}])
    page.route("**/api/v1/supervisor/queues", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body='{"error": "unavailable", "message": "the database is restarting"}'))
    page.goto("/#/supervisor")
    error = page.locator(".sv-queues").get_by_role("alert")
    # A code the console has no sentence for: a generic one around the hub's own words.
    expect(error.locator("p")).to_have_text(
        "Could not load the queues. Something went wrong: the database is restarting")
    expect(page.locator(".sv-agents tbody tr").filter(has_text=boss.name)).to_be_visible()
    page.unroute("**/api/v1/supervisor/queues")
    error.get_by_role("button", name="Try again").click()
    expect(page.locator(".sv-queues tbody tr").filter(has_text="Shared inbox")).to_be_visible()

    # Nothing snoozed on this hub: the list says so instead of showing an empty table.
    page.locator(".sv-convs").get_by_label("Status").select_option("snoozed")
    expect(page.locator(".sv-convs .sv-empty")).to_have_text("No conversations here: all quiet.")
    assert page.errors == []


def test_the_board_speaks_spanish_with_its_plurals(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    boss = hub.agent("supervisor", name=f"Sara {uid}", capacities=NO_API_ROOM)
    conv = hub.customer_says("Hola", email=f"es-{uid}@example.com", name=f"Lola {uid}")["conversation_id"]
    page = new_page(boss, locale="es-ES", path="/#/supervisor")
    expect(page.get_by_role("heading", name="Panel de supervisión")).to_be_visible()
    expect(page.locator(".sv-count")).to_have_text("0 seleccionadas")
    page.get_by_label(f"Seleccionar la conversación n.º {conv} con Lola {uid}").check()
    expect(page.locator(".sv-count")).to_have_text("1 seleccionada")
    page.get_by_role("button", name="Aplicar").click()
    expect(page.locator(".sv-status")).to_have_text("Elige un agente, una cola o ambos.")
    expect(_row(page, conv)).to_contain_text("Sin asignar")
    assert page.errors == []


def test_a_live_refresh_keeps_the_supervisors_selection_and_keyboard_focus(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    boss = hub.agent("supervisor", name=f"Sam {uid}", capacities=NO_API_ROOM)
    hub.team(f"Empty {uid}")
    conv = hub.customer_says("Hi", email=f"f-{uid}@example.com", name=f"Fay {uid}")["conversation_id"]
    page = new_page(boss, path="/#/supervisor")
    box = page.get_by_label(f"Select conversation #{conv} with Fay {uid}")
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()

    # The table is rebuilt when another customer writes; the same box keeps focus and tick.
    other = hub.customer_says("Hello", email=f"g-{uid}@example.com", name=f"Gus {uid}")["conversation_id"]
    expect(_row(page, other)).to_be_visible()
    expect(box).to_be_focused()
    expect(box).to_be_checked()
    expect(page.locator(".sv-count")).to_have_text("1 selected")

    # A filter that hides the row drops it from the selection: a bulk move acts on what is shown.
    page.locator(".sv-convs").get_by_label("Queue").select_option(label=f"Empty {uid}")
    expect(page.locator(".sv-count")).to_have_text("0 selected")
    page.locator(".sv-convs").get_by_label("Queue").select_option(label="Shared inbox")
    expect(box).not_to_be_checked()
    assert page.errors == []
