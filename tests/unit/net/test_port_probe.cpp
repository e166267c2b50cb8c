#include "tlsgate/net/port_probe.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using tlsgate::net::Address;
using tlsgate::net::parse_address;
using tlsgate::net::refuse_if_listened_on;

namespace {

// A loopback socket on a port the kernel chose; listening or only bound.
struct Socket {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;
    Socket(bool reuse_port, bool listen) {
        const int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuse_port) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        }
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        if (listen) {
            REQUIRE(::listen(fd, 8) == 0);
        }
        socklen_t length = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
        port = ntohs(a.sin_port);
    }
    ~Socket() { ::close(fd); }
    Address address(const char* host = "127.0.0.1") const {
        return parse_address(fmt::format("{}:{}", host, port), true).value();
    }
};

} // namespace

TEST_CASE("a port another socket listens on is refused, with or without SO_REUSEPORT",
          "[port_probe]") {
    for (bool reuse_port : {true, false}) {
        Socket listening(reuse_port, true);
        auto probed = refuse_if_listened_on(listening.address());
        REQUIRE_FALSE(probed);
        CHECK(probed.error().message ==
              fmt::format("cannot bind 127.0.0.1:{}: address already in use", listening.port));
        CHECK_FALSE(refuse_if_listened_on(listening.address("0.0.0.0")));
    }
}

TEST_CASE("a port nobody listens on passes, as do port 0 and unix sockets", "[port_probe]") {
    Socket bound_only(true, false); // bound with SO_REUSEADDR, not listening
    CHECK(refuse_if_listened_on(bound_only.address()));
    CHECK(refuse_if_listened_on(parse_address("127.0.0.1:0", true).value()));
    CHECK(refuse_if_listened_on(parse_address("unix:/tmp/tlsgate-probe.sock", true).value()));
}
