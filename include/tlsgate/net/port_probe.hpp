#pragma once

#include "tlsgate/core/result.hpp"
#include "tlsgate/net/address.hpp"

namespace tlsgate::net {

// tlsgate's workers listen on one TCP address each with SO_REUSEPORT, which would also let
// them join a socket another process listens on (with SO_REUSEPORT set, the kernel spreads
// the clients over both). Before tlsgate binds a TCP address for the first time, this binds
// a probe socket there WITHOUT SO_REUSEPORT (but with SO_REUSEADDR, as the real bind, so
// connections left in TIME_WAIT do not count): that bind fails with EADDRINUSE exactly when
// some socket already listens on the address (or on a wildcard covering it). The error is
// "cannot bind ADDRESS: address already in use", as stunnel says. Any other outcome (port 0,
// a unix socket, a probe that cannot be made) passes: the real bind reports its own errors.
Result<> refuse_if_listened_on(const Address& address);

} // namespace tlsgate::net
