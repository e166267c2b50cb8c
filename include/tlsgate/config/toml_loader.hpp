#pragma once

#include "tlsgate/config/model.hpp"

#include <string>
#include <string_view>

namespace tlsgate::config {

// Parses and validates a TOML config. Collects every error it can find (it does not stop at
// the first); `config` is set only when there are none. Relative file paths (cert, key,
// dhparam) are resolved against the directory of `file_name`. Does not open certificates:
// TLS material is checked by tls::build_server_context, which the caller runs after this.
LoadResult load_toml_file(const std::string& file_name);
LoadResult load_toml_string(std::string_view text, const std::string& file_name);

// Parses "10", 10 (integer seconds), "10s", "500ms", "30m", "12h", "1d".
std::optional<Duration> parse_duration(std::string_view text);

} // namespace tlsgate::config
