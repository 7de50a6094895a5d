"""Email end to end through the real hub: a mail relayed to the hub's SMTP listener (smtplib)
becomes a conversation with its files downloadable and its original kept; an agent's reply with a
file and a CC reaches the customer's server (aiosmtpd) threaded; the customer's answer carrying
only References lands in the same conversation."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from hub.db import Database
from tests.channels.email.smtp_side import Recorder, delivery_report
from tests.conftest import make_settings, wait_for
from tests.factories import api_key, inbound, login
from tests.services import free_port

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def settings(database_url: str, outgoing: tuple[int, Recorder]) -> Settings:
    return make_settings(database_url, email={
        "listener_enabled": True, "listener_port": free_port(),
        "mailboxes": [{"address": "support@example.com", "display_name": "Example Support",
                       "signature": "The support team",
                       "smtp": {"host": "127.0.0.1", "port": outgoing[0], "starttls": False}}]})


def relay(settings: Settings, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=["support@example.com"])


def thread(client: TestClient, headers: dict[str, str], conversation_id: int) -> list[dict[str, Any]]:
    resp = client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    return [m for m in resp.json()["messages"] if m["direction"] in ("in", "out")]


def test_a_mail_in_a_reply_out_threaded_and_the_answer_with_references_only_in_the_same_conversation(
        client: TestClient, db: Database, settings: Settings, outgoing: tuple[int, Recorder]) -> None:
    _, recorder = outgoing
    admin = login(client, db, "admin")
    first = EmailMessage()
    first["From"], first["To"] = "Ada Lovelace <ada@example.net>", "support@example.com"
    first["Subject"], first["Message-ID"] = "Invoice 42 is wrong", "<first@mail.example.net>"
    first.set_content("The total on invoice 42 is wrong.")
    first.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice-42.pdf")
    relay(settings, first)

    convs = wait_for(lambda: client.get("/api/v1/conversations?view=all", headers=admin.headers).json()["items"],
                     what="the conversation")
    conv = convs[0]
    assert (conv["channel"], conv["source"], conv["subject"]) == ("email", "support@example.com", "Invoice 42 is wrong")
    [mail] = thread(client, admin.headers, conv["id"])
    files = {a["filename"]: a for a in mail["attachments"]}
    assert set(files) == {"invoice-42.pdf", "original.eml"}
    pdf = client.get(files["invoice-42.pdf"]["url"], headers=admin.headers)
    assert pdf.status_code == 200 and pdf.content == PDF
    original = client.get(files["original.eml"]["url"], headers=admin.headers)
    assert b"Message-ID: <first@mail.example.net>" in original.content
    assert files["original.eml"]["content_type"] == "message/rfc822"  # known, not read from the bytes

    upload = client.post("/api/v1/attachments", files={"file": ("screenshot.png", PNG, "image/png")},
                         headers=admin.headers).json()
    resp = client.post(f"/api/v1/conversations/{conv['id']}/messages", headers=admin.headers,
                       json={"text": "Sorry, here is the corrected one.", "attachments": [upload["id"]],
                             "cc": ["Billing@Example.net"]})
    assert resp.status_code == 201, resp.text
    wait_for(lambda: recorder.received, what="the reply at the customer's server")
    sender, recipients, sent = recorder.received[0]
    assert sender == "support@example.com" and sorted(recipients) == ["ada@example.net", "billing@example.net"]
    assert sent["In-Reply-To"] == "<first@mail.example.net>" and "<first@mail.example.net>" in sent["References"]
    assert sent["Subject"].startswith("Re: Invoice 42 is wrong") and sent["Cc"] == "billing@example.net"
    assert "Sorry, here is the corrected one." in sent.get_body(("plain",)).get_content()
    [attached] = list(sent.iter_attachments())
    assert attached.get_filename() == "screenshot.png" and attached.get_content() == PNG
    wait_for(lambda: thread(client, admin.headers, conv["id"])[-1]["delivery_status"] == "sent", what="sent")

    answer = EmailMessage()  # a client that keeps References but drops In-Reply-To and Reply-To
    answer["From"], answer["To"] = "ada@example.net", "support@example.com"
    answer["Subject"], answer["Message-ID"] = "thanks (new subject)", "<second@mail.example.net>"
    answer["References"] = f"<first@mail.example.net> {sent['Message-ID']}"
    answer.set_content("Thanks, that one is right.")
    relay(settings, answer)
    wait_for(lambda: len(thread(client, admin.headers, conv["id"])) == 3, what="the answer in the same conversation")
    assert thread(client, admin.headers, conv["id"])[-1]["text"].startswith("Thanks, that one is right.")
    assert len(client.get("/api/v1/conversations?view=all", headers=admin.headers).json()["items"]) == 1


def test_an_agent_writes_first_to_a_contact_and_the_answer_joins_that_conversation(
        client: TestClient, db: Database, settings: Settings, outgoing: tuple[int, Recorder]) -> None:
    _, recorder = outgoing
    agent = login(client, db, "agent")
    key = api_key(db)
    known = inbound(client, key, email="grace@example.net", name="Grace Hopper")
    phone_only = inbound(client, key, email=None, phone="+15550002222")
    url = f"/api/v1/contacts/{known['contact_id']}/conversations"
    resp = client.post(url, headers=agent.headers, json={"subject": "Your new contract", "text": "It is ready.",
                                                        "cc": ["legal@example.net"]})
    assert resp.status_code == 201, resp.text
    conv = resp.json()["conversation"]
    assert (conv["channel"], conv["assignee_id"], conv["subject"]) == ("email", agent.id, "Your new contract")
    wait_for(lambda: recorder.received, what="the first mail")
    _, recipients, sent = recorder.received[0]
    assert sorted(recipients) == ["grace@example.net", "legal@example.net"]
    assert sent["Subject"].startswith("Your new contract") and sent["In-Reply-To"] is None

    answer = EmailMessage()
    answer["From"], answer["To"], answer["Subject"] = "grace@example.net", "support@example.com", "Re: contract"
    answer["Message-ID"], answer["In-Reply-To"] = "<grace-1@example.net>", sent["Message-ID"]
    answer.set_content("Signed.")
    relay(settings, answer)
    wait_for(lambda: len(thread(client, agent.headers, conv["id"])) == 2, what="the answer in that conversation")
    refused = client.post(f"/api/v1/contacts/{phone_only['contact_id']}/conversations", headers=agent.headers,
                          json={"text": "hello"})
    assert refused.status_code == 422 and "email address" in refused.text


def test_machine_mail_is_shown_but_never_work_and_a_bounce_marks_our_reply_not_delivered(
        client: TestClient, db: Database, settings: Settings, outgoing: tuple[int, Recorder]) -> None:
    _, recorder = outgoing
    admin = login(client, db, "admin")
    first = EmailMessage()
    first["From"], first["To"], first["Subject"] = "bo@example.net", "support@example.com", "Where is my order?"
    first["Message-ID"] = "<order@example.net>"
    first.set_content("It has not arrived.")
    relay(settings, first)
    conv = wait_for(lambda: client.get("/api/v1/conversations?view=all", headers=admin.headers).json()["items"],
                    what="the conversation")[0]
    client.post(f"/api/v1/conversations/{conv['id']}/messages", headers=admin.headers, json={"text": "On its way."})
    wait_for(lambda: recorder.received, what="our reply")
    ours = recorder.received[0][2]["Message-ID"]
    resolved = client.post(f"/api/v1/conversations/{conv['id']}/status", headers=admin.headers,
                           json={"status": "resolved"})
    assert resolved.status_code == 200, resolved.text

    away = EmailMessage()  # an out-of-office answer to our reply
    away["From"], away["To"], away["Subject"] = "bo@example.net", "support@example.com", "Out of office"
    away["Message-ID"], away["In-Reply-To"], away["Auto-Submitted"] = "<away@example.net>", ours, "auto-replied"
    away.set_content("I am away until Monday.")
    relay(settings, away)
    stray = EmailMessage()  # list mail from someone who never wrote: no conversation to join
    stray["From"], stray["To"], stray["Subject"] = "news@shop.example", "support@example.com", "Our deals"
    stray["Message-ID"], stray["List-Id"] = "<deals@shop.example>", "<deals.shop.example>"
    stray.set_content("Deals!")
    relay(settings, stray)
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
        smtp.sendmail("", ["support@example.com"], delivery_report(ours, "bo@example.net"))

    messages = wait_for(lambda: (m := thread(client, admin.headers, conv["id"])) and len(m) == 4 and m,
                        what="the auto-reply and the bounce in the conversation")
    kinds = [m["metadata"].get("email", {}).get("kind") for m in messages]
    assert kinds == ["human", None, "auto_reply", "bounce"]  # (our reply has no email metadata)
    assert messages[0]["metadata"]["email"]["from"] == {"email": "bo@example.net"}
    after = client.get(f"/api/v1/conversations/{conv['id']}", headers=admin.headers).json()["conversation"]
    assert (after["status"], after["assignee_id"]) == ("resolved", None)  # not reopened, not given to anyone
    reply = messages[1]
    assert reply["delivery_status"] == "undelivered" and "550 5.1.1" in reply["delivery_error"]
    convs = client.get("/api/v1/conversations?view=all&status=resolved", headers=admin.headers).json()["items"]
    assert [(c["subject"], c["assignee_id"]) for c in convs if c["id"] != conv["id"]] == [("Our deals", None)]
