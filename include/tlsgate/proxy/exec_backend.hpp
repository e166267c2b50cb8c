#pragma once

#include "tlsgate/core/result.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/proxy/conn_log.hpp"
#include "tlsgate/proxy/exec_child.hpp"

#include <cstdint>
#include <uv.h>

namespace tlsgate::proxy {

class ExecBackendHandler {
public:
    // The program's process handle is released: it may be started again.
    virtual void on_exec_closed() = 0;

protected:
    ~ExecBackendHandler() = default;
};

// A backend that is a program started per connection (`exec`): its stdin and stdout are
// one end of a socketpair, the session's backend stream the other. Logs how the program
// ended, and paces restarts (`retry`): a program that keeps exiting is started at most once
// a second, as stunnel waits between retries.
class ExecBackend final : public ExecChildHandler {
public:
    static constexpr uint64_t kRespawnIntervalMs = 1000;

    ExecBackend(uv_loop_t* loop, const ConnLog& log, ExecBackendHandler& handler)
        : child_(loop, *this), log_(log), handler_(handler) {}

    // Starts the program; on success `stream` owns our end of its socketpair.
    Result<> spawn(const config::Service& settings, net::Stream& stream, uint64_t now);
    // When a restart may happen, given the last start.
    uint64_t next_start_at() const { return last_spawn_ms_ + kRespawnIntervalMs; }

    void kill(int signal) { child_.kill(signal); }
    bool running() const { return child_.running(); }
    // Started and its process handle not yet released.
    bool active() const { return child_.active(); }
    pid_t pid() const { return child_.pid(); }

private:
    void on_child_exit(ExecChild& child, int64_t status, int term_signal) override;
    void on_child_closed(ExecChild& child) override;

    ExecChild child_;
    const ConnLog& log_;
    ExecBackendHandler& handler_;
    std::string program_;
    uint64_t last_spawn_ms_ = 0;
};

} // namespace tlsgate::proxy
