#include "tlsgate/core/uv_handle.hpp"

#include <catch2/catch.hpp>

using tlsgate::core::HeapUvHandle;
using tlsgate::core::make_heap_uv_handle;
using tlsgate::core::UvHandle;

namespace {

// A private loop per test; every handle must be released before it closes.
struct Loop {
    uv_loop_t loop{};
    Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
    ~Loop() { CHECK(uv_loop_close(&loop) == 0); }
    void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

// An owner that counts what its handles report.
struct Owner {
    int fired = 0;
    int closed = 0;
    static void on_closed(uv_timer_t* handle) { ++static_cast<Owner*>(handle->data)->closed; }
    static void on_async_closed(uv_async_t* handle) { ++static_cast<Owner*>(handle->data)->closed; }
};

} // namespace

TEST_CASE("UvHandle: a timer's close is idempotent and its close callback runs once",
          "[uv_handle]") {
    Loop loop;
    Owner owner;
    UvHandle<uv_timer_t> timer(&owner, Owner::on_closed);
    CHECK(timer.released());
    CHECK_FALSE(timer.is_open());
    REQUIRE(timer.open([&](uv_timer_t* h) { return uv_timer_init(&loop.loop, h); }) == 0);
    CHECK(timer.is_open());
    CHECK_FALSE(timer.released());
    CHECK(timer.get()->data == &owner); // callbacks find the owner the usual way
    CHECK(timer.loop() == &loop.loop);

    timer.close();
    timer.close();
    CHECK(timer.closing());
    CHECK_FALSE(timer.released());
    CHECK(owner.closed == 0); // libuv calls back on the next loop turn
    loop.run();
    CHECK(owner.closed == 1);
    CHECK(timer.released());
    timer.close(); // after the callback too
    loop.run();
    CHECK(owner.closed == 1);
}

TEST_CASE("UvHandle: the timer fires through the owner set once in data", "[uv_handle]") {
    Loop loop;
    Owner owner;
    UvHandle<uv_timer_t> timer(&owner, Owner::on_closed);
    REQUIRE(timer.open([&](uv_timer_t* h) { return uv_timer_init(&loop.loop, h); }) == 0);
    REQUIRE(uv_timer_start(
                timer.get(),
                [](uv_timer_t* h) {
                    auto* self = static_cast<Owner*>(h->data);
                    ++self->fired;
                },
                0, 0) == 0);
    loop.run();
    CHECK(owner.fired == 1);
    timer.close();
    loop.run();
    CHECK(owner.closed == 1);
}

TEST_CASE("UvHandle: reopened after its close callback, as a fresh handle", "[uv_handle]") {
    Loop loop;
    Owner owner;
    UvHandle<uv_timer_t> timer(&owner, Owner::on_closed);
    for (int round = 1; round <= 3; ++round) {
        REQUIRE(timer.open([&](uv_timer_t* h) { return uv_timer_init(&loop.loop, h); }) == 0);
        CHECK(timer.get()->data == &owner);
        timer.close();
        loop.run();
        CHECK(owner.closed == round);
    }
}

TEST_CASE("UvHandle: a handle never opened needs no close", "[uv_handle]") {
    Loop loop;
    Owner owner;
    UvHandle<uv_async_t> async(&owner, Owner::on_async_closed);
    async.close(); // nothing registered in the loop: nothing to close
    loop.run();
    CHECK(owner.closed == 0);
    CHECK(async.released());
}

TEST_CASE("UvHandle: a failed init that registered nothing leaves it unused", "[uv_handle]") {
    Loop loop;
    Owner owner;
    UvHandle<uv_tcp_t> tcp(&owner);
    // An unknown address family: uv_tcp_init_ex refuses before touching the loop.
    CHECK(tcp.open([&](uv_tcp_t* h) { return uv_tcp_init_ex(&loop.loop, h, 12345); }) == UV_EINVAL);
    CHECK(tcp.released());
    CHECK_FALSE(tcp.close_reset()); // not open
}

TEST_CASE("UvHandle: an async handle's close callback runs once", "[uv_handle]") {
    Loop loop;
    Owner owner;
    UvHandle<uv_async_t> async(&owner, Owner::on_async_closed);
    REQUIRE(async.open([&](uv_async_t* h) {
        return uv_async_init(&loop.loop, h, [](uv_async_t* fired) {
            auto* self = static_cast<Owner*>(fired->data);
            ++self->fired;
        });
    }) == 0);
    REQUIRE(uv_async_send(async.get()) == 0);
    uv_run(&loop.loop, UV_RUN_NOWAIT);
    CHECK(owner.fired == 1);
    async.close();
    async.close();
    loop.run();
    CHECK(owner.closed == 1);
}

TEST_CASE("UvHandle: the owner may free itself from the close callback", "[uv_handle]") {
    Loop loop;
    // The usual pattern: an object freed only after its handle's close callback ran.
    struct SelfFreeing {
        UvHandle<uv_timer_t> timer{
            this, [](uv_timer_t* h) { delete static_cast<SelfFreeing*>(h->data); }};
    };
    auto* object = new SelfFreeing;
    REQUIRE(object->timer.open([&](uv_timer_t* h) { return uv_timer_init(&loop.loop, h); }) == 0);
    object->timer.close();
    loop.run(); // under ASan: no leak, no use after free
}

TEST_CASE("HeapUvHandle: the owner goes first, the close callback frees the memory",
          "[uv_handle]") {
    Loop loop;
    SECTION("an async handle, dropped while open") {
        Owner owner;
        {
            HeapUvHandle<uv_async_t> async = make_heap_uv_handle<uv_async_t>(&owner);
            REQUIRE(async->open([&](uv_async_t* h) {
                return uv_async_init(&loop.loop, h, [](uv_async_t*) {});
            }) == 0);
        } // closed here; freed by its close callback (ASan reports a leak otherwise)
        CHECK(uv_loop_alive(&loop.loop) != 0);
        loop.run();
        CHECK(uv_loop_alive(&loop.loop) == 0);
    }
    SECTION("a timer closed first, then dropped before its close callback ran") {
        Owner owner;
        {
            auto timer = make_heap_uv_handle<uv_timer_t>(&owner, Owner::on_closed);
            REQUIRE(timer->open([&](uv_timer_t* h) { return uv_timer_init(&loop.loop, h); }) == 0);
            timer->close();
        }
        loop.run();
        CHECK(owner.closed == 0); // the owner has gone: it hears nothing
    }
    SECTION("never opened: freed at once") {
        Owner owner;
        auto timer = make_heap_uv_handle<uv_timer_t>(&owner);
        timer.reset();
        loop.run();
    }
}
