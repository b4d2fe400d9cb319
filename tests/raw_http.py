"""Raw HTTP/1.1 over a real socket, for tests that must control what a server is sent
and see exactly when it answers (a body sent piece by piece, or never)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


async def connect(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    netloc = urlsplit(base).netloc
    host, port = netloc.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    return reader, writer, netloc


async def read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1])


class Upload:
    """A POST on its own connection whose body the test sends piece by piece."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.sent = 0

    @classmethod
    async def start(cls, base: str, path: str, headers: dict[str, str]) -> Upload:
        reader, writer, netloc = await connect(base)
        lines = [f"POST {path} HTTP/1.1", f"Host: {netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        return cls(reader, writer)

    async def send(self, data: bytes, *, chunked: bool = False) -> None:
        framed = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
        self.writer.write(framed)
        await self.writer.drain()
        self.sent += len(data)

    async def stream(self, body: bytes, *, chunked: bool = False) -> None:
        """Send `body` in 64 KiB pieces until it is all sent or the server hangs up."""
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(body), 64 * 1024):
                await self.send(body[start : start + 64 * 1024], chunked=chunked)

    async def status(self) -> int:
        return await read_status(self.reader)

    def close(self) -> None:
        self.writer.close()


async def healthz(base: str) -> int:
    reader, writer, netloc = await connect(base)
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {netloc}\r\n\r\n".encode())
        await writer.drain()
        return await read_status(reader)
    finally:
        writer.close()
