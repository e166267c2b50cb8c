#include "tlsgate/proxy/exec_child.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

namespace tlsgate::proxy {

ExecChild::ExecChild(uv_loop_t* loop, ExecChildHandler& handler) : loop_(loop), handler_(handler) {}

int ExecChild::spawn(const std::string& file, const std::vector<std::string>& args, int& our_end) {
    if (active()) {
        return UV_EBUSY;
    }
    // Both ends close-on-exec: libuv dup2()s the child's end onto its stdin/stdout (which
    // clears the flag on those two only), so no other child inherits either end, and neither
    // does this child keep a copy of ours — otherwise our close would never reach it as EOF.
    int pair[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return -errno;
    }
    std::vector<char*> argv;
    for (const auto& arg : args) {
        argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_INHERIT_FD;
    stdio[0].data.fd = pair[1];
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = pair[1];
    stdio[2].flags = UV_INHERIT_FD; // the program's complaints go to our log stream
    stdio[2].data.fd = STDERR_FILENO;
    uv_process_options_t options{};
    options.file = file.c_str();
    options.args = argv.data();
    options.exit_cb = on_exit;
    options.stdio = stdio;
    options.stdio_count = 3;
    // Freed with this object, which outlives the close callback.
    if (!process_) {
        process_ = std::make_unique<core::UvHandle<uv_process_t>>(this, on_closed);
    }
    const int rc =
        process_->open([&](uv_process_t* process) { return uv_spawn(loop_, process, &options); });
    ::close(pair[1]); // the child has its copy (or there is no child)
    if (rc != 0) {
        ::close(pair[0]);
        // libuv initialised the handle even though the spawn failed: it must still be closed.
        process_->close();
        return rc;
    }
    running_ = true;
    pid_ = process_->get()->pid;
    our_end = pair[0];
    return 0;
}

void ExecChild::kill(int signal) {
    if (running_) {
        uv_process_kill(process_->get(), signal);
    }
}

void ExecChild::on_exit(uv_process_t* process, int64_t status, int term_signal) {
    auto* self = static_cast<ExecChild*>(process->data);
    self->running_ = false;
    self->process_->close();
    self->handler_.on_child_exit(*self, status, term_signal);
}

void ExecChild::on_closed(uv_process_t* process) {
    auto* self = static_cast<ExecChild*>(process->data);
    self->handler_.on_child_closed(*self);
}

} // namespace tlsgate::proxy
