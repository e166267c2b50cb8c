#pragma once

#include "tlsgate/config/model.hpp"

#include <string>
#include <vector>

namespace tlsgate::config {

// The model as TOML that load_toml_string reads back to the same model: only the keys whose
// value differs from what the loader would put there without them (the key tables' defaults,
// some derived from other keys), paths absolute as in the model, no [tls] section (every
// service carries its merged TLS settings). `notes` go first as comments: for
// `tlsgate --print-toml stunnel.conf`, which helps migrating a stunnel.conf.
std::string write_toml(const Config& config, const std::vector<std::string>& notes = {});

} // namespace tlsgate::config
