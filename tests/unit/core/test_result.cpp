#include "tlsgate/core/result.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

using tlsgate::Error;
using tlsgate::Result;

namespace {

Result<int> parse_digit(char c) {
    if (c < '0' || c > '9') {
        return Error{std::string("not a digit: ") + c};
    }
    return c - '0';
}

Result<> check_positive(int n) {
    if (n <= 0) {
        return Error{"not positive"};
    }
    return {};
}

} // namespace

TEST_CASE("Result carries a value or one error", "[core][result]") {
    auto good = parse_digit('7');
    REQUIRE(good.ok());
    REQUIRE(static_cast<bool>(good));
    CHECK(*good == 7);

    auto bad = parse_digit('x');
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == "not a digit: x");
}

TEST_CASE("Result<void> is ok by default and fails with an error", "[core][result]") {
    CHECK(check_positive(1).ok());
    auto bad = check_positive(0);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message == "not positive");
}

TEST_CASE("Result moves a move-only value out", "[core][result]") {
    Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
    REQUIRE(r);
    std::unique_ptr<int> owned = std::move(r).value();
    CHECK(*owned == 5);
}
