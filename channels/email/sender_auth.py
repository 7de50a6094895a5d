"""Whether a mail's From is proven: the Authentication-Results its mailbox's own receiving server
added (RFC 8601), parsed with `authres`.

Anyone can write a known customer's address in From. A mailbox whose receiving server checks
DMARC, DKIM and SPF names that server's authserv-id (`Mailbox.authserv_id`); only results under
that id are read, so a header the sender wrote themselves counts for nothing (RFC 8601 section 5:
the receiving server removes headers carrying its own id from incoming mail; Gmail, Postfix with
OpenDMARC or rspamd do). The From is verified when DMARC passed, or, without a DMARC verdict
(the domain publishes no policy), when a DKIM signature of the From's domain passed or SPF passed
for an envelope sender of that domain. A DMARC fail is never verified, nor a mail with no result
from that server. Alignment is the From domain or a parent or child of it (no public suffix list:
nobody can sign for a public suffix).

An unverified mail is stored and shown, flagged (`metadata.email.auth.verified` false), but does
not join the known customer silently: its sender is held apart as a contact of its own (identity
`unverified:<address>` in the mailbox's scope, proven in the port's sense, so the From address is
only claimed), suggested to agents as a match for the customer, exactly as a web chat visitor
typing a known customer's email is; and its subject token (a weak thread key) is dropped. Its
strong keys (the reply token, our Message-IDs) still thread it: they are secrets of the thread.
Without `authserv_id` nothing is read and nothing changes.

Only the topmost header under that id counts (the one the server prepended): a server that does
not strip the sender's copies would otherwise let a forged "dkim=pass" outvote its own softfail.
A server writing one header per check (Postfix with a milter each) is read by its last one only;
one combined header (rspamd's, for one) keeps every result.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from email.message import Message
from typing import Any

import authres

from channels.email.headers import raw_values
from hub.ports import InboundMessage

logger = logging.getLogger(__name__)
UNVERIFIED_REF = "unverified:"


@dataclass(frozen=True)
class SenderCheck:
    """What the trusted server said: each method's result as written ("pass", "fail", "none",
    "softfail", ...; None: no result), DKIM and SPF for the From's domain when there is one."""

    server: str
    dmarc: str | None
    dkim: str | None
    spf: str | None
    verified: bool

    def as_metadata(self) -> dict[str, Any]:
        return {"server": self.server, "dmarc": self.dmarc, "dkim": self.dkim, "spf": self.spf,
                "verified": self.verified}


def check_sender(msg: Message | None, authserv_id: str, from_address: str) -> SenderCheck | None:
    """None when the mailbox trusts no server (`authserv_id` empty): nothing to say."""
    trusted = authserv_id.strip().lower()
    if not trusted:
        return None
    results = _trusted_results(msg, trusted) if msg is not None else []
    domain = from_address.rpartition("@")[2].lower()
    dmarc = [r.result.lower() for r in results if r.method == "dmarc"]
    dkim = [(r.result.lower(), _aligned(_dkim_domain(r), domain)) for r in results if r.method == "dkim"]
    spf = [(r.result.lower(), _aligned(_spf_domain(r), domain)) for r in results if r.method == "spf"]
    aligned_pass = any(ok and res == "pass" for res, ok in dkim + spf)
    if "fail" in dmarc:
        verified = False
    elif "pass" in dmarc:
        verified = True
    else:
        verified = aligned_pass
    return SenderCheck(trusted, "fail" if "fail" in dmarc else _best(dmarc), _shown(dkim), _shown(spf), verified)


def guarded(message: InboundMessage, check: SenderCheck | None) -> InboundMessage:
    """`message` with the check recorded; an unverified sender held apart (see the module)."""
    if check is None:
        return message
    email_meta = {**message.metadata.get("email", {}), "auth": check.as_metadata()}
    message = replace(message, metadata={**message.metadata, "email": email_meta})
    if check.verified or not message.contact.email:
        return message
    held = replace(message.contact, external_ref=UNVERIFIED_REF + message.contact.email.lower(),
                   verified=frozenset({"external_ref"}))
    return replace(message, contact=held, weak_thread_keys=())


def _trusted_results(msg: Message, trusted: str) -> list[Any]:
    """The results of the topmost header under our id, the one our server prepended; any other
    under that id is the sender's if the server did not strip it, and could outvote ours."""
    for value in raw_values(msg, "authentication-results"):  # top down, as received
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except authres.AuthResError as exc:  # one we cannot read proves nothing
            logger.info("email: an Authentication-Results header was not understood: %s", exc)
            if _written_id(value) == trusted:
                return []  # our server's own: never one of the sender's below it instead
            continue
        if str(header.authserv_id).lower() == trusted:
            return list(header.results)
    return []


def _written_id(value: str) -> str:
    """The authserv-id an unreadable header starts with, as best it can be read."""
    words = re.sub(r"\([^)]*\)", " ", value).split(";", 1)[0].split()
    return words[0].lower() if words else ""


def _prop(result: Any, ptype: str, name: str) -> str:
    for p in result.properties:
        if p.type == ptype and p.name == name and p.value:
            return str(p.value)
    return ""


def _dkim_domain(result: Any) -> str:
    return (_prop(result, "header", "d") or _prop(result, "header", "i").rpartition("@")[2]).lower()


def _spf_domain(result: Any) -> str:
    return _prop(result, "smtp", "mailfrom").rpartition("@")[2].lower()


def _aligned(signer: str, domain: str) -> bool:
    signer, domain = signer.strip(".").lower(), domain.strip(".").lower()
    return bool(signer and domain) and (signer == domain or domain.endswith("." + signer)
                                        or signer.endswith("." + domain))


def _best(results: list[str]) -> str | None:
    return "pass" if "pass" in results else (results[0] if results else None)


def _shown(results: list[tuple[str, bool]]) -> str | None:
    """"pass" if one for the From's domain passed; else the first result (a pass for another
    domain reads "pass (other domain)")."""
    if any(ok and res == "pass" for res, ok in results):
        return "pass"
    if not results:
        return None
    res, ok = results[0]
    return res if ok or res != "pass" else "pass (other domain)"
