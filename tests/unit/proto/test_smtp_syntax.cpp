// SMTP syntax shared by the server filter and the client prelude (smtp_syntax.cpp), octet by
// octet where a single octet decides.
#include "tlsgate/proto/smtp_syntax.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace tlsgate::proto::smtp_syntax;
using Separator = ReplyLine::Separator;

TEST_CASE("smtp syntax: reply line parts", "[smtp][syntax]") {
    ReplyLine r = parse_reply_line("250-mail.example.com");
    CHECK(r.code == "250");
    CHECK(r.separator == Separator::hyphen);
    CHECK(r.continues());
    CHECK(r.text == "mail.example.com");
    CHECK(r.well_formed());
    CHECK(r.number() == 250);

    r = parse_reply_line("220 ready");
    CHECK(r.code == "220");
    CHECK(r.separator == Separator::space);
    CHECK_FALSE(r.continues());
    CHECK(r.text == "ready");
    CHECK(r.number() == 220);

    r = parse_reply_line("354");
    CHECK(r.separator == Separator::none);
    CHECK(r.text.empty());
    CHECK(r.well_formed());
    CHECK(r.number() == 354);

    r = parse_reply_line("250 ");
    CHECK(r.text.empty());
    CHECK(r.well_formed());

    r = parse_reply_line("250-");
    CHECK(r.continues());
    CHECK(r.text.empty());
}

TEST_CASE("smtp syntax: short and malformed reply lines still parse", "[smtp][syntax]") {
    // The filter only needs to know where a reply ends; the prelude refuses these.
    for (std::string line : {"", "2", "25", "25x", "abc", "2a0 text", "-50-x", "250\tx", "250x"}) {
        INFO(line);
        ReplyLine r = parse_reply_line(line);
        CHECK_FALSE(r.well_formed());
        CHECK(r.number() == -1);
        CHECK(r.code == std::string_view(line).substr(0, 3));
    }
    CHECK_FALSE(parse_reply_line("abc-x").well_formed());
    CHECK(parse_reply_line("abc-x").continues()); // the filter still reads it as continued
    CHECK_FALSE(parse_reply_line("25").continues());
    CHECK_FALSE(parse_reply_line("").continues());
}

TEST_CASE("smtp syntax: every octet as the separator", "[smtp][syntax]") {
    for (int c = 0; c < 256; ++c) {
        std::string line = "250";
        line += static_cast<char>(c);
        line += "text";
        INFO("octet " << c);
        ReplyLine r = parse_reply_line(line);
        CHECK(r.code == "250");
        CHECK(r.text == "text");
        CHECK(r.continues() == (c == '-'));
        CHECK(r.well_formed() == (c == ' ' || c == '-'));
        CHECK(r.number() == (c == ' ' || c == '-' ? 250 : -1));
    }
}

TEST_CASE("smtp syntax: every octet in every code position", "[smtp][syntax]") {
    for (size_t pos = 0; pos < 3; ++pos) {
        for (int c = 0; c < 256; ++c) {
            std::string line = "250 ok";
            line[pos] = static_cast<char>(c);
            INFO("position " << pos << " octet " << c);
            const bool digit = c >= '0' && c <= '9';
            CHECK(parse_reply_line(line).well_formed() == digit);
            CHECK_FALSE(parse_reply_line(line).continues());
        }
    }
    CHECK(parse_reply_line("000 x").number() == 0);
    CHECK(parse_reply_line("999 x").number() == 999);
}

TEST_CASE("smtp syntax: EHLO keywords", "[smtp][syntax]") {
    CHECK(ehlo_keyword("STARTTLS") == "STARTTLS");
    CHECK(ehlo_keyword("AUTH PLAIN LOGIN") == "AUTH");
    CHECK(ehlo_keyword("AUTH=PLAIN LOGIN") == "AUTH=PLAIN");
    CHECK(ehlo_keyword("SIZE 10240000") == "SIZE");
    CHECK(ehlo_keyword("") == "");
    CHECK(ehlo_keyword(" STARTTLS") == "");
    CHECK(ehlo_keyword("STARTTLS\tx") == "STARTTLS\tx"); // only SP separates parameters
    CHECK(ehlo_keyword(parse_reply_line("250-starttls").text) == "starttls");
}

TEST_CASE("smtp syntax: command verbs, octet by octet", "[smtp][syntax]") {
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '_';
        INFO("octet " << c);
        CHECK(valid_verb(std::string(1, ch)) == allowed);
        CHECK(valid_verb("MA" + std::string(1, ch) + "L") == allowed);
    }
    CHECK_FALSE(valid_verb(""));
    CHECK(valid_verb(std::string(40, 'X')));
    CHECK_FALSE(valid_verb(std::string(41, 'X')));
    CHECK(known_verb("MAIL"));
    CHECK(known_verb("XFORWARD"));
    CHECK_FALSE(known_verb("mail")); // callers upper-case first
    CHECK_FALSE(known_verb("LOGIN"));
}

TEST_CASE("smtp syntax: what is meant as BDAT", "[smtp][syntax]") {
    CHECK(looks_like_bdat("BDAT"));
    CHECK(looks_like_bdat("bdat 5"));
    CHECK(looks_like_bdat("BDAT\t5"));
    CHECK_FALSE(looks_like_bdat("BDATX 5"));
    CHECK_FALSE(looks_like_bdat("BDA"));
    CHECK_FALSE(looks_like_bdat(" BDAT 5"));
    for (int c = 0; c < 256; ++c) {
        const bool verb_char = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                               (c >= '0' && c <= '9') || c == '-' || c == '_';
        INFO("octet " << c);
        CHECK(looks_like_bdat("BDAT" + std::string(1, static_cast<char>(c)) + "5") == !verb_char);
    }
}

TEST_CASE("smtp syntax: BDAT arguments", "[smtp][syntax]") {
    uint64_t size = 99;
    CHECK(parse_bdat("5", size));
    CHECK(size == 5);
    CHECK(parse_bdat("0 LAST", size));
    CHECK(size == 0);
    CHECK(parse_bdat("12 last", size));
    CHECK(size == 12);
    CHECK(parse_bdat("999999999999999999", size));
    CHECK(size == 999999999999999999ull);
    CHECK_FALSE(parse_bdat("1000000000000000000", size)); // 19 digits
    CHECK_FALSE(parse_bdat("", size));
    CHECK_FALSE(parse_bdat(" 5", size));
    CHECK_FALSE(parse_bdat("5 ", size));
    CHECK_FALSE(parse_bdat("5  LAST", size));
    CHECK_FALSE(parse_bdat("5 LAST x", size));
    CHECK_FALSE(parse_bdat("-5", size));
    CHECK_FALSE(parse_bdat("5x", size));
    CHECK_FALSE(parse_bdat("5\tLAST", size));
}
