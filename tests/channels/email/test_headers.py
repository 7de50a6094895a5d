"""Addresses read from headers: the plain shape taken without email-validator means what it would."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.email.headers import _PLAIN_ADDRESS, addresses, header_map, valid_address
from channels.email.parsing import parse_email

# Addresses of the plain shape, and near it: reserved and numeric top-level names, "--", long parts,
# role names (RFC 2142: email-validator writes SUPPORT@ as support@).
plain = st.from_regex(_PLAIN_ADDRESS, fullmatch=True)
near = st.tuples(st.one_of(st.from_regex(r"[A-Za-z0-9+_.-]{1,70}", fullmatch=True),
                           st.sampled_from(["SUPPORT", "Postmaster", "sales", "Info", "www", "support.team"])),
                 st.from_regex(r"(?:[A-Za-z0-9-]{1,64}\.){1,3}", fullmatch=True),
                 st.sampled_from(["org", "COM", "test", "Local", "onion", "arpa", "invalid", "localhost", "x", "123",
                                  "xn--p1ai", "museum"])).map(lambda t: f"{t[0]}@{t[1]}{t[2]}")


def by_validator(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@settings(max_examples=1500)
@given(st.one_of(plain, near))
def test_an_address_is_accepted_and_written_as_email_validator_does(address: str) -> None:
    assert valid_address(address) == by_validator(address)


def test_an_address_reads_the_same_from_the_cache_and_keeps_each_header_apart() -> None:
    raw = (b"From: =?utf-8?q?Jos=C3=A9?= <Jose@Example.ES>\r\nTo: Support <support@example.com>, b@x.example\r\n"
           b"Cc: support@EXAMPLE.com, \"Lee, Ana\" <ana@example.org>\r\nSubject: hi\r\n\r\nbody\r\n")
    for _ in range(2):
        parsed = parse_email(raw)
        assert parsed.sender is not None and (parsed.sender.email, parsed.sender.name) == ("Jose@example.es", "José")
        assert [(a.email, a.name) for a in parsed.to] == [("support@example.com", "Support"), ("b@x.example", None)]
        assert [(a.email, a.name) for a in parsed.cc] == [("support@example.com", None),
                                                          ("ana@example.org", "Lee, Ana")]


def test_a_long_recipient_list_is_read_whole() -> None:
    many = ", ".join(f"person{i}@example.org" for i in range(200))
    msg = parse_email(f"From: a@example.org\r\nTo: {many}\r\n\r\nx".encode()).message
    assert msg is not None and len(addresses(header_map(msg), "to")) == 200
