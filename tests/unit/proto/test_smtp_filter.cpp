#include "filter_test_util.hpp"
#include "tlsgate/proto/smtp_filter.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::test;

namespace {
FilterSettings smtp(bool implicit = false,
                    config::StarttlsPolicy policy = config::StarttlsPolicy::encrypt) {
    return settings_for(config::Protocol::smtp, implicit, policy);
}
const std::string kGreeting = "220-mx.example.org ESMTP\r\n220 no UCE\r\n";
const std::string kEhlo = "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                          "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-STARTTLS\r\n"
                          "250-CHUNKING\r\n250 8BITMIME\r\n";
const std::string kEhloPlain = "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                               "250-CHUNKING\r\n250-8BITMIME\r\n250 STARTTLS\r\n";
const std::string kEhloTls = "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                             "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-CHUNKING\r\n"
                             "250 8BITMIME\r\n";
const std::string k530 = "530 5.7.0 Must issue a STARTTLS command first\r\n";
const std::string k538 = "538 5.7.11 Encryption required for requested authentication "
                         "mechanism\r\n";
} // namespace

TEST_CASE("smtp: EHLO rewritten before and after STARTTLS, RSET swallowed", "[smtp]") {
    auto r = run_both(smtp(), {B(kGreeting), C("EHLO client\r\n"), B(kEhlo), C("STARTTLS\r\n"),
                               TLS(), B("250 2.0.0 Ok\r\n"), C("EHLO client\r\n"), B(kEhlo)});
    CHECK(r.to_client == kGreeting + kEhloPlain + "220 2.0.0 Ready to start TLS\r\n" + kEhloTls);
    CHECK(r.to_backend == "EHLO client\r\nRSET\r\nEHLO client\r\n");
    CHECK(r.start_tls == 1);
    CHECK(r.counters.starttls_completed == 1);
}

TEST_CASE("smtp: EHLO with AUTH or STARTTLS as the last line stays well-formed", "[smtp]") {
    std::string last_auth = "250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n";
    auto r = run_both(smtp(), {B("220 mx\r\n"), C("EHLO c\r\n"), B(last_auth)});
    CHECK(r.to_client == "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    auto t = run_both(smtp(true), {B("220 mx\r\n"), C("EHLO c\r\n"), B(last_auth)});
    CHECK(t.to_client == "220 mx\r\n" + last_auth);
    auto s = run_both(smtp(true), {B("220 mx\r\n"), C("EHLO c\r\n"),
                                   B("250-mx\r\n250-AUTH PLAIN\r\n250 "
                                     "STARTTLS\r\n")});
    CHECK(s.to_client == "220 mx\r\n250-mx\r\n250 AUTH PLAIN\r\n");
    auto one = run_both(smtp(), {B("220 mx\r\n"), C("EHLO c\r\n"), B("250 mx\r\n")});
    CHECK(one.to_client == "220 mx\r\n250-mx\r\n250 STARTTLS\r\n");
    auto err = run_both(smtp(), {B("220 mx\r\n"), C("EHLO c\r\n"), B("502 5.5.2 no\r\n")});
    CHECK(err.to_client == "220 mx\r\n502 5.5.2 no\r\n");
}

TEST_CASE("smtp: EHLO reply split at every byte boundary", "[smtp]") {
    for (bool implicit : {false, true}) {
        for (size_t i = 0; i <= kEhlo.size(); ++i) {
            auto f = make_server_filter(smtp(implicit));
            Actions a;
            f->on_backend_data("220 mx\r\n", a);
            f->on_client_data("EHLO c\r\nNOOP\r\n", a);
            f->on_backend_data(kEhlo.substr(0, i), a);
            f->on_backend_data(kEhlo.substr(i) + "250 ok\r\n", a);
            CHECK(a.to_client == "220 mx\r\n" + (implicit ? kEhloTls : kEhloPlain) + "250 ok\r\n");
        }
    }
}

TEST_CASE("smtp: AUTH refused before TLS, others need STARTTLS under encrypt", "[smtp]") {
    auto s = smtp();
    s.max_errors = 10;
    auto r = run_both(s, {B(kGreeting), C("EHLO c\r\nAUTH PLAIN AHVzZXIAaHVudGVyMg==\r\n"),
                          C("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nVRFY x\r\n"),
                          C("BDAT 5 LAST\r\nabcdeNOOP\r\n"), B(kEhlo), B("250 ok\r\n")});
    CHECK(r.to_client ==
          kGreeting + kEhloPlain + k538 + k530 + k530 + k530 + k530 + k530 + "250 ok\r\n");
    CHECK(r.to_backend == "EHLO c\r\nNOOP\r\n");
    CHECK(r.counters.auth_refused_before_tls == 1);
    CHECK(r.counters.commands_refused == 6);
    CHECK(logs_free_of(r, "AHVzZXIAaHVudGVyMg"));
    CHECK(logs_free_of(r, "a@b"));
    CHECK(!r.close);
}

TEST_CASE("smtp: max_errors closes with 421", "[smtp]") {
    auto s = smtp();
    s.max_errors = 3;
    auto r = run_both(s, {B("220 mx\r\n"), C("MAIL FROM:<a>\r\nAUTH LOGIN\r\n\r\nNOOP\r\n")});
    CHECK(r.to_client == "220 mx\r\n" + k530 + k538 + "500 5.5.2 Error: bad syntax\r\n" +
                             "421 4.7.0 Too many errors, closing connection\r\n");
    CHECK(r.close);
    CHECK(r.to_backend.empty());
}

TEST_CASE("smtp: may policy forwards mail commands but never AUTH; order kept", "[smtp]") {
    auto may = smtp(false, config::StarttlsPolicy::may);
    auto r = run_both(may, {B("220 mx\r\n"), C("MAIL FROM:<a>\r\nAUTH PLAIN x\r\nRCPT TO:<b>\r\n"),
                            B("250 2.1.0 ok\r\n250 2.1.5 ok\r\n")});
    CHECK(r.to_backend == "MAIL FROM:<a>\r\nRCPT TO:<b>\r\n");
    CHECK(r.to_client == "220 mx\r\n250 2.1.0 ok\r\n" + k538 + "250 2.1.5 ok\r\n");
}

TEST_CASE("smtp: STARTTLS variants", "[smtp]") {
    auto arg = run_both(smtp(), {B("220 mx\r\n"), C("STARTTLS now\r\n")});
    CHECK(arg.to_client == "220 mx\r\n501 5.5.4 Syntax error (no parameters allowed)\r\n");
    CHECK(arg.start_tls == 0);
    auto twice = run_both(
        smtp(), {B("220 mx\r\n"), C("STARTTLS\r\n"), TLS(), B("250 ok\r\n"), C("STARTTLS\r\n")});
    CHECK(twice.to_client == "220 mx\r\n220 2.0.0 Ready to start TLS\r\n"
                             "503 5.5.1 Error: TLS already active\r\n");
    auto implicit = run_both(smtp(true), {B("220 mx\r\n"), C("STARTTLS\r\n")});
    CHECK(implicit.to_client == "220 mx\r\n503 5.5.1 Error: TLS already active\r\n");
    CHECK(implicit.to_backend.empty());
}

TEST_CASE("smtp: pipelined bytes after STARTTLS discarded", "[smtp]") {
    std::string injected = "AUTH PLAIN AGEAYg==\r\nMAIL FROM:<evil>\r\n";
    auto r = run_both(smtp(), {B("220 mx\r\n"), C("EHLO c\r\nSTARTTLS\r\n" + injected),
                               B("250 mx\r\n"), C("RCPT TO:<x>\r\n"), TLS(), B("250 reset\r\n"),
                               C("EHLO c\r\n"), B("250 mx\r\n")});
    CHECK(r.to_client == "220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n"
                         "250 mx\r\n");
    CHECK(r.to_backend == "EHLO c\r\nRSET\r\nEHLO c\r\n");
    CHECK(r.counters.injected_bytes_discarded == injected.size() + 13);
}

TEST_CASE("smtp: state from before TLS does not survive it", "[smtp]") {
    auto may = smtp(false, config::StarttlsPolicy::may);
    auto r =
        run_both(may, {B("220 mx\r\n"), C("MAIL FROM:<a>\r\n"), B("250 ok\r\n"), C("STARTTLS\r\n"),
                       TLS(), B("250-2.0.0 reset\r\n250 ok\r\n"),
                       C("RCPT TO:<b>\r\nEHLO c\r\nMAIL FROM:<a>\r\n"), B("250 mx\r\n250 ok\r\n")});
    CHECK(r.to_backend == "MAIL FROM:<a>\r\nRSET\r\nEHLO c\r\nMAIL FROM:<a>\r\n");
    CHECK(r.to_client == "220 mx\r\n250 ok\r\n220 2.0.0 Ready to start TLS\r\n"
                         "503 5.5.1 Error: send HELO/EHLO first\r\n250 mx\r\n250 ok\r\n");
}

TEST_CASE("smtp: DATA body holding command lines is data", "[smtp]") {
    std::string body = "Subject: test\r\n\r\nAUTH PLAIN AGEAYg==\r\nSTARTTLS\r\n..leading dot\r\n"
                       "QUIT\r\n.\r\n";
    auto r = run_both(smtp(true), {B("220 mx\r\n"), C("MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n"),
                                   B("250 ok\r\n250 ok\r\n354 go ahead\r\n"), C(body),
                                   C("QUIT\r\n"), B("250 queued\r\n221 bye\r\n")});
    CHECK(r.to_backend == "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n" + body + "QUIT\r\n");
    CHECK(r.to_client == "220 mx\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n250 queued\r\n221 bye\r\n");
    CHECK(r.start_tls == 0);
    CHECK(r.counters.commands_refused == 0);

    // The body sent along with DATA (not waiting for 354) is held until the reply decides.
    auto early = run_both(smtp(true),
                          {B("220 mx\r\n"), C("DATA\r\n" + body), B("354 go\r\n250 queued\r\n")});
    CHECK(early.to_backend == "DATA\r\n" + body);
}

TEST_CASE("smtp: DATA refused by the backend: following lines are commands", "[smtp]") {
    auto r = run_both(smtp(true), {B("220 mx\r\n"), C("DATA\r\nSTARTTLS\r\nNOOP\r\n"),
                                   B("554 5.5.1 no valid recipients\r\n"), B("250 ok\r\n")});
    CHECK(r.to_backend == "DATA\r\nNOOP\r\n");
    CHECK(r.to_client == "220 mx\r\n554 5.5.1 no valid recipients\r\n"
                         "503 5.5.1 Error: TLS already active\r\n250 ok\r\n");
}

TEST_CASE("smtp: smuggling sequences never end DATA in either hop", "[smtp]") {
    struct Case {
        std::string in;
        std::string out;
    };
    const std::string tail = "MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nspoofed\r\n";
    std::vector<Case> cases = {
        {"hi\n.\n" + tail, "hi\r\n..\r\n" + tail},
        {"hi\r.\r" + tail, "hi\r\n..\r\n" + tail},
        {"hi\n.\r\n" + tail, "hi\r\n..\r\n" + tail},
        {"hi\r\n.\n" + tail, "hi\r\n..\r\n" + tail},
        {"hi\r\n.\r" + tail, "hi\r\n..\r\n" + tail},
        {"hi\r.\r\n" + tail, "hi\r\n..\r\n" + tail},
        {"hi\rthere\nyou\r\n", "hi\r\nthere\r\nyou\r\n"},
        {"\n.\r\n", "\r\n..\r\n"},
        {".\nx\r\n", "..\r\nx\r\n"},
        {".x\r\n..\r\n", ".x\r\n..\r\n"},
    };
    for (const auto& c : cases) {
        auto r = run_both(smtp(true), {B("220 mx\r\n"), C("DATA\r\n"), B("354 go\r\n"),
                                       C(c.in + ".\r\nQUIT\r\n"), B("250 queued\r\n221 bye\r\n")});
        CHECK(r.to_backend == "DATA\r\n" + c.out + ".\r\nQUIT\r\n");
        // One message, one reply: the smuggled MAIL FROM was never a command.
        CHECK(r.to_client == "220 mx\r\n354 go\r\n250 queued\r\n221 bye\r\n");
    }
    // An empty body ends at once.
    auto e =
        run_both(smtp(true), {B("220 mx\r\n"), C("DATA\r\n"), B("354 go\r\n"), C(".\r\nNOOP\r\n")});
    CHECK(e.to_backend == "DATA\r\n.\r\nNOOP\r\n");
}

TEST_CASE("smtp: BDAT chunks relayed as exact octets", "[smtp]") {
    std::string chunk = "STARTTLS\r\nAUTH PLAIN x\r\n"; // 24 octets
    auto r = run_both(smtp(true),
                      {B("220 mx\r\n"), C("EHLO c\r\n"), B("250-mx\r\n250 CHUNKING\r\n"),
                       C("MAIL FROM:<a>\r\nBDAT 24\r\n" + chunk + "BDAT 3 LAST\r\nabcNOOP\r\n"),
                       B("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n")});
    CHECK(r.to_backend ==
          "EHLO c\r\nMAIL FROM:<a>\r\nBDAT 24\r\n" + chunk + "BDAT 3 LAST\r\nabcNOOP\r\n");
    CHECK(r.counters.commands_refused == 0);
    CHECK(r.start_tls == 0);

    // Without CHUNKING from the backend the chunk would be read as commands: refused, skipped.
    auto no = run_both(smtp(true), {B("220 mx\r\n"), C("EHLO c\r\n"), B("250 mx\r\n"),
                                    C("BDAT 24\r\n" + chunk + "NOOP\r\n"), B("250 ok\r\n")});
    CHECK(no.to_backend == "EHLO c\r\nNOOP\r\n");
    CHECK(no.to_client == "220 mx\r\n250 mx\r\n502 5.5.1 Error: command not implemented\r\n"
                          "250 ok\r\n");
    auto bad = run_both(smtp(true), {B("220 mx\r\n"), C("BDAT x\r\n")});
    CHECK(bad.to_client ==
          "220 mx\r\n421 4.7.0 Error: malformed BDAT command, closing connection\r\n");
    CHECK(bad.close);
}

TEST_CASE("smtp: line limits", "[smtp]") {
    auto r = run_both(smtp(), {B("220 mx\r\n"), C("NOOP " + std::string(506, 'x') + "\r\n")});
    CHECK(r.to_client == "220 mx\r\n500 5.5.6 Line too long\r\n");
    CHECK(r.close);
    CHECK(r.to_backend.empty());
    CHECK(r.counters.overlong_lines == 1);
    auto ok = run_both(smtp(), {B("220 mx\r\n"), C("NOOP " + std::string(505, 'x') + "\r\n")});
    CHECK(!ok.close);
    CHECK(ok.to_backend.size() == 512);

    // SASL continuation lines after 334 may be up to 12,288 octets (RFC 4954).
    std::string sasl(12286, 'A');
    auto s = run_both(smtp(true), {B("220 mx\r\n"), C("AUTH PLAIN\r\n"), B("334 \r\n"),
                                   C(sasl + "\r\n"), B("235 2.7.0 ok\r\n"), C("NOOP\r\n")});
    CHECK(!s.close);
    CHECK(s.to_backend == "AUTH PLAIN\r\n" + sasl + "\r\nNOOP\r\n");
    CHECK(s.to_client == "220 mx\r\n334 \r\n235 2.7.0 ok\r\n");
    auto big = run_both(smtp(true),
                        {B("220 mx\r\n"), C("AUTH PLAIN\r\n"), B("334 \r\n"), C(sasl + "A\r\n")});
    CHECK(big.close);
    CHECK(big.to_backend == "AUTH PLAIN\r\n");
    CHECK(big.to_client == "220 mx\r\n334 \r\n500 5.5.6 Line too long\r\n");
}

TEST_CASE("smtp: command before the greeting is held", "[smtp]") {
    auto r = run_both(smtp(), {C("EHLO early\r\n"), B(kGreeting), B(kEhlo)});
    CHECK(r.to_backend == "EHLO early\r\n");
    CHECK(r.to_client == kGreeting + kEhloPlain);
}

TEST_CASE("smtp: replies of our own", "[smtp]") {
    auto f = make_server_filter(smtp());
    CHECK(f->backend_unavailable_reply().starts_with("421 4.3.2 "));
    CHECK(f->timeout_reply().starts_with("421 4.4.2 "));
    CHECK(!f->transparent());
}

TEST_CASE("smtp: overlong backend reply lines pass through", "[smtp]") {
    std::string big(FilterBase::kMaxBackendLine + 10, 'x');
    std::string ehlo = "250-mx\r\n250-AUTH PLAIN\r\n250-X" + big + "\r\n250 8BITMIME\r\n";
    auto r = run(smtp(), {B("220 mx\r\n"), C("EHLO c\r\nNOOP\r\n"), B(ehlo), B("250 ok\r\n")});
    CHECK(r.to_client == "220 mx\r\n250-mx\r\n250-X" + big + "\r\n250 8BITMIME\r\n250 ok\r\n");
}

TEST_CASE("smtp: held client input is bounded", "[smtp]") {
    // Body bytes sent without waiting for 354 wait for DATA's reply, but not without limit.
    std::string flood(FilterBase::kMaxHeldClientBytes + FilterBase::kClientReadAhead + 1, 'x');
    auto r = run_both(smtp(true), {B("220 mx\r\n"), C("DATA\r\n"), C(flood)});
    CHECK(r.close);
    CHECK(r.to_backend == "DATA\r\n");
    CHECK(r.to_client ==
          "220 mx\r\n421 4.7.0 Too much data sent ahead of the server, closing connection\r\n");
}

TEST_CASE("smtp: a SASL response pipelined behind a refused AUTH is never forwarded", "[smtp]") {
    FilterSettings settings;
    settings.protocol = config::Protocol::smtp;
    settings.starttls_policy = config::StarttlsPolicy::may;
    auto filter = make_server_filter(settings);
    Actions out;
    filter->on_backend_data("220 mx ready\r\n", out);
    filter->on_client_data("AUTH LOGIN\r\nYWxpY2U=\r\nYWxpY2VwYXNz\r\nNOOP\r\n", out);
    CHECK(out.to_backend == "NOOP\r\n");
    CHECK(out.to_backend.find("YWxp") == std::string::npos);
}

// --------------------------------------------------------------------------- issue 12

namespace {
const std::string kEhloX = "250-mx.example.org\r\n250-PIPELINING\r\n250-XCLIENT NAME ADDR PROTO "
                           "HELO\r\n250-xforward NAME ADDR\r\n250 8BITMIME\r\n";
const std::string k550x = "550 5.7.0 Error: insufficient authorization\r\n";
} // namespace

TEST_CASE("smtp: XCLIENT and XFORWARD hidden from EHLO and refused", "[smtp][xclient]") {
    for (bool implicit : {false, true}) {
        auto s = smtp(implicit, config::StarttlsPolicy::may);
        auto r = run_both(s, {B("220 mx\r\n"), C("EHLO c\r\n"), B(kEhloX),
                              C("XCLIENT ADDR=10.0.0.1 NAME=trusted.example\r\n"
                                "xforward ADDR=10.0.0.1\r\nNOOP\r\n"),
                              B("250 ok\r\n")});
        std::string ehlo = "250-mx.example.org\r\n250-PIPELINING\r\n";
        ehlo += implicit ? "250 8BITMIME\r\n" : "250-8BITMIME\r\n250 STARTTLS\r\n";
        CHECK(r.to_client == "220 mx\r\n" + ehlo + k550x + k550x + "250 ok\r\n");
        CHECK(r.to_backend == "EHLO c\r\nNOOP\r\n");
        CHECK(r.counters.commands_refused == 2);
    }
    // XCLIENT as the last EHLO line: the reply stays well-formed.
    auto last = run_both(smtp(true), {B("220 mx\r\n"), C("EHLO c\r\n"),
                                      B("250-mx\r\n250-SIZE 1000\r\n250 XCLIENT ADDR\r\n")});
    CHECK(last.to_client == "220 mx\r\n250-mx\r\n250 SIZE 1000\r\n");
}

TEST_CASE("smtp: allow_xclient forwards XCLIENT and keeps it advertised", "[smtp][xclient]") {
    auto s = smtp(true);
    s.allow_xclient = true;
    auto r = run_both(s, {B("220 mx\r\n"), C("EHLO c\r\n"), B(kEhloX),
                          C("XCLIENT ADDR=10.0.0.1\r\nXFORWARD NAME=x\r\n"),
                          B("220 mx ESMTP\r\n250 ok\r\n")});
    CHECK(r.to_client == "220 mx\r\n" + kEhloX + "220 mx ESMTP\r\n250 ok\r\n");
    CHECK(r.to_backend == "EHLO c\r\nXCLIENT ADDR=10.0.0.1\r\nXFORWARD NAME=x\r\n");

    // After XCLIENT the backend starts over: CHUNKING must be offered again before BDAT.
    auto b = run_both(s, {B("220 mx\r\n"), C("EHLO c\r\n"), B("250-mx\r\n250 CHUNKING\r\n"),
                          C("XCLIENT ADDR=10.0.0.1\r\n"), B("220 mx\r\n"),
                          C("BDAT 4 LAST\r\nNOOPNOOP\r\n"), B("250 ok\r\n")});
    CHECK(b.to_backend == "EHLO c\r\nXCLIENT ADDR=10.0.0.1\r\nNOOP\r\n");
}

TEST_CASE("smtp: AUTH command line with an initial response may be 12,288 octets",
          "[smtp][limits]") {
    // RFC 4954 section 4: the AUTH line itself, initial response included.
    std::string ir(12288 - 13, 'A'); // "AUTH PLAIN " + ir + CRLF = 12,288
    auto s = run_both(smtp(true), {B("220 mx\r\n"), C("AUTH PLAIN " + ir + "\r\n"),
                                   B("235 2.7.0 ok\r\n"), C("NOOP\r\n")});
    CHECK(!s.close);
    CHECK(s.to_backend == "AUTH PLAIN " + ir + "\r\nNOOP\r\n");
    auto lower = run_both(smtp(true), {B("220 mx\r\n"), C("auth PLAIN " + ir + "\r\n")});
    CHECK(lower.to_backend == "auth PLAIN " + ir + "\r\n");
    auto big = run_both(smtp(true), {B("220 mx\r\n"), C("AUTH PLAIN " + ir + "A\r\n")});
    CHECK(big.close);
    CHECK(big.to_backend.empty());
    CHECK(big.to_client == "220 mx\r\n500 5.5.6 Line too long\r\n");
    // Other commands keep the 512-octet limit, even when longer than 512 and short of 12,288.
    auto mail =
        run_both(smtp(true), {B("220 mx\r\n"), C("MAIL FROM:<" + std::string(600, 'a') + ">\r\n")});
    CHECK(mail.close);
    CHECK(mail.to_backend.empty());
    auto authish = run_both(smtp(true), {B("220 mx\r\n"), C("AUTHX " + ir + "\r\n")});
    CHECK(authish.close);
    CHECK(authish.to_backend.empty());
}

TEST_CASE("smtp: early talker rejected", "[smtp][early]") {
    auto s = smtp(false, config::StarttlsPolicy::may);
    s.early_talker = config::EarlyTalker::reject;
    auto r = run_both(s, {C("EHLO early\r\n"), B(kGreeting), B(kEhlo)});
    CHECK(r.close);
    CHECK(r.to_backend.empty());
    CHECK(r.to_client == "554 5.5.1 Protocol error: talked before the greeting\r\n");
    CHECK(r.counters.early_talkers == 1);
    bool logged = false;
    for (const auto& e : r.log) {
        logged = logged || (e.level == config::LogLevel::notice &&
                            e.message.find("before the greeting") != std::string::npos);
    }
    CHECK(logged);

    // Talking after the first line of a multi-line greeting is talking before it, and the
    // greeting's first line is not relayed ahead of the refusal.
    auto mid =
        run_both(s, {B("220-mx.example.org ESMTP\r\n"), C("EHLO early\r\n"), B("220 no UCE\r\n")});
    CHECK(mid.close);
    CHECK(mid.to_client == "554 5.5.1 Protocol error: talked before the greeting\r\n");
    CHECK(mid.to_backend.empty());

    // A client that waits is served as before.
    auto ok = run_both(s, {B(kGreeting), C("EHLO c\r\n"), B(kEhlo)});
    CHECK(!ok.close);
    CHECK(ok.to_client == kGreeting + kEhloPlain);
    CHECK(ok.counters.early_talkers == 0);
}

TEST_CASE("smtp: early talker held", "[smtp][early]") {
    auto s = smtp();
    s.early_talker = config::EarlyTalker::hold;
    auto r = run_both(s, {C("EHLO early\r\n"), B(kGreeting), B(kEhlo)});
    CHECK(!r.close);
    CHECK(r.to_backend == "EHLO early\r\n");
    CHECK(r.to_client == kGreeting + kEhloPlain);
    CHECK(r.counters.early_talkers == 1);
}

TEST_CASE("smtp: malformed BDAT closes: its chunk must not be read as commands", "[smtp][bdat]") {
    // The filter cannot know how many octets follow, and the backend never saw the BDAT:
    // reading the chunk as commands would execute message content.
    for (std::string cmd : {"BDAT 99999999999999999999", "BDAT -1", "BDAT 5  LAST", "BDAT 5 ",
                            "BDAT 0x10", "BDAT", "BDAT 5 LAST x"}) {
        auto r =
            run_both(smtp(true), {B("220 mx\r\n"), C("EHLO c\r\n"), B("250-mx\r\n250 CHUNKING\r\n"),
                                  C(cmd + "\r\nRCPT TO:<victim@y>\r\n")});
        CHECK(r.close);
        CHECK(r.to_backend == "EHLO c\r\n");
        CHECK(r.to_client == "220 mx\r\n250-mx\r\n250 CHUNKING\r\n"
                             "421 4.7.0 Error: malformed BDAT command, closing connection\r\n");
    }
    // Leading zeros are a number like any other.
    auto z =
        run_both(smtp(true), {B("220 mx\r\n"), C("EHLO c\r\n"), B("250-mx\r\n250 CHUNKING\r\n"),
                              C("BDAT 003 LAST\r\nabcNOOP\r\n")});
    CHECK(z.to_backend == "EHLO c\r\nBDAT 003 LAST\r\nabcNOOP\r\n");
}

TEST_CASE("smtp: a failed EHLO forgets CHUNKING", "[smtp][bdat]") {
    auto r =
        run_both(smtp(true), {B("220 mx\r\n"), C("EHLO c\r\n"), B("250-mx\r\n250 CHUNKING\r\n"),
                              C("EHLO\r\n"), B("501 5.5.4 Syntax: EHLO hostname\r\n"),
                              C("BDAT 4 LAST\r\nNOOPNOOP\r\n"), B("250 ok\r\n")});
    CHECK(r.to_backend == "EHLO c\r\nEHLO\r\nNOOP\r\n");
}
