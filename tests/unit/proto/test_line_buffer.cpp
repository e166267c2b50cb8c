#include "tlsgate/proto/line_buffer.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate::proto;

TEST_CASE("line_buffer: scan_line bounds", "[proto]") {
    CHECK(scan_line("abc", 10).status == LineScan::Status::incomplete);
    CHECK(scan_line("abc\r\nx", 10).length == 5);
    CHECK(scan_line("abcd\r\n", 6).status == LineScan::Status::complete);
    CHECK(scan_line("abcde\r\n", 6).status == LineScan::Status::overlong);
    CHECK(scan_line("abcdef", 6).status == LineScan::Status::overlong);
    CHECK(line_content("x\r\n") == "x");
    CHECK(line_content("x\n") == "x");
    CHECK(split_first_word("MAIL FROM:<a>").rest == "FROM:<a>");
    CHECK(loggable_verb("lo\"gin") == "LO?GIN");
}

TEST_CASE("line_buffer: BoundedLines splits and passes overlong lines through", "[proto]") {
    BoundedLines b(8);
    b.append("ab\r\n0123456789abc\r\nxy");
    BoundedLines::Piece p;
    REQUIRE(b.next(p));
    CHECK((p.text == "ab\r\n" && p.starts_line && p.ends_line));
    REQUIRE(b.next(p));
    CHECK((p.text == "01234567" && p.starts_line && !p.ends_line));
    REQUIRE(b.next(p));
    CHECK((p.text == "89abc\r\n" && !p.starts_line && p.ends_line));
    CHECK(!b.next(p));
    CHECK(b.take_all() == "xy");
}
