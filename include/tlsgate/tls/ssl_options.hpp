#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace tlsgate::tls {

// The SSL_OP_* switches a config may name (stunnel's "options"), by name without the prefix.
struct SslOptionName {
    std::string_view name;
    uint64_t value;
};

std::span<const SslOptionName> ssl_option_names();
// nullopt for a name OpenSSL (as built here) does not have.
std::optional<uint64_t> find_ssl_option(std::string_view name);

} // namespace tlsgate::tls
