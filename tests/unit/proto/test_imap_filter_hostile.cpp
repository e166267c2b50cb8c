// Hostile input against the IMAP filter: every case here is one where the filter and the daemon
// behind it could disagree about which octets are a command. Expected behaviour was checked
// against Dovecot 2.3's imap-login (tests/differential/ compares the two on generated streams).
#include "filter_test_util.hpp"
#include "tlsgate/proto/imap_filter.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <string>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::test;

namespace {
FilterSettings imap(config::StarttlsPolicy policy = config::StarttlsPolicy::encrypt) {
    return settings_for(config::Protocol::imap, false, policy);
}
const std::string kGreeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ ID] "
                              "Dovecot ready.\r\n";
const std::string kGreetingOut =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID STARTTLS LOGINDISABLED] Dovecot ready.\r\n";
const std::string kLogin = "b LOGIN alice alicepass\r\n";
std::string sized(const std::string& prefix, const std::string& suffix, size_t n) {
    return fmt::format("{}{}{}", prefix, n, suffix);
}
} // namespace

// The review's bypass: Dovecot reads `x{25+}` as a (bad) atom, answers BAD, and then executes
// the next 25 octets, which the filter used to relay as literal data, as LOGIN in plaintext.
TEST_CASE("imap hostile: a brace glued to a token never announces a literal", "[imap][hostile]") {
    for (const std::string glued :
         {"x{", "NIL{", "\"q\"{", "(x){", "]{", "x[{", "\\{", "%{", "*{", "){", "~x{"}) {
        CAPTURE(glued);
        for (const std::string plus : {"+}", "}"}) {
            auto r =
                run_both(imap(config::StarttlsPolicy::may),
                         {B(kGreeting), C(sized("a NOOP " + glued, plus + "\r\n", kLogin.size())),
                          C(kLogin), B("* never\r\n")});
            CHECK(r.to_backend.find("LOGIN") == std::string::npos);
            CHECK(r.to_backend.find("a NOOP") == std::string::npos);
            CHECK(r.close);
            CHECK(r.counters.commands_refused >= 1);
        }
    }
}

TEST_CASE("imap hostile: a stray brace inside a line is refused, not forwarded",
          "[imap][hostile]") {
    auto r = run_both(imap(config::StarttlsPolicy::may),
                      {B(kGreeting), C("a EXAMINE x{3}y\r\n"), C("c NOOP\r\n"), B("c OK\r\n")});
    CHECK(r.to_backend == "c NOOP\r\n");
    CHECK(r.to_client == kGreetingOut + "a BAD Invalid characters in atom.\r\nc OK\r\n");
    CHECK(!r.close);
}

TEST_CASE("imap hostile: braces inside quoted strings are data", "[imap][hostile]") {
    auto r = run_both(imap(config::StarttlsPolicy::may),
                      {B(kGreeting), C("a EXAMINE \"x{5+}\"\r\n"), C("c EXAMINE \"\\\"{3}\"\r\n"),
                       B("a OK\r\nc OK\r\n")});
    CHECK(r.to_backend == "a EXAMINE \"x{5+}\"\r\nc EXAMINE \"\\\"{3}\"\r\n");
    CHECK(!r.close);
}

// A non-synchronizing literal goes to the backend as a synchronizing one: its octets leave only
// after the backend itself said "+", so the backend can never read them as commands.
TEST_CASE("imap hostile: LITERAL+ forwarded as a synchronizing literal", "[imap][hostile]") {
    auto r = run_both(imap(config::StarttlsPolicy::may),
                      {B(kGreeting), C("a ID (\"x\" {5+}\r\nhello)\r\nb NOOP\r\n"), B("+ OK\r\n"),
                       B("* ID NIL\r\na OK\r\nb OK\r\n")});
    CHECK(r.to_backend == "a ID (\"x\" {5}\r\nhello)\r\nb NOOP\r\n");
    // The client used LITERAL+ and expects no "+": the backend's goes no further.
    CHECK(r.to_client == kGreetingOut + "* ID NIL\r\na OK\r\nb OK\r\n");
}

TEST_CASE("imap hostile: a literal the backend does not take is dropped", "[imap][hostile]") {
    // Dovecot answers `~{N}` outside APPEND, and AUTHENTICATE's arguments, with BAD and no "+":
    // the octets the client sent as the literal must then go nowhere.
    for (const std::string cmd : {"a NOOP ~{", "a NOOP {", "a ENABLE ~{"}) {
        CAPTURE(cmd);
        auto r =
            run_both(imap(config::StarttlsPolicy::may),
                     {B(kGreeting), C(sized(cmd, "+}\r\n", kLogin.size()) + kLogin + "\r\n"),
                      C("c NOOP\r\n"), B("a BAD literal8 not allowed here\r\n"), B("c OK\r\n")});
        CHECK(r.to_backend == sized(cmd, "}\r\n", kLogin.size()) + "c NOOP\r\n");
        CHECK(r.to_client == kGreetingOut + "a BAD literal8 not allowed here\r\nc OK\r\n");
    }
}

// The review's session fixation: the attacker prepends a desync line and its own LOGIN to the
// victim's plaintext, so that after the victim's STARTTLS the session is already the
// attacker's.
TEST_CASE("imap hostile: no LOGIN prepended before STARTTLS reaches the backend",
          "[imap][hostile]") {
    const std::string attack = "m2 LOGIN attacker pw\r\n";
    auto r = run_both(imap(), {B(kGreeting), C(sized("m1 NOOP x{", "+}\r\n", attack.size())),
                               C(attack + "v1 STARTTLS\r\n")});
    CHECK(r.to_backend.find("LOGIN") == std::string::npos);
    CHECK(r.start_tls == 0);
    CHECK(r.close);
}

TEST_CASE("imap hostile: PREAUTH before TLS under encrypt is never relayed", "[imap][hostile]") {
    auto r = run_both(imap(), {B("* PREAUTH [CAPABILITY IMAP4rev1] Logged in as alice\r\n"),
                               C("a SELECT INBOX\r\n")});
    CHECK(r.to_client.find("PREAUTH") == std::string::npos);
    CHECK(r.to_client.rfind("* BYE", 0) == 0);
    CHECK(r.to_backend.empty());
    CHECK(r.close);
    // Under "may" a plaintext PREAUTH is what the operator allowed.
    auto may = run_both(imap(config::StarttlsPolicy::may),
                        {B("* PREAUTH [CAPABILITY IMAP4rev1] Logged in\r\n")});
    CHECK(may.to_client.rfind("* PREAUTH", 0) == 0);
    CHECK(!may.close);
}

// Pipelined commands: the filter keeps at most kMaxPendingCommands replies owed and asks the
// session to stop reading the client beyond that, so its memory does not grow with what a
// client sends without reading.
TEST_CASE("imap hostile: pipelined commands are capped, not queued without bound",
          "[imap][hostile]") {
    auto filter = make_server_filter(imap(config::StarttlsPolicy::may));
    Actions out;
    filter->on_backend_data(kGreeting, out);
    std::string flood;
    const size_t n = 5000;
    for (size_t i = 0; i < n; ++i) {
        flood += fmt::format("t{} NOOP\r\n", i);
    }
    out = {};
    filter->on_client_data(flood, out);
    size_t forwarded = 0;
    for (size_t pos = 0; (pos = out.to_backend.find(" NOOP\r\n", pos)) != std::string::npos;
         ++pos) {
        ++forwarded;
    }
    CHECK(forwarded == FilterBase::kMaxPendingCommands);
    CHECK(!filter->wants_client_input());
    CHECK(!out.close);
    // The backend answers them all: the next batch goes, in order.
    std::string replies;
    for (size_t i = 0; i < forwarded; ++i) {
        replies += fmt::format("t{} OK\r\n", i);
    }
    out = {};
    filter->on_backend_data(replies, out);
    CHECK(out.to_client == replies);
    CHECK(out.to_backend.rfind(fmt::format("t{} NOOP\r\n", forwarded), 0) == 0);
}

TEST_CASE("imap hostile: replies completed out of order release their slots", "[imap][hostile]") {
    auto r = run_both(imap(config::StarttlsPolicy::may),
                      {B(kGreeting), C("a NOOP\r\nb NOOP\r\nc NOOP\r\n"), B("c OK\r\nb OK\r\n"),
                       C("b NOOP\r\n"), B("a OK\r\n")});
    CHECK(r.to_backend == "a NOOP\r\nb NOOP\r\nc NOOP\r\nb NOOP\r\n");
    CHECK(r.to_client == kGreetingOut + "c OK\r\nb OK\r\na OK\r\n");
}

// Runtime safety net: a tagged reply for a tag the filter never forwarded proves the backend
// took as a command something the filter relayed as data.
TEST_CASE("imap hostile: a reply to a command never forwarded closes", "[imap][hostile]") {
    auto r = run_both(imap(config::StarttlsPolicy::may),
                      {B(kGreeting), C("a NOOP\r\n"), B("z OK Logged in\r\na OK\r\n")});
    CHECK(r.close);
    CHECK(r.to_client.find("z OK") == std::string::npos);
    CHECK(r.to_client.find("* BYE") != std::string::npos);
}

// Found by the differential test: Dovecot refuses "]" in a tag (a resp-special), so a command
// the filter forwarded was never answered and the filter waited for its reply forever.
TEST_CASE("imap hostile: a tag with a resp-special is refused", "[imap][hostile]") {
    auto r = run_both(imap(), {B(kGreeting), C("t]1 NOOP\r\nb NOOP\r\n")});
    CHECK(r.to_backend == "b NOOP\r\n");
    CHECK(r.to_client == kGreetingOut + "* BAD Invalid tag or characters in command line.\r\n");
}

// Found by review: Dovecot answers a tag over 126 octets with an untagged BAD only, so the
// filter waited for ever for its reply, and STARTTLS behind it never came.
TEST_CASE("imap hostile: a tag Dovecot cannot take is refused", "[imap][hostile]") {
    auto r = run_both(imap(), {B(kGreeting), C(std::string(127, 't') + " NOOP\r\nv STARTTLS\r\n")});
    CHECK(r.to_backend.empty());
    CHECK(r.start_tls == 1);
    auto ok = run_both(imap(), {B(kGreeting), C(std::string(126, 't') + " NOOP\r\n")});
    CHECK(ok.to_backend == std::string(126, 't') + " NOOP\r\n");
}

// Found by review: under "may", "LOGIN alice alicepass" without a tag was forwarded (tag
// LOGIN, verb alice): the backend refused it, but the password had crossed in plaintext. So
// had a password a client sent as a literal nobody asked for after its LOGIN was refused.
TEST_CASE("imap hostile: no credentials cross before TLS under may", "[imap][hostile]") {
    auto may = imap(config::StarttlsPolicy::may);
    auto r = run_both(may, {B(kGreeting), C("LOGIN alice alicepass\r\n"),
                            C("a login \"alice\" {10}\r\n"), C("my secret!\r\n"), C("b NOOP\r\n")});
    CHECK(r.to_backend == "b NOOP\r\n");
    CHECK(logs_free_of(r, "alicepass"));
    CHECK(logs_free_of(r, "secret"));
    CHECK(r.counters.auth_refused_before_tls == 2);
}
