"""An agent's reply as the customer's mail client receives it: threaded, addressed, in their language."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from channels.email.render import BadAddress, File, Quoted, Reply, render_reply
from channels.email.settings import Mailbox

BOX = Mailbox("support@example.com", display_name="ACME Support", signature="ACME Ltd.\nhttps://acme.example")
NOW = datetime(2025, 6, 9, 8, 0, tzinfo=UTC)


def _sent(reply: Reply, box: Mailbox = BOX, **kw: object) -> EmailMessage:
    """The rendered mail as bytes on the wire, parsed back as a client would."""
    rendered = render_reply(reply, box, now=NOW, **kw)  # type: ignore[arg-type]
    msg = email.message_from_bytes(rendered.message.as_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _bodies(msg: EmailMessage) -> tuple[str, str]:
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_a_reply_threads_under_the_customers_mail_and_brings_replies_back() -> None:
    keys = ("token:abcdefghij", "<first@cust.example>", "<second@cust.example>")
    rendered = render_reply(Reply(to="ana@example.org", text="Hi", subject="Router", thread_keys=keys), BOX, now=NOW)
    msg = rendered.message
    assert msg["In-Reply-To"] == "<second@cust.example>"
    assert msg["References"] == "<first@cust.example> <second@cust.example>"
    assert msg["Subject"] == "Re: Router [#abcdefghij]"
    assert msg["Reply-To"] == "ACME Support <support+abcdefghij@example.com>"
    assert msg["From"] == "ACME Support <support@example.com>"
    assert msg["Message-ID"].endswith("@example.com>")
    assert rendered.thread_keys == (msg["Message-ID"], "token:abcdefghij")


def test_a_first_mail_mints_a_token_and_the_same_outbox_item_renders_the_same_ids_on_a_retry() -> None:
    reply = Reply(to="ana@example.org", text="Hello", seed="41")
    first, again = (render_reply(reply, BOX, secret=b"k", now=NOW) for _ in range(2))
    other = render_reply(Reply(to="ana@example.org", text="Hello", seed="42"), BOX, secret=b"k", now=NOW)
    assert (first.message_id, first.token) == (again.message_id, again.token)
    assert first.message_id != other.message_id and first.token != other.token
    assert "In-Reply-To" not in first.message
    unseeded = {render_reply(Reply(to="ana@example.org", text="x"), BOX, now=NOW).message_id for _ in range(3)}
    assert len(unseeded) == 3


@pytest.mark.parametrize("field", ["to", "cc"])
def test_cr_lf_in_an_address_never_reaches_a_header(field: str) -> None:
    hostile = "ana@example.org\r\nBcc: everyone@example.net"
    reply = Reply(to=hostile, text="x") if field == "to" else Reply(to="ana@example.org", text="x", cc=(hostile,))
    with pytest.raises(BadAddress):
        render_reply(reply, BOX, now=NOW)


def test_cr_lf_in_names_and_subjects_is_flattened_to_one_header_line() -> None:
    box = Mailbox("support@example.com", display_name="ACME\r\nBcc: evil@example.net")
    msg = _sent(Reply(to="ana@example.org", text="x", subject="Order\r\nBcc: evil@example.net\nX-A: 1",
                      agent_name="Ben\r\nX-Evil: 1", thread_keys=("<a@b>\r\nBcc: c@d",)), box)
    assert msg["Bcc"] is None and msg["X-A"] is None and msg["X-Evil"] is None
    assert msg["Subject"].startswith("Re: Order Bcc: evil@example.net X-A: 1")
    assert "References" not in msg  # an id with a line break in it is not one


def test_the_body_has_text_and_html_with_the_agent_signature_and_quoted_history_in_the_mailbox_language() -> None:
    quoted = Quoted(datetime(2025, 6, 8, 16, 20, tzinfo=UTC), "Ana Pérez", "My router <b>drops</b>.\nEvery hour.")
    reply = Reply(to="ana@example.org", text="Please restart it.\n\n<script>alert(1)</script>", agent_name="Ben",
                  quoted=quoted, thread_keys=("<q@example.org>",))
    text, html = _bodies(_sent(reply))
    assert "Please restart it." in text and "<script>alert(1)</script>" in text
    assert "Ben\nACME Ltd.\nhttps://acme.example" in text
    assert "On 8 June 2025 at 16:20 UTC, Ana Pérez wrote:\n> My router <b>drops</b>.\n> Every hour." in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "My router &lt;b&gt;drops&lt;/b&gt;." in html
    spanish = Mailbox("soporte@example.es", display_name="Soporte", language="es")
    text_es, _ = _bodies(_sent(reply, spanish))
    assert "El 8 de junio de 2025, a las 16:20 UTC, Ana Pérez escribió:" in text_es


def test_the_subject_is_translated_when_the_conversation_has_none() -> None:
    es = Mailbox("soporte@example.es", language="es", subject_token=False)
    assert _sent(Reply(to="a@example.org", text="x", thread_keys=("<a@b>",)), es)["Subject"] == "Re: Su mensaje"
    first = Reply(to="a@example.org", text="x", new_conversation=True)
    assert _sent(first, es)["Subject"] == "Un mensaje de soporte@example.es"


def test_files_and_cc_go_along_and_non_ascii_names_are_encoded() -> None:
    msg = _sent(Reply(to="ana@example.org", text="Attached.", cc=("Bob@Example.org", "ana@example.org"),
                      agent_name="José Núñez", files=(File("Factura März.pdf", "application/pdf", b"%PDF-1.4"),)))
    assert msg["Cc"] == "Bob@example.org"  # the customer is not copied twice; the domain is normalized
    files = list(msg.iter_attachments())
    assert [(f.get_filename(), f.get_content_type(), f.get_content()) for f in files] == [
        ("Factura März.pdf", "application/pdf", b"%PDF-1.4")]
    text, _ = _bodies(msg)
    assert "José Núñez" in text
