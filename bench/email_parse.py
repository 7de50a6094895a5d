"""Parsing the SMTP listener's mail mix (issue 15): CPU per mail of `parse_email`, and of all the
channel does before ingest (parse, classify, fold, `to_inbound`).

    python -m bench.email_parse                   # this checkout
    python -m bench.email_parse --against main    # and the hub as of commit `main`, round by round

The mails are bench.email_listener's own mix (its `plan`, same seed and shares), built once here.
Each tree is timed in a process of its own (its `channels` package on the path, nothing else of
it): `--rounds` rounds, each tree once per round, one right after the other, so a drift of the
machine's speed hits both alike. Each figure is the best of `--repeat` passes, each over `-n` fresh
mails of the mix (so a cache keeps only what the mix itself repeats: our mailboxes, the threads'
customers), in CPU microseconds per mail, after a pass of warm-up. No database, no sockets: only
parsing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.email_listener import Thread, customer, plan
from bench.inbound_api import exported
from bench.machine import machine, source_version

ROOT = Path(__file__).resolve().parent.parent

# Run in the measured tree's own process: it must only use what every version of the email
# channel has (parse_email, classify, fold, to_inbound, Mailbox).
TIMER = r"""
import json, pickle, sys, time
from channels.email.classify import classify
from channels.email.folding import fold
from channels.email.inbound import to_inbound
from channels.email.parsing import parse_email
from channels.email.settings import Mailbox

batches = pickle.load(open(sys.argv[1], "rb"))
boxes = ("support@example.com", "sales@example.com")
box = Mailbox(address=boxes[0])

texts = [[parse_email(raw).text for raw in mails] for mails in batches]

def parse_only(i):
    for raw in batches[i]:
        parse_email(raw, mailbox_addresses=boxes, envelope_recipients=boxes[:1])

def fold_only(i):
    for text in texts[i]:
        fold(text, ("en", "en"))

def channel(i):
    for raw in batches[i]:
        parsed = parse_email(raw, mailbox_addresses=boxes, envelope_recipients=boxes[:1])
        to_inbound(parsed, classify(parsed), box, raw)

out = {}
for name, job in (("parse_email", parse_only), ("fold", fold_only), ("channel", channel)):
    job(0)
    best = float("inf")
    for i in range(1, len(batches)):  # fresh mails each pass: a cache holds only what the mix repeats
        t0 = time.process_time()
        job(i)
        best = min(best, time.process_time() - t0)
    out[name] = best * 1e6 / len(batches[0])
print(json.dumps(out))
"""


def fake_threads(count: int, rng: random.Random) -> list[Thread]:
    """The threads bench.email_listener gets from the hub's answers: ids and tokens of that shape."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return [Thread(customer(c), f"<seed{c}.{rng.getrandbits(64):x}@customer{c}.example.net>",
                   f"<{''.join(rng.choices(alphabet, k=26))}@example.com>", "".join(rng.choices(alphabet, k=10)))
            for c in range(count)]


def measure(tree: Path, mails_file: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", TIMER, str(mails_file)], cwd=tree, env=env,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.email_parse", description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=1000, help="mails per pass (default 1000)")
    p.add_argument("--threads", type=int, default=200)
    p.add_argument("--attachments", type=float, default=0.1, help="share of mails with a PDF (default 0.1)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--rounds", type=int, default=3, help="rounds, each tree once per round (default 3)")
    p.add_argument("--repeat", type=int, default=3, help="passes per measurement, each on fresh mails; the best counts "
                   "(default 3)")
    p.add_argument("--against", metavar="REV", help="also time the hub as of this commit")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    threads = fake_threads(args.threads, rng)
    # One batch to warm up, then a fresh one per pass, all of one run's mix (same customers).
    batches = [[m.data for m in plan(args.n, threads, args.attachments, rng)] for _ in range(args.repeat + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-email-parse-") as tmp, contextlib.ExitStack() as stack:
        mails_file = Path(tmp) / "mails.pickle"
        mails_file.write_bytes(pickle.dumps(batches))
        trees = {f"this tree ({source_version(ROOT)})": ROOT}
        if args.against:
            other = stack.enter_context(exported(args.against))
            trees[f"{args.against} ({source_version(other)})"] = other
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(measure(tree, mails_file))
    print(f"{args.n} mails of bench.email_listener's mix ({args.attachments:.0%} with a PDF), CPU µs per mail, "
          f"median of {args.rounds} rounds (each the best of {args.repeat} passes); load {os.getloadavg()[0]:.2f}; "
          f"{machine().get('cpu', '')}")
    for name, figures in runs.items():
        cols = ", ".join(f"{k} {statistics.median(r[k] for r in figures):,.0f}" for k in figures[0])
        print(f"  {name}: {cols}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
