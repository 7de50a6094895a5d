"""Sending through a real SMTP server: accepted, down, refusing for good (550), refusing for now (451)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from channels.email import smtp_out
from channels.email.adapter import EmailAdapter
from channels.email.render import Reply, render_reply
from channels.email.settings import EmailSettings, Mailbox, SmtpServer
from hub.ports import OutboundMessage, PermanentError, TransientError
from tests.channels.email.smtp_side import Recorder, smtp_server
from tests.services import free_port

BOX = Mailbox("support@example.com", display_name="ACME Support")


def _send(port: int, to: tuple[str, ...] = ("ana@example.org",)) -> smtp_out.Accepted:
    rendered = render_reply(Reply(to=to[0], cc=to[1:], text="Hello"), BOX)
    server = SmtpServer(port=port, timeout_seconds=5)
    return asyncio.run(smtp_out.send(server, rendered.message, sender=BOX.address, recipients=rendered.recipients))


def test_an_accepting_server_gets_the_mail_and_we_get_its_answer() -> None:
    port = free_port()
    with smtp_server(port) as server:
        accepted = _send(port)
    assert accepted.response.endswith("Ok: queued as 4711")
    [(sender, rcpts, msg)] = server.received
    assert (sender, rcpts) == ("support@example.com", ["ana@example.org"])
    assert msg["To"] == "ana@example.org"


def test_a_server_that_is_down_is_a_transient_failure() -> None:
    with pytest.raises(TransientError, match="unreachable"):
        _send(free_port())


def test_a_recipient_refused_with_550_is_permanent_with_the_servers_words() -> None:
    port = free_port()
    refusal = "550 5.1.1 <ana@example.org>: Recipient address rejected: User unknown"
    with smtp_server(port, Recorder(rcpt_answer={"ana@example.org": refusal})) as server:
        with pytest.raises(PermanentError) as caught:
            _send(port)
    assert "550 5.1.1 <ana@example.org>: Recipient address rejected: User unknown" in str(caught.value)
    assert server.received == []


def test_a_451_is_transient_with_the_servers_words() -> None:
    port = free_port()
    with smtp_server(port, Recorder(data_answer="451 4.3.0 Greylisted, try again in 5 minutes")):
        with pytest.raises(TransientError, match="451 4.3.0 Greylisted, try again in 5 minutes"):
            _send(port)
    with smtp_server(port, Recorder(rcpt_answer={"ana@example.org": "450 4.2.0 Mailbox busy"})):
        with pytest.raises(TransientError, match="450 4.2.0 Mailbox busy"):
            _send(port)


def test_a_554_on_data_is_permanent() -> None:
    port = free_port()
    with smtp_server(port, Recorder(data_answer="554 5.7.1 Message rejected as spam")):
        with pytest.raises(PermanentError, match="554 5.7.1 Message rejected as spam"):
            _send(port)


def test_one_refused_cc_does_not_fail_the_mail_the_customer_got() -> None:
    port = free_port()
    with smtp_server(port, Recorder(rcpt_answer={"gone@example.org": "550 5.1.1 no such user"})) as server:
        accepted = _send(port, ("ana@example.org", "gone@example.org"))
    assert accepted.refused == {"gone@example.org": "550 5.1.1 no such user"}
    assert server.received[0][1] == ["ana@example.org"]


def test_the_adapter_sends_a_threaded_reply_and_reports_the_keys_it_minted() -> None:
    port = free_port()
    settings = EmailSettings(mailboxes=(replace(BOX, smtp=SmtpServer(port=port, timeout_seconds=5)),), secret=b"k")
    adapter = EmailAdapter(settings)
    item = OutboundMessage(outbox_id=7, message_id=70, conversation_id=3, channel="email", source="support@example.com",
                           to="ana@example.org", text="Restart it, please.", subject="Router",
                           thread_keys=("token:abcdefghij", "<c1@example.org>"),
                           metadata={"agent_name": "Ben",
                                     "quoted": {"at": "2025-06-08T16:20:00+00:00", "name": "Ana", "text": "It drops."}})
    with smtp_server(port) as server:
        first = asyncio.run(adapter.send(item))
        again = asyncio.run(adapter.send(item))  # the outbox retrying after an unsure failure
    [(_, _, msg), (_, _, msg2)] = server.received
    assert msg["In-Reply-To"] == "<c1@example.org>" and msg["Subject"] == "Re: Router [#abcdefghij]"
    assert first.provider_id == msg["Message-ID"] == msg2["Message-ID"] == again.provider_id
    body = msg.get_body(("plain",))
    assert body is not None
    assert "On 8 June 2025 at 16:20 UTC, Ana wrote:\n> It drops." in body.get_content().replace("\r\n", "\n")


def test_the_adapter_refuses_an_invalid_address_for_good() -> None:
    adapter = EmailAdapter(EmailSettings(mailboxes=(BOX,)))
    item = OutboundMessage(outbox_id=1, message_id=1, conversation_id=1, channel="email", source="", to="nobody",
                           text="x")
    with pytest.raises(PermanentError, match="not a valid email address"):
        asyncio.run(adapter.send(item))
