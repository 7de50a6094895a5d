"""The machine a benchmark runs on: what it is, how busy it is, and taking turns on it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MACHINE_LOCK = Path(tempfile.gettempdir()) / "contact-hub-bench.lock"
_machine_lock: dict[str, Any] = {"file": None, "holders": 0}


def hold_machine() -> None:
    """Benchmarks on one machine take turns: servers under test never run beside another benchmark's."""
    import fcntl

    if _machine_lock["holders"] == 0:
        handle = MACHINE_LOCK.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another benchmark to finish (lock {MACHINE_LOCK})", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        _machine_lock["file"] = handle
    _machine_lock["holders"] += 1


def release_machine() -> None:
    _machine_lock["holders"] -= 1
    if _machine_lock["holders"] == 0:
        _machine_lock["file"].close()  # closing drops the flock
        _machine_lock["file"] = None


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores) since boot."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_cores: float, timeout: float, window: float = 3.0) -> float:
    """Wait until the rest of the machine uses at most `max_cores` over `window` seconds, or until
    `timeout`; return the last level seen. On a shared box, neighbours' load distorts every figure."""
    deadline = time.monotonic() + timeout
    while True:
        before, own = busy_cpu_seconds(), time.process_time()
        time.sleep(window)
        level = ((busy_cpu_seconds() - before) - (time.process_time() - own)) / window
        if level <= max_cores or time.monotonic() >= deadline:
            return level


def machine() -> dict[str, Any]:
    """What the numbers were measured on, for bench/RESULTS.md."""
    import platform
    import sqlite3

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: _version(name) for name in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools",
                                                       "websockets", "sqlalchemy", "psycopg", "pydantic")},
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def source_version(src: Path) -> str:
    """The commit a source tree is at, and whether its tracked files differ from it."""
    if (src / "COMMIT").is_file():  # exported by `--hub-commit`
        return (src / "COMMIT").read_text().strip()[:9]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "."], cwd=src).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return f"{src} (not a git checkout)"
    return f"{commit}{' + uncommitted changes' if dirty else ''}"
