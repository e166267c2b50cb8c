#include "tlsgate/net/sockaddr.hpp"

#include <cstring>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <uv.h>

namespace tlsgate::net {

std::optional<SocketAddress> numeric_socket_address(const Address& address) {
    SocketAddress result;
    if (uv_ip4_addr(address.host.c_str(), address.port,
                    reinterpret_cast<sockaddr_in*>(&result.storage)) == 0) {
        return result;
    }
    if (uv_ip6_addr(address.host.c_str(), address.port,
                    reinterpret_cast<sockaddr_in6*>(&result.storage)) == 0) {
        return result;
    }
    return std::nullopt;
}

Result<SocketAddress> resolve_blocking(const Address& address) {
    if (auto numeric = numeric_socket_address(address)) {
        return *numeric;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(address.port);
    const int rc = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
        return Error{fmt::format("cannot resolve {}: {}", address.host, gai_strerror(rc))};
    }
    SocketAddress result;
    std::memcpy(&result.storage, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    return result;
}

std::string format_socket_address(const sockaddr* address) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (address->sa_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
        uv_ip4_name(v4, host, sizeof host);
        return fmt::format("{}:{}", host, ntohs(v4->sin_port));
    }
    if (address->sa_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
        uv_ip6_name(v6, host, sizeof host);
        return fmt::format("[{}]:{}", host, ntohs(v6->sin6_port));
    }
    return "unix";
}

} // namespace tlsgate::net
