// POP3 syntax shared by the server filter and the client prelude (pop3_syntax.cpp), octet by
// octet where a single octet decides.
#include "tlsgate/proto/pop3_syntax.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace tlsgate::proto::pop3_syntax;

TEST_CASE("pop3 syntax: status as a whole word (the prelude's reading)", "[pop3][syntax]") {
    CHECK(status("+OK") == Status::ok);
    CHECK(status("+OK POP3 ready <1.2@x>") == Status::ok);
    CHECK(status("+ok") == Status::ok);
    CHECK(status("-ERR") == Status::err);
    CHECK(status("-err no") == Status::err);
    CHECK(status("+OKAY") == Status::other);
    CHECK(status("-ERROR") == Status::other);
    CHECK(status("+OK\tx") == Status::other);
    CHECK(status(" +OK") == Status::other);
    CHECK(status("+") == Status::other);
    CHECK(status("+ ") == Status::other);
    CHECK(status("") == Status::other);
}

TEST_CASE("pop3 syntax: positive prefix (the filter's reading)", "[pop3][syntax]") {
    CHECK(starts_positive("+OK"));
    CHECK(starts_positive("+ok logged in"));
    CHECK(starts_positive("+OKAY")); // read as clients commonly read it
    CHECK_FALSE(starts_positive("+O"));
    CHECK_FALSE(starts_positive("-ERR"));
    CHECK_FALSE(starts_positive(" +OK"));
    CHECK_FALSE(starts_positive("+ "));
    CHECK(starts_continuation("+ "));
    CHECK(starts_continuation("+"));
    CHECK(starts_continuation("+dGVzdA=="));
    CHECK_FALSE(starts_continuation(""));
    CHECK_FALSE(starts_continuation("-ERR"));
}

TEST_CASE("pop3 syntax: every octet after +OK", "[pop3][syntax]") {
    for (int c = 0; c < 256; ++c) {
        std::string line = "+OK";
        line += static_cast<char>(c);
        line += "x";
        INFO("octet " << c);
        CHECK(starts_positive(line));
        CHECK((status(line) == Status::ok) == (c == ' '));
        CHECK(starts_continuation(line));
    }
}

TEST_CASE("pop3 syntax: every octet as the first of a line", "[pop3][syntax]") {
    for (int c = 0; c < 256; ++c) {
        const std::string line(1, static_cast<char>(c));
        INFO("octet " << c);
        CHECK(is_terminator(line) == (c == '.'));
        CHECK(starts_continuation(line) == (c == '+'));
        CHECK(unstuff(line + "STLS") == (c == '.' ? "STLS" : line + "STLS"));
    }
}

TEST_CASE("pop3 syntax: multi-line lines and CAPA keywords", "[pop3][syntax]") {
    CHECK(is_terminator("."));
    CHECK_FALSE(is_terminator(".."));
    CHECK_FALSE(is_terminator(". "));
    CHECK_FALSE(is_terminator(""));
    CHECK(unstuff("..") == ".");
    CHECK(unstuff("..STLS") == ".STLS");
    CHECK(unstuff(".STLS") == "STLS");
    CHECK(unstuff("STLS") == "STLS");
    CHECK(unstuff("") == "");
    CHECK(capa_keyword("STLS") == "STLS");
    CHECK(capa_keyword("SASL PLAIN LOGIN") == "SASL");
    CHECK(capa_keyword("IMPLEMENTATION Dovecot") == "IMPLEMENTATION");
    CHECK(capa_keyword("") == "");
    CHECK(capa_keyword("STLS\tx") == "STLS\tx");   // only SP separates parameters
    CHECK(capa_keyword(".SASL PLAIN") == ".SASL"); // as written: dot-stuffing is the caller's
}

TEST_CASE("pop3 syntax: command keywords, octet by octet", "[pop3][syntax]") {
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '_';
        INFO("octet " << c);
        CHECK(valid_keyword(std::string(1, ch)) == allowed);
        CHECK(valid_keyword("US" + std::string(1, ch) + "R") == allowed);
    }
    CHECK_FALSE(valid_keyword(""));
    CHECK(valid_keyword(std::string(40, 'X')));
    CHECK_FALSE(valid_keyword(std::string(41, 'X')));
    CHECK(known_verb("STLS"));
    CHECK(known_verb("XCLIENT"));
    CHECK_FALSE(known_verb("stls")); // callers upper-case first
    CHECK_FALSE(known_verb("STARTTLS"));
}
