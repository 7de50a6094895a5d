"""What an agent sees of each MIME part: the file's name, its type, the body's charset, a forward, an
invite. Written as senders write them (RFC 2231, encoded words, 8-bit, folded, upper case)."""

from __future__ import annotations

import pytest

from channels.email.parsing import parse_email

HEAD = (b"From: Ana <ana@example.org>\r\nTo: support@example.com\r\nSubject: test\r\n"
        b"Message-ID: <parts@example.org>\r\nMIME-Version: 1.0\r\n")


def with_part(part_headers: bytes, body: bytes = b"QUJD") -> bytes:
    return (HEAD + b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello there\r\n"
            b"--b1\r\n" + part_headers + b"\r\n" + body + b"\r\n--b1--\r\n")


@pytest.mark.parametrize("part_headers, filename, content_type", [
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\n",
     "invoice.pdf", "application/pdf"),
    # RFC 2231: a charset, continuations, Latin-1, on Content-Type's name
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\r\n",
     "Rechnung März.pdf", "application/pdf"),
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n filename*0*=UTF-8''Rechnung%20;\r\n"
     b" filename*1*=M%C3%A4rz;\r\n filename*2=\".pdf\"\r\n", "Rechnung März.pdf", "application/pdf"),
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=iso-8859-1'es'a%F1o.pdf\r\n",
     "año.pdf", "application/pdf"),
    (b"Content-Type: application/pdf; name*=utf-8''%E2%82%AC.pdf\r\n", "€.pdf", "application/pdf"),
    # RFC 2047 encoded words (not standard in a parameter, very common), folded
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; "
     b"filename=\"=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?=\"\r\n", "Rechnung März.pdf", "application/pdf"),
    (b"Content-Type: application/pdf;\r\n\tname=\"=?utf-8?Q?Factura_a=C3=B1o.pdf?=\"\r\n",
     "Factura año.pdf", "application/pdf"),
    # raw UTF-8 bytes, quoting, upper case, a path
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"Rechnung M\xc3\xa4rz.pdf\"\r\n",
     "Rechnung März.pdf", "application/pdf"),
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"say \\\"hi\\\".pdf\"\r\n",
     'say "hi".pdf', "application/pdf"),
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a;b.pdf\"\r\n",
     "a;b.pdf", "application/pdf"),
    (b"Content-Type: APPLICATION/PDF; NAME=\"Upper.PDF\"\r\nContent-Disposition: ATTACHMENT\r\n",
     "Upper.PDF", "application/pdf"),
    (b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"C:\\\\Users\\\\ana\\\\x.pdf\"\r\n",
     "x.pdf", "application/pdf"),
    # no name: one from the type; invites as Outlook and others send them
    (b"Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n", "attachment-1.ics", "text/calendar"),
    # a bounce's report parts: named for what they hold, not "attachment-2.txt"
    (b"Content-Type: message/delivery-status\r\n", "delivery-status.txt", "message/delivery-status"),
    (b"Content-Type: text/rfc822-headers\r\n", "original-headers.txt", "text/rfc822-headers"),
    (b"Content-Type: application/ics; name=\"invite.ics\"\r\n"
     b"Content-Disposition: attachment; filename=\"invite.ics\"\r\n", "invite.ics", "application/ics"),
])
def test_an_attachment_keeps_the_name_its_sender_gave_it(part_headers: bytes, filename: str,
                                                         content_type: str) -> None:
    parsed = parse_email(with_part(part_headers))
    assert parsed.text == "Hello there"
    assert [(p.filename, p.content_type) for p in parsed.parts] == [(filename, content_type)]


def test_an_inline_picture_is_named_by_its_content_id() -> None:
    parsed = parse_email(with_part(b"Content-Type: image/png\r\nContent-ID: <img1@example.org>\r\n"
                                   b"Content-Transfer-Encoding: base64\r\n"))
    [part] = parsed.parts
    assert (part.content_id, part.inline, part.content) == ("img1@example.org", True, b"ABC")


@pytest.mark.parametrize("content_type, body, text", [
    (b'text/plain; charset="ISO-8859-1"\r\nContent-Transfer-Encoding: quoted-printable', b"Caf=E9 cr=E8me",
     "Café crème"),
    (b"TEXT/PLAIN; CHARSET=UTF-8", b"Gr\xc3\xbc\xc3\x9fe", "Grüße"),
    (b"text/plain; charset*=us-ascii'en'utf-8", b"Gr\xc3\xbc\xc3\x9fe", "Grüße"),
    (b'text/plain; charset="windows-1252"', b"\x93quoted\x94 \x80", "“quoted” €"),
    (b"text/plain;\r\n charset=koi8-r", b"\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"),
])
def test_a_body_is_read_in_the_charset_its_header_names(content_type: bytes, body: bytes, text: str) -> None:
    parsed = parse_email(HEAD + b"Content-Type: " + content_type + b"\r\n\r\n" + body + b"\r\n")
    assert (parsed.text, parsed.repairs) == (text, ())


def test_a_forwarded_message_is_kept_whole_as_a_file_never_as_the_customers_words() -> None:
    inner = (b"From: Bob <bob@example.net>\r\nTo: ana@example.org\r\nSubject: =?utf-8?q?Inner_r=C3=A9sum=C3=A9?=\r\n"
             b"Message-ID: <inner@example.net>\r\nContent-Type: multipart/mixed; boundary=in1\r\n\r\n"
             b"--in1\r\nContent-Type: text/plain\r\n\r\ninner text\r\n"
             b"--in1\r\nContent-Type: application/pdf; name=inner.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             b"QUJD\r\n--in1--\r\n")
    parsed = parse_email(with_part(b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n", inner))
    assert parsed.text == "Hello there"
    [forward] = parsed.parts
    assert (forward.filename, forward.content_type) == ("Inner résumé.eml", "message/rfc822")
    assert b"inner text" in forward.content and b"name=inner.pdf" in forward.content
    reread = parse_email(forward.content)
    assert reread.message_id == "<inner@example.net>" and [p.filename for p in reread.parts] == ["inner.pdf"]


def test_an_invite_beside_its_text_is_a_calendar_file() -> None:
    raw = (HEAD + b"Content-Type: multipart/alternative; boundary=cal\r\n\r\n"
           b"--cal\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nInvite text\r\n"
           b"--cal\r\nContent-Type: text/calendar; charset=\"utf-8\"; method=REQUEST\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nQkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n--cal--\r\n")
    parsed = parse_email(raw)
    assert parsed.text == "Invite text"
    [invite] = parsed.parts
    assert (invite.filename, invite.content_type) == ("attachment-1.ics", "text/calendar")
    assert invite.content.startswith(b"BEGIN:VCALENDAR")
