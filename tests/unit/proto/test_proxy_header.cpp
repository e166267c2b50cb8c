#include "tlsgate/proto/proxy_header.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <netinet/in.h>
#include <sys/un.h>

using tlsgate::proto::proxy_v1_header;

namespace {

sockaddr_storage v4(const char* ip, uint16_t port) {
    sockaddr_storage storage{};
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    REQUIRE(inet_pton(AF_INET, ip, &a->sin_addr) == 1);
    return storage;
}

sockaddr_storage v6(const char* ip, uint16_t port) {
    sockaddr_storage storage{};
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    REQUIRE(inet_pton(AF_INET6, ip, &a->sin6_addr) == 1);
    return storage;
}

const sockaddr* sa(const sockaddr_storage& s) {
    return reinterpret_cast<const sockaddr*>(&s);
}

} // namespace

TEST_CASE("PROXY v1: TCP4 is byte exact", "[proxy_header]") {
    const auto src = v4("192.0.2.4", 51234);
    const auto dst = v4("198.51.100.7", 993);
    CHECK(proxy_v1_header(sa(src), sa(dst)) == "PROXY TCP4 192.0.2.4 198.51.100.7 51234 993\r\n");
}

TEST_CASE("PROXY v1: ports at the edges", "[proxy_header]") {
    const auto src = v4("0.0.0.0", 0);
    const auto dst = v4("255.255.255.255", 65535);
    CHECK(proxy_v1_header(sa(src), sa(dst)) == "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
}

TEST_CASE("PROXY v1: TCP6 uses the compressed RFC 5952 form", "[proxy_header]") {
    const auto src = v6("2001:db8:0:0:0:0:0:1", 40000);
    const auto dst = v6("::1", 995);
    CHECK(proxy_v1_header(sa(src), sa(dst)) == "PROXY TCP6 2001:db8::1 ::1 40000 995\r\n");
}

TEST_CASE("PROXY v1: IPv4-mapped IPv6 stays TCP6", "[proxy_header]") {
    const auto src = v6("::ffff:192.0.2.1", 1);
    const auto dst = v6("::ffff:192.0.2.2", 2);
    CHECK(proxy_v1_header(sa(src), sa(dst)) ==
          "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:192.0.2.2 1 2\r\n");
}

TEST_CASE("PROXY v1: UNKNOWN for unix sockets, missing or mixed addresses", "[proxy_header]") {
    sockaddr_storage unix_address{};
    unix_address.ss_family = AF_UNIX;
    const auto a4 = v4("127.0.0.1", 1);
    const auto a6 = v6("::1", 2);
    CHECK(proxy_v1_header(sa(unix_address), sa(unix_address)) == "PROXY UNKNOWN\r\n");
    CHECK(proxy_v1_header(nullptr, sa(a4)) == "PROXY UNKNOWN\r\n");
    CHECK(proxy_v1_header(sa(a4), nullptr) == "PROXY UNKNOWN\r\n");
    CHECK(proxy_v1_header(sa(a4), sa(a6)) == "PROXY UNKNOWN\r\n");
}

TEST_CASE("PROXY v1: the longest line fits the spec's 107 bytes", "[proxy_header]") {
    const auto src = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    const auto dst = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    const std::string line = proxy_v1_header(sa(src), sa(dst));
    CHECK(line.size() == 104);
    CHECK(line.size() <= 107);
    CHECK(line.substr(line.size() - 2) == "\r\n");
}
