"""Access to the real services tests use: fresh PostgreSQL databases, Redis key prefixes, free ports.

On a laptop a missing service skips its tests with a clear message; in CI (CI=true) it fails them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable ({exc.__class__.__name__}: {exc})"
    if IN_CI:
        pytest.fail(f"{message}; CI needs it", pytrace=False)
    pytest.skip(f"{message}; start it to run these tests")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_connect(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this run; dropped afterwards."""
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = _pg_connect(PG_ADMIN_URL)
    except Exception as exc:  # noqa: BLE001
        service_missing("PostgreSQL at " + PG_ADMIN_URL, exc)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_connect(PG_ADMIN_URL) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_prefix_or_skip() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        service_missing("Redis at " + REDIS_URL, exc)
    return f"hubtest:{uuid.uuid4().hex[:10]}:"


def clear_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()
