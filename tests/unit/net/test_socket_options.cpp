#include "tlsgate/net/socket_options.hpp"

#include <catch2/catch.hpp>

using tlsgate::net::parse_socket_option;

TEST_CASE("socket option flags take yes and no in any letter case, and 1 and 0, as stunnel",
          "[net][socket_options]") {
    for (const char* on : {"yes", "YES", "Yes", "1", "true"}) {
        INFO(on);
        auto parsed = parse_socket_option("SO_KEEPALIVE", on);
        REQUIRE(parsed);
        CHECK(std::get<int>(parsed->value) == 1);
    }
    for (const char* off : {"no", "NO", "No", "0", "false"}) {
        INFO(off);
        auto parsed = parse_socket_option("SO_KEEPALIVE", off);
        REQUIRE(parsed);
        CHECK(std::get<int>(parsed->value) == 0);
    }
    auto bad = parse_socket_option("SO_KEEPALIVE", "maybe");
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains("expected yes or no"));
}
