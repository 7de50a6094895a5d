"""Canned responses: jinja2 templates `<name>.<lang>.j2` (or `<name>.j2` for every language),
rendered with the customer's and the agent's fields for the reply box.

A template's first line may be a comment naming it for people: `{# title: Greeting #}`.
Admins write these files, but they are rendered in jinja2's sandbox all the same, with plain
dicts as their only data: a template can read the fields it is given and nothing else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"
_NAME = re.compile(r"^(?P<name>[a-z0-9_-]+)(?:\.(?P<lang>[a-z]{2,3}))?\.j2$")
_TITLE = re.compile(r"^\{#-?\s*title:\s*(?P<title>.*?)\s*-?#\}")


@dataclass(frozen=True)
class CannedResponse:
    name: str
    title: str
    text: str


def language_of(tag: str | None) -> str:
    """The primary subtag of a language tag: "es-MX" and "es_ES" are "es"."""
    return re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0] if tag and tag.strip() else DEFAULT_LANGUAGE


def person_fields(name: str | None, **fields: Any) -> dict[str, Any]:
    full = (name or "").strip()
    return {"name": full, "first_name": full.split()[0] if full else "", **fields}


class CannedResponses:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(directory), autoescape=False,
                                                 undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def _files(self, language: str) -> dict[str, str]:
        """Template file by response name: the language's own, else one for every language, else English."""
        rank: dict[str | None, int] = {language: 0, None: 1, DEFAULT_LANGUAGE: 2}
        best: dict[str, tuple[int, str]] = {}
        if not self.directory.is_dir():
            return {}
        for path in self.directory.iterdir():
            m = _NAME.match(path.name)
            if m is None or m["lang"] not in rank:
                continue
            order = rank[m["lang"]]
            if m["name"] not in best or order < best[m["name"]][0]:
                best[m["name"]] = (order, path.name)
        return {name: file for name, (_, file) in sorted(best.items())}

    def render(self, *, language: str | None, contact: dict[str, Any], agent: dict[str, Any]) -> list[CannedResponse]:
        """Every response in the contact's language (English where it has none), by name. A template
        that fails to render is left out and logged: one bad file must not empty the list."""
        out = []
        for name, file in self._files(language_of(language)).items():
            try:
                source = (self.directory / file).read_text(encoding="utf-8")
                text = self.env.get_template(file).render(contact=contact, agent=agent)
            except (OSError, TemplateError) as exc:
                logger.warning("canned response %s left out: %s", file, exc)
                continue
            title = _TITLE.match(source.lstrip())
            out.append(CannedResponse(name, title["title"] if title else name.replace("_", " ").capitalize(),
                                      text.strip()))
        return out
