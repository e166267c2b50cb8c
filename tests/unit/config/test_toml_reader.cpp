// The typed TOML values (src/config/toml_reader.cpp) as the loader reads them through the key
// tables: durations, versions, types, enumerations, ranges, empty strings.
#include "config_test_util.hpp"
#include "tlsgate/config/toml_loader.hpp"

#include <catch2/catch.hpp>
#include <openssl/ssl.h>
#include <string>
#include <vector>

using namespace tlsgate::config;
using Catch::Contains;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using tlsgate::net::Address;

using tlsgate::test::joined;
using tlsgate::test::ok;
using tlsgate::test::tls_head;

namespace {

const std::string& file = tlsgate::test::toml_file;

LoadResult load(std::string_view text) {
    return tlsgate::test::load_toml(text);
}

std::string errors_of(std::string_view text) {
    return tlsgate::test::toml_errors_of(text);
}

} // namespace

TEST_CASE("parse_duration", "[config][duration]") {
    struct Case {
        const char* text;
        std::optional<Duration> expected;
    };
    const Case cases[] = {
        {"10", seconds(10)},
        {"0", Duration(0)},
        {"10s", seconds(10)},
        {"500ms", milliseconds(500)},
        {"30m", minutes(30)},
        {"12h", hours(12)},
        {"1d", hours(24)},
        {"007s", seconds(7)},
        {"", std::nullopt},
        {"s", std::nullopt},
        {"-5s", std::nullopt},
        {"-5", std::nullopt},
        {"+5", std::nullopt},
        {"10x", std::nullopt},
        {"10 s", std::nullopt},
        {" 10s", std::nullopt},
        {"10S", std::nullopt},
        {"1.5s", std::nullopt},
        {"10sec", std::nullopt},
        {"9223372036854775807ms", milliseconds(9223372036854775807LL)},
        {"9223372036854775808ms", std::nullopt},
        {"9223372036854775807s", std::nullopt},
        {"99999999999999999999999", std::nullopt},
        {"106751991167300d", std::nullopt},
    };
    for (const auto& c : cases) {
        INFO("duration: \"" << c.text << "\"");
        CHECK(parse_duration(c.text) == c.expected);
    }
}

TEST_CASE("durations in the config: integers, strings, and their errors", "[config][duration]") {
    struct Case {
        const char* value;
        std::optional<Duration> expected;
        const char* error_part;
    };
    const Case cases[] = {
        {"7", seconds(7), ""},
        {"\"7\"", seconds(7), ""},
        {"\"250ms\"", milliseconds(250), ""},
        {"\"2d\"", hours(48), ""},
        {"0", std::nullopt, "timeout must be greater than zero"},
        {"\"0s\"", std::nullopt, "timeout must be greater than zero"},
        {"-3", std::nullopt, "negative duration"},
        {"\"-3s\"", std::nullopt, "negative duration"},
        {"\"\"", std::nullopt, "empty duration"},
        {"\"3w\"", std::nullopt, "unknown unit \"w\""},
        {"9223372036854775807", std::nullopt, "duration 9223372036854775807 is too large"},
        {"1.5", std::nullopt,
         "expected a duration (integer seconds or a string like \"10s\"), "
         "got a float"},
        {"true", std::nullopt, "expected a duration"},
    };
    for (const auto& c : cases) {
        INFO("idle_timeout = " << c.value);
        auto r = load(tls_head +
                      "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:0\"\n"
                      "backend = \"127.0.0.1:1\"\nidle_timeout = " +
                      c.value + "\n");
        if (c.expected) {
            CHECK(ok(r).services[0].idle_timeout == *c.expected);
        } else {
            CHECK_THAT(joined(r.errors),
                       Contains(std::string("t.toml:8: service[s].idle_timeout: ") + c.error_part));
        }
    }
}

TEST_CASE("TLS versions accept both spellings", "[config]") {
    struct Case {
        const char* text;
        TlsVersion expected;
    };
    const Case cases[] = {
        {"TLSv1", TLS1_VERSION},     {"TLSv1.0", TLS1_VERSION},   {"1.0", TLS1_VERSION},
        {"TLSv1.1", TLS1_1_VERSION}, {"1.1", TLS1_1_VERSION},     {"TLSv1.2", TLS1_2_VERSION},
        {"1.2", TLS1_2_VERSION},     {"TLSv1.3", TLS1_3_VERSION}, {"1.3", TLS1_3_VERSION}};
    for (const auto& c : cases) {
        INFO("min_version = " << c.text);
        auto r = load(tls_head + "min_version = \"" + c.text +
                      "\"\n[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:0\"\n"
                      "backend = \"127.0.0.1:1\"\n");
        CHECK(ok(r).services[0].tls.min_version == c.expected);
    }
}

TEST_CASE("error: wrong types", "[config][errors]") {
    auto text = errors_of(R"([global]
workers = "4"
[tls]
cert = 5
key = ["/k.pem", 3]
[[service]]
name = "imaps"
listen = 993
backend = "127.0.0.1:143"
client = "no"
max_line = 1.5
)");
    CHECK_THAT(text, Contains("t.toml:2: global.workers: expected an integer, got a string"));
    CHECK_THAT(text,
               Contains("t.toml:4: tls.cert: expected a string or an array of strings, got an "
                        "integer"));
    CHECK_THAT(text, Contains("t.toml:5: tls.key: element 2: expected a string, got an integer"));
    CHECK_THAT(text,
               Contains("t.toml:8: service[imaps].listen: expected a string, got an integer"));
    CHECK_THAT(text,
               Contains("t.toml:10: service[imaps].client: expected a boolean (true or false), got "
                        "a string"));
    CHECK_THAT(text,
               Contains("t.toml:11: service[imaps].max_line: expected an integer, got a float"));
}

TEST_CASE("error: bad enum values list the allowed ones", "[config][errors]") {
    auto text = errors_of(R"([global]
log_level = "verbose"
log = "file"
[tls]
cert = "/c.pem"
key = "/k.pem"
profile = "modern"
min_version = "SSLv3"
[[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
protocol = "http"
tls = "none"
starttls_policy = "always"
)");
    CHECK_THAT(text,
               Contains("t.toml:2: global.log_level: invalid value \"verbose\"; allowed values: "
                        "\"debug\", \"info\", \"notice\", \"warning\", \"error\""));
    CHECK_THAT(text, Contains("t.toml:3: global.log: invalid value \"file\"; allowed values: "
                              "\"stderr\", \"syslog\""));
    CHECK_THAT(text, Contains("t.toml:7: tls.profile: invalid value \"modern\"; allowed values: "
                              "\"bettercrypto-b\", \"bettercrypto-a\", \"opportunistic\", "
                              "\"custom\""));
    CHECK_THAT(text, Contains("t.toml:8: tls.min_version: invalid value \"SSLv3\"; allowed values: "
                              "\"TLSv1\""));
    CHECK_THAT(text, Contains("t.toml:13: service[imaps].protocol: invalid value \"http\"; allowed "
                              "values: \"raw\", \"imap\", \"pop3\", \"smtp\""));
    CHECK_THAT(text, Contains("t.toml:14: service[imaps].tls: invalid value \"none\"; allowed "
                              "values: \"implicit\", \"starttls\""));
    CHECK_THAT(text, Contains("t.toml:15: service[imaps].starttls_policy: invalid value "
                              "\"always\"; allowed values: \"may\", \"encrypt\""));
}

TEST_CASE("error: integers out of range", "[config][errors]") {
    auto text = errors_of(R"([global]
workers = -1
[tls]
cert = "/c.pem"
key = "/k.pem"
[[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
max_errors = 0
max_line = 511
[[service]]
name = "pop3s"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
max_line = 1048577
)");
    CHECK_THAT(text, Contains("t.toml:2: global.workers: -1 is out of range"));
    CHECK_THAT(text, Contains("t.toml:10: service[imaps].max_errors: 0 is out of range 1.."));
    CHECK_THAT(text, Contains("t.toml:11: service[imaps].max_line: 511 is out of range "
                              "512..1048576"));
    CHECK_THAT(text, Contains("t.toml:16: service[pop3s].max_line: 1048577 is out of range"));
}

TEST_CASE("error: empty strings and paths", "[config][errors]") {
    auto text = errors_of(R"([tls]
cert = ""
key = "/k.pem"
ciphers = ""
groups = ""
[[service]]
name = "x"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
)");
    CHECK_THAT(text, Contains("t.toml:2: tls.cert: path must not be empty"));
    CHECK_THAT(text, Contains("t.toml:4: tls.ciphers: must not be empty"));
    CHECK_THAT(text, Contains("t.toml:5: tls.groups: must not be empty"));
}

TEST_CASE("an unknown key gets the closest known key when it looks like a typo", "[toml_reader]") {
    const std::string service = "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:1\"\n"
                                "backend = \"127.0.0.1:2\"\ncert = \"a\"\nkey = \"b\"\n";
    CHECK_THAT(errors_of("[global]\nworker = 1\n" + service),
               Contains("t.toml:2: global.worker: unknown key \"worker\"; did you mean "
                        "\"workers\"?"));
    CHECK_THAT(errors_of("[global]\nloglevel = \"info\"\n" + service),
               Contains("did you mean \"log_level\"?"));
    // A service reads TLS and service keys: a typo of either is recognised.
    CHECK_THAT(errors_of(service + "idle_timout = \"3s\"\n"),
               Contains("service[s].idle_timout: unknown key \"idle_timout\"; did you mean "
                        "\"idle_timeout\"?"));
    CHECK_THAT(errors_of(service + "ciphersuite = \"x\"\n"),
               Contains("did you mean \"ciphersuites\"?"));
    CHECK_THAT(errors_of("[servic]\n" + service),
               Contains("t.toml:1: servic: unknown key \"servic\"; did you mean \"service\"?"));
    const std::string far = errors_of("[global]\nfrobnicate = 1\n" + service);
    CHECK_THAT(far, Contains("global.frobnicate: unknown key \"frobnicate\"\n"));
}

TEST_CASE("a TOML syntax error names the key on its line", "[toml_reader]") {
    CHECK_THAT(errors_of("workers = 1\n[global]\nlog_level = oops\n"),
               Contains("t.toml:3: global.log_level: Error while parsing"));
    CHECK_THAT(errors_of("[tls]\n  cert = \"a.pem\n"),
               Contains("t.toml:2: tls.cert: Error while parsing"));
    CHECK_THAT(errors_of("[[service]]\nlisten = \"x\nname = \"imaps\"\n"),
               Contains("t.toml:2: service[imaps].listen: Error while parsing"));
    CHECK_THAT(errors_of("[[service]]\nname = \"a\"\n[[service]]\nbackend = 1.2.3\n"),
               Contains("t.toml:4: service[#2].backend: Error while parsing"));
    // A broken header is no key: the message stands alone, as before.
    CHECK_THAT(errors_of("[global\n"), Contains("t.toml:1: Error while parsing"));
}
