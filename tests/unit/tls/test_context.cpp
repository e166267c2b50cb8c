#include "handshake.hpp"
#include "support/test_certs.hpp"
#include "tlsgate/tls/context.hpp"
#include "tlsgate/tls/engine.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <openssl/ssl.h>
#include <string>
#include <vector>

using namespace tlsgate;

namespace {

config::TlsSettings settings_with_chain() {
    config::TlsSettings settings;
    settings.cert = {test::test_pki().chain_cert};
    settings.key = {test::test_pki().leaf_key};
    settings.section = {"test.toml", 3};
    settings.where["cert"] = {"test.toml", 4};
    settings.where["key"] = {"test.toml", 5};
    return settings;
}

std::vector<std::string> cipher_names(SSL_CTX* ctx) {
    std::vector<std::string> names;
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
        const std::string name = SSL_CIPHER_get_name(cipher);
        if (name.rfind("TLS_", 0) != 0) { // TLS 1.3 suites are configured apart
            names.push_back(name);
        }
    }
    return names;
}

std::vector<std::string> expand(const char* cipher_string) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_cipher_list(ctx, cipher_string);
    auto names = cipher_names(ctx);
    SSL_CTX_free(ctx);
    return names;
}

// A handshake between a client context and the engine under test, in memory.
using Handshake = test::MemoryHandshake;

tls::SslCtxPtr client_context(int min_version, int max_version, const char* ciphers) {
    auto ctx = tls::make_ctx_ptr(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx.get(), min_version);
    SSL_CTX_set_max_proto_version(ctx.get(), max_version);
    if (ciphers != nullptr) {
        SSL_CTX_set_cipher_list(ctx.get(), ciphers);
    }
    return ctx;
}

} // namespace

TEST_CASE("default profile is cipher string B, TLS 1.2 minimum, hardened options") {
    auto result = tls::build_server_context(settings_with_chain(), "service[t]");
    REQUIRE(result.errors.empty());
    REQUIRE(result.ctx);
    SSL_CTX* ctx = result.ctx.get();
    CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION);
    const uint64_t options = SSL_CTX_get_options(ctx);
    CHECK((options & SSL_OP_CIPHER_SERVER_PREFERENCE) != 0);
    CHECK((options & SSL_OP_NO_COMPRESSION) != 0);
    CHECK((options & SSL_OP_NO_RENEGOTIATION) != 0);
    CHECK((options & SSL_OP_ALLOW_CLIENT_RENEGOTIATION) == 0);
    CHECK(cipher_names(ctx) == expand(tls::kCipherStringB));
    for (const auto& name : cipher_names(ctx)) {
        INFO(name);
        CHECK(name.find("ECDSA") == std::string::npos);
        CHECK(name.find("NULL") == std::string::npos);
        CHECK(name.find("RC4") == std::string::npos);
        CHECK(name.find("DES") == std::string::npos);
    }
}

TEST_CASE("policy resolution per profile") {
    config::TlsSettings settings;
    auto b = tls::resolve_policy(settings);
    CHECK(b.ciphers == tls::kCipherStringB);
    CHECK(b.min_version == TLS1_2_VERSION);
    CHECK(b.groups == "X25519:P-256:P-384");

    settings.profile = config::TlsProfile::bettercrypto_a;
    CHECK(tls::resolve_policy(settings).ciphers == tls::kCipherStringA);

    settings.profile = config::TlsProfile::opportunistic;
    auto opportunistic = tls::resolve_policy(settings);
    CHECK(opportunistic.min_version == TLS1_VERSION);
    CHECK(opportunistic.ciphers.find("!aNULL") != std::string::npos);

    settings.profile = config::TlsProfile::custom;
    settings.ciphers = "ECDHE-RSA-AES128-GCM-SHA256";
    settings.min_version = TLS1_3_VERSION;
    settings.groups = "P-256";
    auto custom = tls::resolve_policy(settings);
    CHECK(custom.ciphers == "ECDHE-RSA-AES128-GCM-SHA256");
    CHECK(custom.min_version == TLS1_3_VERSION);
    CHECK(custom.groups == "P-256");
}

TEST_CASE("TLS 1.3 with X25519 is negotiated by default") {
    auto server = tls::build_server_context(settings_with_chain(), "service[t]");
    REQUIRE(server.ctx);
    auto client = client_context(TLS1_2_VERSION, 0, nullptr);
    Handshake handshake(server.ctx.get(), client.get());
    REQUIRE(handshake.run());
    CHECK(handshake.server.version() == "TLSv1.3");
    EVP_PKEY* key = nullptr;
    REQUIRE(SSL_get_peer_tmp_key(handshake.client.native(), &key) == 1);
    CHECK(EVP_PKEY_get_id(key) == EVP_PKEY_X25519);
    EVP_PKEY_free(key);
}

TEST_CASE("TLS 1.1 and non-B ciphers are refused; server preference wins") {
    auto server = tls::build_server_context(settings_with_chain(), "service[t]");
    REQUIRE(server.ctx);
    SECTION("TLS 1.1") {
        auto client = client_context(TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
        Handshake handshake(server.ctx.get(), client.get());
        CHECK_FALSE(handshake.run());
    }
    SECTION("only ciphers outside string B") {
        auto client =
            client_context(TLS1_2_VERSION, TLS1_2_VERSION, "AES128-GCM-SHA256:AES256-GCM-SHA384");
        Handshake handshake(server.ctx.get(), client.get());
        CHECK_FALSE(handshake.run());
    }
    SECTION("client lists B in reverse order") {
        auto b = expand(tls::kCipherStringB);
        std::string reversed;
        for (auto it = b.rbegin(); it != b.rend(); ++it) {
            reversed += (reversed.empty() ? "" : ":") + *it;
        }
        auto client = client_context(TLS1_2_VERSION, TLS1_2_VERSION, reversed.c_str());
        Handshake handshake(server.ctx.get(), client.get());
        REQUIRE(handshake.run());
        // The first cipher of B usable with an RSA certificate and ECDHE/DHE.
        CHECK(handshake.server.cipher() == b.front());
    }
}

TEST_CASE("engine relays application data and close_notify") {
    auto server = tls::build_server_context(settings_with_chain(), "service[t]");
    auto client = client_context(TLS1_2_VERSION, 0, nullptr);
    Handshake handshake(server.ctx.get(), client.get());
    REQUIRE(handshake.run());
    REQUIRE(handshake.client.write("hello", 5) == tls::TlsEngine::Status::ok);
    Handshake::pump(handshake.client, handshake.server);
    char buffer[64];
    size_t size = 0;
    REQUIRE(handshake.server.read(buffer, sizeof buffer, size) == tls::TlsEngine::Status::ok);
    CHECK(std::string(buffer, size) == "hello");
    handshake.client.shutdown();
    Handshake::pump(handshake.client, handshake.server);
    CHECK(handshake.server.read(buffer, sizeof buffer, size) == tls::TlsEngine::Status::closed);
}

// Ciphertext lent to the engine (TlsEngine::Loan) instead of fed: records split at every
// offset, and the first loan only partly read, so whatever OpenSSL did not take must be queued
// when the loan ends and read before the next loan's bytes. Two records of different content show
// any reordering or loss.
TEST_CASE("engine reads lent ciphertext split at every offset, in order") {
    auto server = tls::build_server_context(settings_with_chain(), "service[t]");
    auto client = client_context(TLS1_3_VERSION, 0, nullptr);
    Handshake handshake(server.ctx.get(), client.get());
    REQUIRE(handshake.run());
    const std::string first(700, 'a');
    const std::string second = "second record";
    REQUIRE(handshake.client.write(first.data(), first.size()) == tls::TlsEngine::Status::ok);
    REQUIRE(handshake.client.write(second.data(), second.size()) == tls::TlsEngine::Status::ok);
    std::string wire(handshake.client.pending_ciphertext(), '\0');
    REQUIRE(handshake.client.take_ciphertext(wire.data(), wire.size()) == wire.size());

    // Each split needs a fresh connection state: replay the same two records into new pairs.
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
        Handshake pair(server.ctx.get(), client.get());
        REQUIRE(pair.run());
        REQUIRE(pair.client.write(first.data(), first.size()) == tls::TlsEngine::Status::ok);
        REQUIRE(pair.client.write(second.data(), second.size()) == tls::TlsEngine::Status::ok);
        std::string bytes(pair.client.pending_ciphertext(), '\0');
        REQUIRE(pair.client.take_ciphertext(bytes.data(), bytes.size()) == bytes.size());
        std::string got;
        char buffer[4096];
        size_t size = 0;
        auto read_all = [&] {
            while (pair.server.read(buffer, sizeof buffer, size) == tls::TlsEngine::Status::ok) {
                got.append(buffer, size);
            }
        };
        {
            // One short read only: OpenSSL takes one record at a time, so from the second
            // record on, lent bytes are left over when the loan ends and must be queued.
            const tls::TlsEngine::Loan loan(pair.server, bytes.data(), cut);
            if (pair.server.read(buffer, 10, size) == tls::TlsEngine::Status::ok) {
                got.append(buffer, size);
            }
        }
        // The lent buffer is reused by the caller once the loan ends: scribble over it.
        std::string rest = bytes.substr(cut);
        std::fill(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut), 'X');
        {
            const tls::TlsEngine::Loan loan(pair.server, rest.data(), rest.size());
            read_all();
        }
        INFO("cut at " << cut << " of " << bytes.size());
        CHECK(got == first + second);
    }
}

TEST_CASE("certificate and key errors name the key and the problem") {
    SECTION("missing certificate file") {
        auto settings = settings_with_chain();
        settings.cert = {"/nonexistent/cert.pem"};
        auto result = tls::build_server_context(settings, "service[t]");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].to_string().find("test.toml:4: service[t].cert") == 0);
        CHECK(result.errors[0].message.find("/nonexistent/cert.pem") != std::string::npos);
    }
    SECTION("key does not match the certificate") {
        auto settings = settings_with_chain();
        settings.key = {test::test_pki().other_key};
        auto result = tls::build_server_context(settings, "service[t]");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].to_string().find("test.toml:5: service[t].key") == 0);
        CHECK(result.errors[0].message.find("does not match") != std::string::npos);
    }
    SECTION("chain out of order") {
        auto settings = settings_with_chain();
        settings.cert = {test::test_pki().wrong_order_chain};
        auto result = tls::build_server_context(settings, "service[t]");
        REQUIRE_FALSE(result.errors.empty());
        CHECK(result.errors[0].to_string().find("service[t].cert") != std::string::npos);
    }
    SECTION("unusable cipher list") {
        auto settings = settings_with_chain();
        settings.profile = config::TlsProfile::custom;
        settings.ciphers = "NO-SUCH-CIPHER";
        settings.where["ciphers"] = {"test.toml", 9};
        auto result = tls::build_server_context(settings, "service[t]");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].to_string().find("test.toml:9: service[t].ciphers") == 0);
    }
    SECTION("unknown group") {
        auto settings = settings_with_chain();
        settings.groups = "X25519:NOPE";
        auto result = tls::build_server_context(settings, "service[t]");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].key == "service[t].groups");
    }
    SECTION("missing dhparam file") {
        auto settings = settings_with_chain();
        settings.dhparam = "/nonexistent/dh.pem";
        auto result = tls::build_server_context(settings, "service[t]");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].key == "service[t].dhparam");
    }
}

namespace {

config::TlsSettings client_settings(const std::string& ca_file) {
    config::TlsSettings settings;
    settings.ca_file = ca_file;
    settings.section = {"test.toml", 3};
    return settings;
}

} // namespace

TEST_CASE("client context verifies the server's chain and name") {
    auto server = tls::build_server_context(settings_with_chain(), "service[s]");
    REQUIRE(server.ctx);
    SECTION("trusted root, matching name") {
        auto client =
            tls::build_client_context(client_settings(test::test_pki().root_cert), "service[c]");
        REQUIRE(client.errors.empty());
        Handshake handshake(server.ctx.get(), client.ctx.get());
        handshake.client.set_peer_name("localhost", "localhost");
        CHECK(handshake.run());
    }
    SECTION("IP address matched against the IP SAN") {
        auto client =
            tls::build_client_context(client_settings(test::test_pki().root_cert), "service[c]");
        Handshake handshake(server.ctx.get(), client.ctx.get());
        handshake.client.set_peer_name("", "127.0.0.1");
        CHECK(handshake.run());
    }
    SECTION("name mismatch is named") {
        auto client =
            tls::build_client_context(client_settings(test::test_pki().root_cert), "service[c]");
        Handshake handshake(server.ctx.get(), client.ctx.get());
        handshake.client.set_peer_name("mail.example.org", "mail.example.org");
        CHECK_FALSE(handshake.run());
        CHECK_THAT(handshake.client.error_reason(), Catch::Contains("hostname mismatch"));
    }
    SECTION("unknown CA is named") {
        // Trusting only the leaf's issuer chain's root is required; an unrelated store fails.
        auto client =
            tls::build_client_context(client_settings(test::test_pki().leaf_cert), "service[c]");
        Handshake handshake(server.ctx.get(), client.ctx.get());
        handshake.client.set_peer_name("localhost", "localhost");
        CHECK_FALSE(handshake.run());
        CHECK_THAT(handshake.client.error_reason(), Catch::Contains("certificate verify failed"));
    }
    SECTION("verify = none accepts anything") {
        config::TlsSettings settings;
        settings.verify = config::VerifyMode::none;
        auto client = tls::build_client_context(settings, "service[c]");
        Handshake handshake(server.ctx.get(), client.ctx.get());
        handshake.client.set_peer_name("", "");
        CHECK(handshake.run());
    }
    SECTION("a missing CA file is a config error naming the key") {
        auto client =
            tls::build_client_context(client_settings("/nonexistent/ca.pem"), "service[c]");
        REQUIRE(client.errors.size() == 1);
        CHECK(client.errors[0].key == "service[c].ca_file");
    }
}
