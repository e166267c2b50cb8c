#include "tlsgate/tls/client_hello.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using tlsgate::tls::parse_server_name_extension;
using tlsgate::tls::valid_host_name;

TEST_CASE("host names: LDH labels", "[client_hello]") {
    CHECK(valid_host_name("mail.example.org"));
    CHECK(valid_host_name("MAIL.Example.ORG"));
    CHECK(valid_host_name("localhost"));
    CHECK(valid_host_name("xn--caf-dma.example"));
    CHECK(valid_host_name("a-b.c0.example"));
    CHECK(valid_host_name("127.0.0.1"));         // digits-only labels are LDH
    CHECK(valid_host_name("mail.example.org.")); // one trailing dot is tolerated
    CHECK(valid_host_name(std::string(63, 'a') + ".org"));
}

TEST_CASE("host names: anything else is refused", "[client_hello]") {
    CHECK_FALSE(valid_host_name(""));
    CHECK_FALSE(valid_host_name("."));
    CHECK_FALSE(valid_host_name("mail.example.org.."));
    CHECK_FALSE(valid_host_name(".example.org"));
    CHECK_FALSE(valid_host_name("a..example.org"));
    CHECK_FALSE(valid_host_name("-a.example.org"));
    CHECK_FALSE(valid_host_name("a-.example.org"));
    CHECK_FALSE(valid_host_name("a_b.example.org"));
    CHECK_FALSE(valid_host_name("a b.example.org"));
    CHECK_FALSE(valid_host_name("x\r\nforged.example.org"));
    CHECK_FALSE(valid_host_name("\x1b[31m.example.org"));
    CHECK_FALSE(valid_host_name(std::string("nul\0.example.org", 16)));
    CHECK_FALSE(valid_host_name("caf\xc3\xa9.example"));
    CHECK_FALSE(valid_host_name("*.example.org"));
    CHECK_FALSE(valid_host_name("::1"));
    CHECK_FALSE(valid_host_name(std::string(64, 'a') + ".org"));
    // 253 characters at most.
    std::string name;
    while (name.size() < 260) {
        name += "abcdefghi.";
    }
    name.resize(253);
    CHECK(valid_host_name(name));
    CHECK_FALSE(valid_host_name(name + "a"));
}

namespace {

std::vector<unsigned char> extension(const std::vector<std::pair<int, std::string>>& entries) {
    std::vector<unsigned char> list;
    for (const auto& [type, name] : entries) {
        list.push_back(static_cast<unsigned char>(type));
        list.push_back(static_cast<unsigned char>(name.size() >> 8));
        list.push_back(static_cast<unsigned char>(name.size() & 0xff));
        list.insert(list.end(), name.begin(), name.end());
    }
    std::vector<unsigned char> body;
    body.push_back(static_cast<unsigned char>(list.size() >> 8));
    body.push_back(static_cast<unsigned char>(list.size() & 0xff));
    for (const unsigned char byte : list) {
        body.push_back(byte);
    }
    return body;
}

} // namespace

TEST_CASE("server_name extension: the host_name entry", "[client_hello]") {
    auto body = extension({{0, "mail.example.org"}});
    CHECK(parse_server_name_extension(body.data(), body.size()) == "mail.example.org");
    body = extension({{0, std::string("a\r\nb", 4)}});
    CHECK(parse_server_name_extension(body.data(), body.size()) == "a\r\nb");
    body = extension({{7, "other"}});
    CHECK(parse_server_name_extension(body.data(), body.size()) == "");
}

TEST_CASE("server_name extension: malformed bodies", "[client_hello]") {
    const unsigned char empty_list[] = {0, 0};
    CHECK_FALSE(parse_server_name_extension(empty_list, sizeof empty_list));
    CHECK_FALSE(parse_server_name_extension(empty_list, 1));
    auto two = extension({{0, "a.example"}, {0, "b.example"}});
    CHECK_FALSE(parse_server_name_extension(two.data(), two.size()));
    auto body = extension({{0, "mail.example.org"}});
    for (size_t cut = 0; cut < body.size(); ++cut) {
        CHECK_FALSE(parse_server_name_extension(body.data(), cut));
    }
    body[4] += 1; // the name claims one byte more than there is
    CHECK_FALSE(parse_server_name_extension(body.data(), body.size()));
    auto zero = extension({{0, ""}});
    CHECK_FALSE(parse_server_name_extension(zero.data(), zero.size()));
}
