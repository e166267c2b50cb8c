#include "tlsgate/tls/sni_router.hpp"

#include <catch2/catch.hpp>

using tlsgate::tls::sni_matches;

TEST_CASE("SNI patterns: exact names, any case", "[sni]") {
    CHECK(sni_matches("mail.example.org", "mail.example.org"));
    CHECK(sni_matches("mail.example.org", "MAIL.Example.ORG"));
    CHECK(sni_matches("Mail.Example.org", "mail.example.org."));
    CHECK_FALSE(sni_matches("mail.example.org", "imap.example.org"));
    CHECK_FALSE(sni_matches("mail.example.org", "mail.example.org.evil"));
    CHECK_FALSE(sni_matches("mail.example.org", ""));
    CHECK_FALSE(sni_matches("", "mail.example.org"));
}

TEST_CASE("SNI patterns: '*' is exactly one leftmost label", "[sni]") {
    CHECK(sni_matches("*.example.org", "imap.example.org"));
    CHECK(sni_matches("*.example.org", "IMAP.EXAMPLE.ORG"));
    CHECK_FALSE(sni_matches("*.example.org", "example.org"));
    CHECK_FALSE(sni_matches("*.example.org", "a.b.example.org"));
    CHECK_FALSE(sni_matches("*.example.org", ".example.org"));
    CHECK_FALSE(sni_matches("*.example.org", "imap.example.org.net"));
    CHECK_FALSE(sni_matches("*.example.org", "imapexample.org"));
}

TEST_CASE("SNI router: the first matching route wins", "[sni]") {
    tlsgate::tls::SniRouter router({{"imap.example.org", nullptr}, {"*.example.org", nullptr}});
    CHECK(router.match("imap.example.org") == 0);
    CHECK(router.match("pop.example.org") == 1);
    CHECK(router.match("example.net") == -1);
}
