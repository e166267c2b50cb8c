// The POP3 client prelude (pop3_client_prelude.cpp): greeting, CAPA, STLS.
#include "prelude_test_util.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::prelude_test;

namespace {
const auto pop3 = settings_for(config::Protocol::pop3);
const std::string kPopGreeting = "+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n";
const std::string kCapaStls = "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n"
                              "STLS\r\nPIPELINING\r\n.\r\n";
} // namespace

TEST_CASE("client prelude pop3: CAPA, STLS, a neutral greeting without the APOP timestamp",
          "[client_prelude][pop3]") {
    // APOP over a timestamp from the plaintext phase would let a forger pick the challenge:
    // the local program gets none, so it cannot offer APOP.
    auto r = run_all(pop3, {S(kPopGreeting), S(kCapaStls), S("+OK Begin TLS\r\n"), TLS()});
    CHECK(r.to_backend == "CAPA\r\nSTLS\r\n");
    CHECK(r.to_client_before_tls.empty());
    CHECK(r.to_client == kPop3AfterTls);
    CHECK(r.to_client.find('<') == std::string::npos);
    CHECK(r.start_tls == 1);
    CHECK(r.done);
}

TEST_CASE("client prelude pop3: CAPA without STLS fails", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S(kPopGreeting), S("+OK\r\nTOP\r\nUSER\r\n..STLS\r\nSTLSX\r\n.\r\n")});
    CHECK(r.to_backend == "CAPA\r\n");
    CHECK(r.close == 1);
    CHECK(r.close_reason == "server offers no STARTTLS");
    CHECK(r.to_client == "-ERR [SYS/TEMP] server offers no STARTTLS\r\n");
}

TEST_CASE("client prelude pop3: CAPA refused means no STLS", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S(kPopGreeting), S("-ERR unknown command\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "server offers no STARTTLS");
}

TEST_CASE("client prelude pop3: STLS refused", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S(kPopGreeting), S(kCapaStls), S("-ERR TLS unavailable\r\n")});
    CHECK(r.to_backend == "CAPA\r\nSTLS\r\n");
    CHECK(r.close == 1);
    CHECK(r.close_reason == "STARTTLS refused: -ERR TLS unavailable");
    CHECK(r.to_client == "-ERR [SYS/TEMP] STARTTLS refused: -ERR TLS unavailable\r\n");
}

TEST_CASE("client prelude pop3: -ERR greeting fails", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S("-ERR go away\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "unexpected greeting: -ERR go away");
    CHECK(r.to_backend.empty());
}

TEST_CASE("client prelude pop3: bytes after STLS +OK are discarded", "[client_prelude][pop3]") {
    const std::string injected = "+OK fake greeting\r\n";
    auto r = run_all(pop3, {S(kPopGreeting), S(kCapaStls), S("+OK Begin TLS\r\n" + injected),
                            S("-ERR more\r\n"), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == injected.size() + 11);
    CHECK(r.to_client == kPop3AfterTls);
    CHECK(has_log(r, config::LogLevel::warning, "(response injection)"));
}
