"""Sender authentication before trusting From (issue 15): the Authentication-Results of the
mailbox's own receiving server (its authserv-id), and only those, say whether From is proven. A
forged From is stored and shown, flagged, but never joins the customer it names: no subject-token
threading into their conversation, no silent attach; a contact of its own, suggested as a match.

Corpus-style mail in corpus/auth/ (Gmail's one header, Postfix's one header per milter, a forged
header under a look-alike id and under ours below the server's own, one that would outvote the
server's softfail), through the parser, and end to end through the hub's SMTP listener. Only the
topmost header under our id counts: the one our server prepended (RFC 8601 section 5)."""

from __future__ import annotations

import smtplib
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from channels.email.classify import classify
from channels.email.inbound import to_inbound
from channels.email.parsing import parse_email
from channels.email.settings import Mailbox
from config.settings import Settings
from hub.db import Database
from tests.channels.email.smtp_side import Recorder
from tests.conftest import make_settings, wait_for
from tests.factories import login
from tests.services import free_port

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
CORPUS = Path(__file__).parent / "corpus" / "auth"
SERVER = "mx.support.example"
BOX = Mailbox("support@support.example", authserv_id=SERVER)

# file: (verified, dmarc, dkim, spf) as recorded on the message.
EXPECTED = {
    "gmail_pass.eml": (True, "pass", "pass", "pass"),
    # DMARC failed at our server; the look-alike server's "pass", and one under our id that the
    # sender wrote below our server's own, change nothing: a fail is never verified.
    "forged_dmarc_fail.eml": (False, "fail", "pass (other domain)", "pass (other domain)"),
    # Our server's header (on top) says SPF softfail; a DKIM "pass" for the From's domain under our
    # id, written by the sender below our server's Received, would outvote it if it counted.
    "forged_dkim_below_softfail.eml": (False, None, None, "softfail"),
    # No DMARC policy: a DKIM signature of the From's own (sub)domain passed. One header per milter:
    # only the topmost (the last one written) counts, so the SPF and DMARC lines below it are not read.
    "postfix_dkim_aligned.eml": (True, None, "pass", None),
    # No DMARC verdict, and what passed was another domain's (an esp's bounce domain).
    "no_dmarc_other_domain.eml": (False, None, "pass (other domain)", "pass (other domain)"),
}


def inbound(name: str, box: Mailbox = BOX) -> Any:
    raw = (CORPUS / name).read_bytes()
    parsed = parse_email(raw, mailbox_addresses=[box.address])
    return to_inbound(parsed, classify(parsed), box, raw)


def test_every_corpus_mail_has_an_expectation() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_what_the_trusted_server_said_is_recorded_and_decides(name: str) -> None:
    verified, dmarc, dkim, spf = EXPECTED[name]
    message = inbound(name)
    auth = message.metadata["email"]["auth"]
    assert (auth["verified"], auth["dmarc"], auth["dkim"], auth["spf"], auth["server"]) == (
        verified, dmarc, dkim, spf, SERVER)
    if verified:  # the customer it names, threaded as usual
        assert message.contact.external_ref is None and message.contact.verified == frozenset()
    else:  # held apart: its own identity, the From address only claimed, no subject token
        assert message.contact.external_ref == f"unverified:{message.contact.email}"
        assert message.contact.verified == frozenset({"external_ref"}) and message.weak_thread_keys == ()


def test_only_the_configured_server_is_trusted_and_without_one_nothing_changes() -> None:
    forged = inbound("forged_dmarc_fail.eml", replace(BOX, authserv_id="mx.support.example.evil"))
    assert forged.metadata["email"]["auth"]["verified"] is True  # what that server said: it is not ours
    # The From's server, not ours, wrote this one: under our id it would count for nothing either.
    gmail = inbound("gmail_pass.eml", replace(BOX, authserv_id="mx.google.com"))
    assert gmail.metadata["email"]["auth"] == {"server": "mx.google.com", "dmarc": None, "dkim": None,
                                               "spf": None, "verified": False}
    plain = inbound("forged_dmarc_fail.eml", replace(BOX, authserv_id=""))
    assert "auth" not in plain.metadata["email"]
    assert plain.contact.external_ref is None and plain.weak_thread_keys == ("token:abcdefghij2345",)


def test_a_header_the_parser_cannot_read_proves_nothing() -> None:
    raw = (CORPUS / "gmail_pass.eml").read_bytes().replace(
        b"Authentication-Results: mx.support.example;", b"Authentication-Results: mx.support.example;;; ==", 1)
    parsed = parse_email(raw)
    message = to_inbound(parsed, classify(parsed), BOX, raw)
    assert message.metadata["email"]["auth"]["verified"] is False
    # Nor does the sender's readable one below our server's unreadable one take its place.
    raw = (CORPUS / "forged_dkim_below_softfail.eml").read_bytes().replace(
        b"Authentication-Results: mx.support.example;", b"Authentication-Results: mx.support.example (mx 2);;; ==", 1)
    parsed = parse_email(raw)
    assert to_inbound(parsed, classify(parsed), BOX, raw).metadata["email"]["auth"]["dkim"] is None


# -- end to end: the hub's listener, a known customer, a forged mail ---------------------------


@pytest.fixture
def settings(database_url: str, outgoing: tuple[int, Recorder]) -> Settings:
    return make_settings(database_url, email={
        "listener_enabled": True, "listener_port": free_port(),
        "mailboxes": [{"address": "support@support.example", "authserv_id": SERVER,
                       "smtp": {"host": "127.0.0.1", "port": outgoing[0], "starttls": False}}]})


def relay(settings: Settings, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
        smtp.sendmail("relay@support.example", ["support@support.example"], raw)


def with_subject(name: str, subject: str, message_id: str) -> bytes:
    msg = message_from_bytes((CORPUS / name).read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    msg.replace_header("Subject", subject)
    msg.replace_header("Message-ID", message_id)
    return msg.as_bytes()


def test_a_forged_from_is_shown_flagged_in_a_contact_of_its_own_never_in_the_customers_conversation(
        client: TestClient, db: Database, settings: Settings, outgoing: tuple[int, Recorder]) -> None:
    _, recorder = outgoing
    admin = login(client, db, "admin")

    def conversations() -> list[dict[str, Any]]:
        return client.get("/api/v1/conversations?view=all", headers=admin.headers).json()["items"]

    def messages(conversation_id: int) -> list[dict[str, Any]]:
        resp = client.get(f"/api/v1/conversations/{conversation_id}", headers=admin.headers).json()
        return [m for m in resp["messages"] if m["direction"] in ("in", "out")]

    relay(settings, with_subject("gmail_pass.eml", "Router keeps restarting", "<ana-first@mail.example.org>"))
    [ana_conv] = wait_for(conversations, what="Ana's conversation")
    assert client.post(f"/api/v1/conversations/{ana_conv['id']}/messages", headers=admin.headers,
                       json={"text": "Which model is it?"}).status_code == 201
    wait_for(lambda: recorder.received, what="our reply")
    subject = recorder.received[0][2]["Subject"]  # "Re: Router keeps restarting [#<token>]"
    assert "[#" in subject

    relay(settings, with_subject("forged_dmarc_fail.eml", subject, "<forged-1@example-0rg.net>"))
    forged_conv = wait_for(lambda: next((c for c in conversations() if c["id"] != ana_conv["id"]), None),
                           what="the forged mail, in a conversation of its own")
    assert len(messages(ana_conv["id"])) == 2  # nothing joined Ana's conversation
    [forged] = messages(forged_conv["id"])
    assert forged["text"].startswith("Please change the delivery address")  # stored and shown
    assert forged["metadata"]["email"]["auth"]["verified"] is False
    assert forged["metadata"]["email"]["from"]["email"] == "ana@example.org"
    ana_id, held_id = ana_conv["contact_id"], forged_conv["contact_id"]
    assert held_id != ana_id
    ana = client.get(f"/api/v1/contacts/{ana_id}", headers=admin.headers).json()
    assert [m["contact_id"] for m in ana["suggested_matches"]] == [held_id]  # for an agent to decide

    # Ana herself, proven, answering with the subject token only: her conversation, as before.
    relay(settings, with_subject("gmail_pass.eml", subject, "<ana-second@mail.example.org>"))
    wait_for(lambda: len(messages(ana_conv["id"])) == 3, what="Ana's answer threaded by the subject token")
    assert messages(ana_conv["id"])[-1]["metadata"]["email"]["auth"]["verified"] is True
