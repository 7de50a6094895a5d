"""The policy incoming mail is parsed with: the stdlib's `policy.default`, without its cost on
plain MIME headers.

`policy.default` turns every header it is asked for into a header object, through its RFC 5322
parser, each time: `get_content_type`, `get_param`, `get_filename`, the parser's own look at each
part's Content-Type. That was a fifth of the SMTP listener's CPU (py-spy, bench.email_listener).
The `Message` methods only ever read such an object as a string, and for a Content-Type,
Content-Disposition or Content-Transfer-Encoding written plainly (tokens, `name=token` or
`name="text"` parameters, ASCII, no encoded word, no comment) that string is the value as
written, unfolded (tests/channels/email/test_mime_policy.py checks it against the stdlib). Those
are returned as that string; everything else still goes through `policy.default`'s parser, so
odd mail is read exactly as before.

Parts are plain `email.message.Message`s: `EmailMessage`'s own methods (`is_attachment`,
`get_content`) expect header objects.
"""

from __future__ import annotations

import functools
import re
from email.message import Message
from email.policy import EmailPolicy
from typing import Any

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 2045 token: no space, control or tspecial
# Parameter names and bare values: tokens without the characters RFC 2231 gives a meaning (*'%),
# which the stdlib's two parsers read differently.
_WORD = r"[!#$&+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"[ !#-\[\]-~]+"'  # printable ASCII, no backslash or inner quote; not empty
_PARAMS = rf"(?:[ \t]*;[ \t]*{_WORD}[ \t]*=[ \t]*(?:{_WORD}|{_QUOTED}))*[ \t]*"
_PLAIN = {
    "content-type": re.compile(rf"[ \t]*{_TOKEN}/{_TOKEN}{_PARAMS}"),
    "content-disposition": re.compile(rf"[ \t]*{_TOKEN}{_PARAMS}"),
    "content-transfer-encoding": re.compile(rf"[ \t]*{_TOKEN}[ \t]*"),
}
# Every parameter's name (and perhaps a quoted value's look-alike: that only sends the header to
# the stdlib's parser, which keeps only the first of two parameters of one name).
_NAMES = re.compile(rf";[ \t]*({_WORD})[ \t]*=")


@functools.lru_cache(maxsize=256)  # a part's Content-Type is asked for again and again
def plain_value(name: str, value: str) -> str | None:
    """`value` unfolded, as `policy.default`'s header object would read, when it is a plain MIME
    header; None when only that parser can tell."""
    pattern = _PLAIN.get(name.lower())
    if pattern is None:
        return None
    unfolded = value.replace("\r", "").replace("\n", "")  # what policy.default unfolds
    if "=?" in unfolded or pattern.fullmatch(unfolded) is None:
        return None
    if ";" in unfolded:
        names = _NAMES.findall(unfolded)
        if len(set(names)) != len(names):
            return None
    return unfolded


class PlainMimePolicy(EmailPolicy):
    """`policy.default` reading plain MIME headers as strings (see the module)."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if type(value) is str:
            plain = plain_value(name, value)
            if plain is not None:
                return plain
        return super().header_fetch_parse(name, value)


PARSE_POLICY = PlainMimePolicy(message_factory=Message)
