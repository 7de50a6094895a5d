"""Parsing edge cases beyond the corpus: tokens, ids, hostile input, never an exception."""

from __future__ import annotations

import random

import pytest

from channels.email import tokens
from channels.email.bodies import safe_filename
from channels.email.headers import valid_address
from channels.email.inbound import thread_keys
from channels.email.parsing import content_hash, parse_email

PLAIN = (b"From: Ana <ana@example.org>\r\nTo: support@example.com\r\nSubject: Hi\r\n"
         b"Date: Tue, 3 Jun 2025 10:00:00 +0000\r\n\r\nHello\r\n")


def test_the_same_mail_relayed_again_hashes_the_same_despite_new_relay_headers() -> None:
    relayed = (b"Received: from relay2 by mx; Tue, 3 Jun 2025 10:00:09 +0000\r\n"
               b"Delivered-To: support@example.com\r\n" + PLAIN)
    assert content_hash(PLAIN) == content_hash(relayed)
    assert content_hash(PLAIN) != content_hash(PLAIN.replace(b"Hello", b"Hello!"))
    assert parse_email(PLAIN).external_id == parse_email(relayed).external_id


def test_reply_token_comes_only_from_our_own_mailbox_plus_address() -> None:
    raw = PLAIN.replace(b"To: support@example.com", b"To: support+abcdefghij@example.com, sales+zzzzzzzzzz@example.com")
    assert parse_email(raw, mailbox_addresses=["support@example.com"]).reply_token == "abcdefghij"
    assert parse_email(raw, mailbox_addresses=["other@example.com"]).reply_token is None
    # A relay that rewrote To keeps the token in the envelope recipient.
    assert parse_email(PLAIN, mailbox_addresses=["support@example.com"],
                       envelope_recipients=["SUPPORT+ABCDEFGHIJ@example.com"]).reply_token == "abcdefghij"


def test_thread_keys_put_the_reply_token_first_then_in_reply_to_then_newest_reference() -> None:
    raw = PLAIN.replace(b"To: support@example.com", b"To: support+abcdefghij@example.com") + b""
    raw = raw.replace(b"Subject: Hi", b"Subject: Re: Hi [#bbbbbbbbbb]\r\nMessage-ID: <me@x>\r\n"
                      b"In-Reply-To: <b@y>\r\nReferences: <a@y> <b@y> <me@x>")
    parsed = parse_email(raw, mailbox_addresses=["support@example.com"])
    strong, weak, own = thread_keys(parsed)
    assert strong == ("token:abcdefghij", "<b@y>", "<a@y>")
    assert weak == ("token:bbbbbbbbbb",)
    assert own == ("<me@x>",)


def test_header_values_never_carry_control_characters() -> None:
    raw = (b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example.com?= <eve@example.org>\r\n"
           b"Subject: =?utf-8?q?Hi=0D=0AX-Injected:_1=00?=\r\n\r\nbody")
    parsed = parse_email(raw)
    assert parsed.sender is not None and parsed.sender.name == "Eve Bcc: victim@example.com"
    assert parsed.subject == "Hi X-Injected: 1"


@pytest.mark.parametrize("written, kept", [
    (r"C:\Users\ana\Desktop\invoice.pdf", "invoice.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..", None),
    ("a\x00b\r\n.txt", "ab .txt"),
    ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
])
def test_filenames_are_labels_never_paths(written: str, kept: str | None) -> None:
    assert safe_filename(written) == kept


@pytest.mark.parametrize("address, ok", [
    ("ana@example.org", True), ("ana+tag@example.org", True), ("José@exämple.org", True),
    ("ana@example.org\r\nBcc: x@y.z", False), ("not an address", False), ("a@b", False), ("", False),
])
def test_addresses_are_checked_by_the_validator(address: str, ok: bool) -> None:
    assert (valid_address(address) is not None) is ok


def test_deeply_nested_multiparts_are_cut_off_not_recursed_forever() -> None:
    depth = 60
    head = b"From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    body = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(depth))
    body += b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" % depth
    parsed = parse_email(head + body)
    assert parsed.failure is None
    assert any("beyond the limits" in r for r in parsed.repairs)


def test_random_bytes_never_raise() -> None:
    rng = random.Random(15)
    corpus = [PLAIN, b"", b"\r\n\r\n", b"From:\r\n\r\n", b"From: <>\r\n", b"\xff\xfe\x00" * 50]
    for _ in range(300):
        base = bytearray(rng.choice(corpus[:1]))
        for _ in range(rng.randint(1, 20)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        corpus.append(bytes(base))
    for raw in corpus:
        parsed = parse_email(raw, mailbox_addresses=["support@example.com"])
        assert parsed.failure or parsed.sender is not None
        assert parsed.external_id


def test_tokens_survive_case_folding_and_are_found_in_subjects() -> None:
    token = tokens.mint()
    assert len(token) == 10 and token == token.lower()
    assert tokens.subject_token(f"RE: AW: Order [#{token.upper()}]") == token
    assert tokens.with_subject_token(f"Re: Order [#{token}]", token) == f"Re: Order [#{token}]"
    assert tokens.reply_subject("AW: Bestellung") == "AW: Bestellung"
    assert tokens.reply_subject("Order") == "Re: Order"
    assert tokens.mint(b"k", "outbox-7") == tokens.mint(b"k", "outbox-7") != tokens.mint(b"k", "outbox-8")
