#include "tlsgate/proxy/inetd.hpp"

#include "tlsgate/core/uv_handle.hpp"
#include "tlsgate/log/log.hpp"
#include "tlsgate/proxy/session.hpp"
#include "tlsgate/proxy/worker.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tlsgate::proxy {
namespace {

bool same_file(int a, int b) {
    struct stat first {};
    struct stat second {};
    return fstat(a, &first) == 0 && fstat(b, &second) == 0 && first.st_dev == second.st_dev &&
           first.st_ino == second.st_ino;
}

bool is_pipe_or_socket(int fd) {
    struct stat info {};
    return fstat(fd, &info) == 0 && (S_ISFIFO(info.st_mode) || S_ISSOCK(info.st_mode));
}

} // namespace

int run_inetd(const config::Config& config, const std::shared_ptr<Service>& service) {
    std::signal(SIGPIPE, SIG_IGN);
    const std::string& name = service->settings.name;
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const bool socket_on_stdin =
        getsockname(STDIN_FILENO, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    if (!socket_on_stdin &&
        !(is_pipe_or_socket(STDIN_FILENO) && is_pipe_or_socket(STDOUT_FILENO))) {
        log::error("service={} inetd: stdin and stdout must be one socket (inetd, xinetd, a "
                   "systemd socket with Accept=yes) or two pipes",
                   name);
        return 1;
    }
    const bool one_socket = socket_on_stdin && same_file(STDIN_FILENO, STDOUT_FILENO);
    if (socket_on_stdin && same_file(STDIN_FILENO, STDERR_FILENO)) {
        // inetd hands the socket over as stderr too: a log line there would land in the
        // client's TLS stream (log = "syslog" is the way to keep logs in this setup).
        const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    // Reading one descriptor and writing another needs the pipe kind of stream.
    const bool split = !one_socket && is_pipe_or_socket(STDOUT_FILENO);
    const auto kind = !split && address.ss_family != AF_UNIX ? net::Address::Kind::tcp
                                                             : net::Address::Kind::unix_socket;
    if (one_socket) {
        // stdout is the same socket. Our close must reach the peer as a FIN, which cannot
        // happen while a second descriptor keeps the socket open, and a stray write to stdout
        // must not land in the TLS stream: point stdout at /dev/null.
        const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            close(null);
        }
    } else {
        fcntl(STDOUT_FILENO, F_SETFD, FD_CLOEXEC);
    }
    // The stream owns these from here; nothing the session starts (exec) may inherit them.
    fcntl(STDIN_FILENO, F_SETFD, FD_CLOEXEC);

    std::atomic<uint64_t> connection_ids{0};
    std::vector<std::shared_ptr<Service>> services{service};
    Worker worker(0, config.global, services, connection_ids);
    // SIGTERM/SIGINT (systemd stopping the unit): drain like the server does, so the client
    // gets a close_notify. Not referenced, so it never keeps the loop alive by itself. Declared
    // after the worker: dropped first, it frees itself once the worker's destructor has run
    // the loop that finishes closing it. uv_signal_init/start cannot fail here.
    auto watch_stop = [&worker](int signum) {
        auto watcher = core::make_heap_uv_handle<uv_signal_t>(&worker);
        (void)watcher->open(
            [&worker](uv_signal_t* handle) { return uv_signal_init(worker.loop(), handle); });
        (void)uv_signal_start(
            watcher->get(),
            [](uv_signal_t* handle, int) { static_cast<Worker*>(handle->data)->request_drain(); },
            signum);
        uv_unref(watcher->as_handle());
        return watcher;
    };
    auto terminate = watch_stop(SIGTERM);
    auto interrupt = watch_stop(SIGINT);
    auto* session = new Session(worker, service, kind);
    if (split) {
        session->start_fds(STDIN_FILENO, STDOUT_FILENO);
    } else {
        session->start_fd(STDIN_FILENO);
    }
    worker.exit_when_idle();
    worker.start([] {});
    worker.join();
    return 0;
}

} // namespace tlsgate::proxy
