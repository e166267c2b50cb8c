#pragma once

#include <string>
#include <sys/socket.h>

namespace tlsgate::proto {

// The PROXY protocol v1 line (haproxy's proxy-protocol.txt, section 2.1) that tells a backend
// who the client is: "PROXY TCP4 src dst sport dport\r\n", "PROXY TCP6 ...", or
// "PROXY UNKNOWN\r\n" when either address is missing, not IP (a unix socket, inetd on a
// pipe) or the two families differ. `source` is the client's address, `destination` the
// address the client connected to. Pure: no sockets, no name lookups.
std::string proxy_v1_header(const sockaddr* source, const sockaddr* destination);

} // namespace tlsgate::proto
