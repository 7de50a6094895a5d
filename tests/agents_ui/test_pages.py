"""The console's pages: the shell or a redirect, login, static files, catalogues, security headers,
and the checks on what the front end ships (translations complete, size budget, no inline code)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from agents_ui.pages import CSP, I18N_DIR, LANGUAGES, STATIC_DIR, TEMPLATES_DIR
from hub.db import Database
from tests.factories import PASSWORD, create_agent

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

# 206 KiB: +6 for errors shown in the console's language (api.js explain); translations are not counted.
BUDGET_BYTES = 206 * 1024
VENDOR_DOCS = STATIC_DIR / "vendor" / "docs"  # /docs and /redoc assets (served by the hub, not the console)


def _sign_in(client: TestClient, db: Database) -> None:
    _, email = create_agent(db)
    assert client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200


def _assert_secure(resp) -> None:  # type: ignore[no-untyped-def]
    assert resp.headers["content-security-policy"] == CSP
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "same-origin"


def test_root_without_a_session_redirects_to_login(client: TestClient) -> None:
    resp = client.get("/", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login"
    client.cookies.set("hub_session", "not-a-token")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_root_with_a_session_is_the_console_shell_under_the_csp(client: TestClient, db: Database) -> None:
    _sign_in(client, db)
    resp = client.get("/", follow_redirects=False)
    assert resp.status_code == 200
    assert '<script type="module" src="/static/js/app.js"></script>' in resp.text
    _assert_secure(resp)
    # Signed in, the login page sends you to the console.
    assert client.get("/login", follow_redirects=False).headers["location"] == "/"


def test_login_page_speaks_the_browsers_language_unless_the_agent_chose(client: TestClient) -> None:
    resp = client.get("/login", headers={"Accept-Language": "fr-FR,es;q=0.8,en;q=0.5"})
    assert resp.status_code == 200
    assert '<html lang="es">' in resp.text and "Contraseña" in resp.text
    _assert_secure(resp)
    assert '<html lang="en">' in client.get("/login", headers={"Accept-Language": "de"}).text
    client.cookies.set("hub_lang", "en")
    resp = client.get("/login", headers={"Accept-Language": "es"})
    assert '<html lang="en">' in resp.text and "Password" in resp.text
    client.cookies.set("hub_lang", "xx")
    assert '<html lang="es">' in client.get("/login", headers={"Accept-Language": "es"}).text


def test_expired_session_is_explained_on_the_login_page(client: TestClient) -> None:
    assert "Your session has ended" in client.get("/login?expired=1").text
    assert "Your session has ended" not in client.get("/login").text


def test_static_files_carry_the_security_headers(client: TestClient) -> None:
    resp = client.get("/static/js/dom.js")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    _assert_secure(resp)
    assert client.get("/static/js/nope.js").status_code == 404


def test_catalogue_is_every_file_of_the_language_merged(client: TestClient) -> None:
    resp = client.get("/i18n/es.json")
    assert resp.status_code == 200
    merged = resp.json()
    assert merged["login.submit"] == "Entrar" and merged["status.resolved"] == "Resuelta"
    expected: dict[str, object] = {}
    for f in sorted((I18N_DIR / "es").glob("*.json")):
        expected.update(json.loads(f.read_text()))
    assert merged == expected
    missing = client.get("/i18n/fr.json")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def _catalogue(lang: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in sorted((I18N_DIR / lang).glob("*.json")):
        data = json.loads(f.read_text())
        dup = set(out) & set(data)
        assert not dup, f"{f}: keys defined in two files: {sorted(dup)}"
        out.update(data)
    return out


def test_english_and_spanish_have_the_same_keys_and_plural_forms() -> None:
    en, es = _catalogue("en"), _catalogue("es")
    assert set(en) == set(es), f"only en: {sorted(set(en) - set(es))}; only es: {sorted(set(es) - set(en))}"
    for key, value in en.items():
        assert isinstance(es[key], type(value)), key
        if isinstance(value, dict):
            assert "other" in value and "other" in es[key], key  # type: ignore[operator]
        placeholders = set(re.findall(r"\{(\w+)\}", json.dumps(value)))
        assert placeholders == set(re.findall(r"\{(\w+)\}", json.dumps(es[key]))), key
    assert set(LANGUAGES) == {p.name for p in I18N_DIR.iterdir() if p.is_dir()}


# t('key') / t("key") in JS and templates; keys built at run time are listed with their prefix.
_T_CALL = re.compile(r"""\bt\(\s*['"]([a-z0-9_.]+)['"]""")
_T_TEMPLATE = re.compile(r"""\bt\(\s*`([a-z0-9_.]+)\.\$\{""")


def test_every_key_used_in_the_console_exists() -> None:
    en = _catalogue("en")
    sources = [*STATIC_DIR.rglob("*.js"), *TEMPLATES_DIR.rglob("*.html")]
    used, prefixes = set(), set()
    for path in sources:
        if VENDOR_DOCS in path.parents:
            continue
        text = path.read_text()
        used |= set(_T_CALL.findall(text))
        prefixes |= set(_T_TEMPLATE.findall(text))
    assert used, "no t('...') calls found: the pattern is stale"
    missing = sorted(k for k in used if k not in en)
    assert not missing, f"keys used but not in the en catalogue: {missing}"
    for prefix in prefixes:
        assert any(k.startswith(prefix + ".") for k in en), f"no keys under {prefix}."


def test_console_javascript_and_css_fit_the_budget() -> None:
    files = [p for p in STATIC_DIR.rglob("*") if p.suffix in (".js", ".css") and VENDOR_DOCS not in p.parents]
    total = sum(p.stat().st_size for p in files)
    assert len(files) >= 10
    assert total < BUDGET_BYTES, f"console JS+CSS is {total} bytes, over the {BUDGET_BYTES} budget"


def test_no_inline_script_style_or_html_sinks_in_the_console() -> None:
    for path in TEMPLATES_DIR.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{path}: inline script"
        assert "<style" not in text and " style=" not in text and not re.search(r"\son[a-z]+=", text), path
    for path in STATIC_DIR.rglob("*.js"):
        if VENDOR_DOCS in path.parents:
            continue
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{path.relative_to(STATIC_DIR)} uses {sink}"


def test_favicon_is_served_so_pages_without_an_icon_link_log_no_404(client: TestClient) -> None:
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
