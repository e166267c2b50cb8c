#include "tlsgate/core/timer.hpp"

#include <catch2/catch.hpp>

using tlsgate::core::Timer;
using tlsgate::core::TimerHandler;

namespace {

struct Counter final : TimerHandler {
    int fired = 0;
    int closed = 0;
    void on_timer(Timer&) override { ++fired; }
    void on_timer_closed(Timer&) override { ++closed; }
};

} // namespace

TEST_CASE("Timer: fires once, closes once, and says when it may be freed", "[uv_handle]") {
    uv_loop_t loop{};
    REQUIRE(uv_loop_init(&loop) == 0);
    Counter handler;
    {
        Timer timer(&loop, handler);
        CHECK_FALSE(timer.released());
        timer.start(0);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(handler.fired == 1);

        timer.close();
        timer.close();
        CHECK(timer.closing());
        timer.start(0); // ignored once closing
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(handler.fired == 1);
        CHECK(handler.closed == 1);
        CHECK(timer.released());
    }
    CHECK(uv_loop_close(&loop) == 0);
}
