#include "stunnel_test_support.hpp"
#include "support/test_certs.hpp"
#include "tlsgate/config/load.hpp"
#include "tlsgate/config/stunnel_loader.hpp"
#include "tlsgate/proxy/prepare.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <openssl/ssl.h>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace tlsgate::config;
using Catch::Contains;
using std::chrono::seconds;
using tlsgate::net::Address;

using namespace stunnel_test;

// ------------------------------------------------------------------------------------------
// The corpus: man page examples, Debian's sample, every option

TEST_CASE("stunnel corpus: man page imapd with exec", "[stunnel]") {
    auto r = load_corpus("good/man-imapd-exec.conf");
    const Config& c = ok(r.result);
    REQUIRE(c.services.size() == 1);
    const Service& s = c.services[0];
    CHECK(s.name == "imapd");
    CHECK(s.listen == tcp("0.0.0.0", 993, true));
    CHECK(s.backends.empty());
    CHECK(s.exec == "/usr/sbin/imapd");
    CHECK(s.exec_args == std::vector<std::string>{"imapd"});
    CHECK(s.tls.cert == std::vector<std::string>{"/etc/stunnel/stunnel.pem"});
    CHECK(s.tls.key == s.tls.cert); // key defaults to cert
    CHECK_FALSE(s.client);
    CHECK(s.protocol == Protocol::raw);
    CHECK(s.tls_mode == TlsMode::implicit);
    // stunnel's defaults where they are not weaker than tlsgate's
    CHECK(s.connect_timeout == seconds(10));
    CHECK(s.idle_timeout == seconds(43200));
    CHECK(s.close_timeout == seconds(60));
    CHECK(s.handshake_timeout == seconds(10));
    // tlsgate's hardened defaults where stunnel's are weaker
    CHECK_FALSE(s.tls.ciphers);
    CHECK(s.tls.min_version == 0);
    CHECK_FALSE(s.tls.renegotiation);
    CHECK(s.tls.profile == TlsProfile::bettercrypto_b);
    CHECK(s.tls.verify == VerifyMode::none);
    CHECK_FALSE(s.tls.request_cert);
    // Global: stunnel's defaults (daemon, syslog, notice, no pid file on Debian)
    CHECK(c.global.daemon);
    CHECK(c.global.log_target == LogTarget::syslog);
    CHECK(c.global.log_level == LogLevel::notice);
    CHECK_FALSE(c.global.pid_file);
    std::string notes = all_notes(r.notes);
    CHECK_THAT(notes, Contains("foreground is not set: tlsgate daemonises"));
    CHECK_THAT(notes, Contains("ciphers is not set"));
    CHECK_THAT(notes, Contains("renegotiation is not set"));
    CHECK_THAT(notes, Contains("sslVersionMin is not set"));
    CHECK_THAT(notes, Contains("TIMEOUTbusy"));
    // Locations point at the stunnel lines.
    CHECK(s.locate("listen").line == 5);
    CHECK(s.locate("exec").line == 6);
    CHECK(s.tls.locate("cert").line == 2);
    CHECK(s.tls.locate("cert").file == corpus_path("good/man-imapd-exec.conf"));
}

TEST_CASE("stunnel corpus: man page imapd in remote mode", "[stunnel]") {
    auto r = load_corpus("good/man-imapd-remote.conf");
    const Config& c = ok(r.result);
    REQUIRE(c.services.size() == 1);
    const Service& s = c.services[0];
    CHECK(s.listen == tcp("0.0.0.0", 993, true));
    // A bare connect port is localhost, as in stunnel.
    REQUIRE(s.backends.size() == 1);
    CHECK(s.backends[0] == tcp("localhost", 143, false));
    CHECK_FALSE(s.exec);
    CHECK(s.locate("backend").line == 6);
    CHECK_THAT(all_notes(r.notes), !Contains("delay is not set")); // localhost only
}

TEST_CASE("stunnel corpus: man page client mode", "[stunnel]") {
    auto r = load_corpus("good/man-imap-client.conf");
    const Config& c = ok(r.result);
    const Service& s = service(c, "imap");
    CHECK(s.client);
    CHECK(s.listen == tcp("0.0.0.0", 143, true));
    REQUIRE(s.backends.size() == 1);
    CHECK(s.backends[0] == tcp("servername", 993, false));
    CHECK(s.tls.cert.empty());
    // stunnel verifies nothing unless told to; tlsgate verifies chain and host name unless the
    // file says otherwise, and says so at start.
    CHECK(s.tls.verify == VerifyMode::peer);
    CHECK(s.tls.verify_chain);
    CHECK(s.tls.require_cert);
    CHECK_THAT(all_notes(r.notes), Contains("service[imap]: client mode verifies the server's"));
    CHECK_THAT(joined(r.result.warnings), !Contains("certificate is not checked"));
}

TEST_CASE("stunnel client mode keeps stunnel's no-verification only when asked", "[stunnel]") {
    auto r = load_stunnel_string("[c]\nclient = yes\naccept = 127.0.0.1:1\nconnect = h:993\n"
                                 "verifyChain = no\n",
                                 "t.conf");
    const Config& c = ok(r.result);
    const Service& s = service(c, "c");
    CHECK(s.tls.verify == VerifyMode::none);
    CHECK_FALSE(s.tls.verify_chain);
    CHECK_THAT(joined(r.result.warnings), Contains("service[c].verifyChain: the server's "
                                                   "certificate is not checked"));
}

TEST_CASE("stunnel corpus: man page inetd mode", "[stunnel]") {
    auto r = load_corpus("good/man-inetd.conf");
    const Config& c = ok(r.result);
    REQUIRE(c.services.size() == 1);
    const Service& s = c.services[0];
    CHECK(s.name == "inetd");
    CHECK(s.inetd);
    CHECK(s.listen == Address{});
    CHECK(s.exec == "/usr/sbin/imapd");
    CHECK(s.exec_args == std::vector<std::string>{"imapd"});
    CHECK(s.tls.cert == std::vector<std::string>{"/etc/stunnel/stunnel.pem"});
    CHECK_THAT(all_notes(r.notes), Contains("inetd mode"));
}

TEST_CASE("stunnel corpus: man page SNI", "[stunnel]") {
    auto r = load_corpus("good/man-sni.conf");
    const Config& c = ok(r.result);
    REQUIRE(c.services.size() == 3);
    const Service& v = service(c, "virtual");
    CHECK(v.listen == tcp("0.0.0.0", 443, true));
    CHECK(v.backends[0] == tcp("default.internal.mydomain.com", 8080, false));
    CHECK_FALSE(v.sni_parent);
    CHECK_THAT(all_notes(r.notes), Contains("service[virtual]: delay is not set: tlsgate "
                                            "resolves connect host names for every connection"));
    // Relative paths resolve against the file's directory, with a note.
    CHECK(v.tls.cert == std::vector<std::string>{corpus_path("good/default.pem")});
    const Service& s1 = service(c, "sni1");
    CHECK(s1.sni_parent == "virtual");
    CHECK(s1.sni_pattern == "server1.mydomain.com");
    CHECK(s1.listen == Address{});
    CHECK(s1.locate("sni_parent").line == 10);
    const Service& s2 = service(c, "sni2");
    CHECK(s2.sni_pattern == "server2.mydomain.com");
    CHECK(s2.tls.verify_peer);
    CHECK(s2.tls.require_cert);
    CHECK(s2.tls.request_cert);
    CHECK_FALSE(s2.tls.verify_chain);
    CHECK(s2.tls.verify == VerifyMode::peer);
    CHECK(s2.tls.ca_file == corpus_path("good/server2-allowed-clients.pem"));
    CHECK_THAT(all_notes(r.notes), Contains("relative paths are resolved against"));
}

TEST_CASE("stunnel corpus: mail protocols get tlsgate's STARTTLS", "[stunnel]") {
    auto r = load_corpus("good/man-mail.conf");
    const Config& c = ok(r.result);
    REQUIRE(c.services.size() == 4);
    for (const char* name : {"imap", "pop3", "smtp"}) {
        const Service& s = service(c, name);
        CHECK(s.tls_mode == TlsMode::starttls);
        CHECK_FALSE(s.client);
        CHECK(s.auth_requires_tls);
        // stunnel's STARTTLS server refuses clients that skip STARTTLS; so does tlsgate.
        CHECK(s.starttls_policy == StarttlsPolicy::encrypt);
    }
    CHECK(service(c, "imap").protocol == Protocol::imap);
    CHECK(service(c, "pop3").protocol == Protocol::pop3);
    CHECK(service(c, "smtp").protocol == Protocol::smtp);
    CHECK(service(c, "smtp").backends[0] == tcp("127.0.0.1", 1025, true));
    const Service& out = service(c, "submission-out");
    CHECK(out.client);
    CHECK(out.protocol == Protocol::smtp);
    CHECK(out.tls_mode == TlsMode::starttls);
    CHECK(out.tls.verify_chain);
    CHECK(out.tls.require_cert);
    CHECK(out.tls.verify == VerifyMode::peer);
    CHECK(out.tls.ca_path == "/etc/ssl/certs");
    CHECK(out.tls.check_host == "mail.example.org");
    CHECK_FALSE(c.global.daemon);
    CHECK(c.global.log_target == LogTarget::stderr_stream);
    std::string notes = all_notes(r.notes);
    CHECK_THAT(notes, Contains("service[imap]: protocol = imap: tlsgate answers STARTTLS itself"));
    CHECK_THAT(notes, Contains("service[smtp]: protocol = smtp"));
    CHECK_THAT(notes, !Contains("service[submission-out]: protocol"));
    CHECK_THAT(notes, !Contains("foreground is not set"));
}

TEST_CASE("stunnel corpus: include reads a directory in alphabetical order", "[stunnel]") {
    auto r = load_corpus("good/man-include.conf");
    const Config& c = ok(r.result);
    REQUIRE(c.services.size() == 2);
    CHECK(c.services[0].name == "imaps");
    CHECK(c.services[1].name == "pop3s");
    CHECK_FALSE(c.global.daemon); // from 00-global.conf
    CHECK(c.services[1].tls.cert == std::vector<std::string>{"/etc/stunnel/stunnel.pem"});
    // Locations name the included file.
    CHECK(c.services[1].locate("listen").file == corpus_path("good/include.d/02-pop3s.conf"));
    CHECK(c.services[1].locate("listen").line == 2);
}

TEST_CASE("stunnel corpus: byte order mark and CRLF line ends", "[stunnel]") {
    auto r = load_corpus("good/bom-crlf.conf");
    const Config& c = ok(r.result);
    REQUIRE(c.services.size() == 1);
    CHECK(c.services[0].listen == tcp("0.0.0.0", 993, true));
    CHECK(c.services[0].tls.cert == std::vector<std::string>{"/etc/stunnel/stunnel.pem"});
}

TEST_CASE("stunnel corpus: Debian's sample fails on OCSPaia only", "[stunnel]") {
    auto r = load_corpus("debian-sample.conf");
    const std::string path = corpus_path("debian-sample.conf");
    REQUIRE_FALSE(r.result.config);
    REQUIRE(r.result.partial);
    std::string errors = joined(r.result.errors);
    const std::string ocsp = "OCSPaia is not supported by tlsgate: OCSP checks of the peer "
                             "certificate are not implemented; check revocation with CRLfile or "
                             "CRLpath (kept fresh by a cron job), or remove the line: the chain "
                             "and name checks (verifyChain, checkHost) still apply\n";
    CHECK(errors == path + ":69: service[gmail-pop3].OCSPaia: " + ocsp + path +
                        ":78: service[gmail-imap].OCSPaia: " + ocsp + path +
                        ":87: service[gmail-smtp].OCSPaia: " + ocsp);
    // Everything else maps: three verified client services.
    const Config& c = *r.result.partial;
    REQUIRE(c.services.size() == 3);
    const Service& s = service(c, "gmail-imap");
    CHECK(s.client);
    CHECK(s.listen == tcp("127.0.0.1", 143, true));
    CHECK(s.backends[0] == tcp("imap.gmail.com", 993, false));
    CHECK(s.tls.verify_chain);
    CHECK(s.tls.ca_path == "/etc/ssl/certs");
    CHECK(s.tls.check_host == "imap.gmail.com");
}

TEST_CASE("stunnel corpus: every supported option", "[stunnel]") {
    auto r = load_corpus("good/every-option.conf");
    const Config& c = ok(r.result);
    const Global& g = c.global;
    CHECK(g.chroot == "/var/lib/stunnel4");
    CHECK(g.log_level == LogLevel::info);
    CHECK_FALSE(g.fips);
    CHECK_FALSE(g.daemon);
    CHECK(g.log_target == LogTarget::stderr_stream);
    CHECK_FALSE(g.log_append);
    CHECK(g.log_file == "/var/log/stunnel4/stunnel.log");
    // With chroot, pid names a file inside the jail (as stunnel writes it).
    CHECK(g.pid_file == "/var/lib/stunnel4/run/stunnel4/stunnel.pid");
    CHECK(g.syslog_ident == "mailgate");
    CHECK(g.user == "stunnel4");
    CHECK(g.group == "stunnel4");
    CHECK(g.where.at("user").line == 15);

    // Ignored options and compression are warnings, one each.
    std::string warnings = joined(r.result.warnings);
    for (const char* name : {"taskbar", "iconActive", "iconError", "iconIdle", "EGD", "RNDbytes",
                             "RNDfile", "RNDoverwrite", "stack"}) {
        CHECK_THAT(warnings, Contains(fmt::format("global.{}: {} has no meaning", name, name)));
    }
    CHECK_THAT(warnings, Contains("global.engine: engine = auto is what tlsgate does anyway"));
    CHECK_THAT(warnings, Contains(":6: global.compression: compression turns on TLS compression"));

    REQUIRE(c.services.size() == 5);
    const Service& imap = service(c, "imap");
    CHECK(imap.listen == tcp("::", 143, true));
    CHECK(imap.backends ==
          std::vector<Address>{tcp("127.0.0.1", 1143, true), tcp("127.0.0.1", 1144, true)});
    CHECK(imap.failover == Failover::rr);
    CHECK(imap.protocol == Protocol::imap);
    CHECK(imap.tls_mode == TlsMode::starttls);
    CHECK(imap.tls.cert == std::vector<std::string>{"/etc/stunnel/mail.pem"});
    CHECK(imap.tls.key == std::vector<std::string>{"/etc/stunnel/mail.key"});
    CHECK(imap.tls.ca_file == "/etc/stunnel/clients.pem");
    CHECK(imap.tls.ca_path == "/etc/stunnel/clients.d");
    CHECK(imap.tls.crl_file == "/etc/stunnel/crl.pem");
    CHECK(imap.tls.crl_path == "/etc/stunnel/crl.d");
    // verify = 2: request, require, verify the chain
    CHECK(imap.tls.request_cert);
    CHECK(imap.tls.require_cert);
    CHECK(imap.tls.verify_chain);
    CHECK_FALSE(imap.tls.verify_peer);
    CHECK(imap.tls.check_email == "admin@example.org");
    CHECK(imap.tls.ciphers == "ECDHE+AESGCM");
    CHECK(imap.tls.ciphersuites == "TLS_AES_256_GCM_SHA384");
    CHECK(imap.tls.groups == "X25519:P-256");
    // Global NO_TICKET, cleared by the section; names are case-insensitive.
    CHECK(imap.tls.options_set == std::vector<std::string>{"CIPHER_SERVER_PREFERENCE"});
    CHECK(imap.tls.options_clear == std::vector<std::string>{"NO_TICKET"});
    CHECK(imap.tls.security_level == 3);
    CHECK(imap.tls.min_version == TLS1_2_VERSION);
    CHECK(imap.tls.max_version == TLS1_3_VERSION);
    CHECK_FALSE(imap.tls.renegotiation);
    CHECK(imap.tls.compression);
    CHECK(imap.tls.session_cache_size == 5000);
    CHECK(imap.tls.session_cache_timeout == seconds(600));
    CHECK(imap.tls.ticket_key_secret == "00112233445566778899aabbccddeeff");
    CHECK(imap.tls.ticket_mac_secret == "ffeeddccbbaa99887766554433221100");
    REQUIRE(imap.socket_options.size() == 2);
    CHECK(imap.socket_options[0].side == 'l');
    CHECK(imap.socket_options[0].name == "TCP_NODELAY");
    CHECK(imap.socket_options[0].value == "1");
    CHECK(imap.socket_options[1].side == 'a');
    CHECK(imap.socket_options[1].name == "SO_REUSEADDR");
    CHECK(imap.socket_options[1].value == "yes");
    CHECK(imap.handshake_timeout == seconds(20));
    CHECK(imap.connect_timeout == seconds(5));
    CHECK(imap.idle_timeout == seconds(1800));
    CHECK(imap.close_timeout == seconds(0));
    CHECK_FALSE(imap.resolve_at_start);
    CHECK(imap.local == "127.0.0.1");
    CHECK_FALSE(imap.reset);
    CHECK(imap.log_level == LogLevel::debug);
    CHECK(imap.tls.locate("ticket_key_secret").line == 60);

    const Service& pop = service(c, "pop3-out");
    CHECK(pop.client);
    CHECK(pop.protocol == Protocol::pop3);
    CHECK(pop.tls_mode == TlsMode::starttls);
    CHECK(pop.tls.cert == std::vector<std::string>{corpus_path("good/client.pem")});
    CHECK(pop.tls.key == pop.tls.cert);
    CHECK(pop.tls.verify_chain);
    CHECK_FALSE(pop.tls.verify_peer);
    CHECK(pop.tls.require_cert);
    CHECK(pop.tls.verify == VerifyMode::peer);
    CHECK(pop.tls.check_host == "pop.example.org");
    CHECK(pop.tls.check_ip == "192.0.2.7");
    CHECK(pop.tls.sni == "pop.example.org");
    CHECK_FALSE(pop.tls.session_resume);
    CHECK(pop.tls.min_version == TLS1_3_VERSION);
    CHECK(pop.tls.max_version == TLS1_3_VERSION);
    CHECK(pop.resolve_at_start);
    CHECK(pop.tls.options_set == std::vector<std::string>{"NO_TICKET"}); // the global default
    CHECK_FALSE(pop.log_level);

    const Service& ex = service(c, "smtp-exec");
    CHECK(ex.exec == "/usr/sbin/smtpd");
    CHECK(ex.exec_args == std::vector<std::string>{"smtpd", "-i", "-v"});
    CHECK(ex.retry);
    CHECK(ex.backends.empty());
    CHECK(ex.protocol == Protocol::smtp);

    const Service& front = service(c, "front");
    CHECK(front.proxy_header);
    CHECK(front.protocol == Protocol::raw);
    const Service& child = service(c, "front-example");
    CHECK(child.sni_parent == "front");
    CHECK(child.sni_pattern == "*.example.org");
    CHECK(child.tls.verify_peer);
    CHECK(child.tls.ca_file == "/etc/stunnel/allowed-clients.pem");

    // Everything explicit: no hardened-default notes.
    std::string notes = all_notes(r.notes);
    CHECK_THAT(notes, !Contains("foreground is not set"));
}

TEST_CASE("stunnel corpus: bad files fail at the expected line", "[stunnel]") {
    for (const auto& entry : std::filesystem::directory_iterator(corpus + "/bad")) {
        const std::string path = std::filesystem::path(entry.path()).lexically_normal().string();
        std::ifstream in(path);
        std::string first;
        std::getline(in, first);
        const std::string marker = "; expect: ";
        REQUIRE(first.starts_with(marker));
        std::string expected = first.substr(marker.size());
        // ":LINE: ..." is relative to this file; "bad/x.conf:LINE: ..." names it.
        expected = expected.starts_with(":") ? path + expected : corpus_path(expected);
        auto r = load_stunnel_file(path);
        INFO(path);
        CHECK_FALSE(r.result.config);
        CHECK_THAT(joined(r.result.errors), Contains(expected));
    }
}

// ------------------------------------------------------------------------------------------
// Details

TEST_CASE("stunnel: verify levels map as stunnel documents", "[stunnel]") {
    struct Row {
        int level;
        bool request, require, chain, peer;
    };
    for (Row row : {Row{0, true, false, false, false}, Row{1, true, false, true, false},
                    Row{2, true, true, true, false}, Row{3, true, true, true, true},
                    Row{4, true, true, false, true}}) {
        auto r = load(head + fmt::format("[s]\naccept = 1\nconnect = 2\nverify = {}\n", row.level));
        const Config& c = ok(r.result);
        INFO("verify = " << row.level);
        const TlsSettings& t = c.services[0].tls;
        CHECK(t.request_cert == row.request);
        CHECK(t.require_cert == row.require);
        CHECK(t.verify_chain == row.chain);
        CHECK(t.verify_peer == row.peer);
        CHECK(t.verify == (row.chain || row.peer ? VerifyMode::peer : VerifyMode::none));
        CHECK(t.locate("verify_chain").line == 6);
    }
}

TEST_CASE("stunnel: verifyChain implies requireCert; requireCert = no after it clears",
          "[stunnel]") {
    auto r = load(head + "[s]\naccept = 1\nconnect = 2\nverifyChain = yes\nrequireCert = no\n");
    const TlsSettings& t = ok(r.result).services[0].tls;
    CHECK(t.verify_chain);
    CHECK(t.request_cert);
    CHECK_FALSE(t.require_cert);
}

TEST_CASE("stunnel: option names are case-insensitive, values trimmed", "[stunnel]") {
    auto r = load("FOREGROUND = yes\nCert=/c.pem\n[s]\n  ACCEPT   =   127.0.0.1:1  \nConnect=2\n"
                  "timeoutidle = 5\n");
    const Service& s = ok(r.result).services[0];
    CHECK(s.listen == tcp("127.0.0.1", 1, true));
    CHECK(s.idle_timeout == seconds(5));
}

TEST_CASE("stunnel: accept and connect address forms", "[stunnel]") {
    auto r = load(head + "[a]\naccept = :::993\nconnect = /run/imapd.sock\n"
                         "[b]\naccept = [::1]:994\nconnect = mail.example.org:143\n"
                         "connect = 10.0.0.2:143\n");
    const Config& c = ok(r.result);
    CHECK(service(c, "a").listen == tcp("::", 993, true));
    Address unix_socket;
    unix_socket.kind = Address::Kind::unix_socket;
    unix_socket.path = "/run/imapd.sock";
    CHECK(service(c, "a").backends == std::vector<Address>{unix_socket});
    CHECK(service(c, "b").listen == tcp("::1", 994, true));
    CHECK(service(c, "b").backends ==
          std::vector<Address>{tcp("mail.example.org", 143, false), tcp("10.0.0.2", 143, true)});
}

TEST_CASE("stunnel: global service options are defaults, sections override", "[stunnel]") {
    auto r = load(head + "ciphers = ECDHE+AESGCM\nconnect = 143\n"
                         "[a]\naccept = 1\n"
                         "[b]\naccept = 2\nciphers = ECDHE+CHACHA20\nconnect = 144\n"
                         "connect = 145\n");
    const Config& c = ok(r.result);
    CHECK(service(c, "a").tls.ciphers == "ECDHE+AESGCM");
    CHECK(service(c, "a").tls.locate("ciphers").line == 3);
    CHECK(service(c, "a").backends == std::vector<Address>{tcp("localhost", 143, false)});
    CHECK(service(c, "b").tls.ciphers == "ECDHE+CHACHA20");
    // The section's own connect lines replace the inherited ones.
    CHECK(service(c, "b").backends ==
          std::vector<Address>{tcp("localhost", 144, false), tcp("localhost", 145, false)});
    CHECK(service(c, "b").locate("backend").line == 10);
}

TEST_CASE("stunnel: explicit weak settings are honoured, with no hardened-default note",
          "[stunnel]") {
    auto r = load(head + "ciphers = HIGH:!aNULL\nrenegotiation = yes\nsslVersionMin = TLSv1\n"
                         "[s]\naccept = 1\nconnect = 2\n");
    const Config& c = ok(r.result);
    const TlsSettings& t = c.services[0].tls;
    CHECK(t.ciphers == "HIGH:!aNULL");
    CHECK(t.renegotiation);
    CHECK(t.min_version == TLS1_VERSION);
    std::string notes = all_notes(r.notes);
    CHECK_THAT(notes, !Contains("ciphers is not set"));
    CHECK_THAT(notes, !Contains("renegotiation is not set"));
    CHECK_THAT(notes, !Contains("sslVersionMin is not set"));
    CHECK_THAT(joined(r.result.warnings), Contains("renegotiation = yes lets clients"));
}

TEST_CASE("stunnel: foreground, syslog, pid, debug", "[stunnel]") {
    SECTION("foreground = quiet daemonises not, logs to syslog") {
        auto r = load("foreground = quiet\ncert = /c.pem\n[s]\naccept = 1\nconnect = 2\n");
        const Global& g = ok(r.result).global;
        CHECK_FALSE(g.daemon);
        CHECK(g.log_target == LogTarget::syslog);
    }
    SECTION("foreground = no, syslog = no") {
        auto r =
            load("foreground = no\nsyslog = no\ncert = /c.pem\n[s]\naccept = 1\nconnect = 2\n");
        const Global& g = ok(r.result).global;
        CHECK(g.daemon);
        CHECK(g.log_target == LogTarget::stderr_stream);
    }
    SECTION("an empty pid disables the pid file") {
        auto r = load(head + "pid =\n[s]\naccept = 1\nconnect = 2\n");
        CHECK_FALSE(ok(r.result).global.pid_file);
    }
    SECTION("debug levels by number and name, with a facility") {
        for (auto [text, level] :
             {std::pair{"7", LogLevel::debug}, std::pair{"info", LogLevel::info},
              std::pair{"5", LogLevel::notice}, std::pair{"daemon.warning", LogLevel::warning},
              std::pair{"3", LogLevel::error}, std::pair{"emerg", LogLevel::error}}) {
            auto r = load(head + fmt::format("debug = {}\n[s]\naccept = 1\nconnect = 2\n", text));
            CHECK(ok(r.result).global.log_level == level);
        }
        auto r = load(head + "debug = local0.info\n[s]\naccept = 1\nconnect = 2\n");
        CHECK_THAT(all_notes(r.notes), Contains("facility \"local0\""));
        CHECK_THAT(errors_of(head + "debug = loud\n[s]\naccept = 1\nconnect = 2\n"),
                   Contains(file + ":3: global.debug: invalid level \"loud\""));
    }
}

TEST_CASE("stunnel: errors name file, line and option", "[stunnel]") {
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nfailover = random\n"),
               Contains(file + ":6: service[s].failover: expected rr or prio, got \"random\""));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nTIMEOUTidle = 0\n"),
               Contains(file + ":6: service[s].TIMEOUTidle: 0 is out of range"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nticketKeySecret = abc\n"),
               Contains(file + ":6: service[s].ticketKeySecret: expected 16 or 32 bytes"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nticketKeySecret = " +
                         std::string(32, 'a') + "\n"),
               Contains("service[s].ticketMacSecret: ticketKeySecret and ticketMacSecret go "
                        "together"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\ncheckHost = a\ncheckHost = b\n"),
               Contains(file + ":7: service[s].checkHost: tlsgate takes one checkHost per "
                               "service (the first is at line 6)"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nsslVersionMin = TLSv1.3\n"
                                "sslVersionMax = TLSv1.2\n"),
               Contains(file + ":6: service[s].sslVersionMin: sslVersionMin is greater"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nexec = /bin/cat\n"),
               Contains(file + ":6: service[s].exec: exec with connect"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nsni = nocolon\n"),
               Contains(file + ":6: service[s].sni: expected SERVICE:SERVER_NAME_PATTERN"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\n[s]\naccept = 3\nconnect = 4\n"),
               Contains(file + ":6: service[s]: duplicate section [s] (first at " + file + ":3)"));
    CHECK_THAT(errors_of(head + "[[s]]\n"), Contains(file + ":3: invalid section header"));
    CHECK_THAT(errors_of(head + "accept = 1\nconnect = 2\n"),
               Contains(file + ":3: service[inetd].accept: inetd mode (no [section])"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nsocket = l:TCP_NODELAY=maybe\n"),
               Contains(file + ":6: service[s].socket:"));
    CHECK_THAT(errors_of(head + "[s]\naccept = 1\nconnect = 2\nsni = \nclient = yes\n"),
               Contains(file + ":6: service[s].sni: an empty sni"));
    // An unsupported feature switched off is what tlsgate does anyway.
    auto r = load(head + "[s]\naccept = 1\nconnect = 2\nlibwrap = no\nOCSPaia = no\n");
    ok(r.result);
    CHECK_THAT(joined(r.result.warnings), Contains("libwrap = no is what tlsgate does anyway"));
}

TEST_CASE("stunnel: the format is sniffed from the syntax, not the name", "[stunnel]") {
    CHECK(sniff_format("[[service]]\nname = \"x\"\n") == ConfigFormat::toml);
    CHECK(sniff_format("[global]\nworkers = 2\n[tls]\ncert = \"/c.pem\"\n") == ConfigFormat::toml);
    CHECK(sniff_format("# tlsgate\n[global]\ndaemon = true\n") == ConfigFormat::toml);
    CHECK(sniff_format("[imaps]\naccept = 993\nconnect = 143\ncert = /c.pem\n") ==
          ConfigFormat::stunnel);
    CHECK(sniff_format("; stunnel\nexec = /usr/sbin/imapd\n") == ConfigFormat::stunnel);
    CHECK(sniff_format("\xEF\xBB\xBF[imaps]\r\nclient = yes\r\n") == ConfigFormat::stunnel);
    CHECK(sniff_format("pid =\n") == ConfigFormat::stunnel);
    // Only numbers as values: the section name tells ([global] and [tls] are TOML's).
    CHECK(sniff_format("[imaps]\naccept = 993\nconnect = 143\n") == ConfigFormat::stunnel);
    // A TOML file named .conf and a stunnel file named .toml go where their syntax says.
    auto toml =
        load_config_string("[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n[[service]]\n"
                           "name = \"a\"\nlisten = \"127.0.0.1:1\"\nbackend = \"127.0.0.1:2\"\n",
                           "/x/stunnel.conf");
    CHECK(toml.format == ConfigFormat::toml);
    CHECK(toml.result.errors.empty());
    auto st = load_config_string(head + "[a]\naccept = 1\nconnect = 2\n", "/x/tlsgate.toml");
    CHECK(st.format == ConfigFormat::stunnel);
    CHECK(st.result.errors.empty());
}

TEST_CASE("stunnel: -fd reads the config from a descriptor", "[stunnel]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const std::string text = head + "[a]\naccept = 1\nconnect = 2\n";
    REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fds[1]);
    auto r = load_config_fd(fds[0]);
    ::close(fds[0]);
    CHECK(r.format == ConfigFormat::stunnel);
    const Config& c = ok(r.result);
    CHECK(c.services[0].locate("listen").file == fmt::format("fd:{}", fds[0]));
}

TEST_CASE("stunnel: certificate errors found later point at the stunnel line", "[stunnel]") {
    const auto& pki = tlsgate::test::test_pki();
    std::string pem;
    for (const auto& p : {pki.chain_cert, pki.leaf_key}) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        pem += ss.str();
    }
    // One PEM with chain and key, as stunnel users keep it (key defaults to cert).
    const std::string both = tlsgate::test::write_temp_file("stunnel-both.pem", pem);
    auto good = load(fmt::format("foreground = yes\n[a]\naccept = 127.0.0.1:0\nconnect = 2\n"
                                 "cert = {}\n",
                                 both));
    auto prepared = tlsgate::proxy::prepare_services(ok(good.result));
    CHECK(joined(prepared.errors).empty());

    auto bad = load("foreground = yes\n[a]\naccept = 127.0.0.1:0\nconnect = 2\n"
                    "cert = /nonexistent/stunnel.pem\n");
    auto failed = tlsgate::proxy::prepare_services(ok(bad.result));
    CHECK_THAT(joined(failed.errors), Contains(file + ":5: service[a].cert:"));
}

TEST_CASE("stunnel.conf lines that are not UTF-8 are named, not carried into the model",
          "[stunnel]") {
    auto r = load_stunnel_string("[a]\naccept = 1\nconnect = 2\ncert = /etc/caf\xE9.pem\n"
                                 "sni = \xED\xA0\x80x\n",
                                 "t.conf");
    CHECK_FALSE(r.result.config);
    const std::string errors = joined(r.result.errors);
    CHECK_THAT(errors, Contains("t.conf:4: this line is not valid UTF-8"));
    CHECK_THAT(errors, Contains("t.conf:5: this line is not valid UTF-8")); // a surrogate
    using namespace std::string_literals;
    auto nul =
        load_stunnel_string("[a]\naccept = 1\nconnect = 2\ncert = /etc/a\0b.pem\n"s, "t.conf");
    CHECK_THAT(joined(nul.result.errors), Contains("t.conf:4: this line contains a NUL byte"));
}
