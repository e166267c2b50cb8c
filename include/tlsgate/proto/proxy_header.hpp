#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <sys/socket.h>

namespace tlsgate::proto {

// The PROXY protocol v1 line (haproxy's proxy-protocol.txt, section 2.1) that tells a backend
// who the client is: "PROXY TCP4 src dst sport dport\r\n", "PROXY TCP6 ...", or
// "PROXY UNKNOWN\r\n" when either address is missing, not IP (a unix socket, inetd on a
// pipe) or the two families differ. `source` is the client's address, `destination` the
// address the client connected to. Pure: no sockets, no name lookups.
std::string proxy_v1_header(const sockaddr* source, const sockaddr* destination);

// What a PROXY header (v1 text or v2 binary) says about the connection.
struct ProxyInfo {
    int version = 0; // 1 or 2
    // false for v1 "UNKNOWN", v2 LOCAL, v2 UNSPEC and v2 unix addresses: the connection's own
    // addresses stand.
    bool has_addresses = false;
    sockaddr_storage source{};
    sockaddr_storage destination{};
};

// The receiving side of the PROXY protocol, as a pure incremental parser: bytes in, and once
// the header is complete, how many of them it took (the rest belong to the payload). It never
// reads past the header and refuses anything malformed; it buffers at most the header (107
// bytes for v1, 16 + 65535 for v2).
class ProxyHeaderParser {
public:
    enum class Status { need_more, done, error };

    // Feeds the next bytes. On done, `consumed` says how many bytes of `data` were header;
    // otherwise all of them were taken (need_more) or the input is rejected (error).
    Status feed(std::string_view data, size_t& consumed);
    const ProxyInfo& info() const { return info_; }
    const std::string& error() const { return error_; }

private:
    Status parse_v1(size_t line_end);
    Status parse_v2();
    Status fail(std::string message);

    std::string buffer_;
    ProxyInfo info_;
    std::string error_;
    Status status_ = Status::need_more;
};

} // namespace tlsgate::proto
