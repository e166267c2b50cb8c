#include "filter_test_util.hpp"
#include "tlsgate/proto/imap_filter.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::test;

namespace {
FilterSettings imap(bool implicit = false,
                    config::StarttlsPolicy policy = config::StarttlsPolicy::encrypt) {
    return settings_for(config::Protocol::imap, implicit, policy);
}
const std::string kGreeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN "
                              "LITERAL+ STARTTLS] Dovecot ready.\r\n";
const std::string kGreetingOut =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS LOGINDISABLED] Dovecot ready.\r\n";
} // namespace

TEST_CASE("imap: greeting capability code rewritten before TLS", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting)});
    CHECK(r.to_client == kGreetingOut);
    CHECK(r.to_backend.empty());
}

TEST_CASE("imap: implicit TLS strips STARTTLS and LOGINDISABLED, keeps AUTH=", "[imap]") {
    auto r = run_both(imap(true), {B("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS "
                                     "LOGINDISABLED] ready\r\n"),
                                   C("a STARTTLS\r\n")});
    CHECK(r.to_client == "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"
                         "a BAD TLS is already active.\r\n");
    CHECK(r.to_backend.empty());
    CHECK(r.start_tls == 0);
    CHECK(r.counters.commands_refused == 1);
}

TEST_CASE("imap: untagged CAPABILITY rewritten before and after TLS", "[imap]") {
    const std::string caps = "* CAPABILITY IMAP4rev1 auth=PLAIN AUTH=GSSAPI IDLE starttls "
                             "LOGINDISABLED\r\n";
    auto r = run_both(imap(), {B(kGreeting), C("a CAPABILITY\r\n"), B(caps + "a OK done\r\n"),
                               C("b STARTTLS\r\n"), TLS(), C("c CAPABILITY\r\n"),
                               B(caps + "c OK done\r\n")});
    CHECK(r.to_client == kGreetingOut + "* CAPABILITY IMAP4rev1 IDLE STARTTLS LOGINDISABLED\r\n"
                                        "a OK done\r\n"
                                        "b OK Begin TLS negotiation now.\r\n"
                                        "* CAPABILITY IMAP4rev1 auth=PLAIN AUTH=GSSAPI IDLE\r\n"
                                        "c OK done\r\n");
    CHECK(r.to_backend == "a CAPABILITY\r\nc CAPABILITY\r\n");
    CHECK(r.start_tls == 1);
    CHECK(r.tls_active);
    CHECK(r.counters.starttls_completed == 1);
}

TEST_CASE("imap: tagged OK [CAPABILITY] rewritten, then the filter steps aside", "[imap]") {
    auto r =
        run_both(imap(true), {B("* OK ready\r\n"), C("a LOGIN user pass\r\nb SEL"),
                              B("a OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] Logged in\r\n* 3 EXI"),
                              C("ECT INBOX\r\n"), B("STS\r\n")});
    CHECK(r.to_client == "* OK ready\r\na OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
                         "* 3 EXISTS\r\n");
    CHECK(r.to_backend == "a LOGIN user pass\r\nb SELECT INBOX\r\n");
    CHECK(r.transparent);
}

TEST_CASE("imap: LOGIN and AUTHENTICATE refused before TLS, never forwarded", "[imap]") {
    const std::string no = " NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
                           "non-secure (SSL/TLS) connections.\r\n";
    auto r = run_both(imap(), {B(kGreeting), C("a LOGIN hunter2user hunter2pw\r\n"),
                               C("b AUTHENTICATE PLAIN\r\n"),
                               C("c AUTHENTICATE PLAIN AGh1bnRlcjIAcGFzcw==\r\n"),
                               C("d login \"q\" \"hunter2pw\"\r\n")});
    CHECK(r.to_client == kGreetingOut + "a" + no + "b" + no + "c" + no + "d" + no);
    CHECK(r.to_backend.empty());
    CHECK(r.counters.auth_refused_before_tls == 4);
    CHECK(r.counters.commands_refused == 4);
    CHECK(!r.close);
    CHECK(logs_free_of(r, "hunter2"));
    CHECK(logs_free_of(r, "AGh1bnRlcjIAcGFzcw"));
}

TEST_CASE("imap: pipelined STARTTLS then LOGIN: LOGIN discarded and counted", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a STARTTLS\r\nb LOGIN u p\r\n"), C("c NOOP\r\n"),
                               TLS(), C("d NOOP\r\n")});
    CHECK(r.to_client == kGreetingOut + "a OK Begin TLS negotiation now.\r\n");
    CHECK(r.to_backend == "d NOOP\r\n");
    CHECK(r.start_tls == 1);
    CHECK(r.counters.injected_bytes_discarded == std::string("b LOGIN u p\r\nc NOOP\r\n").size());
    bool warned = false;
    for (auto& e : r.log) {
        warned = warned || e.level == config::LogLevel::warning;
    }
    CHECK(warned);
}

TEST_CASE("imap: STARTTLS waits behind earlier pipelined commands", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a NOOP\r\nb STARTTLS\r\n"),
                               B("a OK NOOP done\r\n* 4 EXISTS\r\n"), TLS()});
    CHECK(r.to_client == kGreetingOut + "a OK NOOP done\r\nb OK Begin TLS negotiation now.\r\n"
                                        "* 4 EXISTS\r\n");
    CHECK(r.to_backend == "a NOOP\r\n");
    CHECK(r.start_tls == 1);
}

TEST_CASE("imap: backend bytes after the STARTTLS reply wait for the handshake", "[imap]") {
    auto f = make_server_filter(imap());
    Actions a;
    f->on_backend_data(kGreeting, a);
    f->on_client_data("a NOOP\r\nb STARTTLS\r\n", a);
    a = {};
    f->on_backend_data("a OK done\r\n* 1 EXISTS\r\n", a);
    CHECK(a.to_client == "a OK done\r\nb OK Begin TLS negotiation now.\r\n");
    CHECK(a.start_tls);
    a = {};
    f->on_tls_established(a);
    CHECK(a.to_client == "* 1 EXISTS\r\n");
}

TEST_CASE("imap: second STARTTLS refused", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a STARTTLS\r\n"), TLS(), C("b STARTTLS\r\n")});
    CHECK(r.to_client ==
          kGreetingOut + "a OK Begin TLS negotiation now.\r\nb BAD TLS is already active.\r\n");
    CHECK(r.start_tls == 1);
    CHECK(r.to_backend.empty());
}

TEST_CASE("imap: STARTTLS with arguments is BAD", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a STARTTLS now\r\n")});
    CHECK(r.to_client == kGreetingOut + "a BAD STARTTLS takes no arguments.\r\n");
    CHECK(r.start_tls == 0);
}

TEST_CASE("imap: command words inside quoted strings and literals are data", "[imap]") {
    auto may = imap(false, config::StarttlsPolicy::may);
    auto r = run_both(may, {B(kGreeting), C("a EXAMINE \"b LOGIN u p\"\r\n"),
                            C("c EXAMINE \"x\\\" d STARTTLS\"\r\n"), C("e EXAMINE {13}\r\n"),
                            B("a OK\r\nc OK\r\n+ go ahead\r\n"), C("f LOGIN u p\r\n\r\n"),
                            B("e OK\r\n")});
    CHECK(r.to_backend == "a EXAMINE \"b LOGIN u p\"\r\n"
                          "c EXAMINE \"x\\\" d STARTTLS\"\r\n"
                          "e EXAMINE {13}\r\n"
                          "f LOGIN u p\r\n\r\n");
    CHECK(r.to_client == kGreetingOut + "a OK\r\nc OK\r\n+ go ahead\r\ne OK\r\n");
    CHECK(r.start_tls == 0);
    CHECK(r.counters.commands_refused == 0);
}

TEST_CASE("imap: literal held until the backend's continuation", "[imap]") {
    auto may = imap(false, config::StarttlsPolicy::may);
    // The client (wrongly) sends the literal before "+"; the backend refuses the literal:
    // the held bytes are then a new command (here LOGIN, refused) and never relayed as data.
    auto r = run_both(
        may, {B(kGreeting), C("a EXAMINE {13}\r\n"), C("b LOGIN u p\r\n"), B("a NO too big\r\n")});
    CHECK(r.to_backend == "a EXAMINE {13}\r\n");
    CHECK(r.to_client == kGreetingOut +
                             "a NO too big\r\nb NO [PRIVACYREQUIRED] Plaintext authentication "
                             "disallowed on non-secure (SSL/TLS) connections.\r\n");
}

TEST_CASE("imap: LOGIN {5} refused without a continuation", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a LOGIN {5}\r\n"), C("b NOOP\r\n")});
    CHECK(r.to_client.find("\n+") == std::string::npos);
    CHECK(r.to_client == kGreetingOut +
                             "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
                             "non-secure (SSL/TLS) connections.\r\n");
    CHECK(r.to_backend == "b NOOP\r\n");
}

TEST_CASE("imap: LOGIN {5+} refused and its literal skipped", "[imap]") {
    auto r = run_both(
        imap(), {B(kGreeting), C("a LOGIN {5+}\r\nhello {6+}\r\nsecret\r\n"), C("b NOOP\r\n")});
    CHECK(r.to_backend == "b NOOP\r\n");
    CHECK(r.to_client == kGreetingOut +
                             "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
                             "non-secure (SSL/TLS) connections.\r\n");
    CHECK(logs_free_of(r, "secret"));
    CHECK(logs_free_of(r, "hello"));

    auto r2 = run_both(imap(), {B(kGreeting), C("a LOGIN {5+}\r\nhello\r\n")});
    CHECK(r2.to_backend.empty());
    CHECK(r2.counters.auth_refused_before_tls == 1);
}

TEST_CASE("imap: literals of forwarded commands relayed exactly, never parsed", "[imap]") {
    auto may = imap(false, config::StarttlsPolicy::may);
    std::string body = "c STARTTLS\r\nd LOGIN u p\r\n";
    // LITERAL+ from the client: each literal goes as synchronizing, its octets after the "+".
    auto r = run_both(may, {B(kGreeting),
                            C("a EXAMINE {" + std::to_string(body.size()) + "+}\r\n" + body +
                              " x {3+}\r\nabc\r\nb NOOP\r\n"),
                            B("+ OK\r\n"), B("+ OK\r\n")});
    CHECK(r.to_backend == "a EXAMINE {" + std::to_string(body.size()) + "}\r\n" + body +
                              " x {3}\r\nabc\r\nb NOOP\r\n");
    CHECK(r.to_client == kGreetingOut); // the client used LITERAL+: no "+" for it
    CHECK(r.start_tls == 0);
}

TEST_CASE("imap: LITERAL+ works whatever the backend offers", "[imap]") {
    // Forwarded as a synchronizing literal, so a backend without LITERAL+ reads it right.
    auto may = imap(false, config::StarttlsPolicy::may);
    auto r = run_both(may, {B("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
                            C("a EXAMINE {13+}\r\nb LOGIN u p\r\n\r\nc NOOP\r\n"), B("+ Ready\r\n"),
                            B("a OK\r\nc OK\r\n")});
    CHECK(r.to_backend == "a EXAMINE {13}\r\nb LOGIN u p\r\n\r\nc NOOP\r\n");
    CHECK(r.to_client == "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"
                         "a OK\r\nc OK\r\n");
}

TEST_CASE("imap: literal size bounded", "[imap]") {
    auto may = imap(false, config::StarttlsPolicy::may);
    auto r = run_both(may, {B(kGreeting), C("a EXAMINE {999999999}\r\nb NOOP\r\n")});
    CHECK(r.to_client == kGreetingOut + "a NO [TOOBIG] Literal too large.\r\n");
    CHECK(r.to_backend == "b NOOP\r\n");
    auto r2 = run_both(may, {B(kGreeting), C("a EXAMINE {99999999999999999999999+}\r\n")});
    CHECK(r2.to_client ==
          kGreetingOut +
              "a NO [TOOBIG] Literal too large.\r\n* BYE [TOOBIG] Literal too large.\r\n");
    CHECK(r2.close);
    CHECK(r2.to_backend.empty());
}

TEST_CASE("imap: overlong command line closes", "[imap]") {
    auto s = imap();
    s.max_line = 100;
    auto r = run_both(s, {B(kGreeting), C("a NOOP " + std::string(200, 'x') + "\r\n")});
    CHECK(r.to_client == kGreetingOut + "* BYE Command line too long.\r\n");
    CHECK(r.close);
    CHECK(r.to_backend.empty());
    CHECK(r.counters.overlong_lines == 1);
    // Exactly at the limit is fine.
    auto ok = run_both(s, {B(kGreeting), C("a NOOP " + std::string(100 - 9, 'x') + "\r\n")});
    CHECK(!ok.close);
    CHECK(ok.to_backend.size() == 100);
}

TEST_CASE("imap: command before the greeting is held, not lost", "[imap]") {
    auto r = run_both(imap(), {C("a CAPABILITY\r\n"), B(kGreeting),
                               B("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na OK\r\n")});
    CHECK(r.to_backend == "a CAPABILITY\r\n");
    CHECK(r.to_client ==
          kGreetingOut + "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na OK\r\n");
    auto r2 = run_both(imap(), {C("a STARTTLS\r\n"), B(kGreeting)});
    CHECK(r2.to_client == kGreetingOut + "a OK Begin TLS negotiation now.\r\n");
    CHECK(r2.start_tls == 1);
}

TEST_CASE("imap: encrypt policy refuses other commands before TLS, may forwards", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a SELECT INBOX\r\nb ID NIL\r\nc LOGOUT\r\n")});
    // Only CAPABILITY, NOOP, LOGOUT and STARTTLS are served before TLS; ID is refused too.
    CHECK(r.to_client == kGreetingOut +
                             "a NO [PRIVACYREQUIRED] TLS required, use STARTTLS first.\r\n"
                             "b NO [PRIVACYREQUIRED] TLS required, use STARTTLS first.\r\n");
    CHECK(r.to_backend == "c LOGOUT\r\n");
    auto m =
        run_both(imap(false, config::StarttlsPolicy::may), {B(kGreeting), C("a SELECT INBOX\r\n")});
    CHECK(m.to_backend == "a SELECT INBOX\r\n");
}

TEST_CASE("imap: refusal replies keep their place among pipelined replies", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a NOOP\r\nb LOGIN u p\r\nc NOOP\r\n"),
                               B("* 2 EXISTS\r\na OK noop\r\nc OK noop\r\n")});
    CHECK(r.to_client == kGreetingOut +
                             "* 2 EXISTS\r\na OK noop\r\nb NO [PRIVACYREQUIRED] Plaintext "
                             "authentication disallowed on non-secure (SSL/TLS) "
                             "connections.\r\nc OK noop\r\n");
    CHECK(r.to_backend == "a NOOP\r\nc NOOP\r\n");
}

TEST_CASE("imap: max_errors closes with BYE", "[imap]") {
    auto s = imap();
    s.max_errors = 3;
    auto r = run_both(s, {B(kGreeting), C("a LOGIN u p\r\n\r\nb FOO\r\nc NOOP\r\n")});
    CHECK(r.close);
    CHECK(r.to_client == kGreetingOut +
                             "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
                             "non-secure (SSL/TLS) connections.\r\n"
                             "* BAD Empty command line.\r\n"
                             "b BAD Unknown command.\r\n" // after a refused LOGIN
                             "* BYE Too many invalid commands.\r\n");
    CHECK(r.to_backend.empty());
}

TEST_CASE("imap: AUTHENTICATE exchange after TLS passes through", "[imap]") {
    auto r = run_both(imap(true),
                      {B("* OK ready\r\n"), C("a AUTHENTICATE PLAIN\r\n"), B("+ \r\n"),
                       C("AGZvbwBiYXI=\r\n"), B("a OK [CAPABILITY IMAP4rev1 STARTTLS] done\r\n")});
    CHECK(r.to_backend == "a AUTHENTICATE PLAIN\r\nAGZvbwBiYXI=\r\n");
    CHECK(r.to_client == "* OK ready\r\n+ \r\na OK [CAPABILITY IMAP4rev1] done\r\n");
    CHECK(r.transparent);
}

TEST_CASE("imap: SASL line sent early is held until the continuation", "[imap]") {
    auto r = run_both(imap(true), {B("* OK ready\r\n"), C("a AUTHENTICATE PLAIN\r\n*\r\n"),
                                   B("+ \r\n"), B("a BAD cancelled\r\n"), C("b NOOP\r\n")});
    CHECK(r.to_backend == "a AUTHENTICATE PLAIN\r\n*\r\nb NOOP\r\n");
    CHECK(!r.transparent);
}

TEST_CASE("imap: IDLE and DONE", "[imap]") {
    auto s = imap(false, config::StarttlsPolicy::may);
    s.auth_requires_tls = false;
    auto r = run_both(s, {B("* OK ready\r\n"), C("a LOGIN u p\r\n"), B("a OK in\r\n"),
                          C("b IDLE\r\n"), B("+ idling\r\n* 5 EXISTS\r\n"), C("DONE\r\n"),
                          B("b OK done\r\n"), C("c NOOP\r\n")});
    CHECK(r.to_backend == "a LOGIN u p\r\nb IDLE\r\nDONE\r\nc NOOP\r\n");
    CHECK(r.to_client == "* OK ready\r\na OK in\r\n+ idling\r\n* 5 EXISTS\r\nb OK done\r\n");
    CHECK(!r.transparent); // not over TLS
}

TEST_CASE("imap: backend literals are not rewritten or parsed", "[imap]") {
    auto may = imap(false, config::StarttlsPolicy::may);
    std::string data = "* CAPABILITY AUTH=PLAIN\r\na OK [CAPABILITY AUTH=X] x\r\n";
    std::string resp = "* 1 FETCH (BODY[] {" + std::to_string(data.size()) + "}\r\n" + data +
                       " FLAGS {7}\r\n* BYE x)\r\na OK fetched\r\n";
    auto r =
        run_both(may, {B(kGreeting), C("a FETCH 1 BODY[]\r\nb NOOP\r\n"), B(resp), B("b OK\r\n")});
    CHECK(r.to_client == kGreetingOut + resp + "b OK\r\n");
}

TEST_CASE("imap: transparent step-aside keeps buffered bytes in order", "[imap]") {
    auto f = make_server_filter(imap(true));
    Actions a;
    f->on_backend_data("* OK ready\r\n", a);
    f->on_client_data("a LOGIN u p\r\nb SELECT IN", a);
    CHECK(a.to_backend == "a LOGIN u p\r\n");
    a = {};
    f->on_backend_data("a OK done\r\n* 1 EX", a);
    CHECK(f->transparent());
    CHECK(a.to_client == "a OK done\r\n* 1 EX");
    CHECK(a.to_backend == "b SELECT IN");
    a = {};
    f->on_client_data("BOX\r\nc STARTTLS\r\n", a);
    CHECK(a.to_backend == "BOX\r\nc STARTTLS\r\n");
    f->on_backend_data("ISTS\r\n", a);
    CHECK(a.to_client == "ISTS\r\n");
}

TEST_CASE("imap: PREAUTH over implicit TLS steps aside at once", "[imap]") {
    auto r = run_both(imap(true), {B("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n"),
                                   C("a SELECT INBOX\r\n")});
    CHECK(r.transparent);
    CHECK(r.to_client == "* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n");
    CHECK(r.to_backend == "a SELECT INBOX\r\n");
}

TEST_CASE("imap: replies of our own", "[imap]") {
    auto f = make_server_filter(imap());
    CHECK(f->backend_unavailable_reply().starts_with("* BYE [UNAVAILABLE] "));
    CHECK(f->timeout_reply().starts_with("* BYE "));
    CHECK(f->backend_unavailable_reply().ends_with("\r\n"));
    CHECK(!f->tls_active());
    CHECK(make_server_filter(imap(true))->tls_active());
    FilterSettings raw;
    CHECK(make_server_filter(raw) == nullptr);
}

TEST_CASE("imap: response data that holds [CAPABILITY is never rewritten", "[imap]") {
    // A message's subject is the sender's text: only status responses carry capabilities.
    const std::string fetch =
        "* 1 FETCH (ENVELOPE (NIL \"[CAPABILITY STARTTLS IMAP4rev1] hi\" NIL))\r\n";
    auto plain = imap(false, config::StarttlsPolicy::may);
    plain.auth_requires_tls = false;
    auto r = run_both(plain, {B("* OK ready\r\n"), C("a LOGIN u p\r\n"), B("a OK logged in\r\n"),
                              C("b FETCH 1 ENVELOPE\r\n"), B(fetch + "b OK done\r\n")});
    CHECK(r.to_client == "* OK ready\r\na OK logged in\r\n" + fetch + "b OK done\r\n");
    // Implicit TLS, pipelined after LOGIN: the filter has not stepped aside yet.
    auto t = run_both(imap(true), {B("* OK ready\r\n"), C("a LOGIN u p\r\nb FETCH 1 ENVELOPE\r\n"),
                                   B("a OK logged in\r\n" + fetch + "b OK done\r\n")});
    CHECK(t.to_client == "* OK ready\r\na OK logged in\r\n" + fetch + "b OK done\r\n");
}

TEST_CASE("imap: tagged OK [CAPABILITY] rewritten before TLS", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting), C("a NOOP\r\n"),
                               B("a OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGINDISABLED] done\r\n")});
    CHECK(r.to_client ==
          kGreetingOut + "a OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] done\r\n");
}

TEST_CASE("imap: overlong backend lines pass through unbuffered", "[imap]") {
    auto may = imap(false, config::StarttlsPolicy::may);
    std::string big(FilterBase::kMaxBackendLine * 2, 'x');
    std::string resp = "* 1 FETCH (X \"" + big + "\" BODY[] {5}\r\nabcde)\r\n* CAPABILITY " + big +
                       " AUTH=PLAIN\r\na OK " + big + "\r\n";
    auto r = run(may, {B(kGreeting), C("a FETCH 1 ALL\r\nb NOOP\r\nc LOGIN x y\r\n"), B(resp),
                       B("b OK\r\n")});
    CHECK(r.to_client ==
          kGreetingOut + resp +
              "b OK\r\nc NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
              "non-secure (SSL/TLS) connections.\r\n");
}

TEST_CASE("imap: discarded bytes reported in the actions", "[imap]") {
    auto f = make_server_filter(imap());
    Actions a;
    f->on_backend_data(kGreeting, a);
    f->on_client_data("a STARTTLS\r\nxyz", a);
    CHECK(a.start_tls);
    CHECK(a.discarded_bytes == 3);
    Actions b;
    f->on_client_data("12345", b);
    CHECK(b.discarded_bytes == 5);
    CHECK(f->counters().injected_bytes_discarded == 8);
}

TEST_CASE("imap: input before the greeting is bounded", "[imap]") {
    // Held input first asks the session to stop reading; a session that reads on anyway
    // (one socket read at most) gets the connection closed.
    auto f = make_server_filter(imap());
    Actions a;
    f->on_client_data(std::string(FilterBase::kMaxHeldClientBytes, 'x'), a);
    CHECK(!f->wants_client_input());
    CHECK(!a.close);
    std::string flood(FilterBase::kMaxHeldClientBytes + FilterBase::kClientReadAhead + 100, 'x');
    auto r = run(imap(), {C(flood), B(kGreeting)});
    CHECK(r.close);
    CHECK(r.to_backend.empty());
    CHECK(r.to_client == "* BYE Too much data sent ahead of the server.\r\n");
}

// Found by fuzz_imap: a reply of the filter's own used to go out as soon as no backend reply
// was owed, even while the client had received only part of an unsolicited backend response
// (a literal, or an overlong line passed through in pieces), so it landed inside it.
TEST_CASE("imap: own reply waits for the end of a partly relayed backend literal", "[imap]") {
    auto r = run_both(imap(true), {B("* OK ready\r\n"), B("* 1 FETCH (BODY[] {10}\r\nhello"),
                                   C("a STARTTLS\r\n"), B("world)\r\n")});
    CHECK(r.to_client == "* OK ready\r\n* 1 FETCH (BODY[] {10}\r\nhelloworld)\r\n"
                         "a BAD TLS is already active.\r\n");
}

TEST_CASE("imap: own reply waits for the end of an overlong backend line", "[imap]") {
    const std::string longline = "* " + std::string(FilterBase::kMaxBackendLine + 100, 'x');
    auto r = run(imap(true), {B("* OK ready\r\n"), B(longline), C("a STARTTLS\r\n"), B("\r\n")});
    CHECK(r.to_client == "* OK ready\r\n" + longline + "\r\na BAD TLS is already active.\r\n");
}
