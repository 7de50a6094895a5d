"""Email through the hub's own SMTP listener (issue 15): emails per second, and whether every one
landed in the conversation it belongs to.

    python -m bench.email_listener --db sqlite                  # 5,000 mails over 8 connections
    python -m bench.email_listener --db both -n 20000 --concurrency 16

One hub process (`config.app:create_app` under uvicorn, started as bench.inbound_api starts it)
on a fresh database, with its SMTP listener on a free port and two mailboxes, support@ and sales@,
whose outgoing server is a recorder in this process (tests/channels/email/smtp_side.py).

Setup (not timed): `--threads` customers each write one mail to support@ and one to sales@ (two
conversations each), and the agent answers each support@ conversation through the API, as the
console does; the delivery worker sends the answers to the recorder, which gives each thread our
Message-ID and its subject token `[#t]`.

Then N mails go to the listener over `--concurrency` SMTP connections (smtplib, one thread each,
many mails per connection, as a relay sends them), shuffled:
- new (40 %): a new sender's first mail: a conversation of its own;
- in-reply-to (20 %): In-Reply-To our answer, References the thread; from the customer or from a
  colleague of theirs (a new address: only the key can thread it);
- references (15 %): References only, no In-Reply-To (clients that drop it); customer or colleague;
- subject token (15 %): nothing but "[#t]" in the subject, from the customer;
- control (10 %): another thread's "[#t]" from a different customer: must NOT join that thread (a
  subject token counts only for its conversation's own customer) but land in the sender's own.
The customer's replies go half to support@, half to sales@: to sales@, the fallback ("the sender's
latest conversation on this mailbox") would pick their sales@ conversation, so only the key
threads them right. `--attachments` of the mails carry a small PDF.

Throughput: N / (last 250 answer - first send); the listener answers 250 only after the commit.
Then the database is read: every mail stored once, every reply in its thread's conversation, every
new mail alone in a conversation of its own, each control in its sender's conversation, and no
other conversation. The run exits 1 unless that holds for every mail (100 %).
Target: at least 500 mails/s on SQLite, one process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import smtplib
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    HOST,
    REQUEST_TIMEOUT,
    ROOT,
    ServerProcess,
    add_run_arguments,
    free_port,
    machine,
    py_spy,
)
from bench.inbound_api import (
    agent_token,
    fresh_database,
    hub_server,
    hub_tree,
    prepare_hub_database,
    settle,
)
from tests.channels.email.smtp_side import Recorder, smtp_server

TARGET_PER_SECOND = 500.0
SUPPORT, SALES = "support@example.com", "sales@example.com"
MIX = {"new": 40, "in-reply-to": 20, "references": 15, "subject token": 15, "control": 10}
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
_TOKEN = re.compile(r"\[#([a-z2-7]+)\]")


@dataclass(frozen=True)
class Mail:
    kind: str
    sender: str
    to: str
    message_id: str
    data: bytes
    thread: int | None  # the thread whose conversation it must join; None: a new one of its own


@dataclass(frozen=True)
class Thread:
    customer: str
    seed_id: str      # the customer's first mail to support@
    answer_id: str    # our answer's Message-ID
    token: str        # its subject token


def customer(c: int) -> str:
    return f"customer{c}@customer{c}.example.net"


def mail(kind: str, sender: str, to: str, subject: str, *, thread: int | None = None, pdf: bool = False,
         in_reply_to: str | None = None, references: tuple[str, ...] = ()) -> Mail:
    msg = EmailMessage()
    message_id = f"<{uuid.uuid4().hex}@{sender.rpartition('@')[2]}>"
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = formatdate(localtime=False), message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg.set_content(f"Hello,\n\n{kind}: where is my order?\n\nRegards,\n{sender}\n")
    if pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    return Mail(kind, sender, to, message_id, msg.as_bytes(), thread)


def seeds(threads: int) -> list[Mail]:
    """Each customer's first mail to support@ (the thread) and to sales@ (a second conversation)."""
    return [mail("seed", customer(c), box, f"Order {c}", thread=c) for c in range(threads) for box in (SUPPORT, SALES)]


def plan(n: int, threads: list[Thread], attachments: float, rng: random.Random) -> list[Mail]:
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    out = []
    for i, kind in enumerate(kinds):
        c = rng.randrange(len(threads))
        t = threads[c]
        pdf = rng.random() < attachments
        own = rng.random() < 0.5  # the customer, or a colleague; for the customer: which mailbox
        to = SUPPORT if own else SALES
        if kind == "new":
            out.append(mail(kind, f"new{i}@new{i}.example.org", SUPPORT, f"Question {i}", pdf=pdf))
        elif kind in ("in-reply-to", "references"):
            sender = t.customer if own else f"colleague{i}@customer{c}.example.net"
            box = to if sender == t.customer else rng.choice((SUPPORT, SALES))
            out.append(mail(kind, sender, box, f"Re: Order {c}", thread=c, pdf=pdf, references=(t.seed_id, t.answer_id),
                            in_reply_to=t.answer_id if kind == "in-reply-to" else None))
        elif kind == "subject token":
            out.append(mail(kind, t.customer, to, f"Re: Order {c} [#{t.token}]", thread=c, pdf=pdf))
        else:  # control: someone else's token, written to support@, where the sender's own thread is
            d = (c + 1 + rng.randrange(len(threads) - 1)) % len(threads)
            out.append(mail(kind, threads[d].customer, SUPPORT, f"Re: Order {c} [#{t.token}]", thread=d, pdf=pdf))
    return out


@dataclass(frozen=True)
class Sent:
    seconds: float  # first send to the last answer
    errors: list[str]
    retries: int    # 4xx answers sent again


def send(port: int, mails: list[Mail], connections: int) -> Sent:
    """Every mail over `connections` SMTP connections at once; a 4xx answer is sent again, as a relay would."""
    todo = iter(mails)
    lock = threading.Lock()
    errors: list[str] = []
    state = {"last": 0.0, "retries": 0}
    ready = threading.Barrier(connections + 1, timeout=REQUEST_TIMEOUT)

    def connection() -> None:
        with smtplib.SMTP(HOST, port, timeout=REQUEST_TIMEOUT) as smtp:
            smtp.ehlo()
            ready.wait()
            while True:
                with lock:
                    m = next(todo, None)
                if m is None:
                    return
                for attempt in range(5):
                    try:
                        smtp.sendmail(m.sender, [m.to], m.data)
                        break
                    except smtplib.SMTPResponseException as exc:
                        if exc.smtp_code // 100 != 4 or attempt == 4:
                            errors.append(f"{m.message_id}: {exc.smtp_code} {exc.smtp_error!r}")
                            break
                        with lock:
                            state["retries"] += 1
                with lock:
                    state["last"] = max(state["last"], time.perf_counter())

    workers = [threading.Thread(target=connection, daemon=True) for _ in range(connections)]
    for w in workers:
        w.start()
    ready.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    return Sent(state["last"] - start, errors, state["retries"])


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Read the hub's database directly (the benchmark never imports the hub)."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def stored(url: str) -> list[tuple[str, str, int]]:
    """(mailbox scope, Message-ID, conversation) of every inbound mail."""
    return query(url, "SELECT ingest_scope, external_id, conversation_id FROM messages "
                      "WHERE channel = 'email' AND direction = 'in'")  # type: ignore[return-value]


def answer_threads(server: ServerProcess, url: str, recorder: Recorder, seeded: list[Mail]) -> list[Thread]:
    """The agent answers each customer's support@ conversation; the recorder gets what was sent."""
    conv = {mid: cid for scope, mid, cid in stored(url) if scope == f"email:{SUPPORT}"}
    auth = {"Authorization": f"Bearer {agent_token(server)}"}
    seed_of = {m.sender: m for m in seeded if m.to == SUPPORT}
    count = len(seed_of)
    with httpx.Client(base_url=server.url, headers=auth, timeout=REQUEST_TIMEOUT) as client:
        for c in range(count):
            resp = client.post(f"/api/v1/conversations/{conv[seed_of[customer(c)].message_id]}/messages",
                               json={"text": "It left our warehouse today.", "client_id": str(uuid.uuid4())})
            if resp.status_code != 201:
                raise RuntimeError(f"the agent's answer failed: HTTP {resp.status_code} {resp.text[:300]}")
    deadline = time.monotonic() + 120
    while len(recorder.received) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(recorder.received)} of {count} answers reached the recorder")
        time.sleep(0.1)
    out: dict[str, Thread] = {}
    for _, recipients, sent in recorder.received:
        to = recipients[0]
        token = _TOKEN.search(str(sent["Subject"]))
        assert token is not None, sent["Subject"]
        out[to] = Thread(to, seed_of[to].message_id, str(sent["Message-ID"]), token.group(1))
    return [out[customer(c)] for c in range(count)]


def check(url: str, seeded: list[Mail], mails: list[Mail]) -> dict[str, Any]:
    """What the database holds against what each mail should have become."""
    rows = stored(url)
    copies = Counter((scope, mid) for scope, mid, _ in rows)
    where = {(scope, mid): cid for scope, mid, cid in rows}
    conv = {(m.to, m.message_id): where.get((f"email:{m.to}", m.message_id)) for m in seeded + mails}
    thread_conv = {m.thread: conv[(m.to, m.message_id)] for m in seeded if m.to == SUPPORT}
    per_conv = Counter(where.values())
    wrong: Counter[str] = Counter()
    for m in mails:
        got = conv[(m.to, m.message_id)]
        if m.thread is None:
            ok = got is not None and per_conv[got] == 1
        else:
            ok = got == thread_conv[m.thread]
        if not ok:
            wrong[m.kind] += 1
    missing = sum(1 for m in seeded + mails if conv[(m.to, m.message_id)] is None)
    conversations = query(url, "SELECT count(*) FROM conversations")[0][0]
    expected = len(seeded) + sum(1 for m in mails if m.thread is None)
    correct = len(mails) - sum(wrong.values())
    return {"accuracy": correct / len(mails), "wrong_by_kind": dict(wrong), "missing": missing,
            "stored_twice": sum(1 for n in copies.values() if n > 1), "conversations": conversations,
            "conversations_expected": expected,
            "passed": correct == len(mails) and missing == 0 and conversations == expected
            and all(n == 1 for n in copies.values())}


def hub_settings(listener_port: int, outgoing_port: int, files: str) -> dict[str, str]:
    smtp = {"host": HOST, "port": outgoing_port, "starttls": False}
    return {"HUB_EMAIL__LISTENER_ENABLED": "true", "HUB_EMAIL__LISTENER_PORT": str(listener_port),
            "HUB_EMAIL__MAILBOXES": json.dumps([{"address": a, "smtp": smtp} for a in (SUPPORT, SALES)]),
            "HUB_ATTACHMENTS_DIR": files, "HUB_SECRET_KEY": "bench-email-listener-secret"}


def run(kind: str, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    outgoing, listener = free_port(), free_port()
    with (fresh_database(kind, "hub") as url, tempfile.TemporaryDirectory(prefix="bench-files-") as files,
          smtp_server(outgoing) as recorder):
        prepare_hub_database(url, args.hub_src)
        with hub_server(url, args.hub_src, hub_settings(listener, outgoing, files)) as server:
            seeded = seeds(args.threads)
            if (setup := send(listener, seeded, args.concurrency)).errors:
                raise RuntimeError(f"setup mails refused: {setup.errors[:3]}")
            threads = answer_threads(server, url, recorder, seeded)
            mails = plan(args.n, threads, args.attachments, rng)
            settle(args)
            load = os.getloadavg()
            cpu0, gen0 = server.cpu_seconds(), time.process_time()
            with py_spy(server, args.profile, gil=args.profile_gil) if args.profile else contextlib.nullcontext():
                sent = send(listener, mails, args.concurrency)
            cpu, gen = server.cpu_seconds() - cpu0, time.process_time() - gen0
            load_after = os.getloadavg()
        result = check(url, seeded, mails)
    rate = args.n / sent.seconds
    print(f"[{kind}] {args.n} mails over {args.concurrency} connections in {sent.seconds:.2f} s = {rate:,.0f} mails/s "
          f"(target {TARGET_PER_SECOND:.0f}: {'met' if rate >= TARGET_PER_SECOND else 'MISSED'}); "
          f"server CPU {cpu * 1000 / args.n:.2f} ms/mail ({cpu / sent.seconds:.0%}), "
          f"generator {gen / sent.seconds:.0%}; "
          f"threading {result['accuracy']:.2%} correct, wrong {result['wrong_by_kind'] or 'none'}, "
          f"missing {result['missing']}, stored twice {result['stored_twice']}, conversations "
          f"{result['conversations']}/{result['conversations_expected']}; refused {len(sent.errors)}, "
          f"retried {sent.retries}; load average {load[0]:.2f} before, {load_after[0]:.2f} after"
          + (f"; first refusal: {sent.errors[0]}" if sent.errors else ""), flush=True)
    return {"db": kind, "mails": args.n, "seconds": round(sent.seconds, 3), "mails_per_second": round(rate, 1),
            "server_cpu_ms_per_mail": round(cpu * 1000 / args.n, 3), "server_cpu": round(cpu / sent.seconds, 3),
            "generator_cpu": round(gen / sent.seconds, 3), "refused": len(sent.errors), "retried": sent.retries,
            "first_refusal": sent.errors[0] if sent.errors else None, "kinds": dict(Counter(m.kind for m in mails)),
            "load_average_before": [round(x, 2) for x in load], "load_average_after": [round(x, 2) for x in load_after],
            "threading": result}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.email_listener", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("-n", type=int, default=5000, help="mails measured (default 5000)")
    p.add_argument("--concurrency", type=int, default=8, help="SMTP connections at once (default 8)")
    p.add_argument("--threads", type=int, default=200, help="customers with a thread to answer (default 200)")
    p.add_argument("--attachments", type=float, default=0.1, help="share of mails with a PDF (default 0.1)")
    p.add_argument("--repeat", type=int, default=1, help="runs per database, each on a fresh one (default 1)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--profile", type=Path, metavar="FILE",
                   help="record the server with py-spy while the mails go in (raw, for bench.spy_summary)")
    p.add_argument("--profile-gil", action="store_true", help="only threads holding the GIL (where the CPU goes)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    add_run_arguments(p)
    args = p.parse_args(argv)
    with hub_tree(args) as hub_source:
        rng = random.Random(args.seed)
        kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        runs = [run(kind, args, rng) for kind in kinds for _ in range(args.repeat)]
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"email_listener-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({
        "machine": machine(), "hub_source": hub_source,
        "command": " ".join(["python -m bench.email_listener", *(argv if argv is not None else sys.argv[1:])]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "runs": runs}, indent=2))
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0 if all(r["threading"]["passed"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
