// stunnel.conf option names and values as stunnel's src/options.c reads them, the options
// tlsgate maps differently (curve, sessionResume, pid with chroot, several accept lines), and
// the advice for each option it does not implement.
#include "stunnel_test_support.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

using namespace stunnel_test;
using Catch::Contains;
using std::chrono::seconds;

TEST_CASE("stunnel: option values match as stunnel's options.c compares them", "[stunnel]") {
    SECTION("options: names case-insensitive, stored in OpenSSL's spelling") {
        // "NO_SSLv3" is how stunnel's manual and Debian's sample write it.
        auto r = load(head + "[s]\naccept = 1\nconnect = 2\noptions = NO_SSLv3\n"
                             "options = no_tlsv1\noptions = -No_Ticket\n"
                             "options = CIPHER_SERVER_PREFERENCE\n");
        const TlsSettings& t = ok(r.result).services[0].tls;
        CHECK(t.options_set ==
              std::vector<std::string>{"NO_SSLv3", "NO_TLSv1", "CIPHER_SERVER_PREFERENCE"});
        CHECK(t.options_clear == std::vector<std::string>{"NO_TICKET"});
    }
    SECTION("options: the minus sign is followed by the name, nothing between") {
        CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\noptions = - NO_TICKET\n"),
                   Contains(file + ":6: service[s].options: unknown option \" NO_TICKET\""));
    }
    SECTION("yes/no, failover, protocol, sslVersion: case-insensitive") {
        auto r = load(head + "[s]\naccept = 1\nconnect = 2\nclient = YES\ndelay = No\n"
                             "failover = RR\nprotocol = IMAP\nsslVersionMin = tlsv1.2\n"
                             "verifyChain = NO\n");
        const Service& s = ok(r.result).services[0];
        CHECK(s.client);
        CHECK(s.failover == Failover::rr);
        CHECK(s.protocol == Protocol::imap);
        CHECK(s.tls.min_version == TLS1_2_VERSION);
    }
    SECTION("sslVersion names are stunnel's: TLSv1, not TLSv1.0") {
        CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nsslVersionMin = TLSv1.0\n"),
                   Contains(file + ":6: service[s].sslVersionMin: invalid version \"TLSv1.0\""));
    }
    SECTION("debug: one digit 0..7 or a syslog level name; a facility only globally") {
        CHECK_THAT(errors_of(head + "debug = 07\n[s]\naccept = 1\nconnect = 2\n"),
                   Contains(file + ":3: global.debug: invalid level \"07\""));
        CHECK_THAT(errors_of(head + "debug = warn\n[s]\naccept = 1\nconnect = 2\n"),
                   Contains(file + ":3: global.debug: invalid level \"warn\""));
        CHECK_THAT(errors_of(head + "debug = kernel.info\n[s]\naccept = 1\nconnect = 2\n"),
                   Contains(file + ":3: global.debug: unknown syslog facility \"kernel\""));
        CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\ndebug = daemon.info\n"),
                   Contains(file + ":6: service[s].debug: a syslog facility can only be set "
                                   "in the global section"));
        auto r = load(head + "debug = LOCAL0.Info\n[s]\naccept = 1\nconnect = 2\nDEBUG = Notice\n");
        const Config& c = ok(r.result);
        CHECK(c.global.log_level == LogLevel::info);
        CHECK(c.services[0].log_level == LogLevel::notice);
    }
}

TEST_CASE("stunnel: curve is the older name of curves", "[stunnel]") {
    auto r = load(head + "[s]\naccept = 1\nconnect = 2\ncurve = prime256v1\n");
    const TlsSettings& t = ok(r.result).services[0].tls;
    CHECK(t.groups == "prime256v1");
    CHECK(t.locate("groups").line == 6);
}

TEST_CASE("stunnel: sessionResume = no turns off tickets and the session cache", "[stunnel]") {
    auto r = load(head + "[s]\naccept = 1\nconnect = 2\nsessionResume = no\n"
                         "[t]\naccept = 3\nconnect = 4\n");
    const Config& c = ok(r.result);
    const TlsSettings& off = service(c, "s").tls;
    CHECK_FALSE(off.session_resume);
    CHECK_FALSE(off.tickets);
    CHECK_FALSE(off.session_cache);
    CHECK(off.locate("tickets").line == 6);
    const TlsSettings& on = service(c, "t").tls;
    CHECK(on.session_resume);
    CHECK(on.tickets);
    CHECK(on.session_cache);
}

TEST_CASE("stunnel: pid is inside the chroot, as stunnel writes it", "[stunnel]") {
    SECTION("Debian's layout, pid before chroot") {
        auto r = load(head + "pid = /stunnel4.pid\nchroot = /var/lib/stunnel4/\n[s]\n"
                             "accept = 1\nconnect = 2\n");
        const Global& g = ok(r.result).global;
        CHECK(g.pid_file == "/var/lib/stunnel4/stunnel4.pid");
        CHECK(g.where.at("pid_file").line == 3);
        CHECK_THAT(all_notes(r.notes), Contains("/var/lib/stunnel4/stunnel4.pid"));
    }
    SECTION("a relative pid is relative to the jail's root too") {
        auto r = load(head + "chroot = /jail\npid = run/s.pid\n[s]\naccept = 1\nconnect = 2\n");
        CHECK(ok(r.result).global.pid_file == "/jail/run/s.pid");
    }
    SECTION("without chroot the pid path is the host's") {
        auto r = load(head + "pid = /run/s.pid\n[s]\naccept = 1\nconnect = 2\n");
        CHECK(ok(r.result).global.pid_file == "/run/s.pid");
    }
}

// Every option name in stunnel 5.75's src/options.c (the Unix build).
// clang-format off
const char* const stunnel_option_names[] = {
    "chroot", "compression", "EGD", "engine", "engineCtrl", "engineDefault", "fips", "foreground",
    "iconActive", "iconError", "iconIdle", "log", "output", "pid", "provider", "providerParameter",
    "RNDbytes", "RNDfile", "RNDoverwrite", "setEnv", "syslog", "taskbar", "accept", "CAengine",
    "CApath", "CAfile", "CAstore", "cert", "checkEmail", "checkHost", "checkIP", "ciphers",
    "ciphersuites", "client", "config", "connect", "CRLpath", "CRLfile", "curve", "curves",
    "debug", "delay", "engineId", "engineNum", "exec", "execArgs", "failover", "ident", "key",
    "libwrap", "local", "logId", "OCSP", "OCSPaia", "OCSPflag", "OCSPnonce", "OCSPrequire",
    "options", "protocol", "protocolAuthentication", "protocolDomain", "protocolHeader",
    "protocolHost", "protocolPassword", "protocolUsername", "PSKidentity", "PSKsecrets", "pty",
    "redirect", "renegotiation", "requireCert", "reset", "retry", "securityLevel", "service",
    "setgid", "setuid", "sessionCacheSize", "session", "sessionCacheTimeout", "sessionResume",
    "sessiond", "sni", "socket", "sslVersion", "sslVersionMax", "sslVersionMin", "stack",
    "ticketKeySecret", "ticketMacSecret", "TIMEOUTbusy", "TIMEOUTclose", "TIMEOUTconnect",
    "TIMEOUTidle", "TIMEOUTocsp", "transparent", "verify", "verifyChain", "verifyPeer",
};
// clang-format on

TEST_CASE("stunnel: every stunnel option is known; each unsupported one says what to do",
          "[stunnel]") {
    for (const char* name : stunnel_option_names) {
        INFO(name);
        for (const std::string& where : {std::string("global"), std::string("section")}) {
            std::string text =
                where == "global"
                    ? head + fmt::format("{} = x\n[s]\naccept = 1\nconnect = 2\n", name)
                    : head + fmt::format("[s]\naccept = 1\nconnect = 2\n{} = x\n", name);
            auto r = load(text);
            std::string all = joined(r.result.errors) + joined(r.result.warnings);
            CHECK_THAT(all, !Contains(fmt::format("unknown option \"{}\"", name)));
            // "NAME is not supported by tlsgate" alone does not help: advice follows.
            CHECK_THAT(all, !Contains(fmt::format("{} is not supported by tlsgate\n", name)));
        }
    }
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nOCSPaia = yes\n"),
               Contains(file + ":6: service[s].OCSPaia: OCSPaia is not supported by tlsgate: "));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nengineId = pkcs11\n"),
               Contains("key = "));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nlibwrap = yes\n"),
               Contains("firewall"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nsessiond = 10.0.0.1:1\n"),
               Contains("ticketKeySecret"));
    // stunnel's "session" is the older name of sessionCacheTimeout.
    auto r = load(head + "[s]\naccept = 1\nconnect = 2\nsession = 600\n");
    CHECK(ok(r.result).services[0].tls.session_cache_timeout == seconds(600));
    // engine = auto only turns on hardware acceleration, which OpenSSL 3 uses by itself.
    auto e = load(head + "engine = auto\n[s]\naccept = 1\nconnect = 2\n");
    ok(e.result);
    CHECK_THAT(errors_of(head + "engine = pkcs11\n[s]\naccept = 1\nconnect = 2\n"),
               Contains(file + ":3: global.engine: engine is not supported by tlsgate: "));
}

TEST_CASE("stunnel: each protocol tlsgate does not speak says what to do instead", "[stunnel]") {
    for (const char* protocol :
         {"cifs", "capwin", "capwinctrl", "connect", "ldap", "nntp", "pgsql", "socks"}) {
        INFO(protocol);
        std::string errors = errors_of(
            head + fmt::format("[s]\naccept = 1\nconnect = 2\nprotocol = {}\n", protocol));
        CHECK_THAT(errors, Contains(fmt::format(
                               "service[s].protocol: protocol \"{}\" is not supported by tlsgate",
                               protocol)));
        CHECK_THAT(errors, Contains("(supported: imap, pop3, smtp, proxy): "));
    }
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nprotocol = ldap\n"),
               Contains("636"));
    // A SOCKS server has no connect line: the protocol error is the only one.
    CHECK(errors_of(head + "[s]\naccept = 1\nprotocol = socks\n") ==
          file + ":5: service[s].protocol: protocol \"socks\" is not supported by tlsgate "
                 "(supported: imap, pop3, smtp, proxy): no SOCKS server; run a SOCKS server (e.g. "
                 "dante-server) behind a plain section\n");
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nprotocol = bogus\n"),
               Contains("protocol \"bogus\" is not a stunnel protocol"));
}

TEST_CASE("stunnel: several accept lines in a section bind them all", "[stunnel]") {
    SECTION("one service per accept: NAME, NAME.2, ...") {
        auto r = load(head + "[imaps]\naccept = 127.0.0.1:993\naccept = :::993\nconnect = 143\n"
                             "accept = 10.0.0.1:993\n");
        const Config& c = ok(r.result);
        REQUIRE(c.services.size() == 3);
        const Service& first = service(c, "imaps");
        CHECK(first.listen == tcp("127.0.0.1", 993, true));
        CHECK(first.locate("listen").line == 4);
        const Service& second = service(c, "imaps.2");
        CHECK(second.listen == tcp("::", 993, true));
        CHECK(second.locate("listen").line == 5);
        CHECK(second.backends == first.backends);
        CHECK(second.tls.cert == first.tls.cert);
        CHECK(service(c, "imaps.3").listen == tcp("10.0.0.1", 993, true));
        CHECK_THAT(all_notes(r.notes),
                   Contains("service[imaps]: 3 accept lines: tlsgate runs one service per accept "
                            "(imaps, imaps.2, imaps.3)"));
    }
    SECTION("SNI services follow their parent onto every accept") {
        auto r = load(head + "[web]\naccept = 1\naccept = 2\nconnect = 3\n"
                             "[one]\nsni = web:one.example\nconnect = 4\n");
        const Config& c = ok(r.result);
        REQUIRE(c.services.size() == 4);
        CHECK(service(c, "one").sni_parent == "web");
        CHECK(service(c, "one.2").sni_parent == "web.2");
        CHECK(service(c, "one.2").sni_pattern == "one.example");
    }
    SECTION("a generated name that is also a section is refused") {
        CHECK_THAT(errors_of(head + "[s]\naccept = 1\naccept = 2\nconnect = 3\n"
                                    "[s.2]\naccept = 4\nconnect = 5\n"),
                   Contains(file + ":5: service[s].accept: the second accept runs as service "
                                   "\"s.2\", which is also a section name; rename that section"));
    }
    SECTION("the same address twice is a clash") {
        CHECK_THAT(errors_of(head + "[s]\naccept = 1\naccept = 0.0.0.0:1\nconnect = 3\n"),
                   Contains("service[s.2]"));
    }
}
