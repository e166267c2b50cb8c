#pragma once

#include "tlsgate/core/uv_handle.hpp"

#include <cstdint>
#include <uv.h>

namespace tlsgate::core {

class Timer;

class TimerHandler {
public:
    virtual void on_timer(Timer& timer) = 0;
    virtual void on_timer_closed(Timer& timer) = 0;

protected:
    ~TimerHandler() = default;
};

// A one-shot uv timer living inside its owner; released only after on_timer_closed.
class Timer {
public:
    Timer(uv_loop_t* loop, TimerHandler& handler);
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void start(uint64_t timeout_ms);
    void stop();
    void close(); // idempotent
    bool closing() const { return handle_.closing(); }
    // libuv has let go of the handle (on_timer_closed has run): the owner may be freed.
    bool released() const { return handle_.released(); }
    uint64_t now() const { return uv_now(handle_.loop()); }

private:
    static void on_fire(uv_timer_t* handle);
    static void on_closed(uv_timer_t* handle);

    UvHandle<uv_timer_t> handle_;
    TimerHandler& handler_;
};

} // namespace tlsgate::core
