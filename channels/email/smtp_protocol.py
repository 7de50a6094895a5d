"""aiosmtpd's SMTP protocol, with the address of MAIL FROM and RCPT TO read faster.

aiosmtpd reads every `<address>` with the stdlib's full RFC 5322 header parser, and declares a
class on each call (~50 µs a command on the benchmark's machine: ~4 % of the listener's CPU for a
mail's two commands). Nearly every relay sends a plain `<local@domain>`: that form is read here by
one pattern, with what aiosmtpd would answer for it; anything else (quoted local parts, comments,
UTF-8, the null sender `<>`, domain literals) goes to aiosmtpd's own reading, unchanged. A test
compares the two on generated commands (tests/channels/email/test_smtp_protocol.py).
"""

from __future__ import annotations

import re

from aiosmtpd.smtp import SMTP

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
# `<dot-atom@dot-atom>`, then parameters: the stdlib skips the blanks after `>` and returns the rest
# as it is; a comment or another blank first is left to it.
_PLAIN = re.compile(rf"<({_DOT_ATOM})@{_DOT_ATOM}>[ \t]*(?:[^\s(][^\r\n]*)?")
_REST = re.compile(r">[ \t]*")


class HubSMTP(SMTP):
    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        m = _PLAIN.fullmatch(arg)
        if m is None:
            return super()._getaddr(arg)
        if self.local_part_limit and len(m[1]) > self.local_part_limit:
            return None, None
        close = arg.index(">")
        return arg[1:close], arg[_REST.match(arg, close).end():]  # type: ignore[union-attr]
