"""The load harness every benchmark shares: a server in its own process, concurrent HTTP posters,
one websocket listener, and the arithmetic.

A message's latency runs from the moment it was due to be posted (open loop: its slot in the
schedule, so a slow server cannot hide its queue by slowing the sender down) or was posted
(closed loop) until its marker arrives on the listener's websocket. The server runs as a separate
process so that the load generator never competes with it for the GIL; everything it does
measure (sending, receiving, the clock) lives in this one process and this one event loop.

What varies between benchmarks is injected: how to start the server (a command and an
environment), how to post one message (`Post`), how to open the websocket (`Handshake`) and how
to find the marker in a frame (`Extract`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench import http1
from bench.machine import MACHINE_LOCK as MACHINE_LOCK
from bench.machine import busy_cpu_seconds, hold_machine, release_machine
from bench.machine import machine as machine
from bench.machine import source_version as source_version
from bench.machine import wait_until_quiet as wait_until_quiet

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
REQUEST_TIMEOUT = 30.0

# Post one message carrying `marker` in its text; raise if the server did not accept it.
Post = Callable[[http1.Client, str], Awaitable[None]]
# Whatever a websocket must do before events flow (authenticate, resume, wait for "ready").
Handshake = Callable[[ClientConnection], Awaitable[None]]
# The marker a decoded websocket frame carries, or None for frames that are not messages.
Extract = Callable[[dict[str, Any]], str | None]


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The options every benchmark takes: how quiet the machine must be, and which hub to run."""
    p.add_argument("--quiet-wait", type=float, default=300.0, metavar="SECONDS",
                   help="before measuring, wait up to this long for other processes to go quiet (0: don't)")
    p.add_argument("--quiet-cores", type=float, default=0.3,
                   help="'quiet' means other processes use at most this many cores (default 0.3)")
    p.add_argument("--hub-src", type=Path, default=ROOT,
                   help="source tree to run the hub from (default: this checkout), to measure a change")
    p.add_argument("--hub-commit", metavar="REV",
                   help="run the hub as of this commit (exported to a temporary directory), not the working tree")


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process handed out before: a port chosen early
    (an SMTP listener's, say) is not bound until its server starts, and the kernel may offer it
    again meanwhile (a hub once got its own listener's port for HTTP)."""
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def uvicorn_command(factory: str) -> Callable[[int], list[str]]:
    """The server settings every benchmarked app gets: one uvicorn worker, quiet, same ws stack."""
    return lambda port: [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--host", HOST, "--port", str(port),
        "--workers", "1", "--log-level", "warning", "--no-access-log", "--ws", "websockets-sansio",
    ]


def _die_with_parent() -> None:
    """In the child: if the benchmark dies, so does its server (Linux), even one too busy for SIGTERM."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ServerProcess:
    """A server under test, started with `command(port)` and `env`, ready once `ready_path` answers 200."""

    def __init__(self, name: str, command: Callable[[int], list[str]], env: dict[str, str],
                 *, ready_path: str = "/healthz", cwd: Path = ROOT) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.ready_path = ready_path
        self.cwd = cwd
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._holding = False
        self._log: IO[bytes] | None = None  # the server's output: an unnamed file, gone when closed
        self._last_log = ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        hold_machine()
        self._holding = True
        self.port = free_port()
        self._log = tempfile.TemporaryFile(prefix=f"bench-{self.name}-")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(self.command(self.port), env=self.env, cwd=self.cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log is not None:
            self._last_log = self.log_tail()
            self._log.close()
            self._log = None
        if self._holding:
            self._holding = False
            release_machine()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output (after stop(), as it was when it stopped)."""
        if self._log is None:
            return self._last_log
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        # pread: the server shares this file's offset, so the reader must not move it.
        return os.pread(fd, chars, max(0, size - chars)).decode(errors="replace")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process (all its threads) has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class Listener:
    """One websocket that timestamps the first arrival of every marker."""

    def __init__(self, url: str, extract: Extract, *, headers: dict[str, str] | None = None,
                 handshake: Handshake | None = None) -> None:
        self.url = url
        self.extract = extract
        self.headers = headers or {}
        self.handshake = handshake
        self.arrivals: dict[str, float] = {}
        self.error: BaseException | None = None
        self._conn: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._conn = await connect(self.url, additional_headers=self.headers, max_size=None, open_timeout=10)
        if self.handshake is not None:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await self.handshake(self._conn)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._conn is not None:
            await self._conn.close()

    async def _read(self) -> None:
        assert self._conn is not None
        try:
            async for raw in self._conn:
                now = time.perf_counter()
                marker = self.extract(json.loads(raw))
                if marker is not None:
                    self.arrivals.setdefault(marker, now)
                    self._arrived.set()
        except Exception as exc:  # noqa: BLE001 - reported by the phase that notices it
            self.error = exc
            self._arrived.set()

    async def wait_for(self, markers: set[str]) -> None:
        """Return once every marker has arrived or the socket failed (bound it with asyncio.timeout)."""
        while self.error is None and not markers <= self.arrivals.keys():
            self._arrived.clear()
            await self._arrived.wait()


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    clients: int = 32          # closed loop: concurrent posters; open loop: the connection cap
    rate: float | None = None  # messages/s on a fixed schedule (open loop); None = closed loop
    drain_seconds: float = 10.0


@dataclass(frozen=True)
class PhaseResult:
    name: str
    mode: str
    target_rate: float | None
    clients: int
    seconds: float
    posted: int
    errors: int
    delivered: int
    lost: int
    throughput: float     # messages that reached the websocket within the phase, per second
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    ack_p50_ms: float | None  # until the HTTP answer (the commit), for comparison with the websocket
    ack_p99_ms: float | None
    server_cpu: float     # server CPU seconds per wall second during the load (1.0 = one core)
    loadgen_cpu: float    # the same for this process, to show the generator was not the limit
    other_cpu: float      # the same for everything else on the machine (noise from neighbours)
    server_cpu_ms_per_msg: float | None  # server CPU per accepted message: steadier than rates on a busy box
    first_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> bool:
        """Nothing usable: no message got through, or the websocket died."""
        return self.delivered == 0 or (self.first_error or "").startswith("websocket:")


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


_phase_ids = itertools.count(1)


async def run_phase(server: ServerProcess, listener: Listener, post: Post, phase: Phase) -> PhaseResult:
    """Post for `phase.seconds`, then wait up to `drain_seconds` for the last markers to arrive."""
    prefix = f"p{next(_phase_ids)}x{os.getpid()}"
    seq = itertools.count()
    due: dict[str, float] = {}
    acked: dict[str, float] = {}
    outcome = {"posted": 0, "errors": 0}
    first_error: list[str] = []

    async with http1.Client(HOST, server.port, phase.clients) as client:

        async def one(marker: str, at: float) -> None:
            due[marker] = at
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await post(client, marker)
                acked[marker] = time.perf_counter()
                outcome["posted"] += 1
            except Exception as exc:  # noqa: BLE001 - counted, and the first one is reported
                outcome["errors"] += 1
                if not first_error:
                    first_error.append(f"{exc.__class__.__name__}: {exc}")

        cpu0, gen0, all0 = server.cpu_seconds(), time.process_time(), busy_cpu_seconds()
        start = time.perf_counter()
        end = start + phase.seconds
        if phase.rate is None:

            async def closed_loop() -> None:
                while time.perf_counter() < end:
                    await one(f"{prefix}-{next(seq)}", time.perf_counter())

            await asyncio.gather(*(closed_loop() for _ in range(phase.clients)))
        else:
            tasks: list[asyncio.Task[None]] = []
            for i in itertools.count():
                at = start + i / phase.rate
                if at >= end:
                    break
                if (delay := at - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(f"{prefix}-{next(seq)}", at)))
            await asyncio.gather(*tasks)
        stopped = time.perf_counter()
        cpu1, gen1, all1 = server.cpu_seconds(), time.process_time(), busy_cpu_seconds()

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(phase.drain_seconds):
            await listener.wait_for(set(due))
    if listener.error is not None:
        first_error.insert(0, f"websocket: {listener.error!r}")
    arrived = {m: listener.arrivals[m] for m in due if m in listener.arrivals}
    latencies = sorted((arrived[m] - due[m]) * 1000 for m in arrived)
    ack_latencies = sorted((acked[m] - due[m]) * 1000 for m in acked)
    in_window = sum(1 for t in arrived.values() if t <= end)
    busy = stopped - start
    return PhaseResult(
        name=phase.name,
        mode="closed" if phase.rate is None else "open",
        target_rate=phase.rate,
        clients=phase.clients,
        seconds=phase.seconds,
        posted=outcome["posted"],
        errors=outcome["errors"],
        delivered=len(arrived),
        lost=len(due) - len(arrived),
        throughput=in_window / phase.seconds,
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else None,
        ack_p50_ms=percentile(ack_latencies, 50),
        ack_p99_ms=percentile(ack_latencies, 99),
        server_cpu=(cpu1 - cpu0) / busy,
        loadgen_cpu=(gen1 - gen0) / busy,
        other_cpu=max(0.0, (all1 - all0) - (cpu1 - cpu0) - (gen1 - gen0)) / busy,
        server_cpu_ms_per_msg=(cpu1 - cpu0) * 1000 / outcome["posted"] if outcome["posted"] else None,
        first_error=first_error[0] if first_error else None,
    )


@contextmanager
def py_spy(server: ServerProcess, output: Path, *, seconds: float | None = None, gil: bool = False) -> Iterator[None]:
    """py-spy records the server (raw, for bench.spy_summary) for `seconds`, or until the block ends.
    It is the venv's (`pip install py-spy`) or the one on PATH."""
    import shutil
    import signal

    exe = Path(sys.executable).parent / "py-spy"
    found = str(exe) if exe.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    assert server.proc is not None
    output.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen([found, "record", "--pid", str(server.proc.pid), "--format", "raw", "--rate", "250",
                            "--threads", "--nonblocking", "--output", str(output),
                            *(["--duration", str(int(seconds))] if seconds is not None else []),
                            *(["--gil"] if gil else [])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        if seconds is None:
            spy.send_signal(signal.SIGINT)  # it writes what it has, then exits
        spy.wait(30)


def run_async(main: Awaitable[Any]) -> Any:
    """Run the load generator on uvloop when it is installed (it is with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)  # type: ignore[arg-type]


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the admin URL's server for this run; dropped afterwards."""
    import uuid

    import psycopg

    name = f"hub_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
