#include "tlsgate/proxy/inetd.hpp"

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

} // namespace

int run_inetd(const config::Config& config, const std::shared_ptr<Service>& service) {
    std::signal(SIGPIPE, SIG_IGN);
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getsockname(STDIN_FILENO, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        log::error("service={} inetd: stdin is not a socket ({}); run tlsgate from inetd, "
                   "xinetd or a systemd socket with Accept=yes",
                   service->settings.name, std::strerror(errno));
        return 1;
    }
    const auto kind =
        address.ss_family == AF_UNIX ? net::Address::Kind::unix_socket : net::Address::Kind::tcp;
    // stdout is normally the same socket. Our close must reach the peer as a FIN, which
    // cannot happen while a second descriptor keeps the socket open, and a stray write to
    // stdout must not land in the TLS stream: point stdout at /dev/null.
    if (same_file(STDIN_FILENO, STDOUT_FILENO)) {
        const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            close(null);
        }
    }
    // The stream owns stdin from here; nothing the session starts (exec) may inherit it.
    fcntl(STDIN_FILENO, F_SETFD, FD_CLOEXEC);

    std::atomic<uint64_t> connection_ids{0};
    std::vector<std::shared_ptr<Service>> services{service};
    Worker worker(0, config.global, services, connection_ids);
    auto* session = new Session(worker, service, kind);
    session->start_fd(STDIN_FILENO);
    worker.exit_when_idle();
    worker.start([] {});
    worker.join();
    return 0;
}

} // namespace tlsgate::proxy
