#include "tlsgate/net/address.hpp"

#include <catch2/catch.hpp>
#include <string>

using tlsgate::net::Address;
using tlsgate::net::parse_address;

namespace {

struct Good {
    const char* text;
    bool allow_zero;
    Address::Kind kind;
    const char* host;
    uint16_t port;
    const char* path;
    bool host_is_ip;
    const char* canonical;
};

struct Bad {
    const char* text;
    bool allow_zero;
    const char* message_part;
};

} // namespace

TEST_CASE("parse_address accepts valid addresses", "[net][address]") {
    const Good cases[] = {
        {"127.0.0.1:993", false, Address::Kind::tcp, "127.0.0.1", 993, "", true, "127.0.0.1:993"},
        {"0.0.0.0:1", false, Address::Kind::tcp, "0.0.0.0", 1, "", true, "0.0.0.0:1"},
        {"1.2.3.4:65535", false, Address::Kind::tcp, "1.2.3.4", 65535, "", true, "1.2.3.4:65535"},
        {"[::1]:993", false, Address::Kind::tcp, "::1", 993, "", true, "[::1]:993"},
        {"[::]:25", false, Address::Kind::tcp, "::", 25, "", true, "[::]:25"},
        {"[2001:db8::1]:587", false, Address::Kind::tcp, "2001:db8::1", 587, "", true,
         "[2001:db8::1]:587"},
        {"[::ffff:127.0.0.1]:143", false, Address::Kind::tcp, "::ffff:127.0.0.1", 143, "", true,
         "[::ffff:127.0.0.1]:143"},
        {"mail.example.org:143", false, Address::Kind::tcp, "mail.example.org", 143, "", false,
         "mail.example.org:143"},
        {"localhost:25", false, Address::Kind::tcp, "localhost", 25, "", false, "localhost:25"},
        // '_' as in /etc/hosts and the stunnel manual's "vpn_server" (getaddrinfo takes it).
        {"vpn_server:9080", false, Address::Kind::tcp, "vpn_server", 9080, "", false,
         "vpn_server:9080"},
        {"Mail-1.Example.ORG.:110", false, Address::Kind::tcp, "Mail-1.Example.ORG.", 110, "",
         false, "Mail-1.Example.ORG.:110"},
        {"127.0.0.1:0", true, Address::Kind::tcp, "127.0.0.1", 0, "", true, "127.0.0.1:0"},
        {"[::1]:0", true, Address::Kind::tcp, "::1", 0, "", true, "[::1]:0"},
        {"127.0.0.1:00993", false, Address::Kind::tcp, "127.0.0.1", 993, "", true, "127.0.0.1:993"},
        {"unix:/run/dovecot/imap.sock", false, Address::Kind::unix_socket, "", 0,
         "/run/dovecot/imap.sock", false, "unix:/run/dovecot/imap.sock"},
    };
    for (const auto& c : cases) {
        INFO("address: " << c.text);
        auto r = parse_address(c.text, c.allow_zero);
        if (!r) {
            FAIL("unexpected error: " << r.error().message);
        }
        const auto& a = *r;
        CHECK(a.kind == c.kind);
        CHECK(a.host == c.host);
        CHECK(a.port == c.port);
        CHECK(a.path == c.path);
        CHECK(a.host_is_ip == c.host_is_ip);
        CHECK(a.to_string() == c.canonical);
    }
}

TEST_CASE("parse_address rejects invalid addresses", "[net][address]") {
    const std::string long_path = "unix:/" + std::string(107, 'x'); // 108 bytes: no room for NUL
    const Bad cases[] = {
        {"", false, "empty address"},
        {"127.0.0.1", false, "missing port"},
        {"127.0.0.1:", false, "missing port"},
        {"[::1]", false, "missing port"},
        {"[::1]:", false, "missing port"},
        {"mail.example.org", false, "missing port"},
        {":993", false, "missing host"},
        {"127.0.0.1:0", false, "invalid port 0"},
        {"127.0.0.1:65536", false, "invalid port 65536"},
        {"127.0.0.1:99999", false, "invalid port"},
        {"127.0.0.1:123456", false, "invalid port"},
        {"127.0.0.1:-1", false, "invalid port"},
        {"127.0.0.1:imap", false, "invalid port \"imap\""},
        {"127.0.0.1: 993", false, "invalid port"},
        {"::1:993", false, "brackets"},
        {"[::1:993", false, "missing ']'"},
        {"[1.2.3.4]:993", false, "invalid IPv6 address"},
        {"[::1]x993", false, "expected ':'"},
        {"999.1.1.1:25", false, "invalid IPv4 address"},
        {"1.2.3:25", false, "invalid IPv4 address"},
        {"bad host:25", false, "invalid character ' '"},
        {"a..b:25", false, "empty label"},
        {"-a.example:25", false, "starts or ends with '-'"},
        {"unix:", false, "must be absolute"},
        {"unix:run/x.sock", false, "must be absolute"},
        {long_path.c_str(), false, "at most 107 allowed"},
    };
    for (const auto& c : cases) {
        INFO("address: " << c.text);
        auto r = parse_address(c.text, c.allow_zero);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::Contains(c.message_part));
    }
}

TEST_CASE("parse_address: the longest unix path that fits sun_path", "[net][address]") {
    const std::string text = "unix:/" + std::string(106, 'x'); // 107 bytes + NUL = 108
    auto r = parse_address(text);
    REQUIRE(r);
    CHECK(r->path.size() == 107);
}

TEST_CASE("Address equality", "[net][address]") {
    auto a = *parse_address("127.0.0.1:993");
    auto b = *parse_address("127.0.0.1:993");
    auto c = *parse_address("127.0.0.1:995");
    CHECK(a == b);
    CHECK_FALSE(a == c);
}
