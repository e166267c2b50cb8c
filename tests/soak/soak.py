#!/usr/bin/env python3
"""Soak test (opt-in): thousands of concurrent connections for a long time, mixing good
sessions whose payloads are checksummed end to end with misbehaving clients (resets in the
handshake and mid-relay, garbage instead of a ClientHello, slowloris, clients that never
read, silent clients). Reports connections served, errors seen by good sessions (must be 0),
tlsgate's RSS and descriptor count over time, and the descriptor count at the end compared
with the idle baseline.

    tests/soak/soak.py --tlsgate build/tlsgate --duration 600 --good 2500 --bad 200
"""

import argparse
import asyncio
import hashlib
import os
import random
import resource
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Stats:
    def __init__(self):
        self.sessions = 0
        self.exchanges = 0
        self.bytes = 0
        self.errors = []
        self.faults = {}


async def good_session(addr, ctx, stats, deadline, rng):
    """Persistent connection: checksummed echo exchanges with pauses, then close_notify."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*addr, ssl=ctx, server_hostname="localhost"), 30)
        except Exception as e:  # noqa: BLE001 - every failure of a good session counts
            stats.errors.append(f"connect: {e!r}")
            await asyncio.sleep(1)
            continue
        try:
            for _ in range(rng.randint(1, 20)):
                # bench/backend picks its mode from a connection's first byte ('S' sink,
                # 'R' source); anything else, like this 'E', makes it echo.
                payload = b"E" + rng.randbytes(rng.choice([64, 512, 4096, 65536]) - 1)
                writer.write(payload)
                await writer.drain()
                got = await asyncio.wait_for(reader.readexactly(len(payload)), 60)
                if hashlib.sha256(got).digest() != hashlib.sha256(payload).digest():
                    stats.errors.append("checksum mismatch")
                stats.exchanges += 1
                stats.bytes += 2 * len(payload)
                await asyncio.sleep(rng.uniform(0.1, 3.0))
                if time.monotonic() >= deadline:
                    break
            stats.sessions += 1
        except Exception as e:  # noqa: BLE001
            stats.errors.append(f"exchange: {e!r}")
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 10)
            except Exception:  # noqa: BLE001 - the server may close first; not an error
                pass


def rst(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def bad_client(addr, ctx, stats, deadline, rng):
    loop = asyncio.get_running_loop()
    while time.monotonic() < deadline:
        fault = rng.choice(["rst_handshake", "garbage", "slowloris", "never_reads",
                            "rst_relay", "silent"])
        stats.faults[fault] = stats.faults.get(fault, 0) + 1
        try:
            if fault in ("rst_handshake", "garbage", "slowloris", "silent"):
                sock = socket.socket()
                sock.setblocking(False)
                await loop.sock_connect(sock, addr)
                if fault == "rst_handshake":
                    await loop.sock_sendall(sock, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                    rst(sock)
                    continue
                if fault == "garbage":
                    await loop.sock_sendall(sock, rng.randbytes(300))
                elif fault == "slowloris":
                    for byte in b"\x16\x03\x01\x00\xff\x01\x00":
                        await loop.sock_sendall(sock, bytes([byte]))
                        await asyncio.sleep(1)
                else:
                    await asyncio.sleep(rng.uniform(1, 8))
                sock.close()
            else:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*addr, ssl=ctx, server_hostname="localhost"), 30)
                if fault == "never_reads":
                    # Ask for 2 MiB of echo and never read it.
                    writer.write(rng.randbytes(2 << 20))
                    await asyncio.sleep(rng.uniform(2, 10))
                else:
                    writer.write(rng.randbytes(100_000))
                    await asyncio.sleep(0.05)
                rst(writer.get_extra_info("socket").dup())
                writer.transport.abort()
        except Exception:  # noqa: BLE001 - misbehaving clients may fail any way they like
            pass
        await asyncio.sleep(rng.uniform(0, 0.5))


async def sampler(pid, stats, deadline, samples):
    start = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((round(time.monotonic() - start), rss_kib(pid), fd_count(pid),
                        stats.sessions, len(stats.errors)))
        print("t={}s rss={}KiB fds={} good_sessions={} errors={}".format(*samples[-1]),
              flush=True)
        await asyncio.sleep(30)


async def run(args, addr, pid):
    ctx = ssl.create_default_context(cafile=args.cafile)
    stats = Stats()
    samples = []
    deadline = time.monotonic() + args.duration
    rng = random.Random(args.seed)
    tasks = [good_session(addr, ctx, stats, deadline, random.Random(rng.random()))
             for _ in range(args.good)]
    tasks += [bad_client(addr, ctx, stats, deadline, random.Random(rng.random()))
              for _ in range(args.bad)]
    tasks.append(sampler(pid, stats, deadline, samples))
    await asyncio.gather(*tasks)
    return stats, samples


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tlsgate", default=str(REPO / "build" / "tlsgate"))
    parser.add_argument("--duration", type=int, default=600)
    parser.add_argument("--good", type=int, default=2500)
    parser.add_argument("--bad", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = Path(tempfile.mkdtemp(prefix="tlsgate-soak."))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", work / "key.pem", "-out", work / "cert.pem"],
                   check=True, capture_output=True)
    args.cafile = str(work / "cert.pem")
    subprocess.run(["make", "-s", "-C", REPO / "bench"], check=True)
    backend = subprocess.Popen([REPO / "bench" / "build" / "backend"], stdout=subprocess.PIPE,
                               text=True)
    backend_port = int(backend.stdout.readline().split()[1])
    (work / "tlsgate.toml").write_text(f"""
[global]
workers = 0
log_level = "info"
[tls]
cert = "{work}/cert.pem"
key = "{work}/key.pem"
[[service]]
name = "soak"
listen = "127.0.0.1:0"
backend = "127.0.0.1:{backend_port}"
handshake_timeout = "5s"
idle_timeout = "60s"
""")
    log = open(work / "tlsgate.log", "w+")
    ports = work / "ports"
    gate = subprocess.Popen([args.tlsgate, "--config", work / "tlsgate.toml",
                             "--ports-file", ports], stderr=log)
    try:
        addr = None
        for _ in range(100):
            text = (work / "tlsgate.log").read_text()
            if "tlsgate ready" in text:
                # "soak 127.0.0.1:PORT", written once the listener is bound
                host, port = ports.read_text().split()[1].rsplit(":", 1)
                addr = (host, int(port))
                break
            time.sleep(0.1)
        assert addr, "tlsgate did not start:\n" + (work / "tlsgate.log").read_text()
        time.sleep(0.5)
        baseline_fds, baseline_rss = fd_count(gate.pid), rss_kib(gate.pid)
        print(f"soak: {args.good} good + {args.bad} misbehaving clients for {args.duration}s "
              f"against {addr}; idle fds={baseline_fds} rss={baseline_rss}KiB", flush=True)
        stats, samples = asyncio.run(run(args, addr, gate.pid))
        # Let the last timeouts fire (handshake 5 s), then compare with the baseline.
        end_fds = None
        for _ in range(30):
            time.sleep(1)
            end_fds = fd_count(gate.pid)
            if end_fds <= baseline_fds:
                break
        peak_rss = max(s[1] for s in samples)
        print("\n## Soak result")
        print(f"- duration: {args.duration} s; concurrent clients: {args.good} good + "
              f"{args.bad} misbehaving")
        print(f"- good sessions completed: {stats.sessions}; checksummed exchanges: "
              f"{stats.exchanges}; bytes echoed: {stats.bytes}")
        print(f"- misbehaving connections: {sum(stats.faults.values())} "
              f"({', '.join(f'{k}={v}' for k, v in sorted(stats.faults.items()))})")
        print(f"- errors seen by good sessions: {len(stats.errors)}"
              + (f" (first: {stats.errors[:5]})" if stats.errors else ""))
        print(f"- tlsgate RSS: idle {baseline_rss} KiB, peak {peak_rss} KiB, samples "
              + ", ".join(f"{t}s:{r}" for t, r, *_ in samples))
        print(f"- descriptors: idle {baseline_fds}, end {end_fds}")
        gate.send_signal(signal.SIGTERM)
        rc = gate.wait(30)
        print(f"- tlsgate exit status after SIGTERM: {rc}")
        ok = not stats.errors and end_fds <= baseline_fds and rc == 0
        print(f"soak: {1 if ok else 0} passed, {0 if ok else 1} failed")
        return 0 if ok else 1
    finally:
        if gate.poll() is None:
            gate.kill()
        backend.kill()


if __name__ == "__main__":
    sys.exit(main())
