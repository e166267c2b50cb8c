#pragma once

#include "tlsgate/core/result.hpp"

#include <span>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/time.h>
#include <variant>
#include <vector>

namespace tlsgate::net {

// The setsockopt options a config may name (stunnel's "socket = a|l|r:NAME=VALUE").
enum class SocketValueType { boolean, integer, linger, timeval, string };

struct SocketOptionSpec {
    std::string_view name;
    int level;
    int optname;
    SocketValueType type;
};

std::span<const SocketOptionSpec> socket_option_specs();
const SocketOptionSpec* find_socket_option(std::string_view name);

// A value ready for setsockopt.
using SocketValue = std::variant<int, linger, timeval, std::string>;

struct ParsedSocketOption {
    const SocketOptionSpec* spec = nullptr;
    SocketValue value;
};

// Parses "VALUE" for the named option: booleans as yes/no/1/0, integers, linger as
// "ONOFF:SECONDS", timeouts as "SECONDS[:MICROSECONDS]", SO_BINDTODEVICE as a name. Returns a
// message on error.
Result<ParsedSocketOption> parse_socket_option(std::string_view name, std::string_view value);

// setsockopt on a descriptor; returns 0 or an errno value.
[[nodiscard]] int apply_socket_option(int fd, const ParsedSocketOption& option);

// The option's current value on a descriptor as text (for -sockets).
std::string describe_socket_option(int fd, const SocketOptionSpec& spec);

} // namespace tlsgate::net
