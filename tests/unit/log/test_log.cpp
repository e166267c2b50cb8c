#include "tlsgate/log/log.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <string>
#include <unistd.h>

using tlsgate::log::escape;

TEST_CASE("log escape: printable ASCII is kept", "[log]") {
    CHECK(escape("mail.example.org") == "mail.example.org");
    CHECK(escape("CN=Alice Smith, O=Example (1)") == "CN=Alice Smith, O=Example (1)");
    CHECK(escape("") == "");
}

TEST_CASE("log escape: control bytes, DEL, non-ASCII, quote and backslash as \\xNN", "[log]") {
    CHECK(escape("a\r\nb") == "a\\x0d\\x0ab");
    CHECK(escape("\x1b[31mred") == "\\x1b[31mred");
    CHECK(escape(std::string("nul\0byte", 8)) == "nul\\x00byte");
    CHECK(escape("\x7f\t") == "\\x7f\\x09");
    CHECK(escape("caf\xc3\xa9") == "caf\\xc3\\xa9");
    CHECK(escape("say \"hi\"") == "say \\x22hi\\x22");
    CHECK(escape("back\\slash") == "back\\x5cslash");
}

TEST_CASE("log escape: long text is cut and marked", "[log]") {
    CHECK(escape(std::string(300, 'a')) == std::string(256, 'a') + "...");
    CHECK(escape("abcdef", 3) == "abc...");
    CHECK(escape("\n\n\n\n", 2) == "\\x0a\\x0a...");
}

TEST_CASE("log escape: a whole line keeps quotes and backslashes", "[log]") {
    using tlsgate::log::Escape;
    CHECK(escape("SNI \"a\\b\"", 100, Escape::line) == "SNI \"a\\b\"");
    CHECK(escape("one\r\ntwo\x1b", 100, Escape::line) == "one\\x0d\\x0atwo\\x1b");
    CHECK(escape("caf\xc3\xa9", 100, Escape::line) == "caf\\xc3\\xa9");
}

namespace {

using tlsgate::config::LogFormat;
using tlsgate::config::LogLevel;
using tlsgate::log::ConnectionFields;
using tlsgate::log::format_line;
using tlsgate::log::LineStyle;
using Destination = LineStyle::Destination;

// 2026-12-08T02:30:00.042Z
const auto kNow = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796697000042));

} // namespace

TEST_CASE("log line: text to a stream has time, pid and level", "[log]") {
    const ConnectionFields conn{7, "imaps", "192.0.2.4:51234"};
    const std::string line =
        format_line({LogFormat::text, Destination::stream}, LogLevel::info, &conn, "close", kNow);
    CHECK(line == fmt::format("2026-12-08T02:30:00.042Z tlsgate[{}]: info: conn=7 service=imaps "
                              "client=192.0.2.4:51234 close\n",
                              getpid()));
    CHECK(format_line({LogFormat::text, Destination::stream}, LogLevel::notice, nullptr, "ready",
                      kNow)
              .ends_with("]: notice: ready\n"));
}

TEST_CASE("log line: under journald no time or pid, a <N> priority instead", "[log]") {
    const ConnectionFields conn{7, "imaps", ""}; // client not known yet: no client=
    CHECK(format_line({LogFormat::text, Destination::journald}, LogLevel::error, &conn,
                      "accept failed", kNow) == "<3>error: conn=7 service=imaps accept failed\n");
    CHECK(format_line({LogFormat::text, Destination::journald}, LogLevel::info, nullptr, "x",
                      kNow) == "<6>info: x\n");
    CHECK(format_line({LogFormat::text, Destination::bare}, LogLevel::info, nullptr, "x", kNow) ==
          "x");
}

TEST_CASE("log line: JSON, one object a line with the connection's fields", "[log]") {
    const ConnectionFields conn{7, "imaps", "[2001:db8::1]:993"};
    CHECK(format_line({LogFormat::json, Destination::stream}, LogLevel::warning, &conn,
                      "SNI \"a\\b\" refused", kNow) ==
          "{\"time\":\"2026-12-08T02:30:00.042Z\",\"level\":\"warning\",\"conn\":7,"
          "\"service\":\"imaps\",\"client\":\"[2001:db8::1]:993\","
          "\"msg\":\"SNI \\\"a\\\\b\\\" refused\"}\n");
    CHECK(format_line({LogFormat::json, Destination::journald}, LogLevel::notice, nullptr,
                      "tlsgate ready",
                      kNow) == "<5>{\"level\":\"notice\",\"msg\":\"tlsgate ready\"}\n");
}
