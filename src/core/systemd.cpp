#include "tlsgate/core/systemd.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <optional>
#include <sys/un.h>
#include <unistd.h>

namespace tlsgate::core::systemd {
namespace {

constexpr int kListenFdsStart = 3; // SD_LISTEN_FDS_START

struct InheritedSocket {
    int fd = -1;
    std::string name; // from LISTEN_FDNAMES; systemd's default is "unknown"
    sockaddr_storage address{};
    socklen_t length = 0;
    bool used = false;
};

// The descriptors systemd passed belong to the process, not to one worker or one
// configuration generation: they are adopted once and kept open until exit, and every
// listener that uses one gets its own duplicate. Reads and marks happen on the starting
// thread and on worker threads during a reload, hence the mutex.
std::mutex inherited_mutex;
std::vector<InheritedSocket> inherited;

std::optional<unsigned long> parse_number(const char* text) {
    if (text == nullptr) {
        return std::nullopt;
    }
    unsigned long value = 0;
    const char* end = text + std::strlen(text);
    auto [ptr, ec] = std::from_chars(text, end, value);
    if (ec != std::errc{} || ptr != end || ptr == text) {
        return std::nullopt;
    }
    return value;
}

bool is_listening_stream(int fd) {
    int type = 0;
    int listening = 0;
    socklen_t size = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0 || type != SOCK_STREAM) {
        return false;
    }
    size = sizeof listening;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening != 0;
}

bool is_dual_stack_wildcard(const InheritedSocket& socket) {
    if (socket.address.ss_family != AF_INET6) {
        return false;
    }
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&socket.address);
    if (std::memcmp(&v6->sin6_addr, &in6addr_any, sizeof in6addr_any) != 0) {
        return false;
    }
    int v6only = 1;
    socklen_t size = sizeof v6only;
    return getsockopt(socket.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &size) == 0 && v6only == 0;
}

bool same_tcp_address(const InheritedSocket& socket, const sockaddr* wanted) {
    const auto* have = reinterpret_cast<const sockaddr*>(&socket.address);
    if (wanted->sa_family == AF_INET && have->sa_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(have);
        const auto* b = reinterpret_cast<const sockaddr_in*>(wanted);
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (wanted->sa_family == AF_INET6 && have->sa_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(have);
        const auto* b = reinterpret_cast<const sockaddr_in6*>(wanted);
        return a->sin6_port == b->sin6_port &&
               std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    // A configured IPv4 wildcard served by a dual-stack IPv6 wildcard of the same port.
    if (wanted->sa_family == AF_INET && is_dual_stack_wildcard(socket)) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(have);
        const auto* b = reinterpret_cast<const sockaddr_in*>(wanted);
        return a->sin6_port == b->sin_port && b->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    return false;
}

std::string describe(const InheritedSocket& socket) {
    std::string where;
    if (socket.address.ss_family == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(&socket.address);
        where = fmt::format("unix:{}", un->sun_path);
    } else {
        char host[NI_MAXHOST] = "?";
        char port[NI_MAXSERV] = "?";
        getnameinfo(reinterpret_cast<const sockaddr*>(&socket.address), socket.length, host,
                    sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
        where = socket.address.ss_family == AF_INET6 ? fmt::format("[{}]:{}", host, port)
                                                     : fmt::format("{}:{}", host, port);
    }
    return fmt::format("{} (fd {}, name {})", where, socket.fd, socket.name);
}

int take_duplicate(InheritedSocket& socket) {
    const int copy = fcntl(socket.fd, F_DUPFD_CLOEXEC, 0);
    if (copy >= 0) {
        socket.used = true;
    }
    return copy;
}

} // namespace

bool notify_enabled() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    return path != nullptr && path[0] != '\0';
}

void notify(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || path[0] == '\0') {
        return;
    }
    const size_t length = std::strlen(path);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    // "/path" or "@abstract"; anything else (vsock) or too long is not for us.
    if ((path[0] != '/' && path[0] != '@') || length >= sizeof address.sun_path) {
        return;
    }
    std::memcpy(address.sun_path, path, length);
    if (path[0] == '@') {
        address.sun_path[0] = '\0';
    }
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&address), size);
    ::close(fd);
}

std::string reloading_state() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                      static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
    return fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec);
}

size_t adopt_inherited_sockets() {
    const auto pid = parse_number(std::getenv("LISTEN_PID"));
    const auto count = parse_number(std::getenv("LISTEN_FDS"));
    const char* names_text = std::getenv("LISTEN_FDNAMES");
    std::vector<std::string> names;
    if (names_text != nullptr) {
        std::string_view rest = names_text;
        while (true) {
            const size_t colon = rest.find(':');
            names.emplace_back(rest.substr(0, colon));
            if (colon == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(colon + 1);
        }
    }
    // Not meant for this process (a child of the one systemd started): leave them alone.
    if (!pid || !count || *pid != static_cast<unsigned long>(getpid())) {
        return 0;
    }
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    std::lock_guard lock(inherited_mutex);
    for (unsigned long i = 0; i < *count; ++i) {
        InheritedSocket socket;
        socket.fd = kListenFdsStart + static_cast<int>(i);
        socket.name = i < names.size() ? names[i] : "unknown";
        fcntl(socket.fd, F_SETFD, FD_CLOEXEC);
        socket.length = sizeof socket.address;
        if (!is_listening_stream(socket.fd) ||
            getsockname(socket.fd, reinterpret_cast<sockaddr*>(&socket.address), &socket.length) !=
                0) {
            // Kept in the list so it is reported as unused; never matched.
            socket.address.ss_family = AF_UNSPEC;
        }
        inherited.push_back(std::move(socket));
    }
    return inherited.size();
}

int inherited_tcp_listener(const sockaddr* address) {
    std::lock_guard lock(inherited_mutex);
    for (auto& socket : inherited) {
        if (same_tcp_address(socket, address)) {
            return take_duplicate(socket);
        }
    }
    return -1;
}

int inherited_unix_listener(const std::string& path) {
    std::lock_guard lock(inherited_mutex);
    for (auto& socket : inherited) {
        if (socket.address.ss_family != AF_UNIX) {
            continue;
        }
        const auto* un = reinterpret_cast<const sockaddr_un*>(&socket.address);
        if (path == un->sun_path) {
            return take_duplicate(socket);
        }
    }
    return -1;
}

std::vector<std::string> unused_inherited_sockets() {
    std::lock_guard lock(inherited_mutex);
    std::vector<std::string> out;
    for (const auto& socket : inherited) {
        if (!socket.used) {
            out.push_back(socket.address.ss_family == AF_UNSPEC
                              ? fmt::format("fd {} (name {}: not a listening stream socket)",
                                            socket.fd, socket.name)
                              : describe(socket));
        }
    }
    return out;
}

} // namespace tlsgate::core::systemd
