// The IMAP client prelude (imap_client_prelude.cpp): greeting, CAPABILITY, STARTTLS.
#include "prelude_test_util.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::prelude_test;

namespace {
const auto imap = settings_for(config::Protocol::imap);
const std::string kDovecot = "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                             "LITERAL+ STARTTLS LOGINDISABLED] Dovecot ready.\r\n";
const std::string kA2Ok = "A2 OK Begin TLS negotiation now.\r\n";
} // namespace

TEST_CASE("client prelude imap: greeting with CAPABILITY code skips CAPABILITY",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S(kA2Ok), TLS()});
    CHECK(r.to_backend == "A2 STARTTLS\r\n");
    CHECK(r.to_client_before_tls.empty());
    CHECK(r.to_client == kImapAfterTls);
    CHECK(r.start_tls == 1);
    CHECK(r.close == 0);
    CHECK(r.discarded == 0);
    CHECK(r.done);
}

TEST_CASE("client prelude imap: greeting without code asks CAPABILITY", "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK IMAP server ready\r\n"),
                            S("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
                              "A1 OK Pre-login capabilities listed.\r\n"),
                            S("* OK still here\r\n" + kA2Ok), TLS()});
    CHECK(r.to_backend == "A1 CAPABILITY\r\nA2 STARTTLS\r\n");
    CHECK(r.to_client == kImapAfterTls);
    CHECK(r.start_tls == 1);
    CHECK(r.done);
}

TEST_CASE("client prelude imap: capability code without STARTTLS, STARTTLS in tagged OK code",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] [ALERT] ready\r\n"),
                            S("A1 ok [CAPABILITY IMAP4rev1 starttls] done\r\n"), S(kA2Ok), TLS()});
    CHECK(r.to_backend == "A1 CAPABILITY\r\nA2 STARTTLS\r\n");
    CHECK(r.to_client == kImapAfterTls);
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude imap: nothing from the plaintext greeting reaches the local program",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK [ALERT] Password expired: log in at http://evil.example/\r\n"),
                            S("* CAPABILITY IMAP4rev1 STARTTLS\r\nA1 OK [ALERT] forged\r\n"),
                            S(kA2Ok), TLS()});
    CHECK(r.to_client == kImapAfterTls);
    CHECK(r.to_client.find("evil") == std::string::npos);
}

TEST_CASE("client prelude imap: bare LF lines are accepted, greeting sent with CRLF",
          "[client_prelude][imap]") {
    auto r =
        run_all(imap, {S("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\n"), S("A2 OK go\n"), TLS()});
    CHECK(r.to_client == kImapAfterTls);
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude imap: server without STARTTLS fails", "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK ready\r\n"),
                            S("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA1 OK done\r\n"), S(kA2Ok)});
    CHECK(r.to_backend == "A1 CAPABILITY\r\n");
    CHECK(r.close == 1);
    CHECK(r.close_reason == "server offers no STARTTLS");
    CHECK(r.to_client == "* BYE [UNAVAILABLE] server offers no STARTTLS\r\n");
    CHECK(r.start_tls == 0);
    CHECK(r.done);
}

TEST_CASE("client prelude imap: the policy is encrypt whatever the setting",
          "[client_prelude][imap]") {
    auto may = settings_for(config::Protocol::imap, config::StarttlsPolicy::may);
    auto r = run_all(may, {S("* OK ready\r\n"), S("* CAPABILITY IMAP4rev1\r\nA1 OK done\r\n")});
    CHECK(r.close == 1);
    CHECK(r.plaintext_fallback == 0);
    CHECK(r.to_client == "* BYE [UNAVAILABLE] server offers no STARTTLS\r\n");
}

TEST_CASE("client prelude imap: STARTTLS refused", "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S("A2 NO [UNAVAILABLE] TLS not available\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "STARTTLS refused: NO [UNAVAILABLE] TLS not available");
    CHECK(r.to_client == "* BYE [UNAVAILABLE] STARTTLS refused: NO [UNAVAILABLE] TLS not "
                         "available\r\n");
    CHECK(r.start_tls == 0);

    auto bad = run_all(imap, {S(kDovecot), S("* OK noise\r\nA2 BAD unknown command\r\n")});
    CHECK(bad.close == 1);
    CHECK(bad.close_reason == "STARTTLS refused: BAD unknown command");
}

TEST_CASE("client prelude imap: CAPABILITY refused", "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK ready\r\n"), S("A1 BAD what\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "CAPABILITY refused: BAD what");
    CHECK(r.to_backend == "A1 CAPABILITY\r\n");
}

TEST_CASE("client prelude imap: bytes after A2 OK in the same chunk are discarded",
          "[client_prelude][imap]") {
    const std::string injected = "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA3 OK fake\r\n";
    auto r = run_all(imap, {S(kDovecot), S(kA2Ok + injected), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == injected.size());
    CHECK(r.to_client == kImapAfterTls);
    CHECK(r.to_client.find("fake") == std::string::npos);
    CHECK(has_log(r, config::LogLevel::warning,
                  "discarded " + std::to_string(injected.size()) +
                      " bytes the server sent after its STARTTLS go-ahead (response injection)"));
}

TEST_CASE("client prelude imap: bytes after A2 OK in a later chunk are discarded",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S(kA2Ok), S("* OK injected\r\n"), S("more"), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == 19);
    CHECK(r.to_client == kImapAfterTls);
    CHECK(has_log(r, config::LogLevel::warning, "discarded 15 bytes"));
    CHECK(has_log(r, config::LogLevel::warning, "discarded 4 bytes"));
}

TEST_CASE("client prelude imap: PREAUTH and BYE greetings fail", "[client_prelude][imap]") {
    auto pre = run_all(imap, {S("* PREAUTH [CAPABILITY IMAP4rev1] logged in as bob\r\n")});
    CHECK(pre.close == 1);
    CHECK(pre.close_reason == "server greeting is PREAUTH: STARTTLS impossible");
    CHECK(pre.to_backend.empty());
    CHECK(pre.to_client ==
          "* BYE [UNAVAILABLE] server greeting is PREAUTH: STARTTLS impossible\r\n");

    auto bye = run_all(imap, {S("* BYE Too many connections\r\n")});
    CHECK(bye.close == 1);
    CHECK(bye.close_reason == "server unavailable: * BYE Too many connections");
    CHECK(bye.to_backend.empty());

    auto junk = run_all(imap, {S("SSH-2.0-OpenSSH_9.2\r\n")});
    CHECK(junk.close == 1);
    CHECK(junk.close_reason == "unexpected greeting: SSH-2.0-OpenSSH_9.2");
}

TEST_CASE("client prelude imap: BYE while waiting fails", "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S("* BYE shutting down\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "server unavailable: * BYE shutting down");
}

TEST_CASE("client prelude imap: unexpected tag fails", "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S("A7 OK what\r\n")});
    CHECK(r.close == 1);
    CHECK(r.close_reason == "unexpected server response: A7 OK what");
}

TEST_CASE("client prelude imap: overlong line fails", "[client_prelude][imap][overlong]") {
    auto r = run(imap, {S("* OK " + std::string(9000, 'x'))}, whole);
    CHECK(r.close == 1);
    CHECK(r.close_reason == "server line too long");
    CHECK(r.to_client == "* BYE [UNAVAILABLE] server line too long\r\n");
    CHECK(r.done);

    auto bytes = run(imap, {S("* OK " + std::string(9000, 'x'))}, bytewise);
    CHECK(bytes.close == 1);
    CHECK(bytes.close_reason == "server line too long");

    // Exactly at the limit is fine.
    std::string line = "* OK " + std::string(8192 - 7, 'x') + "\r\n";
    REQUIRE(line.size() == 8192);
    auto ok = run(imap, {S(line)}, whole);
    CHECK(ok.close == 0);
    CHECK(ok.to_backend == "A1 CAPABILITY\r\n");
}

TEST_CASE("client prelude imap: endless untagged lines fail", "[client_prelude][imap][overlong]") {
    std::string flood;
    while (flood.size() <= 70000) {
        flood += "* OK " + std::string(990, 'y') + "\r\n";
    }
    auto r = run(imap, {S("* OK ready\r\n"), S(flood)}, whole);
    CHECK(r.close == 1);
    CHECK(r.close_reason == "server response too long");
    auto bytes = run(imap, {S("* OK ready\r\n"), S(flood)}, bytewise);
    check_same(bytes, r);
}
