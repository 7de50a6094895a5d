"""Which texts are opt-out keywords: the whole message, any case, punctuation and spaces ignored."""

from __future__ import annotations

import pytest

from channels.sms.keywords import _squash, classify


@pytest.mark.parametrize("body", ["STOP", "stop", "Stop.", "STOPALL", "stop all", "UNSUBSCRIBE", "CANCEL", "END",
                                  "QUIT", "OPTOUT", "Opt-out", "REVOKE"])
def test_stop_words(body: str) -> None:
    assert classify(body) == "stop"


@pytest.mark.parametrize("body", ["START", "Yes", "UNSTOP", "OPTIN", "opt in"])
def test_start_words(body: str) -> None:
    assert classify(body) == "start"


@pytest.mark.parametrize("body", ["HELP", "info", "Help?"])
def test_help_words(body: str) -> None:
    assert classify(body) == "help"


@pytest.mark.parametrize("body", ["", "stop it please", "yes please", "I need help", "the end is near", "STOPPED"])
def test_sentences_are_not_keywords(body: str) -> None:
    assert classify(body) is None


def test_twilios_opt_out_type_wins() -> None:
    assert classify("ARRET", "STOP") == "stop"
    assert classify("stop", "START") == "start"
    assert classify("hello", "") is None


def test_punctuation_and_spacing_are_ignored_in_any_script() -> None:
    """Squashing keeps exactly the characters str.isalnum() keeps, in every script (letters,
    digits, combining marks alike), so 'S.T.O.P' and 'stop' match and no letter is dropped."""
    every_char = "".join(chr(i) for i in range(0x20, 0x30000) if not 0xD800 <= i < 0xE000)
    assert _squash(every_char) == "".join(ch for ch in every_char.upper() if ch.isalnum())
    assert classify(" S.T.O.P! ") == "stop"
