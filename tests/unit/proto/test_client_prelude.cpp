#include "tlsgate/proto/client_prelude.hpp"

#include <catch2/catch.hpp>
#include <functional>

using namespace tlsgate;
using namespace tlsgate::proto;

namespace {

// One step of a conversation: bytes from the server, or the handshake completing.
struct Step {
    bool tls = false;
    std::string bytes;
};
Step S(std::string b) {
    return {false, std::move(b)};
}
Step TLS() {
    return {true, {}};
}

// Everything the prelude produced over a conversation.
struct Outcome {
    std::string to_server;
    std::string to_local;
    std::string to_local_before_tls; // what the local program got before the handshake
    int start_tls = 0;
    int plaintext_fallback = 0;
    int fail = 0;
    std::string fail_reason;
    uint64_t discarded = 0;
    std::vector<LogEvent> log;
    bool done = false;
};

ClientPreludeSettings settings_for(config::Protocol protocol,
                                   config::StarttlsPolicy policy = config::StarttlsPolicy::encrypt,
                                   std::string ehlo_name = "mx.example.org") {
    ClientPreludeSettings s;
    s.protocol = protocol;
    s.starttls_policy = policy;
    s.ehlo_name = std::move(ehlo_name);
    return s;
}

void collect(Outcome& r, ClientActions& a, bool tls_done) {
    r.to_server += a.to_server;
    r.to_local += a.to_local;
    if (!tls_done) {
        r.to_local_before_tls += a.to_local;
    }
    r.start_tls += a.start_tls ? 1 : 0;
    r.plaintext_fallback += a.plaintext_fallback ? 1 : 0;
    r.fail += a.fail ? 1 : 0;
    if (a.fail) {
        r.fail_reason = a.fail_reason;
    }
    r.discarded += a.discarded_server_bytes;
    for (auto& e : a.log) {
        r.log.push_back(e);
    }
    a = ClientActions{};
}

using Splitter = std::function<std::vector<std::string>(size_t step, const std::string& bytes)>;

// Feeds the steps as the session would: never once the prelude is done.
Outcome run(const ClientPreludeSettings& settings, const std::vector<Step>& steps,
            const Splitter& split) {
    auto p = make_client_prelude(settings);
    REQUIRE(p);
    Outcome r;
    ClientActions a;
    bool tls_done = false;
    for (size_t i = 0; i < steps.size() && !p->done(); ++i) {
        if (steps[i].tls) {
            p->on_tls_established(a);
            tls_done = true;
            collect(r, a, tls_done);
            continue;
        }
        for (const auto& piece : split(i, steps[i].bytes)) {
            if (p->done()) {
                break;
            }
            p->on_server_data(piece, a);
            collect(r, a, tls_done);
        }
    }
    r.done = p->done();
    return r;
}

std::vector<std::string> whole(size_t, const std::string& b) {
    return {b};
}

std::vector<std::string> bytewise(size_t, const std::string& b) {
    std::vector<std::string> r;
    for (char c : b) {
        r.emplace_back(1, c);
    }
    return r;
}

// Log messages except the per-call discard warnings, whose count depends on the chunking.
std::vector<std::string> steady_log(const Outcome& r) {
    std::vector<std::string> m;
    for (const auto& e : r.log) {
        if (e.message.rfind("discarded ", 0) != 0) {
            m.push_back(e.message);
        }
    }
    return m;
}

void check_same(const Outcome& a, const Outcome& b) {
    CHECK(a.to_server == b.to_server);
    CHECK(a.to_local == b.to_local);
    CHECK(a.to_local_before_tls == b.to_local_before_tls);
    CHECK(a.start_tls == b.start_tls);
    CHECK(a.plaintext_fallback == b.plaintext_fallback);
    CHECK(a.fail == b.fail);
    CHECK(a.fail_reason == b.fail_reason);
    CHECK(a.discarded == b.discarded);
    CHECK(steady_log(a) == steady_log(b));
    CHECK(a.done == b.done);
}

// Runs the conversation in whole chunks, byte by byte, and split in two at every offset of
// every step; checks all give the same actions and returns the whole-chunk outcome.
Outcome run_all(const ClientPreludeSettings& settings, const std::vector<Step>& steps) {
    Outcome ref = run(settings, steps, whole);
    {
        INFO("byte by byte");
        check_same(run(settings, steps, bytewise), ref);
    }
    for (size_t s = 0; s < steps.size(); ++s) {
        for (size_t k = 1; k < steps[s].bytes.size(); ++k) {
            INFO("step " << s << " split at " << k);
            auto split = [s, k](size_t i, const std::string& b) {
                if (i != s) {
                    return std::vector<std::string>{b};
                }
                return std::vector<std::string>{b.substr(0, k), b.substr(k)};
            };
            check_same(run(settings, steps, split), ref);
        }
    }
    return ref;
}

bool has_log(const Outcome& r, config::LogLevel level, const std::string& text) {
    for (const auto& e : r.log) {
        if (e.level == level && e.message.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

const auto imap = settings_for(config::Protocol::imap);
const auto pop3 = settings_for(config::Protocol::pop3);
const auto smtp = settings_for(config::Protocol::smtp);
const auto smtp_may = settings_for(config::Protocol::smtp, config::StarttlsPolicy::may);

const std::string kDovecot = "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                             "LITERAL+ STARTTLS LOGINDISABLED] Dovecot ready.\r\n";
const std::string kA2Ok = "A2 OK Begin TLS negotiation now.\r\n";
// After TLS the local program gets tlsgate's own greeting, never the server's plaintext one
// (anyone on the path could have written it: [ALERT] text, an APOP timestamp, a banner).
const std::string kImapAfterTls = "* OK tlsgate ready\r\n";
const std::string kPop3AfterTls = "+OK tlsgate ready\r\n";
const std::string kSmtpAfterTls = "220 mx.example.org ESMTP tlsgate ready\r\n";

} // namespace

// ---------------------------------------------------------------------------- IMAP

TEST_CASE("client prelude imap: greeting with CAPABILITY code skips CAPABILITY",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S(kA2Ok), TLS()});
    CHECK(r.to_server == "A2 STARTTLS\r\n");
    CHECK(r.to_local_before_tls.empty());
    CHECK(r.to_local == kImapAfterTls);
    CHECK(r.start_tls == 1);
    CHECK(r.fail == 0);
    CHECK(r.discarded == 0);
    CHECK(r.done);
}

TEST_CASE("client prelude imap: greeting without code asks CAPABILITY", "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK IMAP server ready\r\n"),
                            S("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
                              "A1 OK Pre-login capabilities listed.\r\n"),
                            S("* OK still here\r\n" + kA2Ok), TLS()});
    CHECK(r.to_server == "A1 CAPABILITY\r\nA2 STARTTLS\r\n");
    CHECK(r.to_local == kImapAfterTls);
    CHECK(r.start_tls == 1);
    CHECK(r.done);
}

TEST_CASE("client prelude imap: capability code without STARTTLS, STARTTLS in tagged OK code",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] [ALERT] ready\r\n"),
                            S("A1 ok [CAPABILITY IMAP4rev1 starttls] done\r\n"), S(kA2Ok), TLS()});
    CHECK(r.to_server == "A1 CAPABILITY\r\nA2 STARTTLS\r\n");
    CHECK(r.to_local == kImapAfterTls);
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude imap: nothing from the plaintext greeting reaches the local program",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK [ALERT] Password expired: log in at http://evil.example/\r\n"),
                            S("* CAPABILITY IMAP4rev1 STARTTLS\r\nA1 OK [ALERT] forged\r\n"),
                            S(kA2Ok), TLS()});
    CHECK(r.to_local == kImapAfterTls);
    CHECK(r.to_local.find("evil") == std::string::npos);
}

TEST_CASE("client prelude imap: bare LF lines are accepted, greeting sent with CRLF",
          "[client_prelude][imap]") {
    auto r =
        run_all(imap, {S("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\n"), S("A2 OK go\n"), TLS()});
    CHECK(r.to_local == kImapAfterTls);
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude imap: server without STARTTLS fails", "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK ready\r\n"),
                            S("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA1 OK done\r\n"), S(kA2Ok)});
    CHECK(r.to_server == "A1 CAPABILITY\r\n");
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "server offers no STARTTLS");
    CHECK(r.to_local == "* BYE [UNAVAILABLE] server offers no STARTTLS\r\n");
    CHECK(r.start_tls == 0);
    CHECK(r.done);
}

TEST_CASE("client prelude imap: the policy is encrypt whatever the setting",
          "[client_prelude][imap]") {
    auto may = settings_for(config::Protocol::imap, config::StarttlsPolicy::may);
    auto r = run_all(may, {S("* OK ready\r\n"), S("* CAPABILITY IMAP4rev1\r\nA1 OK done\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.plaintext_fallback == 0);
    CHECK(r.to_local == "* BYE [UNAVAILABLE] server offers no STARTTLS\r\n");
}

TEST_CASE("client prelude imap: STARTTLS refused", "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S("A2 NO [UNAVAILABLE] TLS not available\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "STARTTLS refused: NO [UNAVAILABLE] TLS not available");
    CHECK(r.to_local == "* BYE [UNAVAILABLE] STARTTLS refused: NO [UNAVAILABLE] TLS not "
                        "available\r\n");
    CHECK(r.start_tls == 0);

    auto bad = run_all(imap, {S(kDovecot), S("* OK noise\r\nA2 BAD unknown command\r\n")});
    CHECK(bad.fail == 1);
    CHECK(bad.fail_reason == "STARTTLS refused: BAD unknown command");
}

TEST_CASE("client prelude imap: CAPABILITY refused", "[client_prelude][imap]") {
    auto r = run_all(imap, {S("* OK ready\r\n"), S("A1 BAD what\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "CAPABILITY refused: BAD what");
    CHECK(r.to_server == "A1 CAPABILITY\r\n");
}

TEST_CASE("client prelude imap: bytes after A2 OK in the same chunk are discarded",
          "[client_prelude][imap]") {
    const std::string injected = "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA3 OK fake\r\n";
    auto r = run_all(imap, {S(kDovecot), S(kA2Ok + injected), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == injected.size());
    CHECK(r.to_local == kImapAfterTls);
    CHECK(r.to_local.find("fake") == std::string::npos);
    CHECK(has_log(r, config::LogLevel::warning,
                  "discarded " + std::to_string(injected.size()) +
                      " bytes the server sent after its STARTTLS go-ahead (response injection)"));
}

TEST_CASE("client prelude imap: bytes after A2 OK in a later chunk are discarded",
          "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S(kA2Ok), S("* OK injected\r\n"), S("more"), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == 19);
    CHECK(r.to_local == kImapAfterTls);
    CHECK(has_log(r, config::LogLevel::warning, "discarded 15 bytes"));
    CHECK(has_log(r, config::LogLevel::warning, "discarded 4 bytes"));
}

TEST_CASE("client prelude imap: PREAUTH and BYE greetings fail", "[client_prelude][imap]") {
    auto pre = run_all(imap, {S("* PREAUTH [CAPABILITY IMAP4rev1] logged in as bob\r\n")});
    CHECK(pre.fail == 1);
    CHECK(pre.fail_reason == "server greeting is PREAUTH: STARTTLS impossible");
    CHECK(pre.to_server.empty());
    CHECK(pre.to_local ==
          "* BYE [UNAVAILABLE] server greeting is PREAUTH: STARTTLS impossible\r\n");

    auto bye = run_all(imap, {S("* BYE Too many connections\r\n")});
    CHECK(bye.fail == 1);
    CHECK(bye.fail_reason == "server unavailable: * BYE Too many connections");
    CHECK(bye.to_server.empty());

    auto junk = run_all(imap, {S("SSH-2.0-OpenSSH_9.2\r\n")});
    CHECK(junk.fail == 1);
    CHECK(junk.fail_reason == "unexpected greeting: SSH-2.0-OpenSSH_9.2");
}

TEST_CASE("client prelude imap: BYE while waiting fails", "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S("* BYE shutting down\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "server unavailable: * BYE shutting down");
}

TEST_CASE("client prelude imap: unexpected tag fails", "[client_prelude][imap]") {
    auto r = run_all(imap, {S(kDovecot), S("A7 OK what\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "unexpected server response: A7 OK what");
}

TEST_CASE("client prelude imap: overlong line fails", "[client_prelude][imap][overlong]") {
    auto r = run(imap, {S("* OK " + std::string(9000, 'x'))}, whole);
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "server line too long");
    CHECK(r.to_local == "* BYE [UNAVAILABLE] server line too long\r\n");
    CHECK(r.done);

    auto bytes = run(imap, {S("* OK " + std::string(9000, 'x'))}, bytewise);
    CHECK(bytes.fail == 1);
    CHECK(bytes.fail_reason == "server line too long");

    // Exactly at the limit is fine.
    std::string line = "* OK " + std::string(8192 - 7, 'x') + "\r\n";
    REQUIRE(line.size() == 8192);
    auto ok = run(imap, {S(line)}, whole);
    CHECK(ok.fail == 0);
    CHECK(ok.to_server == "A1 CAPABILITY\r\n");
}

TEST_CASE("client prelude imap: endless untagged lines fail", "[client_prelude][imap][overlong]") {
    std::string flood;
    while (flood.size() <= 70000) {
        flood += "* OK " + std::string(990, 'y') + "\r\n";
    }
    auto r = run(imap, {S("* OK ready\r\n"), S(flood)}, whole);
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "server response too long");
    auto bytes = run(imap, {S("* OK ready\r\n"), S(flood)}, bytewise);
    check_same(bytes, r);
}

TEST_CASE("client prelude: failure_reply per protocol, sanitized and bounded", "[client_prelude]") {
    auto i = make_client_prelude(imap);
    auto p = make_client_prelude(pop3);
    auto s = make_client_prelude(smtp);
    CHECK(i->failure_reply("connection refused") == "* BYE [UNAVAILABLE] connection refused\r\n");
    CHECK(p->failure_reply("connection refused") == "-ERR [SYS/TEMP] connection refused\r\n");
    CHECK(s->failure_reply("connection refused") == "421 4.7.0 connection refused\r\n");
    CHECK(s->failure_reply("a\r\n250 OK\r\nb") == "421 4.7.0 a  250 OK  b\r\n");
    std::string longer = s->failure_reply(std::string(1000, 'z'));
    CHECK(longer.size() <= 200 + 12);
    CHECK(longer.find('\n') == longer.size() - 1);
    CHECK(longer.find('\r') == longer.size() - 2);
    // A UTF-8 sequence is not cut in half.
    std::string utf = std::string(199, 'a') + "\xc3\xa9";
    CHECK(s->failure_reply(utf) == "421 4.7.0 " + std::string(199, 'a') + "\r\n");
    CHECK(s->failure_reply("") == "421 4.7.0 server unavailable\r\n");
}

TEST_CASE("client prelude: raw has no prelude", "[client_prelude]") {
    CHECK(make_client_prelude(settings_for(config::Protocol::raw)) == nullptr);
}

// ---------------------------------------------------------------------------- POP3

namespace {
const std::string kPopGreeting = "+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n";
const std::string kCapaStls = "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n"
                              "STLS\r\nPIPELINING\r\n.\r\n";
} // namespace

TEST_CASE("client prelude pop3: CAPA, STLS, a neutral greeting without the APOP timestamp",
          "[client_prelude][pop3]") {
    // APOP over a timestamp from the plaintext phase would let a forger pick the challenge:
    // the local program gets none, so it cannot offer APOP.
    auto r = run_all(pop3, {S(kPopGreeting), S(kCapaStls), S("+OK Begin TLS\r\n"), TLS()});
    CHECK(r.to_server == "CAPA\r\nSTLS\r\n");
    CHECK(r.to_local_before_tls.empty());
    CHECK(r.to_local == kPop3AfterTls);
    CHECK(r.to_local.find('<') == std::string::npos);
    CHECK(r.start_tls == 1);
    CHECK(r.done);
}

TEST_CASE("client prelude pop3: CAPA without STLS fails", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S(kPopGreeting), S("+OK\r\nTOP\r\nUSER\r\n..STLS\r\nSTLSX\r\n.\r\n")});
    CHECK(r.to_server == "CAPA\r\n");
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "server offers no STARTTLS");
    CHECK(r.to_local == "-ERR [SYS/TEMP] server offers no STARTTLS\r\n");
}

TEST_CASE("client prelude pop3: CAPA refused means no STLS", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S(kPopGreeting), S("-ERR unknown command\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "server offers no STARTTLS");
}

TEST_CASE("client prelude pop3: STLS refused", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S(kPopGreeting), S(kCapaStls), S("-ERR TLS unavailable\r\n")});
    CHECK(r.to_server == "CAPA\r\nSTLS\r\n");
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "STARTTLS refused: -ERR TLS unavailable");
    CHECK(r.to_local == "-ERR [SYS/TEMP] STARTTLS refused: -ERR TLS unavailable\r\n");
}

TEST_CASE("client prelude pop3: -ERR greeting fails", "[client_prelude][pop3]") {
    auto r = run_all(pop3, {S("-ERR go away\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "unexpected greeting: -ERR go away");
    CHECK(r.to_server.empty());
}

TEST_CASE("client prelude pop3: bytes after STLS +OK are discarded", "[client_prelude][pop3]") {
    const std::string injected = "+OK fake greeting\r\n";
    auto r = run_all(pop3, {S(kPopGreeting), S(kCapaStls), S("+OK Begin TLS\r\n" + injected),
                            S("-ERR more\r\n"), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == injected.size() + 11);
    CHECK(r.to_local == kPop3AfterTls);
    CHECK(has_log(r, config::LogLevel::warning, "(response injection)"));
}

// ---------------------------------------------------------------------------- SMTP

namespace {
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
    CHECK(r.to_server == "EHLO mx.example.org\r\nSTARTTLS\r\n");
    CHECK(r.to_local_before_tls.empty());
    CHECK(r.to_local == kSmtpAfterTls);
    CHECK(r.start_tls == 1);
    CHECK(r.plaintext_fallback == 0);
    CHECK(r.done);
}

TEST_CASE("client prelude smtp: whole conversation in one read, split at every byte",
          "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S(kSmtpGreeting + kEhloTls + "220 go ahead\r\n"), TLS()});
    CHECK(r.to_server == "EHLO mx.example.org\r\nSTARTTLS\r\n");
    CHECK(r.to_local == kSmtpAfterTls);
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude smtp: STARTTLS keyword is case-insensitive", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S("220 hi\r\n"), S("250-hi\r\n250 starttls\r\n"), S("220 go\r\n")});
    CHECK(r.to_server == "EHLO mx.example.org\r\nSTARTTLS\r\n");
    CHECK(r.start_tls == 1);
}

TEST_CASE("client prelude smtp: no STARTTLS under may continues in plaintext",
          "[client_prelude][smtp]") {
    auto r = run_all(smtp_may, {S(kSmtpGreeting), S(kEhloPlain)});
    CHECK(r.to_server == "EHLO mx.example.org\r\n");
    CHECK(r.plaintext_fallback == 1);
    CHECK(r.start_tls == 0);
    CHECK(r.fail == 0);
    CHECK(r.to_local == kSmtpGreeting);
    CHECK(r.done);
    CHECK(has_log(r, config::LogLevel::notice,
                  "server offers no STARTTLS; continuing in plaintext (starttls_policy = may)"));
}

TEST_CASE("client prelude smtp: no STARTTLS under encrypt fails", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S(kSmtpGreeting), S(kEhloPlain)});
    CHECK(r.fail == 1);
    CHECK(r.plaintext_fallback == 0);
    CHECK(r.fail_reason == "server offers no STARTTLS");
    CHECK(r.to_local == "421 4.7.0 server offers no STARTTLS\r\n");
    CHECK(r.to_server == "EHLO mx.example.org\r\n");
}

TEST_CASE("client prelude smtp: non-220 greeting fails", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S("554 5.7.1 You are not welcome\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "unexpected greeting: 554 5.7.1 You are not welcome");
    CHECK(r.to_local == "421 4.7.0 unexpected greeting: 554 5.7.1 You are not welcome\r\n");
    CHECK(r.to_server.empty());

    auto busy = run_all(smtp_may, {S("421-busy\r\n421 try later\r\n")});
    CHECK(busy.fail == 1);
    CHECK(busy.fail_reason == "unexpected greeting: 421-busy");
}

TEST_CASE("client prelude smtp: 454 to STARTTLS fails", "[client_prelude][smtp]") {
    auto r = run_all(smtp_may, {S(kSmtpGreeting), S(kEhloTls),
                                S("454 4.7.0 TLS not available due to temporary reason\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "STARTTLS refused: 454 4.7.0 TLS not available due to temporary reason");
    CHECK(r.to_local ==
          "421 4.7.0 STARTTLS refused: 454 4.7.0 TLS not available due to temporary reason\r\n");
    CHECK(r.plaintext_fallback == 0);
}

TEST_CASE("client prelude smtp: EHLO refused", "[client_prelude][smtp]") {
    auto may =
        run_all(smtp_may, {S(kSmtpGreeting), S("502 5.5.2 Error: command not recognized\r\n")});
    CHECK(may.plaintext_fallback == 1);
    CHECK(may.fail == 0);
    CHECK(may.to_local == kSmtpGreeting);

    auto enc = run_all(smtp, {S(kSmtpGreeting), S("502 5.5.2 Error: command not recognized\r\n")});
    CHECK(enc.fail == 1);
    CHECK(enc.fail_reason == "EHLO refused: 502 5.5.2 Error: command not recognized");
    CHECK(enc.to_local == "421 4.7.0 EHLO refused: 502 5.5.2 Error: command not recognized\r\n");

    auto temp = run_all(smtp_may, {S(kSmtpGreeting), S("421 4.3.2 shutting down\r\n")});
    CHECK(temp.fail == 1);
    CHECK(temp.fail_reason == "EHLO refused: 421 4.3.2 shutting down");
}

TEST_CASE("client prelude smtp: bytes after the 220 go-ahead are discarded",
          "[client_prelude][smtp]") {
    const std::string injected = "250-fake\r\n250 AUTH PLAIN\r\n";
    auto r = run_all(
        smtp, {S(kSmtpGreeting), S(kEhloTls), S("220 go ahead\r\n" + injected), S("x"), TLS()});
    CHECK(r.start_tls == 1);
    CHECK(r.discarded == injected.size() + 1);
    CHECK(r.to_local == kSmtpAfterTls);
    CHECK(has_log(r, config::LogLevel::warning,
                  "discarded " + std::to_string(injected.size()) +
                      " bytes the server sent after its STARTTLS go-ahead (response injection)"));
}

TEST_CASE("client prelude smtp: bytes after the EHLO reply in plaintext are discarded",
          "[client_prelude][smtp]") {
    auto r = run(smtp_may, {S(kSmtpGreeting), S(kEhloPlain + "250 unsolicited\r\n")}, whole);
    CHECK(r.plaintext_fallback == 1);
    CHECK(r.to_local == kSmtpGreeting);
    CHECK(r.discarded == 17);
}

TEST_CASE("client prelude smtp: malformed reply lines fail", "[client_prelude][smtp]") {
    auto r = run_all(smtp, {S("220 hi\r\n"), S("250-hi\r\n251 mixed\r\n")});
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "unexpected server response: 251 mixed");

    auto g = run_all(smtp, {S("hello\r\n")});
    CHECK(g.fail == 1);
    CHECK(g.fail_reason == "unexpected greeting: hello");
}

TEST_CASE("client prelude smtp: EHLO name cannot inject commands", "[client_prelude][smtp]") {
    auto s = settings_for(config::Protocol::smtp, config::StarttlsPolicy::encrypt,
                          "evil\r\nMAIL FROM:<x>");
    auto r = run(s, {S("220 hi\r\n")}, whole);
    CHECK(r.to_server == "EHLO evilMAILFROM:<x>\r\n");
    auto empty = run(settings_for(config::Protocol::smtp, config::StarttlsPolicy::encrypt, ""),
                     {S("220 hi\r\n")}, whole);
    CHECK(empty.to_server == "EHLO localhost\r\n");
}

TEST_CASE("client prelude smtp: overlong line fails", "[client_prelude][smtp][overlong]") {
    auto r = run(smtp, {S("220 hi\r\n"), S("250-" + std::string(10000, 'a') + "\r\n")}, whole);
    CHECK(r.fail == 1);
    CHECK(r.fail_reason == "server line too long");
    CHECK(r.to_local == "421 4.7.0 server line too long\r\n");
}
