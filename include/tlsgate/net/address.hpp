#pragma once

#include "tlsgate/core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tlsgate::net {

// A listen or backend endpoint as written in a config file. Parsing is pure: no DNS, no
// sockets. Host names are kept as written and resolved when a connection is made.
struct Address {
    enum class Kind { tcp, unix_socket };
    Kind kind = Kind::tcp;
    std::string host;  // "127.0.0.1", "::", "mail.example.org" (no brackets)
    uint16_t port = 0; // tcp only
    std::string path;  // unix_socket only
    bool host_is_ip = false;

    // Canonical text form: "127.0.0.1:993", "[::1]:993", "unix:/run/x.sock".
    std::string to_string() const;
    bool operator==(const Address&) const = default;
};

// Accepts "host:port", "[v6]:port", "unix:/absolute/path". Port 0 is accepted only when
// allow_port_zero is set (tests bind ephemeral ports).
Result<Address> parse_address(std::string_view text, bool allow_port_zero = false);

} // namespace tlsgate::net
