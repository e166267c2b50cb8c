#pragma once

#include "tlsgate/config/model.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::config {

// The rules on the finished model, one pass for every config front end (TOML and
// stunnel.conf), run by each front end after it has built the model:
// - listen addresses: no two services on one address (SO_REUSEPORT would silently split
//   their connections);
// - SNI routing: a child names an existing server-mode parent with implicit TLS and a listener
//   of its own; sni_parent and sni_pattern go together; strict_sni sits on the parent;
// - an inetd service stands alone; exec_args and retry need exec;
// - TLS settings: see validate_tls;
// - socket options: known names with values of the right type; local is a numeric address.
// Appends every problem to `errors`, at the key's FILE:LINE and in the spelling of
// `config.format` (see key_spelling).
void validate_config(const Config& config, std::vector<ConfigError>& errors);

// The consistency rules on one set of TLS settings (min_version <= max_version, both ticket
// secrets or none), its keys labelled "LABEL.KEY" (label "tls" or "service[x]"). Keys in
// tls.not_set_here alone are not checked. validate_config runs it for every service; the
// TOML front end runs it for [tls] as well.
void validate_tls(const TlsSettings& tls, std::string_view label, ConfigFormat format,
                  std::vector<ConfigError>& errors);

// The name a model key has in a config format: the TOML key is the model's own name; a
// stunnel.conf names some of them differently ("listen" is "accept", "socket_options" is
// "socket", "sni_parent" and "sni_pattern" are both "sni").
std::string_view key_spelling(ConfigFormat format, std::string_view model_key);

} // namespace tlsgate::config
