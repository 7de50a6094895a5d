"""The `hub` command line: serve, migrate, manage agents and teams, load demo data."""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import col

from config.settings import Settings, load_settings
from hub.agents import actions as agent_actions
from hub.agents.models import Agent, Team
from hub.db import Database
from hub.errors import HubError
from hub.migrate import upgrade


def _db(settings: Settings) -> Database:
    return Database(settings.database_url)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from agents_ui.ws_frames import MAX_FRAME_CHARS
    from config.app import create_app

    upgrade(settings.database_url)
    raise_open_files_limit()
    uvicorn.run(create_app(settings, freeze_heap=True), host=args.host or settings.host,
                port=args.port or settings.port,
                log_level=args.log_level, ws="websockets-sansio" if _has_sansio() else "auto",
                # A console's frames are small: refuse a large one before it is buffered (uvicorn's
                # default is 16 MB). In bytes: MAX_FRAME_CHARS characters of UTF-8, at most 4 each.
                ws_max_size=4 * MAX_FRAME_CHARS,
                # uvicorn's proxy headers would believe X-Forwarded-* from 127.0.0.1 by default
                # (any local process could name any client) and rewrite the peer for every route;
                # the app reads them itself, only from `trusted_proxies` (agents_ui/clients.py).
                proxy_headers=False)
    return 0


def raise_open_files_limit() -> int:
    """Every socket (a console, a web chat visitor) is an open file, and many systems start a
    process with a soft limit of 1,024: the server raises it to the hard limit (no privilege
    needed) before it listens. Returns the limit it runs with."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # e.g. an unlimited hard limit the kernel caps lower: keep it
            return soft
    return hard


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True


def cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    """Delivery and timers without the web server (for scaled-out deployments)."""
    import asyncio

    from config.app import build_hub
    from config.channels import build_channels

    async def run() -> None:
        hub = build_hub(settings, run_workers=True)
        channels = build_channels(settings, hub)  # the delivery worker sends through them
        await hub.start()
        try:
            await channels.start(hub)
            await asyncio.Event().wait()
        finally:
            await channels.stop()
            await hub.stop()

    upgrade(settings.database_url)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_db_upgrade(settings: Settings, _: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print(f"database is up to date ({Database(settings.database_url).dialect})")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if getattr(args, "password_stdin", False) or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise HubError("the two passwords differ")
    return first


def cmd_agents_create(settings: Settings, args: argparse.Namespace) -> int:
    password = agent_actions.new_password(_read_password(args))
    db = _db(settings)
    with db.write() as s:
        agent = agent_actions.do_create_agent(s, email=args.email, name=args.name, role=args.role, password=password)
        for team_name in args.team or []:
            agent_actions.do_add_member(s, agent_actions.get_team_by_name(s, team_name), agent)
    print(f"created {agent.role} {agent.email} (id {agent.id})")
    return 0


def cmd_agents_list(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).read() as s:
        agents = s.execute(select(Agent).order_by(col(Agent.id))).scalars().all()
        rows = [agent_actions.agent_dict(a, agent_actions.team_ids_of(s, a.id)) for a in agents]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['id']:>4}  {r['role']:<10} {r['presence']:<8} {r['email']:<32} {r['name']}")
    return 0


def cmd_agents_password(settings: Settings, args: argparse.Namespace) -> int:
    password = agent_actions.new_password(_read_password(args))
    with _db(settings).write() as s:
        agent = agent_actions.get_agent_by_email(s, args.email)
        if agent is None:
            raise HubError(f"no agent with email {args.email}")
        agent_actions.do_set_password(s, agent, password)
    print(f"password changed for {args.email}")
    return 0


def cmd_teams_create(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).write() as s:
        team = agent_actions.do_create_team(s, args.name)
    print(f"created team {team.name} (id {team.id})")
    return 0


def cmd_teams_list(settings: Settings, _: argparse.Namespace) -> int:
    with _db(settings).read() as s:
        for team in s.execute(select(Team).order_by(col(Team.id))).scalars():
            members = agent_actions.team_members(s, team.id)
            print(f"{team.id:>4}  {team.name:<24} members: {', '.join(map(str, members)) or '-'}")
    return 0


def cmd_teams_member(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).write() as s:
        team = agent_actions.get_team_by_name(s, args.team)
        agent = agent_actions.get_agent_by_email(s, args.email)
        if agent is None:
            raise HubError(f"no agent with email {args.email}")
        if args.action == "add-member":
            agent_actions.do_add_member(s, team, agent)
        else:
            agent_actions.do_remove_member(s, team, agent)
    print(f"{args.action}: {args.email} in {args.team}")
    return 0


def cmd_contacts_set(settings: Settings, args: argparse.Namespace) -> int:
    """A contact's name, tier or language, found by one of its addresses."""
    from hub.contacts.actions import find_by_identity, normalize_email, normalize_phone
    from hub.contacts.preferences import do_update_contact

    kind, address = ("email", normalize_email(args.email)) if args.email else ("phone", normalize_phone(args.phone))
    changes = {k: v for k, v in (("name", args.name), ("tier", args.tier), ("language", args.language))
               if v is not None}
    if not changes:
        raise HubError("nothing to set: give --name, --tier and/or --language")
    with _db(settings).write() as s:
        contact = find_by_identity(s, kind, address)
        if contact is None:
            raise HubError(f"no contact with {kind} {address}")
        changed = do_update_contact(s, contact, changes, actor_agent_id=None)
        print(f"contact {contact.id} ({contact.name}): tier {contact.tier}, language {contact.language or '-'}"
              + ("" if changed else " (unchanged)"))
    return 0


def cmd_attachments_prune(settings: Settings, args: argparse.Namespace) -> int:
    """Files no message carries (hub.attachments.orphans): run it hourly, e.g. from cron."""
    from datetime import timedelta

    from hub.attachments.orphans import remove_orphans
    from hub.blobs import DiskBlobStore

    if args.older_than < 1:
        raise HubError("--older-than is in minutes, at least 1")
    removed = remove_orphans(_db(settings), DiskBlobStore(settings.attachments_dir),
                             older_than=timedelta(minutes=args.older_than))
    print(f"removed {removed.rows} stored file(s) no message carries; {removed.blobs} deleted from the store; "
          f"{removed.temp_files} temporary file(s) of interrupted writes")
    return 0


def cmd_admin_ensure(settings: Settings, _: argparse.Namespace) -> int:
    """Create the first admin if there is no admin yet; print the password once if we made it up."""
    upgrade(settings.database_url)
    with _db(settings).write() as s:
        if s.execute(select(Agent).where(col(Agent.role) == "admin")).scalars().first() is not None:
            print("an admin account exists already (hub agents list)")
            return 0
        password = settings.admin_password or secrets.token_urlsafe(12)
        agent_actions.do_create_agent(s, email=settings.admin_email, name="Administrator", role="admin",
                                      password=password)
    print("=" * 64)
    print(f"  first admin: {settings.admin_email}")
    if settings.admin_password:
        print("  password:    (from HUB_ADMIN_PASSWORD)")
    else:
        print(f"  password:    {password}    <- shown once; change it with `hub agents password`")
    print("=" * 64)
    return 0


def cmd_demo(settings: Settings, _: argparse.Namespace) -> int:
    from config.demo import load_demo

    upgrade(settings.database_url)
    print(load_demo(_db(settings)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description="Contact hub administration")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server (and, by default, the workers)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="run delivery and timers without the web server").set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create or migrate the schema").set_defaults(func=cmd_db_upgrade)

    admin = sub.add_parser("admin", help="first admin").add_subparsers(dest="admin_command", required=True)
    admin.add_parser("ensure", help="create the first admin if none exists").set_defaults(func=cmd_admin_ensure)

    agents = sub.add_parser("agents", help="manage agents").add_subparsers(dest="agents_command", required=True)
    create = agents.add_parser("create", help="create an agent; the password is read from stdin or a prompt")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    create.add_argument("--team", action="append", help="team name to join (repeatable)")
    create.add_argument("--password-stdin", action="store_true")
    create.set_defaults(func=cmd_agents_create)
    lst = agents.add_parser("list", help="list agents")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_agents_list)
    pw = agents.add_parser("password", help="set an agent's password (stdin or prompt)")
    pw.add_argument("--email", required=True)
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=cmd_agents_password)

    teams = sub.add_parser("teams", help="manage teams").add_subparsers(dest="teams_command", required=True)
    tc = teams.add_parser("create", help="create a team")
    tc.add_argument("name")
    tc.set_defaults(func=cmd_teams_create)
    teams.add_parser("list", help="list teams").set_defaults(func=cmd_teams_list)
    for action in ("add-member", "remove-member"):
        tm = teams.add_parser(action, help=f"{action.replace('-', ' ')} of a team")
        tm.add_argument("team")
        tm.add_argument("email")
        tm.set_defaults(func=cmd_teams_member, action=action)

    contacts = sub.add_parser("contacts", help="manage contacts").add_subparsers(dest="contacts_command",
                                                                              required=True)
    cs = contacts.add_parser("set", help="set a contact's name, tier or language (routing rules match them)")
    who = cs.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--phone", help="E.164, e.g. +15551234567")
    cs.add_argument("--name")
    cs.add_argument("--tier", help="e.g. vip (raises routing priority)")
    cs.add_argument("--language", help="a BCP-47 tag such as es or pt-BR")
    cs.set_defaults(func=cmd_contacts_set)

    files = sub.add_parser("attachments", help="stored files").add_subparsers(dest="attachments_command",
                                                                             required=True)
    prune = files.add_parser("prune", help="remove files no message carries (a refused or redelivered mail's "
                             "parts; agents' uploads never sent, after a day) and temporary files a crash left")
    prune.add_argument("--older-than", type=int, default=60, metavar="MINUTES",
                       help="only files stored longer ago than this (default 60)")
    prune.set_defaults(func=cmd_attachments_prune)

    sub.add_parser("demo", help="load demo agents, teams and conversations").set_defaults(func=cmd_demo)
    return p


def _database_problem(exc: OperationalError | ProgrammingError) -> str:
    """One line an admin can act on, instead of SQLAlchemy's traceback."""
    text = str(exc.orig if exc.orig is not None else exc).strip()
    first = text.splitlines()[0] if text else exc.__class__.__name__
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return f"the database has no schema yet ({first}): run `hub db upgrade` first"
    return f"database error: {first}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    try:
        return int(args.func(settings, args))
    except HubError as exc:
        print(f"hub: {exc.message}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        print(f"hub: {_database_problem(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
