"""When nobody can chat (issue 16), on SQLite and PostgreSQL: the widget is told (no agent of its
team online, or outside its business hours), the message is still taken, the email the visitor
leaves is kept as their claim (never an address their contact is found by: someone else's mail
never reaches them; someone else's address is only suggested), and an agent's later reply
reaches them by email (aiosmtpd as the mailbox's outgoing server) when they left the page, but
not while they are on it, and their email answer comes back into the chat."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from config.settings import Settings
from hub.db import Database
from tests.channels.email.smtp_side import Recorder, smtp_server
from tests.channels.webchat.test_socket import SHOP, Visitor, first_words
from tests.conftest import make_settings, wait_for
from tests.factories import api_key, create_team, inbound, login
from tests.services import free_port

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
WIDGETS = [
    {"id": "shop", "allowed_origins": [SHOP], "team": "Chat"},
    # Open no day of the week: always closed.
    {"id": "night", "allowed_origins": [SHOP], "business_hours": {"timezone": "Europe/Madrid", "days": {}}},
    {"id": "form", "allowed_origins": [SHOP], "prechat_fields": ["name", "email"]},
]


@pytest.fixture
def outgoing() -> Iterator[tuple[int, Recorder]]:
    port = free_port()
    with smtp_server(port) as recorder:
        yield port, recorder


@pytest.fixture
def settings(database_url: str, outgoing: tuple[int, Recorder]) -> Settings:
    return make_settings(database_url, secret_key="test-hub-key", webchat={"widgets": WIDGETS}, email={
        "listener_enabled": True, "listener_port": free_port(),
        "mailboxes": [{"address": "support@example.com", "display_name": "Example Support",
                       "smtp": {"host": "127.0.0.1", "port": outgoing[0], "starttls": False}}]})


def open_visitor(client: TestClient, widget: str = "shop", **hello: Any) -> tuple[Any, Visitor]:
    ctx = client.websocket_connect(f"/ws/widget?widget={widget}", headers={"origin": SHOP})
    return ctx, Visitor(ctx.__enter__(), {"token": None, "last_event_id": 0, **hello})


def contact_email(db: Database, conversation_id: int) -> str | None:
    with db.read() as s:
        return s.execute(text("SELECT c.email FROM contacts c JOIN conversations v ON v.contact_id = c.id "
                              "WHERE v.id = :c"), {"c": conversation_id}).scalar_one()


def claimed(db: Database, conversation_id: int) -> list[str]:
    """The addresses the conversation's contact claimed (hub/contacts/claims.py)."""
    with db.read() as s:
        return [a for (a,) in s.execute(text(
            "SELECT i.address FROM contact_identities i JOIN conversations v ON v.contact_id = i.contact_id "
            "WHERE v.id = :c AND i.kind = 'claimed:email'"), {"c": conversation_id})]


def mail_in(settings: Settings, sender: str, body: str, message_id: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "support@example.com", "my account"
    mail["Message-ID"] = message_id
    mail.set_content(body)
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
        smtp.send_message(mail, to_addrs=["support@example.com"])


def test_nobody_of_the_team_online_then_someone_is(client: TestClient, db: Database, visit: Any) -> None:
    visitor = visit()
    assert visitor.next("availability") == {"type": "availability", "open": False, "reason": "no_agents"}
    team = create_team(db, "Chat")
    agent = login(client, db, "agent", teams=[team])
    assert client.post("/api/v1/agents/me/presence", json={"presence": "online"},
                       headers=agent.headers).status_code == 200
    ack = visitor.say("still there?", "away-online-1")  # taken either way
    assert ack["type"] == "ack"
    assert visitor.next("availability") == {"type": "availability", "open": True, "reason": None}


def test_outside_business_hours_the_widget_says_closed(client: TestClient) -> None:
    ctx, visitor = open_visitor(client, "night")
    try:
        assert visitor.next("availability")["reason"] == "closed"
    finally:
        ctx.__exit__(None, None, None)


def test_an_email_left_is_kept_on_the_visitor_and_someone_elses_is_only_suggested(
        client: TestClient, db: Database, visit: Any) -> None:
    early = visit()
    early.ws.send_json({"type": "email", "email": "early@example.com"})  # before any message: claimed after it
    assert early.next("email_ok", "error")["email"] == "early@example.com"
    first = first_words(early, db, "hello", "away-early-1")
    wait_for(lambda: claimed(db, first) == ["early@example.com"], what="the early address claimed")
    assert contact_email(db, first) is None  # a claim, not their address

    late = visit()
    conversation = first_words(late, db, "anyone?", "away-late-1")
    late.ws.send_json({"type": "email", "email": "not an address"})
    assert late.next("email_ok", "error") | {"message": ""} == {"type": "error", "code": "invalid", "field": "email",
                                                                 "message": ""}
    late.ws.send_json({"type": "email", "email": "Late@Example.com"})
    assert late.next("email_ok", "error")["type"] == "email_ok"
    assert claimed(db, conversation) == ["late@example.com"]
    late.ws.send_json({"type": "email", "email": "later@example.com"})  # one per visitor: replaces it
    assert late.next("email_ok", "error")["type"] == "email_ok"
    assert claimed(db, conversation) == ["later@example.com"]

    known = inbound(client, api_key(db), email="known@example.com", text="from the API")
    other = visit()
    elsewhere = first_words(other, db, "I am known@example.com, really", "away-claim-1")
    other.ws.send_json({"type": "email", "email": "known@example.com"})
    assert other.next("email_ok", "error")["type"] == "email_ok"
    assert contact_email(db, elsewhere) is None  # not theirs: never merged
    with db.read() as s:
        suggested = s.execute(text("SELECT payload FROM events WHERE type = 'contact.match_suggested'")).all()
    assert suggested and str(known["contact_id"]) in str(suggested[0][0])


def test_a_reply_reaches_the_visitor_by_email_once_they_left_the_page(
        client: TestClient, db: Database, settings: Settings, outgoing: tuple[int, Recorder]) -> None:
    _, recorder = outgoing
    admin = login(client, db, "admin")
    ctx, visitor = open_visitor(client)
    conversation = first_words(visitor, db, "I need help with my order", "away-mail-1")
    visitor.ws.send_json({"type": "email", "email": "ana@example.net"})
    assert visitor.next("email_ok", "error")["type"] == "email_ok"
    # On the page: the reply shows in the widget, and no email goes.
    reply = client.post(f"/api/v1/conversations/{conversation}/messages", headers=admin.headers,
                        json={"text": "Looking at it now."}).json()
    visitor.event_where(lambda f: f["data"].get("id") == reply["id"])

    def status(message_id: int) -> str:
        with db.read() as s:
            return str(s.execute(text("SELECT delivery_status FROM messages WHERE id = :m"),
                                 {"m": message_id}).scalar_one())
    wait_for(lambda: status(reply["id"]) == "delivered", what="the first reply delivered in the widget")
    ctx.__exit__(None, None, None)

    later = client.post(f"/api/v1/conversations/{conversation}/messages", headers=admin.headers,
                        json={"text": "Your order ships tomorrow."}).json()
    wait_for(lambda: recorder.received, what="the reply sent by email")
    assert all(f["data"].get("id") != later["id"] for f in visitor.events)
    [(sender, to, mail)] = recorder.received
    assert sender == "support@example.com" and to == ["ana@example.net"]
    body = mail.get_body(("plain",))
    assert body is not None and "Your order ships tomorrow." in body.get_content()

    def items() -> list[tuple[str, str]]:
        with db.read() as s:
            return [(c, st) for c, st in s.execute(text(
                "SELECT channel, status FROM outbox WHERE message_id = :m ORDER BY id"), {"m": later["id"]})]
    # Handed over: the web chat's item is done, the email's carries the message's status from then on.
    wait_for(lambda: items() == [("webchat", "sent"), ("email", "sent")], what="both outbox items sent")
    assert status(later["id"]) == "sent"

    # Their answer by email comes back into the chat (the reply's Message-ID threads it there).
    answer = EmailMessage()
    answer["From"], answer["To"] = "ana@example.net", "support@example.com"
    answer["Subject"], answer["Message-ID"] = f"Re: {mail['Subject']}", "<answer@mail.example.net>"
    answer["In-Reply-To"] = mail["Message-ID"]
    answer.set_content("Great, thank you!")
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
        smtp.send_message(answer, to_addrs=["support@example.com"])

    def texts() -> list[str]:
        with db.read() as s:
            return [t for (t,) in s.execute(text("SELECT text FROM messages WHERE conversation_id = :c ORDER BY id"),
                                             {"c": conversation})]
    wait_for(lambda: any(t.startswith("Great, thank you!") for t in texts()), what="the email answer in the chat")


def test_without_an_email_the_reply_waits_in_the_widget_only(
        client: TestClient, db: Database, outgoing: tuple[int, Recorder]) -> None:
    admin = login(client, db, "admin")
    ctx, visitor = open_visitor(client)
    conversation = first_words(visitor, db, "quick question", "away-nomail-1")
    ctx.__exit__(None, None, None)
    reply = client.post(f"/api/v1/conversations/{conversation}/messages", headers=admin.headers,
                        json={"text": "Here is the answer."}).json()

    def items() -> list[tuple[str, str]]:
        with db.read() as s:
            return [(c, st) for c, st in s.execute(text(
                "SELECT channel, status FROM outbox WHERE message_id = :m ORDER BY id"), {"m": reply["id"]})]
    # The hand-over is decided in the transaction that records the web chat's send.
    wait_for(lambda: items() == [("webchat", "sent")], what="the web chat's send recorded")
    assert outgoing[1].received == []


@pytest.mark.parametrize("how", ["email frame", "pre-chat form"])
def test_a_claimed_address_never_gets_its_owners_mail(
        client: TestClient, db: Database, settings: Settings, how: str) -> None:
    """Typing bob's address (nobody had it yet) does not make bob's later mail the visitor's: it
    is filed under a contact of bob's own and never shows in the visitor's widget."""
    if how == "email frame":
        ctx, attacker = open_visitor(client)
        attacker.ws.send_json({"type": "email", "email": "bob@victim.example"})
        assert attacker.next("email_ok", "error")["type"] == "email_ok"
    else:
        ctx, attacker = open_visitor(client, "form", prechat={"name": "Bob", "email": "bob@victim.example"})
    try:
        conversation = first_words(attacker, db, "hi there", "leak-0001")
        attacker.ws.send_json({"type": "ping"})  # answered once the message (and the claim after it) is done
        attacker.next("pong")
        mail_in(settings, "bob@victim.example", "My password reset code is 771234", "<bob-1@victim.example>")

        def bobs() -> int | None:
            with db.read() as s:
                return s.execute(text("SELECT contact_id FROM messages WHERE text LIKE '%771234%'")).scalar()
        wait_for(lambda: bobs() is not None, what="bob's mail stored")
        with db.read() as s:
            mine = s.execute(text("SELECT contact_id FROM conversations WHERE id = :c"),
                             {"c": conversation}).scalar_one()
        assert bobs() != mine
        # Anything filed under the visitor before their next message would show before its echo.
        first_words(attacker, db, "still there?", "leak-0002")
        assert not any("771234" in str(f) for f in attacker.events)
        assert claimed(db, conversation) == ["bob@victim.example"]  # still theirs, for replies in their chat
    finally:
        ctx.__exit__(None, None, None)


def test_the_email_frame_only_while_nobody_can_chat_and_within_the_message_budget(
        client: TestClient, db: Database, visit: Any) -> None:
    visitor = visit()
    first_words(visitor, db, "hello?", "away-budget-1")
    answers = []
    for i in range(30):
        visitor.ws.send_json({"type": "email", "email": f"spam{i}@example.com"})
        answers.append(visitor.next("email_ok", "error"))
    assert answers[-1] | {"message": "", "retry_after": 0} == {
        "type": "error", "code": "rate_limited", "field": "email", "message": "", "retry_after": 0}
    with db.read() as s:
        assert s.execute(text("SELECT COUNT(*) FROM contact_identities WHERE kind = 'claimed:email'")).scalar() == 1

    team = create_team(db, "Chat")
    agent = login(client, db, "agent", teams=[team])
    assert client.post("/api/v1/agents/me/presence", json={"presence": "online"},
                       headers=agent.headers).status_code == 200
    open_now = visit()
    assert open_now.next("availability")["open"] is True
    open_now.ws.send_json({"type": "email", "email": "someone@example.com"})
    assert open_now.next("email_ok", "error") | {"message": ""} == {
        "type": "error", "code": "rejected", "field": "email", "message": ""}
