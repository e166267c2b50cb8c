#include "tlsgate/net/port_probe.hpp"

#include "tlsgate/net/sockaddr.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlsgate::net {

Result<> refuse_if_listened_on(const Address& address) {
    if (address.kind != Address::Kind::tcp || address.port == 0) {
        return {};
    }
    auto resolved = resolve_blocking(address);
    if (!resolved) {
        return {}; // the real bind resolves again and reports it
    }
    const int family = resolved->storage.ss_family;
    const int probe = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        return {};
    }
    const int one = 1;
    (void)setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) {
        // As the real bind: "[::]" is IPv6 only, so it does not collide with "0.0.0.0".
        (void)setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    const socklen_t length = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    const bool in_use = ::bind(probe, resolved->get(), length) != 0 && errno == EADDRINUSE;
    ::close(probe);
    if (in_use) {
        return Error{fmt::format("cannot bind {}: address already in use", address.to_string())};
    }
    return {};
}

} // namespace tlsgate::net
