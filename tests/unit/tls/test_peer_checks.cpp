#include "support/handshake.hpp"
#include "support/test_certs.hpp"
#include "support/tls_pki.hpp"
#include "tlsgate/tls/context.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <string>
#include <sys/stat.h>

using namespace tlsgate;

namespace {

const test::TlsPki& pki() {
    return test::tls_pki();
}

// A plain client, optionally with a certificate (chain file + key).
tls::SslCtxPtr client_with(const std::string& chain, const std::string& key) {
    auto ctx = test::plain_client_context();
    if (!chain.empty()) {
        REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), chain.c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) == 1);
    }
    return ctx;
}

struct Outcome {
    bool ok = false;
    bool server_has_peer_cert = false;
    std::string server_error;
    std::string client_error;
};

// Handshake, then one byte each way: a TLS 1.3 server rejects a client certificate after the
// client already thinks the handshake is done.
Outcome connect(SSL_CTX* server, SSL_CTX* client, const std::string& sni = "localhost",
                const std::string& check_host = "") {
    test::MemoryHandshake handshake(server, client);
    handshake.client.set_peer_name(sni, check_host);
    Outcome outcome;
    outcome.ok = handshake.run();
    if (outcome.ok) {
        char byte = 'x';
        size_t size = 0;
        outcome.ok = handshake.client.write(&byte, 1) == tls::TlsEngine::Status::ok;
        test::MemoryHandshake::pump(handshake.client, handshake.server);
        outcome.ok =
            outcome.ok && handshake.server.read(&byte, 1, size) == tls::TlsEngine::Status::ok;
    }
    X509* peer = SSL_get0_peer_certificate(handshake.server.native());
    outcome.server_has_peer_cert = peer != nullptr;
    outcome.server_error = handshake.server.error_reason();
    outcome.client_error = handshake.client.error_reason();
    return outcome;
}

} // namespace

TEST_CASE("server mode: no client certificate is asked for by default") {
    auto server = test::build_server_or_fail(test::rsa_server_settings());
    CHECK(SSL_CTX_get_verify_mode(server.get()) == SSL_VERIFY_NONE);
    auto client = client_with(pki().client_chain, pki().client_key);
    auto outcome = connect(server.get(), client.get());
    CHECK(outcome.ok);
    CHECK_FALSE(outcome.server_has_peer_cert);
}

TEST_CASE("server mode: require_cert + verify_chain") {
    auto settings = test::rsa_server_settings();
    settings.request_cert = settings.require_cert = settings.verify_chain = true;
    settings.ca_file = pki().root_cert;
    auto server = test::build_server_or_fail(settings);

    SECTION("the CA names from ca_file are sent with the request") {
        auto client = client_with("", "");
        test::MemoryHandshake handshake(server.get(), client.get());
        handshake.run();
        STACK_OF(X509_NAME)* names = SSL_get_client_CA_list(handshake.client.native());
        REQUIRE(names != nullptr);
        REQUIRE(sk_X509_NAME_num(names) == 1);
        char buffer[256];
        X509_NAME_oneline(sk_X509_NAME_value(names, 0), buffer, sizeof buffer);
        CHECK(std::string(buffer) == "/CN=tlsgate tls root");
    }
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        INFO(version);
        SECTION("a certificate from the CA passes") {
            auto client = client_with(pki().client_chain, pki().client_key);
            SSL_CTX_set_max_proto_version(client.get(), version);
            auto outcome = connect(server.get(), client.get());
            CHECK(outcome.ok);
            CHECK(outcome.server_has_peer_cert);
        }
        SECTION("no certificate fails") {
            auto client = client_with("", "");
            SSL_CTX_set_max_proto_version(client.get(), version);
            auto outcome = connect(server.get(), client.get());
            CHECK_FALSE(outcome.ok);
            CHECK_THAT(outcome.server_error, Catch::Contains("certificate"));
        }
        SECTION("a certificate from another CA fails, and is named") {
            auto client = client_with(pki().unpinned_cert, pki().unpinned_key);
            SSL_CTX_set_max_proto_version(client.get(), version);
            auto outcome = connect(server.get(), client.get());
            CHECK_FALSE(outcome.ok);
            CHECK_THAT(outcome.server_error, Catch::Contains("certificate verify failed: self"));
        }
    }
}

TEST_CASE("server mode: request_cert alone takes any certificate, or none") {
    auto settings = test::rsa_server_settings();
    settings.request_cert = true;
    auto server = test::build_server_or_fail(settings);
    auto self_signed = client_with(pki().unpinned_cert, pki().unpinned_key);
    auto outcome = connect(server.get(), self_signed.get());
    CHECK(outcome.ok);
    CHECK(outcome.server_has_peer_cert);
    auto none = client_with("", "");
    CHECK(connect(server.get(), none.get()).ok);
}

TEST_CASE("CRLs revoke client certificates") {
    auto settings = test::rsa_server_settings();
    settings.require_cert = settings.verify_chain = true;
    settings.ca_file = pki().root_cert;
    settings.crl_file = pki().crls;
    auto server = test::build_server_or_fail(settings);
    auto good = client_with(pki().client_chain, pki().client_key);
    CHECK(connect(server.get(), good.get()).ok);
    auto revoked = client_with(pki().revoked_chain, pki().revoked_key);
    auto outcome = connect(server.get(), revoked.get());
    CHECK_FALSE(outcome.ok);
    CHECK_THAT(outcome.server_error, Catch::Contains("revoked"));

    SECTION("revoked fails even without verify_chain") {
        settings.verify_chain = false;
        auto lax = test::build_server_or_fail(settings);
        CHECK_FALSE(connect(lax.get(), revoked.get()).ok);
    }
    SECTION("the same CRLs from a hashed directory (crl_path)") {
        // What `openssl rehash` makes: <issuer name hash>.r<n> per CRL.
        const std::string dir = test::write_temp_file("crl.d", "") + "-dir";
        mkdir(dir.c_str(), 0700);
        tls::BioPtr bio(BIO_new_file(pki().crls.c_str(), "r"));
        while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
            char name[32];
            std::snprintf(name, sizeof name, "/%08lx.r0",
                          X509_NAME_hash_ex(X509_CRL_get_issuer(crl), nullptr, nullptr, nullptr));
            tls::BioPtr out(BIO_new_file((dir + name).c_str(), "w"));
            PEM_write_bio_X509_CRL(out.get(), crl);
            X509_CRL_free(crl);
        }
        ERR_clear_error();
        settings.crl_file.reset();
        settings.crl_path = dir;
        auto by_dir = test::build_server_or_fail(settings);
        CHECK(connect(by_dir.get(), good.get()).ok);
        CHECK_FALSE(connect(by_dir.get(), revoked.get()).ok);
    }
    SECTION("a missing CRL file is a config error") {
        settings.crl_file = "/nonexistent/crl.pem";
        auto result = tls::build_server_context(settings, "service[s]");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].key == "service[s].crl_file");
    }
}

TEST_CASE("check_email and check_ip on the peer certificate") {
    auto settings = test::rsa_server_settings();
    settings.require_cert = settings.verify_chain = true;
    settings.ca_file = pki().root_cert;
    auto client = client_with(pki().client_chain, pki().client_key);
    SECTION("matching email") {
        settings.check_email = "alice@example.org";
        CHECK(connect(test::build_server_or_fail(settings).get(), client.get()).ok);
    }
    SECTION("other email") {
        settings.check_email = "bob@example.org";
        auto outcome = connect(test::build_server_or_fail(settings).get(), client.get());
        CHECK_FALSE(outcome.ok);
        CHECK_THAT(outcome.server_error, Catch::Contains("mail"));
    }
    SECTION("matching IP") {
        settings.check_ip = "192.0.2.7";
        CHECK(connect(test::build_server_or_fail(settings).get(), client.get()).ok);
    }
    SECTION("other IP") {
        settings.check_ip = "192.0.2.8";
        CHECK_FALSE(connect(test::build_server_or_fail(settings).get(), client.get()).ok);
    }
    SECTION("not an IP") {
        settings.check_ip = "mail.example.org";
        settings.where["check_ip"] = {"test.toml", 8};
        auto result = tls::build_server_context(settings, "service[s]");
        REQUIRE(result.errors.size() == 1);
        CHECK_THAT(result.errors[0].to_string(),
                   Catch::StartsWith("test.toml:8: service[s].check_ip"));
    }
}

TEST_CASE("verify_peer pins the peer certificate (stunnel's verifyPeer)") {
    SECTION("client mode: the server's own certificate must be in ca_file") {
        config::TlsSettings settings;
        settings.verify_peer = true;
        settings.ca_file = pki().pins_file;
        auto client = tls::build_client_context(settings, "service[c]");
        REQUIRE(client.errors.empty());
        auto pinned_settings = test::rsa_server_settings();
        pinned_settings.cert = {pki().pinned_cert};
        pinned_settings.key = {pki().pinned_key};
        auto pinned = test::build_server_or_fail(pinned_settings);
        CHECK(connect(pinned.get(), client.ctx.get(), "localhost", "localhost").ok);

        auto unpinned_settings = test::rsa_server_settings();
        unpinned_settings.cert = {pki().unpinned_cert};
        unpinned_settings.key = {pki().unpinned_key};
        auto unpinned = test::build_server_or_fail(unpinned_settings);
        auto outcome = connect(unpinned.get(), client.ctx.get(), "localhost", "localhost");
        CHECK_FALSE(outcome.ok);
        CHECK_THAT(outcome.client_error, Catch::Contains("certificate rejected"));

        // A chain that verifies is not enough: its leaf is not pinned.
        auto chained = test::build_server_or_fail(test::rsa_server_settings());
        CHECK_FALSE(connect(chained.get(), client.ctx.get(), "localhost", "localhost").ok);
    }
    SECTION("server mode: the client's certificate must be in ca_file") {
        auto settings = test::rsa_server_settings();
        settings.require_cert = settings.verify_peer = true;
        settings.ca_file = pki().pins_file;
        auto server = test::build_server_or_fail(settings);
        auto pinned = client_with(pki().pinned_cert, pki().pinned_key);
        CHECK(connect(server.get(), pinned.get()).ok);
        auto unpinned = client_with(pki().unpinned_cert, pki().unpinned_key);
        CHECK_FALSE(connect(server.get(), unpinned.get()).ok);
    }
    SECTION("without ca_file or ca_path it is a config error") {
        config::TlsSettings settings;
        settings.verify_peer = true;
        auto client = tls::build_client_context(settings, "service[c]");
        REQUIRE(client.errors.size() == 1);
        CHECK(client.errors[0].key == "service[c].verify_peer");
    }
}

TEST_CASE("client mode: CRLs and chain checks on the server certificate") {
    config::TlsSettings settings;
    settings.verify_chain = true;
    settings.ca_file = pki().root_cert;
    settings.crl_file = pki().crls;
    auto client = tls::build_client_context(settings, "service[c]");
    REQUIRE(client.errors.empty());
    auto good = test::build_server_or_fail(test::rsa_server_settings());
    CHECK(connect(good.get(), client.ctx.get(), "localhost", "localhost").ok);
    auto revoked_settings = test::rsa_server_settings();
    revoked_settings.cert = {pki().revoked_chain};
    revoked_settings.key = {pki().revoked_key};
    auto revoked = test::build_server_or_fail(revoked_settings);
    auto outcome = connect(revoked.get(), client.ctx.get(), "", "");
    CHECK_FALSE(outcome.ok);
    CHECK_THAT(outcome.client_error, Catch::Contains("revoked"));
}

// Issue 12: the per-connection host check (the backend's address, often an IP) must never
// replace a configured check_ip; and a configured check is enforced with verify = "none" too.
TEST_CASE("client mode: a configured check_ip is enforced next to the per-connection name") {
    auto server =
        test::build_server_or_fail(test::rsa_server_settings()); // DNS:localhost, IP:127.0.0.1
    config::TlsSettings settings;
    settings.ca_file = pki().root_cert;
    settings.session_resume = false; // every connection verifies afresh
    SECTION("verify_chain: the backend IP as default does not replace check_ip") {
        settings.verify_chain = true;
        settings.check_ip = "192.0.2.9";
        auto client = tls::build_client_context(settings, "service[c]");
        REQUIRE(client.errors.empty());
        auto outcome = connect(server.get(), client.ctx.get(), "", "127.0.0.1");
        CHECK_FALSE(outcome.ok);
        CHECK_THAT(outcome.client_error, Catch::Contains("IP address mismatch"));
        // A default host name adds to check_ip as well.
        CHECK_FALSE(connect(server.get(), client.ctx.get(), "localhost", "localhost").ok);
    }
    SECTION("verify_chain: check_ip matching, with the default name or IP") {
        settings.verify_chain = true;
        settings.check_ip = "127.0.0.1";
        auto client = tls::build_client_context(settings, "service[c]");
        REQUIRE(client.errors.empty());
        CHECK(connect(server.get(), client.ctx.get(), "", "127.0.0.1").ok);
        CHECK(connect(server.get(), client.ctx.get(), "localhost", "localhost").ok);
        CHECK_FALSE(connect(server.get(), client.ctx.get(), "", "wrong.example").ok);
    }
    SECTION("verify = none: check_ip and check_host are still enforced") {
        settings.verify = config::VerifyMode::none;
        settings.check_ip = "192.0.2.9";
        auto client = tls::build_client_context(settings, "service[c]");
        REQUIRE(client.errors.empty());
        auto outcome = connect(server.get(), client.ctx.get(), "", "");
        CHECK_FALSE(outcome.ok);
        CHECK_THAT(outcome.client_error, Catch::Contains("IP address mismatch"));
        settings.check_ip = "127.0.0.1";
        auto matching = tls::build_client_context(settings, "service[c]");
        REQUIRE(matching.errors.empty());
        CHECK(connect(server.get(), matching.ctx.get(), "", "").ok);
        CHECK_FALSE(connect(server.get(), matching.ctx.get(), "", "wrong.example").ok);
    }
    SECTION("check_host as an IP other than check_ip is a config error") {
        settings.verify_chain = true;
        settings.check_ip = "192.0.2.9";
        settings.check_host = "192.0.2.10";
        settings.where["check_host"] = {"test.toml", 9};
        auto client = tls::build_client_context(settings, "service[c]");
        REQUIRE(client.errors.size() == 1);
        CHECK_THAT(client.errors[0].to_string(),
                   Catch::StartsWith("test.toml:9: service[c].check_host"));
    }
}

TEST_CASE("dual certificates: ECDSA for clients that can use it, RSA for the others") {
    auto settings = test::rsa_server_settings();
    settings.cert = {pki().rsa_chain, pki().ec_chain};
    settings.key = {pki().rsa_key, pki().ec_key};
    auto result = tls::build_server_context(settings, "service[s]");
    REQUIRE(result.errors.empty());
    // String B has no ECDSA suites: the ECDSA certificate is for TLS 1.3 only, and that is said.
    REQUIRE(result.warnings.size() == 1);
    CHECK_THAT(result.warnings[0].message, Catch::Contains("TLS 1.3 clients only"));

    auto key_type_with = [&](SSL_CTX* server, int version, const char* sigalgs) {
        auto client = test::plain_client_context(version, version);
        if (sigalgs != nullptr) {
            REQUIRE(SSL_CTX_set1_sigalgs_list(client.get(), sigalgs) == 1);
        }
        test::MemoryHandshake handshake(server, client.get());
        if (!handshake.run()) {
            return 0;
        }
        return EVP_PKEY_get_base_id(
            X509_get0_pubkey(SSL_get0_peer_certificate(handshake.client.native())));
    };
    const char* ecdsa_only = "ECDSA+SHA256:ECDSA+SHA384";
    const char* rsa_only = "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:RSA+SHA256";
    SECTION("TLS 1.3") {
        CHECK(key_type_with(result.ctx.get(), TLS1_3_VERSION, ecdsa_only) == EVP_PKEY_EC);
        CHECK(key_type_with(result.ctx.get(), TLS1_3_VERSION, rsa_only) == EVP_PKEY_RSA);
        CHECK(key_type_with(result.ctx.get(), TLS1_3_VERSION, nullptr) == EVP_PKEY_EC);
    }
    SECTION("TLS 1.2 with string B: RSA") {
        CHECK(key_type_with(result.ctx.get(), TLS1_2_VERSION, nullptr) == EVP_PKEY_RSA);
        CHECK(key_type_with(result.ctx.get(), TLS1_2_VERSION, ecdsa_only) == 0);
    }
    SECTION("TLS 1.2 with ECDSA suites in the list") {
        // Not in front of string B: its "!ECDSA" would remove them wherever they are listed.
        settings.ciphers = "EECDH+aECDSA+AESGCM:EECDH+aRSA+AESGCM";
        auto both = tls::build_server_context(settings, "service[s]");
        REQUIRE(both.errors.empty());
        CHECK(both.warnings.empty());
        CHECK(key_type_with(both.ctx.get(), TLS1_2_VERSION, ecdsa_only) == EVP_PKEY_EC);
        CHECK(key_type_with(both.ctx.get(), TLS1_2_VERSION, rsa_only) == EVP_PKEY_RSA);
    }
    SECTION("two certificates of one key type are an error") {
        settings.cert = {pki().rsa_chain, pki().rsa_chain};
        settings.key = {pki().rsa_key, pki().rsa_key};
        auto twice = tls::build_server_context(settings, "service[s]");
        REQUIRE(twice.errors.size() == 1);
        CHECK_THAT(twice.errors[0].message, Catch::Contains("one certificate per key type"));
    }
}

TEST_CASE("X25519 is the first group") {
    CHECK(tls::resolve_policy(config::TlsSettings{}).groups.rfind("X25519:", 0) == 0);
}

TEST_CASE("options, security level, renegotiation and compression") {
    auto settings = test::rsa_server_settings();
    SECTION("options set and clear by name") {
        settings.options_set = {"NO_TICKET", "PRIORITIZE_CHACHA"};
        settings.options_clear = {"CIPHER_SERVER_PREFERENCE"};
        auto ctx = test::build_server_or_fail(settings);
        const uint64_t options = SSL_CTX_get_options(ctx.get());
        CHECK((options & SSL_OP_NO_TICKET) != 0);
        CHECK((options & SSL_OP_PRIORITIZE_CHACHA) != 0);
        CHECK((options & SSL_OP_CIPHER_SERVER_PREFERENCE) == 0);
    }
    SECTION("an unknown option names the options key") {
        settings.options_set = {"NO_SUCH_THING"};
        settings.where["options"] = {"test.toml", 17};
        auto result = tls::build_server_context(settings, "service[s]");
        REQUIRE(result.errors.size() == 1);
        CHECK_THAT(result.errors[0].to_string(),
                   Catch::StartsWith("test.toml:17: service[s].options: unknown SSL option "
                                     "\"NO_SUCH_THING\""));
    }
    SECTION("security level") {
        settings.security_level = 1;
        CHECK(SSL_CTX_get_security_level(test::build_server_or_fail(settings).get()) == 1);
        // Level 3 wants 128-bit security: RSA-2048 is too small, P-256 is fine.
        settings.security_level = 3;
        auto result = tls::build_server_context(settings, "service[s]");
        CHECK_FALSE(result.errors.empty());
        settings.cert = {pki().ec_chain};
        settings.key = {pki().ec_key};
        auto ec = tls::build_server_context(settings, "service[s]");
        for (const auto& error : ec.errors) {
            FAIL_CHECK(error.to_string());
        }
    }
    SECTION("renegotiation") {
        settings.renegotiation = true;
        const uint64_t options = SSL_CTX_get_options(test::build_server_or_fail(settings).get());
        CHECK((options & SSL_OP_NO_RENEGOTIATION) == 0);
        CHECK((options & SSL_OP_ALLOW_CLIENT_RENEGOTIATION) != 0);
    }
    SECTION("compression is refused with a reason (no zlib here, or security level 2)") {
        settings.compression = true;
        settings.where["compression"] = {"test.toml", 21};
        auto result = tls::build_server_context(settings, "service[s]");
        REQUIRE(result.errors.size() == 1);
        CHECK_THAT(result.errors[0].to_string(),
                   Catch::StartsWith("test.toml:21: service[s].compression: TLS compression"));
    }
}
