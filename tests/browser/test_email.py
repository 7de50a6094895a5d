"""Email in the console: a mail shows in its form (From, To, CC, the quoted history folded, the
original downloadable), the reply box offers CC and a preview and the reply reaches the customer's
server with the copy; a new email leaves from the mailbox the agent picks; an admin adds a mailbox
in settings and tests its connection."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Agent, Hub, running_hub
from tests.browser.test_settings import serious_violations
from tests.channels.email.smtp_side import Recorder, delivery_report, smtp_server
from tests.conftest import wait_for
from tests.services import free_port

LISTENER = free_port()
OUTGOING = free_port()


@pytest.fixture(scope="module")
def outgoing() -> Iterator[Recorder]:
    with smtp_server(OUTGOING) as recorder:
        yield recorder


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, cheap_hashing: None,
        outgoing: Recorder) -> Iterator[Hub]:
    yield from running_hub(tmp_path_factory, sqlite_template, email=email_settings(
        LISTENER, OUTGOING, ("support@example.com", "Example Support"), ("sales@example.com", "Example Sales")))


def email_settings(listener: int, outgoing: int, *mailboxes: tuple[str, str]) -> dict[str, Any]:
    """A browser test hub's email: its SMTP listener, and mailboxes (address, display name)
    sending through the server on `outgoing`."""
    smtp = {"host": "127.0.0.1", "port": outgoing, "starttls": False}
    return {"listener_enabled": True, "listener_port": listener,
            "mailboxes": [{"address": address, "display_name": name, "smtp": smtp} for address, name in mailboxes]}


def relay(msg: EmailMessage, listener: int = LISTENER) -> None:
    """`msg` to the hub's SMTP listener, as a relay forwarding mail for support@example.com."""
    with smtplib.SMTP("127.0.0.1", listener, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=["support@example.com"])


def customer_mail(sender: str, subject: str, message_id: str, text: str) -> EmailMessage:
    """A plain mail from `sender` to support@example.com."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = sender, "support@example.com", subject, message_id
    mail.set_content(text)
    return mail


def assigned_mail(hub: Hub, subject: str, agent_name: str) -> tuple[Agent, int]:
    """The conversation the relayed mail `subject` became, assigned to a new agent: (agent, its id)."""
    agent = hub.agent(name=agent_name)
    boss = hub.agent("supervisor")
    conv = wait_for(lambda: [c for c in hub.api("GET", "/api/v1/conversations?view=all", boss).json()["items"]
                             if c["subject"] == subject], what="the conversation")[0]
    assert hub.api("POST", f"/api/v1/conversations/{conv['id']}/assign", boss,
                   json={"assignee_id": agent.id}).status_code == 200
    return agent, int(conv["id"])


def test_an_email_shows_in_its_form_and_the_reply_goes_out_with_a_copy(
        hub: Hub, new_page: Any, outgoing: Recorder) -> None:
    uid = uuid.uuid4().hex[:8]
    mail = EmailMessage()
    mail["From"], mail["To"] = f"Ada Mail <ada-{uid}@example.net>", "support@example.com"
    mail["Cc"], mail["Subject"] = "billing@example.net", f"Invoice {uid}"
    mail["Message-ID"] = f"<{uid}@example.net>"
    mail.set_content("The total is wrong.\n\nOn Monday, Support wrote:\n> Here is your invoice.\n")
    relay(mail)
    ana, conv_id = assigned_mail(hub, f"Invoice {uid}", "Ana Mail")
    [message] = [m for m in hub.api("GET", f"/api/v1/conversations/{conv_id}", ana).json()["messages"]
                 if m["direction"] == "in"]
    original = next(a for a in message["attachments"] if a["filename"] == "original.eml")
    assert message["attachments"][message["metadata"]["email"]["original"]] == original

    page = new_page(ana, path=f"/#/c/{conv_id}")
    head = page.locator(".msg-in .mail-head")
    expect(head).to_contain_text(f"Ada Mail <ada-{uid}@example.net>")
    expect(head).to_contain_text("billing@example.net")
    body = page.locator(".msg-in .msg-body")
    expect(body.get_by_text("The total is wrong.", exact=True)).to_be_visible()
    expect(body.get_by_text("Here is your invoice.")).to_be_hidden()
    body.get_by_role("button", name="Show quoted text").click()
    expect(body.get_by_text("Here is your invoice.")).to_be_visible()
    link = body.get_by_role("link", name="Download original (.eml)")
    expect(link).to_have_attribute("href", hub.url + original["url"])
    got = page.request.get(link.get_attribute("href"))
    assert got.status == 200 and f"Message-ID: <{uid}@example.net>".encode() in got.body()
    expect(body.locator(".attachments")).to_have_count(0)  # the original is not listed as a file

    page.get_by_label("Cc").fill("boss@example.net")
    page.locator("#composer-text").fill("We have corrected it.")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#composer-preview")
    expect(preview).to_contain_text(f"Re: Invoice {uid}")
    expect(preview).to_contain_text("Cc: boss@example.net")
    expect(preview).to_contain_text("We have corrected it.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".msg-out .mail-head")).to_contain_text("boss@example.net")
    wait_for(lambda: any(m["Subject"].startswith(f"Re: Invoice {uid}") for _, _, m in outgoing.received),
             what="the reply at the customer's server")
    _, recipients, sent = next(r for r in outgoing.received if r[2]["Subject"].startswith(f"Re: Invoice {uid}"))
    assert sorted(recipients) == sorted([f"ada-{uid}@example.net", "boss@example.net"])
    assert sent["In-Reply-To"] == f"<{uid}@example.net>"
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_new_email_leaves_from_the_mailbox_the_agent_picks(hub: Hub, new_page: Any, outgoing: Recorder) -> None:
    uid = uuid.uuid4().hex[:8]
    ana = hub.agent(name=f"Ana {uid}")
    boss = hub.agent("supervisor")
    said = hub.customer_says("Do you sell licences?", email=f"lin-{uid}@example.net", name=f"Lin {uid}")
    assert hub.api("POST", f"/api/v1/conversations/{said['conversation_id']}/assign", boss,
                   json={"assignee_id": ana.id}).status_code == 200
    page = new_page(ana, locale="es-ES", path=f"/#/c/{said['conversation_id']}")
    page.get_by_role("button", name="Nuevo correo").click()
    form = page.locator(".customer-form")
    mailbox = form.get_by_label("De", exact=True)
    expect(mailbox.locator("option")).to_have_text(["Example Support <support@example.com>",
                                                    "Example Sales <sales@example.com>"])
    expect(mailbox).to_have_value("support@example.com")  # the first by default
    mailbox.select_option("sales@example.com")
    form.get_by_label("Asunto").fill(f"Licences {uid}")
    form.get_by_label("Mensaje").fill("Yes: ten seats cost less.")
    form.get_by_role("button", name="Enviar").click()
    expect(page.locator(".msg-out")).to_contain_text("Yes: ten seats cost less.")
    sent = wait_for(lambda: [m for _, _, m in outgoing.received if m["Subject"].startswith(f"Licences {uid}")],
                    what="the new email at the customer's server")[0]
    assert sent["From"] == "Example Sales <sales@example.com>" and sent["To"] == f"lin-{uid}@example.net"
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_admin_adds_a_mailbox_and_tests_its_connection(hub: Hub, new_page: Any) -> None:
    uid = uuid.uuid4().hex[:6]
    admin = hub.agent("admin", name=f"Root {uid}")
    page = new_page(admin, path="/#/settings/mailboxes")
    page.get_by_role("button", name="Add a mailbox").click()
    form = page.locator("form.st-form")
    form.get_by_label("Address").fill(f"help-{uid}@example.com")
    form.get_by_label("Name customers see").fill("Help desk")
    smtp = form.locator("fieldset", has_text="Outgoing mail (SMTP)")
    smtp.get_by_label("Server").fill("127.0.0.1")
    smtp.get_by_label("Port").fill(str(OUTGOING))
    smtp.get_by_label("Security").select_option("none")
    smtp.get_by_label("Password").fill("do-not-show-me")
    form.get_by_role("button", name="Save mailbox").click()
    card = page.locator(".st-list li", has_text=f"help-{uid}@example.com")
    expect(card).to_contain_text(f"Sends through 127.0.0.1:{OUTGOING}")
    card.get_by_role("button", name="Change").click()
    expect(page.get_by_text("A password is stored: leave blank to keep it.")).to_be_visible()
    expect(page.locator("input[type=password]").first).to_have_value("")
    assert "do-not-show-me" not in page.content()
    card.get_by_role("button", name="Test connection").click()
    expect(card.locator(".st-checks")).to_contain_text(f"Works: Connected to 127.0.0.1:{OUTGOING}")
    assert serious_violations(page) == []  # the list, the open form and the findings
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_reply_keeps_the_customers_copies_and_a_bounce_shows_its_own_sender(
        hub: Hub, new_page: Any, outgoing: Recorder) -> None:
    """What an agent found wrong: the reply silently left out the people the customer had copied
    (but must not copy the hub's own other mailbox);
    the preview and the sent reply did not say to whom it goes, stayed open on the sent text after sending, and the
    mail server's bounce showed under the customer's name; a small file read "13 byte"."""
    uid = uuid.uuid4().hex[:8]
    mail = EmailMessage()
    mail["From"], mail["To"] = f"Rosa Diaz <rosa-{uid}@example.net>", f"support@example.com, partner-{uid}@example.net"
    mail["Cc"] = f"Tom <tom-{uid}@example.net>, Support <support+abc@example.com>, Sales <sales@example.com>"
    mail["Subject"], mail["Message-ID"] = f"Broken lid {uid}", f"<{uid}@example.net>"
    mail.set_content("The lid is broken.\n")
    mail.add_attachment(b"13 bytes long", maintype="text", subtype="plain", filename="note.txt")
    relay(mail)
    ana, conv_id = assigned_mail(hub, f"Broken lid {uid}", f"Ana {uid}")

    page = new_page(ana, path=f"/#/c/{conv_id}")
    expect(page.locator(".msg-in .attachments")).to_contain_text("note.txt 13 bytes")
    cc = page.get_by_label("Cc")
    # Not Rosa, nor the hub's mailboxes (this one, plus-addressed; sales@, which would take the reply
    # in as a customer's mail)
    expect(cc).to_have_value(f"partner-{uid}@example.net, tom-{uid}@example.net")
    page.locator("#composer-text").fill("A new lid is on its way.")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#composer-preview")
    expect(preview).to_contain_text(f"To: Rosa Diaz <rosa-{uid}@example.net>")
    expect(preview).to_contain_text(f"Cc: partner-{uid}@example.net, tom-{uid}@example.net")
    expect(preview).to_contain_text("The mailbox's signature and the earlier messages, quoted, are added below")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".msg-out")).to_contain_text("A new lid is on its way.")
    out_head = page.locator(".msg-out .mail-head")  # whom the reply went to, not only its copies
    expect(out_head.locator("dt")).to_have_text(["To", "Cc"])
    expect(out_head.locator("dd")).to_have_text([f"Rosa Diaz <rosa-{uid}@example.net>",
                                                 f"partner-{uid}@example.net, tom-{uid}@example.net"])
    expect(preview).to_be_hidden()
    expect(page.get_by_role("button", name="Preview")).to_have_attribute("aria-expanded", "false")
    sent = wait_for(lambda: [r for r in outgoing.received if r[2]["Subject"].startswith(f"Re: Broken lid {uid}")],
                    what="the reply at the customer's server")[0]
    assert sorted(sent[1]) == sorted(f"{who}-{uid}@example.net" for who in ("rosa", "partner", "tom"))

    with smtplib.SMTP("127.0.0.1", LISTENER, timeout=10) as smtp:
        smtp.sendmail("", ["support@example.com"], delivery_report(sent[2]["Message-ID"], f"tom-{uid}@example.net"))
    report = page.locator(".msg-in", has_text="could not be delivered")
    expect(report.locator(".msg-author")).to_have_text("Mail Delivery System")
    expect(page.locator(".msg-out .delivery")).to_have_text("Not delivered")
    expect(page.locator(".msg-in", has_text="The lid is broken.").locator(".msg-author")).to_have_text("Rosa Diaz")
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_formatted_version_replaces_the_plain_text(hub: Hub, new_page: Any) -> None:
    """A mail with an HTML part showed its words twice once formatted: the plain text stayed above
    the frame. The frame takes the text's place."""
    uid = uuid.uuid4().hex[:8]
    mail = EmailMessage()
    mail["From"], mail["To"] = f"Hank <hank-{uid}@example.net>", "support@example.com"
    mail["Subject"], mail["Message-ID"] = f"Lid photo {uid}", f"<{uid}@example.net>"
    mail.set_content("See the photo of the broken lid.\n")
    mail.add_alternative("<p>See the <b>photo</b> of the broken lid.</p>", subtype="html")
    relay(mail)
    ana, conv_id = assigned_mail(hub, f"Lid photo {uid}", f"Ana {uid}")
    page = new_page(ana, path=f"/#/c/{conv_id}")
    body = page.locator(".msg-in .msg-body")
    words = body.get_by_text("See the photo of the broken lid.", exact=True)
    expect(words).to_be_visible()
    body.get_by_role("button", name="Show the formatted version").click()
    expect(page.frame_locator(".msg-in iframe.html-frame").locator("b")).to_have_text("photo")
    expect(words).to_be_hidden()
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_refused_copy_address_is_explained_in_the_agents_language(hub: Hub, new_page: Any) -> None:
    """What an agent found wrong: a Spanish console said "No se envió: cc: not a valid email
    address…", the hub's English words inside a Spanish sentence."""
    uid = uuid.uuid4().hex[:8]
    relay(customer_mail(f"Eva <eva-{uid}@example.net>", f"Pedido {uid}", f"<{uid}@example.net>",
                        "¿Dónde está mi pedido?\n"))
    ana, conv_id = assigned_mail(hub, f"Pedido {uid}", f"Ana {uid}")

    page = new_page(ana, locale="es-ES", path=f"/#/c/{conv_id}")
    page.get_by_label("Cc", exact=True).fill("jefe@")
    page.locator("#composer-text").fill("Sale mañana.")
    page.get_by_role("button", name="Enviar", exact=True).click()
    error = page.locator(".composer .error")
    expect(error).to_have_text("No se envió: CC: «jefe@» no es una dirección de correo válida.")
    expect(page.locator("#composer-text")).to_have_value("Sale mañana.")  # kept, to send again once corrected
    expect(page.locator(".msg-out")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_out_of_office_shows_in_the_list_but_nobody_waits_for_an_answer_to_it(hub: Hub, new_page: Any) -> None:
    """What an agent found wrong: the customer's out-of-office, answering our reply, put the
    conversation back at the top of the list with an orange "<1 min", as if the customer waited for us."""
    uid = uuid.uuid4().hex[:8]
    lea = f"Lea {uid} <lea-{uid}@example.net>"
    relay(customer_mail(lea, f"Late parcel {uid}", f"<{uid}@example.net>", "Where is my parcel?\n"))
    ana, conv_id = assigned_mail(hub, f"Late parcel {uid}", f"Ana {uid}")
    newer = hub.customer_says("Can I pay by card?", email=f"max-{uid}@example.com", name=f"Max {uid}")
    boss = hub.agent("supervisor")
    assert hub.api("POST", f"/api/v1/conversations/{newer['conversation_id']}/assign", boss,
                   json={"assignee_id": ana.id}).status_code == 200
    page = new_page(ana)
    row = page.locator(".row-item", has=page.locator(".row-name", has_text=f"Lea {uid}"))
    names = page.locator(".row-name")
    expect(names).to_have_text([f"Max {uid}", f"Lea {uid}"])
    expect(row.locator(".row-wait")).to_have_count(1)  # Lea waits for an answer
    assert hub.api("POST", f"/api/v1/conversations/{conv_id}/messages", ana,
                   json={"text": "It ships today."}).status_code in (200, 201)
    expect(row).to_contain_text("It ships today.")
    expect(row.locator(".row-wait")).to_have_count(0)

    page.evaluate("""() => { window.announced = [];  // what the console reads out (and beeps for)
        new MutationObserver(() => window.announced.push(document.getElementById('live').textContent))
            .observe(document.getElementById('live'), {childList: true, characterData: true, subtree: true}); }""")
    away = customer_mail(lea, f"Automatic reply: Re: Late parcel {uid}", f"<away-{uid}@example.net>",
                         "I am out of the office until Monday.\n")
    away["Auto-Submitted"] = "auto-replied"
    relay(away)
    expect(row).to_contain_text("I am out of the office until Monday.")
    hub.customer_says("And by bank transfer?", email=f"max-{uid}@example.com", name=f"Max {uid}")
    page.wait_for_function("window.announced.includes('New customer message')")  # Max's is new work ...
    assert page.evaluate("window.announced.filter((t) => t === 'New customer message').length") == 1, \
        "... the out-of-office, before it, was none"
    for shown in ("live", "read again"):
        expect(row).to_contain_text("I am out of the office until Monday.")  # shown, on its own row ...
        expect(row.locator(".row-wait")).to_have_count(0)  # ... but nobody waits for an answer to it
        expect(names).to_have_text([f"Max {uid}", f"Lea {uid}"])  # nor does it jump to the top
        if shown == "live":
            page.reload()
    assert page.errors == []  # type: ignore[attr-defined]
