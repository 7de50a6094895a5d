"""Collision presence in the console: two agents with one conversation open see each other in its
header, and see each other typing a reply or a note; leaving the conversation or closing the tab
takes them away. Written for the agents' own eyes, in English and Spanish."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Hub
from tests.browser.test_settings import serious_violations

SHOTS = Path(os.environ.get("HUB_SHOT_DIR", "/tmp"))


def test_two_agents_on_one_conversation_see_each_other_view_type_and_leave(hub: Hub, new_page: Any) -> None:
    ana, ben = hub.agent(name="Ana Watch"), hub.agent(name="Ben Okafor")
    conv = hub.customer_says("Where is my parcel?", email=f"c-{os.urandom(4).hex()}@example.com",
                             name="Dora Collide")["conversation_id"]
    ana_page = new_page(ana, path=f"/#/c/{conv}")
    expect(ana_page.locator(".msg-in")).to_contain_text("Where is my parcel?")
    presence = ana_page.locator(".conv-header .collision")
    expect(presence).to_be_hidden()  # alone here

    ben_page = new_page(ben, locale="es-ES", path=f"/#/c/{conv}")
    expect(presence.locator(".collision-text")).to_have_text("Ben Okafor is viewing")
    expect(presence.locator(".avatar")).to_have_text(["BO"])
    ben_sees = ben_page.locator(".conv-header .collision-text")
    expect(ben_sees).to_have_text("Ana Watch también está viendo esta conversación")

    ben_page.locator("#composer-text").type("Hola Dora, ")
    expect(presence.locator(".collision-text")).to_have_text("Ben Okafor is typing a reply")
    ana_page.locator("#tab-note").click()
    ana_page.locator("#composer-text").type("I have this one")
    expect(ben_sees).to_have_text("Ana Watch está escribiendo una nota interna")
    assert serious_violations(ana_page) == []
    ana_page.screenshot(path=str(SHOTS / "collision-en.png"))
    ben_page.screenshot(path=str(SHOTS / "collision-es.png"))

    # Ana's note goes; her reply while Ben types his asks her first.
    ana_page.locator("#composer-text").press("Control+Enter")
    expect(ana_page.locator(".msg-note")).to_contain_text("I have this one")
    ben_page.locator("#composer-text").type("te cuento: ")
    expect(presence.locator(".collision-text")).to_have_text("Ben Okafor is typing a reply")
    ana_page.locator("#tab-reply").click()
    ana_page.locator("#composer-text").fill("Hi Dora, it ships today.")
    ana_page.locator("#composer-text").press("Enter")
    expect(ana_page.locator(".composer .error")).to_have_text(
        "Ben Okafor is typing a reply to this customer too. Send again to send yours anyway.")
    expect(ana_page.locator(".msg-out")).to_have_count(0)
    ana_page.locator("#composer-text").press("Enter")
    expect(ana_page.locator(".msg-out")).to_contain_text("Hi Dora, it ships today.")

    # Ben's reply arrives: he is no longer typing it, only viewing.
    ben_page.locator("#composer-text").press("Enter")
    expect(presence.locator(".collision-text")).to_have_text("Ben Okafor is viewing")

    # Ana's network drops: what she knew is stale, so it goes; back online, the hub says again.
    ana_page.context.set_offline(True)
    expect(presence).to_be_hidden()
    ana_page.context.set_offline(False)
    expect(presence.locator(".collision-text")).to_have_text("Ben Okafor is viewing")

    ben_page.goto("/#/inbox/mine")  # back to his list
    expect(presence).to_be_hidden()
    ben_page.goto(f"/#/c/{conv}")
    expect(presence.locator(".collision-text")).to_have_text("Ben Okafor is viewing")
    ben_page.context.close()  # the tab closes
    expect(presence).to_be_hidden()
    assert ana_page.errors == []


def test_an_agent_who_may_not_read_the_conversation_is_not_shown(tmp_path_factory: Any, sqlite_template: Path,
                                                                  browser: Any, cheap_hashing: None) -> None:
    from tests.browser.conftest import VIEWPORT, running_hub

    for hub in running_hub(tmp_path_factory, sqlite_template, visibility="team"):
        support, billing = hub.team("Support"), hub.team("Billing")
        ana = hub.agent(name="Ana Support", teams=[support])
        curious = hub.agent(name="Cy Billing", teams=[billing])
        mate = hub.agent(name="Mo Support", teams=[support])
        conv = hub.customer_says("Private matter", email=f"c-{os.urandom(4).hex()}@example.com",
                                 name="Eve Private")["conversation_id"]
        boss = hub.agent("supervisor")
        assert hub.api("POST", f"/api/v1/conversations/{conv}/assign", boss,
                       json={"assignee_id": ana.id, "team_id": support}).status_code == 200
        pages = []
        for who in (ana, curious, mate):
            context = browser.new_context(viewport=VIEWPORT, base_url=hub.url)
            context.add_cookies([{"name": "hub_session", "value": hub.token(who), "url": hub.url}])
            page = context.new_page()
            page.goto(f"/#/c/{conv}")
            pages.append(page)
        ana_page, curious_page, mate_page = pages
        expect(curious_page.locator(".conv-empty")).to_contain_text("team")  # refused
        # Mo, who may read it, is shown; Cy, who tried, is not.
        expect(ana_page.locator(".collision-text")).to_have_text("Mo Support is viewing")
        expect(mate_page.locator(".collision-text")).to_have_text("Ana Support is viewing")
        for page in pages:
            page.context.close()
