"""The new words of a reply, apart from the quoted history and the signature under them.

mail-parser-reply does the finding (its headers "On ... wrote:", "From: ... Sent: ..." and
signature patterns cover a dozen languages, and it is maintained); the full text is always kept
and shown on request: folding only decides what a console shows first.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage

logger = logging.getLogger(__name__)

# mail-parser-reply's regexes are backtracking ones: a pathological body must not hold a worker.
MAX_FOLD_CHARS = 200_000


@dataclass(frozen=True)
class Folded:
    visible: str  # the latest reply, without quoted history and signature
    folded: bool  # True when something was folded away (the full text differs)


def fold(text: str, languages: Iterable[str] = ("en",)) -> Folded:
    if not text.strip() or len(text) > MAX_FOLD_CHARS:
        return Folded(text, False)
    try:
        langs, header, disclaimers, signature = _patterns(tuple(languages))
        # What EmailReplyParser(languages).read(text) does, with its patterns built once per language
        # set instead of for every mail (that was half of folding's time).
        replies = EmailMessage(text=text, languages=list(langs), _header_regex=header,
                               _disclaimers_regex=disclaimers, _signature_regex=signature).read().replies
    except Exception:  # the library on a body it did not foresee: show everything
        logger.exception("folding the quoted history failed; the whole text is shown")
        return Folded(text, False)
    if not replies:
        return Folded(text, False)
    visible = replies[0].body.strip() or replies[0].full_body.strip()
    if not visible:
        return Folded(text, False)
    return Folded(visible, visible != text.strip())


@functools.lru_cache(maxsize=64)
def _patterns(languages: tuple[str, ...]) -> tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str],
                                                  re.Pattern[str]]:
    """The languages mail-parser-reply settles on for `languages`, and its three patterns for them."""
    probe = EmailMessage(text="", languages=EmailReplyParser(languages=list(languages)).languages)
    return tuple(probe.languages), probe.HEADER_REGEX, probe.DISCLAIMERS_REGEX, probe.SIGNATURE_REGEX
