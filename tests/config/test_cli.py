"""The `hub` command line, run as an admin would: against a SQLite file named by HUB_DATABASE_URL."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from config import cli
from config.demo import DEMO_PASSWORD
from hub.agents import actions as agent_actions
from hub.agents.models import Agent
from hub.agents.passwords import verify_password
from hub.clock import utcnow
from hub.conversations.models import Conversation
from hub.db import Database

HUB = Path(sys.executable).parent / "hub"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    for name in ("HUB_ADMIN_PASSWORD", "HUB_ADMIN_EMAIL", "HUB_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return url


@pytest.fixture
def hub(db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run `hub ARGS` in-process with `stdin` as its input; returns (exit code, stdout, stderr)."""

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def can_log_in(db_url: str, email: str, password: str) -> bool:
    db = Database(db_url)
    try:
        with db.read() as s:
            agent = agent_actions.get_agent_by_email(s, email)
            return agent is not None and agent.active and verify_password(agent.password_hash, password)
    finally:
        db.dispose()


def agents_in(db_url: str) -> dict[str, Agent]:
    db = Database(db_url)
    with db.read() as s:
        found = {a.email: a for a in s.execute(select(Agent)).scalars()}
    db.dispose()
    return found


def test_db_upgrade_creates_the_schema_and_can_run_again(hub: Run, db_url: str) -> None:
    for _ in range(2):
        code, out, _ = hub("db", "upgrade")
        assert code == 0
        assert "database is up to date (sqlite)" in out
    assert agents_in(db_url) == {}


def test_agents_create_reads_the_password_from_stdin(hub: Run, db_url: str) -> None:
    hub("db", "upgrade")
    code, out, err = hub("agents", "create", "--email", "Ann@Example.com", "--name", "Ann", "--role", "supervisor",
                         stdin="ann-password-1\n")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"created supervisor ann@example.com \(id \d+\)\n", out)
    assert "ann-password-1" not in out
    assert can_log_in(db_url, "ann@example.com", "ann-password-1")
    assert not can_log_in(db_url, "ann@example.com", "ann-password-1\n")
    assert agents_in(db_url)["ann@example.com"].role == "supervisor"


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_each_role_can_be_created(hub: Run, db_url: str, role: str) -> None:
    hub("db", "upgrade")
    code, _, _ = hub("agents", "create", "--email", f"{role}@example.com", "--name", role.title(), "--role", role,
                     stdin="long enough\n")
    assert code == 0
    assert agents_in(db_url)[f"{role}@example.com"].role == role


def test_agents_create_refuses_bad_input_with_a_message_and_creates_nothing(hub: Run, db_url: str) -> None:
    hub("db", "upgrade")
    hub("agents", "create", "--email", "dup@example.com", "--name", "Dup", stdin="long enough\n")
    cases = [
        (["--email", "dup@example.com", "--name", "Again"], "long enough\n", "already exists"),
        (["--email", "short@example.com", "--name", "Short"], "short\n", "at least 8 characters"),
        (["--email", "empty@example.com", "--name", "Empty"], "", "at least 8 characters"),
        (["--email", "not-an-email", "--name", "Bad"], "long enough\n", "not a valid email address"),
        (["--email", "team@example.com", "--name", "T", "--team", "Nope"], "long enough\n",
         "team 'Nope' does not exist"),
    ]
    for args, stdin, message in cases:
        code, out, err = hub("agents", "create", *args, stdin=stdin)
        assert code == 2, args
        assert err.startswith("hub: ") and message in err, err
        assert out == ""
    assert set(agents_in(db_url)) == {"dup@example.com"}


def test_an_unknown_role_is_refused_by_the_parser(hub: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        hub("agents", "create", "--email", "x@example.com", "--name", "X", "--role", "boss")
    assert exit_.value.code == 2
    assert "invalid choice: 'boss'" in capsys.readouterr().err


def test_agents_list_as_a_table_and_as_json(hub: Run) -> None:
    hub("db", "upgrade")
    hub("teams", "create", "Support")
    hub("agents", "create", "--email", "a@example.com", "--name", "Alma Agent", "--team", "Support",
        stdin="long enough\n")
    hub("agents", "create", "--email", "s@example.com", "--name", "Sid Sup", "--role", "supervisor",
        stdin="long enough\n")
    code, out, _ = hub("agents", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert "agent" in lines[0] and "a@example.com" in lines[0] and "Alma Agent" in lines[0]
    assert "supervisor" in lines[1] and "s@example.com" in lines[1]
    code, out, _ = hub("agents", "list", "--json")
    rows = json.loads(out)
    assert [(r["email"], r["role"], r["presence"]) for r in rows] == [
        ("a@example.com", "agent", "offline"), ("s@example.com", "supervisor", "offline")]
    assert len(rows[0]["team_ids"]) == 1 and rows[1]["team_ids"] == []
    assert all("password_hash" not in r for r in rows)


def test_agents_password_sets_a_new_password(hub: Run, db_url: str) -> None:
    hub("db", "upgrade")
    hub("agents", "create", "--email", "p@example.com", "--name", "P", stdin="first password\n")
    code, out, _ = hub("agents", "password", "--email", "p@example.com", "--password-stdin", stdin="second password\n")
    assert code == 0
    assert "password changed for p@example.com" in out
    assert can_log_in(db_url, "p@example.com", "second password")
    assert not can_log_in(db_url, "p@example.com", "first password")
    code, _, err = hub("agents", "password", "--email", "nobody@example.com", stdin="whatever123\n")
    assert code == 2
    assert "no agent with email nobody@example.com" in err


def test_teams_create_list_and_membership(hub: Run, db_url: str) -> None:
    hub("db", "upgrade")
    code, out, _ = hub("teams", "create", "Billing")
    assert code == 0
    assert re.fullmatch(r"created team Billing \(id \d+\)\n", out)
    hub("agents", "create", "--email", "m@example.com", "--name", "M", stdin="long enough\n")
    agent_id = agents_in(db_url)["m@example.com"].id

    code, out, _ = hub("teams", "add-member", "Billing", "m@example.com")
    assert code == 0
    assert out == "add-member: m@example.com in Billing\n"
    hub("teams", "add-member", "Billing", "m@example.com")  # twice is harmless
    code, out, _ = hub("teams", "list")
    assert re.search(rf"Billing\s+members: {agent_id}$", out, re.MULTILINE), out

    code, out, _ = hub("teams", "remove-member", "Billing", "m@example.com")
    assert code == 0
    _, out, _ = hub("teams", "list")
    assert re.search(r"Billing\s+members: -$", out, re.MULTILINE), out


def test_teams_commands_refuse_unknown_names_and_duplicates(hub: Run) -> None:
    hub("db", "upgrade")
    hub("teams", "create", "Sales")
    for args, message in [
        (["teams", "create", "Sales"], "a team named 'Sales' already exists"),
        (["teams", "create", "  "], "a team needs a name"),
        (["teams", "add-member", "Nope", "x@example.com"], "team 'Nope' does not exist"),
        (["teams", "add-member", "Sales", "x@example.com"], "no agent with email x@example.com"),
        (["teams", "remove-member", "Sales", "x@example.com"], "no agent with email x@example.com"),
    ]:
        code, _, err = hub(*args)
        assert code == 2, args
        assert message in err, err


def test_admin_ensure_prints_a_generated_password_once(hub: Run, db_url: str) -> None:
    code, out, _ = hub("admin", "ensure")  # on a fresh file: it migrates first
    assert code == 0
    assert "first admin: admin@example.com" in out
    password = re.search(r"password:\s+(\S+)\s+<- shown once", out)
    assert password, out
    assert can_log_in(db_url, "admin@example.com", password.group(1))
    assert agents_in(db_url)["admin@example.com"].role == "admin"

    code, out, _ = hub("admin", "ensure")
    assert code == 0
    assert password.group(1) not in out
    assert "an admin account exists already" in out
    assert len(agents_in(db_url)) == 1


def test_admin_ensure_uses_the_configured_email_and_password(hub: Run, db_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ADMIN_EMAIL", "boss@acme.example")
    monkeypatch.setenv("HUB_ADMIN_PASSWORD", "from-the-environment")
    code, out, _ = hub("admin", "ensure")
    assert code == 0
    assert "first admin: boss@acme.example" in out
    assert "(from HUB_ADMIN_PASSWORD)" in out
    assert "from-the-environment" not in out
    assert can_log_in(db_url, "boss@acme.example", "from-the-environment")


def test_admin_ensure_does_nothing_when_an_admin_exists(hub: Run, db_url: str) -> None:
    hub("db", "upgrade")
    hub("agents", "create", "--email", "root@example.com", "--name", "Root", "--role", "admin", stdin="long enough\n")
    code, out, _ = hub("admin", "ensure")
    assert code == 0
    assert "exists already" in out
    assert set(agents_in(db_url)) == {"root@example.com"}


def test_demo_loads_agents_teams_and_conversations_once(hub: Run, db_url: str) -> None:
    code, out, _ = hub("demo")
    assert code == 0
    assert "demo loaded" in out
    key = re.search(r"API key: (hubk_\S+)", out)
    assert key, out
    assert can_log_in(db_url, "sam@demo.example", DEMO_PASSWORD)
    assert can_log_in(db_url, "ana@demo.example", DEMO_PASSWORD)
    db = Database(db_url)
    with db.read() as s:
        assert len(s.execute(select(Conversation)).scalars().all()) == 6
        assert agent_actions.api_key_for(s, key.group(1)) is not None
    db.dispose()

    code, out, _ = hub("demo")
    assert code == 0
    assert "already loaded" in out
    assert len(agents_in(db_url)) == 4


def test_attachments_prune_removes_files_no_message_carries_and_a_crashs_temporary_files(
        hub: Run, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.attachments.actions import do_add
    from hub.attachments.models import StoredAttachment
    from hub.blobs import DiskBlobStore

    monkeypatch.setenv("HUB_ATTACHMENTS_DIR", str(tmp_path / "files"))
    assert hub("db", "upgrade")[0] == 0
    store = DiskBlobStore(tmp_path / "files")
    key = store.put(b"a part of a mail that was refused")
    db = Database(db_url)
    with db.write() as s:
        do_add(s, blob_key=key, content_type="text/plain", filename="part.txt", size=33)
    crashed, writing = tmp_path / "files" / "tmp" / "put-4242-0", tmp_path / "files" / "tmp" / "put-4243-7"
    crashed.write_bytes(b"half of a file whose writer was killed")  # names as DiskBlobStore gives them
    writing.write_bytes(b"a file another process is writing")
    code, out, _ = hub("attachments", "prune")
    assert (code, out) == (0, "removed 0 stored file(s) no message carries; 0 deleted from the store; "
                              "0 temporary file(s) of interrupted writes\n")
    assert store.open(key).read() == b"a part of a mail that was refused"  # not an hour old yet
    assert crashed.exists() and writing.exists()

    two_hours_ago = utcnow() - timedelta(hours=2)
    with db.write() as s:
        s.execute(update(StoredAttachment).values(created_at=two_hours_ago))
    db.dispose()
    for old in (store.path(key), crashed):
        os.utime(old, (two_hours_ago.timestamp(), two_hours_ago.timestamp()))
    code, out, _ = hub("attachments", "prune")
    assert (code, out) == (0, "removed 1 stored file(s) no message carries; 1 deleted from the store; "
                              "1 temporary file(s) of interrupted writes\n")
    assert not store.path(key).exists()
    assert not crashed.exists()
    assert writing.read_bytes() == b"a file another process is writing"
    code, _, err = hub("attachments", "prune", "--older-than", "0")
    assert code == 2 and err == "hub: --older-than is in minutes, at least 1\n"


def test_commands_before_db_upgrade_say_what_to_do(hub: Run) -> None:
    """A fresh install where the admin forgot `hub db upgrade`: a one-line hint, not a traceback."""
    for args, stdin in [(["agents", "list"], ""), (["teams", "list"], ""), (["teams", "create", "X"], ""),
                        (["agents", "create", "--email", "a@example.com", "--name", "A"], "long enough\n")]:
        code, out, err = hub(*args, stdin=stdin)
        assert code == 1, args
        assert out == ""
        assert err.startswith("hub: ") and "run `hub db upgrade`" in err, err
        assert len(err.splitlines()) == 1, err


def test_an_unreachable_database_is_one_clear_line(hub: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub@127.0.0.1:1/hub")
    for args in (["agents", "list"], ["db", "upgrade"]):
        code, _, err = hub(*args)
        assert code == 1, args
        assert err.startswith("hub: database error: ") and "127.0.0.1" in err, err
        assert len(err.splitlines()) == 1, err


def test_a_command_needs_a_subcommand(hub: Run, capsys: pytest.CaptureFixture[str]) -> None:
    for args in ([], ["agents"], ["teams"], ["db"], ["attachments"]):
        with pytest.raises(SystemExit) as exit_:
            hub(*args)
        assert exit_.value.code == 2
    assert "required" in capsys.readouterr().err


def test_the_installed_hub_command(tmp_path: Path) -> None:
    """The console script an admin actually types, in its own process."""
    env = {**os.environ, "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    env.pop("HUB_ADMIN_PASSWORD", None)
    env.pop("HUB_CONFIG", None)

    def hub(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(HUB), *args], input=stdin, env=env, capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)

    assert hub("db", "upgrade").returncode == 0
    created = hub("agents", "create", "--email", "cli@example.com", "--name", "Cli", "--role", "admin",
                  "--password-stdin", stdin="a long password\n")
    assert created.returncode == 0, created.stderr
    assert "created admin cli@example.com" in created.stdout
    again = hub("agents", "create", "--email", "cli@example.com", "--name", "Cli", stdin="a long password\n")
    assert again.returncode == 2
    assert again.stderr.strip() == "hub: an agent with email cli@example.com already exists"
    listed = hub("agents", "list", "--json")
    assert [r["email"] for r in json.loads(listed.stdout)] == ["cli@example.com"]
    ensure = hub("admin", "ensure")
    assert ensure.returncode == 0 and "exists already" in ensure.stdout
    helped = hub("--help")
    assert helped.returncode == 0
    for command in ("serve", "db", "agents", "teams", "demo", "admin"):
        assert command in helped.stdout


def test_serve_freezes_the_started_heap_out_of_the_collectors_sight(db_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`hub serve` starts the app with `freeze_heap`: after startup, what is alive is frozen (full
    collections no longer walk it: their pauses were routing's latency tail)."""
    import gc

    from fastapi.testclient import TestClient

    from config.app import create_app
    from config.settings import load_settings

    started: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append(app))
    assert cli.main(["db", "upgrade"]) == 0
    assert cli.main(["serve"]) == 0
    (app,) = started
    gc.unfreeze()
    try:
        with TestClient(app):
            assert gc.get_freeze_count() > 0
        gc.unfreeze()
        with TestClient(create_app(load_settings())):  # the app factory alone freezes nothing
            assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_contacts_set_changes_tier_and_language_of_a_contact_found_by_address(hub: Run, db_url: str) -> None:
    from hub.contacts.models import Contact
    from hub.ingest.entry import do_ingest
    from hub.ports import ContactRef, InboundMessage

    hub("db", "upgrade")
    db = Database(db_url)
    with db.write() as s:
        contact_id = do_ingest(s, InboundMessage(channel="api", source="crm", ingest_scope="api:crm", external_id="1",
                                                 contact=ContactRef(email="Rosa@Example.com"), text="hi")).contact_id
    code, out, err = hub("contacts", "set", "--email", "rosa@example.com", "--tier", "VIP", "--language", "es")
    assert (code, err) == (0, "")
    assert out == f"contact {contact_id} (rosa@example.com): tier vip, language es\n"
    with db.read() as s:
        contact = s.get(Contact, contact_id)
        assert contact is not None and (contact.tier, contact.language) == ("vip", "es")
    code, _, err = hub("contacts", "set", "--email", "nobody@example.com", "--tier", "vip")
    assert (code, err) == (2, "hub: no contact with email nobody@example.com\n")
    code, _, err = hub("contacts", "set", "--email", "rosa@example.com", "--language", "Spanish")
    assert code == 2 and "BCP-47" in err
    db.dispose()


def test_serve_raises_its_open_files_limit_for_thousands_of_sockets(db_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each visitor or console socket is an open file: `hub serve` started with a low soft limit
    (1,024 on many systems) runs with the hard one."""
    import resource

    original = resource.getrlimit(resource.RLIMIT_NOFILE)
    if original[1] != resource.RLIM_INFINITY and original[1] <= 256:
        pytest.skip(f"the hard limit here is {original[1]}: nothing to raise to")
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: None)
    assert cli.main(["db", "upgrade"]) == 0
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, original[1]))
    try:
        assert cli.main(["serve"]) == 0
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert soft == hard == original[1]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, original)
