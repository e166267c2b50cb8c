#include "tlsgate/core/timer.hpp"

namespace tlsgate::core {

Timer::Timer(uv_loop_t* loop, TimerHandler& handler) : handle_(this, on_closed), handler_(handler) {
    // uv_timer_init cannot fail.
    (void)handle_.open([loop](uv_timer_t* handle) { return uv_timer_init(loop, handle); });
}

// uv_timer_start fails only for a closing handle (excluded here) or a null callback.
void Timer::start(uint64_t timeout_ms) {
    if (handle_.is_open()) {
        (void)uv_timer_start(handle_.get(), on_fire, timeout_ms, 0);
    }
}

void Timer::stop() {
    if (handle_.is_open()) {
        uv_timer_stop(handle_.get());
    }
}

void Timer::close() {
    handle_.close();
}

void Timer::on_fire(uv_timer_t* handle) {
    auto* self = static_cast<Timer*>(handle->data);
    self->handler_.on_timer(*self);
}

void Timer::on_closed(uv_timer_t* handle) {
    auto* self = static_cast<Timer*>(handle->data);
    self->handler_.on_timer_closed(*self);
}

} // namespace tlsgate::core
