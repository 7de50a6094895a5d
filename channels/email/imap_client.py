"""One IMAP connection (aioimaplib), its failures in our own terms.

Vendor I/O only: connect (implicit TLS, STARTTLS or plain), log in, select a folder, list the
UIDs above a cursor, fetch messages by UID without marking them read (`BODY.PEEK[]`), wait for
news with IDLE. aioimaplib's exceptions, `ssl` and socket errors become `ImapError`s here, each
saying what went wrong (`channels.email.diagnose` turns them into words for an admin).
A dropped connection fails the pending command at once (`ConnectionLost`), not after a timeout.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aioimaplib

from channels.email.charsets import one_line
from channels.email.settings import ImapServer

T = TypeVar("T")

_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(.*\{(\d+)\}$", re.DOTALL)
_UID = re.compile(rb"UID (\d+)")
_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT) (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS$")
# `(\HasNoChildren \Sent) "/" "Sent Items"` (aioimaplib drops the leading "* LIST ").
_LIST = re.compile(rb'^(?:LIST )?\(([^)]*)\) (?:NIL|"(?:[^"\\]|\\.)*") (.+)$')


class ImapError(Exception):
    """The IMAP server or the network failed us; `words` are the server's or the system's."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = one_line(words)[:500]


class Unreachable(ImapError):
    """No connection: refused, no route, or nobody answered in time."""


class UnknownHost(Unreachable):
    """The host name does not resolve."""


class TlsFailed(ImapError):
    """The TLS handshake failed (a plain port, an untrusted certificate)."""


class StartTlsMissing(ImapError):
    """STARTTLS was asked for and the server does not offer it."""


class NotImap(ImapError):
    """Something answered, but not as an IMAP server does."""


class LoginRefused(ImapError):
    """The server refused the user name or the password."""


class FolderMissing(ImapError):
    """The folder to watch does not exist (or may not be opened)."""


class ConnectionLost(ImapError):
    """The connection dropped (a server restart, a network loss)."""


@dataclass(frozen=True)
class Folder:
    uidvalidity: int
    uidnext: int | None
    exists: int


class ImapSession:
    """Opened with `open()`, closed with `close()` (idempotent, never raises)."""

    def __init__(self, server: ImapServer) -> None:
        self.server = server
        self.client: aioimaplib.IMAP4 | None = None
        self._lost: asyncio.Future[BaseException | None] | None = None

    @property
    def idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    async def open(self) -> None:
        """Connect and log in."""
        server = self.server
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        context = None
        if server.tls or server.starttls:
            context = ssl.create_default_context()
            if server.ca_file:
                context.load_verify_locations(server.ca_file)
        try:
            self.client = aioimaplib.IMAP4(
                host=server.host, port=server.port, timeout=server.timeout_seconds,
                conn_lost_cb=self._connection_lost, ssl_context=context if server.tls else None)
            await self.client.wait_hello_from_server()
            if server.starttls:
                assert context is not None
                await self._starttls(context)
        except ImapError:
            raise
        except BaseException as exc:
            raise _mapped(exc, server) from exc
        response = await self._call(self.client.login(server.username, server.password))
        if response.result != "OK":
            raise LoginRefused(_said(response) or "login refused")

    async def _starttls(self, context: ssl.SSLContext) -> None:
        assert self.client is not None
        protocol = self.client.protocol
        if not self.client.has_capability("STARTTLS"):
            raise StartTlsMissing(f"{self.server.host}:{self.server.port} does not offer STARTTLS")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await self._call(protocol.execute(command))
        if response.result != "OK":
            raise TlsFailed(_said(response) or "STARTTLS refused")
        transport = await protocol.loop.start_tls(protocol.transport, protocol, context,
                                                  server_hostname=self.server.host)
        protocol.transport = transport
        await self._call(protocol.capability())  # RFC 3501: capabilities may change after TLS

    async def select(self, folder: str) -> Folder:
        assert self.client is not None
        response = await self._call(self.client.select(_quoted(folder)))
        if response.result != "OK":
            raise FolderMissing(_said(response) or f"no folder {folder}")
        codes: dict[bytes, int] = {}
        exists = 0
        for line in response.lines:
            if isinstance(line, bytes | bytearray):
                for name, value in _CODE.findall(bytes(line)):
                    codes[name] = int(value)
                found = _EXISTS.match(bytes(line))
                if found:
                    exists = int(found.group(1))
        if b"UIDVALIDITY" not in codes:
            raise NotImap(f"SELECT {folder} gave no UIDVALIDITY")
        return Folder(codes[b"UIDVALIDITY"], codes.get(b"UIDNEXT"), exists)

    async def uids_after(self, last: int) -> list[int]:
        """The UIDs above `last`, ascending."""
        assert self.client is not None
        response = await self._call(self.client.uid_search(f"UID {last + 1}:*", charset=None))
        if response.result != "OK":
            raise ImapError(_said(response) or "UID SEARCH failed")
        uids: set[int] = set()
        for line in response.lines[:-1]:  # the last is the tagged answer's text
            # aioimaplib hands "* SEARCH 1 2" over as b"1 2" (some versions keep the word).
            numbers = [n for n in bytes(line).split() if n != b"SEARCH"]
            if numbers and all(n.isdigit() for n in numbers):
                uids.update(int(n) for n in numbers)
        # "n:*" always includes the highest UID, even when it is below n (RFC 3501 6.4.8).
        return sorted(u for u in uids if u > last)

    async def fetch(self, uids: Sequence[int]) -> list[tuple[int, bytes]]:
        """The messages with these UIDs (those still there), ascending by UID; not marked read."""
        assert self.client is not None
        if not uids:
            return []
        response = await self._call(self.client.uid("fetch", _uid_set(uids), "(UID BODY.PEEK[])"))
        if response.result != "OK":
            raise ImapError(_said(response) or "UID FETCH failed")
        found: dict[int, bytes] = {}
        lines = response.lines
        for i, line in enumerate(lines):
            if not isinstance(line, bytes) or i + 1 >= len(lines):
                continue
            head = _FETCH_HEAD.match(line)
            if head is None or not isinstance(lines[i + 1], bytearray):
                continue
            uid = _UID.search(line) or (_UID.search(lines[i + 2]) if i + 2 < len(lines) else None)
            if uid is not None:
                found[int(uid.group(1))] = bytes(lines[i + 1])
        wanted = set(uids)
        return sorted((uid, raw) for uid, raw in found.items() if uid in wanted)

    async def wait_for_news(self, seconds: float) -> None:
        """Returns when the folder may have changed (IDLE saw EXISTS), or after `seconds`."""
        assert self.client is not None and self._lost is not None
        if not self.idle:
            await asyncio.wait({self._lost}, timeout=seconds)
            self._raise_if_lost()
            return
        client = self.client
        idle = await self._call(client.idle_start(timeout=seconds))
        try:
            while True:
                push = await self._call(client.wait_server_push(timeout=seconds + 30))
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(isinstance(line, bytes) and line.endswith(b"EXISTS") for line in push):
                    break
        except TimeoutError:
            pass  # the server went quiet past its own renewal: read the folder again anyway
        finally:
            if not self._lost.done():
                client.idle_done()
        await self._call(asyncio.wait_for(idle, self.server.timeout_seconds))

    async def append(self, raw: bytes, folder: str, *, seen: bool = False) -> None:
        """Add a message to a folder (a copy of a sent mail to Sent, marked read; tests and the
        benchmark fill mailboxes with it)."""
        assert self.client is not None
        flags = r"(\Seen)" if seen else None
        response = await self._call(self.client.append(raw, mailbox=_quoted(folder), flags=flags))
        if response.result != "OK":
            raise ImapError(_said(response) or "APPEND failed")

    async def folders(self) -> list[tuple[frozenset[str], str]]:
        """Every folder: its attributes (lower case, e.g. "\\sent", RFC 6154's special uses
        included when the server offers SPECIAL-USE) and its name as the server spells it."""
        assert self.client is not None
        protocol = self.client.protocol
        args = ['""', '"*"'] + (["RETURN", "(SPECIAL-USE)"] if self.client.has_capability("SPECIAL-USE") else [])
        command = aioimaplib.Command("LIST", protocol.new_tag(), *args, loop=protocol.loop)
        response = await self._call(protocol.execute(command))
        if response.result != "OK":
            raise ImapError(_said(response) or "LIST failed")
        found = []
        for line in response.lines[:-1]:
            listed = _LIST.match(bytes(line)) if isinstance(line, bytes | bytearray) else None
            if listed is not None:
                flags = frozenset(f.lower() for f in listed.group(1).decode("ascii", "replace").split())
                found.append((flags, _unquoted(listed.group(2).decode("utf-8", "replace"))))
        return found

    async def uids_with_header(self, name: str, value: str) -> list[int]:
        """The UIDs in the selected folder whose header `name` contains `value`."""
        assert self.client is not None
        response = await self._call(self.client.uid_search(f"HEADER {name} {_quoted(value)}", charset=None))
        if response.result != "OK":
            raise ImapError(_said(response) or "UID SEARCH failed")
        return sorted({int(n) for line in response.lines[:-1] for n in bytes(line).split() if n.isdigit()})

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if self._lost is not None and not self._lost.done():
                await asyncio.wait_for(client.logout(), 2)
        except BaseException:  # noqa: BLE001  (closing: nothing to tell anyone)
            pass
        finally:
            transport = client.protocol.transport
            if transport is not None:
                transport.close()

    def _connection_lost(self, exc: BaseException | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(exc)

    def _raise_if_lost(self) -> None:
        if self._lost is not None and self._lost.done():
            exc = self._lost.result()
            raise ConnectionLost(f"connection to {self.server.host}:{self.server.port} lost"
                                 + (f": {exc}" if exc else ""))

    async def _call(self, step: Awaitable[T]) -> T:
        """`step`, failed at once with `ConnectionLost` if the connection drops meanwhile."""
        assert self._lost is not None
        task = asyncio.ensure_future(step)
        either: set[asyncio.Future[Any]] = {task, self._lost}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            self._raise_if_lost()
        try:
            return task.result()
        except ImapError:
            raise
        except Exception as exc:
            self._raise_if_lost()
            raise _mapped(exc, self.server) from exc


def _mapped(exc: BaseException, server: ImapServer) -> BaseException:
    where = f"{server.host}:{server.port}"
    if isinstance(exc, socket.gaierror):
        return UnknownHost(f"{server.host}: {exc.strerror or exc}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TlsFailed(f"TLS with {where}: {exc}")
    if isinstance(exc, TimeoutError | aioimaplib.CommandTimeout):
        return Unreachable(f"{where} did not answer in {server.timeout_seconds:g} s")
    if isinstance(exc, ConnectionError | OSError):
        return Unreachable(f"{where}: {exc.strerror or exc}" if isinstance(exc, OSError) else f"{where}: {exc}")
    if isinstance(exc, aioimaplib.Error | aioimaplib.AioImapException):
        return NotImap(f"{where}: {exc}")
    if isinstance(exc, Exception):
        return ImapError(f"{where}: {type(exc).__name__}: {exc}")
    return exc  # CancelledError and friends go through untouched


def _said(response: Any) -> str:
    """The server's words in a tagged NO/BAD answer."""
    lines = [bytes(line) for line in response.lines if isinstance(line, bytes | bytearray)]
    return one_line(lines[-1].decode("utf-8", "replace")) if lines else ""


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquoted(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name


def _uid_set(uids: Sequence[int]) -> str:
    """Compact "1:5,9,12:14" (UIDs ascending)."""
    ranges: list[str] = []
    ordered = sorted(uids)
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        ranges.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    ranges.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(ranges)
