#pragma once

#include "tlsgate/config/model.hpp"

#include <vector>

namespace tlsgate::config {

// Checks that span services, shared by every config front end (TOML and stunnel.conf):
// SNI services name an existing server-mode parent with a listener, an inetd service stands
// alone. Appends to `errors`.
void validate_services(const Config& config, std::vector<ConfigError>& errors);

} // namespace tlsgate::config
