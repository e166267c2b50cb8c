#include "tlsgate/log/rate_limit.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

using tlsgate::log::source_of;
using tlsgate::log::SourceRateLimiter;
using Verdict = SourceRateLimiter::Decision::Verdict;

TEST_CASE("rate limit: N lines per source per window, then a count", "[rate_limit]") {
    SourceRateLimiter limiter(64, 3, 60'000);
    CHECK(limiter.check("192.0.2.1", 0).verdict == Verdict::log);
    CHECK(limiter.check("192.0.2.1", 10).verdict == Verdict::log);
    CHECK(limiter.check("192.0.2.1", 20).verdict == Verdict::log_and_mute);
    for (int i = 0; i < 5; ++i) {
        CHECK(limiter.check("192.0.2.1", 30 + i).verdict == Verdict::suppress);
    }
    // Another source is not affected.
    CHECK(limiter.check("192.0.2.2", 40).verdict == Verdict::log);
    // A new window: the line is written, with the count of what was left out.
    auto next = limiter.check("192.0.2.1", 60'000);
    CHECK(next.verdict == Verdict::log);
    CHECK(next.suppressed_before == 5);
    CHECK(limiter.check("192.0.2.1", 60'001).suppressed_before == 0);
}

TEST_CASE("rate limit: the table stays its size however many sources", "[rate_limit]") {
    SourceRateLimiter limiter(16, 2, 60'000);
    for (int i = 0; i < 10'000; ++i) {
        CHECK(limiter.check(fmt::format("10.0.{}.{}", i / 256, i % 256), i).verdict ==
              Verdict::log);
    }
    CHECK(limiter.slots() == 16);
    // A source that keeps failing stays known while new ones come and go (least recently
    // used eviction among its slots).
    SourceRateLimiter small(4, 2, 60'000);
    for (int i = 0; i < 100; ++i) {
        small.check("198.51.100.1", i * 2);
        small.check(fmt::format("203.0.113.{}", i), i * 2 + 1);
    }
    CHECK(small.check("198.51.100.1", 500).verdict == Verdict::suppress);
}

TEST_CASE("rate limit: a client is known by its address without the port", "[rate_limit]") {
    CHECK(source_of("192.0.2.7:51234") == "192.0.2.7");
    CHECK(source_of("[2001:db8::1]:993") == "2001:db8::1");
    CHECK(source_of("unix") == "unix");
    CHECK(source_of("2001:db8::1") == "2001:db8::1");
}
