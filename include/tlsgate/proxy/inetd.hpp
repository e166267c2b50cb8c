#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proxy/service.hpp"

#include <memory>
#include <vector>

namespace tlsgate::proxy {

// inetd mode (stunnel with no section; inetd, xinetd, systemd Accept=yes): the one
// connection is already open on stdin (and stdout); run that session and return when it
// has ended. Returns the process exit status.
int run_inetd(const config::Config& config, const std::shared_ptr<Service>& service);

} // namespace tlsgate::proxy
