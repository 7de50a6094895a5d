"""The parse policy reads every plain MIME header as `policy.default` does, and leaves the rest to it."""

from __future__ import annotations

import email
from email import policy
from email.message import Message

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.email.mime_policy import PARSE_POLICY, plain_value

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
QUOTABLE = "".join(chr(c) for c in range(32, 127) if chr(c) not in '"\\')

tokens = st.one_of(st.text(TOKEN_CHARS, min_size=1, max_size=10),
                   st.sampled_from(["text", "plain", "utf-8", "UTF-8''Rechnung%20M%C3%A4rz.pdf", "iso-8859-1'es'a%F1o",
                                    "us-ascii''x", "''", "%ZZ", "attachment", "INLINE", "base64"]))
names = st.one_of(st.sampled_from(["filename", "name", "charset", "boundary", "filename*", "filename*0", "filename*0*",
                                   "filename*1", "name*", "charset*", "report-type", "method", "FileName"]), tokens)
quoted = st.text(QUOTABLE, max_size=15).map(lambda s: f'"{s}"')
# Folding whitespace as it is left in a parsed header's value (the parser keeps the line breaks).
spaces = st.sampled_from(["", " ", "\t", "  ", "\r\n ", "\r\n\t", " \r\n ", "\n "])
params = st.lists(st.tuples(spaces, names, spaces, st.one_of(tokens, quoted), spaces), max_size=4).map(
    lambda ps: "".join(f";{a}{n}{b}={v}{c}" for a, n, b, v, c in ps))
content_types = st.tuples(spaces, tokens, tokens, params, st.sampled_from(["", ";", " ; "])).map(
    lambda t: f"{t[0]}{t[1]}/{t[2]}{t[3]}{t[4]}")
dispositions = st.tuples(spaces, tokens, params).map(lambda t: f"{t[0]}{t[1]}{t[2]}")
encodings = st.tuples(spaces, tokens, spaces).map("".join)


def facts(msg: Message) -> list[object]:
    out: list[object] = []
    for read in (msg.get_content_type, msg.get_content_disposition, msg.get_filename, msg.get_content_charset,
                 msg.get_params, lambda: msg.get_params(header="content-disposition"), msg.get_boundary,
                 lambda: msg.get_param("report-type"), msg.get_charsets, lambda: msg.get_payload(decode=True)):
        try:
            out.append(read())
        except Exception as exc:
            out.append(type(exc).__name__)
    return out


@settings(max_examples=1500)
@given(content_types, dispositions, encodings)
def test_a_part_tells_its_type_filename_and_charset_as_with_policy_default(ctype: str, disposition: str,
                                                                          cte: str) -> None:
    raw = (f"Content-Type: {ctype}\r\nContent-Disposition: {disposition}\r\n"
           f"Content-Transfer-Encoding: {cte}\r\n\r\nQUJD\r\n").encode()
    assert facts(email.message_from_bytes(raw, policy=PARSE_POLICY)) == \
        facts(email.message_from_bytes(raw, policy=policy.default))


def test_odd_headers_are_left_to_the_stdlib_parser() -> None:
    for name, value in (("Content-Type", 'application/pdf; name="=?utf-8?q?a=C3=B1o.pdf?="'),
                        ("Content-Type", "text/plain (a comment)"),
                        ("Content-Disposition", 'attachment; filename="say \\"hi\\".pdf"'),
                        ("Content-Disposition", 'attachment; filename="Rechnung M\udcc3\udca4rz.pdf"'),
                        ("Content-Disposition", 'attachment; filename="unterminated.pdf')):
        assert plain_value(name, value) is None
        assert type(PARSE_POLICY.header_fetch_parse(name, value)) is not str
