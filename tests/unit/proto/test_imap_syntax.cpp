// The IMAP command syntax the filter shares with Dovecot, one shape at a time. Each expected
// answer was checked against Dovecot 2.3's imap-login (see tests/differential/).
#include "tlsgate/proto/imap_syntax.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace tlsgate::proto::imap_syntax;
using Shape = LiteralSpec::Shape;

TEST_CASE("imap syntax: where a literal is announced", "[imap][syntax]") {
    struct Case {
        std::string line;
        Shape shape;
    };
    const Case cases[] = {
        {"a NOOP {5}", Shape::literal},
        {"a NOOP {5+}", Shape::literal},
        {"a NOOP ~{5+}", Shape::literal},
        {"a NOOP ({5}", Shape::literal},
        {"a NOOP {05+}", Shape::literal},
        {"a NOOP  {0}", Shape::literal},
        {"a NOOP x{5+}", Shape::malformed_literal},
        {"a NOOP NIL{5}", Shape::malformed_literal},
        {"a NOOP \"q\"{5}", Shape::malformed_literal},
        {"a NOOP (x){5}", Shape::malformed_literal},
        {"a NOOP ]{5}", Shape::malformed_literal},
        {"a NOOP ~x{5}", Shape::malformed_literal},
        {"a NOOP { 5}", Shape::malformed_literal},
        {"a NOOP {5 +}", Shape::malformed_literal},
        {"a NOOP {+5}", Shape::malformed_literal},
        {"a NOOP {5++}", Shape::malformed_literal},
        {"a NOOP {}", Shape::malformed_literal},
        {"a NOOP {5-}", Shape::malformed_literal},
        {"a NOOP x{3}y", Shape::stray_brace},
        {"a NOOP {5} x", Shape::stray_brace},
        {"a NOOP {5+} ", Shape::stray_brace},
        {"a NOOP \"x{5+}\"", Shape::plain},
        {"a NOOP \"\\\"{5}\"", Shape::plain},
        {"a NOOP \"x", Shape::unbalanced_quote},
        {"a NOOP \"x\\\"{5}", Shape::unbalanced_quote},
        {"a NOOP 5}", Shape::plain},
    };
    for (const auto& c : cases) {
        CAPTURE(c.line);
        CHECK(scan_segment(c.line, SegmentStart::token_start).shape == c.shape);
    }
    // After a literal, a brace right away is glued to it; a space first is a new token.
    CHECK(scan_segment("{5}", SegmentStart::after_literal).shape == Shape::malformed_literal);
    CHECK(scan_segment(" {5}", SegmentStart::after_literal).shape == Shape::literal);
    CHECK(scan_segment("{5}", SegmentStart::token_start).shape == Shape::literal);
}

TEST_CASE("imap syntax: literal sizes", "[imap][syntax]") {
    auto lit = scan_segment("a X {123+}", SegmentStart::token_start);
    CHECK(lit.size == 123);
    CHECK(!lit.sync);
    CHECK(!lit.too_big_number);
    auto huge = scan_segment("a X {99999999999999999999999}", SegmentStart::token_start);
    CHECK(huge.has_literal());
    CHECK(huge.too_big_number);
}

TEST_CASE("imap syntax: LITERAL+ goes to the backend as synchronizing", "[imap][syntax]") {
    std::string storage;
    auto lit = scan_segment("a LOGIN {5+}", SegmentStart::token_start);
    CHECK(as_synchronizing("a LOGIN {5+}", lit, storage) == "a LOGIN {5}");
    auto sync = scan_segment("a LOGIN ~{5}", SegmentStart::token_start);
    CHECK(as_synchronizing("a LOGIN ~{5}", sync, storage) == "a LOGIN ~{5}");
}

TEST_CASE("imap syntax: tags as Dovecot takes them", "[imap][syntax]") {
    CHECK(valid_tag("a1.x-y"));
    CHECK(valid_tag(std::string(126, 't')));
    CHECK_FALSE(valid_tag(std::string(127, 't')));
    CHECK_FALSE(valid_tag(""));
    for (char c : std::string("(){%*\"\\+] \x7f\x80")) {
        CAPTURE(static_cast<int>(static_cast<unsigned char>(c)));
        CHECK_FALSE(valid_tag(std::string("t") + c));
    }
    CHECK(auth_verb("login"));
    CHECK(auth_verb("AUTHENTICATE"));
    CHECK_FALSE(auth_verb("LOGOUT"));
}

TEST_CASE("imap syntax: untagged CAPABILITY responses", "[imap][syntax]") {
    CHECK(capability_response("* CAPABILITY IMAP4rev1 STARTTLS") == "IMAP4rev1 STARTTLS");
    CHECK(capability_response("* capability x") == "x");
    CHECK(capability_response("* CAPABILITY") == "");
    CHECK(capability_response("* CAPABILITY ") == "");
    CHECK_FALSE(capability_response("* CAPABILITYX a"));
    CHECK_FALSE(capability_response("* CAPABILITY\ta"));
    CHECK_FALSE(capability_response("*  CAPABILITY a"));
    CHECK_FALSE(capability_response("a CAPABILITY a"));
    CHECK_FALSE(capability_response("*CAPABILITY a"));
    CHECK_FALSE(capability_response("* OK [CAPABILITY a]"));
    CHECK_FALSE(capability_response(""));
}

TEST_CASE("imap syntax: a CAPABILITY code opening resp-text (the prelude's reading)",
          "[imap][syntax]") {
    CapabilityCode c = capability_code("[CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.");
    REQUIRE(c.found());
    CHECK(c.begin == 0);
    CHECK(c.end == 30);
    CHECK(c.atoms == "IMAP4rev1 STARTTLS");
    CHECK(capability_code("[capability starttls] x").atoms == "starttls");
    CHECK(capability_code("[CAPABILITY]").found());
    CHECK(capability_code("[CAPABILITY]").atoms == "");
    CHECK(capability_code("[CAPABILITY  a]").atoms == " a");
    CHECK(capability_code("[CAPABILITY a ]b]").atoms == "a ");
    CHECK_FALSE(capability_code("[CAPABILITY").found());
    CHECK_FALSE(capability_code("[CAPABILITY a").found());
    CHECK_FALSE(capability_code("[CAPABILITYX a]").found());
    CHECK_FALSE(capability_code("[CAPABILITY\ta]").found());
    CHECK_FALSE(capability_code(" [CAPABILITY a]").found());
    CHECK_FALSE(capability_code("ready [CAPABILITY a]").found());
    CHECK_FALSE(capability_code("").found());
}

TEST_CASE("imap syntax: the CAPABILITY code of a status response", "[imap][syntax]") {
    CapabilityCode c = status_capability_code("* OK [CAPABILITY IMAP4rev1] ready");
    REQUIRE(c.found());
    CHECK(c.begin == 5);
    CHECK(c.end == 26);
    CHECK(c.atoms == "IMAP4rev1");
    c = status_capability_code("a1 ok [capability x y] Logged in");
    CHECK(c.begin == 6);
    CHECK(c.atoms == "x y");
    for (std::string status : {"OK", "NO", "BAD", "PREAUTH", "BYE", "preauth"}) {
        INFO(status);
        CHECK(status_capability_code("* " + status + " [CAPABILITY a] x").atoms == "a");
    }
    // Response data and text that merely contains the code are not status responses.
    CHECK_FALSE(status_capability_code("* 1 FETCH (ENVELOPE (NIL \"[CAPABILITY a] x\"))").found());
    CHECK_FALSE(status_capability_code("* LIST () \"/\" \"[CAPABILITY a]\"").found());
    CHECK_FALSE(status_capability_code("* OK ready [CAPABILITY a]").found());
    CHECK_FALSE(status_capability_code("* OK [ALERT] [CAPABILITY a]").found());
    CHECK_FALSE(status_capability_code("* OKAY [CAPABILITY a]").found());
    CHECK_FALSE(status_capability_code("+ [CAPABILITY a]").found());
    CHECK_FALSE(status_capability_code("* OK  [CAPABILITY a]").found());
    CHECK_FALSE(status_capability_code("* OK [CAPABILITY a").found());
    CHECK_FALSE(status_capability_code("* OK").found());
    CHECK_FALSE(status_capability_code("").found());
}

TEST_CASE("imap syntax: every octet after [CAPABILITY", "[imap][syntax]") {
    for (int c = 0; c < 256; ++c) {
        std::string text = "[CAPABILITY";
        text += static_cast<char>(c);
        text += "A]";
        INFO("octet " << c);
        const bool code = c == ' ' || c == ']';
        CHECK(capability_code(text).found() == code);
        CHECK(status_capability_code("* OK " + text).found() == code);
    }
    CHECK(capability_code("[CAPABILITY]A]").atoms == "");
}

TEST_CASE("imap syntax: capability atoms", "[imap][syntax]") {
    using Atoms = std::vector<std::string_view>;
    CHECK(capability_atoms("IMAP4rev1 STARTTLS AUTH=PLAIN") ==
          Atoms{"IMAP4rev1", "STARTTLS", "AUTH=PLAIN"});
    CHECK(capability_atoms("  a   b ") == Atoms{"a", "b"});
    CHECK(capability_atoms("").empty());
    CHECK(capability_atoms("a\tb") == Atoms{"a\tb"});
    CHECK(has_capability("IMAP4rev1 starttls", "STARTTLS"));
    CHECK_FALSE(has_capability("IMAP4rev1 STARTTLSX", "STARTTLS"));
    CHECK_FALSE(has_capability("", "STARTTLS"));
}
