"""Bytes through the proxy: bulk transfers, many concurrent connections, half-close and
back-pressure."""

import asyncio
import hashlib
import os
import socket
import time

import pytest

from daemon_support import listening_inodes
from support import (HalfCloseClient, client_context, prng_chunks, recv_exact, sha256_of_prng,
                     sink_handler, source_handler, tls_connect)

MiB = 1 << 20


def test_64mib_upload_arrives_intact(tlsgate, backend):
    sink = backend(sink_handler)
    gate = tlsgate([{"name": "up", "backend": sink.address}])
    client = HalfCloseClient(gate.address("up"))
    try:
        h = hashlib.sha256()
        for chunk in prng_chunks(64 * MiB, seed=11):
            client.sendall(chunk)
            h.update(chunk)
        client.shutdown_write()
        assert sink.wait_results(1, timeout=120) == [(64 * MiB, h.hexdigest())]
        assert client.read_to_close_notify() == b""
    finally:
        client.close()


def test_64mib_download_arrives_intact(tlsgate, backend):
    source = backend(source_handler(64 * MiB, seed=12))
    gate = tlsgate([{"name": "down", "backend": source.address}])
    h = hashlib.sha256()
    n = 0
    with tls_connect(gate.address("down"), timeout=60) as s:
        while True:
            b = s.recv(MiB)  # raises SSLEOFError if the stream ends without close_notify
            if not b:
                break
            h.update(b)
            n += len(b)
    assert (n, h.hexdigest()) == source.wait_results(1)[0]
    assert h.hexdigest() == sha256_of_prng(64 * MiB, 12)


def test_1000_concurrent_connections_echo_correctly(gate, echo):
    host, port = gate.address("echo")
    count, size = 1000, 16 * 1024
    ctx = client_context()

    async def main():
        connect_slots = asyncio.Semaphore(100)
        all_open = asyncio.Event()
        opened = 0

        async def one(i):
            nonlocal opened
            async with connect_slots:
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=ctx, server_hostname="localhost", ssl_handshake_timeout=60)
            opened += 1
            if opened == count:
                all_open.set()
            await all_open.wait()  # every connection is open at the same time
            payload = os.urandom(size)
            writer.write(payload)
            await writer.drain()
            got = await reader.readexactly(size)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 10)
            except (asyncio.TimeoutError, OSError):
                pass
            return got == payload

        results = await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True), 240)
        return results

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    wrong = [r for r in results if r is False]
    assert not errors and not wrong, \
        f"{len(errors)} connections failed (first: {errors[:3]!r}), {len(wrong)} echoed wrong data"
    assert echo.accepted >= count


@pytest.mark.parametrize("tcp_fin", [False, True], ids=["close_notify", "close_notify+fin"])
def test_client_half_close_keeps_receiving_reply(tlsgate, backend, tcp_fin):
    """The client sends everything, then shuts down its write side; the backend must see
    EOF after all the data, and its reply (sent only after that EOF) must still reach
    the client, followed by close_notify."""
    request_len, reply_len = 3 * MiB + 17, 2 * MiB + 5

    def handler(conn, b):
        h = hashlib.sha256()
        n = 0
        while True:
            data = conn.recv(MiB)
            if not data:
                break
            h.update(data)
            n += len(data)
        b.report((n, h.hexdigest()))
        for chunk in prng_chunks(reply_len, seed=22):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)

    be = backend(handler)
    gate = tlsgate([{"name": "hc", "backend": be.address}])
    client = HalfCloseClient(gate.address("hc"))
    try:
        request = b"".join(prng_chunks(request_len, seed=21))
        client.sendall(request)
        client.shutdown_write(tcp_fin=tcp_fin)
        got = be.wait_results(1, timeout=30)[0]
        assert got == (request_len, hashlib.sha256(request).hexdigest())
        reply = client.read_to_close_notify()
    finally:
        client.close()
    assert len(reply) == reply_len
    assert hashlib.sha256(reply).hexdigest() == sha256_of_prng(reply_len, 22)


def test_backend_half_close_delivers_all_data_then_close_notify(tlsgate, backend):
    size = 5 * MiB + 3

    def handler(conn, b):
        for chunk in prng_chunks(size, seed=31):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
        b.report("half-closed")
        conn.settimeout(10)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    be = backend(handler)
    gate = tlsgate([{"name": "bhc", "backend": be.address}])
    received = bytearray()
    with tls_connect(gate.address("bhc"), timeout=30) as s:
        while True:
            data = s.recv(MiB)  # SSLEOFError here = EOF without close_notify
            if not data:
                break
            received += data
    assert len(received) == size
    assert hashlib.sha256(received).hexdigest() == sha256_of_prng(size, 31)


def test_non_reading_client_exerts_backpressure_rss_bounded(tlsgate, backend):
    total = 256 * MiB
    source = backend(source_handler(total, seed=41))
    gate = tlsgate([{"name": "bp", "backend": source.address}])
    baseline = gate.rss_kib()
    s = tls_connect(gate.address("bp"))
    try:
        source.wait_accepted(1)
        # Wait until the backend's send is blocked: no progress for 2 s.
        last, still_since, deadline = -1, time.monotonic(), time.monotonic() + 60
        while time.monotonic() < deadline:
            sent = getattr(source, "sent", 0)
            if sent != last:
                last, still_since = sent, time.monotonic()
            elif time.monotonic() - still_since >= 2:
                break
            time.sleep(0.2)
        rss = gate.rss_kib()
        assert last < total, f"backend sent all {total} bytes to a client that never reads"
        assert time.monotonic() < deadline, "backend never stalled"
        growth_mib = (rss - baseline) / 1024
        assert growth_mib < 64, f"tlsgate RSS grew {growth_mib:.1f} MiB (backend sent " \
                                f"{last / MiB:.1f} MiB into a non-reading client)"
    finally:
        s.close()
    # The proxy notices the client went away and stays usable.
    gate.wait_for_log(r"conn=\d+ service=bp client=\S+ close ", timeout=10)


def test_multiple_workers_share_one_ephemeral_port(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}], global_={"workers": 2})
    # Both workers listen on the one port the first was given.
    assert len(listening_inodes(gate.port("echo"))) == 2
    addr = gate.address("echo")
    for i in range(50):
        payload = os.urandom(4096)
        with tls_connect(addr) as s:
            s.sendall(payload)
            assert recv_exact(s, len(payload)) == payload
