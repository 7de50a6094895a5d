"""The words a customer reads in our mail, in the mailbox's language (channels/email/i18n/*.json)."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

I18N_DIR = Path(__file__).resolve().parent / "i18n"
DEFAULT = "en"


@functools.cache
def catalog(lang: str) -> dict[str, Any]:
    path = I18N_DIR / f"{lang}.json"
    if not lang.isalpha() or not path.is_file():
        return catalog(DEFAULT) if lang != DEFAULT else {}
    return dict(json.loads(path.read_text("utf-8")))


def languages() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in I18N_DIR.glob("*.json")))


def t(lang: str, key: str, **values: object) -> str:
    text = catalog(lang).get(key) or catalog(DEFAULT)[key]
    return str(text).format(**values)


def wrote(lang: str, when: datetime, name: str) -> str:
    """"On 3 June 2025 at 10:12 UTC, Ana wrote:" (the line above quoted history)."""
    months = catalog(lang).get("months") or catalog(DEFAULT)["months"]
    return t(lang, "reply.wrote", day=when.day, month=months[when.month - 1], year=when.year,
             time=when.strftime("%H:%M"), name=name)
