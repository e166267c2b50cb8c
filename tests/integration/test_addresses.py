"""IPv6 and unix-socket listeners and backends."""

import pytest

from support import echo_handler, echo_round_trip


@pytest.mark.parametrize("listen_kind,backend_kind",
                         [("ipv6", "ipv6"), ("unix", "unix"), ("ipv4", "unix"), ("unix", "ipv6")])
def test_listener_and_backend_address_kinds(tlsgate, backend, shortdir, listen_kind,
                                            backend_kind):
    be_addr = {"ipv4": ("127.0.0.1", 0), "ipv6": ("::1", 0),
               "unix": str(shortdir / "be.sock")}[backend_kind]
    listen = {"ipv4": "127.0.0.1:0", "ipv6": "[::1]:0",
              "unix": f"unix:{shortdir / 'gw.sock'}"}[listen_kind]
    be = backend(echo_handler, be_addr)
    gate = tlsgate([{"name": "svc", "listen": listen, "backend": be.address}])
    addr = gate.address("svc")
    if listen_kind == "unix":
        assert addr == str(shortdir / "gw.sock")
    else:
        assert addr[0] == ("::1" if listen_kind == "ipv6" else "127.0.0.1") and addr[1] > 0
    echo_round_trip(addr, f"{listen_kind} -> {backend_kind}\n".encode())
    assert be.accepted == 1
