"""The widget's files: small, text-only rendering, every word in both translation files."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from channels.webchat.routes import I18N, SCRIPTS, STATIC

BUDGET = 40 * 1024  # issue 16: the loader and the widget (with its parts) together, uncompressed


def test_the_loader_and_the_widget_fit_in_40_kb_together() -> None:
    size = sum(len((STATIC / name).read_bytes()) for name in SCRIPTS)
    assert size < BUDGET, f"{size} bytes"


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_html_sink_or_eval_in_the_scripts(name: str) -> None:
    source = (STATIC / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "srcdoc"):
        assert sink not in source, f"{name} uses {sink}"


def test_every_word_the_widget_uses_is_in_english_and_spanish() -> None:
    en, es = (json.loads((I18N / f"{lang}.json").read_text()) for lang in ("en", "es"))
    assert en.keys() == es.keys()
    assert all(isinstance(v, str) and v.strip() for v in [*en.values(), *es.values()])
    source = "".join((STATIC / name).read_text() for name in SCRIPTS)
    used = set(re.findall(r"\bt\.([a-z_]+)", source)) | {f"prechat_{f}" for f in ("name", "email")}
    assert used - en.keys() == set()
    demo = (STATIC / "demo.html").read_text()
    assert set(re.findall(r"\{(demo_[a-z_]+)\}", demo)) <= en.keys()


def test_the_demo_page_embeds_the_widget_with_one_script_in_the_visitors_language(client: TestClient) -> None:
    page = client.get("/widget/demo", headers={"accept-language": "es-ES,es;q=0.9"})
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert '<html lang="es">' in page.text and 'data-widget="demo"' in page.text
    assert page.text.count("<script") == 1
    script = client.get("/widget/loader.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/widget/secrets.py").status_code == 404
