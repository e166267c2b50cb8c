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

// --- The parser -------------------------------------------------------------------------------

using tlsgate::proto::ProxyHeaderParser;
using Status = ProxyHeaderParser::Status;

namespace {

std::string ip_of(const sockaddr_storage& s) {
    char text[INET6_ADDRSTRLEN] = "";
    if (s.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&s)->sin_addr, text, sizeof text);
    } else if (s.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&s)->sin6_addr, text,
                  sizeof text);
    }
    return text;
}

unsigned port_of(const sockaddr_storage& s) {
    return s.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&s)->sin_port)
                                  : ntohs(reinterpret_cast<const sockaddr_in6*>(&s)->sin6_port);
}

std::string v2(unsigned char command, unsigned char family, const std::string& addresses) {
    std::string out("\r\n\r\n\0\r\nQUIT\n", 12);
    out.push_back(static_cast<char>(0x20 | command));
    out.push_back(static_cast<char>(family));
    out.push_back(static_cast<char>(addresses.size() >> 8));
    out.push_back(static_cast<char>(addresses.size() & 0xff));
    return out + addresses;
}

} // namespace

TEST_CASE("PROXY parser: v1 TCP4, the payload after it left alone", "[proxy_header]") {
    ProxyHeaderParser parser;
    size_t consumed = 0;
    const std::string input = "PROXY TCP4 192.0.2.4 198.51.100.7 51234 993\r\nA001 CAPABILITY";
    REQUIRE(parser.feed(input, consumed) == Status::done);
    CHECK(consumed == input.find("A001"));
    CHECK(parser.info().version == 1);
    REQUIRE(parser.info().has_addresses);
    CHECK(ip_of(parser.info().source) == "192.0.2.4");
    CHECK(port_of(parser.info().source) == 51234);
    CHECK(ip_of(parser.info().destination) == "198.51.100.7");
    CHECK(port_of(parser.info().destination) == 993);
}

TEST_CASE("PROXY parser: v1 one byte at a time", "[proxy_header]") {
    ProxyHeaderParser parser;
    const std::string input = "PROXY TCP6 2001:db8::1 ::1 40000 995\r\n";
    for (size_t i = 0; i < input.size(); ++i) {
        size_t consumed = 0;
        const Status status = parser.feed(input.substr(i, 1), consumed);
        CHECK(consumed == 1);
        CHECK(status == (i + 1 == input.size() ? Status::done : Status::need_more));
    }
    CHECK(ip_of(parser.info().source) == "2001:db8::1");
    CHECK(port_of(parser.info().destination) == 995);
}

TEST_CASE("PROXY parser: what the generator writes reads back", "[proxy_header]") {
    const auto src = v6("2001:db8::7", 1234);
    const auto dst = v6("2001:db8::8", 443);
    ProxyHeaderParser parser;
    size_t consumed = 0;
    const std::string line = proxy_v1_header(sa(src), sa(dst));
    REQUIRE(parser.feed(line, consumed) == Status::done);
    CHECK(consumed == line.size());
    CHECK(ip_of(parser.info().source) == "2001:db8::7");
    CHECK(port_of(parser.info().source) == 1234);
}

TEST_CASE("PROXY parser: v1 UNKNOWN carries no addresses", "[proxy_header]") {
    ProxyHeaderParser parser;
    size_t consumed = 0;
    REQUIRE(parser.feed("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest", consumed) == Status::done);
    CHECK(consumed == 35);
    CHECK_FALSE(parser.info().has_addresses);
}

TEST_CASE("PROXY parser: v1 refusals", "[proxy_header]") {
    const char* bad[] = {
        "GET / HTTP/1.0\r\n",
        "PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       // no CR
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       // a field missing
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", // port out of range
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",    // leading zero
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",    // sign
        "PROXY TCP4 ::1 ::1 1 2\r\n",             // v6 under TCP4
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",     // v4 under TCP6
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",    // double space
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    };
    for (const char* input : bad) {
        ProxyHeaderParser parser;
        size_t consumed = 0;
        CHECK(parser.feed(input, consumed) == Status::error);
        CHECK_FALSE(parser.error().empty());
    }
}

TEST_CASE("PROXY parser: v1 longer than 107 bytes is refused early", "[proxy_header]") {
    ProxyHeaderParser parser;
    size_t consumed = 0;
    CHECK(parser.feed("PROXY UNKNOWN " + std::string(200, 'x'), consumed) == Status::error);
    CHECK(consumed == 107);
}

TEST_CASE("PROXY parser: v2 PROXY TCP4 with a TLV", "[proxy_header]") {
    std::string addresses("\xc0\x00\x02\x04\xc6\x33\x64\x07\xc8\x22\x03\xe1", 12);
    addresses += std::string("\x04\x00\x01\x00", 4); // PP2_TYPE_NOOP, length 1, value 0
    const std::string header = v2(0x1, 0x11, addresses);
    ProxyHeaderParser parser;
    size_t consumed = 0;
    REQUIRE(parser.feed(header + "payload", consumed) == Status::done);
    CHECK(consumed == header.size());
    CHECK(parser.info().version == 2);
    CHECK(ip_of(parser.info().source) == "192.0.2.4");
    CHECK(port_of(parser.info().source) == 51234);
    CHECK(ip_of(parser.info().destination) == "198.51.100.7");
    CHECK(port_of(parser.info().destination) == 993);
}

TEST_CASE("PROXY parser: v2 TCP6, fed in two pieces", "[proxy_header]") {
    std::string addresses(36, '\0');
    addresses[15] = 1;      // ::1
    addresses[16] = '\x20'; // 2001:db8::2
    addresses[17] = '\x01';
    addresses[18] = '\x0d';
    addresses[19] = '\xb8';
    addresses[31] = 2;
    addresses[32] = '\x01'; // port 256
    addresses[35] = 25;     // port 25
    const std::string header = v2(0x1, 0x21, addresses);
    ProxyHeaderParser parser;
    size_t consumed = 0;
    CHECK(parser.feed(header.substr(0, 10), consumed) == Status::need_more);
    REQUIRE(parser.feed(header.substr(10), consumed) == Status::done);
    CHECK(ip_of(parser.info().source) == "::1");
    CHECK(port_of(parser.info().source) == 256);
    CHECK(ip_of(parser.info().destination) == "2001:db8::2");
    CHECK(port_of(parser.info().destination) == 25);
}

TEST_CASE("PROXY parser: v2 LOCAL and UNSPEC carry no addresses", "[proxy_header]") {
    for (const auto& header :
         {v2(0x0, 0x00, ""), v2(0x1, 0x00, ""), v2(0x1, 0x31, std::string(216, 'u'))}) {
        ProxyHeaderParser parser;
        size_t consumed = 0;
        REQUIRE(parser.feed(header, consumed) == Status::done);
        CHECK(consumed == header.size());
        CHECK_FALSE(parser.info().has_addresses);
    }
}

TEST_CASE("PROXY parser: v2 refusals", "[proxy_header]") {
    std::string wrong_version = v2(0x1, 0x11, std::string(12, '\0'));
    wrong_version[12] = '\x31';
    const std::string cases[] = {
        std::string("\r\n\r\n\0\r\nQUIX\n", 12), // signature
        v2(0x1, 0x11, std::string(8, '\0')),     // address block too short
        v2(0x1, 0x12, std::string(12, '\0')),    // UDP
        v2(0x2, 0x11, std::string(12, '\0')),    // unknown command
        v2(0x1, 0x41, std::string(12, '\0')),    // unknown family
        wrong_version,
    };
    for (const auto& input : cases) {
        ProxyHeaderParser parser;
        size_t consumed = 0;
        CHECK(parser.feed(input, consumed) == Status::error);
    }
}
