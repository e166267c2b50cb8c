// The SMTP client prelude (smtp_client_prelude.cpp): greeting, EHLO, STARTTLS, fallback.
#include "prelude_test_util.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::prelude_test;

namespace {
const auto smtp = settings_for(config::Protocol::smtp);
const auto smtp_may = settings_for(config::Protocol::smtp, config::StarttlsPolicy::may);
const std::string kSmtpGreeting = "220-mail.example.com ESMTP Postfix\r\n"
                                  "220-no UCE\r\n"
                                  "220 mail.example.com ready\r\n";
const std::string kEhloTls = "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                             "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n";
const std::string kEhloPlain = "250-mail.example.com\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n"
                               "250 8BITMIME\r\n";
} // namespace

TEST_CASE("client prelude smtp: multi-line greeting, EHLO, STARTTLS", "[client_prelude][smtp]") {
    auto r = run_all(smtp,
                     {S(kSmtpGreeting), S(kEhloTls), S("220 2.0.0 Ready to start TLS\r\n"), TLS()});
    CHECK(r.to_backend == "EHLO mx.example.org\r\nSTARTTLS\r\n");
    CHECK(r.to_client_before_tls.empty());
    CHECK(r.to_client == kSmtpAfterTls);
    CHECK(r.start_tls == 1);
    CHECK(r.plaintext_fallback == 0);
    CHECK(r.done);
}

TEST_CASE("client prelude smtp: whole conversation in one read, split at every byte",
          "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S(kSmtpGreeting + kEhloTls + "220 go ahead\r\n"), TLS()});
    CHECK(r.to_backend == "EHLO mx.example.org\r\nSTARTTLS\r\n");
    CHECK(r.to_client == kSmtpAfterTls);
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude smtp: STARTTLS keyword is case-insensitive", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S("220 hi\r\n"), S("250-hi\r\n250 starttls\r\n"), S("220 go\r\n")});
    CHECK(r.to_backend == "EHLO mx.example.org\r\nSTARTTLS\r\n");
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude smtp: no STARTTLS under may continues in plaintext",
          "[client_prelude][smtp]") {
    auto r = run_all(smtp_may, {S(kSmtpGreeting), S(kEhloPlain)});
    CHECK(r.to_backend == "EHLO mx.example.org\r\n");
    CHECK(r.plaintext_fallback == 1);
    CHECK(r.start_tls == 0);
    CHECK(r.close == 0);
    CHECK(r.to_client == kSmtpGreeting);
    CHECK(r.done);
    CHECK(has_log(r, config::LogLevel::notice,
                  "server offers no STARTTLS; continuing in plaintext (starttls_policy = may)"));
}

TEST_CASE("client prelude smtp: no STARTTLS under encrypt fails", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S(kSmtpGreeting), S(kEhloPlain)});
    CHECK(r.close == 1);
    CHECK(r.plaintext_fallback == 0);
    CHECK(r.close_reason == "server offers no STARTTLS");
    CHECK(r.to_client == "421 4.7.0 server offers no STARTTLS\r\n");
    CHECK(r.to_backend == "EHLO mx.example.org\r\n");
}

TEST_CASE("client prelude smtp: non-220 greeting fails", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S("554 5.7.1 You are not welcome\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "unexpected greeting: 554 5.7.1 You are not welcome");
    CHECK(r.to_client == "421 4.7.0 unexpected greeting: 554 5.7.1 You are not welcome\r\n");
    CHECK(r.to_backend.empty());

    auto busy = run_all(smtp_may, {S("421-busy\r\n421 try later\r\n")});
    CHECK(busy.close == 1);
    CHECK(busy.close_reason == "unexpected greeting: 421-busy");
}

TEST_CASE("client prelude smtp: 454 to STARTTLS fails", "[client_prelude][smtp]") {
    auto r = run_all(smtp_may, {S(kSmtpGreeting), S(kEhloTls),
                                S("454 4.7.0 TLS not available due to temporary reason\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason ==
          "STARTTLS refused: 454 4.7.0 TLS not available due to temporary reason");
    CHECK(r.to_client ==
          "421 4.7.0 STARTTLS refused: 454 4.7.0 TLS not available due to temporary reason\r\n");
    CHECK(r.plaintext_fallback == 0);
}

TEST_CASE("client prelude smtp: EHLO refused", "[client_prelude][smtp]") {
    auto may =
        run_all(smtp_may, {S(kSmtpGreeting), S("502 5.5.2 Error: command not recognized\r\n")});
    CHECK(may.plaintext_fallback == 1);
    CHECK(may.close == 0);
    CHECK(may.to_client == kSmtpGreeting);

    auto enc = run_all(smtp, {S(kSmtpGreeting), S("502 5.5.2 Error: command not recognized\r\n")});
    CHECK(enc.close == 1);
    CHECK(enc.close_reason == "EHLO refused: 502 5.5.2 Error: command not recognized");
    CHECK(enc.to_client == "421 4.7.0 EHLO refused: 502 5.5.2 Error: command not recognized\r\n");

    auto temp = run_all(smtp_may, {S(kSmtpGreeting), S("421 4.3.2 shutting down\r\n")});
    CHECK(temp.close == 1);
    CHECK(temp.close_reason == "EHLO refused: 421 4.3.2 shutting down");
}

TEST_CASE("client prelude smtp: bytes after the 220 go-ahead are discarded",
          "[client_prelude][smtp]") {
    const std::string injected = "250-fake\r\n250 AUTH PLAIN\r\n";
    auto r = run_all(
        smtp, {S(kSmtpGreeting), S(kEhloTls), S("220 go ahead\r\n" + injected), S("x"), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == injected.size() + 1);
    CHECK(r.to_client == kSmtpAfterTls);
    CHECK(has_log(r, config::LogLevel::warning,
                  "discarded " + std::to_string(injected.size()) +
                      " bytes the server sent after its STARTTLS go-ahead (response injection)"));
}

TEST_CASE("client prelude smtp: bytes after the EHLO reply in plaintext are discarded",
          "[client_prelude][smtp]") {
    auto r = run(smtp_may, {S(kSmtpGreeting), S(kEhloPlain + "250 unsolicited\r\n")}, whole);
    CHECK(r.plaintext_fallback == 1);
    CHECK(r.to_client == kSmtpGreeting);
    CHECK(r.discarded == 17);
}

TEST_CASE("client prelude smtp: malformed reply lines fail", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S("220 hi\r\n"), S("250-hi\r\n251 mixed\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "unexpected server response: 251 mixed");

    auto g = run_all(smtp, {S("hello\r\n")});
    CHECK(g.close == 1);
    CHECK(g.close_reason == "unexpected greeting: hello");
}

TEST_CASE("client prelude smtp: EHLO name cannot inject commands", "[client_prelude][smtp]") {
    auto s = settings_for(config::Protocol::smtp, config::StarttlsPolicy::encrypt,
                          "evil\r\nMAIL FROM:<x>");
    auto r = run(s, {S("220 hi\r\n")}, whole);
    CHECK(r.to_backend == "EHLO evilMAILFROM:<x>\r\n");
    auto empty = run(settings_for(config::Protocol::smtp, config::StarttlsPolicy::encrypt, ""),
                     {S("220 hi\r\n")}, whole);
    CHECK(empty.to_backend == "EHLO localhost\r\n");
}

TEST_CASE("client prelude smtp: overlong line fails", "[client_prelude][smtp][overlong]") {
    auto r = run(smtp, {S("220 hi\r\n"), S("250-" + std::string(10000, 'a') + "\r\n")}, whole);
    CHECK(r.close == 1);
    CHECK(r.close_reason == "server line too long");
    CHECK(r.to_client == "421 4.7.0 server line too long\r\n");
}
