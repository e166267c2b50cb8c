#pragma once

#include "tlsgate/core/result.hpp"
#include "tlsgate/net/address.hpp"

#include <optional>
#include <string>
#include <sys/socket.h>

namespace tlsgate::net {

// A resolved TCP endpoint.
struct SocketAddress {
    sockaddr_storage storage{};
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Numeric hosts only (no DNS): returns nullopt for a host name.
std::optional<SocketAddress> numeric_socket_address(const Address& address);
// Blocking resolution, for start-up only (listen addresses written as host names).
Result<SocketAddress> resolve_blocking(const Address& address);

// "127.0.0.1:993" / "[::1]:993".
std::string format_socket_address(const sockaddr* address);

} // namespace tlsgate::net
