"""The listener's reading of MAIL FROM / RCPT TO addresses gives what aiosmtpd's own would."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels.email.smtp_protocol import HubSMTP


def _both(arg: str, limit: int = 0) -> tuple[object, object]:
    """What each reading gives, or the error it raises (aiosmtpd's own fails on some input)."""
    outcomes = []
    for protocol in (HubSMTP.__new__(HubSMTP), SMTP.__new__(SMTP)):
        protocol.local_part_limit = limit
        try:
            outcomes.append(protocol._getaddr(arg))
        except Exception as exc:
            outcomes.append(type(exc))
    return outcomes[0], outcomes[1]


PIECES = st.sampled_from([
    "<", ">", "@", ".", "..", " ", "\t", "(", ")", '"', "\\", "[", "]", ",", ";", ":", "=", "\r\n",
    "a", "Bob", "x-y", "o'neil", "1", "é", "ß", "example.com", "SIZE=1000", "BODY=8BITMIME",
    "SMTPUTF8", "+tag", "!#$%&*/?^_`{|}~",
])
ARGS = st.lists(PIECES, max_size=14).map("".join)
PLAIN = st.from_regex(r"\A<[A-Za-z0-9+._-]{1,20}@[A-Za-z0-9.-]{1,20}>( [A-Z]{1,6}=[A-Za-z0-9]{1,6})*\Z")


@settings(max_examples=1500, deadline=None)
@given(st.one_of(ARGS, PLAIN, PLAIN.map(lambda s: s.replace(">", "> ", 1))))
@example("<customer@example.com>")
@example("<customer@example.com> SIZE=2048 BODY=8BITMIME")
@example("<a@b.c>SIZE=1")
@example("<a@b> (a comment) SIZE=1")
@example("<>")
@example('<"quoted local"@example.com>')
@example("<a..b@example.com>")
@example("<a@[127.0.0.1]>")
@example("customer@example.com")
def test_any_command_argument_reads_as_aiosmtpd_reads_it(arg: str) -> None:
    ours, theirs = _both(arg)
    assert ours == theirs


@pytest.mark.parametrize("arg", ["<" + "l" * 64 + "@example.com>", "<" + "l" * 65 + "@example.com>"])
def test_a_local_part_over_the_limit_is_refused_as_aiosmtpd_refuses_it(arg: str) -> None:
    ours, theirs = _both(arg, limit=64)
    assert ours == theirs
    assert isinstance(ours, tuple)
    assert (ours[0] is None) == (len(arg) > 64 + len("<@example.com>"))
