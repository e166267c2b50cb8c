#!/usr/bin/env python3
"""A minimal plaintext SMTP server for the TLS scan: answers the 220 greeting, EHLO/HELO,
NOOP, RSET and QUIT, and 502 to anything else. It never relays mail; testssl only needs a
server behind tlsgate's STARTTLS.

    smtp_backend.py PORT     # listens on 127.0.0.1:PORT until killed
"""
import asyncio
import sys


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 backend.localhost ESMTP tlsscan test backend\r\n")
    try:
        while True:
            await writer.drain()
            line = await reader.readline()
            if not line:
                break
            verb = line.strip().split(b" ", 1)[0].upper()
            if verb == b"EHLO":
                writer.write(b"250-backend.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10240000\r\n")
            elif verb == b"HELO":
                writer.write(b"250 backend.localhost\r\n")
            elif verb in (b"NOOP", b"RSET"):
                writer.write(b"250 OK\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 Bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 Command not implemented\r\n")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
