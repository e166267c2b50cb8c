// The IMAP command syntax the filter shares with Dovecot, one shape at a time. Each expected
// answer was checked against Dovecot 2.3's imap-login (see tests/differential/).
#include "tlsgate/proto/imap_syntax.hpp"

#include <catch2/catch.hpp>
#include <string>

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
