#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proxy/prepare.hpp"
#include "tlsgate/proxy/service.hpp"

#include <memory>
#include <string>
#include <vector>

namespace tlsgate::proxy {

// Binds every listener, runs the workers until SIGINT/SIGTERM and the drain are over.
// Returns the process exit code.
int run_server(const config::Config& config, std::vector<std::shared_ptr<Service>> services);

} // namespace tlsgate::proxy
