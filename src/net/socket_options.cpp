#include "tlsgate/net/socket_options.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fmt/format.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <optional>

namespace tlsgate::net {
namespace {

using T = SocketValueType;

constexpr SocketOptionSpec kSpecs[] = {
    {"SO_DEBUG", SOL_SOCKET, SO_DEBUG, T::boolean},
    {"SO_DONTROUTE", SOL_SOCKET, SO_DONTROUTE, T::boolean},
    {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, T::boolean},
    {"SO_LINGER", SOL_SOCKET, SO_LINGER, T::linger},
    {"SO_OOBINLINE", SOL_SOCKET, SO_OOBINLINE, T::boolean},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, T::integer},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, T::integer},
    {"SO_RCVLOWAT", SOL_SOCKET, SO_RCVLOWAT, T::integer},
    {"SO_SNDLOWAT", SOL_SOCKET, SO_SNDLOWAT, T::integer},
    {"SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, T::timeval},
    {"SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, T::timeval},
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, T::boolean},
    {"SO_BINDTODEVICE", SOL_SOCKET, SO_BINDTODEVICE, T::string},
    {"SO_PRIORITY", SOL_SOCKET, SO_PRIORITY, T::integer},
    {"SO_MARK", SOL_SOCKET, SO_MARK, T::integer},
    {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, T::integer},
    {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, T::integer},
    {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, T::integer},
    {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, T::boolean},
    {"TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG, T::integer},
    {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, T::integer},
    {"IP_TOS", IPPROTO_IP, IP_TOS, T::integer},
    {"IP_TTL", IPPROTO_IP, IP_TTL, T::integer},
    {"IP_FREEBIND", IPPROTO_IP, IP_FREEBIND, T::boolean},
    {"IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY, T::boolean},
};

std::optional<int> parse_int(std::string_view text) {
    int v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

// yes/no in any letter case and 1/0, as stunnel reads a flag; true/false as well.
std::optional<int> parse_bool(std::string_view text) {
    auto is = [&](std::string_view word) {
        return text.size() == word.size() &&
               std::equal(text.begin(), text.end(), word.begin(), [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) == b;
               });
    };
    if (is("yes") || text == "1" || is("true")) {
        return 1;
    }
    if (is("no") || text == "0" || is("false")) {
        return 0;
    }
    return std::nullopt;
}

// "A:B" -> {A, B}; "A" -> {A, nullopt}.
std::pair<std::string_view, std::optional<std::string_view>> split_pair(std::string_view text) {
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
        return {text, std::nullopt};
    }
    return {text.substr(0, colon), text.substr(colon + 1)};
}

} // namespace

std::span<const SocketOptionSpec> socket_option_specs() {
    return kSpecs;
}

const SocketOptionSpec* find_socket_option(std::string_view name) {
    for (const auto& spec : kSpecs) {
        if (spec.name == name) {
            return &spec;
        }
    }
    return nullptr;
}

Result<ParsedSocketOption> parse_socket_option(std::string_view name, std::string_view value) {
    const SocketOptionSpec* spec = find_socket_option(name);
    if (!spec) {
        return Error{
            fmt::format("unknown socket option \"{}\" (tlsgate -sockets lists them)", name)};
    }
    ParsedSocketOption out{spec, 0};
    auto bad = [&](std::string_view expected) {
        return Error{
            fmt::format("invalid value \"{}\" for {}: expected {}", value, name, expected)};
    };
    switch (spec->type) {
    case T::boolean:
        if (auto b = parse_bool(value)) {
            out.value = *b;
            return out;
        }
        return bad("yes or no");
    case T::integer:
        if (auto i = parse_int(value); i && *i >= 0) {
            out.value = *i;
            return out;
        }
        return bad("a non-negative integer");
    case T::linger: {
        auto [onoff, seconds] = split_pair(value);
        auto on = parse_int(onoff);
        auto secs = seconds ? parse_int(*seconds) : std::optional<int>(0);
        if (!on || !secs || *secs < 0) {
            return bad("ONOFF:SECONDS, e.g. 1:0");
        }
        out.value = linger{*on != 0 ? 1 : 0, *secs};
        return out;
    }
    case T::timeval: {
        auto [seconds, micros] = split_pair(value);
        auto secs = parse_int(seconds);
        auto usecs = micros ? parse_int(*micros) : std::optional<int>(0);
        if (!secs || !usecs || *secs < 0 || *usecs < 0 || *usecs >= 1000000) {
            return bad("SECONDS[:MICROSECONDS]");
        }
        out.value = timeval{*secs, *usecs};
        return out;
    }
    case T::string:
        if (value.empty() || value.size() >= IFNAMSIZ) {
            return bad("an interface name");
        }
        out.value = std::string(value);
        return out;
    }
    return bad("a value");
}

int apply_socket_option(int fd, const ParsedSocketOption& option) {
    int rc = std::visit(
        [&](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::string>) {
                return setsockopt(fd, option.spec->level, option.spec->optname, v.c_str(),
                                  static_cast<socklen_t>(v.size() + 1));
            } else {
                return setsockopt(fd, option.spec->level, option.spec->optname, &v, sizeof v);
            }
        },
        option.value);
    return rc == 0 ? 0 : errno;
}

std::string describe_socket_option(int fd, const SocketOptionSpec& spec) {
    switch (spec.type) {
    case T::boolean:
    case T::integer: {
        int v = 0;
        socklen_t len = sizeof v;
        if (getsockopt(fd, spec.level, spec.optname, &v, &len) != 0) {
            return "--";
        }
        return spec.type == T::boolean ? (v ? "yes" : "no") : std::to_string(v);
    }
    case T::linger: {
        linger v{};
        socklen_t len = sizeof v;
        if (getsockopt(fd, spec.level, spec.optname, &v, &len) != 0) {
            return "--";
        }
        return fmt::format("{}:{}", v.l_onoff, v.l_linger);
    }
    case T::timeval: {
        timeval v{};
        socklen_t len = sizeof v;
        if (getsockopt(fd, spec.level, spec.optname, &v, &len) != 0) {
            return "--";
        }
        return fmt::format("{}:{}", v.tv_sec, v.tv_usec);
    }
    case T::string:
        return "";
    }
    return "--";
}

} // namespace tlsgate::net
