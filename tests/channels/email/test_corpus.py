"""The corpus of awkward real-world mail (corpus/*.eml), each with what an agent must end up seeing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from channels.email.classify import classify
from channels.email.folding import fold
from channels.email.parsing import parse_email

CORPUS = Path(__file__).parent / "corpus"
MAILBOX = "support@example.com"

# file: expected facts. `text` and `repairs` are substrings that must appear; `visible` is the
# folded reply (the quoted history and signature gone); `parts` are (filename, type) in order.
EXPECTED: dict[str, dict[str, Any]] = {
    "latin1_encoded_words.eml": dict(
        sender=("jose.perez@example.es", "José Pérez Ibáñez"), subject="No puedo abrir la factura de junio (año 2025)",
        external_id="<20250603100000.4711@mx.example.es>", kind="human",
        text=["Buenos días:", r"C:\Users\jose\Documents\Facturas\2025\junio.pdf",
              r"\\servidor\compartido\facturas\ sin éxito"]),
    "utf8_encoded_words.eml": dict(
        sender=("juergen.mueller@example.de", "Jürgen Müller"),
        subject="Lieferung für Bestellung #4471 nicht angekommen 📦",
        kind="human", text=["Grüße\nJürgen"], html=["<b>#4471</b>"]),
    "nested_multipart.eml": dict(
        sender=("ana.lee@example.org", "Lee, Ana"), subject="Screenshot of the error", kind="human",
        cc=["bob@example.org", "carol@example.org"], text=["See the screenshot below."],
        html=['src="cid:shot1@example.org"'],
        parts=[("shot.png", "image/png"), ("Rechnung März.pdf", "application/pdf")]),
    "calendar_invite.eml": dict(
        sender=("maria@example.pt", "Maria Silva"), kind="human", text=["onboarding call on Tuesday"],
        parts=[("attachment-1.ics", "text/calendar")]),
    "forwarded.eml": dict(
        sender=("priya@example.in", "Priya Nair"), subject="Fwd: Your invoice INV-2025-118", kind="human",
        text=["The amount on this invoice is wrong", "Amount due: 118.00 EUR"],
        parts=[("Your invoice INV-2025-118.eml", "message/rfc822")]),
    "outlook_reply.eml": dict(
        sender=("john.smith@example.co.uk", "Smith, John"), subject="RE: Router keeps disconnecting [#k3j4h5g6f7]",
        kind="human", in_reply_to=(), references=("<first.k3@example.com>", "<second.k3@example.com>"),
        reply_token="k3j4h5g6f7", subject_token="k3j4h5g6f7", text=["I’ve restarted it", "every hour – any"],
        visible="Hi, I’ve restarted it but it still drops every hour – any ideas?"),
    "gmail_reply.eml": dict(
        sender=("mei.chen@gmail.com", "Mei Chen"), kind="human", in_reply_to=("<second.k3@example.com>",),
        references=("<first.k3@example.com>", "<second.k3@example.com>"), visible="Thanks, that fixed it!",
        text=["> Please restart the router"]),
    "dsn_bounce.eml": dict(
        kind="bounce", bounce=("<ourreply.5t6y7u@example.com>",
                               "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown")),
    "qmail_bounce.eml": dict(kind="bounce", bounce=("<ourreply.q1w2e3@example.com>", "552 5.2.2 Mailbox full")),
    "out_of_office.eml": dict(kind="auto_reply", in_reply_to=("<ourreply.5t6y7u@example.com>",),
                              subject_token="abcdefghij"),
    "list_mail.eml": dict(kind="bulk"),
    "no_message_id.eml": dict(kind="human", external_id="sha256:", repairs=["no Message-ID"],
                              text=["change my password"]),
    "nul_byte.eml": dict(kind="human", text=["Beforeafter the NUL."], repairs=["NUL characters removed"]),
    "broken_mime.eml": dict(kind="human", text=["My order never arrived."], repairs=["boundary was never found"]),
    "long_subject.eml": dict(kind="human", subject_length=300, repairs=["subject of 999 characters cut to 300"]),
    "bad_charset.eml": dict(sender=("zoe@example.fr", "Zoë"), subject="Café crème", kind="human",
                            text=["Le café est froid"], repairs=["unknown charset 'x-made-up'", "invalid UTF-8 bytes"]),
    "html_only.eml": dict(kind="human", text=["Where is my refund?\nOrder #99"], html=["<b>refund</b>"]),
    "no_from.eml": dict(failure="no From header"),
}


def test_every_corpus_file_has_expectations() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_reads_as_expected(name: str) -> None:
    want = EXPECTED[name]
    raw = (CORPUS / name).read_bytes()
    parsed = parse_email(raw, mailbox_addresses=[MAILBOX])
    if "failure" in want:
        assert parsed.failure == want["failure"]
        assert parsed.external_id.startswith("sha256:")
        return
    assert parsed.failure is None
    if "sender" in want:
        assert parsed.sender is not None and (parsed.sender.email, parsed.sender.name) == want["sender"]
    if "subject" in want:
        assert parsed.subject == want["subject"]
    if "subject_length" in want:
        assert parsed.subject is not None and len(parsed.subject) == want["subject_length"]
    if "external_id" in want:
        assert parsed.external_id.startswith(want["external_id"])
    for key in ("in_reply_to", "references", "reply_token", "subject_token"):
        if key in want:
            assert getattr(parsed, key) == want[key], key
    if "cc" in want:
        assert [a.email for a in parsed.cc] == want["cc"]
    for snippet in want.get("text", []):
        assert snippet in parsed.text
    for snippet in want.get("html", []):
        assert parsed.html is not None and snippet in parsed.html
    assert [(p.filename, p.content_type) for p in parsed.parts] == want.get("parts", [
        (p.filename, p.content_type) for p in parsed.parts])
    if "parts" not in want and want["kind"] == "human":
        assert parsed.parts == ()
    for snippet in want.get("repairs", []):
        assert any(snippet in r for r in parsed.repairs), parsed.repairs
    if not want.get("repairs"):
        assert parsed.repairs == ()
    assert "\x00" not in parsed.text and "\x00" not in (parsed.subject or "")
    verdict = classify(parsed)
    assert verdict.kind == want["kind"]
    if "bounce" in want:
        assert verdict.bounce is not None
        assert (verdict.bounce.original_message_id, verdict.bounce.reason) == want["bounce"]
    if "visible" in want:
        folded = fold(parsed.text)
        assert folded.folded and folded.visible == want["visible"]
