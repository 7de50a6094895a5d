"""The channel registry (config/channels.py): which channels a hub runs, in what order they start
and stop, and what a wrong `extra_channels` entry says."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from channels.lean_routes import LeanRoute
from config.app import create_app
from config.channels import Channels, email_settings, load_factory
from config.secrets import hub_secret
from hub.ports import BaseAdapter, HubPort, TaskRunner
from tests.conftest import make_settings, wait_for
from tests.factories import login
from tests.fakes.port import FakeHubPort

TWILIO = {"account_sid": "AC" + "0" * 32, "auth_token": "twilio-secret", "numbers": ["+15550001111"]}


def test_sms_is_on_only_with_twilios_credentials_and_web_chat_unless_switched_off(sqlite_url: str) -> None:
    for twilio, webchat, expected in (({}, {}, ["api", "webchat", "demo"]),
                                      (TWILIO, {}, ["api", "sms", "webchat", "demo"]),
                                      ({}, {"enabled": False}, ["api", "demo"])):
        with TestClient(create_app(make_settings(sqlite_url, twilio=twilio, webchat=webchat))) as client:
            assert [c["channel"] for c in client.get("/readyz").json()["channels"]] == expected


def test_the_channels_inbound_routes_come_before_the_consoles(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url, twilio=TWILIO))
    paths = [getattr(route, "path", "") for route in app.router.routes]
    lean = [i for i, route in enumerate(app.router.routes) if isinstance(route, LeanRoute)]
    assert [paths[i] for i in lean] == ["/api/v1/inbound/messages", "/channels/sms/twilio/inbound",
                                        "/channels/sms/twilio/status"]
    assert max(lean) < paths.index("/api/v1/auth/login")


@pytest.mark.parametrize("entry", ["tests.channels.echo.adapter", "tests.channels.echo.adapter:", ":make",
                                   "tests.channels.echo.adapter:make()"])
def test_an_extra_channel_is_named_module_colon_factory(entry: str) -> None:
    with pytest.raises(ValidationError, match="package.module:factory"):
        make_settings("sqlite://", extra_channels=[entry])


@pytest.mark.parametrize(("entry", "says"), [("tests.channels.nowhere:make", "names nothing to import"),
                                             ("tests.channels.echo.adapter:missing", "names nothing to import"),
                                             ("tests.channels.echo.adapter:CHANNEL", "is not callable")])
def test_an_extra_channel_that_names_nothing_is_refused_before_the_hub_starts(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        load_factory(entry)


class Recorder(BaseAdapter):
    def __init__(self, channel: str, log: list[str], *, fail_stop: bool = False) -> None:
        self.channel = channel
        self.log = log
        self.fail_stop = fail_stop

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        self.log.append(f"start {self.channel}")

        async def forever() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                self.log.append(f"task of {self.channel} cancelled")

        tasks.spawn("loop", forever)

    async def stop(self) -> None:
        self.log.append(f"stop {self.channel}")
        if self.fail_stop:
            raise RuntimeError("socket already closed")


def test_channels_start_in_order_and_stop_in_reverse_each_after_its_tasks_even_when_one_fails() -> None:
    log: list[str] = []
    channels = Channels([Recorder("a", log, fail_stop=True), Recorder("b", log)])

    async def scenario() -> None:
        await channels.start(FakeHubPort())
        await asyncio.sleep(0)  # the tasks begin
        await channels.stop()
        await channels.stop()  # twice is fine

    asyncio.run(scenario())
    assert log == ["start a", "start b", "task of b cancelled", "stop b", "task of a cancelled", "stop a"]
    assert [[t.state for t in c.tasks] for c in channels.states()] == [["stopped"], ["stopped"]]


def test_two_channels_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two channels are named a"):
        Channels([Recorder("a", []), Recorder("a", [])])


class Flaky(BaseAdapter):
    """A channel whose mailbox is down: its task fails at every try."""

    channel = "flaky"

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        async def poll() -> None:
            raise ConnectionRefusedError("imap.example.com:993 refused the connection")

        tasks.spawn("imap", poll)


def flaky(settings: object) -> Flaky:
    return Flaky()


@pytest.mark.usefixtures("cheap_password_hashing")
def test_a_channel_restarting_is_shown_but_leaves_the_hub_ready(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, extra_channels=["tests.config.test_channels:flaky"])
    with TestClient(create_app(settings)) as client:
        def flaky_tasks() -> list[dict[str, object]]:
            resp = client.get("/readyz")
            assert resp.status_code == 200
            [channel] = [c for c in resp.json()["channels"] if c["channel"] == "flaky"]
            return channel["tasks"]  # type: ignore[no-any-return]

        [task] = wait_for(lambda: [t for t in flaky_tasks() if t["state"] == "restarting"], what="a restart")
        assert task["last_error"] == "ConnectionRefusedError: imap.example.com:993 refused the connection"
        assert task["restart_at"]
        admin = login(client, client.app.state.hub.db, "admin")  # type: ignore[attr-defined]
        items = client.get("/api/v1/admin/channels", headers=admin.headers).json()["items"]
        [listed] = [c for c in items if c["channel"] == "flaky"]
        assert listed["tasks"][0]["name"] == "imap" and listed["tasks"][0]["last_error"] == task["last_error"]


MAILBOX = {"address": "Support@Example.com", "display_name": "Support", "smtp": {"host": "smtp.example.com"}}


def test_email_is_on_with_a_mailbox_in_the_settings_and_takes_their_values(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, email={"mailboxes": [MAILBOX | {"imap": {
        "host": "imap.example.com", "username": "support", "password": "p"}}]})
    with TestClient(create_app(settings)) as client:
        assert [c["channel"] for c in client.get("/readyz").json()["channels"]] == ["api", "webchat", "demo", "email"]
        adapter = client.app.state.hub.adapters["email"]  # type: ignore[attr-defined]
    [box] = adapter.settings.mailboxes
    assert (box.address, box.smtp.port, box.smtp.starttls, box.imap.port, box.imap.tls) == (
        "support@example.com", 587, True, 993, True)
    assert not adapter.settings.listener.enabled and len(adapter.settings.secret) == 32


def test_email_sleeps_without_a_mailbox_and_its_ids_key_follows_the_hubs_secret(sqlite_url: str) -> None:
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        assert "email" not in [c["channel"] for c in client.get("/readyz").json()["channels"]]
    keys = {email_settings(make_settings(sqlite_url, secret_key=s, email={"mailboxes": [MAILBOX]})).secret
            for s in ("one secret", "one secret", "another")}
    assert len(keys) == 2


def test_without_a_secret_key_one_is_made_once_and_kept_private(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"
    settings = make_settings(sqlite_url, secret_key=None, secret_key_file=str(path))
    first, again = hub_secret(settings), hub_secret(settings)
    assert first == again and len(first) >= 32 and path.stat().st_mode & 0o777 == 0o600


def test_a_mailbox_address_that_could_reach_a_header_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ValidationError, match="is not an address"):
        make_settings(sqlite_url, email={"mailboxes": [MAILBOX | {"address": "a@example.com\r\nBcc: x@evil.test"}]})


def test_a_web_chat_visitors_token_outlives_a_restart_of_a_hub_without_a_secret_key(
        sqlite_url: str, tmp_path: Path) -> None:
    """`make run` sets no HUB_SECRET_KEY: the kept secret file signs visitor tokens, so a returning
    visitor is still recognised after the hub restarts (their chat continues)."""
    settings = make_settings(sqlite_url, secret_key=None, secret_key_file=str(tmp_path / "secret_key"))

    def webchat_of(client: TestClient) -> Any:
        return client.app.state.hub.adapters["webchat"]  # type: ignore[attr-defined]

    with TestClient(create_app(settings)) as client:
        visitor, token = webchat_of(client).tokens.mint("demo")
    with TestClient(create_app(settings)) as client:
        assert webchat_of(client).tokens.visitor_of("demo", token) == visitor
