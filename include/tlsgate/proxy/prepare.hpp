#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proxy/service.hpp"
#include "tlsgate/tls/fips.hpp"

#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace tlsgate::proxy {

// Everything a validated config needs before anything listens: TLS contexts built and
// certificates checked. Used by --check and by the server alike.
struct Prepared {
    std::vector<std::shared_ptr<Service>> services;
    std::vector<config::ConfigError> errors;
    std::vector<config::ConfigError> warnings;
    std::vector<std::string> summaries; // one line per service
    // global.fips: the loaded providers, kept for as long as the contexts are used.
    std::shared_ptr<tls::FipsProviders> fips;
};
Prepared prepare_services(const config::Config& config);

// A warning for each certificate of `services` that has expired, is not yet valid or expires
// within `warn_within` of `now` (global.cert_expiry_warning): at --check, at start, daily.
std::vector<config::ConfigError>
certificate_warnings(const std::vector<std::shared_ptr<Service>>& services,
                     config::Duration warn_within, std::time_t now);

} // namespace tlsgate::proxy
