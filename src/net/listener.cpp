#include "tlsgate/net/listener.hpp"

#include "tlsgate/core/systemd.hpp"
#include "tlsgate/log/log.hpp"
#include "tlsgate/net/sockaddr.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlsgate::net {
namespace {

// A unix socket file left behind by a dead process refuses connections; one that something
// still listens on must not be taken over.
Result<> clear_stale_unix_socket(const std::string& path) {
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0) {
        return {};
    }
    if (!S_ISSOCK(info.st_mode)) {
        return Error{fmt::format("{} exists and is not a socket", path)};
    }
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    const bool in_use =
        ::connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(probe);
    if (in_use) {
        return Error{fmt::format("{} is in use by another process", path)};
    }
    ::unlink(path.c_str());
    return {};
}

} // namespace

Listener::Listener(uv_loop_t* loop, Address address, ConnectionCallback on_connection)
    : handle_(this, on_closed), loop_(loop), address_(std::move(address)), bound_(address_),
      on_connection_(std::move(on_connection)) {}

Listener::~Listener() = default;

Result<> Listener::open(bool reuse_port, int backlog) {
    if (address_.kind == Address::Kind::unix_socket) {
        // Socket activation: systemd bound it (and owns the file); listen on our duplicate.
        if (const int fd = core::systemd::inherited_unix_listener(address_.path); fd >= 0) {
            (void)handle_.open(
                [this](Handle* handle) { return uv_pipe_init(loop_, &handle->pipe, 0); });
            inherited_ = true;
            if (int rc = uv_pipe_open(&handle_.get()->pipe, fd); rc != 0) {
                ::close(fd);
                return Error{fmt::format("cannot use the inherited socket for {}: {}",
                                         address_.to_string(), uv_strerror(rc))};
            }
            return listen_now(backlog);
        }
        if (auto cleared = clear_stale_unix_socket(address_.path); !cleared) {
            return cleared.error();
        }
        // uv_pipe_init cannot fail.
        (void)handle_.open(
            [this](Handle* handle) { return uv_pipe_init(loop_, &handle->pipe, 0); });
        if (int rc = uv_pipe_bind(&handle_.get()->pipe, address_.path.c_str()); rc != 0) {
            return Error{fmt::format("cannot bind {}: {}", address_.to_string(), uv_strerror(rc))};
        }
        if (auto applied = apply_options(); !applied) {
            return applied.error();
        }
    } else {
        auto socket_address = resolve_blocking(address_);
        if (!socket_address) {
            return socket_address.error();
        }
        const int family = socket_address->storage.ss_family;
        if (const int fd = core::systemd::inherited_tcp_listener(socket_address->get()); fd >= 0) {
            return open_inherited_tcp(fd, backlog);
        }
        if (int rc = handle_.open([this, family](Handle* handle) {
                return uv_tcp_init_ex(loop_, &handle->tcp, static_cast<unsigned>(family));
            });
            rc != 0) {
            // Not reachable for AF_INET/AF_INET6; said plainly rather than ignored.
            return Error{fmt::format("cannot create a socket for {}: {}", address_.to_string(),
                                     uv_strerror(rc))};
        }
        uv_os_fd_t fd = -1;
        uv_fileno(handle_.as_handle(), &fd);
        if (reuse_port) {
            // libuv 1.44 has no flag for SO_REUSEPORT: set it on the socket before bind.
            const int one = 1;
            if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
                return Error{fmt::format("cannot set SO_REUSEPORT on {}: {}", address_.to_string(),
                                         std::strerror(errno))};
            }
        }
        if (auto applied = apply_options(); !applied) {
            return applied.error();
        }
        // "[::]" listens on IPv6 only, so "0.0.0.0:N" and "[::]:N" can both be configured.
        const unsigned flags = family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
        if (int rc = uv_tcp_bind(&handle_.get()->tcp, socket_address->get(), flags); rc != 0) {
            return Error{fmt::format("cannot bind {}: {}", address_.to_string(), uv_strerror(rc))};
        }
    }
    return listen_now(backlog);
}

Result<> Listener::open_inherited_tcp(int fd, int backlog) {
    // uv_tcp_init (not _ex) creates no socket of its own; cannot fail.
    (void)handle_.open([this](Handle* handle) { return uv_tcp_init(loop_, &handle->tcp); });
    inherited_ = true;
    if (int rc = uv_tcp_open(&handle_.get()->tcp, fd); rc != 0) {
        ::close(fd);
        return Error{fmt::format("cannot use the inherited socket for {}: {}", address_.to_string(),
                                 uv_strerror(rc))};
    }
    if (auto applied = apply_options(); !applied) {
        return applied.error();
    }
    return listen_now(backlog);
}

Result<> Listener::listen_now(int backlog) {
    // libuv reports EADDRINUSE for TCP only here, not at bind.
    if (int rc = uv_listen(raw(), backlog, on_connection_cb); rc != 0) {
        return Error{fmt::format("cannot listen on {}: {}", address_.to_string(), uv_strerror(rc))};
    }
    opened_ = true;
    if (address_.kind == Address::Kind::tcp) {
        sockaddr_storage actual{};
        int length = sizeof actual;
        uv_tcp_getsockname(&handle_.get()->tcp, reinterpret_cast<sockaddr*>(&actual), &length);
        bound_.port =
            ntohs(actual.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&actual)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&actual)->sin_port);
    }
    return {};
}

Result<> Listener::apply_options() {
    uv_os_fd_t fd = -1;
    if (options_.empty() || uv_fileno(handle_.as_handle(), &fd) != 0) {
        return {};
    }
    for (const auto& option : options_) {
        if (int error = apply_socket_option(fd, option); error != 0) {
            return Error{fmt::format("cannot set a:{} on {}: {}", option.spec->name,
                                     address_.to_string(), std::strerror(error))};
        }
    }
    return {};
}

void Listener::on_connection_cb(uv_stream_t* server, int status) {
    auto* self = static_cast<Listener*>(server->data);
    if (self->handle_.closing()) {
        return;
    }
    if (status < 0) {
        // Typically EMFILE: libuv already sheds the pending connection; say why once.
        log::warning("cannot accept on {}: {}", self->bound_.to_string(), uv_strerror(status));
        return;
    }
    self->on_connection_(*self);
}

void Listener::on_closed(Handle* handle) {
    auto* self = static_cast<Listener*>(handle->handle.data);
    // An inherited socket's file is systemd's: it stays for the next activation.
    if (self->address_.kind == Address::Kind::unix_socket && self->opened_ && !self->inherited_) {
        ::unlink(self->address_.path.c_str());
    }
}

} // namespace tlsgate::net
