"""The opt-out keywords carriers and Twilio honour: STOP, START, HELP and their usual synonyms.

Like Twilio's own opt-out handling, a keyword counts only when it is the whole message ("Stop",
" STOP! "), never a word inside a sentence ("please don't stop writing").
"""

from __future__ import annotations

import re
from typing import Literal

Keyword = Literal["stop", "start", "help"]

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "INFO"})

# Twilio adds `OptOutType` to inbound webhooks when Advanced Opt-Out matched a keyword (including
# custom keywords an admin configured there); it wins over our own list.
OPT_OUT_TYPES: dict[str, Keyword] = {"STOP": "stop", "START": "start", "HELP": "help"}


# What str.isalnum() rejects: re's Unicode \w is isalnum() plus the underscore.
_NOT_ALNUM = re.compile(r"[\W_]+")


def _squash(body: str) -> str:
    # "Opt out", "stop.", "STOP ALL" all mean the keyword; punctuation and spacing do not matter.
    return _NOT_ALNUM.sub("", body.upper())


# Longer than any keyword with generous spacing and punctuation ("  S.T.O.P  A.L.L!  "): a text
# this long is a sentence, not a keyword, and is not squashed at all.
MAX_KEYWORD_TEXT = 40


def classify(body: str, opt_out_type: str | None = None) -> Keyword | None:
    """The keyword this message is, if it is one."""
    if opt_out_type and opt_out_type.upper() in OPT_OUT_TYPES:
        return OPT_OUT_TYPES[opt_out_type.upper()]
    if len(body) > MAX_KEYWORD_TEXT:
        return None
    word = _squash(body)
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
