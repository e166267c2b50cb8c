#include "tlsgate/proto/line_buffer.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

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

TEST_CASE("line_buffer: InputBuffer consumes from the front without losing order", "[proto]") {
    InputBuffer in;
    std::string expected;
    size_t taken = 0;
    // Many small appends and consumes, as pipelined commands arrive and are taken.
    for (int round = 0; round < 1000; ++round) {
        std::string piece = fmt::format("c{} NOOP\r\n", round);
        in.append(piece);
        expected += piece;
        size_t n = static_cast<size_t>(round % 3 == 0 ? 0 : std::min<size_t>(7, in.size()));
        CHECK(in.view().substr(0, n) == std::string_view(expected).substr(taken, n));
        in.consume(n);
        taken += n;
        REQUIRE(in.view() == std::string_view(expected).substr(taken));
        REQUIRE(in.size() == expected.size() - taken);
    }
    CHECK(in[0] == expected[taken]);
    in.consume(in.size());
    CHECK(in.empty());
    in.append("x");
    CHECK(in.view() == "x");
    in.clear();
    CHECK(in.empty());
}
