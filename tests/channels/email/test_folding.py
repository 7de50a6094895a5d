"""Folding shows what mail-parser-reply finds, in every language a mailbox may be set to."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailparser_reply import EmailReplyParser

from channels.email.folding import fold
from channels.email.parsing import parse_email

CORPUS = Path(__file__).parent / "corpus"
TEXTS = [parse_email(p.read_bytes()).text for p in sorted(CORPUS.glob("*.eml"))] + [
    "Hola,\n\n¿dónde está mi pedido?\n\nSaludos,\nAna\n\n"
    "El lun, 1 jun 2025 a las 10:00, Soporte <s@example.com> escribió:\n> Hola",
    "Hallo,\n\nwo ist meine Bestellung?\n\nAm 01.06.2025 um 10:00 schrieb Support <s@example.com>:\n> Hallo",
    "Thanks!\n\nSent from my iPhone",
    "Hello,\n\nnew: where is my order?\n\nRegards,\nnew1@new1.example.org\n",
]


def library_fold(text: str, languages: list[str]) -> tuple[str, bool]:
    replies = EmailReplyParser(languages=languages).read(text).replies
    visible = (replies[0].body.strip() or replies[0].full_body.strip()) if replies else ""
    return (visible, visible != text.strip()) if visible else (text, False)


@pytest.mark.parametrize("languages", [("en",), ("es", "en"), ("de", "en"), ("fr",), ("xx", "en")])
def test_folding_finds_what_mail_parser_reply_finds(languages: tuple[str, ...]) -> None:
    for text in TEXTS:
        if text.strip():
            for _ in range(2):  # the second time from the patterns kept for these languages
                folded = fold(text, languages)
                assert (folded.visible, folded.folded) == library_fold(text, list(languages))


def test_a_signature_is_folded_away_and_the_whole_text_kept() -> None:
    text = "Hello,\n\nwhere is my order?\n\nRegards,\nAna"
    assert fold(text).visible == "Hello,\n\nwhere is my order?"
