"""Summarize a py-spy raw profile: share of samples per thread, per function (self and inclusive).

Record one while a benchmark runs (the server is the `uvicorn ... config.app:create_app` process):
    .venv/bin/pip install py-spy
    .venv/bin/py-spy record --pid <server pid> --gil -f raw -o /tmp/spy.txt -r 100 -d 8 --threads
    .venv/bin/python -m bench.spy_summary /tmp/spy.txt [--top 40] [--only SUBSTRING]
`--only` keeps the stacks that pass through a frame containing SUBSTRING (e.g. `ingest-writer`).
"""

from __future__ import annotations

import argparse
from collections import Counter


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--only", help="keep stacks with a frame containing this text")
    args = p.parse_args(argv)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    with open(args.path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not count.isdigit():
                continue
            frames = stack.split(";")
            if args.only and not any(args.only in frame for frame in frames):
                continue
            n = int(count)
            total += n
            threads[frames[0]] += n
            own[frames[-1]] += n
            for frame in set(frames[1:]):
                inclusive[frame] += n
    if not total:
        print("no samples")
        return
    print(f"{total} samples")
    for title, counter in (("threads", threads), ("self", own), ("inclusive", inclusive)):
        print(f"-- {title}")
        for name, n in counter.most_common(args.top):
            print(f"{n / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
