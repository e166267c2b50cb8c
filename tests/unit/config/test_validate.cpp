// The checks on the model that both front ends share (src/config/validate.cpp), each reported
// with the spelling of the format the file was written in.
#include "config_test_util.hpp"
#include "tlsgate/config/stunnel_loader.hpp"
#include "tlsgate/config/toml_loader.hpp"
#include "tlsgate/config/validate.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace tlsgate::config;
using Catch::Contains;

using tlsgate::test::joined;

namespace {

std::string stunnel_errors(const std::string& text) {
    auto r = load_stunnel_string(text, "/t/s.conf");
    CHECK_FALSE(r.result.config);
    return joined(r.result.errors);
}

std::string toml_errors(const std::string& text) {
    auto r = load_toml_string(text, "/t/t.toml");
    CHECK_FALSE(r.config);
    return joined(r.errors);
}

const std::string stunnel_head = "foreground = yes\ncert = /c.pem\n";         // lines 1-2
const std::string toml_head = "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n"; // lines 1-3

} // namespace

TEST_CASE("validate: two stunnel services on one accept are refused", "[validate]") {
    CHECK_THAT(stunnel_errors(stunnel_head + "[a]\naccept = 993\nconnect = 143\n"
                                             "[b]\naccept = 993\nconnect = 144\n"),
               Contains("/t/s.conf:7: service[b].accept: accept address 0.0.0.0:993 clashes "
                        "with 0.0.0.0:993 of service \"a\" (line 4)"));
    // A wildcard and a specific address of the same family clash; IPv4 and IPv6 do not.
    CHECK_THAT(stunnel_errors(stunnel_head + "[a]\naccept = 127.0.0.1:993\nconnect = 143\n"
                                             "[b]\naccept = 993\nconnect = 144\n"),
               Contains("service[b].accept: accept address 0.0.0.0:993 clashes"));
    auto apart = load_stunnel_string(stunnel_head + "[a]\naccept = 993\nconnect = 143\n"
                                                    "[b]\naccept = :::993\nconnect = 144\n",
                                     "/t/s.conf");
    CHECK(joined(apart.result.errors).empty());
}

TEST_CASE("validate: two TOML services on one listen are refused", "[validate]") {
    CHECK_THAT(toml_errors(toml_head + "[[service]]\nname = \"a\"\nlisten = \"0.0.0.0:993\"\n"
                                       "backend = \"127.0.0.1:143\"\n"
                                       "[[service]]\nname = \"b\"\nlisten = \"0.0.0.0:993\"\n"
                                       "backend = \"127.0.0.1:144\"\n"),
               Contains("/t/t.toml:10: service[b].listen: listen address 0.0.0.0:993 clashes "
                        "with 0.0.0.0:993 of service \"a\" (line 6)"));
}

TEST_CASE("validate: socket options are checked at load in both formats", "[validate]") {
    CHECK_THAT(toml_errors(toml_head + "[[service]]\nname = \"s\"\nlisten = \"0.0.0.0:993\"\n"
                                       "backend = \"127.0.0.1:143\"\n"
                                       "socket_options = [\"l:SO_FROB=1\"]\n"),
               Contains("/t/t.toml:8: service[s].socket_options: unknown socket option "
                        "\"SO_FROB\" (tlsgate -sockets lists the names)"));
    CHECK_THAT(toml_errors(toml_head + "[[service]]\nname = \"s\"\nlisten = \"0.0.0.0:993\"\n"
                                       "backend = \"127.0.0.1:143\"\n"
                                       "socket_options = [\"l:TCP_NODELAY=maybe\"]\n"),
               Contains("/t/t.toml:8: service[s].socket_options: invalid value \"maybe\""));
    CHECK_THAT(stunnel_errors(stunnel_head + "[s]\naccept = 1\nconnect = 2\n"
                                             "socket = l:TCP_NODELAY=maybe\n"),
               Contains("/t/s.conf:6: service[s].socket: invalid value \"maybe\""));
}

TEST_CASE("validate: SNI rules in each format's spelling", "[validate]") {
    CHECK_THAT(stunnel_errors(stunnel_head + "[front]\naccept = 1\nconnect = 2\n"
                                             "[kid]\nsni = nope:a.example.org\nconnect = 3\n"),
               Contains("/t/s.conf:7: service[kid].sni: no service named \"nope\""));
    CHECK_THAT(stunnel_errors(stunnel_head + "[front]\naccept = 1\nconnect = 2\nprotocol = imap\n"
                                             "[kid]\nsni = front:a.example.org\nconnect = 3\n"),
               Contains("/t/s.conf:8: service[kid].sni: SNI routing needs server mode with "
                        "implicit TLS in both the parent and the child"));
    const std::string front = toml_head + "[[service]]\nname = \"front\"\n"
                                          "listen = \"0.0.0.0:993\"\nbackend = \"127.0.0.1:1\"\n";
    CHECK_THAT(toml_errors(front + "[[service]]\nname = \"kid\"\nsni_parent = \"front\"\n"
                                   "sni_pattern = \"a.example.org\"\nclient = true\n"
                                   "backend = \"127.0.0.1:2\"\n"),
               Contains("/t/t.toml:10: service[kid].sni_parent: SNI routing needs server mode "
                        "with implicit TLS in both the parent and the child"));
    CHECK_THAT(toml_errors(front + "[[service]]\nname = \"kid\"\nsni_parent = \"front\"\n"
                                   "backend = \"127.0.0.1:2\"\n"),
               Contains("/t/t.toml:10: service[kid].sni_pattern: sni_parent and sni_pattern go "
                        "together"));
}

TEST_CASE("validate: exec_args and retry need exec, spelled per format", "[validate]") {
    CHECK_THAT(stunnel_errors(stunnel_head + "[s]\naccept = 1\nconnect = 2\nexecArgs = x\n"),
               Contains("/t/s.conf:6: service[s].execArgs: execArgs needs exec"));
    CHECK_THAT(stunnel_errors(stunnel_head + "[s]\naccept = 1\nconnect = 2\nretry = yes\n"),
               Contains("/t/s.conf:6: service[s].retry: retry needs exec"));
    CHECK_THAT(toml_errors(toml_head + "[[service]]\nname = \"s\"\nlisten = \"0.0.0.0:993\"\n"
                                       "backend = \"127.0.0.1:143\"\nretry = true\n"),
               Contains("/t/t.toml:8: service[s].retry: retry needs \"exec\""));
}

TEST_CASE("validate: key spellings", "[validate]") {
    CHECK(key_spelling(ConfigFormat::toml, "listen") == "listen");
    CHECK(key_spelling(ConfigFormat::stunnel, "listen") == "accept");
    CHECK(key_spelling(ConfigFormat::stunnel, "socket_options") == "socket");
    CHECK(key_spelling(ConfigFormat::stunnel, "retry") == "retry");
}

TEST_CASE("validate: which TOML listen addresses clash", "[validate]") {
    struct Case {
        const char* first;
        const char* second;
        bool clash;
    };
    const Case cases[] = {
        {"127.0.0.1:993", "127.0.0.1:993", true},
        {"0.0.0.0:993", "127.0.0.1:993", true},
        {"127.0.0.1:993", "0.0.0.0:993", true},
        {"[::]:993", "127.0.0.1:993", false},
        {"[::1]:993", "[::]:993", true},
        {"unix:/run/a.sock", "unix:/run/a.sock", true},
        {"127.0.0.1:993", "127.0.0.2:993", false},
        {"127.0.0.1:993", "127.0.0.1:995", false},
        {"127.0.0.1:0", "127.0.0.1:0", false},
        {"0.0.0.0:993", "[::]:993", false},
        {"unix:/run/a.sock", "unix:/run/b.sock", false},
    };
    for (const auto& c : cases) {
        INFO(c.first << " vs " << c.second);
        auto r = load_toml_string(
            toml_head + "[[service]]\nname = \"a\"\nlisten = \"" + c.first +
                "\"\nbackend = \"127.0.0.1:143\"\n[[service]]\nname = \"b\"\nlisten = \"" +
                c.second + "\"\nbackend = \"127.0.0.1:143\"\n",
            "/srv/conf/t.toml");
        if (c.clash) {
            CHECK_THAT(joined(r.errors),
                       Contains("t.toml:10: service[b].listen: listen address ") &&
                           Contains("of service \"a\" (line 6)"));
        } else {
            CHECK(r.errors.empty());
        }
    }
}

TEST_CASE("validate: local is a numeric address", "[validate]") {
    CHECK_THAT(
        stunnel_errors(stunnel_head + "[s]\naccept = 1\nconnect = 2\nlocal = host.example\n"),
        Contains("/t/s.conf:6: service[s].local: \"host.example\" is not an IPv4 or IPv6 "
                 "address"));
    CHECK_THAT(toml_errors(toml_head + "[[service]]\nname = \"s\"\nlisten = \"0.0.0.0:993\"\n"
                                       "backend = \"127.0.0.1:143\"\nlocal = \"x\"\n"),
               Contains("/t/t.toml:8: service[s].local: \"x\" is not an IPv4 or IPv6 address"));
}

TEST_CASE("validate: TLS version order and ticket secrets, once per place", "[validate]") {
    // stunnel.conf: global options are every service's own, each service reports.
    const std::string both = stunnel_errors(stunnel_head + "sslVersionMin = TLSv1.3\n"
                                                           "sslVersionMax = TLSv1.2\n"
                                                           "[a]\naccept = 1\nconnect = 2\n"
                                                           "[b]\naccept = 3\nconnect = 4\n");
    CHECK_THAT(both, Contains("/t/s.conf:3: service[a].sslVersionMin: sslVersionMin is greater "
                              "than sslVersionMax"));
    CHECK_THAT(both, Contains("/t/s.conf:3: service[b].sslVersionMin:"));
    // TOML: a problem in [tls] alone is reported at [tls], not for each service.
    const std::string once =
        toml_errors(toml_head + "ticket_key_secret = \"" + std::string(32, 'a') +
                    "\"\n[[service]]\nname = \"a\"\n"
                    "listen = \"0.0.0.0:993\"\nbackend = \"127.0.0.1:1\"\n");
    CHECK_THAT(once, Contains("/t/t.toml:4: tls.ticket_mac_secret: ticket_key_secret and "
                              "ticket_mac_secret go together; ticket_mac_secret is missing"));
    CHECK_THAT(once, !Contains("service[a]"));
}

TEST_CASE("validate: sni_pattern is a host name, or one with '*' as its whole first label",
          "[validate]") {
    const std::string front = toml_head + "[[service]]\nname = \"front\"\n"
                                          "listen = \"0.0.0.0:993\"\nbackend = \"127.0.0.1:1\"\n";
    auto kid = [&](const std::string& name, const std::string& pattern) {
        return "[[service]]\nname = \"" + name + "\"\nsni_parent = \"front\"\nsni_pattern = \"" +
               pattern + "\"\nbackend = \"127.0.0.1:2\"\n";
    };
    for (const char* bad : {"*.*.example..org", "mail*.example.org", "*mail.example.org",
                            "mail.*.example.org", "example..org", ".example.org", "*",
                            "mail.example.org/x", "mail example.org", "mail.example.org."}) {
        INFO(bad);
        CHECK_THAT(toml_errors(front + kid("kid", bad)),
                   Contains("/t/t.toml:11: service[kid].sni_pattern: invalid SNI pattern \"" +
                            std::string(bad) + "\""));
    }
    // Two children of one parent whose patterns differ only in case: the second never matches.
    CHECK_THAT(toml_errors(front + kid("one", "Mail.Example.org") + kid("two", "mail.example.ORG")),
               Contains("/t/t.toml:16: service[two].sni_pattern: \"mail.example.ORG\" matches the "
                        "same names as service one's \"Mail.Example.org\""));
    // The stunnel spelling.
    CHECK_THAT(stunnel_errors(stunnel_head + "[front]\naccept = 1\nconnect = 2\n"
                                             "[kid]\nsni = front:a.*.org\nconnect = 3\n"),
               Contains("/t/s.conf:7: service[kid].sni: invalid SNI pattern \"a.*.org\""));
    // Good ones load.
    auto good = load_toml_string(front + kid("a", "*.example.org") + kid("b", "mail.example.org") +
                                     kid("c", "xn--bcher-kva.example") + kid("d", "*.org"),
                                 "/t/t.toml");
    CHECK(joined(good.errors) == "");
}
