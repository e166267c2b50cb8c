#pragma once

#include "tlsgate/core/uv_handle.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>
#include <uv.h>
#include <vector>

namespace tlsgate::proxy {

class ExecChild;

class ExecChildHandler {
public:
    // The program ended (exit status, or the signal that ended it).
    virtual void on_child_exit(ExecChild& child, int64_t status, int term_signal) = 0;
    // The process handle is released; the child may be spawned again.
    virtual void on_child_closed(ExecChild& child) = 0;

protected:
    ~ExecChildHandler() = default;
};

// An inetd-style backend: a program whose stdin and stdout are one end of a fresh socketpair
// (the session relays over the other). The uv_process_t is owned by this object, so it is
// released only after on_child_closed. The handle is closed only after the child's exit has
// been reported — closing it earlier would leave nobody to reap the child — so the owner
// kills the child and waits.
class ExecChild {
public:
    ExecChild(uv_loop_t* loop, ExecChildHandler& handler);
    ExecChild(const ExecChild&) = delete;
    ExecChild& operator=(const ExecChild&) = delete;

    // Starts `file` with `args` (args[0] is argv[0]). On success returns 0 and sets
    // `our_end` to our end of the socketpair (close-on-exec, owned by the caller from here);
    // otherwise a uv error code, and nothing is left open.
    [[nodiscard]] int spawn(const std::string& file, const std::vector<std::string>& args,
                            int& our_end);
    // Sends `signal` when the program still runs.
    void kill(int signal);

    bool running() const { return running_; }
    // Spawned and not yet released (running, or its handle closing).
    bool active() const { return process_ && !process_->released(); }
    pid_t pid() const { return pid_; }

private:
    static void on_exit(uv_process_t* process, int64_t status, int term_signal);
    static void on_closed(uv_process_t* process);

    uv_loop_t* loop_;
    ExecChildHandler& handler_;
    // Allocated on the first spawn only: most sessions never exec, and the handle is large.
    // Reused by a respawn (the previous one has been released by then).
    std::unique_ptr<core::UvHandle<uv_process_t>> process_;
    bool running_ = false;
    pid_t pid_ = 0;
};

} // namespace tlsgate::proxy
