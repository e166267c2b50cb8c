#pragma once

// systemd integration without libsystemd: the two documented protocols, each a few lines.
//
// Readiness (sd_notify(3)): `notify("READY=1")` sends one datagram to $NOTIFY_SOCKET and
// does nothing when it is unset (not started by systemd, or not Type=notify).
//
// Socket activation (sd_listen_fds(3)): `adopt_inherited_sockets()` takes the descriptors
// systemd passed ($LISTEN_PID, $LISTEN_FDS, $LISTEN_FDNAMES) once at start; a listener whose
// address is the address of one of them then listens on a duplicate of it instead of binding
// (`inherited_tcp_listener`, `inherited_unix_listener`).
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

namespace tlsgate::core::systemd {

// True when $NOTIFY_SOCKET names a socket to notify.
bool notify_enabled();
// Sends `state` (newline-separated VAR=VALUE assignments) to $NOTIFY_SOCKET. Failures are
// ignored, as sd_notify's are by convenience: a lost status line must not stop a proxy.
void notify(std::string_view state);
// "RELOADING=1" with the MONOTONIC_USEC systemd wants alongside it.
std::string reloading_state();

// Reads $LISTEN_PID/$LISTEN_FDS/$LISTEN_FDNAMES when LISTEN_PID is this process, marks the
// descriptors close-on-exec (exec'd backends must not inherit them) and unsets the variables.
// Call once, before any listener opens and before forking. Returns how many were adopted.
size_t adopt_inherited_sockets();

// A new descriptor (dup, close-on-exec) of the inherited listening stream socket bound to
// `address`, or -1. An IPv6 wildcard socket that also accepts IPv4 (IPV6_V6ONLY off, as
// systemd-socket-activate makes it) serves a configured IPv4 or IPv6 wildcard of its port.
int inherited_tcp_listener(const sockaddr* address);
// The same for a unix socket bound to `path`.
int inherited_unix_listener(const std::string& path);

// "ADDRESS (fd N, name NAME)" of each inherited socket no listener has taken: logged at start.
std::vector<std::string> unused_inherited_sockets();

} // namespace tlsgate::core::systemd
