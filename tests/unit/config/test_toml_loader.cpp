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

// ------------------------------------------------------------------------------------------
// Success cases

TEST_CASE("full example parses with every field", "[config]") {
    auto r = load(R"([global]
workers = 4
log_level = "notice"
log = "syslog"
drain_timeout = "15s"

[tls]
cert = ["/etc/tlsgate/rsa.pem", "/etc/tlsgate/ec.pem"]
key = ["/etc/tlsgate/rsa.key", "/etc/tlsgate/ec.key"]
profile = "bettercrypto-a"
ciphersuites = "TLS_AES_256_GCM_SHA384"
min_version = "TLSv1.2"
max_version = "1.3"
groups = "X25519:P-256"
dhparam = "/etc/tlsgate/dh.pem"

[[service]]
name = "imap"
listen = "[::]:143"
backend = "mail.example.org:1143"
protocol = "imap"
tls = "starttls"
client = false
starttls_policy = "may"
auth_requires_tls = true
handshake_timeout = "2s"
connect_timeout = 3
idle_timeout = "1h"
plaintext_timeout = "500ms"
max_errors = 7
max_line = 65536

[[service]]
name = "pop3s"
listen = "unix:/run/tlsgate/pop3s.sock"
backend = "unix:/run/dovecot/pop3.sock"
protocol = "pop3"
)");
    const Config& c = ok(r);
    CHECK(r.warnings.empty());
    CHECK(c.source_file == file);

    CHECK(c.global.workers == 4);
    CHECK(c.global.log_level == LogLevel::notice);
    CHECK(c.global.log_target == LogTarget::syslog);
    CHECK(c.global.drain_timeout == seconds(15));
    CHECK(c.global.where.at("workers").line == 2);
    CHECK(c.global.where.at("drain_timeout").line == 5);

    REQUIRE(c.services.size() == 2);
    const Service& s = c.services[0];
    CHECK(s.name == "imap");
    CHECK(s.section.line == 17);
    CHECK(s.section.file == file);
    CHECK(s.listen.host == "::");
    CHECK(s.listen.port == 143);
    CHECK(s.listen.host_is_ip);
    CHECK(s.backends.at(0).host == "mail.example.org");
    CHECK(s.backends.at(0).port == 1143);
    CHECK_FALSE(s.backends.at(0).host_is_ip);
    CHECK(s.protocol == Protocol::imap);
    CHECK(s.tls_mode == TlsMode::starttls);
    CHECK_FALSE(s.client);
    CHECK(s.starttls_policy == StarttlsPolicy::may);
    CHECK(s.auth_requires_tls);
    CHECK(s.handshake_timeout == seconds(2));
    CHECK(s.connect_timeout == seconds(3));
    CHECK(s.idle_timeout == hours(1));
    CHECK(s.plaintext_timeout == milliseconds(500));
    CHECK(s.max_errors == 7);
    CHECK(s.max_line == 65536);
    CHECK(s.where.at("listen").line == 19);
    CHECK(s.locate("max_line").line == 31);
    CHECK(s.locate("no_such_key").line == 17);

    const TlsSettings& t = s.tls;
    CHECK(t.cert == std::vector<std::string>{"/etc/tlsgate/rsa.pem", "/etc/tlsgate/ec.pem"});
    CHECK(t.key == std::vector<std::string>{"/etc/tlsgate/rsa.key", "/etc/tlsgate/ec.key"});
    CHECK(t.profile == TlsProfile::bettercrypto_a);
    CHECK_FALSE(t.ciphers.has_value());
    CHECK(t.ciphersuites == "TLS_AES_256_GCM_SHA384");
    CHECK(t.min_version == TLS1_2_VERSION);
    CHECK(t.max_version == TLS1_3_VERSION);
    CHECK(t.groups == "X25519:P-256");
    CHECK(t.dhparam == "/etc/tlsgate/dh.pem");
    CHECK(t.locate("cert").line == 8);
    CHECK(t.locate("dhparam").line == 15);
    CHECK(t.locate("ciphers").line == 17); // unset: falls back to the service section

    const Service& p = c.services[1];
    CHECK(p.name == "pop3s");
    CHECK(p.listen.kind == Address::Kind::unix_socket);
    CHECK(p.listen.path == "/run/tlsgate/pop3s.sock");
    CHECK(p.backends.at(0).to_string() == "unix:/run/dovecot/pop3.sock");
    CHECK(p.tls_mode == TlsMode::implicit);
    CHECK(p.tls.cert.size() == 2);
}

TEST_CASE("defaults", "[config]") {
    auto r = load(tls_head + R"([[service]]
name = "smtp"
listen = "0.0.0.0:25"
backend = "127.0.0.1:2525"
protocol = "smtp"
tls = "starttls"

[[service]]
name = "imap"
listen = "0.0.0.0:143"
backend = "127.0.0.1:1143"
protocol = "imap"
tls = "starttls"

[[service]]
name = "raw"
listen = "0.0.0.0:993"
backend = "127.0.0.1:143"
)");
    const Config& c = ok(r);
    CHECK(c.global.workers == 0);
    CHECK(c.global.log_level == LogLevel::info);
    CHECK(c.global.log_target == LogTarget::stderr_stream);
    CHECK(c.global.drain_timeout == seconds(10));
    REQUIRE(c.services.size() == 3);
    CHECK(c.services[0].starttls_policy == StarttlsPolicy::may);
    CHECK(c.services[1].starttls_policy == StarttlsPolicy::encrypt);
    const Service& s = c.services[2];
    CHECK(s.protocol == Protocol::raw);
    CHECK(s.tls_mode == TlsMode::implicit);
    CHECK(s.starttls_policy == StarttlsPolicy::encrypt);
    CHECK_FALSE(s.client);
    CHECK(s.auth_requires_tls);
    CHECK(s.handshake_timeout == seconds(10));
    CHECK(s.connect_timeout == seconds(5));
    CHECK(s.idle_timeout == minutes(30));
    CHECK(s.plaintext_timeout == seconds(60));
    CHECK(s.max_errors == 5);
    CHECK(s.max_line == 8192);
    CHECK(s.tls.profile == TlsProfile::bettercrypto_b);
    CHECK(s.tls.min_version == 0);
    CHECK(s.tls.max_version == 0);
    CHECK_FALSE(s.tls.ciphers);
    CHECK_FALSE(s.tls.ciphersuites);
    CHECK_FALSE(s.tls.groups);
    CHECK_FALSE(s.tls.dhparam);
}

TEST_CASE("a service overrides [tls] keys; locations follow the value", "[config]") {
    auto r = load(R"([tls]
cert = "/default.pem"
key = "/default.key"
profile = "bettercrypto-b"
min_version = "TLSv1.2"

[[service]]
name = "a"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
cert = "/a.pem"
key = "/a.key"
profile = "custom"
ciphers = "ECDHE+AESGCM"
min_version = "TLSv1.3"

[[service]]
name = "b"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
ciphers = "HIGH"
)");
    const Config& c = ok(r);
    REQUIRE(c.services.size() == 2);
    const TlsSettings& a = c.services[0].tls;
    CHECK(a.cert == std::vector<std::string>{"/a.pem"});
    CHECK(a.key == std::vector<std::string>{"/a.key"});
    CHECK(a.profile == TlsProfile::custom);
    CHECK(a.ciphers == "ECDHE+AESGCM");
    CHECK(a.min_version == TLS1_3_VERSION);
    CHECK(a.locate("cert").line == 11);
    CHECK(a.locate("min_version").line == 15);
    CHECK(a.section.line == 7);

    const TlsSettings& b = c.services[1].tls;
    CHECK(b.cert == std::vector<std::string>{"/default.pem"});
    CHECK(b.profile == TlsProfile::bettercrypto_b);
    CHECK(b.ciphers == "HIGH"); // allowed with a non-custom profile: replaces its list
    CHECK(b.min_version == TLS1_2_VERSION);
    CHECK(b.locate("cert").line == 2);
    CHECK(b.locate("ciphers").line == 21);
    CHECK(b.section.line == 17);
}

TEST_CASE("relative paths resolve against the config file's directory", "[config]") {
    auto r = load(R"([tls]
cert = "cert.pem"
key = ["../keys/key.pem"]
dhparam = "./dh/dh.pem"

[[service]]
name = "a"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
cert = ["/abs/a.pem", "sub/b.pem"]
key = ["/abs/a.key", "sub/b.key"]

[[service]]
name = "b"
listen = "127.0.0.2:0"
backend = "127.0.0.1:143"
)");
    const Config& c = ok(r);
    const TlsSettings& a = c.services[0].tls;
    CHECK(a.cert == std::vector<std::string>{"/abs/a.pem", "/srv/conf/sub/b.pem"});
    CHECK(a.key == std::vector<std::string>{"/abs/a.key", "/srv/conf/sub/b.key"});
    CHECK(a.dhparam == "/srv/conf/dh/dh.pem");
    const TlsSettings& b = c.services[1].tls;
    CHECK(b.cert == std::vector<std::string>{"/srv/conf/cert.pem"});
    CHECK(b.key == std::vector<std::string>{"/srv/keys/key.pem"});
}

TEST_CASE("load_toml_file reads a file and resolves paths next to it", "[config]") {
    const std::string dir = std::string(TLSGATE_TEST_DATA_DIR) + "/config";
    auto r = load_toml_file(dir + "/minimal.toml");
    const Config& c = ok(r);
    REQUIRE(c.services.size() == 1);
    CHECK(c.services[0].tls.cert == std::vector<std::string>{dir + "/certs/server.pem"});
    CHECK(c.services[0].tls.key == std::vector<std::string>{dir + "/certs/server.key"});
    CHECK(c.services[0].section.line == 6);
}

TEST_CASE("client services need no certificate", "[config]") {
    auto r = load(R"([[service]]
name = "out"
listen = "127.0.0.1:0"
backend = "mail.example.org:993"
client = true
)");
    const Config& c = ok(r);
    CHECK(c.services[0].client);
    CHECK(c.services[0].tls.cert.empty());
}

// ------------------------------------------------------------------------------------------
// One test per error class: each checks file, line and key.

TEST_CASE("error: TOML syntax", "[config][errors]") {
    auto r = load("[global]\nworkers = 1\nlog_level = \"info\n");
    REQUIRE(r.errors.size() == 1);
    CHECK_FALSE(r.config);
    CHECK(r.errors[0].where.file == file);
    CHECK(r.errors[0].where.line == 3);
    CHECK(r.errors[0].key == "global.log_level"); // the key whose value did not parse
    CHECK_THAT(r.errors[0].to_string(), Contains("t.toml:3: global.log_level: "));
}

TEST_CASE("error: file unreadable", "[config][errors]") {
    auto r = load_toml_file("/nonexistent/dir/t.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK_FALSE(r.config);
    CHECK(r.errors[0].to_string() ==
          "/nonexistent/dir/t.toml: cannot read file: No such file or directory");
}

TEST_CASE("error: unknown keys and tables", "[config][errors]") {
    auto text = errors_of(tls_head + R"(frobnicate = 1
[global]
wrokers = 2
[[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
colour = "blue"
[extra]
x = 1
)");
    CHECK_THAT(text, Contains("t.toml:4: tls.frobnicate: unknown key \"frobnicate\""));
    CHECK_THAT(text, Contains("t.toml:6: global.wrokers: unknown key \"wrokers\""));
    CHECK_THAT(text, Contains("t.toml:11: service[imaps].colour: unknown key \"colour\""));
    CHECK_THAT(text, Contains("t.toml:12: extra: unknown key \"extra\""));
}

TEST_CASE("error: [service] is not an array of tables", "[config][errors]") {
    auto text = errors_of(tls_head + "[service]\nname = \"x\"\n");
    CHECK_THAT(text, Contains("t.toml:4: service: expected an array of tables ([[service]]), got a "
                              "table"));
}

TEST_CASE("error: bad addresses; port 0 only for listen", "[config][errors]") {
    auto text = errors_of(tls_head + R"([[service]]
name = "imaps"
listen = "127.0.0.1"
backend = "127.0.0.1:0"
[[service]]
name = "pop3s"
listen = "unix:relative.sock"
backend = "[::1]:99999"
)");
    CHECK_THAT(text, Contains("t.toml:6: service[imaps].listen: missing port"));
    CHECK_THAT(text, Contains("t.toml:7: service[imaps].backend: invalid port 0"));
    CHECK_THAT(text, Contains("t.toml:10: service[pop3s].listen: unix socket path must be "
                              "absolute"));
    CHECK_THAT(text, Contains("t.toml:11: service[pop3s].backend: invalid port 99999"));
}

TEST_CASE("error: missing required keys point at the [[service]] header", "[config][errors]") {
    auto text = errors_of(tls_head + R"([[service]]
name = "imaps"

[[service]]
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
)");
    CHECK_THAT(text, Contains("t.toml:4: service[imaps].listen: missing required key \"listen\""));
    CHECK_THAT(text,
               Contains("t.toml:4: service[imaps].backend: missing required key \"backend\""));
    CHECK_THAT(text, Contains("t.toml:7: service[#2].name: missing required key \"name\""));
}

TEST_CASE("error: invalid service name", "[config][errors]") {
    auto text = errors_of(tls_head + R"([[service]]
name = "imap s"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
)");
    CHECK_THAT(text, Contains("t.toml:5: service[#1].name: invalid service name \"imap s\""));
}

TEST_CASE("error: duplicate service name names the first one's line", "[config][errors]") {
    auto text = errors_of(tls_head + R"([[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
[[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
)");
    CHECK_THAT(text, Contains("t.toml:9: service[imaps].name: duplicate service name \"imaps\" "
                              "(first defined at line 5)"));
}

TEST_CASE("error: no [[service]]", "[config][errors]") {
    CHECK_THAT(errors_of(tls_head), Contains("t.toml: service: no [[service]] defined"));
    CHECK_THAT(errors_of("service = []\n"), Contains("t.toml: service: no [[service]] defined"));
}

TEST_CASE("error: a server service needs a certificate", "[config][errors]") {
    auto text = errors_of(R"([[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
)");
    CHECK_THAT(text, Contains("t.toml:1: service[imaps].cert: no certificate"));
}

TEST_CASE("error: cert and key counts differ", "[config][errors]") {
    auto text = errors_of(R"([tls]
cert = ["/a.pem", "/b.pem"]
key = "/a.key"
[[service]]
name = "one"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
[[service]]
name = "two"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
key = ["/a.key", "/b.key", "/c.key"]
)");
    CHECK_THAT(text, Contains("t.toml:3: tls.key: 2 cert file(s) but 1 key file(s)"));
    CHECK_THAT(text, Contains("t.toml:12: service[two].key: 2 cert file(s) but 3 key file(s)"));
    // Inherited mismatch is reported once, at [tls], not again for service "one".
    CHECK_THAT(text, !Contains("service[one]"));
}

TEST_CASE("error: starttls needs a mail protocol", "[config][errors]") {
    auto text = errors_of(tls_head + R"([[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
tls = "starttls"
)");
    CHECK_THAT(text,
               Contains("t.toml:8: service[imaps].tls: tls = \"starttls\" requires protocol"));
}

TEST_CASE("error: profile custom needs ciphers", "[config][errors]") {
    auto text = errors_of(tls_head + R"([[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
profile = "custom"
ciphersuites = "TLS_AES_128_GCM_SHA256"
)");
    CHECK_THAT(text, Contains("t.toml:8: service[imaps].profile: profile \"custom\" requires "
                              "\"ciphers\""));
}

TEST_CASE("error: min_version above max_version", "[config][errors]") {
    auto text = errors_of(tls_head + R"(min_version = "TLSv1.3"
max_version = "TLSv1.2"
[[service]]
name = "imaps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
[[service]]
name = "pop3s"
listen = "127.0.0.1:0"
backend = "127.0.0.1:110"
max_version = "TLSv1.1"
)");
    CHECK_THAT(text, Contains("t.toml:4: tls.min_version: min_version TLSv1.3 is greater than "
                              "max_version TLSv1.2"));
    CHECK_THAT(text, Contains("t.toml:4: service[pop3s].min_version: min_version TLSv1.3 is "
                              "greater than max_version TLSv1.1"));
    CHECK_THAT(text, !Contains("service[imaps]"));
}

TEST_CASE("auth_requires_tls = false is a warning, not an error", "[config]") {
    auto r = load(tls_head + R"([[service]]
name = "imap"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
protocol = "imap"
tls = "starttls"
auth_requires_tls = false
)");
    const Config& c = ok(r);
    CHECK_FALSE(c.services[0].auth_requires_tls);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0].to_string(), Contains("t.toml:10: service[imap].auth_requires_tls: "));
}

TEST_CASE("every error is collected, in line order", "[config][errors]") {
    auto r = load(R"([global]
workers = "x"
log_level = "loud"
[[service]]
name = "a"
listen = "nope"
backend = "127.0.0.1:143"
idle_timeout = "5y"
[[service]]
name = "a"
listen = "127.0.0.1:0"
)");
    CHECK_FALSE(r.config);
    std::vector<std::string> got;
    for (const auto& e : r.errors) {
        got.push_back(e.to_string());
    }
    INFO(joined(r.errors));
    REQUIRE(got.size() == 8);
    CHECK_THAT(got[0], Contains("t.toml:2: global.workers"));
    CHECK_THAT(got[1], Contains("t.toml:3: global.log_level"));
    CHECK_THAT(got[2], Contains("t.toml:4: service[a].cert: no certificate"));
    CHECK_THAT(got[3], Contains("t.toml:6: service[a].listen: missing port"));
    CHECK_THAT(got[4], Contains("t.toml:8: service[a].idle_timeout: unknown unit"));
    CHECK_THAT(got[5], Contains("t.toml:9: service[a].backend: missing required key"));
    CHECK_THAT(got[6], Contains("t.toml:9: service[a].cert: no certificate"));
    CHECK_THAT(got[7], Contains("t.toml:10: service[a].name: duplicate service name \"a\" (first "
                                "defined at line 5)"));
}

TEST_CASE("ConfigError::to_string format", "[config]") {
    // Built field by field: GCC 12 at -O3 warns falsely about nested aggregate init here.
    auto make = [](int line, const char* key) {
        ConfigError error;
        error.where.file = "f.toml";
        error.where.line = line;
        error.key = key;
        error.message = "bad";
        return error;
    };
    const ConfigError with_key = make(7, "service[x].listen");
    const ConfigError without_key = make(7, "");
    const ConfigError without_line = make(0, "");
    CHECK(with_key.to_string() == "f.toml:7: service[x].listen: bad");
    CHECK(without_key.to_string() == "f.toml:7: bad");
    CHECK(without_line.to_string() == "f.toml: bad");
}

TEST_CASE("enum to_string matches the config spelling", "[config]") {
    CHECK(std::string(to_string(LogLevel::warning)) == "warning");
    CHECK(std::string(to_string(LogTarget::stderr_stream)) == "stderr");
    CHECK(std::string(to_string(TlsProfile::bettercrypto_b)) == "bettercrypto-b");
    CHECK(std::string(to_string(Protocol::pop3)) == "pop3");
    CHECK(std::string(to_string(TlsMode::starttls)) == "starttls");
    CHECK(std::string(to_string(StarttlsPolicy::may)) == "may");
}

// ------------------------------------------------------------------------------------------
// Client mode

TEST_CASE("client mode keys and defaults", "[config][client]") {
    auto r = load(R"([[service]]
name = "smarthost"
client = true
listen = "127.0.0.1:2525"
backend = "mail.example.org:587"
protocol = "smtp"
tls = "starttls"
ca_file = "ca.pem"
check_host = "mx.example.org"
sni = "mx.example.org"
)");
    const auto& cfg = ok(r);
    const Service& s = cfg.services.at(0);
    CHECK(s.client);
    CHECK(s.tls.verify == VerifyMode::peer);
    CHECK(s.tls.ca_file == "/srv/conf/ca.pem");
    CHECK(s.tls.check_host == "mx.example.org");
    CHECK(s.tls.sni == "mx.example.org");
    // Client mode refuses plaintext unless told otherwise, SMTP included.
    CHECK(s.starttls_policy == StarttlsPolicy::encrypt);
    CHECK(r.warnings.empty());
}

TEST_CASE("client mode: verify = none warns; may is SMTP only", "[config][client]") {
    auto r = load(R"([[service]]
name = "insecure"
client = true
listen = "127.0.0.1:1143"
backend = "127.0.0.1:143"
protocol = "imap"
tls = "starttls"
verify = "none"
)");
    ok(r);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0].to_string(), Contains("t.toml:8: service[insecure].verify"));

    CHECK_THAT(errors_of(R"([[service]]
name = "imap"
client = true
listen = "127.0.0.1:1143"
backend = "127.0.0.1:143"
protocol = "imap"
tls = "starttls"
starttls_policy = "may"
)"),
               Contains("t.toml:8: service[imap].starttls_policy"));
    CHECK_THAT(errors_of(R"([[service]]
name = "x"
client = true
listen = "127.0.0.1:1143"
backend = "127.0.0.1:143"
verify = "sometimes"
)"),
               Contains("t.toml:6: service[x].verify") && Contains("\"peer\""));
}

TEST_CASE("SMTP early_talker and allow_xclient: defaults, values, errors", "[config][smtp]") {
    auto r = load(tls_head + R"([[service]]
name = "mx"
listen = "127.0.0.1:0"
backend = "127.0.0.1:25"
protocol = "smtp"
tls = "starttls"
[[service]]
name = "submission"
listen = "127.0.0.1:0"
backend = "127.0.0.1:587"
protocol = "smtp"
tls = "starttls"
starttls_policy = "encrypt"
[[service]]
name = "smtps"
listen = "127.0.0.1:0"
backend = "127.0.0.1:587"
protocol = "smtp"
early_talker = "reject"
allow_xclient = true
[[service]]
name = "smtps-default"
listen = "127.0.0.1:0"
backend = "127.0.0.1:587"
protocol = "smtp"
)");
    const Config& c = ok(r);
    CHECK(c.services[3].early_talker == EarlyTalker::hold);   // implicit TLS: submission
    CHECK(c.services[0].early_talker == EarlyTalker::reject); // starttls_policy "may"
    CHECK_FALSE(c.services[0].allow_xclient);
    CHECK(c.services[1].early_talker == EarlyTalker::hold);
    CHECK(c.services[2].early_talker == EarlyTalker::reject);
    CHECK(c.services[2].allow_xclient);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0].to_string(), Contains("t.toml:23: service[smtps].allow_xclient: "));

    auto text = errors_of(tls_head + R"([[service]]
name = "mx"
listen = "127.0.0.1:0"
backend = "127.0.0.1:25"
protocol = "smtp"
tls = "starttls"
early_talker = "drop"
allow_xclient = "yes"
[[service]]
name = "imap"
listen = "127.0.0.1:0"
backend = "127.0.0.1:143"
protocol = "imap"
early_talker = "hold"
[[service]]
name = "out"
listen = "127.0.0.1:0"
backend = "127.0.0.1:25"
protocol = "smtp"
client = true
allow_xclient = true
)");
    CHECK_THAT(text, Contains("t.toml:10: service[mx].early_talker: invalid value \"drop\"; "
                              "allowed values: \"hold\", \"reject\""));
    CHECK_THAT(text, Contains("t.toml:11: service[mx].allow_xclient: "));
    CHECK_THAT(text, Contains("t.toml:17: service[imap].early_talker: early_talker applies to "
                              "server-side SMTP services only"));
    CHECK_THAT(text, Contains("t.toml:24: service[out].allow_xclient: allow_xclient applies to "
                              "server-side SMTP and POP3 services only"));
}

TEST_CASE("allow_xclient on a POP3 service", "[config]") {
    auto r = load(tls_head + R"([[service]]
name = "pop3s"
listen = "127.0.0.1:0"
backend = "127.0.0.1:110"
protocol = "pop3"
allow_xclient = true
)");
    CHECK(ok(r).services[0].allow_xclient);
}
