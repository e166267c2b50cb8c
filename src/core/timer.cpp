#include "tlsgate/core/timer.hpp"

namespace tlsgate::core {

Timer::Timer(uv_loop_t* loop, TimerHandler& handler) : handler_(handler) {
    uv_timer_init(loop, &handle_);
    handle_.data = this;
}

void Timer::start(uint64_t timeout_ms) {
    if (!closing_) {
        uv_timer_start(&handle_, on_fire, timeout_ms, 0);
    }
}

void Timer::stop() {
    if (!closing_) {
        uv_timer_stop(&handle_);
    }
}

void Timer::close() {
    if (closing_) {
        return;
    }
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), on_close);
}

void Timer::on_fire(uv_timer_t* handle) {
    auto* self = static_cast<Timer*>(handle->data);
    self->handler_.on_timer(*self);
}

void Timer::on_close(uv_handle_t* handle) {
    auto* self = static_cast<Timer*>(handle->data);
    self->handler_.on_timer_closed(*self);
}

} // namespace tlsgate::core
