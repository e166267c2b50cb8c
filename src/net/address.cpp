#include "tlsgate/net/address.hpp"

#include "tlsgate/core/result.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <fmt/format.h>
#include <netinet/in.h>
#include <optional>
#include <sys/un.h>

namespace tlsgate::net {

namespace {

constexpr std::string_view unix_prefix = "unix:";

bool is_ipv4(const std::string& s) {
    in_addr a{};
    return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
    in6_addr a{};
    return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alnum(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens; the last
// label must not be all digits (that would be a malformed IPv4 address). A trailing dot is
// accepted (fully qualified form). '_' is accepted too: names in /etc/hosts and DNS carry it
// ("vpn_server" in stunnel's manual), and stunnel hands them to getaddrinfo as they are.
Result<> check_hostname(std::string_view host) {
    if (host.size() > 253) {
        return Error{"host name is longer than 253 characters"};
    }
    std::string_view rest = host;
    if (rest.size() > 1 && rest.back() == '.') {
        rest.remove_suffix(1);
    }
    std::string_view last_label;
    while (true) {
        size_t dot = rest.find('.');
        std::string_view label = rest.substr(0, dot);
        if (label.empty()) {
            return Error{"empty label in host name"};
        }
        if (label.size() > 63) {
            return Error{"host name label is longer than 63 characters"};
        }
        for (char c : label) {
            if (!is_alnum(c) && c != '-' && c != '_') {
                return Error{fmt::format("invalid character '{}' in host name", c)};
            }
        }
        if (label.front() == '-' || label.back() == '-') {
            return Error{"host name label starts or ends with '-'"};
        }
        last_label = label;
        if (dot == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(dot + 1);
    }
    if (std::all_of(last_label.begin(), last_label.end(), is_digit)) {
        return Error{"invalid IPv4 address"};
    }
    return {};
}

Result<uint16_t> parse_port(std::string_view text, std::string_view whole, bool allow_port_zero) {
    if (text.empty()) {
        return Error{fmt::format("missing port in \"{}\"", whole)};
    }
    if (!std::all_of(text.begin(), text.end(), is_digit) || text.size() > 5) {
        return Error{fmt::format("invalid port \"{}\": expected a number from {} to 65535", text,
                                 allow_port_zero ? 0 : 1)};
    }
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value > 65535 || (value == 0 && !allow_port_zero)) {
        return Error{fmt::format("invalid port {}: expected a number from {} to 65535", text,
                                 allow_port_zero ? 0 : 1)};
    }
    return static_cast<uint16_t>(value);
}

} // namespace

std::string Address::to_string() const {
    if (kind == Kind::unix_socket) {
        return fmt::format("unix:{}", path);
    }
    if (host.find(':') != std::string::npos) {
        return fmt::format("[{}]:{}", host, port);
    }
    return fmt::format("{}:{}", host, port);
}

Result<Address> parse_address(std::string_view text, bool allow_port_zero) {
    if (text.empty()) {
        return Error{"empty address"};
    }
    if (text.find('\0') != std::string_view::npos) {
        return Error{"address contains a NUL byte"};
    }

    Address addr;
    if (text.substr(0, unix_prefix.size()) == unix_prefix) {
        std::string_view path = text.substr(unix_prefix.size());
        if (path.empty() || path.front() != '/') {
            return Error{fmt::format("unix socket path must be absolute, got \"{}\"", path)};
        }
        constexpr size_t max_path = sizeof(sockaddr_un::sun_path) - 1;
        if (path.size() > max_path) {
            return Error{fmt::format("unix socket path is {} bytes long, at most {} allowed",
                                     path.size(), max_path)};
        }
        addr.kind = Address::Kind::unix_socket;
        addr.path = std::string(path);
        return addr;
    }

    std::string_view port_text;
    if (text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) {
            return Error{fmt::format("missing ']' in \"{}\"", text)};
        }
        addr.host = std::string(text.substr(1, close - 1));
        if (!is_ipv6(addr.host)) {
            return Error{fmt::format("invalid IPv6 address \"{}\"", addr.host)};
        }
        std::string_view after = text.substr(close + 1);
        if (after.empty()) {
            return Error{fmt::format("missing port in \"{}\"", text)};
        }
        if (after.front() != ':') {
            return Error{fmt::format("expected ':' after ']' in \"{}\"", text)};
        }
        port_text = after.substr(1);
        addr.host_is_ip = true;
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return Error{fmt::format("missing port in \"{}\" (expected host:port)", text)};
        }
        addr.host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (addr.host.find(':') != std::string::npos) {
            return Error{fmt::format(
                "IPv6 address must be written in brackets, e.g. \"[::1]:993\", got \"{}\"", text)};
        }
        if (addr.host.empty()) {
            return Error{fmt::format("missing host in \"{}\"", text)};
        }
        if (is_ipv4(addr.host)) {
            addr.host_is_ip = true;
        } else if (auto checked = check_hostname(addr.host); !checked) {
            return Error{fmt::format("{} in \"{}\"", checked.error().message, text)};
        }
    }

    auto port = parse_port(port_text, text, allow_port_zero);
    if (!port) {
        return Error{port.error().message};
    }
    addr.port = *port;
    return addr;
}

} // namespace tlsgate::net
