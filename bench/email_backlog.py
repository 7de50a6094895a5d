"""Connecting a mailbox with a backlog: time until every mail in a Dovecot folder is a message in
the hub (issue 15, target: 10,000 mails in under 60 s, SQLite, one process).

    python -m bench.email_backlog                      # 10,000 mails
    python -m bench.email_backlog --mails 2000         # a quicker look

A real Dovecot (tests/dovecot.py: Debian's dovecot-imapd, its own config in a temp folder, run as
root) gets the backlog written into its maildir, as a local delivery agent would, and indexes it
(one STATUS, not timed: a live server has indexed its mail long before anyone connects a help
desk to it). Then a hub on a fresh SQLite file (migrated, its workers running: routing queues
each new conversation) starts the mailbox's watcher, exactly as the email adapter does, and the
clock runs until the last mail is committed. A quarter of the mails answer an earlier one of the
same customer (In-Reply-To and References), so threading is exercised too. Afterwards the
database is checked: every mail once with its original .eml kept (the hub keeps files, as
deployed), one conversation per customer, the cursor at the last UID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from bench.machine import hold_machine, machine, release_machine, source_version
from channels.email.imap import MailboxWatcher, cursor_name
from channels.email.settings import ImapServer, Mailbox
from hub.attachments.files import AttachmentFiles
from hub.attachments.models import StoredAttachment
from hub.blobs import DiskBlobStore
from hub.channel_cursors import get_cursor
from hub.conversations.models import Conversation, Message
from hub.db import Database
from hub.migrate import upgrade
from hub.runtime import Hub, HubOptions
from tests.channels.email.imap_side import Counting
from tests.dovecot import PASSWORD, USER, Dovecot

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"


def backlog(mails: int, customers: int) -> list[bytes]:
    """Mail n comes from customer n % customers; their later mails answer their previous one."""
    out: list[bytes] = []
    last_of: dict[int, str] = {}
    for n in range(mails):
        who = n % customers
        message_id = f"<m{n}@customer{who}.example.net>"
        head = [f"From: Customer {who} <customer{who}@example.net>", "To: support@example.com",
                f"Date: Mon, 2 Jun 2025 10:{n // 600 % 60:02d}:{n // 10 % 60:02d} +0000",
                f"Message-ID: {message_id}", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
        if who in last_of:
            head += [f"Subject: Re: Order {who}", f"In-Reply-To: {last_of[who]}", f"References: {last_of[who]}"]
        else:
            head.append(f"Subject: Order {who}")
        body = f"Hello,\n\nthis is mail {n}; my order {who} has not arrived yet.\n\nRegards,\nCustomer {who}\n"
        out.append(("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode())
        last_of[who] = message_id
    return out


async def measure(server: Dovecot, db_url: str, files: Path, mails: int, batch: int) -> dict[str, Any]:
    db = Database(db_url)
    # As deployed (config.app): the hub keeps files, so each mail's original .eml is stored too.
    hub = Hub(db, HubOptions(run_workers=True, files=AttachmentFiles(DiskBlobStore(files))))
    await hub.start()
    box = Mailbox("support@example.com", imap=ImapServer(host="127.0.0.1", port=server.port, tls=False,
                                                          username=USER, password=PASSWORD, batch=batch))
    port = Counting(hub, expected=mails)
    watcher = MailboxWatcher(box, port)
    cpu0, t0 = time.process_time(), time.monotonic()
    task = asyncio.create_task(watcher.run())
    try:
        done = asyncio.ensure_future(port.done.wait())
        await asyncio.wait({done, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises what stopped it
        elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await hub.stop()
    with db.read() as s:
        stored = s.execute(select(func.count()).select_from(Message).where(Message.channel == "email")).scalar_one()
        convs = s.execute(select(func.count()).select_from(Conversation)).scalar_one()
        cursor = get_cursor(s, cursor_name(box))
        originals = s.execute(select(func.count()).select_from(StoredAttachment)
                              .where(col(StoredAttachment.message_id).is_not(None))).scalar_one()
    db.dispose()
    return {"seconds": round(elapsed, 2), "mails_per_second": round(mails / elapsed, 1),
            "process_cpu_seconds": round(cpu, 2), "stored": stored, "conversations": convs,
            "files_stored": originals, "handed_over_twice": port.again, "cursor": cursor}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=10_000)
    p.add_argument("--customers", type=int, default=None, help="default: three quarters of --mails")
    p.add_argument("--batch", type=int, default=ImapServer.batch, help="messages per UID FETCH")
    args = p.parse_args()
    customers = args.customers or max(1, args.mails * 3 // 4)
    hold_machine()
    server = Dovecot().start()
    try:
        t = time.monotonic()
        server.deliver(backlog(args.mails, customers))
        with server.imap() as client:  # Dovecot indexes the new mail here, before the clock runs
            typ, data = client.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY)")
            assert typ == "OK", data
        filled = time.monotonic() - t
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
            url = f"sqlite:///{tmp}/hub.db"
            upgrade(url)
            load_before = os.getloadavg()
            result = asyncio.run(measure(server, url, Path(tmp) / "files", args.mails, args.batch))
            load_after = os.getloadavg()
    finally:
        server.remove()
        release_machine()
    validity = data[0].decode().split("UIDVALIDITY ")[1].rstrip(")")
    ok = (result["stored"] == args.mails == result["files_stored"] and result["conversations"] == customers
          and result["handed_over_twice"] == 0 and result["cursor"] == f"{validity}:{args.mails}")
    report = {"benchmark": "email_backlog", "hub": source_version(ROOT), "machine": machine(),
              "args": vars(args) | {"customers": customers}, "fill_seconds": round(filled, 1),
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in load_after], **result, "checks_passed": ok}
    OUT.mkdir(exist_ok=True)
    path = OUT / f"email_backlog-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"{args.mails} mails ({customers} customers) in {result['seconds']} s = {result['mails_per_second']} "
          f"mails/s; process CPU {result['process_cpu_seconds']} s; stored {result['stored']}, conversations "
          f"{result['conversations']}, originals kept {result['files_stored']}, handed over twice "
          f"{result['handed_over_twice']}, cursor {result['cursor']}; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; checks "
          f"{'passed' if ok else 'FAILED'} ({path.relative_to(ROOT)})")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
