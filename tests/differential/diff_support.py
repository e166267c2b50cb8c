"""Shared by the differential tests that talk to a real daemon over sockets (IMAP, POP3):
filter_probe (tests/differential/filter_probe.cpp) as an asyncio subprocess."""

import asyncio
import os
import random
import time
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


async def wait_for(changed: asyncio.Event, pred, timeout):
    """Waits until pred() holds, re-checking whenever `changed` is set; False after
    `timeout` seconds without it."""
    deadline = time.monotonic() + timeout
    while True:
        changed.clear()
        if pred():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            await asyncio.wait_for(changed.wait(), left)
        except asyncio.TimeoutError:
            return pred()


async def read_daemon(reader, on_line, after):
    """Reads the daemon until it closes: on_line(line) for each complete line (LF removed),
    then `await after(data)` for each read. Returns True when the connection was reset (the
    daemon closed with client bytes unread: what it sent last may be lost)."""
    pending = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                return False
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                on_line(line)
            await after(data)
    except ConnectionError:
        return True


async def finish_connection(writer, reader_task, probe, sid):
    """Closes the daemon connection, stops its reader and forgets filter `sid`."""
    writer.close()
    reader_task.cancel()
    try:
        await reader_task
    except (asyncio.CancelledError, ConnectionError):
        pass
    await probe.call("D", sid)


def run_all(probe_path, run_one, streams, concurrency, deadline=None, max_failures=10):
    """Runs streams (an iterable) through `await run_one(probe, sid, stream)` (an outcome
    with .problems), `concurrency` at a time, until they run out, `deadline` passes or
    max_failures failed; returns (outcomes, failures, probe calls)."""
    async def main():
        probe = Probe(probe_path)
        await probe.start()
        it = iter(streams)
        done, failures = [], []
        sid = 0

        async def worker():
            nonlocal sid
            while len(failures) < max_failures:
                if deadline is not None and time.monotonic() > deadline:
                    return
                try:
                    s = next(it)
                except StopIteration:
                    return
                sid += 1
                o = await run_one(probe, sid, s)
                done.append(o)
                if o.problems:
                    failures.append(o)

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await probe.stop()
        return done, failures, probe.calls

    return asyncio.run(main())


def fail_report(failures):
    return "\n\n".join(f.report() for f in failures[:5])


def run_generated(name, probe_path, run_one, generated, describe):
    """The random part of a differential test: streams generated(seed, index) for
    DIFF_BUDGET_SECONDS (default 30), DIFF_SEED (default random), DIFF_ONLY (one index),
    DIFF_CONCURRENCY (default 16), DIFF_MAX_FAILURES (default 10). Prints a summary (with
    describe(outcomes): the protocol's own counts) and fails with the first failures."""
    budget = float(os.environ.get("DIFF_BUDGET_SECONDS", "30"))
    seed = int(os.environ.get("DIFF_SEED", str(random.SystemRandom().randrange(1 << 32))))
    only = os.environ.get("DIFF_ONLY")
    concurrency = int(os.environ.get("DIFF_CONCURRENCY", "16"))
    max_failures = int(os.environ.get("DIFF_MAX_FAILURES", "10"))
    indices = iter([int(only)]) if only is not None else iter(range(1 << 62))
    streams = (generated(seed, i) for i in indices)
    start = time.monotonic()
    done, failures, calls = run_all(probe_path, run_one, streams, concurrency,
                                    deadline=start + budget, max_failures=max_failures)
    elapsed = time.monotonic() - start
    endings, kinds = {}, {}
    for o in done:
        endings[o.ending] = endings.get(o.ending, 0) + 1
    for o in failures:
        for p in o.problems:
            k = p.split(":", 1)[0]
            kinds[k] = kinds.get(k, 0) + 1
    print(f"\n{name}: seed={seed} streams={len(done)} in {elapsed:.1f}s "
          f"({len(done) / max(elapsed, 1e-9):.0f} streams/s), "
          f"{sum(len(o.stream.data) for o in done)} client bytes, {calls} probe calls, "
          f"{sum(len(o.forwarded) for o in done)} commands forwarded, {describe(done)}, "
          f"endings {endings}, failures {len(failures)} {kinds}")
    assert done, "no stream ran"
    assert not failures, (f"filter and Dovecot disagree (seed={seed}; reproduce one with "
                          f"DIFF_SEED={seed} DIFF_ONLY=<index>):\n" + fail_report(failures))
