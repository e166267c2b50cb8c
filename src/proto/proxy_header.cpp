#include "tlsgate/proto/proxy_header.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

namespace tlsgate::proto {

std::string proxy_v1_header(const sockaddr* source, const sockaddr* destination) {
    if (source == nullptr || destination == nullptr ||
        source->sa_family != destination->sa_family) {
        return "PROXY UNKNOWN\r\n";
    }
    // inet_ntop gives the forms the spec asks for: dotted quad, and RFC 5952 for IPv6.
    char src[INET6_ADDRSTRLEN] = "";
    char dst[INET6_ADDRSTRLEN] = "";
    if (source->sa_family == AF_INET) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(source);
        const auto* d = reinterpret_cast<const sockaddr_in*>(destination);
        inet_ntop(AF_INET, &s->sin_addr, src, sizeof src);
        inet_ntop(AF_INET, &d->sin_addr, dst, sizeof dst);
        return fmt::format("PROXY TCP4 {} {} {} {}\r\n", src, dst, ntohs(s->sin_port),
                           ntohs(d->sin_port));
    }
    if (source->sa_family == AF_INET6) {
        const auto* s = reinterpret_cast<const sockaddr_in6*>(source);
        const auto* d = reinterpret_cast<const sockaddr_in6*>(destination);
        inet_ntop(AF_INET6, &s->sin6_addr, src, sizeof src);
        inet_ntop(AF_INET6, &d->sin6_addr, dst, sizeof dst);
        return fmt::format("PROXY TCP6 {} {} {} {}\r\n", src, dst, ntohs(s->sin6_port),
                           ntohs(d->sin6_port));
    }
    return "PROXY UNKNOWN\r\n";
}

} // namespace tlsgate::proto
