"""The new words of a reply, apart from the quoted history and the signature under them.

mail-parser-reply does the finding (its headers "On ... wrote:", "From: ... Sent: ..." and
signature patterns cover a dozen languages, and it is maintained); the full text is always kept
and shown on request: folding only decides what a console shows first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from mailparser_reply import EmailReplyParser

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
        replies = EmailReplyParser(languages=list(languages)).read(text).replies
    except Exception:  # the library on a body it did not foresee: show everything
        logger.exception("folding the quoted history failed; the whole text is shown")
        return Folded(text, False)
    if not replies:
        return Folded(text, False)
    visible = replies[0].body.strip() or replies[0].full_body.strip()
    if not visible:
        return Folded(text, False)
    return Folded(visible, visible != text.strip())
