"""Shared by the differential tests that talk to a real daemon over sockets (IMAP, POP3):
filter_probe (tests/differential/filter_probe.cpp) as an asyncio subprocess."""

import asyncio
from dataclasses import dataclass


@dataclass
class Actions:
    close: bool
    start_tls: bool
    to_backend: bytes
    to_client: bytes
    commands: list  # (offset, verb)


class Probe:
    """filter_probe as a subprocess; one request at a time, many filters by id."""

    def __init__(self, path):
        self.path = path
        self.proc = None
        self.lock = asyncio.Lock()
        self.calls = 0

    async def start(self):
        self.proc = await asyncio.create_subprocess_exec(
            str(self.path), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)

    async def call(self, kind, sid, arg=None, body=None):
        # Shielded: a caller cancelled between request and answer must not leave the answer
        # in the pipe for the next request to read.
        return await asyncio.shield(self._call(kind, sid, arg, body))

    async def _call(self, kind, sid, arg, body):
        header = f"{kind} {sid}"
        if body is not None:
            header += f" {len(body)}"
        elif arg is not None:
            header += f" {arg}"
        async with self.lock:
            self.calls += 1
            self.proc.stdin.write(header.encode() + b"\n" + (body or b""))
            await self.proc.stdin.drain()
            out = self.proc.stdout
            line = await out.readline()
            if not line:
                rc = await self.proc.wait()
                raise AssertionError(f"filter_probe died (exit {rc}) on request {header!r} "
                                     f"body {body!r}")
            f = line.split()
            assert f[0] == b"A" and int(f[1]) == sid, f"probe answered {line!r} to {header!r}"
            tb = await out.readexactly(int(f[4]))
            tc = await out.readexactly(int(f[5]))
            cmds = []
            for _ in range(int(f[6])):
                off = int((await out.readuntil(b" "))[:-1])
                vlen = int((await out.readuntil(b" "))[:-1])
                verb = (await out.readexactly(vlen + 1))[:-1]
                cmds.append((off, verb.decode("latin-1")))
            return Actions(f[2] == b"1", f[3] == b"1", tb, tc, cmds)

    async def stop(self):
        if self.proc and self.proc.returncode is None:
            self.proc.stdin.close()
            await self.proc.wait()
