"""The authorization matrix over every route the app serves, not only the documented API.

tests/agents_ui/test_permissions.py holds the table of the API's routes (each caller: anonymous,
an agent of another team, the conversation's team's agent, a supervisor, an admin; a widget
visitor joins them when the widget exists) and runs it with bearer tokens. This module adds:
- the gate: every route of `app.routes` (API, console pages, docs, static files, the agent
  websocket) has an entry, here or there, and no entry names a route that is gone;
- the entries for what the schema does not show, each caller signed in as a browser is (cookie);
- the API table again with the session cookie instead of the bearer: from the hub's own origin
  the same answers, from another site a 403 on every write (agents_ui/origin.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route
from starlette.websockets import WebSocketDisconnect

from agents_ui.origin import UNSAFE_METHODS
from channels.lean_routes import LeanRoute
from hub.agents import actions as agent_actions
from tests.agents_ui import test_permissions
from tests.agents_ui.test_permissions import (
    ACTORS,
    ADMIN,
    AGENT,
    ANON,
    OUTSIDER,
    SUPERVISOR,
    TABLE,
    World,
    _fill,
    _value,
)

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
# The same hub and the same people as test_permissions' table refers to.
settings = test_permissions.settings
world = test_permissions.world
EVIL = "https://evil.example"
SIGNED_IN = (OUTSIDER, AGENT, SUPERVISOR, ADMIN)


@pytest.fixture
def visibility() -> str:
    """Who may see what is test_permissions' matter (both modes there): cookies and origins are
    the same in either, so once is enough here."""
    return "company"


@dataclass(frozen=True)
class Entry:
    method: str  # an HTTP method, "WS" for a websocket, "MOUNT" for a mounted app
    path: str
    expect: dict[str, int]  # actor -> status (a websocket: 101 accepted, 1008 closed)
    url: str | None = None
    why: str = ""


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)


OTHER_ROUTES = [
    Entry("GET", "/", {ANON: 303} | dict.fromkeys(SIGNED_IN, 200), why="the console; anonymous: to /login"),
    Entry("GET", "/login", {ANON: 200} | dict.fromkeys(SIGNED_IN, 303), why="signed in: to the console"),
    Entry("GET", "/favicon.ico", everyone(200)),
    Entry("GET", "/i18n/{lang}.json", everyone(200), url="/i18n/es.json", why="the console's words: public"),
    Entry("GET", "/docs", everyone(200)),
    Entry("GET", "/redoc", everyone(200)),
    Entry("GET", "/openapi.json", everyone(200)),
    Entry("MOUNT", "/static", everyone(200), url="/static/css/base.css"),
    Entry("WS", "/ws/agent", {ANON: 1008} | dict.fromkeys(SIGNED_IN, 101), why="events each caller may see"),
    Entry("GET", "/widget/{name}", everyone(200), url="/widget/loader.js",
          why="the widget's scripts and demo page: public, for any visitor"),
    Entry("WS", "/ws/widget", everyone(1008), url="/ws/widget?widget=demo",
          why="visitors, not agents: refused without an Origin the widget allows, whoever asks"),
    Entry("POST", "/widget/upload", everyone(403), url="/widget/upload?widget=demo",
          why="visitors' files: only from a site the widget allows, with a visitor token (webchat/test_files.py)"),
    Entry("GET", "/widget/files/{attachment_id}", everyone(403), url="/widget/files/1?widget=demo",
          why="a visitor's file: only from a site the widget allows, with the token its signed link is for"),
    Entry("OPTIONS", "/widget/upload", everyone(204), url="/widget/upload?widget=demo", why="CORS preflight"),
    Entry("OPTIONS", "/widget/files/{attachment_id}", everyone(204), url="/widget/files/1?widget=demo",
          why="CORS preflight"),
]


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) the app serves; HEAD goes with GET."""
    found: set[tuple[str, str]] = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIWebSocketRoute):
            found.add(("WS", route.path))
        elif isinstance(route, Mount):
            found.add(("MOUNT", route.path))
        elif isinstance(route, APIRoute | Route):
            found |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
        else:
            found.add((type(route).__name__, getattr(route, "path", "?")))
    return found


def without_entries(client: TestClient) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(routes served without an entry, entries for routes no longer served)."""
    entries = {(row.method, row.route) for row in TABLE} | {(e.method, e.path) for e in OTHER_ROUTES}
    served = app_routes(client)
    return sorted(served - entries), sorted(entries - served)


def test_every_route_of_the_app_has_an_entry(client: TestClient) -> None:
    """Add a row to test_permissions.TABLE (API routes) or OTHER_ROUTES (the rest) with a route."""
    missing, stale = without_entries(client)
    assert missing == [], "routes without an entry in the authorization matrix"
    assert stale == [], "entries for routes the app no longer has"


def test_a_new_route_without_an_entry_is_caught(client: TestClient) -> None:
    app = client.app

    async def sneaky() -> dict[str, str]:
        return {}

    app.add_api_route("/api/v1/sneaky/{thing}", sneaky, methods=["DELETE"])  # type: ignore[attr-defined]
    app.add_api_websocket_route("/ws/other", sneaky)  # type: ignore[attr-defined]
    assert without_entries(client)[0] == [("DELETE", "/api/v1/sneaky/{thing}"), ("WS", "/ws/other")]


def cookie_session(w: World, actor: str) -> None:
    """The client holds `actor`'s session cookie, as their browser would (none for anonymous)."""
    w.client.cookies.clear()
    if actor != ANON:
        with w.db.write() as s:
            token = agent_actions.do_create_token(s, agent_actions.get_agent(s, w.ids[actor]), timedelta(hours=1))
        w.client.cookies.set("hub_session", token)


def socket_outcome(client: TestClient, path: str) -> int:
    try:
        with client.websocket_connect(path) as ws:
            ws.send_json({"type": "resume", "last_event_id": 0})
            ws.receive_json()
            return 101
    except WebSocketDisconnect as closed:
        return closed.code


def test_pages_docs_files_and_the_socket_answer_each_caller_as_listed(world: World) -> None:
    wrong = []
    for entry in OTHER_ROUTES:
        for actor in ACTORS:
            cookie_session(world, actor)
            url = entry.url or entry.path
            if entry.method == "WS":
                got = socket_outcome(world.client, url)
            else:
                method = "GET" if entry.method == "MOUNT" else entry.method
                got = world.client.request(method, url, follow_redirects=False).status_code
            if got != entry.expect[actor]:
                wrong.append(f"{entry.method} {entry.path} as {actor}: {got}, expected {entry.expect[actor]}")
    world.client.cookies.clear()
    assert wrong == [], "\n".join(wrong)


def test_the_session_cookie_from_the_hubs_origin_answers_as_the_bearer_does(world: World) -> None:
    wrong = []
    for row in TABLE:
        if row.auth is not None:  # the row's own credentials (an API key), not an agent's session
            continue
        for actor in ACTORS:
            cookie_session(world, actor)
            url = _value(row.url, world, actor) or _fill(row.route, world)
            resp = world.client.request(row.method, url, json=_value(row.body, world, actor),
                                        headers={"Origin": "http://testserver"}, **row.extra)
            if resp.status_code != row.expect[actor]:
                wrong.append(f"{row.method} {row.route} [{row.why or '-'}] as {actor} by cookie: "
                             f"{resp.status_code}, expected {row.expect[actor]}: {resp.text[:160]}")
    world.client.cookies.clear()
    assert wrong == [], "\n".join(wrong)


def test_every_write_refuses_a_cross_site_cookie(world: World) -> None:
    """Except on the lean routes (the inbound API, Twilio's webhooks): they never read the cookie,
    so it changes nothing there (the same answer as without it)."""
    lean = {route.path for route in world.client.app.routes if isinstance(route, LeanRoute)}  # type: ignore[attr-defined]
    assert "/api/v1/inbound/messages" in lean
    wrong = []
    for row in TABLE:
        if row.method not in UNSAFE_METHODS:
            continue
        for actor in SIGNED_IN:
            cookie_session(world, actor)
            url = _value(row.url, world, actor) or _fill(row.route, world)
            headers = {"Origin": EVIL, **(row.auth(world, actor) if row.auth else {})}
            resp = world.client.request(row.method, url, json=_value(row.body, world, actor), headers=headers,
                                        **row.extra)
            if row.route in lean:
                refused = resp.status_code != row.expect[actor]
            else:
                refused = resp.status_code != 403 or "cross-site" not in resp.json().get("message", "")
            if refused:
                wrong.append(f"{row.method} {row.route} as {actor} from {EVIL}: {resp.status_code} {resp.text[:120]}")
    world.client.cookies.clear()
    assert wrong == [], "\n".join(wrong)
    cookie_session(world, AGENT)
    assert socket_outcome(world.client, "/ws/agent") == 101
    world.client.headers["Origin"] = EVIL
    assert socket_outcome(world.client, "/ws/agent") == 1008
    del world.client.headers["Origin"]
