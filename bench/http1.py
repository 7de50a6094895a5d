"""A minimal HTTP/1.1 client for generating load: persistent keep-alive connections over asyncio
streams, nothing else (no TLS, no redirects, no cookies, no HTTP/2).

Why not httpx: on the benchmark machine httpx.AsyncClient spent 1.6-2.6 ms of CPU per request
(about 0.03 ms here), so one generator core would have topped out near 400 requests/s and the
benchmark would have measured the client, not the server. bench/README.md has the figures.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection, (re)opened on demand; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        try:
            self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            response = await self._read_response(self._reader)
        except BaseException:
            await self.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            await self.close()
        return response

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> Response:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            body = b"".join(chunks)
        else:
            body = await reader.read()
        return Response(status, headers, body)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


class Client:
    """Up to `connections` keep-alive connections; a request waits for a free one."""

    def __init__(self, host: str, port: int, connections: int) -> None:
        self._all = [Connection(host, port) for _ in range(connections)]
        self._free: asyncio.Queue[Connection] = asyncio.Queue()
        for conn in self._all:
            self._free.put_nowait(conn)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Response:
        conn = await self._free.get()
        try:
            return await conn.request(method, path, body, headers)
        finally:
            self._free.put_nowait(conn)

    async def post_json(self, path: str, data: Any, headers: dict[str, str] | None = None) -> Response:
        return await self.request("POST", path, json.dumps(data).encode(),
                                  {"Content-Type": "application/json", **(headers or {})})

    async def post_form(self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Response:
        return await self.request("POST", path, urlencode(fields).encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    async def aclose(self) -> None:
        for conn in self._all:
            await conn.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
