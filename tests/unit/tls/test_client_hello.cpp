#include "support/handshake.hpp"
#include "support/test_certs.hpp"
#include "tlsgate/tls/client_hello.hpp"
#include "tlsgate/tls/context.hpp"
#include "tlsgate/tls/sni_router.hpp"

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

namespace {

using namespace tlsgate;

tls::SslCtxPtr server_context() {
    config::TlsSettings settings;
    settings.cert = {test::test_pki().chain_cert}; // CN and SAN "localhost"
    settings.key = {test::test_pki().leaf_key};
    settings.section = {"test.toml", 3};
    auto result = tls::build_server_context(settings, "service[t]");
    for (const auto& error : result.errors) {
        FAIL(error.to_string());
    }
    return std::move(result.ctx);
}

struct Outcome {
    bool ok = false;
    std::string alpn;   // what the server selected
    std::string reason; // the server's error_reason() on failure
};

// One in-memory handshake; `alpn` in wire format ("" = no extension), `name` the SNI.
Outcome hello(SSL_CTX* server, const std::string& alpn, const char* name = nullptr) {
    auto client = test::plain_client_context();
    test::MemoryHandshake handshake(server, client.get());
    if (!alpn.empty()) {
        SSL_set_alpn_protos(handshake.client.native(),
                            reinterpret_cast<const unsigned char*>(alpn.data()),
                            static_cast<unsigned>(alpn.size()));
    }
    if (name != nullptr) {
        SSL_set_tlsext_host_name(handshake.client.native(), name);
    }
    Outcome outcome;
    outcome.ok = handshake.run();
    const unsigned char* selected = nullptr;
    unsigned size = 0;
    SSL_get0_alpn_selected(handshake.server.native(), &selected, &size);
    outcome.alpn.assign(reinterpret_cast<const char*>(selected), size);
    outcome.reason = handshake.server.error_reason();
    return outcome;
}

} // namespace

TEST_CASE("ALPN on a mail service: its own protocol or none; another is refused",
          "[client_hello]") {
    auto ctx = server_context();
    tls::require_alpn(ctx.get(), "imap");
    CHECK(hello(ctx.get(), "").ok);
    CHECK(hello(ctx.get(), "").alpn.empty());
    const auto own = hello(ctx.get(), std::string("\x08http/1.1\x04imap", 14));
    CHECK(own.ok);
    CHECK(own.alpn == "imap");
    const auto foreign = hello(ctx.get(), std::string("\x08http/1.1\x02h2", 12));
    CHECK_FALSE(foreign.ok);
    CHECK_THAT(foreign.reason,
               Catch::Contains("ALPN offers no \"imap\" (offered: \"http/1.1\", \"h2\")"));
    CHECK_THAT(foreign.reason, Catch::Contains("no application protocol"));
    // A peer-chosen name reaches the reason escaped.
    const auto odd = hello(ctx.get(), std::string("\x03\r\n\x1b", 4));
    CHECK_THAT(odd.reason, Catch::Contains("(offered: \"\\x0d\\x0a\\x1b\")"));
}

TEST_CASE("ALPN: a context without a protocol accepts any list", "[client_hello]") {
    auto ctx = server_context();
    const auto any = hello(ctx.get(), std::string("\x08http/1.1", 9));
    CHECK(any.ok);
    CHECK(any.alpn.empty());
}

TEST_CASE("strict_sni: the certificate's names, or no SNI; others are refused", "[client_hello]") {
    auto ctx = server_context();
    CHECK(hello(ctx.get(), "", "other.example.com").ok); // off by default
    tls::require_known_server_names(ctx.get());
    CHECK(hello(ctx.get(), "", "localhost").ok);
    CHECK(hello(ctx.get(), "", "LOCALHOST").ok);
    CHECK(hello(ctx.get(), "").ok);
    const auto other = hello(ctx.get(), "", "other.example.com");
    CHECK_FALSE(other.ok);
    CHECK_THAT(other.reason, Catch::Contains("server name \"other.example.com\" matches no "
                                             "configured name (strict_sni)"));
}

TEST_CASE("server names that are not host names are refused, whatever the policy",
          "[client_hello]") {
    auto ctx = server_context();
    const auto forged = hello(ctx.get(), "", "x\r\nforged.example.org");
    CHECK_FALSE(forged.ok);
    CHECK_THAT(forged.reason,
               Catch::Contains("invalid server name \"x\\x0d\\x0aforged.example.org\""));
}

TEST_CASE("SNI routing survives a HelloRetryRequest", "[client_hello]") {
    auto parent = server_context();
    auto child = server_context();
    tls::SniRouter router({{"secure.example.org", child}});
    router.install(parent.get());
    auto client = test::plain_client_context(TLS1_3_VERSION, TLS1_3_VERSION);
    // The key share goes to P-521, which the server does not take: it asks again.
    SSL_CTX_set1_groups_list(client.get(), "P-521:X25519");
    test::MemoryHandshake handshake(parent.get(), client.get());
    SSL_set_tlsext_host_name(handshake.client.native(), "secure.example.org");
    REQUIRE(handshake.run());
    CHECK(tls::SniRouter::chosen(handshake.server.native()) == 0);
    CHECK(SSL_get_SSL_CTX(handshake.server.native()) == child.get());
    CHECK(SSL_get_negotiated_group(handshake.server.native()) == NID_X25519);
}
