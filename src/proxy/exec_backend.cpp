#include "tlsgate/proxy/exec_backend.hpp"

#include <unistd.h>

namespace tlsgate::proxy {

Result<> ExecBackend::spawn(const config::Service& settings, net::Stream& stream, uint64_t now) {
    program_ = *settings.exec;
    last_spawn_ms_ = now;
    int our_end = -1;
    if (int rc = child_.spawn(program_, settings.exec_args, our_end); rc != 0) {
        return Error{"cannot start " + program_ + ": " + uv_strerror(rc)};
    }
    if (int rc = stream.open_fd(our_end); rc != 0) {
        ::close(our_end);
        return Error{"cannot use the socket to " + program_ + ": " + uv_strerror(rc)};
    }
    log_(config::LogLevel::debug, "started {} (pid {})", program_, child_.pid());
    return {};
}

void ExecBackend::on_child_exit(ExecChild& child, int64_t status, int term_signal) {
    if (term_signal != 0) {
        log_(config::LogLevel::info, "{} (pid {}) ended by signal {}", program_, child.pid(),
             term_signal);
    } else {
        log_(config::LogLevel::info, "{} (pid {}) exited with status {}", program_, child.pid(),
             status);
    }
}

void ExecBackend::on_child_closed(ExecChild&) {
    handler_.on_exec_closed();
}

} // namespace tlsgate::proxy
