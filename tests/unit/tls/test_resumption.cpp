#include "support/test_certs.hpp"
#include "tls/handshake.hpp"
#include "tls/tls_pki.hpp"
#include "tlsgate/tls/context.hpp"
#include "tlsgate/tls/sni_router.hpp"
#include "tlsgate/tls/ticket_keys.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <openssl/rand.h>
#include <string>

using namespace tlsgate;
using test::handshake_with;

namespace {

std::string random_key_line() {
    unsigned char bytes[80];
    RAND_bytes(bytes, sizeof bytes);
    std::string hex;
    for (unsigned char b : bytes) {
        char pair[3];
        std::snprintf(pair, sizeof pair, "%02x", b);
        hex += pair;
    }
    return hex;
}

// Writes the key file anew (new inode, as `mv` of a fresh file does).
std::string write_key_file(const std::string& name, const std::string& content) {
    const std::string path = test::write_temp_file(name, "");
    const std::string fresh = test::write_temp_file(name + ".new", content);
    std::rename(fresh.c_str(), path.c_str());
    return path;
}

config::TlsSettings server_settings() {
    config::TlsSettings settings;
    settings.cert = {test::tls_pki().rsa_chain};
    settings.key = {test::tls_pki().rsa_key};
    settings.section = {"test.toml", 3};
    return settings;
}

tls::SslCtxPtr server_context(const config::TlsSettings& settings) {
    auto result = tls::build_server_context(settings, "service[t]");
    for (const auto& error : result.errors) {
        FAIL(error.to_string());
    }
    return result.ctx;
}

// First handshake, then a second offering the first one's session: was it resumed?
bool resumes(SSL_CTX* first_server, SSL_CTX* second_server, int version) {
    auto client = test::plain_client_context(version, version);
    bool reused = false;
    tls::SslSessionPtr session;
    REQUIRE(handshake_with(first_server, client.get(), nullptr, reused, &session));
    CHECK_FALSE(reused);
    REQUIRE(session);
    REQUIRE(handshake_with(second_server, client.get(), session.get(), reused));
    return reused;
}

} // namespace

TEST_CASE("ticket key file: one key per line, 160 hex digits, first encrypts") {
    const std::string a = random_key_line();
    const std::string b = random_key_line();
    SECTION("two keys, comments and blank lines") {
        auto keys = tls::parse_ticket_key_file("# made by openssl rand -hex 80\n" + a + "\n\n  " +
                                               b + "  \r\n");
        REQUIRE(keys);
        REQUIRE(keys->size() == 2);
        CHECK((*keys)[0].name[0] == std::stoi(a.substr(0, 2), nullptr, 16));
        CHECK((*keys)[0].hmac_key[0] == std::stoi(a.substr(32, 2), nullptr, 16));
        CHECK((*keys)[0].aes_key[0] == std::stoi(a.substr(96, 2), nullptr, 16));
        CHECK((*keys)[0].aes_size == 32);
    }
    SECTION("a short line names its line") {
        auto keys = tls::parse_ticket_key_file(a + "\n" + b.substr(2) + "\n");
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message,
                   Catch::StartsWith("line 2: expected 160 hexadecimal digits"));
    }
    SECTION("not hexadecimal") {
        auto keys = tls::parse_ticket_key_file(std::string(160, 'g'));
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message, Catch::StartsWith("line 1:"));
    }
    SECTION("two keys with one name") {
        auto keys = tls::parse_ticket_key_file(a + "\n" + a.substr(0, 32) + b.substr(32));
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message, Catch::Contains("same name"));
    }
    SECTION("no key at all") {
        auto keys = tls::parse_ticket_key_file("# nothing\n\n");
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message, Catch::Contains("no key"));
    }
}

TEST_CASE("fixed ticket key from stunnel-style secrets") {
    const std::string aes(64, 'a');
    const std::string mac(32, 'b');
    auto one = tls::ticket_key_from_secrets(aes, mac);
    auto two = tls::ticket_key_from_secrets(aes, mac);
    REQUIRE(one);
    REQUIRE(two);
    CHECK(one->name == two->name); // every process with these secrets names the key alike
    CHECK(one->aes_size == 32);
    CHECK(one->hmac_size == 16);
    CHECK_FALSE(tls::ticket_key_from_secrets("abc", mac));
}

TEST_CASE("generated ticket keys rotate and keep the previous key for one period") {
    using namespace std::chrono_literals;
    auto made = tls::TicketKeyStore::generated(10s);
    REQUIRE(made);
    auto store = *made;
    const auto start = tls::TicketKeyStore::Clock::now();
    auto first = store->keys(start);
    REQUIRE(first->size() == 1);
    CHECK(*store->keys(start + 5s) == *first);
    auto second = store->keys(start + 11s);
    REQUIRE(second->size() == 2);
    CHECK((*second)[1] == (*first)[0]); // the old key still decrypts
    CHECK_FALSE((*second)[0] == (*first)[0]);
    auto third = store->keys(start + 21s);
    REQUIRE(third->size() == 2);
    CHECK((*third)[1] == (*second)[0]); // the oldest is gone
    CHECK_FALSE((*third)[0] == (*first)[0]);
    CHECK_FALSE((*third)[1] == (*first)[0]);
}

TEST_CASE("ticket key file is reloaded when it changes; a bad new file keeps the old keys") {
    using namespace std::chrono_literals;
    const std::string a = random_key_line();
    const std::string b = random_key_line();
    const std::string path = write_key_file("reload.keys", a + "\n");
    auto made = tls::TicketKeyStore::from_file(path);
    REQUIRE(made);
    auto store = *made;
    const auto start = tls::TicketKeyStore::Clock::now();
    auto before = store->keys(start);
    REQUIRE(before->size() == 1);

    write_key_file("reload.keys", b + "\n" + a + "\n");
    CHECK(*store->keys(start) == *before); // looked at no more than once a second
    auto after = store->keys(start + 2s);
    REQUIRE(after->size() == 2);
    CHECK((*after)[1] == (*before)[0]);

    write_key_file("reload.keys", "not a key\n");
    CHECK(*store->keys(start + 4s) == *after);

    auto refused = tls::TicketKeyStore::from_file(path);
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message,
               Catch::Contains("reload.keys") && Catch::Contains("line 1"));
}

TEST_CASE("session tickets resume TLS 1.2 and TLS 1.3 sessions") {
    auto server = server_context(server_settings());
    CHECK((SSL_CTX_get_options(server.get()) & SSL_OP_NO_TICKET) == 0);
    CHECK(resumes(server.get(), server.get(), TLS1_2_VERSION));
    CHECK(resumes(server.get(), server.get(), TLS1_3_VERSION));
}

TEST_CASE("a fleet sharing the ticket key file resumes each other's sessions") {
    const std::string a = random_key_line();
    const std::string b = random_key_line();
    auto settings = server_settings();
    settings.ticket_key_file = write_key_file("fleet.keys", a + "\n");
    auto one = server_context(settings);
    auto two = server_context(settings);
    // Session caches are per context: only the ticket can carry the session across.
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        INFO(version);
        CHECK(resumes(one.get(), two.get(), version));
        CHECK(resumes(two.get(), one.get(), version));
    }

    SECTION("a new first key: old tickets still decrypt, and are renewed") {
        settings.ticket_key_file = write_key_file("fleet2.keys", b + "\n" + a + "\n");
        auto rotated = server_context(settings);
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
        settings.ticket_key_file = write_key_file("fleet3.keys", b + "\n");
        auto other = server_context(settings);
        CHECK_FALSE(resumes(one.get(), other.get(), TLS1_2_VERSION));
        CHECK_FALSE(resumes(one.get(), other.get(), TLS1_3_VERSION));
    }
}

TEST_CASE("fixed secrets are shared like a key file; generated keys are not") {
    auto settings = server_settings();
    auto generated_one = server_context(settings);
    auto generated_two = server_context(settings);
    CHECK_FALSE(resumes(generated_one.get(), generated_two.get(), TLS1_3_VERSION));
    settings.ticket_key_secret = std::string(64, '1');
    settings.ticket_mac_secret = std::string(64, '2');
    auto fixed_one = server_context(settings);
    auto fixed_two = server_context(settings);
    CHECK(resumes(fixed_one.get(), fixed_two.get(), TLS1_3_VERSION));
    CHECK(resumes(fixed_one.get(), fixed_two.get(), TLS1_2_VERSION));
}

TEST_CASE("session cache: resumption by session id when tickets are off") {
    auto settings = server_settings();
    settings.tickets = false;
    settings.session_cache_size = 123;
    settings.session_cache_timeout = std::chrono::seconds(77);
    auto server = server_context(settings);
    CHECK((SSL_CTX_get_options(server.get()) & SSL_OP_NO_TICKET) != 0);
    CHECK(SSL_CTX_sess_get_cache_size(server.get()) == 123);
    CHECK(SSL_CTX_get_timeout(server.get()) == 77);
    CHECK(resumes(server.get(), server.get(), TLS1_2_VERSION));
    CHECK(resumes(server.get(), server.get(), TLS1_3_VERSION)); // stateful TLS 1.3 tickets

    SECTION("no cache and no tickets: no resumption") {
        settings.session_cache = false;
        auto none = server_context(settings);
        CHECK(SSL_CTX_get_session_cache_mode(none.get()) == SSL_SESS_CACHE_OFF);
        CHECK_FALSE(resumes(none.get(), none.get(), TLS1_2_VERSION));
        CHECK_FALSE(resumes(none.get(), none.get(), TLS1_3_VERSION));
    }
    SECTION("a second context does not know the first one's cache") {
        auto other = server_context(settings);
        CHECK_FALSE(resumes(server.get(), other.get(), TLS1_2_VERSION));
    }
}

TEST_CASE("a session made without client certificates does not open a service requiring one") {
    auto settings = server_settings();
    settings.ticket_key_file = write_key_file("sidctx.keys", random_key_line() + "\n");
    auto open = server_context(settings);
    settings.request_cert = true;
    settings.ca_file = test::tls_pki().root_cert;
    auto asking = server_context(settings);
    CHECK_FALSE(resumes(open.get(), asking.get(), TLS1_3_VERSION));
}

TEST_CASE("an SNI child requiring certificates does not resume its parent's sessions") {
    for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        for (const bool tickets : {true, false}) {
            INFO("version " << version << ", tickets " << tickets);
            auto settings = server_settings();
            settings.tickets = tickets;
            // One key file: the parent's tickets decrypt on the child too.
            settings.ticket_key_file = write_key_file("sni.keys", random_key_line() + "\n");
            auto parent = server_context(settings);
            settings.request_cert = settings.require_cert = settings.verify_chain = true;
            settings.ca_file = test::tls_pki().root_cert;
            auto child = server_context(settings);
            tls::SniRouter router({{"secure.example.org", child}});
            router.install(parent.get());

            auto client = test::plain_client_context(version, version);
            if (!tickets) {
                SSL_CTX_set_options(client.get(), SSL_OP_NO_TICKET);
            }
            const auto connect = [&](const char* name, SSL_SESSION* offer, bool& reused,
                                     tls::SslSessionPtr* next) {
                test::MemoryHandshake handshake(parent.get(), client.get());
                SSL_set_tlsext_host_name(handshake.client.native(), name);
                if (offer != nullptr) {
                    SSL_set_session(handshake.client.native(), offer);
                }
                const bool ok = handshake.run();
                reused = ok && handshake.client.session_reused();
                if (next != nullptr) {
                    *next = handshake.client_session();
                }
                return ok;
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
    auto server = server_context(server_settings());
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
    auto settings = server_settings();
    settings.ticket_key_file = "/nonexistent/ticket.keys";
    settings.where["ticket_key_file"] = {"test.toml", 12};
    auto result = tls::build_server_context(settings, "service[t]");
    REQUIRE(result.errors.size() == 1);
    CHECK_THAT(result.errors[0].to_string(),
               Catch::StartsWith("test.toml:12: service[t].ticket_key_file: cannot read"));
}
