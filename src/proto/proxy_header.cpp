#include "tlsgate/proto/proxy_header.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <vector>

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

namespace {

constexpr size_t kV1MaxLength = 107; // "PROXY" ... "\r\n", the spec's bound
constexpr char kV2Signature[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr size_t kV2SignatureLength = 12;
constexpr size_t kV2FixedLength = 16;

std::vector<std::string_view> split_spaces(std::string_view text) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t space = text.find(' ', start);
        const size_t end = space == std::string_view::npos ? text.size() : space;
        out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// A v1 port: decimal, 0..65535, no sign, no leading zero (the spec's form).
bool parse_port(std::string_view text, uint16_t& port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > 65535 ||
        (text.size() > 1 && text[0] == '0')) {
        return false;
    }
    port = static_cast<uint16_t>(value);
    return true;
}

bool parse_ip(int family, std::string_view text, uint16_t port, sockaddr_storage& out) {
    const std::string copy(text);
    out = sockaddr_storage{};
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&out);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        return inet_pton(AF_INET, copy.c_str(), &a->sin_addr) == 1;
    }
    auto* a = reinterpret_cast<sockaddr_in6*>(&out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    return inet_pton(AF_INET6, copy.c_str(), &a->sin6_addr) == 1;
}

} // namespace

ProxyHeaderParser::Status ProxyHeaderParser::fail(std::string message) {
    error_ = std::move(message);
    status_ = Status::error;
    return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::feed(std::string_view data, size_t& consumed) {
    consumed = 0;
    if (status_ != Status::need_more) {
        return status_;
    }
    // Take bytes one header's worth at a time: never more than the header can still need.
    for (char c : data) {
        buffer_.push_back(c);
        ++consumed;
        if (buffer_.size() == 1 && c != 'P' && c != '\r') {
            return fail("not a PROXY protocol header");
        }
        if (buffer_[0] == 'P') {
            if (buffer_.size() <= 6 &&
                buffer_ != std::string_view("PROXY ").substr(0, buffer_.size())) {
                return fail("not a PROXY protocol header");
            }
            if (c == '\n') {
                if (buffer_.size() < 2 || buffer_[buffer_.size() - 2] != '\r') {
                    return fail("PROXY v1 line not ended by CRLF");
                }
                return parse_v1(buffer_.size() - 2);
            }
            if (buffer_.size() >= kV1MaxLength) {
                return fail("PROXY v1 line longer than 107 bytes");
            }
        } else {
            const size_t n = buffer_.size();
            if (n <= kV2SignatureLength && buffer_[n - 1] != kV2Signature[n - 1]) {
                return fail("not a PROXY protocol header");
            }
            if (n >= kV2FixedLength) {
                const size_t length = (static_cast<unsigned char>(buffer_[14]) << 8) |
                                      static_cast<unsigned char>(buffer_[15]);
                if (n == kV2FixedLength + length) {
                    return parse_v2();
                }
            }
        }
    }
    return Status::need_more;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v1(size_t line_end) {
    info_ = ProxyInfo{};
    info_.version = 1;
    const std::string_view line(buffer_.data(), line_end);
    const auto fields = split_spaces(line);
    if (fields.size() >= 2 && fields[1] == "UNKNOWN") {
        status_ = Status::done; // the rest of the line is to be ignored
        return status_;
    }
    if (fields.size() != 6 || (fields[1] != "TCP4" && fields[1] != "TCP6")) {
        return fail("PROXY v1: expected \"PROXY TCP4|TCP6 src dst sport dport\"");
    }
    const int family = fields[1] == "TCP4" ? AF_INET : AF_INET6;
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
    if (!parse_port(fields[4], source_port) || !parse_port(fields[5], destination_port)) {
        return fail("PROXY v1: bad port");
    }
    if (!parse_ip(family, fields[2], source_port, info_.source) ||
        !parse_ip(family, fields[3], destination_port, info_.destination)) {
        return fail("PROXY v1: bad address");
    }
    info_.has_addresses = true;
    status_ = Status::done;
    return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v2() {
    info_ = ProxyInfo{};
    info_.version = 2;
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(buffer_[i]); };
    const unsigned version = byte(12) >> 4;
    const unsigned command = byte(12) & 0x0f;
    if (version != 2) {
        return fail("PROXY v2: unsupported version");
    }
    if (command == 0x0) { // LOCAL: health checks and the like; the addresses are ignored
        status_ = Status::done;
        return status_;
    }
    if (command != 0x1) {
        return fail("PROXY v2: unknown command");
    }
    const unsigned family = byte(13) >> 4;
    const unsigned transport = byte(13) & 0x0f;
    const size_t length = buffer_.size() - kV2FixedLength;
    const char* addresses = buffer_.data() + kV2FixedLength;
    if (family == 0x0 || family == 0x3) { // UNSPEC or unix: nothing usable as an IP
        status_ = Status::done;
        return status_;
    }
    if (transport != 0x1) {
        return fail("PROXY v2: only STREAM connections are relayed");
    }
    if (family == 0x1) {
        if (length < 12) {
            return fail("PROXY v2: address block too short for TCP over IPv4");
        }
        auto* source = reinterpret_cast<sockaddr_in*>(&info_.source);
        auto* destination = reinterpret_cast<sockaddr_in*>(&info_.destination);
        source->sin_family = destination->sin_family = AF_INET;
        std::memcpy(&source->sin_addr, addresses, 4);
        std::memcpy(&destination->sin_addr, addresses + 4, 4);
        std::memcpy(&source->sin_port, addresses + 8, 2);
        std::memcpy(&destination->sin_port, addresses + 10, 2);
    } else if (family == 0x2) {
        if (length < 36) {
            return fail("PROXY v2: address block too short for TCP over IPv6");
        }
        auto* source = reinterpret_cast<sockaddr_in6*>(&info_.source);
        auto* destination = reinterpret_cast<sockaddr_in6*>(&info_.destination);
        source->sin6_family = destination->sin6_family = AF_INET6;
        std::memcpy(&source->sin6_addr, addresses, 16);
        std::memcpy(&destination->sin6_addr, addresses + 16, 16);
        std::memcpy(&source->sin6_port, addresses + 32, 2);
        std::memcpy(&destination->sin6_port, addresses + 34, 2);
    } else {
        return fail("PROXY v2: unknown address family");
    }
    info_.has_addresses = true; // TLVs after the addresses are skipped
    status_ = Status::done;
    return status_;
}

} // namespace tlsgate::proto
