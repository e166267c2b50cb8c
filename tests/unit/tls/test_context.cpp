#include "support/handshake.hpp"
#include "support/test_certs.hpp"
#include "support/tls_pki.hpp"
#include "tlsgate/tls/context.hpp"
#include "tlsgate/tls/engine.hpp"
#include "tlsgate/tls/sni_router.hpp"
#include "tlsgate/tls/ticket_keys.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <openssl/ssl.h>
#include <string>
#include <vector>

using namespace tlsgate;
using test::handshake_with;

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

// ---------------------------------------------------------------------------- resumption

TEST_CASE("session tickets resume TLS 1.2 and TLS 1.3 sessions") {
    auto server = test::build_server_or_fail(test::rsa_server_settings());
    CHECK((SSL_CTX_get_options(server.get()) & SSL_OP_NO_TICKET) == 0);
    CHECK(test::resumes(server.get(), server.get(), TLS1_2_VERSION));
    CHECK(test::resumes(server.get(), server.get(), TLS1_3_VERSION));
}

TEST_CASE("a fleet sharing the ticket key file resumes each other's sessions") {
    const std::string a = test::random_ticket_key_line();
    const std::string b = test::random_ticket_key_line();
    auto settings = test::rsa_server_settings();
    settings.ticket_key_file = test::write_ticket_key_file("fleet.keys", a + "\n");
    auto one = test::build_server_or_fail(settings);
    auto two = test::build_server_or_fail(settings);
    // Session caches are per context: only the ticket can carry the session across.
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        INFO(version);
        CHECK(test::resumes(one.get(), two.get(), version));
        CHECK(test::resumes(two.get(), one.get(), version));
    }

    SECTION("a new first key: old tickets still decrypt, and are renewed") {
        settings.ticket_key_file = test::write_ticket_key_file("fleet2.keys", b + "\n" + a + "\n");
        auto rotated = test::build_server_or_fail(settings);
        auto client = test::plain_client_context(TLS1_2_VERSION, TLS1_2_VERSION);
        bool reused = false;
        tls::SslSessionPtr old_session, renewed;
        REQUIRE(handshake_with(one.get(), client.get(), nullptr, reused, &old_session));
        REQUIRE(handshake_with(rotated.get(), client.get(), old_session.get(), reused, &renewed));
        CHECK(reused);
        const unsigned char* old_ticket = nullptr;
        const unsigned char* new_ticket = nullptr;
        size_t old_size = 0, new_size = 0;
        SSL_SESSION_get0_ticket(old_session.get(), &old_ticket, &old_size);
        SSL_SESSION_get0_ticket(renewed.get(), &new_ticket, &new_size);
        REQUIRE(new_size > 16);
        // The renewed ticket is made with the new first key, whose name leads it.
        CHECK(std::string(reinterpret_cast<const char*>(new_ticket), 16) !=
              std::string(reinterpret_cast<const char*>(old_ticket), 16));
    }
    SECTION("a key removed from the file no longer decrypts") {
        settings.ticket_key_file = test::write_ticket_key_file("fleet3.keys", b + "\n");
        auto other = test::build_server_or_fail(settings);
        CHECK_FALSE(test::resumes(one.get(), other.get(), TLS1_2_VERSION));
        CHECK_FALSE(test::resumes(one.get(), other.get(), TLS1_3_VERSION));
    }
}

TEST_CASE("fixed secrets are shared like a key file; generated keys are not") {
    auto settings = test::rsa_server_settings();
    auto generated_one = test::build_server_or_fail(settings);
    auto generated_two = test::build_server_or_fail(settings);
    CHECK_FALSE(test::resumes(generated_one.get(), generated_two.get(), TLS1_3_VERSION));
    settings.ticket_key_secret = std::string(64, '1');
    settings.ticket_mac_secret = std::string(64, '2');
    auto fixed_one = test::build_server_or_fail(settings);
    auto fixed_two = test::build_server_or_fail(settings);
    CHECK(test::resumes(fixed_one.get(), fixed_two.get(), TLS1_3_VERSION));
    CHECK(test::resumes(fixed_one.get(), fixed_two.get(), TLS1_2_VERSION));
}

TEST_CASE("session cache: resumption by session id when tickets are off") {
    auto settings = test::rsa_server_settings();
    settings.tickets = false;
    settings.session_cache_size = 123;
    settings.session_cache_timeout = std::chrono::seconds(77);
    auto server = test::build_server_or_fail(settings);
    CHECK((SSL_CTX_get_options(server.get()) & SSL_OP_NO_TICKET) != 0);
    CHECK(SSL_CTX_sess_get_cache_size(server.get()) == 123);
    CHECK(SSL_CTX_get_timeout(server.get()) == 77);
    CHECK(test::resumes(server.get(), server.get(), TLS1_2_VERSION));
    CHECK(test::resumes(server.get(), server.get(), TLS1_3_VERSION)); // stateful TLS 1.3 tickets

    SECTION("no cache and no tickets: no resumption") {
        settings.session_cache = false;
        auto none = test::build_server_or_fail(settings);
        CHECK(SSL_CTX_get_session_cache_mode(none.get()) == SSL_SESS_CACHE_OFF);
        CHECK_FALSE(test::resumes(none.get(), none.get(), TLS1_2_VERSION));
        CHECK_FALSE(test::resumes(none.get(), none.get(), TLS1_3_VERSION));
    }
    SECTION("a second context does not know the first one's cache") {
        auto other = test::build_server_or_fail(settings);
        CHECK_FALSE(test::resumes(server.get(), other.get(), TLS1_2_VERSION));
    }
}

TEST_CASE("a session made without client certificates does not open a service requiring one") {
    auto settings = test::rsa_server_settings();
    settings.ticket_key_file =
        test::write_ticket_key_file("sidctx.keys", test::random_ticket_key_line() + "\n");
    auto open = test::build_server_or_fail(settings);
    settings.request_cert = true;
    settings.ca_file = test::tls_pki().root_cert;
    auto asking = test::build_server_or_fail(settings);
    CHECK_FALSE(test::resumes(open.get(), asking.get(), TLS1_3_VERSION));
}

TEST_CASE("an SNI child requiring certificates does not resume its parent's sessions") {
    for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        for (const bool tickets : {true, false}) {
            INFO("version " << version << ", tickets " << tickets);
            auto settings = test::rsa_server_settings();
            settings.tickets = tickets;
            // One key file: the parent's tickets decrypt on the child too.
            settings.ticket_key_file =
                test::write_ticket_key_file("sni.keys", test::random_ticket_key_line() + "\n");
            auto parent = test::build_server_or_fail(settings);
            settings.request_cert = settings.require_cert = settings.verify_chain = true;
            settings.ca_file = test::tls_pki().root_cert;
            auto child = test::build_server_or_fail(settings);
            tls::SniRouter router({{"secure.example.org", child}});
            router.install(parent.get());

            auto client = test::plain_client_context(version, version);
            if (!tickets) {
                SSL_CTX_set_options(client.get(), SSL_OP_NO_TICKET);
            }
            const auto connect = [&](const char* name, SSL_SESSION* offer, bool& reused,
                                     tls::SslSessionPtr* next) {
                return handshake_with(parent.get(), client.get(), offer, reused, next, name);
            };
            bool reused = false;
            tls::SslSessionPtr session;
            REQUIRE(connect("front.example.org", nullptr, reused, &session));
            tls::SslSessionPtr again;
            REQUIRE(connect("front.example.org", session.get(), reused, &again));
            CHECK(reused); // the offer is good where it was made
            // The child demands the certificate this client does not have.
            CHECK_FALSE(connect("secure.example.org", again.get(), reused, nullptr));
            CHECK_FALSE(reused);
        }
    }
}

TEST_CASE("client mode resumes the last session per service") {
    auto server = test::build_server_or_fail(test::rsa_server_settings());
    config::TlsSettings settings;
    settings.ca_file = test::tls_pki().root_cert;
    settings.verify_chain = true;
    settings.require_cert = true;
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        INFO(version);
        settings.min_version = settings.max_version = version;
        auto client = tls::build_client_context(settings, "service[c]");
        REQUIRE(client.errors.empty());
        auto connect = [&](const std::string& sni) {
            test::MemoryHandshake handshake(server.get(), client.ctx.get());
            handshake.client.set_peer_name(sni, "localhost");
            REQUIRE(handshake.run());
            return handshake.client.session_reused();
        };
        CHECK_FALSE(connect("localhost"));
        CHECK(connect("localhost"));
        CHECK(connect("localhost"));
        CHECK_FALSE(connect("mail.example.org")); // a session is offered to its server only
    }
    SECTION("session_resume = false") {
        settings.session_resume = false;
        auto client = tls::build_client_context(settings, "service[c]");
        for (int i = 0; i < 2; ++i) {
            test::MemoryHandshake handshake(server.get(), client.ctx.get());
            handshake.client.set_peer_name("localhost", "localhost");
            REQUIRE(handshake.run());
            CHECK_FALSE(handshake.client.session_reused());
        }
    }
}

TEST_CASE("ticket key problems are config errors naming the key") {
    auto settings = test::rsa_server_settings();
    settings.ticket_key_file = "/nonexistent/ticket.keys";
    settings.where["ticket_key_file"] = {"test.toml", 12};
    auto result = tls::build_server_context(settings, "service[t]");
    REQUIRE(result.errors.size() == 1);
    CHECK_THAT(result.errors[0].to_string(),
               Catch::StartsWith("test.toml:12: service[t].ticket_key_file: cannot read"));
}
