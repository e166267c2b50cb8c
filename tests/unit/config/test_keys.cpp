// The TOML key tables (src/config/key_table.cpp) through their public uses: every key is
// read, written by the writer behind --print-toml and read back equal; defaults are omitted;
// the reference lists every key; the reload comparison names restart-only keys.
#include "config/model_compare.hpp"
#include "config_test_util.hpp"
#include "tlsgate/config/keys.hpp"
#include "tlsgate/config/toml_loader.hpp"
#include "tlsgate/config/toml_writer.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <string>

using namespace tlsgate::config;
using Catch::Contains;

using tlsgate::test::joined;
using tlsgate::test::ok;

namespace {

Config load_ok(const std::string& text) {
    auto r = load_toml_string(text, "/etc/t/t.toml");
    INFO(text);
    INFO(joined(r.errors));
    REQUIRE(r.config);
    return *r.config;
}

// "key = value" lines of a TOML text, by section ("global" or "service"; TLS keys are
// written in the service).
std::set<std::string> written_keys(const std::string& text) {
    std::set<std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        std::string line = text.substr(pos, end - pos);
        pos = end == std::string::npos ? text.size() : end + 1;
        size_t eq = line.find(" = ");
        if (!line.empty() && line[0] != '#' && line[0] != '[' && eq != std::string::npos) {
            out.insert(line.substr(0, eq));
        }
    }
    return out;
}

// Every key at a value that is not its default, spread over services that may hold them
// together.
const std::string every_key = R"([global]
workers = 3
log_level = "debug"
log = "syslog"
log_format = "json"
drain_timeout = "3s"
daemon = true
pid_file = "/run/t.pid"
user = "mail"
group = "mail"
chroot = "/var/empty"
log_file = "/var/log/t.log"
log_append = false
syslog_ident = "tg"
fips = true
cert_expiry_warning = "30d"

[[service]]
name = "every"
listen = "127.0.0.1:25"
backend = ["127.0.0.1:2525", "127.0.0.2:2525"]
failover = "rr"
proxy_header = true
local = "127.0.0.1"
resolve_at_start = true
reset = false
socket_options = ["l:TCP_NODELAY=1", "a:SO_KEEPALIVE=1"]
strict_sni = true
log_level = "warning"
protocol = "smtp"
tls = "starttls"
starttls_policy = "encrypt"
auth_requires_tls = false
allow_xclient = true
early_talker = "reject"
handshake_timeout = "11s"
connect_timeout = "12s"
idle_timeout = "13m"
plaintext_timeout = "14s"
close_timeout = 0
max_errors = 7
max_line = 1024
cert = ["/a.pem", "/b.pem"]
key = ["/a.key", "/b.key"]
profile = "custom"
ciphers = "ECDHE+AESGCM"
ciphersuites = ""
min_version = "TLSv1.2"
max_version = "TLSv1.3"
groups = "X25519"
dhparam = "/dh.pem"
ca_file = "/ca.pem"
ca_path = "/ca"
check_host = "mail.example.org"
sni = "mail.example.org"
require_cert = true
verify_chain = true
verify_peer = true
check_ip = "192.0.2.1"
check_email = "a@example.org"
crl_file = "/crl.pem"
crl_path = "/crl"
options = ["NO_TICKET", "-NO_COMPRESSION"]
security_level = 3
renegotiation = true
compression = true
ticket_key_file = "/keys"
ticket_rotation = "90m"
session_cache = false
session_cache_size = 100
session_cache_timeout = "1h"
session_resume = false

[[service]]
name = "program"
listen = "127.0.0.1:993"
exec = "/usr/sbin/imapd"
exec_args = ["imapd", "-x"]
retry = true
cert = "/a.pem"
key = "/a.key"
tickets = false
ticket_key_secret = "00112233445566778899aabbccddeeff"
ticket_mac_secret = "00112233445566778899aabbccddeeff"

[[service]]
name = "front"
listen = "127.0.0.1:995"
backend = "127.0.0.1:1"
cert = "/a.pem"
key = "/a.key"

[[service]]
name = "kid"
sni_parent = "front"
sni_pattern = "*.example.org"
backend = "127.0.0.1:2"
cert = "/a.pem"
key = "/a.key"
request_cert = true

[[service]]
name = "out"
listen = "127.0.0.1:1143"
backend = "imap.example.org:993"
client = true
verify = "none"
)";

} // namespace

TEST_CASE("keys: every key is written when it differs and reads back equal", "[keys]") {
    const Config model = load_ok(every_key);
    const std::string text = write_toml(model);
    INFO(text);
    const Config back = load_ok(text);
    tlsgate::test::check_same_config(model, back);

    const std::set<std::string> written = written_keys(text);
    for (const KeyInfo& k : key_reference()) {
        if (k.name == "verify" || k.name == "inetd") {
            // verify: the summary of the peer-check switches, which are written instead;
            // inetd stands alone (the next test).
            continue;
        }
        INFO(k.section << "." << k.name);
        CHECK(written.count(k.name) == 1);
    }
}

TEST_CASE("keys: inetd round-trips without a listen", "[keys]") {
    const Config model = load_ok("[[service]]\nname = \"i\"\ninetd = true\n"
                                 "backend = \"127.0.0.1:1\"\ncert = \"/a\"\nkey = \"/k\"\n");
    const std::string text = write_toml(model);
    CHECK_THAT(text, Contains("inetd = true\n"));
    CHECK_FALSE(written_keys(text).count("listen"));
    tlsgate::test::check_same_config(model, load_ok(text));
}

TEST_CASE("keys: defaults are omitted", "[keys]") {
    const Config model = load_ok("[global]\nworkers = 0\nlog_level = \"info\"\n"
                                 "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n"
                                 "tickets = true\n"
                                 "[[service]]\nname = \"a\"\nlisten = \"127.0.0.1:993\"\n"
                                 "backend = \"127.0.0.1:143\"\nidle_timeout = \"30m\"\n"
                                 "[[service]]\nname = \"mx\"\nlisten = \"127.0.0.1:25\"\n"
                                 "backend = \"127.0.0.1:2525\"\nprotocol = \"smtp\"\n"
                                 "tls = \"starttls\"\nstarttls_policy = \"may\"\n"
                                 "early_talker = \"reject\"\n");
    CHECK(write_toml(model) == "# tlsgate configuration written from /etc/t/t.toml\n"
                               "\n[[service]]\n"
                               "name = \"a\"\n"
                               "listen = \"127.0.0.1:993\"\n"
                               "backend = [\"127.0.0.1:143\"]\n"
                               "cert = [\"/c.pem\"]\n"
                               "key = [\"/k.pem\"]\n"
                               "\n[[service]]\n"
                               "name = \"mx\"\n"
                               "listen = \"127.0.0.1:25\"\n"
                               "backend = [\"127.0.0.1:2525\"]\n"
                               "protocol = \"smtp\"\n"
                               "tls = \"starttls\"\n"
                               "cert = [\"/c.pem\"]\n"
                               "key = [\"/k.pem\"]\n");
}

TEST_CASE("keys: the reference names every key once per section", "[keys]") {
    std::set<std::string> seen;
    for (const KeyInfo& k : key_reference()) {
        INFO(k.section << "." << k.name);
        CHECK(seen.insert(k.section + "." + k.name).second);
        CHECK_FALSE(k.type.empty());
        CHECK_FALSE(k.doc.empty());
        CHECK_FALSE(k.default_text.empty());
    }
    CHECK(seen.count("global.workers"));
    CHECK(seen.count("tls.cert"));
    CHECK(seen.count("service.listen"));
    CHECK_THAT(key_reference_markdown(), Contains("| service | `listen` |"));
}

TEST_CASE("keys: a reload names the [global] keys that need a restart", "[keys]") {
    Global running, loaded;
    CHECK(restart_only_changes(running, loaded).empty());
    loaded.log_level = LogLevel::debug; // a reload applies it
    CHECK(restart_only_changes(running, loaded).empty());
    loaded.workers = 4;
    loaded.pid_file = "/run/x.pid";
    loaded.fips = true;
    CHECK(restart_only_changes(running, loaded) ==
          std::vector<std::string>{"workers", "pid_file", "fips"});
}

TEST_CASE("keys: the sample config conf/tlsgate.toml shows every key", "[keys]") {
    std::ifstream in(std::string(TLSGATE_TEST_DATA_DIR) + "/../../conf/tlsgate.toml");
    REQUIRE(in);
    std::set<std::string> shown;
    for (std::string line; std::getline(in, line);) {
        // "key = value", or commented out as "# key = value".
        std::string_view text = line;
        if (text.starts_with("# ")) {
            text.remove_prefix(2);
        }
        size_t eq = text.find(" = ");
        if (eq != std::string_view::npos &&
            text.substr(0, eq).find_first_of(" #[") == std::string_view::npos) {
            shown.insert(std::string(text.substr(0, eq)));
        }
    }
    for (const KeyInfo& k : key_reference()) {
        INFO(k.section << "." << k.name);
        CHECK(shown.count(k.name) == 1);
    }
}
