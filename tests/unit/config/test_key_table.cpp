// The TOML keys as the key tables (src/config/key_table.cpp) read them: backend lists and
// failover, exec, inetd, SNI services, socket options, peer-certificate checks, tickets, the
// session cache, SSL options and the daemon keys in [global].
#include "config_test_util.hpp"
#include "tlsgate/config/toml_loader.hpp"

#include <catch2/catch.hpp>
#include <openssl/ssl.h>
#include <string>
#include <vector>

using namespace tlsgate::config;
using Catch::Contains;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

using tlsgate::test::joined;
using tlsgate::test::ok;

namespace {

const std::string file = "/srv/conf/x.toml";

// Lines 1-3 are [tls]; the service table starts at line 4, its keys at line 5.
const std::string head = "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n";

LoadResult load_service(const std::string& keys) {
    return load_toml_string(head + "[[service]]\nname = \"s\"\n" + keys, file);
}

std::string errors_of(const std::string& keys) {
    auto r = load_service(keys);
    CHECK_FALSE(r.config);
    return joined(r.errors);
}

} // namespace

TEST_CASE("key table: backend arrays and failover", "[key_table]") {
    auto r = load_service("listen = \"127.0.0.1:1\"\n"
                          "backend = [\"10.0.0.1:143\", \"[::1]:143\", \"unix:/run/i.sock\"]\n"
                          "failover = \"rr\"\n");
    const Service& s = ok(r).services[0];
    REQUIRE(s.backends.size() == 3);
    CHECK(s.backends[0].to_string() == "10.0.0.1:143");
    CHECK(s.backends[1].to_string() == "[::1]:143");
    CHECK(s.backends[2].to_string() == "unix:/run/i.sock");
    CHECK(s.failover == Failover::rr);
    CHECK(ok(load_service("listen = \"127.0.0.1:1\"\nbackend = \"a.example:1\"\n"))
              .services[0]
              .failover == Failover::prio);
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = []\n"),
               Contains(file + ":7: service[s].backend: needs at least one address"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nfailover = \"random\"\n"),
               Contains(file + ":8: service[s].failover:"));
}

TEST_CASE("key table: exec, exec_args and retry", "[key_table]") {
    auto r = load_service("listen = \"127.0.0.1:1\"\nexec = \"/usr/sbin/imapd\"\nretry = true\n");
    const Service& s = ok(r).services[0];
    CHECK(s.exec == "/usr/sbin/imapd");
    CHECK(s.exec_args == std::vector<std::string>{"imapd"}); // argv[0]: the basename
    CHECK(s.retry);
    CHECK(s.backends.empty());
    auto a =
        load_service("listen = \"127.0.0.1:1\"\nexec = \"bin/x\"\nexec_args = [\"x\", \"-v\"]\n");
    CHECK(ok(a).services[0].exec == "/srv/conf/bin/x"); // relative to the file
    CHECK(ok(a).services[0].exec_args == std::vector<std::string>{"x", "-v"});
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nexec = \"/bin/cat\"\n"),
               Contains(file + ":8: service[s].exec: set either \"backend\" or \"exec\""));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nexec_args = [\"x\"]\n"),
               Contains("service[s].exec_args: exec_args needs \"exec\""));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nretry = true\n"),
               Contains("service[s].retry: retry needs \"exec\""));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\n"),
               Contains("service[s].backend: missing required key \"backend\" (or \"exec\")"));
}

TEST_CASE("key table: inetd", "[key_table]") {
    auto r = load_service("inetd = true\nbackend = \"127.0.0.1:143\"\n");
    const Service& s = ok(r).services[0];
    CHECK(s.inetd);
    CHECK(s.listen.port == 0);
    CHECK_THAT(errors_of("inetd = true\nlisten = \"127.0.0.1:1\"\nbackend = \"a:1\"\n"),
               Contains("service[s].inetd: an inetd service takes its connection on stdin/stdout"));
    auto two =
        load_toml_string(head + "[[service]]\nname = \"a\"\ninetd = true\nbackend = \"a:1\"\n"
                                "[[service]]\nname = \"b\"\nlisten = \"127.0.0.1:1\"\n"
                                "backend = \"a:1\"\n",
                         file);
    CHECK_THAT(joined(two.errors), Contains(file + ":6: service[a].inetd: an inetd service must be "
                                                   "the only service"));
}

TEST_CASE("key table: SNI services", "[key_table]") {
    auto r = load_toml_string(head + R"([[service]]
name = "front"
listen = "127.0.0.1:1"
backend = "a:1"
[[service]]
name = "child"
sni_parent = "front"
sni_pattern = "*.example.org"
backend = "b:1"
)",
                              file);
    const Config& c = ok(r);
    CHECK(c.services[1].sni_parent == "front");
    CHECK(c.services[1].sni_pattern == "*.example.org");
    CHECK(c.services[1].locate("sni_parent").line == 10);
    CHECK_THAT(errors_of("sni_parent = \"nope\"\nsni_pattern = \"x\"\nbackend = \"a:1\"\n"),
               Contains(file + ":6: service[s].sni_parent: no service named \"nope\""));
    CHECK_THAT(errors_of("sni_parent = \"s\"\nbackend = \"a:1\"\n"),
               Contains("sni_parent and sni_pattern go together"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nsni_parent = \"p\"\nsni_pattern = \"x\"\n"
                         "backend = \"a:1\"\n"),
               Contains("an SNI service is reached through its parent's listener"));
}

TEST_CASE("key table: strict_sni", "[key_table]") {
    auto r = load_toml_string(head + R"([[service]]
name = "front"
listen = "127.0.0.1:1"
backend = "a:1"
strict_sni = true
[[service]]
name = "child"
sni_parent = "front"
sni_pattern = "*.example.org"
backend = "b:1"
)",
                              file);
    const Config& c = ok(r);
    CHECK(c.services[0].strict_sni);
    CHECK(c.services[0].locate("strict_sni").line == 8);
    CHECK_FALSE(c.services[1].strict_sni); // off by default
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nstrict_sni = \"yes\"\n"),
               Contains(file + ":8: service[s].strict_sni:"));
    CHECK_THAT(errors_of("sni_parent = \"s\"\nsni_pattern = \"x\"\nbackend = \"a:1\"\n"
                         "strict_sni = true\n"),
               Contains(file + ":9: service[s].strict_sni: strict_sni belongs on the SNI parent"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nclient = true\n"
                         "strict_sni = true\n"),
               Contains(file + ":9: service[s].strict_sni: strict_sni is for server mode"));
}

TEST_CASE("key table: socket_options", "[key_table]") {
    auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n"
                          "socket_options = [\"l:TCP_NODELAY=1\", \"a:SO_LINGER=1:60\"]\n");
    const Service& s = ok(r).services[0];
    REQUIRE(s.socket_options.size() == 2);
    CHECK(s.socket_options[0].side == 'l');
    CHECK(s.socket_options[0].name == "TCP_NODELAY");
    CHECK(s.socket_options[0].value == "1");
    CHECK(s.socket_options[1].side == 'a');
    CHECK(s.socket_options[1].value == "1:60");
    CHECK(s.socket_options[1].where.line == 8);
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n"
                         "socket_options = [\"x:TCP_NODELAY=1\"]\n"),
               Contains(file + ":8: service[s].socket_options: invalid socket option"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n"
                         "socket_options = [\"l:TCP_NODELAY\"]\n"),
               Contains("expected NAME=VALUE"));
}

TEST_CASE("key table: peer certificate keys", "[key_table]") {
    SECTION("server mode asks for nothing by default") {
        auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n");
        const TlsSettings& t = ok(r).services[0].tls;
        CHECK_FALSE(t.request_cert);
        CHECK_FALSE(t.require_cert);
        CHECK_FALSE(t.verify_chain);
        CHECK_FALSE(t.verify_peer);
        CHECK(t.verify == VerifyMode::none);
    }
    SECTION("client mode verifies the chain by default") {
        auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nclient = true\n");
        const TlsSettings& t = ok(r).services[0].tls;
        CHECK(t.verify_chain);
        CHECK(t.require_cert);
        CHECK(t.verify == VerifyMode::peer);
    }
    SECTION("server mode with verify_peer requests the certificate") {
        auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nverify_peer = true\n"
                              "ca_file = \"/ca.pem\"\ncheck_ip = \"192.0.2.1\"\n"
                              "check_email = \"a@example.org\"\ncrl_file = \"crl.pem\"\n"
                              "crl_path = \"/crl.d\"\n");
        const TlsSettings& t = ok(r).services[0].tls;
        CHECK(t.verify_peer);
        CHECK(t.request_cert);
        CHECK(t.verify == VerifyMode::peer);
        CHECK(t.check_ip == "192.0.2.1");
        CHECK(t.check_email == "a@example.org");
        CHECK(t.crl_file == "/srv/conf/crl.pem");
        CHECK(t.crl_path == "/crl.d");
    }
    SECTION("verify = none in client mode clears the defaults, with a warning") {
        auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nclient = true\n"
                              "verify = \"none\"\n");
        const TlsSettings& t = ok(r).services[0].tls;
        CHECK_FALSE(t.verify_chain);
        CHECK_FALSE(t.require_cert);
        CHECK_THAT(joined(r.warnings), Contains(file + ":9: service[s].verify: verify = \"none\""));
    }
}

TEST_CASE("key table: tickets and session cache", "[key_table]") {
    auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\ntickets = false\n"
                          "ticket_rotation = \"1h\"\nsession_cache = false\n"
                          "session_cache_size = 100\nsession_cache_timeout = \"10m\"\n"
                          "session_resume = false\n");
    const TlsSettings& t = ok(r).services[0].tls;
    CHECK_FALSE(t.tickets);
    CHECK(t.ticket_rotation == hours(1));
    CHECK_FALSE(t.session_cache);
    CHECK(t.session_cache_size == 100);
    CHECK(t.session_cache_timeout == minutes(10));
    CHECK_FALSE(t.session_resume);
    // Defaults
    auto defaults = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n");
    const TlsSettings& d = ok(defaults).services[0].tls;
    CHECK(d.tickets);
    CHECK(d.ticket_rotation == hours(12));
    CHECK(d.session_cache_size == 20480);
    CHECK(d.session_cache_timeout == minutes(5));
    const std::string hex(64, 'a');
    auto s = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nticket_key_secret = \"" +
                          hex + "\"\nticket_mac_secret = \"" + std::string(32, 'b') + "\"\n");
    CHECK(ok(s).services[0].tls.ticket_key_secret == hex);
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nticket_key_secret = \"" +
                         hex + "\"\n"),
               Contains("ticket_key_secret and ticket_mac_secret go together; ticket_mac_secret "
                        "is missing"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n"
                         "ticket_key_secret = \"xyz\"\n"),
               Contains(file + ":8: service[s].ticket_key_secret: expected 16 or 32 bytes"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nticket_key_file = \"/k\"\n"
                         "ticket_key_secret = \"" +
                         hex + "\"\nticket_mac_secret = \"" + hex + "\"\n"),
               Contains("set either ticket_key_file or ticket_key_secret"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nsession_cache_size = -1\n"),
               Contains("out of range"));
}

TEST_CASE("key table: options, security_level, renegotiation, compression", "[key_table]") {
    auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n"
                          "options = [\"NO_TICKET\", \"-NO_COMPRESSION\"]\nsecurity_level = 3\n"
                          "renegotiation = true\ncompression = true\n");
    const TlsSettings& t = ok(r).services[0].tls;
    CHECK(t.options_set == std::vector<std::string>{"NO_TICKET"});
    CHECK(t.options_clear == std::vector<std::string>{"NO_COMPRESSION"});
    CHECK(t.security_level == 3);
    CHECK(t.renegotiation);
    CHECK(t.compression);
    CHECK_THAT(joined(r.warnings), Contains("service[s].renegotiation: renegotiation = true"));
    CHECK_THAT(joined(r.warnings), Contains("service[s].compression: compression = true"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\noptions = [\"-\"]\n"),
               Contains("empty option name"));
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nsecurity_level = 6\n"),
               Contains(file + ":8: service[s].security_level: 6 is out of range 0..5"));
}

TEST_CASE("key table: service switches", "[key_table]") {
    auto r = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nproxy_header = true\n"
                          "local = \"192.0.2.5\"\nresolve_at_start = true\nreset = false\n"
                          "log_level = \"debug\"\nclose_timeout = \"0s\"\n");
    const Service& s = ok(r).services[0];
    CHECK(s.proxy_header);
    CHECK(s.local == "192.0.2.5");
    CHECK(s.resolve_at_start);
    CHECK_FALSE(s.reset);
    CHECK(s.log_level == LogLevel::debug);
    CHECK(s.close_timeout == seconds(0)); // as stunnel's TIMEOUTclose = 0
    CHECK_THAT(errors_of("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\nidle_timeout = 0\n"),
               Contains("timeout must be greater than zero"));
}

TEST_CASE("key table: daemon keys in [global]", "[key_table]") {
    auto r = load_toml_string(R"([global]
daemon = true
pid_file = "run/t.pid"
user = "tlsgate"
group = "mail"
chroot = "/var/lib/tlsgate"
log_file = "/var/log/tlsgate.log"
log_append = false
syslog_ident = "mailgate"
fips = true
)" + head + "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:1\"\nbackend = \"a:1\"\n",
                              file);
    const Global& g = ok(r).global;
    CHECK(g.daemon);
    CHECK(g.pid_file == "/srv/conf/run/t.pid");
    CHECK(g.user == "tlsgate");
    CHECK(g.group == "mail");
    CHECK(g.chroot == "/var/lib/tlsgate");
    CHECK(g.log_file == "/var/log/tlsgate.log");
    CHECK_FALSE(g.log_append);
    CHECK(g.syslog_ident == "mailgate");
    CHECK(g.fips);
    CHECK(g.where.at("fips").line == 10);
    // Defaults
    auto defaults = load_service("listen = \"127.0.0.1:1\"\nbackend = \"a:1\"\n");
    const Global& d = ok(defaults).global;
    CHECK_FALSE(d.daemon);
    CHECK_FALSE(d.pid_file);
    CHECK(d.log_append);
    CHECK(d.syslog_ident == "tlsgate");
    CHECK_FALSE(d.fips);
    auto bad = load_toml_string("[global]\nuser = \"\"\ndaemon = \"yes\"\n" + head +
                                    "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:1\"\n"
                                    "backend = \"a:1\"\n",
                                file);
    CHECK_THAT(joined(bad.errors), Contains(file + ":2: global.user: must not be empty"));
    CHECK_THAT(joined(bad.errors), Contains(file + ":3: global.daemon: expected a boolean"));
}
