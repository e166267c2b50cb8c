#include "tlsgate/log/log.hpp"

#include <catch2/catch.hpp>
#include <string>

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
