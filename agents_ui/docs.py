"""`/docs` (Swagger UI) and `/redoc`: the API's documentation, working offline.

Their scripts and styles are the hub's own copies (agents_ui/static/vendor/docs, see VERSIONS.md
there), never a CDN's. The pages are written here rather than by FastAPI's
`get_swagger_ui_html`/`get_redoc_html`: those start Swagger UI with an inline script, which the
hub's Content-Security-Policy forbids, and load Redoc 3 (an ES module) as a classic script.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor/docs"
# Like the console's policy, with inline styles allowed: Redoc's styled-components add <style>
# elements at run time. Scripts still come only from the hub.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin"}

router = APIRouter(tags=["docs"], include_in_schema=False)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    html = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><link rel="icon" type="image/svg+xml" href="/favicon.ico">'
            f"{head}</head><body>{body}</body></html>")
    return HTMLResponse(html, headers=HEADERS)


def _spec(request: Request) -> str:
    return escape(request.app.openapi_url or "/openapi.json")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return _page(f"{request.app.title} - Swagger UI",
                 f'<link rel="stylesheet" href="{VENDOR}/swagger-ui.css">',
                 f'<div id="swagger-ui" data-openapi-url="{_spec(request)}"></div>'
                 f'<script src="{VENDOR}/swagger-ui-bundle.js"></script>'
                 '<script src="/static/docs/swagger-init.js"></script>')


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return _page(f"{request.app.title} - ReDoc", "",
                 f'<redoc spec-url="{_spec(request)}"></redoc>'
                 f'<script type="module" src="{VENDOR}/redoc.standalone.js"></script>')
