"""The console's pages: the shell at `/`, the login page, static files and the merged translation
catalogues. Every answer here carries the strict Content-Security-Policy of the console contract
(/work/shared: console_contract.md): no inline script or style anywhere, so customer text that ever
slipped into the markup would still not run."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from agents_ui.deps import SESSION_COOKIE, caller_cache, caller_for_token, get_hub
from agents_ui.errors import error_body
from hub.runtime import Hub

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
I18N_DIR = HERE / "i18n"
TEMPLATES_DIR = HERE.parent / "templates" / "console"
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "hub_lang"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_templates = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True),
                         auto_reload=True)


class Catalogues:
    """Each language's JSON files merged into one flat dict; read again when a file changes (a
    translator sees their edit on reload, and a running hub costs one stat per file per request)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[tuple[str, float], ...], dict[str, Any], bytes]] = {}

    def _files(self, lang: str) -> list[Path]:
        return sorted((self.root / lang).glob("*.json"))

    def get(self, lang: str) -> tuple[dict[str, Any], bytes]:
        files = self._files(lang)
        stamp = tuple((f.name, f.stat().st_mtime) for f in files)
        cached = self._cache.get(lang)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        merged: dict[str, Any] = {}
        for f in files:
            merged.update(json.loads(f.read_text(encoding="utf-8")))
        body = json.dumps(merged, ensure_ascii=False, sort_keys=True).encode()
        with self._lock:
            self._cache[lang] = (stamp, merged, body)
        return merged, body


catalogues = Catalogues(I18N_DIR)


def pick_language(request: Request) -> str:
    """The agent's choice (cookie `hub_lang`), else the browser's best supported language."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, i, primary))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANGUAGE


def translator(lang: str) -> Any:
    messages, _ = catalogues.get(lang)
    fallback, _ = catalogues.get(DEFAULT_LANGUAGE)

    def t(key: str, **values: Any) -> str:
        text = messages.get(key, fallback.get(key, key))
        if isinstance(text, dict):
            text = text.get("other", key)
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return str(text)

    return t


def render(name: str, request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = pick_language(request)
    html = _templates.get_template(name).render(lang=lang, t=translator(lang), **context)
    return HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


async def _signed_in(request: Request, hub: Hub) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    if caller_cache(hub).get(token) is not None:
        return True
    return await run_in_threadpool(caller_for_token, hub, token) is not None


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)


class ConsoleStatic(StaticFiles):
    """Static files with the console's security headers (a module or style sheet is a page answer
    too: nosniff keeps a mislabelled upload from running as script)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


router = APIRouter(tags=["console"], include_in_schema=False)
router.mount("/static", ConsoleStatic(directory=STATIC_DIR), name="static")


@router.get("/")
async def console(request: Request, hub: Hub = Depends(get_hub)) -> Response:
    if not await _signed_in(request, hub):
        return _redirect("/login")
    return render("console.html", request)


@router.get("/login")
async def login_page(request: Request, hub: Hub = Depends(get_hub)) -> Response:
    if await _signed_in(request, hub):
        return _redirect("/")
    return render("login.html", request, expired=request.query_params.get("expired") == "1")


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it on every page without a <link rel=icon> (the API docs): a 404 there is
    noise in every console log."""
    return FileResponse(STATIC_DIR / "img" / "favicon.svg", media_type="image/svg+xml",
                        headers={**SECURITY_HEADERS, "Cache-Control": "max-age=86400"})


@router.get("/i18n/{lang}.json")
async def catalogue(lang: str) -> Response:
    if lang not in LANGUAGES:
        return JSONResponse(error_body("not_found", f"no translations for {lang!r}; try one of {', '.join(LANGUAGES)}"),
                            status_code=404, headers=SECURITY_HEADERS)
    _, body = catalogues.get(lang)
    return Response(body, media_type="application/json",
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})
